//! Template-shaped options, one struct per stack kind. Every value is already decided (names,
//! CIDRs, AZ names, instance types, priorities, uids); the manifest crate validates, the lead's
//! `convert` functions fill these from the model and the plan.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::ParameterValue;

/// The host ports ECS gives bridge-mode containers with `hostPort: 0`. The launch template sets
/// `ECS_DYNAMIC_HOST_PORT_RANGE` to this range and the security groups open exactly it.
pub const DYNAMIC_PORTS: (u16, u16) = (32768, 60999);

/// The port the PHP image listens on inside its container.
pub const PHP_CONTAINER_PORT: u16 = 8080;

/// One availability zone and the CIDRs of its two subnets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ZoneSubnets {
    /// The AZ name (`eu-west-1a`).
    pub az: String,
    /// CIDR of the public subnet (load balancers, NAT gateways).
    pub public_cidr: String,
    /// CIDR of the private subnet (instances, EFS mount targets, RDS).
    pub private_cidr: String,
}

/// How many NAT gateways the private subnets use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum NatMode {
    /// One NAT gateway per AZ: an AZ outage never cuts the others off (production).
    PerAz,
    /// One NAT gateway in the first AZ for every private subnet (cheaper, one AZ of failure).
    Single,
}

/// Options of the `<stack>-network` stack.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkOptions {
    /// The idealstack stack name (`acme`).
    pub stack: String,
    /// The user's tags (the `idealstack:*` tags are added).
    pub tags: BTreeMap<String, String>,
    /// The VPC CIDR (`10.0.0.0/16`).
    pub vpc_cidr: String,
    /// Two or three zones, in order.
    pub zones: Vec<ZoneSubnets>,
    /// NAT gateway per AZ or a single one.
    pub nat: NatMode,
    /// Retention of the VPC flow log group, in days (a value CloudWatch Logs accepts).
    pub flow_log_retention_days: u32,
    /// The public SFTP port (usually 22), opened from the internet to the SFTP load balancer.
    pub sftp_port: u16,
    /// The fixed host port of the PHP health daemon on every instance (outside [`DYNAMIC_PORTS`]).
    pub health_check_port: u16,
}

/// RDS engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DbEngine {
    /// MySQL.
    Mysql,
    /// MariaDB.
    Mariadb,
}

impl DbEngine {
    /// The RDS engine name.
    pub fn as_str(self) -> &'static str {
        match self {
            DbEngine::Mysql => "mysql",
            DbEngine::Mariadb => "mariadb",
        }
    }
}

/// The shared RDS instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DatabaseOptions {
    /// MySQL or MariaDB.
    pub engine: DbEngine,
    /// Full engine version (`8.0.40`, `10.11.10`); the parameter group family is derived from it.
    pub engine_version: String,
    /// Instance class (`db.t4g.medium`).
    pub instance_class: String,
    /// Allocated gp3 storage in GB (>= 20).
    pub storage_gb: u32,
    /// Storage autoscaling ceiling in GB (> `storage_gb`), or `None` for no autoscaling.
    pub max_storage_gb: Option<u32>,
    /// A standby in a second AZ.
    pub multi_az: bool,
    /// Automated backup retention in days (1..=35).
    pub backup_retention_days: u32,
    /// Performance Insights (not every small instance class supports it).
    pub performance_insights: bool,
    /// Enhanced monitoring interval in seconds (1, 5, 10, 15, 30 or 60), or 0 for off.
    pub monitoring_interval_seconds: u32,
}

/// Options of the `<stack>-data` stack.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DataOptions {
    /// The idealstack stack name.
    pub stack: String,
    /// The user's tags.
    pub tags: BTreeMap<String, String>,
    /// How many AZs (and private subnets) the network has: one EFS mount target per AZ.
    pub az_count: usize,
    /// EFS lifecycle transition to Infrequent Access (`AFTER_30_DAYS`, ...).
    pub efs_transition_to_ia: String,
    /// The database, or `None` when no site needs one.
    pub database: Option<DatabaseOptions>,
    /// Days after which ALB access logs (and S3 server access logs) expire.
    pub access_log_expiry_days: u32,
    /// Days after which non-current versions of state-bucket objects expire.
    pub state_noncurrent_expiry_days: u32,
    /// Retention of the database's log groups in days.
    pub log_retention_days: u32,
}

/// A container image: repository (`123456789012.dkr.ecr.eu-west-1.amazonaws.com/idealstack/php`
/// or `public.ecr.aws/idealstack/php`) and tag. Both become template parameters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageRef {
    /// The repository, without tag.
    pub repository: String,
    /// The tag (`8.3-0.1.0`).
    pub tag: String,
}

/// CPU architecture of the cluster's instances (one AMI, one image variant).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Architecture {
    /// Intel/AMD.
    X86_64,
    /// AWS Graviton.
    Arm64,
}

/// Options of the `<stack>-cluster` stack.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterOptions {
    /// The idealstack stack name.
    pub stack: String,
    /// The user's tags.
    pub tags: BTreeMap<String, String>,
    /// Instance types of the mixed-instances policy, preferred first (`m7g.large` needs an ARM
    /// image; do not mix architectures).
    pub instance_types: Vec<String>,
    /// Their common architecture (selects the ECS-optimised AMI).
    pub architecture: Architecture,
    /// Minimum instances (>= the AZ count for high availability).
    pub min_instances: u32,
    /// Maximum instances.
    pub max_instances: u32,
    /// On-demand instances before any spot (`min_instances` for all on-demand at the floor).
    pub on_demand_base_capacity: u32,
    /// Percentage of on-demand above the base (100 = no spot).
    pub on_demand_percentage_above_base: u32,
    /// Root gp3 volume size in GB (>= 30 for the ECS-optimised AMI).
    pub root_volume_gb: u32,
    /// The PHP image of the health daemon (the default PHP version).
    pub php_image: ImageRef,
    /// The idealstack image (agent and SFTP gateway).
    pub idealstack_image: ImageRef,
    /// ECR repository names (this account and region) the tasks pull from; empty for a public
    /// registry.
    pub ecr_repositories: Vec<String>,
    /// Fixed host port of the health daemon (same as [`NetworkOptions::health_check_port`]).
    pub health_check_port: u16,
    /// Path of the PHP image's health page (`/_idealstack/health`).
    pub health_check_path: String,
    /// Public SFTP port (same as [`NetworkOptions::sftp_port`]).
    pub sftp_port: u16,
    /// Port the SFTP gateway listens on inside its container (unprivileged, e.g. 2222).
    pub sftp_container_port: u16,
    /// SFTP gateway tasks (2 for one per AZ of two).
    pub sftp_desired_count: u32,
    /// Whether the data stack has a database (the agent then reads its master secret).
    pub has_database: bool,
    /// Retention of the cluster's log groups in days.
    pub log_retention_days: u32,
}

/// ALB desync mitigation mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DesyncMode {
    /// AWS's default: blocks requests that are a risk, allows ambiguous compliant ones.
    Defensive,
    /// Only RFC 7230-compliant requests.
    Strictest,
}

/// Options of one `<stack>-edge-<n>` stack (one ALB shard).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EdgeOptions {
    /// The idealstack stack name.
    pub stack: String,
    /// The user's tags.
    pub tags: BTreeMap<String, String>,
    /// The shard number.
    pub shard: u32,
    /// ARN of the HTTPS listener's default certificate (issued by ACM at deploy time; give a
    /// `Literal` ARN or whatever the deployer resolves).
    pub default_certificate: ParameterValue,
    /// ALB idle timeout in seconds.
    pub idle_timeout_seconds: u32,
    /// Desync mitigation mode.
    pub desync_mitigation: DesyncMode,
}

/// What a listener rule does with matching requests.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "type")]
pub enum RuleAction {
    /// Forward to the site's target group.
    Forward,
    /// 301 to `https://<host>` keeping path and query (www/apex redirects).
    Redirect {
        /// The primary host to redirect to.
        host: String,
    },
}

/// One listener rule of a site on its shard's HTTPS listener.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListenerRule {
    /// The rule priority allocated by the planner (1..=50000, unique on the listener).
    pub priority: u32,
    /// Host-header values (at most the per-rule condition quota, 5 by default; punycode).
    pub hosts: Vec<String>,
    /// Forward or redirect.
    pub action: RuleAction,
}

/// The site's own database: a secret this stack creates; the agent creates the schema and user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SiteDatabase {
    /// Database (schema) name.
    pub name: String,
    /// Database user name.
    pub user: String,
}

/// Sending mail through SES for the site.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SiteEmail {
    /// The SES identity (domain) mail is sent from.
    pub identity: String,
    /// The sender of mail without a From header (`IDEALSTACK_MAIL_FROM`), an address of
    /// `identity` (the task role may send only from that domain).
    pub from: String,
}

/// A tmpfs mount of the read-only-root PHP container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TmpfsMount {
    /// Mount point.
    pub path: String,
    /// Size in MiB.
    pub size_mib: u32,
}

/// The tmpfs mounts Apache and PHP need under a read-only root file system. The image writes only
/// below `/tmp`: the entrypoint, Apache and php-fpm keep pid files, mutexes, the php-fpm socket,
/// file sessions and PHP's temp files in `IDEALSTACK_RUN_DIR` (`/tmp/idealstack` in the image).
/// Uploads go to `/sites/<site>/tmp` on EFS.
pub fn default_php_tmpfs() -> Vec<TmpfsMount> {
    vec![TmpfsMount {
        path: "/tmp".into(),
        size_mib: 256,
    }]
}

/// Options of one `<stack>-site-<site>` stack.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SiteOptions {
    /// The idealstack stack name.
    pub stack: String,
    /// The site name (lowercase letters, digits, hyphens).
    pub site: String,
    /// The user's tags (`idealstack:site` is added).
    pub tags: BTreeMap<String, String>,
    /// The ALB shard the site is on.
    pub shard: u32,
    /// The site's uid (>= 20000).
    pub uid: u32,
    /// The site's gid.
    pub gid: u32,
    /// The PHP image of the site's PHP version.
    pub image: ImageRef,
    /// ECR repository names the execution role may pull from; empty for a public registry.
    pub ecr_repositories: Vec<String>,
    /// Task CPU units (hard limit).
    pub cpu: u32,
    /// Task memory in MiB (hard limit).
    pub memory_mib: u32,
    /// php-fpm's worker ceiling for that memory (`IDEALSTACK_FPM_MAX_CHILDREN`).
    pub fpm_max_children: u32,
    /// The site's php.ini settings as container variables (`IDEALSTACK_INI_<NAME>` -> value).
    pub php_ini: BTreeMap<String, String>,
    /// Minimum tasks of the scaling range.
    pub min_tasks: u32,
    /// Maximum tasks of the scaling range.
    pub max_tasks: u32,
    /// Desired task count for this deploy (a template parameter).
    pub desired_count: u32,
    /// Plain environment variables (never secrets).
    pub environment: BTreeMap<String, String>,
    /// Secret environment variables: name -> Secrets Manager secret ARN (optionally with
    /// `:json-key::`) or SSM parameter ARN.
    pub secrets: BTreeMap<String, String>,
    /// Path of the health check (`/_idealstack/health`).
    pub health_check_path: String,
    /// The site's database, if it has one.
    pub database: Option<SiteDatabase>,
    /// SES sending, if email is on for the site.
    pub email: Option<SiteEmail>,
    /// Listener rules with their priorities (at least one `Forward`).
    pub rules: Vec<ListenerRule>,
    /// Certificate ARNs added to the shard's HTTPS listener, one ListenerCertificate each.
    pub certificates: Vec<ParameterValue>,
    /// tmpfs mounts ([`default_php_tmpfs`]).
    pub tmpfs: Vec<TmpfsMount>,
    /// Retention of the site's log group in days.
    pub log_retention_days: u32,
}
