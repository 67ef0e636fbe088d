//! `idealstack agent`: the in-cluster reconcile loop (issue 6).

use std::process::ExitCode;

/// Agent arguments.
#[derive(clap::Args, Debug)]
pub struct Args {}

/// Runs the agent.
pub fn run(_args: Args) -> anyhow::Result<ExitCode> {
    anyhow::bail!("agent: not built yet (issue 6)")
}
