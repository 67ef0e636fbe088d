//! Test support for `idealstack local`: a scratch project with a manifest, the images built from
//! the project's Dockerfiles (scripts/images through the testbed), `local up` on free ports, every
//! idealstack command pointed at the local cluster, and `local down` when dropped.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use idealstack_testbed::{free_port, project_root, scratch_dir, venv_tool};

/// An HTTP answer through the router.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub body: String,
}

/// A stack running under `idealstack local`.
pub struct Local {
    pub dir: idealstack_testbed::tempdir::TempDir,
    pub http_port: u16,
    pub sftp_port: u16,
    up: bool,
}

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_idealstack")
}

impl Local {
    /// Writes `manifest` into a scratch project; nothing runs yet.
    pub fn new(name: &str, manifest: &str) -> Local {
        idealstack_testbed::podman::ensure_images();
        let dir = scratch_dir(name);
        std::fs::write(dir.path().join("idealstack.toml"), manifest).unwrap();
        Local {
            dir,
            http_port: free_port(),
            sftp_port: free_port(),
            up: false,
        }
    }

    /// The environment of every idealstack call.
    fn base(&self, args: &[&str]) -> Command {
        let mut c = Command::new(bin());
        c.args(args)
            .current_dir(self.dir.path())
            .env(
                "CONTAINERS_CONF",
                idealstack_testbed::podman::containers_conf(),
            )
            .env("IDEALSTACK_LOCAL_PYTHON", venv_tool("python"))
            .env("IDEALSTACK_LOCAL_CA_DIR", project_root().join(".local/ca"))
            .env("IDEALSTACK_PLAIN", "1")
            .stdin(Stdio::null());
        c
    }

    /// `idealstack local up`; panics with its output (and the platform's log) on failure.
    pub fn up(&mut self) -> Duration {
        let started = Instant::now();
        let out = self
            .up_child()
            .wait_with_output()
            .expect("run idealstack local up");
        assert!(
            out.status.success(),
            "local up failed:\nstdout:\n{}\nstderr:\n{}\nplatform log:\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            self.platform_log()
        );
        started.elapsed()
    }

    /// `idealstack local up` started, not waited for (output piped).
    pub fn up_child(&mut self) -> std::process::Child {
        self.up = true;
        self.base(&[
            "local",
            "up",
            "--http-port",
            &self.http_port.to_string(),
            "--sftp-port",
            &self.sftp_port.to_string(),
            "--timeout",
            "600",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run idealstack local up")
    }

    /// The emulator's endpoint once the platform runs (its daemon.json), else `None`.
    pub fn endpoint_if_up(&self) -> Option<String> {
        let local = self.dir.path().join(".idealstack/local");
        let entry = std::fs::read_dir(&local).ok()?.flatten().next()?;
        let text = std::fs::read_to_string(entry.path().join("daemon.json")).ok()?;
        let v: serde_json::Value = serde_json::from_str(&text).ok()?;
        v["endpoint"].as_str().map(str::to_string)
    }

    /// The output of the containers of the service whose name contains `part`.
    pub fn logs_of_service(&self, part: &str) -> String {
        let json = self.podman(&[
            "ps",
            "--all",
            "--format",
            "json",
            "--filter",
            &format!("label=idealstack.local.stack={}", self.stack()),
        ]);
        let list: Vec<serde_json::Value> = serde_json::from_str(&json).unwrap_or_default();
        let mut text = String::new();
        for c in list.iter().filter(|c| {
            c["Labels"]["idealstack.local.service"]
                .as_str()
                .is_some_and(|s| s.contains(part))
        }) {
            let id = c["Id"].as_str().unwrap_or_default();
            let out = Command::new("podman")
                .env(
                    "CONTAINERS_CONF",
                    idealstack_testbed::podman::containers_conf(),
                )
                .args(["logs", id])
                .output()
                .unwrap();
            text.push_str(&String::from_utf8_lossy(&out.stdout));
            text.push_str(&String::from_utf8_lossy(&out.stderr));
        }
        text
    }

    /// The background platform's log.
    pub fn platform_log(&self) -> String {
        let local = self.dir.path().join(".idealstack/local");
        let mut text = String::new();
        if let Ok(entries) = std::fs::read_dir(&local) {
            for e in entries.flatten() {
                text.push_str(
                    &std::fs::read_to_string(e.path().join("daemon.log")).unwrap_or_default(),
                );
            }
        }
        let n = text.len();
        text[n.saturating_sub(20_000)..].to_string()
    }

    /// The environment `local env` prints (the emulator's endpoint and credentials).
    pub fn env(&self) -> Vec<(String, String)> {
        let out = self.base(&["local", "env"]).output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.strip_prefix("export "))
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    /// Runs idealstack with the local cluster's environment.
    pub fn idealstack(&self, args: &[&str], stdin: Option<&str>) -> Output {
        let mut c = self.base(args);
        c.envs(self.env())
            .env("AWS_CONFIG_FILE", "/dev/null")
            .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null");
        if let Some(input) = stdin {
            use std::io::Write;
            c.stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped());
            let mut child = c.spawn().unwrap();
            child
                .stdin
                .take()
                .unwrap()
                .write_all(input.as_bytes())
                .unwrap();
            return child.wait_with_output().unwrap();
        }
        c.output().unwrap()
    }

    /// Runs idealstack against the local cluster and panics unless it succeeds; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.idealstack(args, None);
        assert!(
            out.status.success(),
            "idealstack {} failed:\nstdout:\n{}\nstderr:\n{}\nplatform log:\n{}",
            args.join(" "),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            self.platform_log()
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `local status --json`.
    pub fn status(&self) -> serde_json::Value {
        let out = self.base(&["local", "status", "--json"]).output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }

    /// The local EFS folder of the stack (`<state>/efs/<file system>/`).
    pub fn efs(&self, stack: &str) -> PathBuf {
        let efs = self
            .dir
            .path()
            .join(".idealstack/local")
            .join(stack)
            .join("efs");
        std::fs::read_dir(&efs)
            .ok()
            .and_then(|mut d| d.next())
            .and_then(|e| e.ok())
            .map(|e| e.path())
            .unwrap_or(efs)
    }

    /// `curl` through the router for `host` (resolved to the router), with `extra` curl arguments.
    pub fn get_with(&self, host: &str, path: &str, extra: &[&str]) -> Answer {
        let out = Command::new("curl")
            .args(["-s", "-o", "-", "-w", "\n%{http_code}", "--max-time", "20"])
            .args(extra)
            .arg("--resolve")
            .arg(format!("{host}:{}:127.0.0.1", self.http_port))
            .arg(format!("http://{host}:{}{path}", self.http_port))
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
        Answer {
            status: code.trim().parse().unwrap_or(0),
            body: body.to_string(),
        }
    }

    /// `GET path` on `host` through the router.
    pub fn get(&self, host: &str, path: &str) -> Answer {
        self.get_with(host, path, &[])
    }

    /// Waits until `host` answers `path` with `want` (or panics after `timeout`).
    pub fn wait_for(&self, host: &str, path: &str, want: u16, timeout: Duration) -> Duration {
        let started = Instant::now();
        loop {
            let got = self.get(host, path);
            if got.status == want {
                return started.elapsed();
            }
            assert!(
                started.elapsed() < timeout,
                "{host}{path} answered {}, not {want}, after {timeout:?}\nplatform log:\n{}",
                got.status,
                self.platform_log()
            );
            std::thread::sleep(Duration::from_millis(500));
        }
    }

    /// The emulator's endpoint (from `local env`).
    pub fn endpoint(&self) -> String {
        self.env()
            .into_iter()
            .find(|(k, _)| k == "AWS_ENDPOINT_URL")
            .map(|(_, v)| v.trim_matches('\'').to_string())
            .expect("local env prints AWS_ENDPOINT_URL")
    }

    /// Verifies `domain` in the emulator's SES (what a user does with the DNS records SES gives).
    pub fn verify_email_domain(&self, domain: &str) {
        let out = Command::new("curl")
            .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", "-X", "POST"])
            .args(["-H", "Content-Type: application/json", "-H"])
            .arg("Authorization: AWS4-HMAC-SHA256 Credential=testing/20261126/us-east-1/ses/aws4_request, SignedHeaders=host, Signature=0")
            .arg("--data-binary")
            .arg(format!("{{\"EmailIdentity\":\"{domain}\"}}"))
            .arg(format!("{}/v2/email/identities", self.endpoint()))
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "200",
            "CreateEmailIdentity {domain}"
        );
    }

    /// An ed25519 key pair in the scratch folder (`<path>` and `<path>.pub`).
    pub fn key(&self, name: &str) -> PathBuf {
        let path = self.dir.path().join(format!("key-{name}"));
        if !path.exists() {
            let out = Command::new("ssh-keygen")
                .args(["-q", "-t", "ed25519", "-N", "", "-C", name, "-f"])
                .arg(&path)
                .output()
                .unwrap();
            assert!(out.status.success(), "ssh-keygen");
        }
        path
    }

    /// OpenSSH `sftp -b -` through the local SFTP port, from the scratch folder, retried until it
    /// succeeds (a new login reaches the gateways within their store refresh) or 60 s pass.
    pub fn sftp_until_ok(&self, user: &str, key: &Path, batch: &str) -> Output {
        let started = Instant::now();
        loop {
            let out =
                idealstack_testbed::sftp_batch(self.sftp_port, user, key, self.dir.path(), batch);
            if out.status.success() {
                return out;
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "sftp as {user} failed:\n{}\n{}\nplatform log:\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr),
                self.platform_log()
            );
            std::thread::sleep(Duration::from_secs(1));
        }
    }

    /// The folder of `site` on the local EFS (`<state>/efs/<file system>/sites/<site>`).
    pub fn site_folder(&self, stack: &str, site: &str) -> PathBuf {
        self.efs(stack).join("sites").join(site)
    }

    /// Runs podman (with the project's containers.conf); panics unless it succeeds.
    pub fn podman(&self, args: &[&str]) -> String {
        let out = Command::new("podman")
            .env(
                "CONTAINERS_CONF",
                idealstack_testbed::podman::containers_conf(),
            )
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "podman {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The running containers of `site`'s service: (name, image).
    fn site_containers(&self, site: &str) -> Vec<(String, String)> {
        let stack = self.stack();
        let json = self.podman(&[
            "ps",
            "--format",
            "json",
            "--filter",
            &format!("label=idealstack.local.stack={stack}"),
        ]);
        let list: Vec<serde_json::Value> = serde_json::from_str(&json).unwrap_or_default();
        let service = format!("{stack}-site-{site}-");
        list.iter()
            .filter(|c| {
                c["Labels"]["idealstack.local.service"]
                    .as_str()
                    .is_some_and(|s| s.starts_with(&service))
            })
            .map(|c| {
                (
                    c["Names"][0].as_str().unwrap_or_default().to_string(),
                    c["Image"].as_str().unwrap_or_default().to_string(),
                )
            })
            .collect()
    }

    /// Names of the running containers of `site`.
    pub fn containers_of(&self, site: &str) -> Vec<String> {
        self.site_containers(site)
            .into_iter()
            .map(|(n, _)| n)
            .collect()
    }

    /// Images of the running containers of `site`.
    pub fn images_of(&self, site: &str) -> Vec<String> {
        self.site_containers(site)
            .into_iter()
            .map(|(_, i)| i)
            .collect()
    }

    /// The stack's name, from the manifest.
    fn stack(&self) -> String {
        let text = std::fs::read_to_string(self.dir.path().join("idealstack.toml")).unwrap();
        text.lines()
            .find_map(|l| l.trim().strip_prefix("name = \""))
            .and_then(|l| l.strip_suffix('"'))
            .expect("the manifest names the stack")
            .to_string()
    }

    /// `local down`.
    pub fn down(&mut self) {
        if self.up {
            self.up = false;
            let out = self.base(&["local", "down"]).output().unwrap();
            assert!(
                out.status.success(),
                "local down: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
}

impl Drop for Local {
    fn drop(&mut self) {
        if self.up {
            let _ = self.base(&["local", "down"]).output();
        }
    }
}

/// Containers of `stack` podman runs now (names).
pub fn containers(stack: &str) -> Vec<String> {
    let out = Command::new("podman")
        .env(
            "CONTAINERS_CONF",
            idealstack_testbed::podman::containers_conf(),
        )
        .args(["ps", "--format", "{{.Names}}", "--filter"])
        .arg(format!("label=idealstack.local.stack={stack}"))
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

/// The folder of this file's crate (for fixtures).
pub fn here() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}
