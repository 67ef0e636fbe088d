//! `idealstack sftp`: the SFTP gateway role (`serve`) and its users (`user add/remove/list`).
//!
//! The gateway itself lives in `idealstack-sftp`; this module only turns the command line into
//! its configuration and renders errors. User lists go to stdout; logs go to stderr.

use anyhow::{Context, bail};
use idealstack_sftp::throttle::ThrottleConfig;
use idealstack_sftp::users::{self, UserEntry, UserStoreDoc};
use idealstack_sftp::{FileSource, GatewayConfig};
use std::io::BufRead;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

/// SFTP gateway arguments.
#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Subcommand)]
enum Command {
    /// Run the gateway: SSH with only the SFTP subsystem, each login confined to its site.
    Serve(ServeArgs),
    /// Manage the logins of a site in the user store file.
    #[command(subcommand)]
    User(UserCommand),
}

#[derive(clap::Args)]
struct ServeArgs {
    /// Address and port to listen on.
    #[arg(long, default_value = "0.0.0.0:2222", env = "IDEALSTACK_SFTP_LISTEN")]
    listen: SocketAddr,
    /// Folder holding the host key (created on first start; on EFS in the cluster).
    #[arg(long, env = "IDEALSTACK_SFTP_HOST_KEY_DIR")]
    host_key_dir: PathBuf,
    /// Folder holding one folder per site.
    #[arg(long, default_value = "/sites", env = "IDEALSTACK_SFTP_SITES_ROOT")]
    sites_root: PathBuf,
    /// The user store: a JSON file (see `idealstack sftp user add`), or `s3://bucket/key` in the
    /// cluster (the stack's bucket). Re-read when it changes.
    #[arg(long, env = "IDEALSTACK_SFTP_USERS")]
    users: PathBuf,
    /// Seconds between checks of the user store for changes.
    #[arg(long, default_value_t = 10)]
    reload_seconds: u64,
    /// Close connections idle for this many seconds.
    #[arg(long, default_value_t = 600)]
    idle_timeout_seconds: u64,
    /// Close connections that have not logged in after this many seconds.
    #[arg(long, default_value_t = 30)]
    login_grace_seconds: u64,
    /// Most connections at once.
    #[arg(long, default_value_t = 512)]
    max_connections: usize,
    /// Most connections at once from one address.
    #[arg(long, default_value_t = 64)]
    max_connections_per_address: usize,
    /// Most sessions at once per login.
    #[arg(long, default_value_t = 16)]
    max_sessions_per_user: usize,
    /// Failed logins (per address, and per login name) before throttling engages.
    #[arg(long, default_value_t = 10)]
    max_failures: usize,
    /// Window, in seconds, over which failed logins are counted.
    #[arg(long, default_value_t = 300)]
    failure_window_seconds: u64,
    /// Milliseconds every rejected login takes (constant time against user enumeration).
    #[arg(long, default_value_t = 1000)]
    auth_rejection_ms: u64,
    /// More detailed logs.
    #[arg(long)]
    verbose: bool,
}

#[derive(clap::Subcommand)]
enum UserCommand {
    /// Add a login to SITE (give --uid/--gid the first time a site appears).
    Add {
        site: String,
        name: String,
        /// The user store file.
        #[arg(long, env = "IDEALSTACK_SFTP_USERS")]
        users: PathBuf,
        /// Read the password from the first line of stdin (it is stored as an argon2 hash).
        #[arg(long)]
        password_stdin: bool,
        /// A public key file (`.pub`); repeat for several keys.
        #[arg(long = "key")]
        keys: Vec<PathBuf>,
        /// The login may read but never change anything.
        #[arg(long)]
        read_only: bool,
        /// The site's uid (needed when the site is not in the store yet).
        #[arg(long, requires = "gid")]
        uid: Option<u32>,
        /// The site's gid (needed when the site is not in the store yet).
        #[arg(long, requires = "uid")]
        gid: Option<u32>,
    },
    /// Remove a login from SITE.
    Remove {
        site: String,
        name: String,
        #[arg(long, env = "IDEALSTACK_SFTP_USERS")]
        users: PathBuf,
    },
    /// List the logins of SITE (tab-separated: name, access, credentials).
    List {
        site: String,
        #[arg(long, env = "IDEALSTACK_SFTP_USERS")]
        users: PathBuf,
    },
}

/// Runs the SFTP role.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    match args.command {
        Command::Serve(a) => serve(a),
        Command::User(u) => user(u),
    }
}

fn serve(a: ServeArgs) -> anyhow::Result<ExitCode> {
    idealstack_sftp::logging::init(a.verbose);
    let mut cfg = GatewayConfig::new(a.listen, a.host_key_dir, a.sites_root);
    cfg.reload_interval = Duration::from_secs(a.reload_seconds.max(1));
    cfg.idle_timeout = Duration::from_secs(a.idle_timeout_seconds.max(1));
    cfg.login_grace = Duration::from_secs(a.login_grace_seconds.max(1));
    cfg.max_connections = a.max_connections;
    cfg.max_connections_per_address = a.max_connections_per_address;
    cfg.max_sessions_per_user = a.max_sessions_per_user;
    cfg.auth_rejection_time = Duration::from_millis(a.auth_rejection_ms);
    cfg.throttle = ThrottleConfig {
        max_failures: a.max_failures.max(1),
        window: Duration::from_secs(a.failure_window_seconds.max(1)),
        ..ThrottleConfig::default()
    };
    // In the cluster the store is an object in the stack's bucket; locally, a file.
    let users = a.users.to_string_lossy();
    let source: Arc<dyn idealstack_sftp::users::UserStoreSource> = if users.starts_with("s3://") {
        Arc::new(idealstack_aws::sftp::S3UserStore::new(&users)?)
    } else {
        Arc::new(FileSource {
            path: a.users.clone(),
        })
    };
    idealstack_sftp::serve_blocking(cfg, source)?;
    Ok(ExitCode::SUCCESS)
}

fn user(cmd: UserCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        UserCommand::Add {
            site,
            name,
            users: path,
            password_stdin,
            keys,
            read_only,
            uid,
            gid,
        } => {
            if !users::valid_site_name(&site) {
                bail!(
                    "site name {site:?} is invalid: use lowercase letters, digits and dashes, as in idealstack.toml"
                );
            }
            if !users::valid_user_name(&name) {
                bail!(
                    "login name {name:?} is invalid: use 1-32 of a-z 0-9 . _ - starting with a letter or digit"
                );
            }
            if !password_stdin && keys.is_empty() {
                bail!(
                    "user {name:?} needs a credential: pass --password-stdin and/or --key FILE.pub"
                );
            }
            let mut key_lines = Vec::new();
            for k in &keys {
                let text = std::fs::read_to_string(k)
                    .with_context(|| format!("reading public key file {}", k.display()))?;
                for line in text
                    .lines()
                    .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
                {
                    users::parse_public_key(line)
                        .map_err(|e| anyhow::anyhow!("public key file {}: {e}", k.display()))?;
                    key_lines.push(line.trim().to_string());
                }
            }
            let password_hash = if password_stdin {
                let mut line = String::new();
                std::io::stdin()
                    .lock()
                    .read_line(&mut line)
                    .context("reading the password from stdin")?;
                let pw = line.trim_end_matches(['\n', '\r']);
                if pw.len() < 12 {
                    bail!("the password on stdin is shorter than 12 characters: use a longer one");
                }
                Some(users::hash_password(pw)?)
            } else {
                None
            };
            let mut doc = UserStoreDoc::load_or_new(&path)?;
            let ids = uid.zip(gid);
            doc.add_user(
                &site,
                ids,
                UserEntry {
                    name: name.clone(),
                    password_hash,
                    keys: key_lines,
                    read_only,
                },
            )?;
            doc.save(&path)?;
            eprintln!("added {name} to site {site} in {}", path.display());
        }
        UserCommand::Remove {
            site,
            name,
            users: path,
        } => {
            let mut doc = UserStoreDoc::load_or_new(&path)?;
            doc.remove_user(&site, &name)?;
            doc.save(&path)?;
            eprintln!("removed {name} from site {site} in {}", path.display());
        }
        UserCommand::List { site, users: path } => {
            let doc = UserStoreDoc::load_or_new(&path)?;
            for u in doc.users(&site)? {
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
        }
    }
    Ok(ExitCode::SUCCESS)
}
