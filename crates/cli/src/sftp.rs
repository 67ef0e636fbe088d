//! `idealstack sftp`: wiring of the SFTP gateway role (owned by the SFTP work, issue 5).

use std::process::ExitCode;

/// SFTP gateway arguments.
#[derive(clap::Args)]
pub struct Args {}

/// Runs the SFTP role.
pub fn run(_args: Args) -> anyhow::Result<ExitCode> {
    anyhow::bail!("sftp: not built yet (issue 5)")
}
