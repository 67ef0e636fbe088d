//! `idealstack sftp user add|remove|list`: the SFTP logins of a site.
//!
//! Two stores, one set of commands:
//! - **the deployed stack** (default): the object `state/sftp/users.json` in the stack's state
//!   bucket (the data stack's `StateBucketName` output, found through the manifest's stack name,
//!   `--profile` and `--region` like every lifecycle command). A site's uid/gid come from the
//!   deployed assignments in the same bucket, never from the command line; the running gateway
//!   picks every change up on its reload interval.
//! - **a local file** (`--users FILE`, with `--uid/--gid` the first time a site appears): for
//!   running the gateway alone.
//!
//! Both are edited read-modify-write with a conditional write, so two admins editing at once
//! never lose each other's change (`idealstack_sftp::store`). Results on stdout (`list --json`
//! for scripts), progress on stderr.

use anyhow::{Context, bail};
use idealstack_deploy::ports::StackApi;
use idealstack_sftp::store::{self, FileTarget, UserStoreTarget};
use idealstack_sftp::users::{self, UserEntry, UserStoreDoc};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::io::BufRead;
use std::path::PathBuf;
use std::process::ExitCode;

use crate::manifest_file::ManifestArg;

/// `idealstack sftp user ...`
#[derive(clap::Subcommand)]
pub enum UserCommand {
    /// Add a login to SITE. Prints how to connect.
    Add(AddArgs),
    /// Remove a login from SITE (removing the last one is fine).
    Remove(RemoveArgs),
    /// List the logins of SITE (tab-separated: name, access, credentials; or --json).
    List(ListArgs),
}

/// Which store: the deployed stack's (default) or a local file.
#[derive(clap::Args)]
pub struct StoreArgs {
    /// Edit a local user store file (the gateway run alone with `--users FILE`) instead of the
    /// deployed stack's store.
    #[arg(long, value_name = "FILE")]
    users: Option<PathBuf>,
    #[command(flatten)]
    manifest: ManifestArg,
    /// AWS profile (default: the standard chain, AWS_PROFILE).
    #[arg(long, value_name = "NAME")]
    profile: Option<String>,
    /// AWS region (default: the manifest's stack.region).
    #[arg(long, value_name = "REGION")]
    region: Option<String>,
}

#[derive(clap::Args)]
pub struct AddArgs {
    site: String,
    name: String,
    /// Read the password from the first line of stdin (it is stored as an argon2 hash).
    #[arg(long)]
    password_stdin: bool,
    /// A public key file (`.pub`); repeat for several keys.
    #[arg(long = "key", value_name = "FILE")]
    keys: Vec<PathBuf>,
    /// The login may read but never change anything.
    #[arg(long)]
    read_only: bool,
    /// The site's uid, with --users FILE only, when the site is not in that file yet (a
    /// deployed site's uid comes from the deployment).
    #[arg(long, requires_all = ["gid", "users"])]
    uid: Option<u32>,
    /// The site's gid (with --uid).
    #[arg(long, requires_all = ["uid", "users"])]
    gid: Option<u32>,
    #[command(flatten)]
    store: StoreArgs,
}

#[derive(clap::Args)]
pub struct RemoveArgs {
    site: String,
    name: String,
    #[command(flatten)]
    store: StoreArgs,
}

#[derive(clap::Args)]
pub struct ListArgs {
    site: String,
    /// Print JSON on stdout.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    store: StoreArgs,
}

/// Runs one `sftp user` command.
pub fn run(cmd: UserCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        UserCommand::Add(a) => add(a),
        UserCommand::Remove(a) => remove(a),
        UserCommand::List(a) => list(a),
    }
}

/// The store being edited and what is known of the deployment around it.
struct Opened {
    target: Box<dyn UserStoreTarget>,
    /// Deployed sites and their uids (`None` for a local file).
    deployed: Option<BTreeMap<String, u32>>,
    /// Where users connect, when the stack says.
    host: Option<String>,
    /// The gateway's host key fingerprint, when its log says.
    fingerprint: Option<String>,
}

impl Opened {
    /// The deployed sites, for error messages.
    fn site_list(&self) -> String {
        match &self.deployed {
            Some(d) if d.is_empty() => "none yet".into(),
            Some(d) => d.keys().cloned().collect::<Vec<_>>().join(", "),
            None => String::new(),
        }
    }

    /// Fails unless `site` is deployed (or, when `or_stored`, still has an entry in `doc`).
    fn check_site(&self, site: &str, doc: Option<&UserStoreDoc>) -> anyhow::Result<()> {
        let Some(deployed) = &self.deployed else {
            return Ok(());
        };
        if deployed.contains_key(site) || doc.is_some_and(|d| d.sites.contains_key(site)) {
            return Ok(());
        }
        bail!(
            "site {site:?} is not deployed in this stack (deployed sites: {}): check the name, or add the site with `idealstack site add` first",
            self.site_list()
        )
    }
}

fn open(args: &StoreArgs) -> anyhow::Result<Opened> {
    if let Some(path) = &args.users {
        if path.to_string_lossy().starts_with("s3://") {
            bail!(
                "--users {} is an S3 location: --users takes a local file; to edit a deployed stack's store, leave --users out (the store is found through --manifest)",
                path.display()
            );
        }
        return Ok(Opened {
            target: Box::new(FileTarget { path: path.clone() }),
            deployed: None,
            host: None,
            fingerprint: None,
        });
    }
    let model = crate::manifest_file::load(&args.manifest.path)?;
    let name = &model.stack.name;
    let region = args.region.as_deref().unwrap_or(&model.stack.region);
    let aws = idealstack_aws::deploy::Aws::connect(args.profile.as_deref(), Some(region)).context(
        "cannot set up AWS access: configure credentials (aws configure, AWS_PROFILE, or environment variables)",
    )?;
    let data_stack = idealstack_templates::data_stack_name(name);
    let bucket = aws
        .describe(&data_stack)
        .with_context(|| format!("cannot read the stack {data_stack}"))?
        .and_then(|d| {
            d.outputs
                .get(idealstack_deploy::state::STATE_BUCKET_OUTPUT)
                .cloned()
        });
    let Some(bucket) = bucket else {
        bail!(
            "stack {name} is not deployed in {region} (no {data_stack} stack with a state bucket): run `idealstack deploy` first, or pass --region/--profile for where it runs (or --users FILE for a local store)"
        );
    };
    let prior = idealstack_deploy::state::read_prior(&aws, &bucket)?;
    let host = aws
        .describe(&idealstack_templates::cluster_stack_name(name))
        .ok()
        .flatten()
        .and_then(|c| c.outputs.get("SftpEndpoint").cloned());
    let fingerprint = host_key_fingerprint(&aws, name);
    let location = idealstack_deploy::state::sftp_users_location(&bucket);
    let target = idealstack_aws::sftp::S3UserStore::connect(
        &location,
        args.profile.as_deref(),
        Some(region),
    )?;
    Ok(Opened {
        target: Box::new(target),
        deployed: Some(
            prior
                .sites
                .iter()
                .map(|(site, a)| (site.clone(), a.uid))
                .collect(),
        ),
        host,
        fingerprint,
    })
}

/// The line the gateway logs at start (`host key SHA256:... (ssh-ed25519)`), newest first, from
/// the cluster's SFTP log group (`/idealstack/<stack>/sftp`, as the cluster template names it).
fn host_key_fingerprint(aws: &idealstack_aws::deploy::Aws, stack: &str) -> Option<String> {
    let group = format!("/idealstack/{stack}/sftp");
    let lines = aws
        .log_events(&group, 0, Some("\"host key SHA256\""))
        .ok()?;
    lines.iter().max_by_key(|l| l.timestamp).and_then(|l| {
        l.message
            .split_whitespace()
            .find(|w| w.starts_with("SHA256:"))
            .map(String::from)
    })
}

fn read_password() -> anyhow::Result<String> {
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("reading the password from stdin")?;
    let pw = line.trim_end_matches(['\n', '\r']);
    if pw.len() < 12 {
        bail!("the password on stdin is shorter than 12 characters: use a longer one");
    }
    Ok(pw.to_string())
}

fn read_keys(files: &[PathBuf]) -> anyhow::Result<Vec<String>> {
    let mut key_lines = Vec::new();
    for k in files {
        let text = std::fs::read_to_string(k).with_context(|| {
            format!(
                "cannot read public key file {}: pass the .pub file of an ed25519 key (ssh-keygen -t ed25519)",
                k.display()
            )
        })?;
        let before = key_lines.len();
        for line in text
            .lines()
            .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        {
            users::parse_public_key(line).map_err(|e| {
                anyhow::anyhow!(
                    "public key file {}: {e}; pass the .pub file of an ed25519 or ecdsa key",
                    k.display()
                )
            })?;
            key_lines.push(line.trim().to_string());
        }
        if key_lines.len() == before {
            bail!(
                "public key file {} holds no key: pass the .pub file of an ed25519 key (ssh-keygen -t ed25519)",
                k.display()
            );
        }
    }
    Ok(key_lines)
}

fn add(a: AddArgs) -> anyhow::Result<ExitCode> {
    if !users::valid_site_name(&a.site) {
        bail!(
            "site name {:?} is invalid: use lowercase letters, digits and dashes, as in idealstack.toml",
            a.site
        );
    }
    if !users::valid_user_name(&a.name) {
        bail!(
            "login name {:?} is invalid: use 1-32 of a-z 0-9 . _ - starting with a letter or digit",
            a.name
        );
    }
    if !a.password_stdin && a.keys.is_empty() {
        bail!(
            "user {:?} needs a credential: pass --password-stdin and/or --key FILE.pub",
            a.name
        );
    }
    // Every input is checked before the store is touched.
    let keys = read_keys(&a.keys)?;
    let opened = open(&a.store)?;
    let ids = match &opened.deployed {
        Some(deployed) => {
            opened.check_site(&a.site, None)?;
            let uid = deployed[&a.site];
            Some((uid, uid))
        }
        None => a.uid.zip(a.gid),
    };
    let password_hash = if a.password_stdin {
        Some(users::hash_password(&read_password()?)?)
    } else {
        None
    };
    let entry = UserEntry {
        name: a.name.clone(),
        password_hash,
        keys,
        read_only: a.read_only,
    };
    let deployed = opened.deployed.is_some();
    let (doc, ()) = store::edit(opened.target.as_ref(), |doc| {
        if let (true, Some((uid, gid))) = (deployed, ids) {
            store::ensure_deployed_site(doc, &a.site, uid, gid)?;
            doc.add_user(&a.site, None, entry.clone())
        } else {
            doc.add_user(&a.site, ids, entry.clone())
        }
    })?;
    let uid = doc.sites[&a.site].uid;
    eprintln!(
        "added {} to site {} (uid {uid}) in {}",
        a.name,
        a.site,
        opened.target.name()
    );
    if deployed {
        println!("{}", connect_text(&opened, &a.name));
    }
    Ok(ExitCode::SUCCESS)
}

/// What a user needs to connect (deployed stacks only).
fn connect_info(opened: &Opened, login: &str) -> Value {
    json!({
        "host": opened.host,
        "port": idealstack_stacks::SFTP_PORT,
        "login": login,
        "host_key_fingerprint": opened.fingerprint,
    })
}

fn connect_text(opened: &Opened, login: &str) -> String {
    let port = idealstack_stacks::SFTP_PORT;
    let key = match &opened.fingerprint {
        Some(f) => format!(
            "host key: {f} (the client shows it on the first connection: it must match)"
        ),
        None => "host key: not known yet (the gateway logs `host key SHA256:...` in the /idealstack/<stack>/sftp log group when it starts)".into(),
    };
    match &opened.host {
        Some(host) => format!(
            "host: {host}\nport: {port}\nlogin: {login}\n{key}\nconnect: sftp -P {port} {login}@{host}"
        ),
        None => format!(
            "host: unknown yet (the cluster stack has no SftpEndpoint output: run `idealstack deploy`, then `idealstack status`)\nport: {port}\nlogin: {login}\n{key}"
        ),
    }
}

fn remove(a: RemoveArgs) -> anyhow::Result<ExitCode> {
    let opened = open(&a.store)?;
    let current = store::load(opened.target.as_ref())?;
    opened.check_site(&a.site, Some(&current))?;
    let deployed = opened.deployed.is_some();
    store::edit(opened.target.as_ref(), |doc| {
        if deployed && !doc.sites.contains_key(&a.site) {
            // A deployed site nobody gave a login yet.
            return Err(users::StoreError::UnknownUser {
                site: a.site.clone(),
                user: a.name.clone(),
            });
        }
        doc.remove_user(&a.site, &a.name)
    })?;
    eprintln!(
        "removed {} from site {} in {}",
        a.name,
        a.site,
        opened.target.name()
    );
    Ok(ExitCode::SUCCESS)
}

fn list(a: ListArgs) -> anyhow::Result<ExitCode> {
    let opened = open(&a.store)?;
    let doc = store::load(opened.target.as_ref())?;
    opened.check_site(&a.site, Some(&doc))?;
    // A deployed site nobody added a login to yet has none; a local file must know the site.
    let logins: Vec<UserEntry> = match (doc.users(&a.site), &opened.deployed) {
        (Ok(u), _) => u.to_vec(),
        (Err(_), Some(_)) => Vec::new(),
        (Err(e), None) => return Err(e.into()),
    };
    if a.json {
        let uid = doc.sites.get(&a.site).map(|s| s.uid).or_else(|| {
            opened
                .deployed
                .as_ref()
                .and_then(|d| d.get(&a.site).copied())
        });
        let value = json!({
            "site": a.site,
            "uid": uid,
            "store": opened.target.name(),
            "connect": opened.deployed.as_ref().map(|_| connect_info(&opened, "<login>")),
            "logins": logins.iter().map(|u| json!({
                "name": u.name,
                "read_only": u.read_only,
                "password": u.password_hash.is_some(),
                "keys": u.keys.len(),
            })).collect::<Vec<_>>(),
        });
        println!("{}", serde_json::to_string_pretty(&value)?);
        return Ok(ExitCode::SUCCESS);
    }
    for u in &logins {
        let mut creds = Vec::new();
        if u.password_hash.is_some() {
            creds.push("password".to_string());
        }
        if !u.keys.is_empty() {
            creds.push(format!("{} key(s)", u.keys.len()));
        }
        let access = if u.read_only {
            "read-only"
        } else {
            "read-write"
        };
        println!("{}\t{access}\t{}", u.name, creds.join(", "));
    }
    Ok(ExitCode::SUCCESS)
}
