//! The whole set of CloudFormation stacks for a validated manifest, in the copilot-cli shape:
//! model -> plan (stable assignments) -> small pure `convert` functions -> typed stack options ->
//! templates. Plus the cost estimate. Pure: no I/O.
//!
//! [`build`] is what `idealstack plan` shows and `idealstack deploy` deploys.

mod convert;

pub use convert::{
    HEALTH_CHECK_PORT, SFTP_CONTAINER_PORT, SFTP_PORT, cluster_options, cost_input, data_options,
    edge_options, images, network_options, plan_input, site_database_name, site_mail_from,
    site_options,
};

use idealstack_manifest::Model;
use idealstack_plan::cost::{CostError, CostEstimate};
use idealstack_plan::{Plan, PlanError, Prior};
use idealstack_templates::StackSpec;

/// Everything `plan` computes for a manifest.
#[derive(Debug, Clone)]
pub struct Build {
    /// The assignments (shards, priorities, uids).
    pub plan: Plan,
    /// Every stack in deploy order: network, data, cluster, edges by shard, sites by name.
    pub stacks: Vec<StackSpec>,
    /// The monthly cost estimate, or why there is none (a region without a price table).
    pub cost: Result<CostEstimate, CostError>,
}

/// Why the stacks could not be built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The sites do not fit the load balancer quotas.
    #[error(transparent)]
    Plan(#[from] PlanError),
}

/// Plans the sites (keeping `prior` assignments) and builds every stack.
pub fn build(model: &Model, prior: &Prior, version: &str) -> Result<Build, BuildError> {
    let plan = idealstack_plan::plan(&plan_input(model, prior))?;
    let images = images(model, version);
    let mut stacks = vec![
        idealstack_templates::network(&network_options(model)),
        idealstack_templates::data(&data_options(model)),
        idealstack_templates::cluster(&cluster_options(model, &images)),
    ];
    for shard in &plan.shards {
        stacks.push(idealstack_templates::edge(&edge_options(model, shard)));
    }
    for site in &model.sites {
        let assignment = &plan.sites[&site.name];
        stacks.push(idealstack_templates::site(&site_options(
            model, site, assignment, &images,
        )));
    }
    let cost = idealstack_plan::cost::estimate(&cost_input(model, &plan));
    Ok(Build { plan, stacks, cost })
}
