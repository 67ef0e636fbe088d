//! The `idealstack` binary: one program, every role (see ARCHITECTURE.md).
//!
//! This file only parses the command line and dispatches; each role lives in a module of its own.
//! It is the only place `anyhow` is used: libraries return typed errors, rendered here.

mod agent;
mod init;
mod lifecycle;
mod local;
mod manifest_file;
mod plan;
mod schema;
mod sendmail;
mod sftp;
mod validate;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// idealstack: the PHP hosting cluster an expert AWS consultant would build, in your own AWS account.
#[derive(Parser)]
#[command(name = "idealstack", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Write a commented idealstack.toml for a stack with two example sites.
    Init(init::Args),
    /// Check the manifest: every problem at once, each naming its field.
    Validate(validate::Args),
    /// Show what would be created and what it would cost; --out writes every template.
    Plan(plan::Args),
    /// Print the JSON Schema of idealstack.toml (for editor completion).
    Schema(schema::Args),
    #[command(flatten)]
    Lifecycle(lifecycle::Command),
    /// The in-cluster agent: reconciles what CloudFormation cannot.
    Agent(agent::Args),
    /// Sendmail-compatible mail submission (PHP's mail() calls this inside the PHP image).
    Sendmail(sendmail::Args),
    /// The SFTP gateway and its users.
    Sftp(sftp::Args),
    /// The stack's cluster on this machine: podman containers from the deployed task definitions, the AWS emulator, a local router.
    Local(local::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Init(args) => init::run(args),
        Command::Validate(args) => validate::run(args),
        Command::Plan(args) => plan::run(args),
        Command::Schema(args) => schema::run(args),
        Command::Lifecycle(command) => lifecycle::run(command),
        Command::Agent(args) => agent::run(args),
        Command::Sendmail(args) => sendmail::run(args),
        Command::Sftp(args) => sftp::run(args),
        Command::Local(args) => local::run(args),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
