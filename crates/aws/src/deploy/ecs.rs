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

/// A one-off task as `idealstack run` follows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OneOffState {
    /// `PROVISIONING` .. `RUNNING` .. `STOPPED`.
    pub last_status: String,
    /// Why ECS stopped it (`Essential container in task exited`, `CannotPullContainerError: ...`).
    pub stopped_reason: Option<String>,
    /// The exit code of the named container, once it has one.
    pub exit_code: Option<i32>,
}

impl Aws {
    /// Starts one task of `task_definition` on `cluster` (its default capacity provider
    /// strategy) with `container`'s command replaced by `command`; returns the task's ARN.
    pub fn run_task(
        &self,
        cluster: &str,
        task_definition: &str,
        container: &str,
        command: &[String],
        started_by: &str,
    ) -> Result<String, ApiError> {
        use aws_sdk_ecs::types::{ContainerOverride, TaskOverride};
        let overrides = TaskOverride::builder()
            .container_overrides(
                ContainerOverride::builder()
                    .name(container)
                    .set_command(Some(command.to_vec()))
                    .build(),
            )
            .build();
        let out = self
            .block(
                self.ecs
                    .run_task()
                    .cluster(cluster)
                    .task_definition(task_definition)
                    .count(1)
                    .overrides(overrides)
                    .started_by(started_by)
                    .send(),
            )
            .map_err(|e| api_error("RunTask", e))?;
        if let Some(task) = out.tasks().first().and_then(|t| t.task_arn()) {
            return Ok(task.to_string());
        }
        let why = out
            .failures()
            .iter()
            .map(|f| {
                format!(
                    "{} ({})",
                    f.reason().unwrap_or("unknown"),
                    f.detail().unwrap_or_default()
                )
            })
            .collect::<Vec<_>>()
            .join("; ");
        Err(ApiError::new("RunTask", Some("NoTaskPlaced"), why))
    }

    /// The state of task `arn` and of its container `container`.
    pub fn one_off_state(
        &self,
        cluster: &str,
        arn: &str,
        container: &str,
    ) -> Result<OneOffState, ApiError> {
        let out = self
            .block(self.ecs.describe_tasks().cluster(cluster).tasks(arn).send())
            .map_err(|e| api_error("DescribeTasks", e))?;
        let task = out.tasks().first().ok_or_else(|| {
            ApiError::new(
                "DescribeTasks",
                Some("MISSING"),
                format!("task {arn} is not in cluster {cluster}"),
            )
        })?;
        Ok(OneOffState {
            last_status: task.last_status().unwrap_or_default().to_string(),
            stopped_reason: task.stopped_reason().map(Into::into),
            exit_code: task
                .containers()
                .iter()
                .find(|c| c.name() == Some(container))
                .and_then(|c| c.exit_code()),
        })
    }

    /// Stops task `arn` (Ctrl-C on `idealstack run`).
    pub fn stop_one_off(&self, cluster: &str, arn: &str, reason: &str) -> Result<(), ApiError> {
        self.block(
            self.ecs
                .stop_task()
                .cluster(cluster)
                .task(arn)
                .reason(reason)
                .send(),
        )
        .map_err(|e| api_error("StopTask", e))?;
        Ok(())
    }
}
