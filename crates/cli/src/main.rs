//! The `idealstack` binary: one program, every role (see ARCHITECTURE.md).
//!
//! This file only parses the command line and dispatches; each role lives in a module of its own.
//! It is the only place `anyhow` is used: libraries return typed errors, rendered here.

mod sendmail;
mod sftp;

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
    /// Sendmail-compatible mail submission (PHP's mail() calls this inside the PHP image).
    Sendmail(sendmail::Args),
    /// The SFTP gateway and its users.
    Sftp(sftp::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Sendmail(args) => sendmail::run(args),
        Command::Sftp(args) => sftp::run(args),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
