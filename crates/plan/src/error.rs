//! Why a plan cannot be made. Each variant names the input at fault, what was expected and what to
//! do next. The manifest validator catches most of these first; the planner checks again so that
//! it never produces an assignment AWS would reject.

use thiserror::Error;

/// A plan cannot be made from this input.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PlanError {
    /// Two sites with the same name.
    #[error("site `{site}` appears twice: site names must be unique; rename or remove one")]
    DuplicateSite { site: String },

    /// A site name is empty.
    #[error("a site has an empty name: give every site a name")]
    EmptySiteName,

    /// A site without any host to serve.
    #[error("site `{site}` has no host to serve: give it at least one domain (its primary domain)")]
    NoServeHost { site: String },

    /// A host name a listener rule cannot carry.
    #[error("site `{site}`: host `{host}` cannot be used in a listener rule: {reason}")]
    InvalidHost {
        site: String,
        host: String,
        reason: &'static str,
    },

    /// The same host in two places (in one site or in two sites).
    #[error(
        "host `{host}` is claimed by site `{first}` and again by site `{second}`: a host can \
         belong to one site once; remove the duplicate"
    )]
    DuplicateHost {
        host: String,
        first: String,
        second: String,
    },

    /// Redirect hosts but a wildcard primary host (a redirect needs one concrete target).
    #[error(
        "site `{site}` redirects to its primary host `{primary}`, which is a wildcard: put a \
         concrete host name first in the site's domains or drop the redirect"
    )]
    RedirectToWildcard { site: String, primary: String },

    /// A quota value the planner cannot work with.
    #[error("quota `{quota}` = {value} is not usable: {expected}; fix it in idealstack.toml")]
    InvalidQuota {
        quota: &'static str,
        value: u32,
        expected: String,
    },

    /// A site that does not fit even in an empty shard.
    #[error(
        "site `{site}` needs {needed} {what} but one load balancer shard allows {limit} \
         (quota `{quota}`{reserve_note}): split the site's domains over several sites, or raise \
         `{quota}` in idealstack.toml's ALB quotas if AWS raised it for your account"
    )]
    SiteTooLarge {
        site: String,
        what: &'static str,
        quota: &'static str,
        needed: u32,
        limit: u32,
        reserve_note: String,
    },

    /// The uid space above 20000 is used up (only with a damaged prior).
    #[error(
        "no uid left to allocate for site `{site}`: the uid high-water mark reached {next_uid}; \
         check the deployed stacks' recorded uids"
    )]
    UidsExhausted { site: String, next_uid: u32 },
}
