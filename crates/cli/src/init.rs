//! `idealstack init`: writes a commented `idealstack.toml` with two example sites.

use anyhow::{Context, bail};
use idealstack_manifest::{InitOptions, init_manifest};
use std::path::PathBuf;
use std::process::ExitCode;

/// Arguments of `init`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Where to write the manifest.
    #[arg(short = 'f', long = "manifest", default_value = idealstack_manifest::FILE_NAME, value_name = "PATH")]
    path: PathBuf,
    /// Stack name.
    #[arg(long, default_value = "acme")]
    name: String,
    /// AWS region.
    #[arg(long, default_value = "eu-west-1")]
    region: String,
    /// Overwrite an existing manifest.
    #[arg(long)]
    force: bool,
}

/// Writes the manifest; refuses to overwrite one unless `--force`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    if args.path.exists() && !args.force {
        bail!(
            "{} already exists: init does not overwrite a manifest; edit it, or pass --force to replace it",
            args.path.display()
        );
    }
    let text = init_manifest(&InitOptions {
        stack_name: args.name,
        region: args.region,
    });
    // The options come from the command line: check the result before writing it.
    if let Err(e) = idealstack_manifest::parse(&text) {
        return Err(crate::manifest_file::invalid(&args.path, e)
            .context("the --name or --region given to init is not valid"));
    }
    std::fs::write(&args.path, text)
        .with_context(|| format!("cannot write {}", args.path.display()))?;
    eprintln!(
        "wrote {}: edit the stack and its sites, then run `idealstack validate` and `idealstack plan`",
        args.path.display()
    );
    Ok(ExitCode::SUCCESS)
}
