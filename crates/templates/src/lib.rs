//! idealstack-templates: typed, template-shaped options -> CloudFormation JSON for the five stack
//! kinds of DESIGN.md ("Stacks"), in the style of aws/copilot-cli (options struct -> template).
//!
//! The crate is pure: no I/O, no AWS SDK, no async. The same options give a byte-identical
//! [`render`]ed template. Values are already decided by the caller (the manifest model and the
//! planner, wired by the lead's `convert` functions); nothing is validated here beyond
//! `debug_assert!`s of invariants.
//!
//! Stacks are separate top-level stacks wired by parameters, never Exports/ImportValue:
//! `<stack>-network` -> `<stack>-data` -> `<stack>-cluster` -> `<stack>-edge-<n>` ->
//! `<stack>-site-<site>`. A later stack takes an earlier stack's output as a
//! [`ParameterValue::FromOutput`] parameter, which the deployer resolves from that stack's Outputs.
//! All security groups live in the network stack so no stack ever needs a later one.

mod cfn;
mod cluster;
mod data;
mod edge;
mod iam;
mod network;
mod options;
mod render;
mod services;
mod site;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use cluster::{cluster, ecs_ami_parameter};
pub use data::{data, data_stack_policy, parameter_group_family};
pub use edge::{TLS_POLICY, edge};
pub use network::network;
pub use options::*;
pub use render::render;
pub use services::SFTP_USERS_KEY;
pub use site::{SITE_CONTAINER, SITE_MOUNT_PATH, session_key_prefix, site, site_log_stream};

/// The five stack kinds (DESIGN.md, "Stacks in the user's account").
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StackKind {
    /// `<stack>-network`: VPC, subnets, NAT, flow logs, endpoints, every security group.
    Network,
    /// `<stack>-data`: KMS key, EFS, RDS, DynamoDB sessions table, buckets.
    Data,
    /// `<stack>-cluster`: ECS cluster, instances, capacity provider, agent and SFTP services.
    Cluster,
    /// `<stack>-edge-<n>`: one ALB shard.
    Edge,
    /// `<stack>-site-<site>`: everything of one site.
    Site,
}

/// The value of one template parameter, as the deployer must supply it.
///
/// Serialized as JSON: a literal is a plain string (`"x"`); an output of an earlier stack is
/// `{"from_stack":"acme-network","output":"VpcId"}`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ParameterValue {
    /// A value known when the plan is made.
    Literal(String),
    /// The named output of an earlier stack, read by the deployer from that stack's Outputs.
    FromOutput {
        /// The full stack name (`acme-network`).
        #[serde(rename = "from_stack")]
        stack: String,
        /// The output's logical name (`VpcId`).
        output: String,
    },
    /// The ARN of an ACM certificate the deployer requests for a site (DNS validation through the
    /// ACM API, since CloudFormation would wait until the records exist): the site's
    /// `index`-th certificate, covering the names the plan grouped into it.
    Certificate {
        /// The site the certificate belongs to.
        #[serde(rename = "certificate_of_site")]
        site: String,
        /// Which of the site's certificates (0 for the first).
        index: u32,
    },
    /// The ARN of the stack's listener default certificate: self-signed for a name nobody serves,
    /// made and imported into ACM by the deployer once per stack. It belongs to no site, so no
    /// site's removal touches the listener's default (a listener cannot lose its default), and
    /// requests whose SNI matches no site get it along with the listener's 404.
    DefaultCertificate {
        /// The idealstack stack name.
        #[serde(rename = "default_certificate_of_stack")]
        stack: String,
    },
}

impl ParameterValue {
    /// A literal value.
    pub fn literal(value: impl Into<String>) -> Self {
        ParameterValue::Literal(value.into())
    }

    /// The ARN of site `site`'s `index`-th certificate, known at deploy time.
    pub fn certificate(site: impl Into<String>, index: u32) -> Self {
        ParameterValue::Certificate {
            site: site.into(),
            index,
        }
    }

    /// The stack's listener default certificate, known at deploy time.
    pub fn default_certificate(stack: impl Into<String>) -> Self {
        ParameterValue::DefaultCertificate {
            stack: stack.into(),
        }
    }

    /// An output of the stack `stack`.
    pub fn from_output(stack: impl Into<String>, output: impl Into<String>) -> Self {
        ParameterValue::FromOutput {
            stack: stack.into(),
            output: output.into(),
        }
    }
}

/// One stack to deploy: its name, template, parameters, stack-level tags and the stacks whose
/// outputs it reads (they must be deployed first).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StackSpec {
    /// The CloudFormation stack name (`acme-site-blog`).
    pub name: String,
    /// Which of the five kinds it is.
    pub kind: StackKind,
    /// The CloudFormation template (render it with [`render`]).
    pub template: Value,
    /// Every template parameter without a default, with how to get its value.
    pub parameters: BTreeMap<String, ParameterValue>,
    /// Stack-level tags (CloudFormation propagates them to the resources), including
    /// `idealstack:stack` and, for site stacks, `idealstack:site` for cost allocation.
    pub tags: BTreeMap<String, String>,
    /// Names of the stacks this one reads outputs from, sorted.
    pub depends_on: Vec<String>,
}

/// Stack name of the network stack of `stack`.
pub fn network_stack_name(stack: &str) -> String {
    format!("{stack}-network")
}

/// Stack name of the data stack of `stack`.
pub fn data_stack_name(stack: &str) -> String {
    format!("{stack}-data")
}

/// Stack name of the cluster stack of `stack`.
pub fn cluster_stack_name(stack: &str) -> String {
    format!("{stack}-cluster")
}

/// Stack name of ALB shard `shard` of `stack`.
pub fn edge_stack_name(stack: &str, shard: u32) -> String {
    format!("{stack}-edge-{shard}")
}

/// The stack's private DNS zone, associated with its VPC (`database.<zone>` names the database).
pub fn private_domain(stack: &str) -> String {
    format!("{stack}.idealstack.internal")
}

/// The name site containers reach the database by: `database`, resolved through the stack's
/// private zone ([`private_domain`]) which site containers search.
pub const DATABASE_HOST_NAME: &str = "database";

/// Stack name of site `site` of `stack`.
pub fn site_stack_name(stack: &str, site: &str) -> String {
    format!("{stack}-site-{site}")
}

/// Builds the [`StackSpec`] from a finished template and parameters: computes `depends_on` from
/// the `FromOutput` parameters and adds the idealstack tags to the caller's tags.
pub(crate) fn spec(
    name: String,
    kind: StackKind,
    template: Value,
    parameters: BTreeMap<String, ParameterValue>,
    stack: &str,
    user_tags: &BTreeMap<String, String>,
    extra_tags: &[(&str, &str)],
) -> StackSpec {
    let mut depends_on: Vec<String> = parameters
        .values()
        .filter_map(|v| match v {
            ParameterValue::FromOutput { stack, .. } => Some(stack.clone()),
            ParameterValue::Literal(_)
            | ParameterValue::Certificate { .. }
            | ParameterValue::DefaultCertificate { .. } => None,
        })
        .collect();
    depends_on.sort();
    depends_on.dedup();
    let mut all_tags = user_tags.clone();
    all_tags.insert("idealstack:stack".into(), stack.into());
    for (k, v) in extra_tags {
        all_tags.insert((*k).into(), (*v).into());
    }
    debug_assert!(
        template["Parameters"]
            .as_object()
            .map(|p| p
                .iter()
                .filter(|(_, d)| d.get("Default").is_none())
                .all(|(k, _)| parameters.contains_key(k)))
            .unwrap_or(true),
        "every parameter without a default has a value in {name}"
    );
    StackSpec {
        name,
        kind,
        template,
        parameters,
        tags: all_tags,
        depends_on,
    }
}
