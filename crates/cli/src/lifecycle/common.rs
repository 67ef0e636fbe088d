//! What the lifecycle commands share: the `--profile`/`--region` options, connecting to AWS,
//! the deployer's ports, and printing outcomes as "what happened: why" plus the next step.

use std::io::{BufRead, Write};

use anyhow::Context;
use idealstack_aws::deploy::Aws;
use idealstack_deploy::{Outcome, Ports, Report};
use idealstack_manifest::Model;

/// AWS access options (the SDK's standard chain does the rest: environment, profiles, SSO,
/// instance and container roles; `AWS_ENDPOINT_URL` points it at an emulator).
#[derive(clap::Args, Debug, Clone)]
pub struct AwsArgs {
    /// AWS profile (default: the standard chain, AWS_PROFILE).
    #[arg(long, value_name = "NAME")]
    pub profile: Option<String>,
    /// AWS region (default: the manifest's stack.region).
    #[arg(long, value_name = "REGION")]
    pub region: Option<String>,
}

/// Arguments of the read commands (`status`, `certs`): the manifest, AWS access, `--json`.
#[derive(clap::Args, Debug)]
pub struct ReadArgs {
    #[command(flatten)]
    pub manifest: crate::manifest_file::ManifestArg,
    #[command(flatten)]
    pub aws: AwsArgs,
    /// Print JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

/// Connects to AWS in the manifest's region unless `--region` says otherwise.
pub fn connect(args: &AwsArgs, model: &Model) -> anyhow::Result<Aws> {
    let region = args.region.as_deref().unwrap_or(&model.stack.region);
    Aws::connect(args.profile.as_deref(), Some(region)).context(
        "cannot set up AWS access: configure credentials (aws configure, AWS_PROFILE, or environment variables)",
    )
}

/// Fails unless `site` is a site of the manifest at `path`, naming the sites it has.
pub fn require_site(model: &Model, site: &str, path: &std::path::Path) -> anyhow::Result<()> {
    if model.site(site).is_none() {
        anyhow::bail!(
            "site `{site}` is not in {}: expected one of: {}",
            path.display(),
            model
                .sites
                .iter()
                .map(|s| s.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    Ok(())
}

/// Every port, from one set of clients.
pub fn ports(aws: &Aws) -> Ports<'_> {
    Ports {
        stacks: aws,
        store: aws,
        certs: aws,
        dns: aws,
        services: aws,
        load_balancers: aws,
    }
}

/// Prints the outcome of every stack on stdout, failures with what to do next; returns whether
/// everything is as desired.
pub fn print_report(report: &Report) -> bool {
    let width = report
        .stacks
        .iter()
        .map(|(n, _)| n.len())
        .max()
        .unwrap_or(0);
    for (name, outcome) in &report.stacks {
        let text = match outcome {
            Outcome::Created { changes } => format!("created ({} resources)", changes.len()),
            Outcome::Updated { changes } => format!("updated ({} changes)", changes.len()),
            Outcome::Unchanged => "no changes".into(),
            Outcome::Deleted => "deleted".into(),
            Outcome::Refused { reasons } => format!(
                "REFUSED: the change set would lose data, nothing was changed:\n{}\n    Next: if you mean it, back up and run `idealstack deploy --allow-data-loss`; otherwise undo the manifest change",
                reasons
                    .iter()
                    .map(|r| format!("    - {r}"))
                    .collect::<Vec<_>>()
                    .join("\n")
            ),
            Outcome::Failed(f) => format!("FAILED: {f}"),
            Outcome::Skipped { why } => format!("skipped: {why}"),
            Outcome::Interrupted { detail } => format!("interrupted: {detail}"),
        };
        println!("  {name:width$}  {text}");
    }
    report.ok()
}

/// Asks a question on the terminal; `true` when the answer equals `expected`.
pub fn confirm(question: &str, expected: &str) -> anyhow::Result<bool> {
    eprint!("{question} ");
    std::io::stderr().flush()?;
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(line.trim() == expected)
}

/// A unique change set name for this run.
pub fn change_set_name() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default();
    format!("idealstack-{secs}")
}
