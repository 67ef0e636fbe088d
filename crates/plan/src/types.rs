//! The planner's data: what it is given ([`PlanInput`]: site demands, quotas, prior assignments)
//! and what it returns ([`Plan`]: per-site assignments, shards, uid high-water mark, notes).
//!
//! Every type is `serde` Serialize + Deserialize: the deployer stores the plan's assignments with
//! the deployed stacks and reads them back as the next run's [`Prior`]. Collections are ordered
//! (`BTreeMap`, sorted `Vec`s) so the same input always serialises to the same bytes.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

/// The Application Load Balancer quotas that bound one shard (one ALB with one HTTPS listener).
///
/// `Default` gives AWS's default quotas. A user whose account has raised quotas overrides them in
/// `idealstack.toml`; the field names here are the names the manifest should use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Quotas {
    /// Target groups per Application Load Balancer (AWS default 100; a hard quota). Each site has
    /// one target group.
    pub target_groups_per_alb: u32,
    /// Rules per listener, default rule excluded (AWS default 100). A site needs one rule per
    /// chunk of at most `values_per_condition` host names.
    pub rules_per_listener: u32,
    /// Certificates per listener, default certificate excluded (AWS default 25).
    pub certificates_per_listener: u32,
    /// Values in one host-header condition (AWS default 5).
    pub values_per_condition: u32,
    /// Domain names in one ACM certificate (AWS default 10).
    pub names_per_certificate: u32,
}

impl Default for Quotas {
    fn default() -> Self {
        Quotas {
            target_groups_per_alb: 100,
            rules_per_listener: 100,
            certificates_per_listener: 25,
            values_per_condition: 5,
            names_per_certificate: 10,
        }
    }
}

/// Capacity every shard keeps for the edge stack's own use (not for sites), counted against the
/// quotas: for example one target group and one rule if the edge stack attaches the cluster's
/// health-check target group to each ALB. All zero by default.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reserve {
    /// Target groups per shard not available to sites.
    pub target_groups: u32,
    /// Listener rules per shard not available to sites.
    pub rules: u32,
    /// Listener certificates per shard not available to sites.
    pub certificates: u32,
}

/// What one site asks of the edge: the host names it answers to.
///
/// Host names are lowercase ASCII (internationalised names already converted to punycode);
/// wildcards such as `*.example.com` are allowed. `serve_hosts[0]` is the site's primary host.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SiteDemand {
    /// The site's name (unique in the stack).
    pub name: String,
    /// Hosts forwarded to the site's target group, primary first. At least one.
    pub serve_hosts: Vec<String>,
    /// Hosts answered with a 301 redirect to the primary host (www/apex redirect).
    #[serde(default)]
    pub redirect_hosts: Vec<String>,
}

/// Everything the planner needs. `plan(&input)` is a pure function of this value.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanInput {
    /// The sites to place, in any order (the planner sorts by name).
    pub sites: Vec<SiteDemand>,
    /// The ALB quotas (AWS defaults unless overridden).
    #[serde(default)]
    pub quotas: Quotas,
    /// Capacity each shard keeps for the edge stack itself.
    #[serde(default)]
    pub reserve: Reserve,
    /// What is deployed now; empty for a first deploy.
    #[serde(default)]
    pub prior: Prior,
}

/// The assignments that are deployed now, read back by the deployer from the deployed stacks.
///
/// `next_uid` is the uid high-water mark: the lowest uid never handed out. uids are never reused
/// (see [`SiteAssignment::uid`]), so the mark survives the removal of the site that held the
/// highest uid.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Prior {
    /// Deployed sites by name, including sites about to be removed.
    #[serde(default)]
    pub sites: BTreeMap<String, SiteAssignment>,
    /// The lowest uid never allocated (0 or anything below 20000 means "none allocated yet").
    #[serde(default)]
    pub next_uid: u32,
}

impl From<&Plan> for Prior {
    /// The prior a deployed plan leaves for the next run.
    fn from(plan: &Plan) -> Self {
        Prior {
            sites: plan.sites.clone(),
            next_uid: plan.next_uid,
        }
    }
}

/// What a listener rule does with a matching request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RuleAction {
    /// Forward to the site's target group.
    Forward,
    /// Answer with a 301 redirect to the site's primary host (same path and query).
    RedirectToPrimary,
}

/// One listener rule: a host-header condition and an action, at a priority unique in its shard.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// Listener-rule priority (1..=50000): exact hosts use 1..=25000, wildcard hosts 25001..=50000
    /// (more specific wildcards in lower sub-bands), so an exact host always wins over a wildcard
    /// that also matches it.
    pub priority: u32,
    /// What the rule does.
    pub action: RuleAction,
    /// The host-header condition values (1..=values_per_condition, all exact or all wildcard).
    pub hosts: Vec<String>,
}

/// Where one site lives on the edge, and its identity on the shared file system.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SiteAssignment {
    /// Index of the ALB shard (`<stack>-edge-<shard>`).
    pub shard: u32,
    /// The site's numeric uid/gid on EFS (>= 20000). Allocated once and kept for the site's life;
    /// never reused after the site is removed, because a removed site's files may remain on the
    /// shared file system and a new site must not inherit their ownership.
    pub uid: u32,
    /// The site's listener rules, in the planner's canonical order (forward rules then redirect
    /// rules; exact hosts before wildcards), each with its priority.
    pub rules: Vec<Rule>,
    /// The site's ACM certificates, each the list of names it covers (primary first).
    pub certificates: Vec<Vec<String>>,
}

/// One ALB shard and what it carries.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Shard {
    /// The shard's index (stable: indices of other shards never change when one empties).
    pub index: u32,
    /// Sites in the shard, sorted by name.
    pub sites: Vec<String>,
    /// Target groups used, the per-shard reserve included.
    pub target_groups: u32,
    /// Listener rules used, the per-shard reserve included.
    pub rules: u32,
    /// Listener certificates used, the per-shard reserve included.
    pub certificates: u32,
}

/// The planner's answer.
///
/// `sites`, `shards`, `reserve` and `next_uid` are a pure function of the input; planning again
/// with this plan as the prior (`Prior::from(&plan)`) gives the same values. `notes` describe the
/// changes relative to the prior, so they are empty for such a re-plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Plan {
    /// Every site's assignment, by name.
    pub sites: BTreeMap<String, SiteAssignment>,
    /// The non-empty shards, by index.
    pub shards: Vec<Shard>,
    /// The per-shard reserve the plan was made with (counted in each shard's totals).
    pub reserve: Reserve,
    /// uid high-water mark: the lowest uid never allocated.
    pub next_uid: u32,
    /// What changed relative to the prior, for people to read.
    pub notes: Vec<Note>,
}

/// A change relative to the prior assignments, worth telling the user about.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Note {
    /// A site without prior assignment was placed.
    SiteAdded { site: String, shard: u32, uid: u32 },
    /// A site of the prior is no longer in the input.
    SiteRemoved { site: String, shard: u32 },
    /// A site's own hosts changed (or new quotas re-cut its rules or certificates): it kept its
    /// shard, kept `kept_priorities` of its priorities and got `new_priorities` new ones.
    SiteChanged {
        site: String,
        shard: u32,
        kept_priorities: u32,
        new_priorities: u32,
    },
    /// A site no longer fits its prior shard and moved.
    SiteMoved {
        site: String,
        from: u32,
        to: u32,
        reason: String,
    },
    /// Part of a site's prior assignment was invalid or clashed with another site's and was
    /// replaced (only happens with a damaged or hand-edited prior).
    PriorRepaired { site: String, reason: String },
    /// A new shard (ALB) is needed.
    ShardOpened { shard: u32 },
    /// A shard lost its last site; its edge stack can be deleted.
    ShardRemoved { shard: u32 },
}

impl fmt::Display for Note {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Note::SiteAdded { site, shard, uid } => {
                write!(f, "site `{site}` added to shard {shard} with uid {uid}")
            }
            Note::SiteRemoved { site, shard } => {
                write!(f, "site `{site}` removed from shard {shard}")
            }
            Note::SiteChanged {
                site,
                shard,
                kept_priorities,
                new_priorities,
            } => write!(
                f,
                "site `{site}` changed its hosts (or new quotas re-cut its rules): stays in shard {shard}, \
                 {kept_priorities} rule priorities kept, {new_priorities} newly allocated"
            ),
            Note::SiteMoved {
                site,
                from,
                to,
                reason,
            } => write!(
                f,
                "site `{site}` moves from shard {from} to shard {to}: {reason}; \
                 update its DNS records to the new load balancer"
            ),
            Note::PriorRepaired { site, reason } => {
                write!(f, "site `{site}`: prior assignment repaired: {reason}")
            }
            Note::ShardOpened { shard } => write!(f, "shard {shard} opened (a new load balancer)"),
            Note::ShardRemoved { shard } => {
                write!(f, "shard {shard} is empty and is removed")
            }
        }
    }
}
