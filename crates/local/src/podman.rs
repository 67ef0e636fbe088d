//! A container definition, as ECS would start it on an instance, turned into `podman run`
//! arguments ([`run_args`], pure), and the few podman commands `local` needs ([`Podman`]).
//!
//! Every field ECS honours on an EC2 instance in bridge mode is carried over: entry point and
//! command, environment, user, read-only root (without podman's extra tmpfs mounts, which ECS does
//! not add), tmpfs mounts with their sizes and options, port mappings (a host port of 0 is a
//! dynamic port, here on loopback), bind mounts for volumes, capabilities, ulimits, memory and CPU,
//! the init process, the stop timeout, DNS search domains. Secret values are never put on the
//! command line: the variable is named (`--env NAME`) and its value given to podman's own
//! environment, from which podman copies it.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use crate::spec::{Container, TaskDefinition};

/// Labels every container of `local` carries, so it can be found again (and `local down` can
/// remove whatever is left).
pub const LABEL_STACK: &str = "idealstack.local.stack";
/// The ECS service the container belongs to (empty for one-off tasks).
pub const LABEL_SERVICE: &str = "idealstack.local.service";
/// The task (a short id shared by the containers of one task).
pub const LABEL_TASK: &str = "idealstack.local.task";
/// The task definition ARN.
pub const LABEL_TASK_DEFINITION: &str = "idealstack.local.task-definition";
/// The container name within the task.
pub const LABEL_CONTAINER: &str = "idealstack.local.container";

/// Where the platform puts what ECS would provide around a container.
#[derive(Debug, Clone, Default)]
pub struct Placement {
    pub stack: String,
    /// The service that wants this task, or `None` for a one-off task.
    pub service: Option<String>,
    /// A short task id (also in the container name and the credentials path).
    pub task_id: String,
    /// The podman network (bridge mode).
    pub network: String,
    /// Host path of each task volume, by volume name.
    pub volumes: BTreeMap<String, PathBuf>,
    /// Values of the container's `Secrets`, by variable name (passed through podman's environment).
    pub secrets: BTreeMap<String, String>,
    /// Environment the platform adds (the emulator's endpoint, the credentials path).
    pub platform_env: BTreeMap<String, String>,
    /// `--add-host` entries: name -> address.
    pub hosts: BTreeMap<String, String>,
    /// The loopback address dynamic and fixed host ports are published on.
    pub publish_address: String,
    /// `Command` replaced (a one-off task's override), when set.
    pub command_override: Option<Vec<String>>,
    /// The limits this machine lets a container have, by name (`nofile`, `nproc`): the
    /// `default_ulimits` of the containers.conf in use. An EC2 instance allows the template's
    /// limits; a developer's machine or a CI sandbox may not, so a limit above its ceiling is
    /// lowered to it rather than failing the container's start. A container that sets any limit
    /// also gets the ceilings of the others, because podman then drops its defaults and runc
    /// cannot raise them back.
    pub ulimit_ceilings: BTreeMap<String, i64>,
    /// Files the platform lays over the image, read-only: container path -> host file (the local
    /// CA's bundle at the path where every idealstack image keeps the RDS CA bundle).
    pub platform_files: BTreeMap<String, PathBuf>,
}

/// The container's name in podman: stack, task and container, unique per task.
pub fn container_name(stack: &str, task_id: &str, container: &str) -> String {
    format!("idealstack-{stack}-{task_id}-{container}")
}

/// The arguments of `podman run` that start `container` of `task` as ECS would (bridge mode).
pub fn run_args(task: &TaskDefinition, container: &Container, at: &Placement) -> Vec<String> {
    let mut a: Vec<String> = vec!["run".into(), "--detach".into()];
    let push = |a: &mut Vec<String>, flag: &str, value: String| {
        a.push(flag.into());
        a.push(value);
    };
    push(
        &mut a,
        "--name",
        container_name(&at.stack, &at.task_id, &container.name),
    );
    for (k, v) in [
        (LABEL_STACK, at.stack.as_str()),
        (LABEL_SERVICE, at.service.as_deref().unwrap_or("")),
        (LABEL_TASK, at.task_id.as_str()),
        (LABEL_TASK_DEFINITION, task.arn.as_str()),
        (LABEL_CONTAINER, container.name.as_str()),
    ] {
        push(&mut a, "--label", format!("{k}={v}"));
    }
    match task.network_mode.as_str() {
        "host" => push(&mut a, "--network", "host".into()),
        "none" => push(&mut a, "--network", "none".into()),
        // bridge (and awsvpc, which local runs as a bridge too)
        _ => push(&mut a, "--network", at.network.clone()),
    }
    for (name, address) in &at.hosts {
        push(&mut a, "--add-host", format!("{name}:{address}"));
    }
    for domain in &container.dns_search_domains {
        push(&mut a, "--dns-search", domain.clone());
    }
    if let Some(user) = &container.user {
        push(&mut a, "--user", user.clone());
    }
    if container.read_only_root {
        a.push("--read-only".into());
        // ECS adds no tmpfs of its own to a read-only container; podman would add /tmp, /run and
        // /var/tmp unless told not to, which would hide a missing `Tmpfs` entry.
        a.push("--read-only-tmpfs=false".into());
    }
    if container.privileged {
        a.push("--privileged".into());
    }
    if container.init_process {
        a.push("--init".into());
    }
    for t in &container.tmpfs {
        let mut options = vec!["rw".to_string(), format!("size={}m", t.size_mib)];
        options.extend(t.options.iter().cloned());
        push(
            &mut a,
            "--tmpfs",
            format!("{}:{}", t.path, options.join(",")),
        );
    }
    for cap in &container.capabilities_drop {
        push(&mut a, "--cap-drop", cap.clone());
    }
    for cap in &container.capabilities_add {
        push(&mut a, "--cap-add", cap.clone());
    }
    if !container.ulimits.is_empty() {
        let mut limits: BTreeMap<&str, (i64, i64)> = at
            .ulimit_ceilings
            .iter()
            .map(|(name, max)| (name.as_str(), (*max, *max)))
            .collect();
        for u in &container.ulimits {
            let max = at.ulimit_ceilings.get(&u.name).copied().unwrap_or(i64::MAX);
            limits.insert(&u.name, (u.soft.min(max), u.hard.min(max)));
        }
        for (name, (soft, hard)) in limits {
            push(&mut a, "--ulimit", format!("{name}={soft}:{hard}"));
        }
    }
    // The hard limit: the container's own, else the task's (one container per task here).
    if let Some(mib) = container.memory_mib.or(task.memory_mib) {
        push(&mut a, "--memory", format!("{mib}m"));
    }
    if let Some(mib) = container.memory_reservation_mib {
        push(&mut a, "--memory-reservation", format!("{mib}m"));
    }
    if let Some(units) = container.cpu_units.or(task.cpu_units).filter(|u| *u > 0) {
        push(&mut a, "--cpu-shares", units.max(2).to_string());
    }
    if let Some(s) = container.stop_timeout_seconds {
        push(&mut a, "--stop-timeout", s.to_string());
    }
    if let Some(dir) = &container.working_directory {
        push(&mut a, "--workdir", dir.clone());
    }
    for p in &container.port_mappings {
        let host = if p.host_port == 0 {
            String::new()
        } else {
            p.host_port.to_string()
        };
        let proto = if p.protocol.is_empty() {
            "tcp"
        } else {
            p.protocol.as_str()
        };
        push(
            &mut a,
            "--publish",
            format!("{}:{host}:{}/{proto}", at.publish_address, p.container_port),
        );
    }
    for m in &container.mount_points {
        if let Some(src) = at.volumes.get(&m.source_volume) {
            let mut spec = format!("type=bind,src={},dst={}", src.display(), m.container_path);
            if m.read_only {
                spec.push_str(",ro=true");
            }
            push(&mut a, "--mount", spec);
        }
    }
    for (path, src) in &at.platform_files {
        push(
            &mut a,
            "--mount",
            format!("type=bind,src={},dst={path},ro=true", src.display()),
        );
    }
    let mut env: BTreeMap<&str, &str> = BTreeMap::new();
    for (k, v) in &container.environment {
        env.insert(k, v);
    }
    for (k, v) in &at.platform_env {
        env.insert(k, v);
    }
    for (k, v) in env {
        push(&mut a, "--env", format!("{k}={v}"));
    }
    for k in container.secrets.keys() {
        // The value comes from podman's own environment (see `Podman::run`), never argv.
        push(&mut a, "--env", k.clone());
    }
    if !container.entry_point.is_empty() {
        push(
            &mut a,
            "--entrypoint",
            serde_json::to_string(&container.entry_point).unwrap_or_default(),
        );
    }
    a.push(container.image.clone());
    let command = at.command_override.as_ref().unwrap_or(&container.command);
    a.extend(command.iter().cloned());
    a
}

/// Errors of podman commands.
#[derive(Debug, thiserror::Error)]
pub enum PodmanError {
    /// podman could not be started.
    #[error("could not run podman: {0}; install it (scripts/setup does) and check CONTAINERS_CONF")]
    Spawn(#[source] std::io::Error),
    /// podman ran and failed.
    #[error("podman {command} failed: {stderr}")]
    Failed { command: String, stderr: String },
}

/// A running or stopped container of `local`, from `podman ps`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Running {
    pub id: String,
    pub name: String,
    pub labels: BTreeMap<String, String>,
    /// `running`, `exited`, `created`, ...
    pub state: String,
    pub exit_code: i32,
}

impl Running {
    /// The value of label `key`, or "".
    pub fn label(&self, key: &str) -> &str {
        self.labels.get(key).map(String::as_str).unwrap_or("")
    }
}

/// The `default_ulimits` of a containers.conf (`default_ulimits = ["nofile=20000:20000", ...]`),
/// by name, as hard limits.
pub fn default_ulimits(containers_conf: &str) -> BTreeMap<String, i64> {
    let Some(line) = containers_conf
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with("default_ulimits"))
    else {
        return BTreeMap::new();
    };
    line.split('"')
        .skip(1)
        .step_by(2)
        .filter_map(|item| {
            let (name, limits) = item.split_once('=')?;
            let hard = limits.rsplit(':').next()?.parse().ok()?;
            Some((name.to_string(), hard))
        })
        .collect()
}

/// The podman command line, with the containers.conf the project ships.
#[derive(Debug, Clone, Default)]
pub struct Podman {
    /// `CONTAINERS_CONF` for every podman call (`None`: inherit).
    pub containers_conf: Option<PathBuf>,
}

impl Podman {
    fn command(&self) -> Command {
        let mut c = Command::new("podman");
        if let Some(conf) = &self.containers_conf {
            c.env("CONTAINERS_CONF", conf);
        }
        c.stdin(Stdio::null());
        c
    }

    /// Runs podman with `args`; returns stdout.
    pub fn call(
        &self,
        args: &[String],
        env: &BTreeMap<String, String>,
    ) -> Result<String, PodmanError> {
        let out = self
            .command()
            .args(args)
            .envs(env)
            .output()
            .map_err(PodmanError::Spawn)?;
        if !out.status.success() {
            return Err(PodmanError::Failed {
                command: args.first().cloned().unwrap_or_default(),
                stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
            });
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    fn call_str(&self, args: &[&str]) -> Result<String, PodmanError> {
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        self.call(&args, &BTreeMap::new())
    }

    /// Starts a container from [`run_args`]; secret values go through podman's environment.
    pub fn run(
        &self,
        args: &[String],
        secrets: &BTreeMap<String, String>,
    ) -> Result<String, PodmanError> {
        Ok(self.call(args, secrets)?.trim().to_string())
    }

    /// Every container of `stack` (running or not).
    pub fn list(&self, stack: &str) -> Result<Vec<Running>, PodmanError> {
        let out = self.call_str(&[
            "ps",
            "--all",
            "--format",
            "json",
            "--filter",
            &format!("label={LABEL_STACK}={stack}"),
        ])?;
        Ok(parse_ps(&out))
    }

    /// Stops (with the container's stop timeout) and removes a container.
    pub fn remove(&self, id: &str) -> Result<(), PodmanError> {
        self.call_str(&["rm", "--force", "--time", "10", id])
            .map(|_| ())
    }

    /// The host port a container port is published on.
    pub fn host_port(&self, id: &str, container_port: u16) -> Result<Option<u16>, PodmanError> {
        let out = self.call_str(&["port", id, &format!("{container_port}/tcp")])?;
        Ok(out
            .lines()
            .next()
            .and_then(|l| l.rsplit(':').next())
            .and_then(|p| p.trim().parse().ok()))
    }

    /// Whether an image exists locally.
    pub fn image_exists(&self, image: &str) -> bool {
        self.command()
            .args(["image", "exists", image])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false)
    }

    /// Ensures a bridge network named `name` exists; returns its gateway address.
    pub fn network(&self, name: &str, subnet: &str) -> Result<String, PodmanError> {
        if self.call_str(&["network", "exists", name]).is_err() {
            self.call_str(&["network", "create", "--subnet", subnet, name])?;
        }
        let out = self.call_str(&["network", "inspect", name])?;
        let v: serde_json::Value = serde_json::from_str(&out).unwrap_or_default();
        let gateway = v[0]["subnets"][0]["gateway"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        Ok(gateway)
    }
}

/// Parses `podman ps --format json`.
pub fn parse_ps(json: &str) -> Vec<Running> {
    let v: serde_json::Value = serde_json::from_str(json).unwrap_or(serde_json::Value::Null);
    let Some(items) = v.as_array() else {
        return Vec::new();
    };
    items
        .iter()
        .map(|c| Running {
            id: c["Id"].as_str().unwrap_or_default().to_string(),
            name: c["Names"][0].as_str().unwrap_or_default().to_string(),
            labels: c["Labels"]
                .as_object()
                .map(|m| {
                    m.iter()
                        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                        .collect()
                })
                .unwrap_or_default(),
            state: c["State"].as_str().unwrap_or_default().to_string(),
            exit_code: c["ExitCode"].as_i64().unwrap_or_default() as i32,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::*;

    fn task() -> TaskDefinition {
        TaskDefinition {
            arn: "arn:aws:ecs:us-east-1:1:task-definition/demo-site-shop:2".into(),
            family: "demo-site-shop".into(),
            revision: 2,
            network_mode: "bridge".into(),
            task_role_arn: None,
            execution_role_arn: None,
            memory_mib: Some(1024),
            cpu_units: Some(512),
            containers: vec![],
            volumes: vec![],
        }
    }

    fn php() -> Container {
        Container {
            name: "php".into(),
            image: "localhost/idealstack/php:8.4-0.1.0".into(),
            command: vec![],
            environment: [("IDEALSTACK_SITE".to_string(), "shop".to_string())].into(),
            secrets: [(
                "DB_PASSWORD".to_string(),
                "arn:aws:secretsmanager:us-east-1:1:secret:x:password::".to_string(),
            )]
            .into(),
            user: Some("20000:20000".into()),
            essential: true,
            read_only_root: true,
            init_process: true,
            tmpfs: vec![Tmpfs {
                path: "/tmp".into(),
                size_mib: 64,
                options: vec!["noexec".into(), "nosuid".into()],
            }],
            port_mappings: vec![PortMapping {
                container_port: 8080,
                host_port: 0,
                protocol: "tcp".into(),
            }],
            mount_points: vec![MountPoint {
                source_volume: "site".into(),
                container_path: "/srv/site".into(),
                read_only: false,
            }],
            ..Container::default()
        }
    }

    fn placement() -> Placement {
        Placement {
            stack: "demo".into(),
            service: Some("demo-site-shop".into()),
            task_id: "a1b2c3".into(),
            network: "idealstack-demo".into(),
            volumes: [("site".to_string(), PathBuf::from("/efs/sites/shop"))].into(),
            secrets: [("DB_PASSWORD".to_string(), "s3cret".to_string())].into(),
            platform_env: [(
                "AWS_ENDPOINT_URL".to_string(),
                "http://10.0.0.1:4566".to_string(),
            )]
            .into(),
            publish_address: "127.0.0.1".into(),
            platform_files: [(
                "/usr/share/ca.pem".to_string(),
                PathBuf::from("/local/ca.pem"),
            )]
            .into(),
            ..Placement::default()
        }
    }

    fn joined(a: &[String]) -> String {
        a.join(" ")
    }

    #[test]
    fn a_site_container_runs_as_ecs_would_start_it() {
        let a = run_args(&task(), &php(), &placement());
        let s = joined(&a);
        for want in [
            "--name idealstack-demo-a1b2c3-php",
            "--network idealstack-demo",
            "--user 20000:20000",
            "--read-only --read-only-tmpfs=false",
            "--init",
            "--tmpfs /tmp:rw,size=64m,noexec,nosuid",
            "--memory 1024m",
            "--publish 127.0.0.1::8080/tcp",
            "--mount type=bind,src=/efs/sites/shop,dst=/srv/site",
            "--mount type=bind,src=/local/ca.pem,dst=/usr/share/ca.pem,ro=true",
            "--env IDEALSTACK_SITE=shop",
            "--env AWS_ENDPOINT_URL=http://10.0.0.1:4566",
            "--env DB_PASSWORD",
            "--label idealstack.local.service=demo-site-shop",
        ] {
            assert!(s.contains(want), "{want:?} missing from {s}");
        }
        assert_eq!(a.last().unwrap(), "localhost/idealstack/php:8.4-0.1.0");
        assert!(
            !s.contains("s3cret"),
            "a secret value on the command line: {s}"
        );
    }

    #[test]
    fn command_entry_point_caps_and_fixed_ports_are_kept() {
        let mut c = php();
        c.command = vec!["sftp".into(), "serve".into()];
        c.entry_point = vec!["/usr/local/bin/idealstack".into()];
        c.capabilities_drop = vec!["ALL".into()];
        c.capabilities_add = vec!["SETUID".into()];
        c.port_mappings[0].host_port = 8081;
        c.read_only_root = false;
        let mut at = placement();
        let a = run_args(&task(), &c, &at);
        let s = joined(&a);
        assert!(s.contains("--cap-drop ALL --cap-add SETUID"), "{s}");
        assert!(s.contains("--publish 127.0.0.1:8081:8080/tcp"), "{s}");
        assert!(
            s.contains("--entrypoint [\"/usr/local/bin/idealstack\"]"),
            "{s}"
        );
        assert!(!s.contains("--read-only"), "{s}");
        assert!(
            s.ends_with("localhost/idealstack/php:8.4-0.1.0 sftp serve"),
            "{s}"
        );
        at.command_override = Some(vec!["agent".into(), "--once".into()]);
        let s = joined(&run_args(&task(), &c, &at));
        assert!(s.ends_with("php:8.4-0.1.0 agent --once"), "{s}");
    }

    #[test]
    fn limits_above_the_machines_ceilings_are_lowered_to_them() {
        let mut c = php();
        c.ulimits = vec![
            Ulimit {
                name: "nofile".into(),
                soft: 65536,
                hard: 65536,
            },
            Ulimit {
                name: "nproc".into(),
                soft: 9000,
                hard: 9000,
            },
        ];
        let mut at = placement();
        let s = joined(&run_args(&task(), &c, &at));
        assert!(s.contains("--ulimit nofile=65536:65536"), "{s}");
        at.ulimit_ceilings = [("nofile".to_string(), 20000), ("nproc".to_string(), 4096)].into();
        let s = joined(&run_args(&task(), &c, &at));
        assert!(s.contains("--ulimit nofile=20000:20000"), "{s}");
        assert!(s.contains("--ulimit nproc=4096:4096"), "{s}");
        c.ulimits.truncate(1);
        let s = joined(&run_args(&task(), &c, &at));
        assert!(
            s.contains("--ulimit nofile=20000:20000 --ulimit nproc=4096:4096"),
            "a container with one limit keeps the machine's other: {s}"
        );
        c.ulimits.clear();
        let s = joined(&run_args(&task(), &c, &at));
        assert!(!s.contains("--ulimit"), "no limits: podman's defaults: {s}");
    }

    #[test]
    fn the_ceilings_are_read_from_containers_conf() {
        let conf =
            "[containers]\n# x\ndefault_ulimits = [\"nofile=20000:20000\", \"nproc=4096:8192\"]\n";
        let got = default_ulimits(conf);
        assert_eq!(got.get("nofile"), Some(&20000));
        assert_eq!(got.get("nproc"), Some(&8192));
        assert!(default_ulimits("[containers]\n").is_empty());
    }

    #[test]
    fn ps_output_is_parsed() {
        let json = r#"[{"Id":"abc","Names":["idealstack-demo-x-php"],"Labels":{"idealstack.local.task":"x"},"State":"running","ExitCode":0}]"#;
        let r = parse_ps(json);
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].label(LABEL_TASK), "x");
        assert_eq!(r[0].state, "running");
        assert!(parse_ps("").is_empty());
    }
}
