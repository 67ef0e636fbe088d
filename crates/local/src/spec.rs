//! What `local` runs, in ECS's own terms: a task definition as ECS describes it (after
//! CloudFormation registered it in the emulator), its containers and volumes, and the services and
//! one-off tasks that want it running. The AWS crate fills these from DescribeTaskDefinition,
//! DescribeServices and ListTasks; nothing here does I/O.

use std::collections::BTreeMap;

/// A registered task definition revision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskDefinition {
    /// `arn:...:task-definition/<family>:<revision>`.
    pub arn: String,
    pub family: String,
    pub revision: i32,
    /// `bridge`, `host`, `awsvpc` or `none`.
    pub network_mode: String,
    pub task_role_arn: Option<String>,
    pub execution_role_arn: Option<String>,
    /// Task-level memory in MiB (`Memory` of the task definition), when set.
    pub memory_mib: Option<u32>,
    /// Task-level CPU units (1024 = one vCPU), when set.
    pub cpu_units: Option<u32>,
    pub containers: Vec<Container>,
    pub volumes: Vec<Volume>,
}

/// One container definition.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Container {
    pub name: String,
    pub image: String,
    /// The image's entry point replaced, when set.
    pub entry_point: Vec<String>,
    /// Arguments (`Command`), when set.
    pub command: Vec<String>,
    pub environment: BTreeMap<String, String>,
    /// Variable name -> `ValueFrom` (a Secrets Manager ARN, optionally with `:json-key:stage:id`,
    /// or an SSM parameter ARN or name).
    pub secrets: BTreeMap<String, String>,
    /// `uid`, `uid:gid`, or a user name.
    pub user: Option<String>,
    pub essential: bool,
    pub read_only_root: bool,
    pub privileged: bool,
    pub init_process: bool,
    pub tmpfs: Vec<Tmpfs>,
    pub port_mappings: Vec<PortMapping>,
    pub mount_points: Vec<MountPoint>,
    pub capabilities_add: Vec<String>,
    pub capabilities_drop: Vec<String>,
    pub ulimits: Vec<Ulimit>,
    pub dns_search_domains: Vec<String>,
    /// Hard memory limit in MiB (`Memory`).
    pub memory_mib: Option<u32>,
    pub memory_reservation_mib: Option<u32>,
    pub cpu_units: Option<u32>,
    pub stop_timeout_seconds: Option<u32>,
    pub working_directory: Option<String>,
    /// The awslogs options (`awslogs-group`, `awslogs-stream-prefix`, ...), when that driver is used.
    pub awslogs: Option<BTreeMap<String, String>>,
}

/// A tmpfs mount.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tmpfs {
    pub path: String,
    pub size_mib: u32,
    pub options: Vec<String>,
}

/// A port mapping: `host_port` 0 (or none) asks for a dynamic host port, as ECS does in bridge mode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortMapping {
    pub container_port: u16,
    pub host_port: u16,
    pub protocol: String,
}

/// A volume mounted into a container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountPoint {
    pub source_volume: String,
    pub container_path: String,
    pub read_only: bool,
}

/// A resource limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ulimit {
    pub name: String,
    pub soft: i64,
    pub hard: i64,
}

/// A task volume.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Volume {
    pub name: String,
    /// An EFS volume; `None` for a plain (scratch) volume.
    pub efs: Option<EfsVolume>,
}

/// An EFS volume configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EfsVolume {
    pub file_system_id: String,
    /// `RootDirectory` (ignored by EFS when an access point is used).
    pub root_directory: String,
    pub access_point_id: Option<String>,
}

/// An EFS access point as the emulator describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessPoint {
    pub id: String,
    pub file_system_id: String,
    /// `RootDirectory.Path` (`/` when absent).
    pub path: String,
    /// `RootDirectory.CreationInfo`: created with this owner and mode when the path is missing.
    pub creation: Option<Creation>,
    /// `PosixUser`: every file operation through the access point runs as this user.
    pub posix_user: Option<(u32, u32)>,
}

/// An access point's `CreationInfo`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Creation {
    pub uid: u32,
    pub gid: u32,
    /// Octal mode, e.g. `0o755`.
    pub mode: u32,
}

/// An ECS service as the emulator describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Service {
    pub name: String,
    pub arn: String,
    pub task_definition: String,
    pub desired_count: u32,
    /// `REPLICA` or `DAEMON` (a daemon runs one task on the one local "instance").
    pub scheduling: String,
    /// Target groups the service registers its containers with: (target group ARN, container
    /// name, container port).
    pub load_balancers: Vec<(String, String, u16)>,
}

/// A task started with RunTask (not by a service) that has not stopped yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OneOffTask {
    pub arn: String,
    pub task_definition: String,
    /// Container name -> command override.
    pub command_overrides: BTreeMap<String, Vec<String>>,
}

/// The last path segment of a task or task definition ARN (`.../family:3` -> `family:3`).
pub fn arn_tail(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap_or(arn)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arn_tail_takes_the_last_segment() {
        assert_eq!(
            arn_tail("arn:aws:ecs:us-east-1:123456789012:task-definition/demo-site-shop:3"),
            "demo-site-shop:3"
        );
        assert_eq!(arn_tail("plain"), "plain");
    }
}
