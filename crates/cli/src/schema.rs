//! `idealstack schema`: the JSON Schema of `idealstack.toml`, for editor completion.

use std::process::ExitCode;

/// Arguments of `schema`.
#[derive(clap::Args, Debug)]
pub struct Args {}

/// Prints the schema on stdout.
pub fn run(_args: Args) -> anyhow::Result<ExitCode> {
    println!(
        "{}",
        serde_json::to_string_pretty(&idealstack_manifest::schema())?
    );
    Ok(ExitCode::SUCCESS)
}
