//! Test bed for the SFTP gateway tests: a scratch `/sites` tree following the EFS contract, the
//! real `idealstack` binary serving it on a loopback port, and the real clients (OpenSSH `sftp`
//! in batch mode, paramiko) driving it. Tests run as root (as in CI) so the gateway can take
//! each site's uid/gid; a missing tool fails with the set-up command to run.

#![allow(dead_code)]

use idealstack_testbed::{
    ChildGuard, free_port, scratch_dir, system_tool, venv_tool, wait_for_port,
};
use std::io::Write;
use std::net::SocketAddr;
use std::os::unix::fs::{PermissionsExt, chown};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

pub const SHOP_UID: u32 = 20001;
pub const SHOP2_UID: u32 = 20002;
pub const PASSWORD: &str = "correct horse battery staple";

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_idealstack")
}

/// Runs a command, returning its output; panics if it cannot start.
pub fn run(cmd: &mut Command) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"))
}

fn must(cmd: &mut Command) -> Output {
    let out = run(cmd);
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The scratch world: sites, outside files, keys, the user store and the gateway.
pub struct Bed {
    pub dir: idealstack_testbed::tempdir::TempDir,
    pub port: u16,
    gateway: Option<ChildGuard>,
}

impl Bed {
    pub fn root(&self) -> &Path {
        self.dir.path()
    }
    pub fn sites(&self) -> PathBuf {
        self.root().join("sites")
    }
    pub fn shop(&self) -> PathBuf {
        self.sites().join("shop")
    }
    pub fn users(&self) -> PathBuf {
        self.root().join("users.json")
    }
    pub fn key(&self, name: &str) -> PathBuf {
        self.root().join("keys").join(name)
    }
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.root().join("gateway.log")).unwrap_or_default()
    }

    /// Builds the world: sites `shop` (uid 20001) and `shop2` (uid 20002, a sibling whose name
    /// extends shop's), a secret outside every site, and logins:
    /// alice (shop, key + password), reader (shop, key, read-only), bob (shop2, key).
    pub fn new(tag: &str) -> Bed {
        assert!(
            rustix_is_root(),
            "the SFTP tests run as root (as CI does): the gateway takes each site's uid/gid"
        );
        let dir = scratch_dir(tag);
        let root = dir.path().to_path_buf();
        std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o755)).unwrap();
        for (site, uid) in [("shop", SHOP_UID), ("shop2", SHOP2_UID)] {
            let s = root.join("sites").join(site);
            std::fs::create_dir_all(&s).unwrap();
            std::fs::set_permissions(&s, std::fs::Permissions::from_mode(0o755)).unwrap();
            for sub in ["public_html", "private", "tmp"] {
                let d = s.join(sub);
                std::fs::create_dir_all(&d).unwrap();
                chown(&d, Some(uid), Some(uid)).unwrap();
            }
        }
        std::fs::write(
            root.join("sites/shop2/public_html/secret.txt"),
            "SHOP2-SECRET",
        )
        .unwrap();
        std::fs::create_dir_all(root.join("outside")).unwrap();
        std::fs::write(root.join("outside/secret.txt"), "OUTSIDE-SECRET").unwrap();
        std::fs::create_dir_all(root.join("keys")).unwrap();
        for k in ["alice", "reader", "bob", "stranger"] {
            must(
                Command::new(system_tool("ssh-keygen"))
                    .args(["-q", "-t", "ed25519", "-N", "", "-C", k, "-f"])
                    .arg(root.join("keys").join(k)),
            );
        }
        let bed = Bed {
            dir,
            port: 0,
            gateway: None,
        };
        bed.add_user(
            "shop",
            "alice",
            &["--uid", "20001", "--gid", "20001", "--password-stdin"],
            Some(PASSWORD),
        );
        bed.add_user("shop", "reader", &["--read-only"], None);
        bed.add_user("shop2", "bob", &["--uid", "20002", "--gid", "20002"], None);
        bed
    }

    /// `idealstack sftp user add SITE NAME --key keys/NAME.pub ...`
    pub fn add_user(&self, site: &str, name: &str, extra: &[&str], password: Option<&str>) {
        let mut cmd = Command::new(bin());
        cmd.args(["sftp", "user", "add", site, name, "--users"])
            .arg(self.users());
        cmd.arg("--key").arg(self.key(name).with_extension("pub"));
        cmd.args(extra)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        if let Some(pw) = password {
            writeln!(child.stdin.take().unwrap(), "{pw}").unwrap();
        }
        drop(child.stdin.take());
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "user add {name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Starts (or restarts) the gateway on a fresh loopback port.
    pub fn start(&mut self, extra: &[&str]) {
        self.gateway = None;
        self.port = free_port();
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.root().join("gateway.log"))
            .unwrap();
        let child = Command::new(bin())
            .args([
                "sftp",
                "serve",
                "--listen",
                &format!("127.0.0.1:{}", self.port),
            ])
            .arg("--host-key-dir")
            .arg(self.root().join("hostkeys"))
            .arg("--sites-root")
            .arg(self.sites())
            .arg("--users")
            .arg(self.users())
            .args([
                "--reload-seconds",
                "1",
                "--auth-rejection-ms",
                "50",
                "--max-failures",
                "5",
            ])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn idealstack sftp serve");
        let mut guard = ChildGuard::new(child, "idealstack sftp serve");
        wait_for_port(
            SocketAddr::from(([127, 0, 0, 1], self.port)),
            Duration::from_secs(30),
            "the SFTP gateway",
        );
        guard.assert_running();
        self.gateway = Some(guard);
    }

    pub fn assert_running(&mut self) {
        self.gateway
            .as_mut()
            .expect("gateway started")
            .assert_running();
    }

    /// Runs OpenSSH `sftp -b -` as `user` with its key; returns the output.
    pub fn sftp(&self, user: &str, batch: &str) -> Output {
        self.sftp_with_key(user, &self.key(user), batch)
    }

    pub fn sftp_with_key(&self, user: &str, key: &Path, batch: &str) -> Output {
        idealstack_testbed::sftp_batch(self.port, user, key, self.root(), batch)
    }

    /// Runs a paramiko script. The script gets `connect(user, password=None, key=None)` returning an
    /// SFTPClient, plus PORT, KEYS (folder) and ROOT (scratch root) as globals.
    pub fn paramiko(&self, script: &str) -> Output {
        let prelude = format!(
            r#"
import paramiko, os, sys, stat, time, socket
PORT = {port}
KEYS = {keys:?}
ROOT = {root:?}
def transport(user, password=None, key=None):
    t = paramiko.Transport(("127.0.0.1", PORT))
    t.banner_timeout = 20
    t.connect()
    if key:
        t.auth_publickey(user, paramiko.Ed25519Key.from_private_key_file(os.path.join(KEYS, key)))
    else:
        t.auth_password(user, password)
    return t
def connect(user, password=None, key=None):
    return paramiko.SFTPClient.from_transport(transport(user, password, key))
"#,
            port = self.port,
            keys = self.root().join("keys").display().to_string(),
            root = self.root().display().to_string(),
        );
        let path = self.root().join("script.py");
        std::fs::write(&path, format!("{prelude}\n{script}")).unwrap();
        run(Command::new(venv_tool("python"))
            .arg(&path)
            .current_dir(self.root()))
    }
}

/// Asserts a command succeeded, showing its output otherwise.
pub fn ok(out: &Output, what: &str) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{what} failed ({}):\nstdout:\n{stdout}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

fn rustix_is_root() -> bool {
    // SAFETY-free check: the real uid of this process, read from /proc.
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .map(|l| l.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false)
}

/// Writes a deterministic pseudo-random file of `len` bytes.
pub fn pseudo_random_file(path: &Path, len: usize, seed: u64) {
    let mut x = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407)
        | 1;
    let mut data = Vec::with_capacity(len);
    while data.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        data.extend_from_slice(&x.to_le_bytes());
    }
    data.truncate(len);
    std::fs::write(path, data).unwrap();
}

/// Every file under `dir` with its contents, relative paths sorted.
pub fn tree(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    fn walk(base: &Path, dir: &Path, out: &mut Vec<(String, Vec<u8>)>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let e = e.unwrap();
            let p = e.path();
            if e.file_type().unwrap().is_dir() {
                walk(base, &p, out);
            } else {
                out.push((
                    p.strip_prefix(base).unwrap().display().to_string(),
                    std::fs::read(&p).unwrap(),
                ));
            }
        }
    }
    walk(dir, dir, &mut out);
    out.sort();
    out
}
