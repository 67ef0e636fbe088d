//! `idealstack local`: the stack's cluster on this machine (up, down, status, env).
//!
//! `up` starts the local platform in the background (`local serve`, [`daemon`]): the AWS
//! emulator, the database, the credentials endpoint, the router and the SFTP port, and the loop
//! that runs every ECS service as podman containers. It then deploys the manifest into the
//! emulator with the ordinary `idealstack deploy` (the same deployer and templates as AWS) and
//! waits until every site answers through the router. State lives in
//! `.idealstack/local/<stack>/` beside the manifest.

mod daemon;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};

use crate::manifest_file::{self, ManifestArg};

/// `idealstack local` arguments.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(subcommand)]
    command: LocalCommand,
}

#[derive(clap::Subcommand, Debug)]
enum LocalCommand {
    /// Bring the stack's cluster up on this machine (podman, the AWS emulator, MariaDB) and deploy it.
    Up(UpArgs),
    /// Stop everything `up` started; nothing is left running.
    Down(StateArgs),
    /// The router's and the SFTP gateway's addresses, every site's URL and its tasks.
    Status(StatusArgs),
    /// Print the environment that points idealstack commands (deploy, site add, logs) at the local cluster.
    Env(StateArgs),
    /// The local platform itself (started by `up`, in the background).
    #[command(hide = true)]
    Serve(daemon::ServeArgs),
}

#[derive(clap::Args, Debug)]
struct StateArgs {
    #[command(flatten)]
    manifest: ManifestArg,
}

#[derive(clap::Args, Debug)]
struct StatusArgs {
    #[command(flatten)]
    manifest: ManifestArg,
    /// Print JSON on stdout.
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args, Debug)]
struct UpArgs {
    #[command(flatten)]
    manifest: ManifestArg,
    /// Local port of the router (the load balancers' HTTPS listener rules, served over HTTP).
    #[arg(long, default_value_t = 8088)]
    http_port: u16,
    /// Local port of the SFTP load balancer.
    #[arg(long, default_value_t = 2222)]
    sftp_port: u16,
    /// Python with moto installed (scripts/setup makes .venv/bin/python).
    #[arg(long, env = "IDEALSTACK_LOCAL_PYTHON", default_value = "python3")]
    python: PathBuf,
    /// The local CA that stands in for the RDS CA (the images carry its ca.pem as their
    /// database CA bundle; scripts/images makes it).
    #[arg(long, env = "IDEALSTACK_LOCAL_CA_DIR")]
    ca_dir: Option<PathBuf>,
    /// Seconds to wait for every site to answer.
    #[arg(long, default_value_t = 600)]
    timeout: u64,
}

/// What the background platform publishes about itself (`daemon.json`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DaemonInfo {
    pub pid: u32,
    pub stack: String,
    pub region: String,
    /// The emulator's endpoint (`http://<gateway>:<port>`), for the host and containers alike.
    pub endpoint: String,
    pub router: String,
    pub sftp: String,
    pub network: String,
}

/// The state folder of `stack` beside `manifest`.
fn state_dir(manifest: &Path, stack: &str) -> PathBuf {
    manifest
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .join(".idealstack")
        .join("local")
        .join(stack)
}

fn read_info(dir: &Path) -> Option<DaemonInfo> {
    let text = std::fs::read_to_string(dir.join("daemon.json")).ok()?;
    serde_json::from_str(&text).ok()
}

fn alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

/// The environment that points an idealstack command (or any AWS SDK) at the emulator.
fn emulator_env(info: &DaemonInfo) -> Vec<(&'static str, String)> {
    vec![
        ("AWS_ENDPOINT_URL", info.endpoint.clone()),
        ("AWS_ACCESS_KEY_ID", "testing".into()),
        ("AWS_SECRET_ACCESS_KEY", "testing".into()),
        ("AWS_SESSION_TOKEN", "testing".into()),
        ("AWS_REGION", info.region.clone()),
        ("AWS_EC2_METADATA_DISABLED", "true".into()),
    ]
}

/// Runs `idealstack local`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    match args.command {
        LocalCommand::Up(a) => up(a),
        LocalCommand::Down(a) => down(&a.manifest.path),
        LocalCommand::Status(a) => status(&a.manifest.path, a.json),
        LocalCommand::Env(a) => env(&a.manifest.path),
        LocalCommand::Serve(a) => daemon::serve(a),
    }
}

fn running_info(
    manifest: &Path,
) -> anyhow::Result<(idealstack_manifest::Model, PathBuf, DaemonInfo)> {
    let model = manifest_file::load(manifest)?;
    let dir = state_dir(manifest, &model.stack.name);
    match read_info(&dir) {
        Some(info) if alive(info.pid) => Ok((model, dir, info)),
        _ => bail!(
            "the local cluster of stack {} is not running: start it with `idealstack local up`",
            model.stack.name
        ),
    }
}

fn up(a: UpArgs) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    let model = manifest_file::load(&a.manifest.path)?;
    let stack = model.stack.name.clone();
    let dir = state_dir(&a.manifest.path, &stack);
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let info = match read_info(&dir) {
        Some(info) if alive(info.pid) => {
            eprintln!(
                "local: the local platform of {stack} is already running (pid {})",
                info.pid
            );
            info
        }
        _ => start_daemon(&a, &dir)?,
    };
    eprintln!(
        "local: AWS emulator at {}; deploying {stack} into it",
        info.endpoint
    );
    let me = std::env::current_exe().context("cannot find the idealstack binary")?;
    let status = Command::new(&me)
        .args(["deploy", "--poll", "1", "--cert-wait", "120", "--manifest"])
        .arg(&a.manifest.path)
        .envs(emulator_env(&info))
        .env_remove("AWS_PROFILE")
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .stdin(Stdio::null())
        .status()
        .context("cannot run idealstack deploy")?;
    if !status.success() {
        bail!(
            "deploying {stack} into the local emulator failed (above): fix the cause and run `idealstack local up` again; `idealstack local down` stops the local cluster"
        );
    }
    eprintln!(
        "local: waiting for every site to answer through the router at {}",
        info.router
    );
    let deadline = Instant::now() + Duration::from_secs(a.timeout);
    let mut waiting: Vec<(String, String, String)> = model
        .sites
        .iter()
        .map(|s| {
            (
                s.name.clone(),
                s.primary.as_str().to_string(),
                s.health_check_path.clone(),
            )
        })
        .collect();
    while !waiting.is_empty() {
        waiting.retain(|(site, host, path)| {
            let ok = http_status(&info.router, host, path).is_some_and(|c| (200..400).contains(&c));
            if ok {
                eprintln!(
                    "local: {site} answers ({:.0} s)",
                    started.elapsed().as_secs_f64()
                );
            }
            !ok
        });
        if waiting.is_empty() {
            break;
        }
        if Instant::now() > deadline {
            let names: Vec<&str> = waiting.iter().map(|(s, _, _)| s.as_str()).collect();
            bail!(
                "sites not answering after {} s: {}. See `idealstack local status` and {}",
                a.timeout,
                names.join(", "),
                dir.join("daemon.log").display()
            );
        }
        std::thread::sleep(Duration::from_secs(1));
    }
    eprintln!(
        "local: every site answers after {:.1} s",
        started.elapsed().as_secs_f64()
    );
    status_print(&model, &dir, &info, false)?;
    Ok(ExitCode::SUCCESS)
}

fn start_daemon(a: &UpArgs, dir: &Path) -> anyhow::Result<DaemonInfo> {
    let me = std::env::current_exe().context("cannot find the idealstack binary")?;
    let _ = std::fs::remove_file(dir.join("daemon.json"));
    let log = std::fs::File::create(dir.join("daemon.log"))
        .with_context(|| format!("cannot write {}", dir.join("daemon.log").display()))?;
    let mut cmd = Command::new("setsid");
    cmd.arg(&me)
        .args(["local", "serve", "--manifest"])
        .arg(&a.manifest.path)
        .arg("--http-port")
        .arg(a.http_port.to_string())
        .arg("--sftp-port")
        .arg(a.sftp_port.to_string())
        .arg("--python")
        .arg(&a.python);
    if let Some(ca) = &a.ca_dir {
        cmd.arg("--ca-dir").arg(ca);
    }
    // `setsid` execs in place (the child is not a group leader), so the child is the platform.
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()
        .context("cannot start the local platform (setsid idealstack local serve)")?;
    eprintln!(
        "local: starting the local platform (log: {})",
        dir.join("daemon.log").display()
    );
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        if let Some(info) = read_info(dir) {
            return Ok(info);
        }
        if let Ok(Some(status)) = child.try_wait() {
            let log = std::fs::read_to_string(dir.join("daemon.log")).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(5).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            bail!(
                "the local platform stopped while starting ({status}):\n  {}\nfix the cause and run `idealstack local up` again (whole log: {})",
                tail.join("\n  "),
                dir.join("daemon.log").display()
            );
        }
        if Instant::now() > deadline {
            bail!(
                "the local platform did not start within 180 s: see {}",
                dir.join("daemon.log").display()
            );
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// The HTTP status of `GET path` with `Host: host` sent to `router` (`127.0.0.1:port`).
fn http_status(router: &str, host: &str, path: &str) -> Option<u16> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(router).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: {host}\r\n\r\n").ok()?;
    let mut buf = [0u8; 64];
    let n = s.read(&mut buf).ok()?;
    String::from_utf8_lossy(&buf[..n])
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

fn down(manifest: &Path) -> anyhow::Result<ExitCode> {
    let model = manifest_file::load(manifest)?;
    let stack = &model.stack.name;
    let dir = state_dir(manifest, stack);
    if let Some(info) = read_info(&dir).filter(|i| alive(i.pid)) {
        {
            eprintln!("local: stopping the local platform (pid {})", info.pid);
            let _ = Command::new("kill").arg(info.pid.to_string()).status();
            let deadline = Instant::now() + Duration::from_secs(90);
            while alive(info.pid) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(250));
            }
            if alive(info.pid) {
                let _ = Command::new("kill")
                    .args(["-9", &info.pid.to_string()])
                    .status();
            }
        }
    }
    // Whatever is left (a platform killed hard): every container of the stack, and its network.
    daemon::remove_everything(stack);
    let _ = std::fs::remove_file(dir.join("daemon.json"));
    eprintln!(
        "local: {stack} is down; its data stays in {}",
        dir.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// One site in `local status`.
#[derive(Debug, Serialize)]
struct SiteLine {
    site: String,
    url: String,
    hosts: Vec<String>,
    answers: Option<u16>,
}

fn status(manifest: &Path, json: bool) -> anyhow::Result<ExitCode> {
    let (model, dir, info) = running_info(manifest)?;
    status_print(&model, &dir, &info, json)?;
    Ok(ExitCode::SUCCESS)
}

fn status_print(
    model: &idealstack_manifest::Model,
    dir: &Path,
    info: &DaemonInfo,
    json: bool,
) -> anyhow::Result<()> {
    let port = info.router.rsplit(':').next().unwrap_or("80");
    let sites: Vec<SiteLine> = model
        .sites
        .iter()
        .map(|s| SiteLine {
            site: s.name.clone(),
            url: format!("http://{}:{port}/", s.primary.as_str()),
            hosts: s
                .serve_hosts
                .iter()
                .map(|h| h.as_str().to_string())
                .collect(),
            answers: http_status(&info.router, s.primary.as_str(), &s.health_check_path),
        })
        .collect();
    let status: idealstack_local::supervise::Status =
        std::fs::read_to_string(dir.join("status.json"))
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or_default();
    if json {
        let mut out = BTreeMap::new();
        out.insert("stack", serde_json::json!(info.stack));
        out.insert("router", serde_json::json!(info.router));
        out.insert("sftp", serde_json::json!(info.sftp));
        out.insert("emulator", serde_json::json!(info.endpoint));
        out.insert("sites", serde_json::to_value(&sites)?);
        out.insert("services", serde_json::to_value(&status.services)?);
        out.insert("events", serde_json::to_value(&status.events)?);
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(());
    }
    println!("stack     {}", info.stack);
    println!(
        "router    http://{}  (the load balancers' rules; send each site's Host header)",
        info.router
    );
    println!(
        "sftp      {}  (idealstack sftp user add SITE NAME ... creates a login)",
        info.sftp
    );
    println!(
        "emulator  {}  (eval \"$(idealstack local env)\" points idealstack commands at it)",
        info.endpoint
    );
    println!();
    for s in &sites {
        let state = match s.answers {
            Some(c) => format!("answers {c}"),
            None => "not answering".into(),
        };
        println!(
            "site {:<16} {:<40} {state}   (curl --connect-to {}:{port}:{} {})",
            s.site,
            s.url,
            s.hosts.first().map(String::as_str).unwrap_or(""),
            info.router,
            s.url
        );
    }
    println!();
    for s in &status.services {
        let health = if s.load_balanced {
            format!("{} healthy", s.healthy)
        } else {
            "no load balancer".to_string()
        };
        println!(
            "service {:<40} {}/{} running, {health}  {}",
            s.name, s.running, s.desired, s.task_definition
        );
    }
    Ok(())
}

fn env(manifest: &Path) -> anyhow::Result<ExitCode> {
    let (_, _, info) = running_info(manifest)?;
    for (k, v) in emulator_env(&info) {
        println!("export {k}={v}");
    }
    Ok(ExitCode::SUCCESS)
}
