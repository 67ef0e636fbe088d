//! `idealstack sftp`: the SFTP gateway role (`serve`) and its logins (`user add/remove/list`,
//! in [`users`]).
//!
//! The gateway itself lives in `idealstack-sftp`; this module only turns the command line into
//! its configuration and renders errors. User lists go to stdout; logs go to stderr.

mod users;

use idealstack_sftp::throttle::ThrottleConfig;
use idealstack_sftp::{FileSource, GatewayConfig};
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
    /// Manage the logins of a site: in the deployed stack's store (found through the manifest),
    /// or in a local store file with --users FILE.
    #[command(subcommand)]
    User(users::UserCommand),
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
    /// The user store: a JSON file (see `idealstack sftp user add --users`), or `s3://bucket/key`
    /// in the cluster (`state/sftp/users.json` in the stack's bucket). Re-read when it changes; a
    /// store that does not exist yet means no logins until it is written.
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

/// Runs the SFTP role.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    match args.command {
        Command::Serve(a) => serve(a),
        Command::User(u) => users::run(u),
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
