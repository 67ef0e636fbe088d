//! `idealstack destroy`: delete the site, edge and cluster stacks (and the certificates);
//! the data stack and the network it lives in stay unless `--delete-data`, which needs the stack
//! name typed (or given with `--confirm`).

use std::process::ExitCode;
use std::time::Duration;

use anyhow::bail;

use super::common::{self, AwsArgs};
use crate::manifest_file::{self, ManifestArg};

/// Arguments of `destroy`.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub manifest: ManifestArg,
    #[command(flatten)]
    pub aws: AwsArgs,
    /// Also delete the data stack (files, databases, sessions, buckets) and the network.
    #[arg(long)]
    pub delete_data: bool,
    /// The stack name, instead of typing it (for scripts).
    #[arg(long, value_name = "STACK")]
    pub confirm: Option<String>,
    #[arg(long, default_value_t = 5, hide = true)]
    pub poll: u64,
}

/// Destroys.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let model = manifest_file::load(&args.manifest.path)?;
    let name = &model.stack.name;
    let what = if args.delete_data {
        "EVERY stack, the data included (files, databases, sessions, buckets; resources with a Retain or Snapshot policy stay in the account)"
    } else {
        "the site, load balancer and cluster stacks; the data stack and its network are kept"
    };
    let confirmed = match &args.confirm {
        Some(c) => c == name,
        None => common::confirm(
            &format!("This deletes {what} of stack `{name}`. Type the stack name to confirm:"),
            name,
        )?,
    };
    if !confirmed {
        bail!("not confirmed (expected the stack name `{name}`): nothing was deleted");
    }
    let aws = common::connect(&args.aws, &model)?;
    let opts = idealstack_deploy::Options {
        poll: Duration::from_secs(args.poll.max(1)),
        ..Default::default()
    };
    let progress = idealstack_deploy::progress::for_stderr();
    let report = idealstack_deploy::run::destroy(
        common::ports(&aws),
        name,
        args.delete_data,
        &opts,
        progress.as_ref(),
    )?;
    println!("Destroy of {name}:");
    if report.stacks.is_empty() {
        println!("  nothing to delete");
    }
    let ok = common::print_report(&report);
    if ok && !args.delete_data {
        println!(
            "Kept {0}-data and {0}-network (your files, databases and sessions). `idealstack destroy --delete-data` removes them too.",
            name
        );
    }
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
