//! Test support for the lifecycle tests: moto server with the CloudFormation gaps filled
//! (`moto_cfn.py`, every gap named there), a scratch project with a manifest, and running the
//! `idealstack` binary against them.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use idealstack_aws::deploy::Aws;
use idealstack_testbed::{ChildGuard, free_port, scratch_dir, venv_tool, wait_for_port};

/// Seconds after which moto's ACM issues a DNS-validated certificate (real ACM: once the
/// validation records resolve).
pub const ACM_VALIDATION_WAIT: &str = "1";

/// moto server with `moto_cfn.py`'s patches on a loopback port; stopped when dropped.
pub struct Emulator {
    _guard: ChildGuard,
    pub port: u16,
    pub dir: idealstack_testbed::tempdir::TempDir,
}

impl Emulator {
    pub fn start() -> Emulator {
        let dir = scratch_dir("lifecycle");
        let port = free_port();
        let script =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/lifecycle_support/moto_cfn.py");
        let verbose = std::env::var_os("MOTO_LOG").is_some();
        let child = Command::new(venv_tool("python"))
            .arg(script)
            .arg(port.to_string())
            .env("MOTO_ACM_VALIDATION_WAIT", ACM_VALIDATION_WAIT)
            .env("IDEALSTACK_MOTO_FAIL_FILE", dir.path().join("fail"))
            .env("IDEALSTACK_MOTO_DELAY", "0.3")
            .env("IDEALSTACK_MOTO_DELAY_FILE", dir.path().join("delay"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(if verbose {
                Stdio::inherit()
            } else {
                Stdio::null()
            })
            .spawn()
            .expect("spawn moto_cfn.py (run scripts/setup for the venv)");
        let mut guard = ChildGuard::new(child, "moto_cfn.py");
        wait_for_port(
            SocketAddr::from(([127, 0, 0, 1], port)),
            Duration::from_secs(90),
            "moto_cfn.py",
        );
        guard.assert_running();
        Emulator {
            _guard: guard,
            port,
            dir,
        }
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// An SDK client set for asserting what exists in the emulator.
    pub fn aws(&self) -> Aws {
        Aws::for_emulator(&self.endpoint()).expect("clients for the emulator")
    }

    /// Makes the next execution on `stack` fail at `logical_id` with `reason`.
    pub fn inject_failure(&self, stack: &str, logical_id: &str, reason: &str) {
        std::fs::write(
            self.dir.path().join("fail"),
            format!("{stack} {logical_id} {reason}\n"),
        )
        .unwrap();
    }

    /// Makes the next create of `stack` fail at `logical_id` with `reason` after its other
    /// resources were made; the rollback deletes them (moto_cfn.py's gap 18).
    pub fn inject_failure_after_create(&self, stack: &str, logical_id: &str, reason: &str) {
        std::fs::write(
            self.dir.path().join("fail"),
            format!("rollback-deletes {stack} {logical_id} {reason}\n"),
        )
        .unwrap();
    }

    /// Makes executions on `stack` take `seconds` before they apply.
    pub fn slow_stack(&self, stack: &str, seconds: u32) {
        std::fs::write(
            self.dir.path().join("delay"),
            format!("{stack} {seconds}\n"),
        )
        .unwrap();
    }

    pub fn clear_failures(&self) {
        let _ = std::fs::remove_file(self.dir.path().join("fail"));
    }

    pub fn env(&self) -> Vec<(&'static str, String)> {
        idealstack_testbed::emulator_env(&self.endpoint())
    }

    /// Runs `idealstack` in `dir` against the emulator; returns its output (printed when
    /// IDEALSTACK_TEST_LOG is set).
    pub fn idealstack(&self, dir: &Path, args: &[&str]) -> Output {
        let out = Command::new(env!("CARGO_BIN_EXE_idealstack"))
            .args(args)
            .current_dir(dir)
            .envs(self.env())
            .env("IDEALSTACK_PLAIN", "1")
            .stdin(Stdio::null())
            .output()
            .expect("run idealstack");
        if std::env::var_os("IDEALSTACK_TEST_LOG").is_some() {
            eprintln!(
                "$ idealstack {}\n{}{}",
                args.join(" "),
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        out
    }

    /// Runs `idealstack` and panics with its output unless it succeeds; returns stdout.
    pub fn ok(&self, dir: &Path, args: &[&str]) -> String {
        let out = self.idealstack(dir, args);
        assert!(
            out.status.success(),
            "idealstack {} failed ({}):\nstdout:\n{}\nstderr:\n{}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

/// The three-site manifest the lifecycle starts from.
pub const MANIFEST: &str = r#"# Lifecycle test stack: three sites, one with a database.
[stack]
name = "e2e"
region = "us-east-1"

[[sites]]
name = "shop"
domains = ["shop.example.com"]
database = true

[[sites]]
name = "blog"
domains = ["blog.example.com", "www.blog.example.com"]

[[sites]]
name = "docs"
domains = ["docs.example.org"]
"#;

/// A scratch project folder holding `MANIFEST`.
pub fn project(manifest: &str) -> idealstack_testbed::tempdir::TempDir {
    let dir = scratch_dir("project");
    std::fs::write(dir.path().join("idealstack.toml"), manifest).unwrap();
    dir
}

pub fn manifest_path(dir: &Path) -> PathBuf {
    dir.join("idealstack.toml")
}

/// Deploy flags that keep the tests quick against the emulator (poll each second).
pub const FAST: &[&str] = &["--poll", "1", "--cert-wait", "60"];
