//! `idealstack sendmail`: wiring of the sendmail role (owned by the PHP runtime work, issue 4).

use std::ffi::OsString;
use std::process::ExitCode;

/// Arguments exactly as PHP hands them to its sendmail binary (`-t -i`, ...).
#[derive(clap::Args)]
pub struct Args {
    /// Raw sendmail arguments.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub args: Vec<OsString>,
}

/// Runs the sendmail role.
pub fn run(_args: Args) -> anyhow::Result<ExitCode> {
    anyhow::bail!("sendmail: not built yet (issue 4)")
}
