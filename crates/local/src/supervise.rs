//! The local cluster's control loop: every couple of seconds, read what the emulator wants running
//! (services, one-off tasks), what podman runs, and act ([`crate::reconcile`]); then refresh the
//! router's table from the listener rules and the healthy containers, and the SFTP load balancer's
//! targets. A status file records each pass for `idealstack local status`.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

use crate::credentials::{self, Roles};
use crate::logs::{self, Batch};
use crate::podman::{self, LABEL_CONTAINER, LABEL_SERVICE, LABEL_TASK, Placement, Podman, Running};
use crate::ports::{Emulator, SecretRef, extract, parse_value_from};
use crate::reconcile::{Step, one_off_id, reconcile};
use crate::router::{RouteTable, Router};
use crate::spec::{OneOffTask, Service, TaskDefinition};

/// Settings of the loop.
#[derive(Debug, Clone)]
pub struct Config {
    pub stack: String,
    /// The ECS cluster (`<stack>-cluster`).
    pub cluster: String,
    /// Folder holding one folder per EFS file system.
    pub efs_root: PathBuf,
    /// The podman network containers join, and the host's address on it.
    pub network: String,
    pub gateway: String,
    /// The emulator's endpoint as containers reach it (`http://<gateway>:<port>`).
    pub container_endpoint: String,
    /// `--add-host` entries every container gets (the database endpoint, ...).
    pub hosts: BTreeMap<String, String>,
    pub podman: Podman,
    pub interval: Duration,
    /// Where the status of each pass is written (JSON).
    pub status_file: PathBuf,
    /// Files laid over every container's image (see `Placement::platform_files`).
    pub platform_files: BTreeMap<String, PathBuf>,
    /// The machine's limits for containers (see `Placement::ulimit_ceilings`).
    pub ulimit_ceilings: BTreeMap<String, i64>,
}

/// State shared with the servers.
#[derive(Debug, Default)]
pub struct Shared {
    pub router: Arc<Router>,
    pub roles: Arc<Roles>,
    /// Targets of the SFTP network load balancer.
    pub sftp_targets: Arc<RwLock<Vec<SocketAddr>>>,
}

/// One service's state in the status file.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct ServiceStatus {
    pub name: String,
    pub desired: u32,
    pub running: u32,
    /// Tasks answering their load balancer's health check (0 without a load balancer).
    pub healthy: u32,
    /// Whether the service has a load balancer (else `healthy` says nothing).
    #[serde(default)]
    pub load_balanced: bool,
    pub task_definition: String,
}

/// The status file.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct Status {
    pub services: Vec<ServiceStatus>,
    pub one_off_tasks: Vec<String>,
    /// Recent actions and problems, newest last (at most 50).
    pub events: Vec<String>,
    pub passes: u64,
}

fn task_id() -> String {
    let mut bytes = [0u8; 6];
    if let Ok(mut f) = std::fs::File::open("/dev/urandom") {
        use std::io::Read;
        let _ = f.read_exact(&mut bytes);
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Sends a GET for `path` to `addr`; true on a 2xx/3xx answer within 2 s.
pub async fn http_ok(addr: SocketAddr, path: &str) -> bool {
    let attempt = async {
        let mut s = tokio::net::TcpStream::connect(addr).await.ok()?;
        let req = format!(
            "GET {path} HTTP/1.0\r\nHost: localhost\r\nUser-Agent: ELB-HealthChecker/2.0\r\n\r\n"
        );
        s.write_all(req.as_bytes()).await.ok()?;
        let mut buf = vec![0u8; 64];
        let n = s.read(&mut buf).await.ok()?;
        let head = String::from_utf8_lossy(&buf[..n]).to_string();
        let code: u16 = head.split_whitespace().nth(1)?.parse().ok()?;
        Some((200..400).contains(&code))
    };
    tokio::time::timeout(Duration::from_secs(2), attempt)
        .await
        .ok()
        .flatten()
        .unwrap_or(false)
}

/// The control loop.
pub struct Supervisor<E: Emulator> {
    pub config: Config,
    pub emulator: E,
    pub shared: Arc<Shared>,
    task_definitions: BTreeMap<String, TaskDefinition>,
    status: Status,
    logs_tx: mpsc::Sender<Batch>,
    followed: std::collections::BTreeSet<String>,
}

impl<E: Emulator> Supervisor<E> {
    /// A supervisor; log batches go to `logs_tx` (see [`ship_logs`]).
    pub fn new(
        config: Config,
        emulator: E,
        shared: Arc<Shared>,
        logs_tx: mpsc::Sender<Batch>,
    ) -> Self {
        Supervisor {
            config,
            emulator,
            shared,
            task_definitions: BTreeMap::new(),
            status: Status::default(),
            logs_tx,
            followed: Default::default(),
        }
    }

    fn event(&mut self, e: String) {
        eprintln!("local: {e}");
        self.status.events.push(e);
        let n = self.status.events.len();
        if n > 50 {
            self.status.events.drain(..n - 50);
        }
    }

    async fn task_definition(&mut self, arn: &str) -> Result<TaskDefinition, String> {
        if let Some(td) = self.task_definitions.get(arn) {
            return Ok(td.clone());
        }
        let td = self
            .emulator
            .task_definition(arn)
            .await
            .map_err(|e| e.to_string())?;
        self.task_definitions.insert(arn.to_string(), td.clone());
        Ok(td)
    }

    async fn resolve_secrets(
        &self,
        c: &crate::spec::Container,
    ) -> Result<BTreeMap<String, String>, String> {
        let mut out = BTreeMap::new();
        for (name, from) in &c.secrets {
            let value = match parse_value_from(from) {
                SecretRef::Secret { arn, json_key } => {
                    let whole = self
                        .emulator
                        .secret_string(&arn)
                        .await
                        .map_err(|e| format!("secret {name} ({from}): {e}"))?;
                    extract(&whole, json_key.as_deref())
                        .map_err(|e| format!("secret {name} ({from}): {e}"))?
                }
                SecretRef::Parameter(p) => self
                    .emulator
                    .parameter(&p)
                    .await
                    .map_err(|e| format!("secret {name} ({from}): {e}"))?,
            };
            out.insert(name.clone(), value);
        }
        Ok(out)
    }

    /// Starts every container of a task; on failure removes what started.
    async fn start_task(
        &mut self,
        td: &TaskDefinition,
        service: Option<&str>,
        id: String,
        overrides: &BTreeMap<String, Vec<String>>,
    ) -> Result<(), String> {
        let access_points = self
            .emulator
            .access_points()
            .await
            .map_err(|e| e.to_string())?;
        let mut volumes = BTreeMap::new();
        for v in &td.volumes {
            let path = match &v.efs {
                Some(efs) => crate::efs::prepare(&self.config.efs_root, efs, &access_points)
                    .map_err(|e| e.to_string())?,
                None => {
                    let p = self
                        .config
                        .efs_root
                        .join("..")
                        .join("volumes")
                        .join(&id)
                        .join(&v.name);
                    std::fs::create_dir_all(&p).map_err(|e| format!("{}: {e}", p.display()))?;
                    p
                }
            };
            volumes.insert(v.name.clone(), path);
        }
        if let Some(role) = &td.task_role_arn {
            self.shared.roles.grant(&id, role);
        }
        for c in &td.containers {
            if !self.config.podman.image_exists(&c.image) {
                return Err(format!(
                    "image {} of {} is not built on this machine: run scripts/images (it builds every image the stack names)",
                    c.image, td.family
                ));
            }
            let secrets = self.resolve_secrets(c).await?;
            let mut platform_env = BTreeMap::new();
            platform_env.insert(
                "AWS_ENDPOINT_URL".to_string(),
                self.config.container_endpoint.clone(),
            );
            if td.task_role_arn.is_some() {
                platform_env.insert(
                    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI".to_string(),
                    credentials::relative_uri(&id),
                );
            }
            let at = Placement {
                stack: self.config.stack.clone(),
                service: service.map(str::to_string),
                task_id: id.clone(),
                network: self.config.network.clone(),
                volumes: volumes.clone(),
                secrets: secrets.clone(),
                platform_env,
                hosts: self.config.hosts.clone(),
                publish_address: "127.0.0.1".into(),
                command_override: overrides.get(&c.name).cloned(),
                ulimit_ceilings: self.config.ulimit_ceilings.clone(),
                platform_files: self.config.platform_files.clone(),
            };
            let args = podman::run_args(td, c, &at);
            let podman = self.config.podman.clone();
            let started = tokio::task::spawn_blocking(move || podman.run(&args, &secrets))
                .await
                .map_err(|e| e.to_string())?
                .map_err(|e| format!("starting {} of {}: {e}", c.name, td.family))?;
            if let Some((options, group)) = c
                .awslogs
                .as_ref()
                .and_then(|o| o.get("awslogs-group").map(|g| (o, g)))
            {
                let stream = logs::stream_name(options, &c.name, &id);
                tokio::spawn(logs::follow(
                    self.config.podman.containers_conf.clone(),
                    started.clone(),
                    group.clone(),
                    stream,
                    self.logs_tx.clone(),
                ));
                self.followed.insert(started);
            }
        }
        Ok(())
    }

    fn remove_task(&mut self, containers: &[Running], id: &str) {
        for c in containers.iter().filter(|c| c.label(LABEL_TASK) == id) {
            if let Err(e) = self.config.podman.remove(&c.id) {
                self.event(format!("removing {}: {e}", c.name));
            }
            self.followed.remove(&c.id);
        }
        self.shared.roles.revoke(id);
    }

    /// One pass; returns the services seen.
    pub async fn pass(&mut self) -> Result<(), String> {
        let services = self
            .emulator
            .services(&self.config.cluster)
            .await
            .map_err(|e| e.to_string())?;
        let one_offs = self
            .emulator
            .one_off_tasks(&self.config.cluster)
            .await
            .map_err(|e| e.to_string())?;
        let podman = self.config.podman.clone();
        let stack = self.config.stack.clone();
        let containers = tokio::task::spawn_blocking(move || podman.list(&stack))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())?;
        for step in reconcile(&services, &one_offs, &containers) {
            match step {
                Step::StartService {
                    service,
                    task_definition,
                } => {
                    let id = task_id();
                    let td = match self.task_definition(&task_definition).await {
                        Ok(td) => td,
                        Err(e) => {
                            self.event(format!("{service}: {e}"));
                            continue;
                        }
                    };
                    match self
                        .start_task(&td, Some(&service), id.clone(), &BTreeMap::new())
                        .await
                    {
                        Ok(()) => self.event(format!(
                            "{service}: started task {id} ({})",
                            crate::spec::arn_tail(&td.arn)
                        )),
                        Err(e) => {
                            self.event(format!("{service}: could not start a task: {e}"));
                            let after = self
                                .config
                                .podman
                                .list(&self.config.stack)
                                .unwrap_or_default();
                            self.remove_task(&after, &id);
                        }
                    }
                }
                Step::StartOneOff { task } => self.start_one_off(task).await,
                Step::RemoveTask { task_id, why } => {
                    self.remove_task(&containers, &task_id);
                    self.event(format!("removed task {task_id}: {why}"));
                }
                Step::OneOffStopped {
                    arn,
                    task_id,
                    exit_code,
                } => {
                    if let Err(e) = self
                        .emulator
                        .task_stopped(&self.config.cluster, &arn, exit_code)
                        .await
                    {
                        self.event(format!("reporting {arn} stopped: {e}"));
                    }
                    self.event(format!("one-off task {task_id} exited with {exit_code}"));
                }
            }
        }
        self.refresh_routes(&services).await;
        self.status.passes += 1;
        if let Ok(json) = serde_json::to_vec_pretty(&self.status) {
            let tmp = self.config.status_file.with_extension("tmp");
            if std::fs::write(&tmp, json).is_ok() {
                let _ = std::fs::rename(&tmp, &self.config.status_file);
            }
        }
        Ok(())
    }

    async fn start_one_off(&mut self, task: OneOffTask) {
        let id = one_off_id(&task.arn);
        match self.task_definition(&task.task_definition).await {
            Ok(td) => match self
                .start_task(&td, None, id.clone(), &task.command_overrides)
                .await
            {
                Ok(()) => self.event(format!("one-off task {id} started ({})", td.family)),
                Err(e) => {
                    self.event(format!("one-off task {id}: {e}"));
                    let _ = self
                        .emulator
                        .task_stopped(&self.config.cluster, &task.arn, -1)
                        .await;
                }
            },
            Err(e) => self.event(format!("one-off task {id}: {e}")),
        }
    }

    async fn refresh_routes(&mut self, services: &[Service]) {
        let podman = self.config.podman.clone();
        let stack = self.config.stack.clone();
        let containers = tokio::task::spawn_blocking(move || podman.list(&stack))
            .await
            .ok()
            .and_then(Result::ok)
            .unwrap_or_default();
        let (rules, groups) = match self.emulator.routes(&self.config.stack).await {
            Ok(r) => r,
            Err(e) => {
                self.event(format!("reading the listener rules: {e}"));
                return;
            }
        };
        let mut targets: BTreeMap<String, Vec<SocketAddr>> = BTreeMap::new();
        let mut sftp = Vec::new();
        let mut statuses = Vec::new();
        for s in services {
            let mine: Vec<&Running> = containers
                .iter()
                .filter(|c| c.label(LABEL_SERVICE) == s.name && c.state == "running")
                .collect();
            let mut healthy = 0;
            for (tg, container, port) in &s.load_balancers {
                let group = groups.iter().find(|g| &g.arn == tg);
                for c in mine
                    .iter()
                    .filter(|c| c.label(LABEL_CONTAINER) == container)
                {
                    let Ok(Some(host_port)) = self.config.podman.host_port(&c.id, *port) else {
                        continue;
                    };
                    let addr = SocketAddr::from(([127, 0, 0, 1], host_port));
                    let ok = match group.and_then(|g| g.health_path.clone()) {
                        Some(path) if group.map(|g| g.protocol.as_str()) == Some("HTTP") => {
                            http_ok(addr, &path).await
                        }
                        _ => tokio::net::TcpStream::connect(addr).await.is_ok(),
                    };
                    if ok {
                        healthy += 1;
                        if group.map(|g| g.protocol.as_str()) == Some("TCP") {
                            sftp.push(addr);
                        } else {
                            targets.entry(tg.clone()).or_default().push(addr);
                        }
                    }
                }
            }
            let tasks: std::collections::BTreeSet<&str> =
                mine.iter().map(|c| c.label(LABEL_TASK)).collect();
            statuses.push(ServiceStatus {
                name: s.name.clone(),
                desired: if s.scheduling == "DAEMON" {
                    1
                } else {
                    s.desired_count
                },
                running: tasks.len() as u32,
                healthy,
                load_balanced: !s.load_balancers.is_empty(),
                task_definition: crate::spec::arn_tail(&s.task_definition).to_string(),
            });
        }
        self.status.services = statuses;
        self.shared.router.set(RouteTable::new(rules, targets));
        if let Ok(mut t) = self.shared.sftp_targets.write() {
            *t = sftp;
        }
    }

    /// Runs passes until `stop` resolves.
    pub async fn run(mut self, mut stop: tokio::sync::watch::Receiver<bool>) {
        loop {
            if let Err(e) = self.pass().await {
                self.event(format!("pass failed: {e}"));
            }
            tokio::select! {
                _ = tokio::time::sleep(self.config.interval) => {}
                _ = stop.changed() => break,
            }
        }
    }
}

/// Sends log batches to the emulator as they come.
pub async fn ship_logs<E: Emulator>(emulator: E, mut rx: mpsc::Receiver<Batch>) {
    while let Some(b) = rx.recv().await {
        if let Err(e) = emulator.put_logs(&b.group, &b.stream, b.events).await {
            eprintln!("local: shipping logs to {}: {e}", b.group);
        }
    }
}

/// A TCP load balancer (the SFTP network load balancer): each connection to `listener` goes to
/// one of the current targets.
pub async fn serve_tcp(
    targets: Arc<RwLock<Vec<SocketAddr>>>,
    listener: tokio::net::TcpListener,
) -> std::io::Result<()> {
    let mut next = 0usize;
    loop {
        let (mut inbound, _) = listener.accept().await?;
        let target = targets.read().ok().and_then(|t| {
            if t.is_empty() {
                None
            } else {
                Some(t[next % t.len()])
            }
        });
        next = next.wrapping_add(1);
        let Some(target) = target else { continue };
        tokio::spawn(async move {
            if let Ok(mut outbound) = tokio::net::TcpStream::connect(target).await {
                let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
            }
        });
    }
}
