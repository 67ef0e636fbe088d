//! idealstack-plan: the pure planner.
//!
//! Given the sites of a stack (their host names), the ALB quotas and what is deployed now, it
//! decides for every site: the ALB shard (`<stack>-edge-<n>`) that carries it, its listener rules
//! and their priorities, how its names are grouped into ACM certificates, and its numeric uid on
//! the shared file system. It also estimates the stack's monthly cost ([`cost`]).
//!
//! The crate is pure: no I/O, no AWS SDK, no async; the same input gives a byte-identical plan.
//!
//! The promise it keeps is **stability**: it takes the prior assignments as input and keeps them.
//! Adding or removing a site never changes another site's shard, uid, rule priorities or
//! certificates; a site whose hosts did not change keeps exactly its assignment; a site whose
//! hosts changed keeps its shard and as many priorities as it can, and moves (with a [`Note`]) only
//! if it no longer fits. uids are never reused: [`Plan::next_uid`] is a high-water mark.
//!
//! ```
//! use idealstack_plan::{plan, PlanInput, Prior, SiteDemand};
//!
//! let site = |name: &str, host: &str| SiteDemand {
//!     name: name.into(),
//!     serve_hosts: vec![host.into()],
//!     redirect_hosts: vec![format!("www.{host}")],
//! };
//! let first = plan(&PlanInput { sites: vec![site("blog", "blog.example")], ..Default::default() }).unwrap();
//! first.check(&Default::default()).unwrap();
//!
//! // A later deploy adds a site: the first one keeps exactly its assignment.
//! let second = plan(&PlanInput {
//!     sites: vec![site("blog", "blog.example"), site("shop", "shop.example")],
//!     prior: Prior::from(&first),
//!     ..Default::default()
//! })
//! .unwrap();
//! assert_eq!(second.sites["blog"], first.sites["blog"]);
//! assert_eq!(second.sites["shop"].uid, 20_001);
//! ```

mod check;
pub mod cost;
mod error;
pub mod hosts;
mod planner;
mod types;

pub use error::PlanError;
pub use planner::{FIRST_UID, plan};
pub use types::{
    Note, Plan, PlanInput, Prior, Quotas, Reserve, Rule, RuleAction, Shard, SiteAssignment,
    SiteDemand,
};
