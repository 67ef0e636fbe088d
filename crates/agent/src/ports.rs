//! The narrow traits ("ports") through which the agent observes and acts. `idealstack-aws`
//! implements them with the AWS SDK (crates/aws/src/agent/); tests implement them with scripted
//! answers. Every method is one or two API calls, so a port is easy to emulate and to audit
//! against the agent's IAM policy.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;

/// A boxed future, so ports can be used as trait objects.
pub type PortFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, PortError>> + Send + 'a>>;

/// A failed call through a port.
#[derive(Debug, Clone, thiserror::Error, PartialEq)]
#[error("{service} {call}: {message}")]
pub struct PortError {
    /// Service (e.g. `ecs`).
    pub service: &'static str,
    /// Call (e.g. `UpdateService`).
    pub call: &'static str,
    /// What went wrong.
    pub message: String,
}

impl PortError {
    /// Builds an error.
    pub fn new(service: &'static str, call: &'static str, message: impl Into<String>) -> Self {
        PortError {
            service,
            call,
            message: message.into(),
        }
    }
}

/// The stack's state bucket.
pub trait StateStore: Send + Sync {
    /// The object at `key`, or `None` when absent.
    fn get(&self, key: &str) -> PortFuture<'_, Option<Vec<u8>>>;
    /// Keys under `prefix`, sorted.
    fn list<'a>(&'a self, prefix: &'a str) -> PortFuture<'a, Vec<String>>;
    /// Deletes the object at `key` (absent is fine).
    fn delete<'a>(&'a self, key: &'a str) -> PortFuture<'a, ()>;
}

/// One site's ECS service.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ServiceState {
    /// Site name (from the service's `idealstack:site` tag or name).
    pub site: String,
    /// Service name.
    pub service: String,
    /// Desired count.
    pub desired: u32,
    /// Running tasks.
    pub running: u32,
    /// Whether a deployment is rolling (more than one deployment).
    pub deploying: bool,
    /// Running tasks per container instance ARN.
    pub tasks_per_instance: BTreeMap<String, u32>,
}

/// One ECS container instance.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ContainerInstance {
    /// Container instance ARN.
    pub arn: String,
    /// EC2 instance id.
    pub ec2_id: String,
    /// `ACTIVE`, `DRAINING`, ...
    pub status: String,
    /// Whether the ECS agent is connected.
    pub agent_connected: bool,
    /// Running tasks.
    pub running_tasks: u32,
    /// Pending tasks.
    pub pending_tasks: u32,
    /// The AMI it runs (ECS's `ecs.ami-id` attribute), when known.
    pub image_id: Option<String>,
}

/// ECS: services and container instances of the cluster.
pub trait Ecs: Send + Sync {
    /// The cluster's site services.
    fn services(&self) -> PortFuture<'_, Vec<ServiceState>>;
    /// The cluster's container instances.
    fn container_instances(&self) -> PortFuture<'_, Vec<ContainerInstance>>;
    /// Sets a service's desired count.
    fn set_desired_count<'a>(&'a self, service: &'a str, count: u32) -> PortFuture<'a, ()>;
    /// Starts a new deployment of a service (tasks re-placed by its spread strategy).
    fn redeploy<'a>(&'a self, service: &'a str) -> PortFuture<'a, ()>;
    /// Sets a container instance to `DRAINING` (ECS starts replacements elsewhere first).
    fn drain<'a>(&'a self, container_instance_arn: &'a str) -> PortFuture<'a, ()>;
}

/// One instance of the Auto Scaling group.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct GroupInstance {
    /// EC2 instance id.
    pub id: String,
    /// Lifecycle state (`InService`, `Pending`, `Terminating`, ...).
    pub lifecycle: String,
    /// `Healthy` or `Unhealthy`.
    pub health: String,
    /// The AMI it runs, when known.
    pub image_id: Option<String>,
}

/// The Auto Scaling group.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct GroupState {
    /// Desired capacity.
    pub desired: u32,
    /// Minimum size.
    pub min: u32,
    /// Maximum size.
    pub max: u32,
    /// Instances.
    pub instances: Vec<GroupInstance>,
    /// Whether an instance refresh is pending or running.
    pub refresh_in_progress: bool,
}

/// Auto Scaling: the cluster's group.
pub trait AutoScaling: Send + Sync {
    /// The group (`refresh_in_progress` is filled by [`AutoScaling::refresh_in_progress`]).
    fn group(&self) -> PortFuture<'_, GroupState>;
    /// Whether an instance refresh is pending or running.
    fn refresh_in_progress(&self) -> PortFuture<'_, bool>;
    /// Sets the desired capacity.
    fn set_desired(&self, count: u32) -> PortFuture<'_, ()>;
    /// Terminates an instance; `decrement` lowers the desired capacity (otherwise the group
    /// launches a replacement).
    fn terminate<'a>(&'a self, instance_id: &'a str, decrement: bool) -> PortFuture<'a, ()>;
    /// Starts an instance refresh that keeps full capacity (min healthy 100%, max 200%).
    fn start_refresh(&self) -> PortFuture<'_, String>;
}

/// The load balancer's view: instances failing the health-check target group.
pub trait LoadBalancer: Send + Sync {
    /// EC2 instance ids whose PHP health check fails.
    fn unhealthy_instances(&self) -> PortFuture<'_, Vec<String>>;
}

/// Request rates per site (CloudWatch in production, scripted in tests).
pub trait Metrics: Send + Sync {
    /// Mean requests per second over the last complete minute, per site.
    fn request_rates<'a>(&'a self, sites: &'a [String]) -> PortFuture<'a, BTreeMap<String, f64>>;
}

/// The newest ECS-optimised AMI (the SSM public parameter).
pub trait Images: Send + Sync {
    /// Its image id.
    fn latest_ecs_ami(&self) -> PortFuture<'_, String>;
}

/// Database credentials of one site (its Secrets Manager secret).
#[derive(Clone, PartialEq, Default)]
pub struct SiteCredentials {
    /// Site.
    pub site: String,
    /// Database name.
    pub database: String,
    /// User name.
    pub user: String,
    /// Password.
    pub password: String,
}

impl std::fmt::Debug for SiteCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SiteCredentials")
            .field("site", &self.site)
            .field("database", &self.database)
            .field("user", &self.user)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// Secrets Manager: site database secrets (found by tag) and the master secret.
pub trait Secrets: Send + Sync {
    /// Credentials of every site database secret of the stack, by site.
    fn site_credentials(&self) -> PortFuture<'_, BTreeMap<String, SiteCredentials>>;
    /// Schedules the deletion of every retained database secret of a removed `site` (with
    /// Secrets Manager's recovery window); returns what was scheduled.
    fn delete_site_secrets<'a>(&'a self, site: &'a str) -> PortFuture<'a, Vec<String>>;
}

/// The per-site database work (implemented by [`crate::database`] on the stack's RDS).
pub trait Databases: Send + Sync {
    /// Makes the site's database and user exist with the password and privileges of `creds`;
    /// returns what changed (empty when nothing did).
    fn ensure<'a>(&'a self, creds: &'a SiteCredentials) -> PortFuture<'a, Vec<String>>;
    /// Drops a removed site's database and user; returns what existed and was dropped.
    fn drop_site<'a>(
        &'a self,
        site: &'a str,
        database: &'a str,
        user: &'a str,
    ) -> PortFuture<'a, Vec<String>>;
}

/// The site folders on the shared file system (implemented by [`crate::folders`]).
pub trait Folders: Send + Sync {
    /// Makes `/sites/<site>` follow the contract; returns the repairs made.
    fn ensure<'a>(&'a self, site: &'a str, uid: u32) -> PortFuture<'a, Vec<String>>;
    /// Deletes a removed site's folder if it still belongs to `uid`; returns what was deleted.
    fn remove<'a>(&'a self, site: &'a str, uid: u32) -> PortFuture<'a, Vec<String>>;
}

/// A lease so that only one of several agents acts (DynamoDB conditional writes in production).
pub trait Lease: Send + Sync {
    /// Takes or renews the lease for `holder` for `ttl_secs`; true when `holder` holds it.
    fn acquire<'a>(&'a self, holder: &'a str, ttl_secs: u64) -> PortFuture<'a, bool>;
}

/// Everything the loop uses.
pub struct Ports {
    /// State bucket.
    pub state: Box<dyn StateStore>,
    /// ECS.
    pub ecs: Box<dyn Ecs>,
    /// Auto Scaling.
    pub autoscaling: Box<dyn AutoScaling>,
    /// ELB health target group.
    pub load_balancer: Box<dyn LoadBalancer>,
    /// Metrics.
    pub metrics: Box<dyn Metrics>,
    /// AMI parameter.
    pub images: Box<dyn Images>,
    /// Secrets Manager (absent when the stack has no database).
    pub secrets: Option<Box<dyn Secrets>>,
    /// Databases (absent when the stack has no database).
    pub databases: Option<Box<dyn Databases>>,
    /// Site folders.
    pub folders: Box<dyn Folders>,
    /// The lease.
    pub lease: Box<dyn Lease>,
}

impl std::fmt::Debug for Ports {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Ports")
    }
}
