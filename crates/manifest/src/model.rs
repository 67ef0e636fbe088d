//! The validated, normalised model of a manifest: what the planner and the templates consume.
//!
//! Every value here has been checked; defaults are filled in; domains are punycode; sites are
//! sorted by name. Building one is the job of [`crate::validate`].

use crate::catalog::{Arch, InstanceSpec};
use crate::cidr::Cidr;
use crate::domain::Domain;
use serde::Serialize;
use std::collections::BTreeMap;

pub use crate::raw::{Engine, NatMode};

/// A whole validated manifest.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Model {
    /// The cluster.
    pub stack: StackModel,
    /// The sites, sorted by name.
    pub sites: Vec<SiteModel>,
}

impl Model {
    /// The site called `name`.
    pub fn site(&self, name: &str) -> Option<&SiteModel> {
        self.sites.iter().find(|s| s.name == name)
    }
}

/// The cluster every site shares.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StackModel {
    /// Stack name (prefix of every AWS stack and resource name).
    pub name: String,
    /// AWS region.
    pub region: String,
    /// Availability zone names (2 or 3).
    pub zones: Vec<String>,
    /// VPC range.
    #[serde(serialize_with = "display")]
    pub vpc_cidr: Cidr,
    /// NAT gateway layout.
    pub nat: NatMode,
    /// Default PHP version.
    pub php: String,
    /// The instances.
    pub instances: InstancesModel,
    /// The database server, if any site needs one.
    pub database: Option<DatabaseModel>,
    /// Outgoing mail through SES, if on.
    pub email: Option<EmailModel>,
    /// The preview wildcard domain.
    pub preview_domain: Option<Domain>,
    /// Registry of the PHP and idealstack images.
    pub image_registry: String,
    /// Load balancer quotas in force.
    pub alb_limits: AlbLimitsModel,
    /// User tags for every stack.
    pub tags: BTreeMap<String, String>,
}

/// The cluster's instances.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InstancesModel {
    /// Instance types, in the manifest's order of preference.
    pub types: Vec<String>,
    /// Their common architecture.
    pub arch: Arch,
    /// Fewest instances.
    pub min: u32,
    /// Most instances.
    pub max: u32,
    /// Hours between checks for a new ECS-optimised AMI (the agent's roll-over schedule).
    pub ami_rollover_hours: u32,
    /// The smallest of the types (tasks must fit on it).
    #[serde(skip)]
    pub smallest: InstanceSpec,
}

/// The shared database server.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DatabaseModel {
    /// MySQL or MariaDB.
    pub engine: Engine,
    /// Major version.
    pub version: String,
    /// Full version a new database starts on (minor upgrades are automatic).
    pub engine_version: String,
    /// RDS class.
    pub instance_class: String,
    /// Storage in GB.
    pub storage_gb: u32,
    /// Standby in a second zone.
    pub multi_az: bool,
}

/// Mail through SES.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EmailModel {
    /// The verified sending domain.
    pub domain: Domain,
}

/// Load balancer quotas in force (AWS defaults unless raised).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct AlbLimitsModel {
    /// Target groups per load balancer.
    pub target_groups_per_alb: u32,
    /// Rules per listener.
    pub rules_per_listener: u32,
    /// Certificates per listener.
    pub certificates_per_listener: u32,
    /// Host values per rule condition.
    pub values_per_condition: u32,
    /// Names per ACM certificate.
    pub names_per_certificate: u32,
}

impl Default for AlbLimitsModel {
    fn default() -> Self {
        AlbLimitsModel {
            target_groups_per_alb: 100,
            rules_per_listener: 100,
            certificates_per_listener: 25,
            values_per_condition: 5,
            names_per_certificate: 10,
        }
    }
}

/// A validated site.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SiteModel {
    /// Site name.
    pub name: String,
    /// The primary domain (first in the manifest).
    pub primary: Domain,
    /// Hosts served by the site: the primary, the other domains, then the preview host.
    pub serve_hosts: Vec<Domain>,
    /// Hosts answered with a 301 to the primary (the www/apex counterpart).
    pub redirect_hosts: Vec<Domain>,
    /// `<site>.<preview domain>`, when the stack has a preview domain.
    pub preview_host: Option<Domain>,
    /// PHP version.
    pub php: String,
    /// CPU units per task (1024 = one vCPU).
    pub cpu_units: u32,
    /// Memory per task in MiB.
    pub memory_mib: u32,
    /// Fewest tasks.
    pub min_tasks: u32,
    /// Most tasks.
    pub max_tasks: u32,
    /// Plain environment variables.
    pub environment: BTreeMap<String, String>,
    /// Secrets by environment variable name.
    pub secrets: BTreeMap<String, SecretRef>,
    /// Health-check path.
    pub health_check_path: String,
    /// Whether the site has its own database.
    pub database: bool,
    /// Its php.ini settings and the PHP workers they allow.
    pub php_settings: crate::php::PhpSettingsModel,
}

/// A reference to a secret value kept in AWS.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SecretRef {
    /// The ARN as written.
    pub arn: String,
    /// Where it lives.
    pub store: SecretStore,
}

/// The service holding a secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SecretStore {
    /// AWS Secrets Manager.
    SecretsManager,
    /// SSM Parameter Store.
    Ssm,
}

fn display<T: std::fmt::Display, S: serde::Serializer>(v: &T, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(v)
}
