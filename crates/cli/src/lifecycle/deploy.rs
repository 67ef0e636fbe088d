//! `idealstack deploy`: plan from the manifest and the stored assignments, request the
//! certificates, then create or update every stack through change sets with live progress.

use std::collections::BTreeSet;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use anyhow::Context;
use idealstack_deploy::Options;

use super::common::{self, AwsArgs};
use crate::manifest_file::{self, ManifestArg};
use crate::plan::VERSION;

/// Arguments of `deploy`.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub manifest: ManifestArg,
    #[command(flatten)]
    pub aws: AwsArgs,
    /// Execute change sets that replace or remove a data resource (EFS, RDS, DynamoDB, bucket).
    #[arg(long)]
    pub allow_data_loss: bool,
    /// Continue a failed rollback (UPDATE_ROLLBACK_FAILED) before deploying.
    #[arg(long)]
    pub continue_rollback: bool,
    /// Seconds to wait for certificates to be validated before deploying the stacks that need them.
    #[arg(long, default_value_t = 600, value_name = "SECONDS")]
    pub cert_wait: u64,
    /// Site stacks deployed at once.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=32))]
    pub parallel: u16,
    /// Seconds between polls of CloudFormation.
    #[arg(long, default_value_t = 5, value_name = "SECONDS", hide = true)]
    pub poll: u64,
    /// Deploy only the stacks of this site (and its load balancer); used by `site add`.
    #[arg(long, value_name = "SITE")]
    pub only_site: Option<String>,
}

/// Deploys.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let model = manifest_file::load(&args.manifest.path)?;
    let aws = common::connect(&args.aws, &model)?;
    let ports = common::ports(&aws);
    let progress = idealstack_deploy::progress::for_stderr();
    let (prior, _) = idealstack_deploy::run::prior(ports, &model.stack.name)
        .context("cannot read what is deployed")?;
    let build = idealstack_stacks::build(&model, &prior, VERSION).map_err(|e| {
        anyhow::anyhow!(
            "{e}\nThe sites in {} do not fit the load balancer quotas.",
            args.manifest.path.display()
        )
    })?;
    for note in &build.plan.notes {
        progress.say("", &format!("plan: {note}"));
    }
    let only = match &args.only_site {
        None => None,
        Some(site) => {
            let Some(a) = build.plan.sites.get(site) else {
                anyhow::bail!(
                    "site `{site}` is not in {}: expected one of: {}",
                    args.manifest.path.display(),
                    build
                        .plan
                        .sites
                        .keys()
                        .cloned()
                        .collect::<Vec<_>>()
                        .join(", ")
                );
            };
            Some(BTreeSet::from([
                idealstack_templates::site_stack_name(&model.stack.name, site),
                idealstack_templates::edge_stack_name(&model.stack.name, a.shard),
            ]))
        }
    };
    let interrupt = Arc::new(AtomicBool::new(false));
    aws.watch_interrupt(interrupt.clone());
    let opts = Options {
        allow_data_loss: args.allow_data_loss,
        continue_rollback: args.continue_rollback,
        poll: Duration::from_secs(args.poll.max(1)),
        interrupt,
        change_set_name: common::change_set_name(),
        parallel: usize::from(args.parallel),
        only,
        ..Options::default()
    };
    progress.say(
        "",
        &format!(
            "deploying stack {} to {} ({} CloudFormation stacks)",
            model.stack.name,
            aws.region(),
            build.stacks.len()
        ),
    );
    let report = idealstack_deploy::run::deploy(
        ports,
        &model,
        &build,
        VERSION,
        &opts,
        Duration::from_secs(args.cert_wait),
        progress.as_ref(),
    )?;
    println!("Deploy of {}:", model.stack.name);
    let ok = common::print_report(&report);
    if report.state_written {
        println!(
            "  desired state written to the state bucket: {} and {}",
            idealstack_deploy::state::DESIRED_KEY,
            idealstack_deploy::state::PRIOR_KEY
        );
    }
    if ok {
        println!("Done. `idealstack status` shows the sites and their DNS targets.");
        Ok(ExitCode::SUCCESS)
    } else {
        println!(
            "Not everything deployed; fix what is named above and run `idealstack deploy` again (it continues where it stopped)."
        );
        Ok(ExitCode::FAILURE)
    }
}
