//! Test support shared by every crate's tests: where the project's tools live and how to start the
//! real peers the suite runs against on loopback (see DESIGN.md, "Test beds").
//!
//! Nothing here is used by production code. A tool that is missing is a hard failure with a message
//! naming the set-up command, never a silent skip: a skipped test proves nothing.

pub mod lint;
pub mod mariadb;
pub mod podman;

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Environment for a child process that must talk to an emulator at `endpoint` with dummy
/// credentials in us-east-1, and nothing of the user's own AWS configuration.
pub fn emulator_env(endpoint: &str) -> Vec<(&'static str, String)> {
    vec![
        ("AWS_ENDPOINT_URL", endpoint.to_string()),
        ("AWS_ACCESS_KEY_ID", "testing".into()),
        ("AWS_SECRET_ACCESS_KEY", "testing".into()),
        ("AWS_SESSION_TOKEN", "testing".into()),
        ("AWS_REGION", "us-east-1".into()),
        ("AWS_DEFAULT_REGION", "us-east-1".into()),
        ("AWS_CONFIG_FILE", "/dev/null".into()),
        ("AWS_SHARED_CREDENTIALS_FILE", "/dev/null".into()),
        ("AWS_EC2_METADATA_DISABLED", "true".into()),
    ]
}

/// The repository root (the folder holding the workspace `Cargo.toml`).
pub fn project_root() -> PathBuf {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    here.ancestors()
        .nth(2)
        .expect("crates/testbed sits two levels below the root")
        .to_path_buf()
}

/// Path of a program installed into the project's virtual environment by `scripts/setup`.
///
/// Panics with the set-up command to run when it is missing.
pub fn venv_tool(name: &str) -> PathBuf {
    let path = project_root().join(".venv").join("bin").join(name);
    assert!(
        path.exists(),
        "{name} is not installed at {}: run scripts/setup (or scripts/test) first",
        path.display()
    );
    path
}

/// Path of a system program (from a Debian package listed in scripts/apt-packages.txt).
///
/// Panics with the set-up command to run when it is missing.
pub fn system_tool(name: &str) -> PathBuf {
    for dir in ["/usr/sbin", "/usr/bin", "/sbin", "/bin", "/usr/local/bin"] {
        let path = Path::new(dir).join(name);
        if path.exists() {
            return path;
        }
    }
    panic!("{name} is not installed: run scripts/setup (it installs scripts/apt-packages.txt)");
}

/// OpenSSH's `sftp -b -` on 127.0.0.1:`port` as `user` with the private key `key` only (no
/// agent, no password, no host key check), from `cwd`, running the commands in `batch`.
pub fn sftp_batch(port: u16, user: &str, key: &Path, cwd: &Path, batch: &str) -> Output {
    use std::io::Write;
    let mut child = Command::new(system_tool("sftp"))
        .args(["-b", "-", "-P", &port.to_string(), "-i"])
        .arg(key)
        .args([
            "-o",
            "StrictHostKeyChecking=no",
            "-o",
            "UserKnownHostsFile=/dev/null",
            "-o",
            "BatchMode=yes",
            "-o",
            "IdentitiesOnly=yes",
            "-o",
            "IdentityAgent=none",
            "-o",
            "LogLevel=ERROR",
            "-o",
            "ConnectTimeout=20",
        ])
        .arg(format!("{user}@127.0.0.1"))
        .current_dir(cwd)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn sftp");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(batch.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

/// A TCP port on 127.0.0.1 that was free a moment ago.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("bind an ephemeral port on loopback")
}

/// Waits until something accepts TCP connections on `addr`, or panics after `timeout`.
pub fn wait_for_port(addr: SocketAddr, timeout: Duration, what: &str) {
    let start = Instant::now();
    while start.elapsed() < timeout {
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("{what} did not listen on {addr} within {timeout:?}");
}

/// A child process killed (and reaped) when dropped, so a failing test leaves nothing running.
#[derive(Debug)]
pub struct ChildGuard {
    child: Child,
    name: String,
}

impl ChildGuard {
    /// Wraps a spawned child; `name` appears in panic messages.
    pub fn new(child: Child, name: impl Into<String>) -> Self {
        ChildGuard {
            child,
            name: name.into(),
        }
    }

    /// The process id.
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// Panics if the process has already exited (used after start-up to catch a crash early).
    pub fn assert_running(&mut self) {
        if let Ok(Some(status)) = self.child.try_wait() {
            panic!("{} exited early with {status}", self.name);
        }
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A moto server (the AWS emulator) on a loopback port of its own, stopped when dropped.
///
/// Each test that needs AWS starts its own, so tests never see each other's resources.
#[derive(Debug)]
pub struct Moto {
    guard: ChildGuard,
    port: u16,
}

impl Moto {
    /// Starts `moto_server` from the project's venv and waits until it answers.
    pub fn start() -> Moto {
        let port = free_port();
        let mut command = Command::new(venv_tool("moto_server"));
        command.args(["-H", "127.0.0.1", "-p", &port.to_string()]);
        Moto::spawn(command, port, "moto_server")
    }

    /// Starts moto server with the agent's named emulator gaps filled
    /// (`crates/testbed/moto/agent_gaps.py`: instance refreshes, service tasks, a disconnected ECS
    /// agent, a failing PHP health check) and waits until it answers.
    pub fn start_agent() -> Moto {
        let port = free_port();
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("moto/agent_gaps.py");
        let mut command = Command::new(venv_tool("python"));
        command.arg(script).arg(port.to_string());
        Moto::spawn(command, port, "moto agent_gaps.py")
    }

    fn spawn(mut command: Command, port: u16, name: &str) -> Moto {
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {name} (run scripts/setup for the venv): {e}"));
        // Drain stderr in the background so the server never blocks on a full pipe; keep the
        // lines available for debugging through MOTO_LOG=1.
        if let Some(err) = child.stderr.take() {
            std::thread::spawn(move || {
                let verbose = std::env::var_os("MOTO_LOG").is_some();
                for line in BufReader::new(err).lines().map_while(Result::ok) {
                    if verbose {
                        eprintln!("moto: {line}");
                    }
                }
            });
        }
        let mut guard = ChildGuard::new(child, name);
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        wait_for_port(addr, Duration::from_secs(60), name);
        guard.assert_running();
        Moto { guard, port }
    }

    /// The endpoint URL to give the AWS SDK (`AWS_ENDPOINT_URL`).
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Environment for a child process (or an SDK config) that must talk to this emulator with
    /// dummy credentials.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        emulator_env(&self.endpoint())
    }

    /// The server process id.
    pub fn pid(&self) -> u32 {
        self.guard.id()
    }
}

/// A fresh scratch directory under the target directory, removed when dropped.
pub fn scratch_dir(prefix: &str) -> tempdir::TempDir {
    tempdir::TempDir::new(prefix)
}

/// A minimal temporary directory (no dependency needed for something this small).
pub mod tempdir {
    use std::path::{Path, PathBuf};
    use std::sync::atomic::{AtomicU32, Ordering};

    static COUNTER: AtomicU32 = AtomicU32::new(0);

    /// A directory deleted (recursively) on drop unless `KEEP_SCRATCH` is set.
    #[derive(Debug)]
    pub struct TempDir {
        path: PathBuf,
    }

    impl TempDir {
        /// Creates `<tmp>/idealstack-<prefix>-<pid>-<n>`.
        pub fn new(prefix: &str) -> TempDir {
            let n = COUNTER.fetch_add(1, Ordering::SeqCst);
            let path = std::env::temp_dir()
                .join(format!("idealstack-{prefix}-{}-{n}", std::process::id()));
            let _ = std::fs::remove_dir_all(&path);
            std::fs::create_dir_all(&path).expect("create scratch dir");
            TempDir { path }
        }

        /// The directory.
        pub fn path(&self) -> &Path {
            &self.path
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            if std::env::var_os("KEEP_SCRATCH").is_none() {
                let _ = std::fs::remove_dir_all(&self.path);
            }
        }
    }
}
