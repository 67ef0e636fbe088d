//! The commands that drive AWS: deploy, status, site, certs, logs, run, destroy.
//!
//! Each lives in its own module; [`common`] holds what they share (AWS options, connecting,
//! reading the deployed state, printing failures).

mod certs;
mod common;
mod deploy;
mod destroy;
mod logs;
mod run;
mod site;
mod status;

use std::process::ExitCode;

/// Commands that need AWS credentials.
#[derive(clap::Subcommand, Debug)]
pub enum Command {
    /// Create or update every stack through CloudFormation change sets, in dependency order, with live progress.
    Deploy(deploy::Args),
    /// Stacks, sites (shard, DNS target, rules), certificates, instances and services.
    Status(status::Args),
    /// Add a site to idealstack.toml and deploy just it, or remove one.
    Site(site::Args),
    /// Each certificate: status, the DNS records to create, expiry.
    Certs(certs::Args),
    /// A site's logs from CloudWatch.
    Logs(logs::Args),
    /// Run a command in a site's environment (its PHP, folder, uid, database): output streamed, its exit code returned.
    Run(run::Args),
    /// Delete the stacks: everything but the data (and its network) unless --delete-data.
    Destroy(destroy::Args),
}

/// Runs one lifecycle command.
pub fn run(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Deploy(a) => deploy::run(a),
        Command::Status(a) => status::run(a),
        Command::Site(a) => site::run(a),
        Command::Certs(a) => certs::run(a),
        Command::Logs(a) => logs::run(a),
        Command::Run(a) => run::run(a),
        Command::Destroy(a) => destroy::run(a),
    }
}
