//! ECS: [`ServiceApi`] for [`Aws`], and service counts for `status`.

use idealstack_deploy::ports::{ApiError, ServiceApi};
use serde::Serialize;

use super::{Aws, api_error};

/// One ECS service as `status` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ServiceCounts {
    /// Service name.
    pub name: String,
    /// `ACTIVE`, `DRAINING`, `INACTIVE`.
    pub status: String,
    /// Desired tasks.
    pub desired: i32,
    /// Running tasks.
    pub running: i32,
    /// The task definition ARN it runs.
    pub task_definition: String,
}

impl ServiceApi for Aws {
    fn desired_count(&self, cluster: &str, service: &str) -> Result<Option<u32>, ApiError> {
        Ok(self
            .service(cluster, service)?
            .filter(|s| s.status == "ACTIVE")
            .and_then(|s| u32::try_from(s.desired).ok()))
    }
}

impl Aws {
    /// A service of a cluster, `None` if there is none.
    pub fn service(&self, cluster: &str, service: &str) -> Result<Option<ServiceCounts>, ApiError> {
        let out = self
            .block(
                self.ecs
                    .describe_services()
                    .cluster(cluster)
                    .services(service)
                    .send(),
            )
            .map_err(|e| api_error("DescribeServices", e))?;
        Ok(out.services().first().map(|s| ServiceCounts {
            name: s.service_name().unwrap_or_default().to_string(),
            status: s.status().unwrap_or_default().to_string(),
            desired: s.desired_count(),
            running: s.running_count(),
            task_definition: s.task_definition().unwrap_or_default().to_string(),
        }))
    }

    /// Every service ARN of a cluster.
    pub fn services(&self, cluster: &str) -> Result<Vec<String>, ApiError> {
        let out = self
            .block(self.ecs.list_services().cluster(cluster).send())
            .map_err(|e| api_error("ListServices", e))?;
        Ok(out.service_arns().to_vec())
    }

    /// The container instances registered in a cluster.
    pub fn container_instances(&self, cluster: &str) -> Result<usize, ApiError> {
        let out = self
            .block(self.ecs.list_container_instances().cluster(cluster).send())
            .map_err(|e| api_error("ListContainerInstances", e))?;
        Ok(out.container_instance_arns().len())
    }

    /// The image of a task definition's first container (`status` and tests: PHP version).
    pub fn task_image(&self, task_definition: &str) -> Result<Option<String>, ApiError> {
        let out = self
            .block(
                self.ecs
                    .describe_task_definition()
                    .task_definition(task_definition)
                    .send(),
            )
            .map_err(|e| api_error("DescribeTaskDefinition", e))?;
        Ok(out
            .task_definition()
            .and_then(|t| t.container_definitions().first())
            .and_then(|c| c.image().map(Into::into)))
    }
}
