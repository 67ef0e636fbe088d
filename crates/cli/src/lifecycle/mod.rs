//! The commands that drive AWS: deploy, status, site, certs, logs, destroy (issue 3).

use std::process::ExitCode;

/// Commands that need AWS credentials.
#[derive(clap::Subcommand, Debug)]
pub enum Command {}

/// Runs one lifecycle command.
pub fn run(command: Command) -> anyhow::Result<ExitCode> {
    match command {}
}
