//! The manifest as the user writes it (`idealstack.toml`): field names, defaults and documentation.
//!
//! These types are user-shaped, not validated: [`crate::validate`] turns them into the
//! [`crate::model::Model`]. Their doc comments are the field documentation shown by
//! `idealstack schema` (editor completion) and mirrored in `idealstack init`'s comments.

use schemars::JsonSchema;
use serde::Deserialize;
use std::collections::BTreeMap;

/// An idealstack manifest: one stack (the cluster) and the PHP sites it hosts.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// The cluster: where it runs, its network, its servers, its database and mail.
    pub stack: Stack,
    /// The PHP sites hosted on the cluster, one `[[sites]]` table each.
    #[serde(default)]
    pub sites: Vec<Site>,
}

/// The cluster every site shares.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Stack {
    /// Name of the stack: 1-20 lowercase letters, digits and hyphens, starting with a letter. Every
    /// AWS resource is named and tagged after it (e.g. `acme-network`, `acme-site-shop`).
    pub name: String,
    /// AWS region to deploy to, e.g. `eu-west-1`.
    pub region: String,
    /// Availability zones to spread over: `2`, `3`, or the zone names, e.g. `["eu-west-1a", "eu-west-1b"]`.
    #[serde(default = "default_zones")]
    pub availability_zones: Zones,
    /// Address range of the cluster's private network (VPC): a private IPv4 CIDR from /16 to /24.
    #[serde(default = "default_vpc_cidr")]
    pub vpc_cidr: String,
    /// Internet access for the private subnets: `"per-az"` (a NAT gateway in every zone, survives a
    /// zone outage) or `"single"` (one NAT gateway, cheaper, for staging).
    #[serde(default)]
    pub nat: NatMode,
    /// PHP version sites use unless they choose their own: `"8.1"` (legacy), `"8.2"`, `"8.3"`, `"8.4"`, `"8.5"`.
    #[serde(default = "default_php")]
    pub php: String,
    /// The servers (EC2 instances) that run the sites' containers.
    #[serde(default)]
    pub instances: Instances,
    /// The shared MySQL or MariaDB database server (RDS).
    #[serde(default)]
    pub database: Database,
    /// Outgoing mail for PHP's `mail()`.
    #[serde(default)]
    pub email: Email,
    /// A wildcard domain you own, e.g. `preview.example.com`: every site also answers on
    /// `<site>.preview.example.com`, so it can be checked before its own DNS moves.
    #[serde(default)]
    pub preview_domain: Option<String>,
    /// Container registry the PHP and idealstack images come from.
    #[serde(default = "default_registry")]
    pub image_registry: String,
    /// Load balancer quotas, only if you had AWS raise them for your account.
    #[serde(default)]
    pub alb_limits: AlbLimits,
    /// Tags added to every stack and resource, e.g. `{ team = "web", cost-center = "42" }`.
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
}

/// Availability zones: how many, or which.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum Zones {
    /// How many zones (2 or 3); idealstack picks the region's first zones.
    Count(u32),
    /// The zone names, e.g. `["eu-west-1a", "eu-west-1b", "eu-west-1c"]`.
    Names(Vec<String>),
}

/// NAT gateway layout.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, serde::Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum NatMode {
    /// One NAT gateway per availability zone (high availability).
    #[default]
    PerAz,
    /// A single NAT gateway (cheaper; outbound traffic stops if its zone fails).
    Single,
}

/// The EC2 instances of the cluster (autoscaled between `min` and `max`).
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Instances {
    /// Instance types, all of one CPU architecture, e.g. `["t3.medium", "t3a.medium"]`; several types
    /// let the autoscaling group find capacity when one type is short.
    #[serde(default = "default_instance_types")]
    pub types: Vec<String>,
    /// Fewest instances running (2 or more keeps sites up when an instance or zone fails).
    #[serde(default = "default_min_instances")]
    pub min: u32,
    /// Most instances the autoscaler may run.
    #[serde(default = "default_max_instances")]
    pub max: u32,
    /// Hours between checks for a new ECS-optimised machine image (AWS publishes patched ones
    /// regularly); when one is out, the agent replaces the instances one at a time at full
    /// capacity (an instance refresh). 1 to 720; default 24.
    #[serde(default = "default_ami_rollover_hours")]
    pub ami_rollover_hours: u32,
}

impl Default for Instances {
    fn default() -> Self {
        Instances {
            types: default_instance_types(),
            min: default_min_instances(),
            max: default_max_instances(),
            ami_rollover_hours: default_ami_rollover_hours(),
        }
    }
}

fn default_ami_rollover_hours() -> u32 {
    24
}

/// The shared database server.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Database {
    /// `"mysql"`, `"mariadb"`, or `"none"` when no site needs a database.
    #[serde(default)]
    pub engine: Engine,
    /// Major engine version: MySQL `"8.4"`, MariaDB `"10.11"` or `"11.4"`; the engine's
    /// newest supported one when left out.
    #[serde(default)]
    pub version: Option<String>,
    /// RDS instance class, e.g. `"db.t4g.medium"`.
    #[serde(default = "default_db_class")]
    pub instance_class: String,
    /// Storage in GB (20 to 65536); it grows automatically up to 4 times this size.
    #[serde(default = "default_storage_gb")]
    pub storage_gb: u32,
    /// A standby copy in a second zone with automatic failover.
    #[serde(default = "default_true")]
    pub multi_az: bool,
}

impl Default for Database {
    fn default() -> Self {
        Database {
            engine: Engine::default(),
            version: None,
            instance_class: default_db_class(),
            storage_gb: default_storage_gb(),
            multi_az: true,
        }
    }
}

/// Database engine.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, serde::Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Engine {
    /// MySQL Community Edition on RDS.
    #[default]
    Mysql,
    /// MariaDB on RDS.
    Mariadb,
    /// No database server.
    None,
}

/// Outgoing mail.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Email {
    /// `"off"` (mail() returns false) or `"ses"` (Amazon SES sends it).
    #[serde(default)]
    pub service: EmailService,
    /// With `"ses"`: the domain mail is sent from, verified in SES, e.g. `"example.com"`.
    #[serde(default)]
    pub domain: Option<String>,
}

/// Mail service.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, serde::Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum EmailService {
    /// No outgoing mail.
    #[default]
    Off,
    /// Amazon Simple Email Service.
    Ses,
}

/// Application Load Balancer quotas; the defaults are AWS's.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AlbLimits {
    /// Target groups per load balancer (AWS default 100; one per site).
    pub target_groups_per_alb: Option<u32>,
    /// Rules per HTTPS listener (AWS default 100).
    pub rules_per_listener: Option<u32>,
    /// Certificates per HTTPS listener (AWS default 25; one per site, more for sites with many domains).
    pub certificates_per_listener: Option<u32>,
    /// Host names per listener rule (AWS default 5).
    pub values_per_condition: Option<u32>,
    /// Domain names per ACM certificate (AWS default 10).
    pub names_per_certificate: Option<u32>,
}

/// A PHP site.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Site {
    /// Short name of the site: 1-28 lowercase letters, digits and hyphens, starting with a letter,
    /// e.g. `"shop"`. Its folder is `/sites/<name>` and its database is named after it.
    pub name: String,
    /// Domains the site answers on; the first is the primary domain. Wildcards (`*.example.com`)
    /// and internationalised names (`bücher.example`) are accepted.
    pub domains: Vec<String>,
    /// Redirect the www/apex counterpart of the primary domain to it with a 301
    /// (`www.example.com` -> `example.com`, or the other way when the primary starts with `www.`).
    #[serde(default)]
    pub www_redirect: bool,
    /// PHP version; the stack's `php` when left out.
    #[serde(default)]
    pub php: Option<String>,
    /// vCPUs per container: 0.25, 0.5, 1, 2 or 4.
    #[serde(default = "default_cpu")]
    pub cpu: f64,
    /// Memory per container in MB; allowed values depend on `cpu` (0.25: 512-2048, 0.5: 1024-4096,
    /// 1: 2048-8192, 2: 4096-16384, 4: 8192-30720, in steps of 1024 above 1024).
    #[serde(default = "default_memory")]
    pub memory_mb: u32,
    /// Fewest containers running (2 or more spreads the site over two zones).
    #[serde(default = "default_min_tasks")]
    pub min_tasks: u32,
    /// Most containers the autoscaler may run.
    #[serde(default = "default_max_tasks")]
    pub max_tasks: u32,
    /// Environment variables for PHP (`getenv()`), e.g. `{ APP_ENV = "production" }`. Not for secrets.
    #[serde(default)]
    pub environment: BTreeMap<String, String>,
    /// Secrets given to PHP as environment variables: the value is the ARN of a Secrets Manager
    /// secret or an SSM parameter, never the secret itself.
    #[serde(default)]
    pub secrets: BTreeMap<String, String>,
    /// Path the load balancer requests to check the site is healthy (must answer 200-399).
    #[serde(default)]
    pub health_check_path: Option<String>,
    /// Give the site its own database and user on the stack's database server
    /// (reaches PHP as `DB_HOST`, `DB_NAME`, `DB_USER`, `DB_PASSWORD`).
    #[serde(default)]
    pub database: bool,
    /// The site's php.ini settings (upload size, memory, time limits, time zone, OPcache), e.g.
    /// `php_settings = { upload_max_filesize = "128M", post_max_size = "128M" }`. Each one left out
    /// keeps the runtime's default.
    #[serde(default)]
    pub php_settings: PhpSettings,
}

/// A site's php.ini settings. Every one is optional: left out, the runtime's default applies
/// (shown in brackets). Sizes are written as PHP writes them: a number with `K`, `M` or `G`.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PhpSettings {
    /// Most memory one request may use [`"256M"`]; with the ~192 MB Apache, php-fpm and OPcache
    /// hold, it must fit in the site's `memory_mb`. The number of PHP workers follows from both.
    #[serde(default)]
    pub memory_limit: Option<String>,
    /// Largest file one upload may carry [`"64M"`], at most `"1G"`.
    #[serde(default)]
    pub upload_max_filesize: Option<String>,
    /// Largest request body [`"64M"`], at most `"1G"`; at least `upload_max_filesize`.
    #[serde(default)]
    pub post_max_size: Option<String>,
    /// Seconds a page may run [60], 1-60: the load balancer ends a request that sends nothing for
    /// 60 s. Longer work belongs in a cron job or a worker.
    #[serde(default)]
    pub max_execution_time: Option<u32>,
    /// Seconds PHP may spend receiving a request's input, e.g. a slow upload [60], 1-3600.
    #[serde(default)]
    pub max_input_time: Option<u32>,
    /// Most input variables per request [3000], 100-100000 (large menus and forms need more).
    #[serde(default)]
    pub max_input_vars: Option<u32>,
    /// Show PHP errors in pages [false]; they are always logged. Only for a site in development.
    #[serde(default)]
    pub display_errors: Option<bool>,
    /// PHP's `date.timezone` [`"UTC"`], an IANA name such as `"Europe/Amsterdam"`.
    #[serde(default)]
    pub timezone: Option<String>,
    /// OPcache's shared memory in MB [192], 64-1024; above 192 it counts against `memory_mb`.
    #[serde(default)]
    pub opcache_memory_mb: Option<u32>,
    /// Whether OPcache notices changed files [true]. `false` is faster, but an SFTP upload of PHP
    /// code then takes effect only when the site's containers are replaced (a deploy).
    #[serde(default)]
    pub opcache_validate_timestamps: Option<bool>,
    /// Seconds between OPcache's checks of a file for changes [2], 0-3600.
    #[serde(default)]
    pub opcache_revalidate_freq: Option<u32>,
}

fn default_zones() -> Zones {
    Zones::Count(2)
}
fn default_vpc_cidr() -> String {
    "10.0.0.0/16".into()
}
/// The PHP version used when neither the stack nor the site names one.
pub const DEFAULT_PHP: &str = "8.4";
fn default_php() -> String {
    DEFAULT_PHP.into()
}
/// Where the published images live when the manifest names no registry.
pub const DEFAULT_REGISTRY: &str = "public.ecr.aws/idealstack";
fn default_registry() -> String {
    DEFAULT_REGISTRY.into()
}
fn default_instance_types() -> Vec<String> {
    vec!["t3.medium".into(), "t3a.medium".into()]
}
fn default_min_instances() -> u32 {
    2
}
fn default_max_instances() -> u32 {
    6
}
fn default_db_class() -> String {
    "db.t4g.medium".into()
}
fn default_storage_gb() -> u32 {
    20
}
fn default_true() -> bool {
    true
}
fn default_cpu() -> f64 {
    0.25
}
fn default_memory() -> u32 {
    512
}
fn default_min_tasks() -> u32 {
    2
}
fn default_max_tasks() -> u32 {
    4
}
