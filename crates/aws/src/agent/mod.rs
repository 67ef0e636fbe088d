//! The agent's ports on AWS (one module per service) and the wiring the `idealstack agent` role
//! runs: settings from the environment the cluster stack's task definition sets, ports built on
//! the SDK configuration, the reconcile loop until SIGTERM.
//!
//! | port | module | calls |
//! | --- | --- | --- |
//! | state bucket | [`s3`] | `s3:GetObject`, `s3:ListBucket` (purge requests; a missing key reads as absent), `s3:DeleteObject` (carried-out purge requests under `state/purge/`) |
//! | ECS | [`ecs`] | `ecs:ListServices`, `DescribeServices`, `ListTasks`, `DescribeTasks`, `ListContainerInstances`, `DescribeContainerInstances`, `UpdateService`, `UpdateContainerInstancesState` |
//! | Auto Scaling | [`autoscaling`] | `autoscaling:DescribeAutoScalingGroups`, `DescribeInstanceRefreshes`, `SetDesiredCapacity`, `TerminateInstanceInAutoScalingGroup`, `StartInstanceRefresh` |
//! | health target group | [`elb`] | `elasticloadbalancing:DescribeTargetHealth` |
//! | metrics | [`cloudwatch`] | `cloudwatch:GetMetricData` (+ the ECS describes) |
//! | AMI | [`ssm`] | `ssm:GetParameter` |
//! | secrets | [`secrets`] | `secretsmanager:ListSecrets`, `GetSecretValue`, `DeleteSecret` (a removed site's retained secret, on request) |
//! | lease | [`lease`] | `dynamodb:PutItem` (conditional) |
//! | site folders | `idealstack_agent::folders` | EFS through the agent's access point: `elasticfilesystem:ClientMount`, `ClientWrite`, `ClientRootAccess` |
//! | (keys) | | `kms:Decrypt` through S3, Secrets Manager, DynamoDB; `kms:Encrypt`, `GenerateDataKey`, `DescribeKey` through DynamoDB |
//!
//! The agent's IAM role (crates/templates/src/services.rs) grants exactly these;
//! crates/templates/tests/agent_role.rs keeps the two in step.

pub mod autoscaling;
pub mod cloudwatch;
pub mod ecs;
pub mod elb;
pub mod lease;
pub mod s3;
pub mod secrets;
pub mod ssm;

pub use idealstack_agent;

use idealstack_agent::controller::{Agent, PassError, PassOutcome, Timing};
use idealstack_agent::database::{MysqlDatabases, ServerAccess, Tls};
use idealstack_agent::folders::SiteFolders;
use idealstack_agent::ports::{
    Databases, Lease, PortError, PortFuture, Ports, Secrets, SiteCredentials,
};
use idealstack_agent::reconcile::Config;
use std::sync::{Arc, Mutex};

/// Turns an SDK error into a port error with its full context.
pub(crate) fn fail<E>(service: &'static str, call: &'static str, e: E) -> PortError
where
    E: std::error::Error,
{
    PortError::new(
        service,
        call,
        aws_sdk_ecs::error::DisplayErrorContext(&e).to_string(),
    )
}

/// The default AMI parameter (Amazon Linux 2023, x86_64).
pub const DEFAULT_AMI_PARAMETER: &str =
    "/aws/service/ecs/optimized-ami/amazon-linux-2023/recommended/image_id";

/// The agent's settings, from the environment.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// `IDEALSTACK_STACK`.
    pub stack: String,
    /// `IDEALSTACK_CLUSTER`.
    pub cluster: String,
    /// `IDEALSTACK_AUTOSCALING_GROUP`.
    pub autoscaling_group: String,
    /// `IDEALSTACK_STATE_BUCKET`.
    pub state_bucket: String,
    /// `IDEALSTACK_DATABASE_SECRET_ARN` (absent: the stack has no database).
    pub database_secret_arn: Option<String>,
    /// `IDEALSTACK_DATABASE_TLS` (default true).
    pub database_tls: bool,
    /// `IDEALSTACK_DATABASE_CA_FILE`: the PEM bundle of the database's CA (RDS's), the only
    /// roots the agent's TLS trusts (the image sets it).
    pub database_ca_file: Option<std::path::PathBuf>,
    /// `IDEALSTACK_LEASE_TABLE` (absent: a single agent, no lease).
    pub lease_table: Option<String>,
    /// `IDEALSTACK_LEASE_KEY_ATTRIBUTE` (default `id`).
    pub lease_key_attribute: String,
    /// `IDEALSTACK_HEALTH_TARGET_GROUP_ARN` (absent: PHP health left to the group's ELB check).
    pub health_target_group_arn: Option<String>,
    /// `IDEALSTACK_AMI_PARAMETER`.
    pub ami_parameter: String,
    /// `IDEALSTACK_SITES_ROOT` (default `/mnt/efs/sites`).
    pub sites_root: String,
}

/// Why the agent could not start.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum SettingsError {
    /// A required variable is missing.
    #[error(
        "{0} is not set: the cluster stack's agent task definition sets it; run the agent there or set it by hand"
    )]
    Missing(&'static str),
    /// A variable has an invalid value.
    #[error("{name}={value} is not valid: expected {expected}")]
    Invalid {
        /// Variable.
        name: &'static str,
        /// Value.
        value: String,
        /// What is expected.
        expected: &'static str,
    },
}

impl Settings {
    /// Reads the settings through `get` (the process environment in production).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Settings, SettingsError> {
        let need = |name: &'static str| {
            get(name)
                .filter(|v| !v.trim().is_empty())
                .ok_or(SettingsError::Missing(name))
        };
        let opt = |name: &str| get(name).filter(|v| !v.trim().is_empty());
        let database_tls = match opt("IDEALSTACK_DATABASE_TLS").as_deref() {
            None | Some("true") | Some("1") => true,
            Some("false") | Some("0") => false,
            Some(v) => {
                return Err(SettingsError::Invalid {
                    name: "IDEALSTACK_DATABASE_TLS",
                    value: v.into(),
                    expected: "true or false",
                });
            }
        };
        let ami_parameter =
            opt("IDEALSTACK_AMI_PARAMETER").unwrap_or_else(|| DEFAULT_AMI_PARAMETER.into());
        if !ami_parameter.starts_with('/') {
            return Err(SettingsError::Invalid {
                name: "IDEALSTACK_AMI_PARAMETER",
                value: ami_parameter,
                expected: "an SSM parameter path starting with /",
            });
        }
        Ok(Settings {
            stack: need("IDEALSTACK_STACK")?,
            cluster: need("IDEALSTACK_CLUSTER")?,
            autoscaling_group: need("IDEALSTACK_AUTOSCALING_GROUP")?,
            state_bucket: need("IDEALSTACK_STATE_BUCKET")?,
            database_secret_arn: opt("IDEALSTACK_DATABASE_SECRET_ARN"),
            database_tls,
            database_ca_file: opt("IDEALSTACK_DATABASE_CA_FILE").map(Into::into),
            lease_table: opt("IDEALSTACK_LEASE_TABLE"),
            lease_key_attribute: opt("IDEALSTACK_LEASE_KEY_ATTRIBUTE")
                .unwrap_or_else(|| "id".into()),
            health_target_group_arn: opt("IDEALSTACK_HEALTH_TARGET_GROUP_ARN"),
            ami_parameter,
            sites_root: opt("IDEALSTACK_SITES_ROOT").unwrap_or_else(|| "/mnt/efs/sites".into()),
        })
    }
}

/// A lease that always grants: the single-agent mode when no lease table is configured.
#[derive(Debug)]
struct NoLease;

impl Lease for NoLease {
    fn acquire<'a>(&'a self, _holder: &'a str, _ttl: u64) -> PortFuture<'a, bool> {
        Box::pin(async { Ok(true) })
    }
}

/// Per-site databases on the stack's RDS: the master secret and the endpoint (named in the site
/// secrets) are read on first use, so a stack whose first database site comes later works.
struct RdsDatabases {
    secrets: secrets::SecretsPort,
    master_arn: String,
    tls: bool,
    ca_file: Option<std::path::PathBuf>,
    inner: Mutex<Option<Arc<MysqlDatabases>>>,
}

impl RdsDatabases {
    async fn get(&self) -> Result<Arc<MysqlDatabases>, PortError> {
        if let Some(db) = self.inner.lock().map_err(|_| poisoned())?.clone() {
            return Ok(db);
        }
        let (_, endpoint) = self.secrets.sites().await?;
        let endpoint = endpoint.ok_or_else(|| {
            PortError::new(
                "secretsmanager",
                "ListSecrets",
                "no site database secret names the database host: deploy a site with a database",
            )
        })?;
        let (user, password) = self.secrets.master(&self.master_arn).await?;
        let tls = Tls::new(self.tls, self.ca_file.clone())?;
        let db = Arc::new(MysqlDatabases::new(ServerAccess {
            host: endpoint.host,
            port: endpoint.port,
            user,
            password,
            tls,
        })?);
        *self.inner.lock().map_err(|_| poisoned())? = Some(db.clone());
        Ok(db)
    }
}

fn poisoned() -> PortError {
    PortError::new("database", "ensure", "internal lock poisoned")
}

impl Databases for RdsDatabases {
    fn ensure<'a>(&'a self, creds: &'a SiteCredentials) -> PortFuture<'a, Vec<String>> {
        Box::pin(async move {
            let db = self.get().await?;
            db.ensure_site(creds).await.map_err(PortError::from)
        })
    }
    fn drop_site<'a>(
        &'a self,
        site: &'a str,
        database: &'a str,
        user: &'a str,
    ) -> PortFuture<'a, Vec<String>> {
        Box::pin(async move {
            let db = self.get().await?;
            db.drop_site(site, database, user)
                .await
                .map_err(PortError::from)
        })
    }
}

/// Per-site databases on the stack's RDS: the master user from the secret `master_arn`, the
/// endpoint from the stack's site database secrets, both read on first use.
pub fn rds_databases(
    client: aws_sdk_secretsmanager::Client,
    stack: &str,
    master_arn: &str,
    tls: bool,
    ca_file: Option<std::path::PathBuf>,
) -> Box<dyn Databases> {
    Box::new(RdsDatabases {
        secrets: secrets::SecretsPort::new(client, stack),
        master_arn: master_arn.into(),
        tls,
        ca_file,
        inner: Mutex::new(None),
    })
}

/// Builds the ports on `config` for `settings`.
pub fn ports(config: &aws_config::SdkConfig, settings: &Settings) -> Ports {
    let ecs_client = aws_sdk_ecs::Client::new(config);
    let sm = aws_sdk_secretsmanager::Client::new(config);
    let secrets_port: Option<Box<dyn Secrets>> = settings.database_secret_arn.as_ref().map(|_| {
        Box::new(secrets::SecretsPort::new(sm.clone(), &settings.stack)) as Box<dyn Secrets>
    });
    let databases: Option<Box<dyn Databases>> = settings.database_secret_arn.as_ref().map(|arn| {
        rds_databases(
            sm,
            &settings.stack,
            arn,
            settings.database_tls,
            settings.database_ca_file.clone(),
        )
    });
    let lease: Box<dyn Lease> = match &settings.lease_table {
        Some(table) => Box::new(lease::DynamoLease::new(
            aws_sdk_dynamodb::Client::new(config),
            table,
            &settings.lease_key_attribute,
            format!("idealstack-agent#{}", settings.stack),
        )),
        None => Box::new(NoLease),
    };
    Ports {
        // Path-style addressing works with every endpoint (an emulator included); AWS accepts it
        // (the same choice as the SFTP gateway's user store).
        state: Box::new(s3::StateBucket::new(
            aws_sdk_s3::Client::from_conf(
                aws_sdk_s3::config::Builder::from(config)
                    .force_path_style(true)
                    .build(),
            ),
            &settings.state_bucket,
        )),
        ecs: Box::new(ecs::EcsPort::new(
            ecs_client.clone(),
            &settings.cluster,
            &settings.stack,
        )),
        autoscaling: Box::new(autoscaling::AutoScalingPort::new(
            aws_sdk_autoscaling::Client::new(config),
            &settings.autoscaling_group,
        )),
        load_balancer: Box::new(elb::HealthTargetGroup::new(
            aws_sdk_elasticloadbalancingv2::Client::new(config),
            settings.health_target_group_arn.clone(),
        )),
        metrics: Box::new(cloudwatch::CloudWatchMetrics::new(
            aws_sdk_cloudwatch::Client::new(config),
            ecs_client,
            &settings.cluster,
            &settings.stack,
        )),
        images: Box::new(ssm::AmiParameter::new(
            aws_sdk_ssm::Client::new(config),
            &settings.ami_parameter,
        )),
        secrets: secrets_port,
        databases,
        folders: Box::new(SiteFolders::new(&settings.sites_root)),
        lease,
    }
}

/// This agent's lease holder id (host name and process id).
pub fn holder_id() -> String {
    let host = std::fs::read_to_string("/etc/hostname").unwrap_or_default();
    format!("{}-{}", host.trim(), std::process::id())
}

/// The agent on the SDK configuration from the standard chain (`AWS_ENDPOINT_URL` honoured).
async fn agent(settings: &Settings) -> Agent {
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .retry_config(crate::retry_config())
        .load()
        .await;
    if settings.lease_table.is_none() {
        eprintln!(
            "agent: IDEALSTACK_LEASE_TABLE is not set: running without a lease (safe only while one agent runs)"
        );
    }
    eprintln!(
        "agent: reconciling stack {} (cluster {}, group {})",
        settings.stack, settings.cluster, settings.autoscaling_group
    );
    Agent::new(
        ports(&config, settings),
        Config::default(),
        Timing::default(),
        holder_id(),
    )
}

/// One pass (`idealstack agent --once`): lease, observe, decide, act; each action is logged to
/// stderr with its reason.
pub async fn run_once(settings: Settings) -> Result<PassOutcome, PassError> {
    let outcome = agent(&settings).await.pass().await?;
    match &outcome {
        PassOutcome::Standby => eprintln!("agent: another agent holds the lease: nothing done"),
        PassOutcome::Acted(lines) if lines.is_empty() => {
            eprintln!("agent: nothing to do: the cluster matches the desired state")
        }
        PassOutcome::Acted(_) => {}
    }
    Ok(outcome)
}

/// Runs the agent until SIGTERM (ECS stops tasks with SIGTERM) or Ctrl-C.
pub async fn run(settings: Settings) {
    // ECS stops tasks with SIGTERM; an operator's terminal sends SIGINT (Ctrl-C). The handlers
    // are installed before the first pass, so a stop that arrives during a pass lets that pass
    // finish its actions instead of killing the process halfway.
    #[cfg(unix)]
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    let interrupt = tokio::signal::ctrl_c();
    let stop = async move {
        #[cfg(unix)]
        if let Some(term) = term.as_mut() {
            tokio::select! {
                _ = term.recv() => {}
                _ = interrupt => {}
            }
            return;
        }
        let _ = interrupt.await;
    };
    let mut agent = agent(&settings).await;
    agent.run(stop).await;
    eprintln!("agent: stopped");
}

/// The runtime type the agent runs on.
pub type Runtime = tokio::runtime::Runtime;

/// A multi-threaded runtime with timers and I/O for the agent (callers need no tokio dependency).
pub fn runtime() -> std::io::Result<Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    const BASE: [(&str, &str); 4] = [
        ("IDEALSTACK_STACK", "acme"),
        ("IDEALSTACK_CLUSTER", "acme-cluster"),
        ("IDEALSTACK_AUTOSCALING_GROUP", "acme-cluster-instances"),
        ("IDEALSTACK_STATE_BUCKET", "acme-state"),
    ];

    #[test]
    fn settings_come_from_the_task_definitions_variables() {
        let s = Settings::from_lookup(env(&BASE)).unwrap();
        assert_eq!(s.cluster, "acme-cluster");
        assert_eq!(s.database_secret_arn, None);
        assert!(s.database_tls);
        assert_eq!(s.ami_parameter, DEFAULT_AMI_PARAMETER);
        assert_eq!(s.sites_root, "/mnt/efs/sites");
    }

    #[test]
    fn missing_and_invalid_settings_name_the_variable() {
        let e = Settings::from_lookup(env(&BASE[..3])).unwrap_err();
        assert_eq!(e, SettingsError::Missing("IDEALSTACK_STATE_BUCKET"));
        assert!(e.to_string().contains("task definition"));
        let mut bad = BASE.to_vec();
        bad.push(("IDEALSTACK_DATABASE_TLS", "maybe"));
        assert!(matches!(
            Settings::from_lookup(env(&bad)).unwrap_err(),
            SettingsError::Invalid {
                name: "IDEALSTACK_DATABASE_TLS",
                ..
            }
        ));
    }
}
