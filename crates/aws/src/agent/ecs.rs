//! ECS port of the agent: the cluster's site services and container instances.

use super::fail;
use aws_sdk_ecs::Client;
use aws_sdk_ecs::types::{ContainerInstanceStatus, Service, ServiceField};
use idealstack_agent::ports::{ContainerInstance, Ecs, PortError, PortFuture, ServiceState};
use std::collections::BTreeMap;

/// The site services of `cluster` (with their tags), each with its site; the agent's, SFTP and
/// health services are left out.
pub(crate) async fn site_services(
    client: &Client,
    cluster: &str,
    stack: &str,
) -> Result<Vec<(String, Service)>, PortError> {
    let mut arns = Vec::new();
    let mut pages = client
        .list_services()
        .cluster(cluster)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| fail("ecs", "ListServices", e))?;
        arns.extend(page.service_arns().iter().cloned());
    }
    let mut out = Vec::new();
    for chunk in arns.chunks(10) {
        let resp = client
            .describe_services()
            .cluster(cluster)
            .set_services(Some(chunk.to_vec()))
            .include(ServiceField::Tags)
            .send()
            .await
            .map_err(|e| fail("ecs", "DescribeServices", e))?;
        for s in resp.services() {
            let tags: Vec<(String, String)> = s
                .tags()
                .iter()
                .map(|t| {
                    (
                        t.key().unwrap_or_default().to_string(),
                        t.value().unwrap_or_default().to_string(),
                    )
                })
                .collect();
            let name = s.service_name().unwrap_or_default();
            if let Some(site) = EcsPort::site_of(stack, name, &tags) {
                out.push((site, s.clone()));
            }
        }
    }
    Ok(out)
}

/// ECS calls on one cluster.
#[derive(Debug, Clone)]
pub struct EcsPort {
    client: Client,
    cluster: String,
    stack: String,
}

impl EcsPort {
    /// For `cluster` of `stack`.
    pub fn new(client: Client, cluster: impl Into<String>, stack: impl Into<String>) -> Self {
        EcsPort {
            client,
            cluster: cluster.into(),
            stack: stack.into(),
        }
    }

    /// The site a service belongs to: its `idealstack:site` tag, else the site stack's name
    /// (`<stack>-site-<site>`, from the CloudFormation tag or the service name's prefix).
    pub fn site_of(stack: &str, name: &str, tags: &[(String, String)]) -> Option<String> {
        if let Some((_, v)) = tags.iter().find(|(k, _)| k == "idealstack:site") {
            return Some(v.clone());
        }
        let prefix = format!("{stack}-site-");
        let from = |s: &str| -> Option<String> {
            let rest = s.strip_prefix(&prefix)?;
            Some(rest.split("-Service").next().unwrap_or(rest).to_string())
        };
        tags.iter()
            .find(|(k, _)| k == "aws:cloudformation:stack-name")
            .and_then(|(_, v)| from(v))
            .or_else(|| from(name))
            .filter(|s| !s.is_empty())
    }

    async fn list_services(&self) -> Result<Vec<ServiceState>, idealstack_agent::ports::PortError> {
        let mut out = Vec::new();
        for (site, s) in site_services(&self.client, &self.cluster, &self.stack).await? {
            out.push(ServiceState {
                site,
                service: s.service_name().unwrap_or_default().to_string(),
                desired: s.desired_count().max(0) as u32,
                running: s.running_count().max(0) as u32,
                deploying: s.deployments().len() > 1,
                tasks_per_instance: BTreeMap::new(),
            });
        }
        for s in &mut out {
            s.tasks_per_instance = self.tasks_per_instance(&s.service).await?;
        }
        Ok(out)
    }

    async fn tasks_per_instance(
        &self,
        service: &str,
    ) -> Result<BTreeMap<String, u32>, idealstack_agent::ports::PortError> {
        let tasks = self
            .client
            .list_tasks()
            .cluster(&self.cluster)
            .service_name(service)
            .send()
            .await
            .map_err(|e| fail("ecs", "ListTasks", e))?;
        let mut per = BTreeMap::new();
        for chunk in tasks.task_arns().chunks(100) {
            let resp = self
                .client
                .describe_tasks()
                .cluster(&self.cluster)
                .set_tasks(Some(chunk.to_vec()))
                .send()
                .await
                .map_err(|e| fail("ecs", "DescribeTasks", e))?;
            for t in resp.tasks() {
                if let Some(ci) = t.container_instance_arn() {
                    *per.entry(ci.to_string()).or_insert(0) += 1;
                }
            }
        }
        Ok(per)
    }

    async fn list_instances(
        &self,
    ) -> Result<Vec<ContainerInstance>, idealstack_agent::ports::PortError> {
        let mut arns = Vec::new();
        let mut pages = self
            .client
            .list_container_instances()
            .cluster(&self.cluster)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| fail("ecs", "ListContainerInstances", e))?;
            arns.extend(page.container_instance_arns().iter().cloned());
        }
        let mut out = Vec::new();
        for chunk in arns.chunks(100) {
            let resp = self
                .client
                .describe_container_instances()
                .cluster(&self.cluster)
                .set_container_instances(Some(chunk.to_vec()))
                .send()
                .await
                .map_err(|e| fail("ecs", "DescribeContainerInstances", e))?;
            for c in resp.container_instances() {
                let ami = c
                    .attributes()
                    .iter()
                    .find(|a| a.name() == "ecs.ami-id")
                    .and_then(|a| a.value())
                    .map(str::to_string);
                out.push(ContainerInstance {
                    arn: c.container_instance_arn().unwrap_or_default().to_string(),
                    ec2_id: c.ec2_instance_id().unwrap_or_default().to_string(),
                    status: c.status().unwrap_or_default().to_string(),
                    agent_connected: c.agent_connected(),
                    running_tasks: c.running_tasks_count().max(0) as u32,
                    pending_tasks: c.pending_tasks_count().max(0) as u32,
                    image_id: ami,
                });
            }
        }
        Ok(out)
    }
}

impl Ecs for EcsPort {
    fn services(&self) -> PortFuture<'_, Vec<ServiceState>> {
        Box::pin(self.list_services())
    }

    fn container_instances(&self) -> PortFuture<'_, Vec<ContainerInstance>> {
        Box::pin(self.list_instances())
    }

    fn set_desired_count<'a>(&'a self, service: &'a str, count: u32) -> PortFuture<'a, ()> {
        Box::pin(async move {
            self.client
                .update_service()
                .cluster(&self.cluster)
                .service(service)
                .desired_count(count.min(i32::MAX as u32) as i32)
                .send()
                .await
                .map_err(|e| fail("ecs", "UpdateService", e))?;
            Ok(())
        })
    }

    fn redeploy<'a>(&'a self, service: &'a str) -> PortFuture<'a, ()> {
        Box::pin(async move {
            self.client
                .update_service()
                .cluster(&self.cluster)
                .service(service)
                .force_new_deployment(true)
                .send()
                .await
                .map_err(|e| fail("ecs", "UpdateService", e))?;
            Ok(())
        })
    }

    fn drain<'a>(&'a self, arn: &'a str) -> PortFuture<'a, ()> {
        Box::pin(async move {
            self.client
                .update_container_instances_state()
                .cluster(&self.cluster)
                .container_instances(arn)
                .status(ContainerInstanceStatus::Draining)
                .send()
                .await
                .map_err(|e| fail("ecs", "UpdateContainerInstancesState", e))?;
            Ok(())
        })
    }
}
