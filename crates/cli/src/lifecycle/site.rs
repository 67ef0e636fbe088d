//! `idealstack site add|remove`: edit idealstack.toml (keeping its comments) and deploy just
//! that change. Removing a site deletes its stack and certificate; its files on EFS and its
//! database are kept unless `--delete-data` asks the agent to delete them once the stack is gone.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, bail};

use super::common::{self, AwsArgs};
use super::deploy;
use crate::manifest_file::{self, ManifestArg};

/// Arguments of `site`.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(subcommand)]
    pub command: SiteCommand,
}

/// `site` subcommands.
#[derive(clap::Subcommand, Debug)]
pub enum SiteCommand {
    /// Add a site answering on DOMAIN and deploy it.
    Add(AddArgs),
    /// Remove a site (its stack; files and database are kept unless --delete-data) and deploy.
    Remove(RemoveArgs),
}

/// Arguments of `site add`.
#[derive(clap::Args, Debug)]
pub struct AddArgs {
    /// The site's primary domain (more can be added in idealstack.toml).
    pub domain: String,
    /// The site's short name (default: the domain's first label).
    #[arg(long)]
    pub name: Option<String>,
    /// PHP version (default: the stack's).
    #[arg(long)]
    pub php: Option<String>,
    /// Only edit idealstack.toml.
    #[arg(long)]
    pub no_deploy: bool,
    #[command(flatten)]
    pub manifest: ManifestArg,
    #[command(flatten)]
    pub aws: AwsArgs,
    /// Seconds to wait for the certificate to be validated.
    #[arg(long, default_value_t = 600, value_name = "SECONDS")]
    pub cert_wait: u64,
    #[arg(long, default_value_t = 5, hide = true)]
    pub poll: u64,
}

/// Arguments of `site remove`.
#[derive(clap::Args, Debug)]
pub struct RemoveArgs {
    /// The site's name.
    pub name: String,
    /// Do not ask for confirmation.
    #[arg(long)]
    pub yes: bool,
    /// Also delete the site's files (/sites/<site> on EFS) and its database, user and
    /// credentials: the in-cluster agent does it once the site's stack is deleted. Cannot be undone.
    #[arg(long, conflicts_with = "no_deploy")]
    pub delete_data: bool,
    /// Only edit idealstack.toml.
    #[arg(long)]
    pub no_deploy: bool,
    #[command(flatten)]
    pub manifest: ManifestArg,
    #[command(flatten)]
    pub aws: AwsArgs,
    #[arg(long, default_value_t = 5, hide = true)]
    pub poll: u64,
}

/// Runs `site add` or `site remove`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    match args.command {
        SiteCommand::Add(a) => add(a),
        SiteCommand::Remove(a) => remove(a),
    }
}

/// The default short name for a domain: its first label that is not `www`, made of the
/// characters a site name allows.
pub fn name_for(domain: &str) -> String {
    let label = domain
        .split('.')
        .find(|l| *l != "www" && *l != "*")
        .unwrap_or(domain);
    let mut n: String = label
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    n = n.trim_matches('-').to_string();
    n.truncate(20);
    n
}

/// The text of a `[[sites]]` block.
pub fn site_block(name: &str, domain: &str, php: Option<&str>) -> String {
    let mut b = format!("\n[[sites]]\nname = \"{name}\"\ndomains = [\"{domain}\"]\n");
    if let Some(p) = php {
        b.push_str(&format!("php = \"{p}\"\n"));
    }
    b
}

/// Removes the `[[sites]]` block whose `name` is `name` (up to the next table header), keeping
/// everything else as written. `None` if there is no such block.
pub fn without_site(text: &str, name: &str) -> Option<String> {
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let is_header = |l: &str| l.trim_start().starts_with('[');
    let mut i = 0;
    while i < lines.len() {
        if lines[i].trim() == "[[sites]]" {
            let end = (i + 1..lines.len())
                .find(|&j| is_header(lines[j]))
                .unwrap_or(lines.len());
            let names_it = lines[i + 1..end].iter().any(|l| {
                let l = l.trim();
                l.strip_prefix("name")
                    .map(str::trim_start)
                    .and_then(|r| r.strip_prefix('='))
                    .map(|r| r.trim().trim_matches('"') == name)
                    .unwrap_or(false)
            });
            if names_it {
                // Keep comment lines right before the next header (they describe the next block).
                let mut cut = end;
                while cut > i + 1 && lines[cut - 1].trim_start().starts_with('#') {
                    cut -= 1;
                }
                // Comment lines right above the header describe this block: they go with it.
                let mut start = i;
                while start > 0 && lines[start - 1].trim_start().starts_with('#') {
                    start -= 1;
                }
                let mut out: String = lines[..start].concat();
                out.push_str(&lines[cut..].concat());
                return Some(out);
            }
            i = end;
        } else {
            i += 1;
        }
    }
    None
}

fn write_checked(path: &Path, text: &str) -> anyhow::Result<()> {
    idealstack_manifest::parse(text).map_err(|e| manifest_file::invalid(path, e))?;
    std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
}

fn add(a: AddArgs) -> anyhow::Result<ExitCode> {
    let path = &a.manifest.path;
    let text = manifest_file::read(path)?;
    let name = a.name.clone().unwrap_or_else(|| name_for(&a.domain));
    let model = idealstack_manifest::parse(&text).map_err(|e| manifest_file::invalid(path, e))?;
    if model.site(&name).is_some() {
        bail!(
            "site `{name}` is already in {}: choose another --name",
            path.display()
        );
    }
    let mut new = text.clone();
    if !new.ends_with('\n') {
        new.push('\n');
    }
    new.push_str(&site_block(&name, &a.domain, a.php.as_deref()));
    write_checked(path, &new)?;
    eprintln!("added site `{name}` ({}) to {}", a.domain, path.display());
    if a.no_deploy {
        return Ok(ExitCode::SUCCESS);
    }
    deploy::run(deploy::Args {
        manifest: a.manifest,
        aws: a.aws,
        allow_data_loss: false,
        continue_rollback: false,
        cert_wait: a.cert_wait,
        parallel: 4,
        poll: a.poll,
        only_site: Some(name),
    })
}

fn remove(a: RemoveArgs) -> anyhow::Result<ExitCode> {
    let path = &a.manifest.path;
    let text = manifest_file::read(path)?;
    let Some(new) = without_site(&text, &a.name) else {
        bail!(
            "site `{}` is not in {}: `idealstack status` lists the deployed sites",
            a.name,
            path.display()
        );
    };
    let kept = if a.delete_data {
        "its files and database are DELETED too, which cannot be undone"
    } else {
        "its files and database are kept"
    };
    if !a.yes
        && !common::confirm(
            &format!(
                "Remove site `{}`? Its stack (service, rules) and its certificate are deleted; {kept}. Type the site name to confirm:",
                a.name
            ),
            &a.name,
        )?
    {
        bail!("not confirmed: nothing was changed");
    }
    let had_database = manifest_file::load(path)?
        .sites
        .iter()
        .any(|s| s.name == a.name && s.database);
    write_checked(path, &new)?;
    eprintln!("removed site `{}` from {}", a.name, path.display());
    if a.no_deploy {
        return Ok(ExitCode::SUCCESS);
    }
    // Deleting the removed site's stack is the whole change: deploy nothing else.
    let model = manifest_file::load(path)?;
    let aws = common::connect(&a.aws, &model)?;
    let ports = common::ports(&aws);
    let (prior, bucket) = idealstack_deploy::run::prior(ports, &model.stack.name)?;
    let build = idealstack_stacks::build(&model, &prior, crate::plan::VERSION)?;
    let opts = idealstack_deploy::Options {
        poll: std::time::Duration::from_secs(a.poll.max(1)),
        change_set_name: common::change_set_name(),
        only: Some(Default::default()),
        ..Default::default()
    };
    let progress = idealstack_deploy::progress::for_stderr();
    let report = idealstack_deploy::run::deploy(
        ports,
        &model,
        &build,
        crate::plan::VERSION,
        &opts,
        std::time::Duration::ZERO,
        progress.as_ref(),
    )?;
    println!("Remove site {}:", a.name);
    let ok = common::print_report(&report);
    if ok && a.delete_data {
        request_purge(
            ports,
            &model.stack.name,
            bucket.as_deref(),
            &a.name,
            &prior,
            had_database,
        )?;
    }
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Asks the agent (through the state bucket) to delete a removed site's files and database.
fn request_purge(
    ports: idealstack_deploy::Ports<'_>,
    stack: &str,
    bucket: Option<&str>,
    site: &str,
    prior: &idealstack_plan::Prior,
    had_database: bool,
) -> anyhow::Result<()> {
    let Some(uid) = prior.sites.get(site).map(|s| s.uid) else {
        eprintln!("site `{site}` was never deployed: it has no files or database to delete");
        return Ok(());
    };
    let Some(bucket) = bucket else {
        bail!(
            "cannot ask for the data of `{site}` to be deleted: the data stack of `{stack}` has no state bucket; deploy the stack, then delete /sites/{site} and its database by hand"
        );
    };
    let database = had_database.then(|| idealstack_stacks::site_database_name(site));
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let key = idealstack_deploy::state::write_purge(
        ports.store,
        bucket,
        site,
        uid,
        database.as_deref(),
        now,
    )
    .with_context(|| format!("writing the purge request of `{site}` to s3://{bucket}"))?;
    println!(
        "Asked the agent to delete /sites/{site}{} (s3://{bucket}/{key}); `idealstack status` shows when it is done.",
        database
            .as_deref()
            .map(|d| format!(" and database `{d}`"))
            .unwrap_or_default()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removes_only_the_named_block() {
        let text = "[stack]\nname = \"a\"\n\n[[sites]]\nname = \"shop\"\ndomains = [\"shop.example.com\"]\n\n# The blog.\n[[sites]]\nname = \"blog\"\ndomains = [\"blog.example.com\"]\n";
        let out = without_site(text, "shop").unwrap();
        assert_eq!(
            out,
            "[stack]\nname = \"a\"\n\n# The blog.\n[[sites]]\nname = \"blog\"\ndomains = [\"blog.example.com\"]\n"
        );
        assert_eq!(
            without_site(text, "blog").unwrap(),
            "[stack]\nname = \"a\"\n\n[[sites]]\nname = \"shop\"\ndomains = [\"shop.example.com\"]\n\n"
        );
        assert!(without_site(text, "none").is_none());
        assert_eq!(name_for("www.Shop-1.example.com"), "shop-1");
    }
}
