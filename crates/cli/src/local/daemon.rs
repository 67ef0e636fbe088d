//! `idealstack local serve`: the local platform, in the background. It owns everything that runs:
//! the podman network, the AWS emulator, MariaDB (when the stack has a database), the container
//! credentials endpoint on ECS's address, the router, the SFTP port, and the control loop
//! (idealstack_local::supervise). SIGTERM (from `local down`) stops all of it and removes every
//! container of the stack.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use idealstack_aws::local::LocalPort;
use idealstack_local::podman::Podman;
use idealstack_local::ports::Emulator;
use idealstack_local::supervise::{self, Config, Shared, Supervisor};
use idealstack_local::{credentials, database, emulator};

use super::DaemonInfo;
use crate::manifest_file::{self, ManifestArg};

#[derive(clap::Args, Debug)]
pub struct ServeArgs {
    #[command(flatten)]
    manifest: ManifestArg,
    #[arg(long)]
    http_port: u16,
    #[arg(long)]
    sftp_port: u16,
    #[arg(long)]
    python: PathBuf,
    #[arg(long)]
    ca_dir: Option<PathBuf>,
}

/// The podman network of `stack`.
pub fn network_name(stack: &str) -> String {
    format!("idealstack-{stack}")
}

/// The /24s the stack's network may take, in order: first one stable per name, away from podman's
/// default 10.88.0.0/16, then the others of 10.213.0.0/16 (when another network or interface on
/// the machine holds the first).
fn subnets(stack: &str) -> impl Iterator<Item = String> {
    let h = stack
        .bytes()
        .fold(17u32, |h, b| h.wrapping_mul(31).wrapping_add(b as u32));
    (0..250).map(move |i| format!("10.213.{}.0/24", 1 + (h + i) % 250))
}

/// Creates (or finds) the stack's network on the first free subnet; returns its gateway address.
fn create_network(podman: &Podman, name: &str, stack: &str) -> anyhow::Result<String> {
    let mut last = None;
    for subnet in subnets(stack) {
        match podman.network(name, &subnet) {
            Ok(gateway) => return Ok(gateway),
            Err(e) if e.to_string().contains("already used") => last = Some(e),
            Err(e) => {
                return Err(e).context(
                    "cannot create the podman network: podman needs the project's settings (CONTAINERS_CONF=scripts/containers.conf: netavark, runc, cgroupfs); run `eval \"$(scripts/local-env)\"` from the project, or scripts/setup if podman is missing",
                );
            }
        }
    }
    Err(anyhow::anyhow!(
        "no free /24 in 10.213.0.0/16 for the podman network {name}: {}; remove unused podman networks (podman network prune)",
        last.map(|e| e.to_string()).unwrap_or_default()
    ))
}

/// The label of the container that holds the network up.
const INFRA_LABEL: &str = "idealstack.local.infra";
/// The image it runs (the Debian base scripts/images makes for every other image).
const INFRA_IMAGE: &str = "docker.io/library/debian:trixie-slim";

/// Keeps the network's bridge (and so the host's address on it, which the emulator and the
/// database listen on) up while the platform runs: podman creates a bridge only while a container
/// is attached to it.
fn hold_network(podman: &Podman, stack: &str, network: &str) -> anyhow::Result<()> {
    let name = format!("idealstack-{stack}-network");
    let _ = podman.call(
        &["rm".into(), "--force".into(), name.clone()],
        &BTreeMap::new(),
    );
    let args: Vec<String> = [
        "run",
        "--detach",
        "--name",
        &name,
        "--network",
        network,
        "--label",
        &format!("{INFRA_LABEL}={stack}"),
        "--read-only",
        "--entrypoint",
        "sleep",
        INFRA_IMAGE,
        "infinity",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    podman
        .call(&args, &BTreeMap::new())
        .with_context(|| format!("cannot start the container that holds network {network} up (image {INFRA_IMAGE}: run scripts/images)"))?;
    Ok(())
}

/// Removes every container and the network of `stack` (what `local down` leaves nothing of).
pub fn remove_everything(stack: &str) {
    let podman = podman();
    let _ = podman.call(
        &[
            "rm".into(),
            "--force".into(),
            format!("idealstack-{stack}-network"),
        ],
        &BTreeMap::new(),
    );
    if let Ok(list) = podman.list(stack) {
        for c in list {
            let _ = podman.remove(&c.id);
        }
    }
    // A container killed hard can leave the bridge behind the network, holding its subnet.
    let bridge = podman
        .call(
            &[
                "network".into(),
                "inspect".into(),
                "--format".into(),
                "{{.NetworkInterface}}".into(),
                network_name(stack),
            ],
            &BTreeMap::new(),
        )
        .ok()
        .map(|out| out.trim().to_string())
        .filter(|b| !b.is_empty());
    let _ = podman.call(
        &[
            "network".into(),
            "rm".into(),
            "--force".into(),
            network_name(stack),
        ],
        &BTreeMap::new(),
    );
    if let Some(bridge) = bridge {
        let _ = Command::new("ip")
            .args(["link", "delete", &bridge])
            .stderr(std::process::Stdio::null())
            .status();
    }
}

fn podman() -> Podman {
    Podman {
        containers_conf: std::env::var_os("CONTAINERS_CONF").map(PathBuf::from),
    }
}

fn free_port(address: &str) -> anyhow::Result<u16> {
    let l = std::net::TcpListener::bind((address, 0))
        .with_context(|| format!("cannot bind a port on {address}"))?;
    Ok(l.local_addr()?.port())
}

/// Adds ECS's credentials address to the loopback interface (as the ECS agent makes it reachable
/// on an instance), unless it is there already.
fn credentials_address() -> anyhow::Result<()> {
    let have = Command::new("ip")
        .args(["-o", "addr", "show", "dev", "lo"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).contains(credentials::ADDRESS))
        .unwrap_or(false);
    if have {
        return Ok(());
    }
    let out = Command::new("ip")
        .args([
            "addr",
            "add",
            &format!("{}/32", credentials::ADDRESS),
            "dev",
            "lo",
        ])
        .output()
        .context("cannot run `ip` (iproute2)")?;
    if !out.status.success() {
        bail!(
            "cannot add {} to the loopback interface (containers fetch their credentials there, as on ECS): {}; run `idealstack local up` as root",
            credentials::ADDRESS,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

/// Runs the platform until SIGTERM or SIGINT.
pub fn serve(a: ServeArgs) -> anyhow::Result<std::process::ExitCode> {
    let model = manifest_file::load(&a.manifest.path)?;
    let stack = model.stack.name.clone();
    let dir = super::state_dir(&a.manifest.path, &stack);
    std::fs::create_dir_all(&dir)?;
    let dir = dir.canonicalize()?;
    let podman = podman();
    let network = network_name(&stack);
    let gateway = create_network(&podman, &network, &stack)?;
    if gateway.is_empty() {
        bail!("podman network {network} has no gateway address");
    }
    hold_network(&podman, &stack, &network)?;
    let port = free_port(&gateway)?;
    let mut moto = emulator::start(&a.python, &dir.join("emulator"), &gateway, port)?;
    let endpoint = format!("http://{gateway}:{port}");
    eprintln!("serve: AWS emulator at {endpoint}");

    let mut db = None;
    // The local CA stands in for RDS's: its bundle is laid over the one every image keeps.
    let mut platform_files = BTreeMap::new();
    let mut hosts = BTreeMap::new();
    if model.stack.database.is_some() {
        let ca_dir = a.ca_dir.clone().unwrap_or_else(|| dir.join("ca"));
        let ca = database::ensure_ca(&ca_dir)?;
        let private = idealstack_templates::private_domain(&stack);
        let names = vec![
            format!("*.aaaaaaaaaa.{}.rds.amazonaws.com", model.stack.region),
            format!("database.{private}"),
            "database".to_string(),
        ];
        let tls = dir.join("db-tls");
        let (cert, key) = database::issue(&ca_dir, &tls, &names)?;
        // The server reads the CA as the mysql user; the CA's own folder is private.
        let ca_copy = tls.join("ca.pem");
        std::fs::copy(&ca, &ca_copy).with_context(|| format!("cannot copy {}", ca.display()))?;
        platform_files.insert(
            idealstack_aws::agent::idealstack_agent::database::DEFAULT_CA_FILE.to_string(),
            ca_copy.clone(),
        );
        db = Some(database::Database::start(
            &dir.join("db"),
            &gateway,
            3306,
            &ca_copy,
            &cert,
            &key,
        )?);
        hosts.insert(format!("database.{private}"), gateway.clone());
        hosts.insert("database".to_string(), gateway.clone());
        eprintln!("serve: MariaDB (TLS required) at {gateway}:3306");
    }

    credentials_address()?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let result = rt.block_on(async {
        let shared = Arc::new(Shared::default());
        let creds = tokio::net::TcpListener::bind((credentials::ADDRESS, 80))
            .await
            .with_context(|| {
                format!(
                    "cannot listen on {}:80 (the container credentials endpoint)",
                    credentials::ADDRESS
                )
            })?;
        tokio::spawn(credentials::serve(shared.roles.clone(), creds));
        let router_addr = format!("127.0.0.1:{}", a.http_port);
        let router = tokio::net::TcpListener::bind(&router_addr)
            .await
            .with_context(|| {
                format!("cannot listen on {router_addr}: pass --http-port with a free port")
            })?;
        tokio::spawn(idealstack_local::router::serve(
            shared.router.clone(),
            router,
        ));
        let sftp_addr = format!("127.0.0.1:{}", a.sftp_port);
        let sftp = tokio::net::TcpListener::bind(&sftp_addr)
            .await
            .with_context(|| {
                format!("cannot listen on {sftp_addr}: pass --sftp-port with a free port")
            })?;
        tokio::spawn(supervise::serve_tcp(shared.sftp_targets.clone(), sftp));

        let port_for_logs = LocalPort::connect(&endpoint, &model.stack.region).await;
        let em = LocalPort::connect(&endpoint, &model.stack.region).await;
        let (logs_tx, logs_rx) = tokio::sync::mpsc::channel(256);
        tokio::spawn(supervise::ship_logs(port_for_logs, logs_rx));
        let config = Config {
            stack: stack.clone(),
            cluster: idealstack_templates::cluster_stack_name(&stack),
            efs_root: dir.join("efs"),
            network: network.clone(),
            gateway: gateway.clone(),
            container_endpoint: endpoint.clone(),
            hosts,
            podman: podman.clone(),
            interval: Duration::from_secs(2),
            status_file: dir.join("status.json"),
            platform_files,
            ulimit_ceilings: podman
                .containers_conf
                .as_ref()
                .and_then(|p| std::fs::read_to_string(p).ok())
                .map(|c| idealstack_local::podman::default_ulimits(&c))
                .unwrap_or_default(),
        };
        let info = DaemonInfo {
            pid: std::process::id(),
            stack: stack.clone(),
            region: model.stack.region.clone(),
            endpoint: endpoint.clone(),
            router: router_addr.clone(),
            sftp: sftp_addr.clone(),
            network: network.clone(),
        };
        std::fs::write(dir.join("daemon.json"), serde_json::to_vec_pretty(&info)?)?;
        eprintln!("serve: router on {router_addr}, SFTP on {sftp_addr}");

        let mut sup = Supervisor::new(config, em, shared.clone(), logs_tx);
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        let mut master_ready = db.is_none();
        let data_stack = idealstack_templates::data_stack_name(&stack);
        loop {
            if let (false, Some(d)) = (master_ready, &db) {
                {
                    match database_outputs(&sup.emulator, &data_stack).await {
                        Ok(Some((endpoint_host, user, password))) => {
                            sup.config.hosts.insert(endpoint_host, gateway.clone());
                            match d.master_user(&user, &password) {
                                Ok(()) => {
                                    eprintln!("serve: the database's master user {user} is ready");
                                    master_ready = true;
                                }
                                Err(e) => eprintln!("serve: master user: {e}"),
                            }
                        }
                        Ok(None) => {}
                        Err(e) => eprintln!("serve: {e}"),
                    }
                }
            }
            if let Err(e) = sup.pass().await {
                eprintln!("serve: pass failed: {e}");
            }
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(2)) => {}
                _ = term.recv() => break,
                _ = tokio::signal::ctrl_c() => break,
            }
        }
        anyhow::Ok(())
    });
    eprintln!("serve: stopping");
    remove_everything(&stack);
    if let Some(mut d) = db {
        d.stop();
    }
    let _ = moto.kill();
    let _ = moto.wait();
    let _ = std::fs::remove_file(dir.join("daemon.json"));
    result?;
    Ok(std::process::ExitCode::SUCCESS)
}

/// The database endpoint and master credentials, once the data stack and its secret exist.
async fn database_outputs(
    em: &LocalPort,
    data_stack: &str,
) -> anyhow::Result<Option<(String, String, String)>> {
    let outputs = em.stack_outputs(data_stack).await?;
    let (Some(host), Some(secret)) = (
        outputs.get("DatabaseEndpointAddress"),
        outputs.get("DatabaseMasterSecretArn"),
    ) else {
        return Ok(None);
    };
    let text = match em.secret_string(secret).await {
        Ok(t) => t,
        Err(e) => bail!("the database master secret {secret}: {e}"),
    };
    let v: serde_json::Value = serde_json::from_str(&text)
        .with_context(|| format!("the database master secret {secret} is not JSON"))?;
    let user = v["username"].as_str().unwrap_or("admin").to_string();
    let password = v["password"].as_str().unwrap_or_default().to_string();
    Ok(Some((host.clone(), user, password)))
}
