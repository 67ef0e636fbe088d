//! `idealstack agent`: the in-cluster reconcile loop (issue 6). Settings come from the variables
//! the cluster stack's task definition sets (IDEALSTACK_STACK, IDEALSTACK_CLUSTER,
//! IDEALSTACK_AUTOSCALING_GROUP, IDEALSTACK_STATE_BUCKET, IDEALSTACK_LEASE_TABLE, ...; see
//! `idealstack_aws::agent::Settings`). The loop runs until SIGTERM (how ECS stops a task) or
//! Ctrl-C; `--once` runs a single pass. Every action is logged to stderr with its reason.

use std::process::ExitCode;

/// Agent arguments (everything else comes from the environment the task definition sets).
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Check the settings and exit without contacting AWS.
    #[arg(long, conflicts_with = "once")]
    pub check: bool,
    /// Run one pass (lease, observe, decide, act) and exit: for operators and tests.
    #[arg(long)]
    pub once: bool,
}

/// Runs the agent.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    use anyhow::Context;
    let settings = idealstack_aws::agent::Settings::from_lookup(|k| std::env::var(k).ok())?;
    if args.check {
        eprintln!(
            "agent: settings ok (stack {}, cluster {}, group {}, bucket {})",
            settings.stack, settings.cluster, settings.autoscaling_group, settings.state_bucket
        );
        return Ok(ExitCode::SUCCESS);
    }
    let rt =
        idealstack_aws::agent::runtime().context("agent: could not start the async runtime")?;
    if args.once {
        rt.block_on(idealstack_aws::agent::run_once(settings))
            .context("agent: the pass failed")?;
    } else {
        rt.block_on(idealstack_aws::agent::run(settings));
    }
    Ok(ExitCode::SUCCESS)
}
