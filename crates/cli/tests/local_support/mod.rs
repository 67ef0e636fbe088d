//! Test support for `idealstack local`: a scratch project with a manifest, the images built from
//! the project's Dockerfiles (scripts/images through the testbed), `local up` on free ports, every
//! idealstack command pointed at the local cluster, and `local down` when dropped.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use idealstack_testbed::{free_port, project_root, scratch_dir, venv_tool};

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
            .env("CONTAINERS_CONF", idealstack_testbed::podman::containers_conf())
            .env("IDEALSTACK_LOCAL_PYTHON", venv_tool("python"))
            .env("IDEALSTACK_LOCAL_CA_DIR", project_root().join(".local/ca"))
            .env("IDEALSTACK_PLAIN", "1")
            .stdin(Stdio::null());
        c
    }

    /// `idealstack local up`; panics with its output (and the platform's log) on failure.
    pub fn up(&mut self) -> Duration {
        let started = Instant::now();
        self.up = true;
        let out = self
            .base(&[
                "local",
                "up",
                "--http-port",
                &self.http_port.to_string(),
                "--sftp-port",
                &self.sftp_port.to_string(),
                "--timeout",
                "600",
            ])
            .output()
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

    /// The background platform's log.
    pub fn platform_log(&self) -> String {
        let local = self.dir.path().join(".idealstack/local");
        let mut text = String::new();
        if let Ok(entries) = std::fs::read_dir(&local) {
            for e in entries.flatten() {
                text.push_str(&std::fs::read_to_string(e.path().join("daemon.log")).unwrap_or_default());
            }
        }
        let n = text.len();
        text[n.saturating_sub(20_000)..].to_string()
    }

    /// The environment `local env` prints (the emulator's endpoint and credentials).
    pub fn env(&self) -> Vec<(String, String)> {
        let out = self.base(&["local", "env"]).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
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
            c.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
            let mut child = c.spawn().unwrap();
            child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
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
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice(&out.stdout).unwrap()
    }

    /// The local EFS folder of the stack (`<state>/efs/<file system>/`).
    pub fn efs(&self, stack: &str) -> PathBuf {
        let efs = self.dir.path().join(".idealstack/local").join(stack).join("efs");
        std::fs::read_dir(&efs)
            .ok()
            .and_then(|mut d| d.next())
            .and_then(|e| e.ok())
            .map(|e| e.path())
            .unwrap_or(efs)
    }

    /// `curl` through the router for `host` (resolved to the router): returns (status, body).
    pub fn get(&self, host: &str, path: &str) -> (u16, String) {
        let out = Command::new("curl")
            .args(["-s", "-o", "-", "-w", "\n%{http_code}", "--max-time", "20"])
            .arg("--resolve")
            .arg(format!("{host}:{}:127.0.0.1", self.http_port))
            .arg(format!("http://{host}:{}{path}", self.http_port))
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
        (code.trim().parse().unwrap_or(0), body.to_string())
    }

    /// Waits until `host` answers `path` with `want` (or panics after `timeout`).
    pub fn wait_for(&self, host: &str, path: &str, want: u16, timeout: Duration) -> Duration {
        let started = Instant::now();
        loop {
            let (code, _) = self.get(host, path);
            if code == want {
                return started.elapsed();
            }
            assert!(
                started.elapsed() < timeout,
                "{host}{path} answered {code}, not {want}, after {timeout:?}\nplatform log:\n{}",
                self.platform_log()
            );
            std::thread::sleep(Duration::from_millis(500));
        }
    }

    /// `local down`.
    pub fn down(&mut self) {
        if self.up {
            self.up = false;
            let out = self.base(&["local", "down"]).output().unwrap();
            assert!(out.status.success(), "local down: {}", String::from_utf8_lossy(&out.stderr));
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
        .env("CONTAINERS_CONF", idealstack_testbed::podman::containers_conf())
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
