//! The reconcile loop around [`reconcile`](crate::reconcile::reconcile), in the style of a
//! kube-rs controller: take the lease, observe, decide (pure), act, requeue; a failed pass is
//! requeued by a separate error policy with exponential backoff. Every action is logged to stderr
//! with its reason (the awslogs driver sends it to CloudWatch Logs).

use crate::desired::{DESIRED_KEY, Desired, DesiredError};
use crate::ports::{PortError, Ports};
use crate::purge::{Decision, PURGE_PREFIX, PurgeRequest, decide};
use crate::reconcile::{Action, Config, Memory, World, reconcile};
use std::time::Duration;

/// Why a pass failed.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum PassError {
    /// An API call failed.
    #[error(transparent)]
    Port(#[from] PortError),
    /// The desired state is missing.
    #[error("s3 state bucket has no {0} yet: run `idealstack deploy`, which writes it")]
    NoDesired(String),
    /// The desired state is unusable.
    #[error(transparent)]
    Desired(#[from] DesiredError),
    /// The stack has databases but the agent has no database access configured.
    #[error(
        "site {0} asks for a database but the agent has no database access (IDEALSTACK_DATABASE_SECRET_ARN unset): redeploy the cluster stack with the data stack's database"
    )]
    NoDatabase(String),
    /// A site asks for a database but no secret of it was found.
    #[error(
        "site {0} asks for a database but no Secrets Manager secret tagged idealstack:site={0} was found: deploy the site stack, which creates it"
    )]
    NoSiteSecret(String),
}

/// What a pass did.
#[derive(Debug, Clone, PartialEq)]
pub enum PassOutcome {
    /// Another agent holds the lease: nothing was observed or done.
    Standby,
    /// The actions taken (already logged).
    Acted(Vec<String>),
}

/// Requeue timing.
#[derive(Debug, Clone, PartialEq)]
pub struct Timing {
    /// Delay after a good pass.
    pub requeue: Duration,
    /// First delay after a failure; doubles per consecutive failure.
    pub backoff_base: Duration,
    /// Longest delay after failures.
    pub backoff_max: Duration,
    /// Lease duration (renewed every pass).
    pub lease_ttl: Duration,
    /// Between good passes, how often the desired state is read to see whether a deploy changed
    /// it (a new site then gets its folder at once, not up to `requeue` later); `None`: not read.
    pub watch: Option<Duration>,
}

impl Default for Timing {
    fn default() -> Self {
        Timing {
            requeue: Duration::from_secs(60),
            backoff_base: Duration::from_secs(5),
            backoff_max: Duration::from_secs(300),
            lease_ttl: Duration::from_secs(180),
            // One small GetObject every 5 s: about 0.5 million a month, $0.20 at S3's price.
            watch: Some(Duration::from_secs(5)),
        }
    }
}

/// The error policy: how long to wait after `failures` consecutive failed passes (>= 1).
pub fn error_policy(timing: &Timing, failures: u32) -> Duration {
    let factor = 1u32
        .checked_shl(failures.saturating_sub(1))
        .unwrap_or(u32::MAX);
    timing
        .backoff_base
        .saturating_mul(factor)
        .min(timing.backoff_max)
}

/// The agent: ports, configuration and memory between passes.
#[derive(Debug)]
pub struct Agent {
    /// Ports.
    pub ports: Ports,
    /// Decision tunables.
    pub config: Config,
    /// Requeue timing.
    pub timing: Timing,
    /// This agent's lease holder id.
    pub holder: String,
    memory: Memory,
    started: tokio::time::Instant,
    /// The desired state as the last pass read it (what the watch compares against).
    desired_seen: Option<Vec<u8>>,
}

impl Agent {
    /// A new agent.
    pub fn new(ports: Ports, config: Config, timing: Timing, holder: impl Into<String>) -> Self {
        Agent {
            ports,
            config,
            timing,
            holder: holder.into(),
            memory: Memory::default(),
            started: tokio::time::Instant::now(),
            desired_seen: None,
        }
    }

    async fn observe(&mut self) -> Result<World, PassError> {
        let body = self
            .ports
            .state
            .get(DESIRED_KEY)
            .await?
            .ok_or_else(|| PassError::NoDesired(DESIRED_KEY.into()))?;
        let desired = Desired::parse(DESIRED_KEY, &body)?;
        self.desired_seen = Some(body);
        let services = self
            .ports
            .ecs
            .services()
            .await?
            .into_iter()
            .map(|s| (s.site.clone(), s))
            .collect();
        let container_instances = self.ports.ecs.container_instances().await?;
        let mut group = self.ports.autoscaling.group().await?;
        group.refresh_in_progress = self.ports.autoscaling.refresh_in_progress().await?;
        let unhealthy = self.ports.load_balancer.unhealthy_instances().await?;
        let names: Vec<String> = desired.sites.keys().cloned().collect();
        let demand = self.ports.metrics.request_rates(&names).await?;
        let latest_ami = Some(self.ports.images.latest_ecs_ami().await?);
        Ok(World {
            now_secs: self.started.elapsed().as_secs(),
            desired,
            services,
            container_instances,
            group,
            unhealthy,
            demand,
            latest_ami,
        })
    }

    async fn act(&self, action: &Action) -> Result<Option<String>, PassError> {
        let p = &self.ports;
        Ok(match action {
            Action::EnsureFolder { site, uid } => {
                let repairs = p.folders.ensure(site, *uid).await?;
                (!repairs.is_empty())
                    .then(|| format!("folder {site}: {} (drift repaired)", repairs.join(", ")))
            }
            Action::EnsureDatabase { .. } => None, // done in bulk by `databases`
            Action::SetTasks {
                site,
                service,
                from,
                to,
                reason,
            } => {
                p.ecs.set_desired_count(service, *to).await?;
                Some(format!("tasks {site}: {from} -> {to} because {reason}"))
            }
            Action::SetInstances { from, to, reason } => {
                p.autoscaling.set_desired(*to).await?;
                Some(format!("instances: {from} -> {to} because {reason}"))
            }
            Action::Drain {
                container_instance,
                instance,
                reason,
            } => {
                p.ecs.drain(container_instance).await?;
                Some(format!("drain {instance} because {reason}"))
            }
            Action::Terminate {
                instance,
                decrement,
                reason,
            } => {
                p.autoscaling.terminate(instance, *decrement).await?;
                Some(format!(
                    "terminate {instance} ({}) because {reason}",
                    if *decrement { "scale in" } else { "replace" }
                ))
            }
            Action::Spread {
                site,
                service,
                reason,
            } => {
                p.ecs.redeploy(service).await?;
                Some(format!("spread {site} because {reason}"))
            }
            Action::RollAmi { reason } => {
                let id = p.autoscaling.start_refresh().await?;
                Some(format!("instance refresh {id} because {reason}"))
            }
        })
    }

    async fn databases(&self, world: &World) -> Result<Vec<String>, PassError> {
        let wanted: Vec<&String> = world
            .desired
            .sites
            .values()
            .filter(|s| s.database)
            .map(|s| &s.name)
            .collect();
        if wanted.is_empty() {
            return Ok(Vec::new());
        }
        let (Some(secrets), Some(databases)) = (&self.ports.secrets, &self.ports.databases) else {
            return Err(PassError::NoDatabase(wanted[0].clone()));
        };
        let creds = secrets.site_credentials().await?;
        let mut done = Vec::new();
        for site in wanted {
            // The deployer writes the desired state before the site stacks (so a new site's
            // folders exist when its first task starts): a new site's secret appears while its
            // stack is created. Until then the site waits; the other sites' work goes on.
            let Some(c) = creds.get(site) else {
                eprintln!("agent: {}", PassError::NoSiteSecret(site.clone()));
                continue;
            };
            let changes = databases.ensure(c).await?;
            if !changes.is_empty() {
                done.push(format!("database {site}: {}", changes.join(", ")));
            }
        }
        Ok(done)
    }

    /// Removed sites whose data the user asked to delete ([`crate::purge`]): files, database
    /// and retained secrets, then the request. A request that cannot be carried out is logged
    /// and kept for the next pass; it never fails the pass (scaling goes on).
    async fn purges(&self, world: &World) -> Vec<String> {
        let keys = match self.ports.state.list(PURGE_PREFIX).await {
            Ok(keys) => keys,
            Err(e) => return vec![format!("purge: cannot list the requests ({e})")],
        };
        let mut done = Vec::new();
        for key in keys {
            let line = match self.purge(&key, world).await {
                Ok(line) => line,
                Err(e) => format!("purge {key} failed, kept for the next pass: {e}"),
            };
            done.push(line);
        }
        done
    }

    async fn purge(&self, key: &str, world: &World) -> Result<String, PassError> {
        let body = self.ports.state.get(key).await?.unwrap_or_default();
        let request = match PurgeRequest::parse(key, &body) {
            Ok(r) => r,
            Err(e) => return Ok(format!("purge: {e}")),
        };
        let site = &request.site;
        match decide(&request, &world.desired) {
            Decision::Wait(why) => return Ok(format!("purge {site}: waiting: {why}")),
            Decision::Drop(why) => {
                self.ports.state.delete(key).await?;
                return Ok(format!("purge {site}: request dropped: {why}"));
            }
            Decision::Purge => {}
        }
        let mut changes = Vec::new();
        if let Some(database) = &request.database {
            let (Some(secrets), Some(databases)) = (&self.ports.secrets, &self.ports.databases)
            else {
                return Err(PassError::NoDatabase(site.clone()));
            };
            changes.extend(databases.drop_site(site, database, database).await?);
            changes.extend(secrets.delete_site_secrets(site).await?);
        }
        if request.files {
            changes.extend(self.ports.folders.remove(site, request.uid).await?);
        }
        self.ports.state.delete(key).await?;
        if changes.is_empty() {
            changes.push("nothing was left".into());
        }
        Ok(format!(
            "purge {site} (uid {}) as asked by `site remove --delete-data`: {}",
            request.uid,
            changes.join(", ")
        ))
    }

    /// One pass: lease, observe, decide, act. Returns what was done (each line also logged).
    pub async fn pass(&mut self) -> Result<PassOutcome, PassError> {
        let ttl = self.timing.lease_ttl.as_secs();
        if !self.ports.lease.acquire(&self.holder, ttl).await? {
            return Ok(PassOutcome::Standby);
        }
        let world = self.observe().await?;
        let (actions, memory) = reconcile(&world, &self.memory, &self.config);
        self.memory = memory;
        let mut done = self.databases(&world).await?;
        for line in &done {
            eprintln!("agent: {line}");
        }
        for action in &actions {
            if let Some(line) = self.act(action).await? {
                eprintln!("agent: {line}");
                done.push(line);
            }
        }
        for line in self.purges(&world).await {
            eprintln!("agent: {line}");
            done.push(line);
        }
        Ok(PassOutcome::Acted(done))
    }

    /// Runs passes until `stop` resolves: requeue after a good pass, back off after failures.
    pub async fn run(&mut self, stop: impl std::future::Future<Output = ()>) {
        tokio::pin!(stop);
        let mut failures = 0u32;
        loop {
            let delay = match self.pass().await {
                Ok(_) => {
                    failures = 0;
                    self.timing.requeue
                }
                Err(e) => {
                    failures = failures.saturating_add(1);
                    let delay = error_policy(&self.timing, failures);
                    eprintln!("agent: pass failed ({e}); retrying in {delay:?}");
                    delay
                }
            };
            let watch = async {
                match (failures, self.timing.watch) {
                    (0, Some(every)) => self.desired_changed(every).await,
                    _ => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = &mut stop => return,
                _ = tokio::time::sleep(delay) => {}
                _ = watch => eprintln!("agent: the desired state changed (a deploy): pass now"),
            }
        }
    }

    /// Resolves once the desired state differs from what the last pass read, looking every
    /// `every`; a failed read is looked at again next time (the requeue still runs the pass).
    async fn desired_changed(&self, every: Duration) {
        loop {
            tokio::time::sleep(every).await;
            if let Ok(Some(body)) = self.ports.state.get(DESIRED_KEY).await
                && self.desired_seen.as_ref() != Some(&body)
            {
                return;
            }
        }
    }
}
