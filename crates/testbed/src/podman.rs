//! Container images in tests: [`ensure_images`] runs `scripts/images` once per test process (a
//! file lock keeps parallel test processes from building twice) and returns what it built;
//! [`Container`] runs one image detached and removes the container when dropped, so a failing
//! test leaves nothing running; [`podman`] is a `podman` command with the project's settings
//! (`scripts/containers.conf`).
//!
//! Podman runs rootful here: a test process that is not root fails with that message rather
//! than skipping (a skipped test proves nothing).

use crate::project_root;
use std::fs::File;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

/// The images `scripts/images` built (or found up to date).
#[derive(Debug, Clone)]
pub struct BuiltImages {
    /// `localhost/idealstack/idealstack:<version>`.
    pub idealstack: String,
    /// `(php branch, localhost/idealstack/php:<php>-<version>)`, in the script's order.
    pub php: Vec<(String, String)>,
    /// Wall time of the `scripts/images` run in this process, in seconds.
    pub seconds: f64,
}

impl BuiltImages {
    /// The PHP image of `branch`; panics when the script did not build it.
    pub fn php(&self, branch: &str) -> &str {
        self.php
            .iter()
            .find(|(b, _)| b == branch)
            .map(|(_, name)| name.as_str())
            .unwrap_or_else(|| panic!("scripts/images built no PHP {branch} image: {self:?}"))
    }
}

/// The project's podman settings file (runtime, cgroup manager, ulimits for this machine).
pub fn containers_conf() -> PathBuf {
    project_root().join("scripts/containers.conf")
}

/// A `podman` command with `CONTAINERS_CONF` pointing at the project's settings.
pub fn podman() -> Command {
    assert_root();
    let mut cmd = Command::new(crate::system_tool("podman"));
    cmd.env("CONTAINERS_CONF", containers_conf());
    cmd
}

fn assert_root() {
    // The effective uid is what podman sees; `id -u` avoids a libc dependency.
    let out = Command::new("id").arg("-u").output().expect("run id -u");
    assert!(
        String::from_utf8_lossy(&out.stdout).trim() == "0",
        "the container image tests need root (podman runs rootful on this machine): run them as root"
    );
}

/// Builds the images with `scripts/images` once per process and returns their names. Parallel
/// test processes wait on a lock file (`build/images/.lock`), so the second finds them built.
pub fn ensure_images() -> &'static BuiltImages {
    static BUILT: OnceLock<BuiltImages> = OnceLock::new();
    BUILT.get_or_init(|| {
        assert_root();
        let dir = project_root().join("build/images");
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));
        let lock_path = dir.join(".lock");
        let lock = File::create(&lock_path)
            .unwrap_or_else(|e| panic!("create {}: {e}", lock_path.display()));
        lock.lock()
            .unwrap_or_else(|e| panic!("lock {}: {e}", lock_path.display()));
        let started = std::time::Instant::now();
        let out = Command::new(project_root().join("scripts/images"))
            .current_dir(project_root())
            .stdin(Stdio::null())
            .output()
            .expect("run scripts/images");
        let seconds = started.elapsed().as_secs_f64();
        drop(lock);
        let stderr = String::from_utf8_lossy(&out.stderr);
        // The script's progress, visible with --nocapture.
        eprint!("{stderr}");
        assert!(
            out.status.success(),
            "scripts/images failed with {}:\n{stderr}",
            out.status
        );
        parse_built(&String::from_utf8_lossy(&out.stdout), seconds)
    })
}

fn parse_built(stdout: &str, seconds: f64) -> BuiltImages {
    let mut idealstack = None;
    let mut php = Vec::new();
    for line in stdout.lines().map(str::trim).filter(|l| !l.is_empty()) {
        if let Some(tag) = line.strip_prefix("localhost/idealstack/php:") {
            let branch = tag.split_once('-').map_or(tag, |(b, _)| b);
            php.push((branch.to_string(), line.to_string()));
        } else if line.starts_with("localhost/idealstack/idealstack:") {
            idealstack = Some(line.to_string());
        } else {
            panic!("scripts/images printed an unexpected line on stdout: {line:?}");
        }
    }
    BuiltImages {
        idealstack: idealstack
            .unwrap_or_else(|| panic!("scripts/images built no idealstack image: {stdout:?}")),
        php,
        seconds,
    }
}

/// The size of `image` in bytes (`podman image inspect`).
pub fn image_size(image: &str) -> u64 {
    let out = run_checked(podman().args(["image", "inspect", "--format", "{{.Size}}", image]));
    let text = String::from_utf8_lossy(&out.stdout);
    text.trim()
        .parse()
        .unwrap_or_else(|_| panic!("podman image inspect {image}: size {text:?}"))
}

/// Runs `cmd` to completion and panics with its output when it fails.
pub fn run_checked(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap_or_else(|e| panic!("run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed with {}:\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// A detached container, force-removed when dropped.
#[derive(Debug)]
pub struct Container {
    id: String,
    image: String,
}

impl Container {
    /// `podman run -d <options> <image> <args>`; `options` are podman's (`--user`, `-p`, ...).
    /// Port publishing goes through slirp4netns (the bridge backend needs iptables, absent here).
    pub fn run(image: &str, options: &[String], args: &[&str]) -> Container {
        let out = run_checked(
            podman()
                .args(["run", "-d", "--network=slirp4netns", "--no-healthcheck"])
                .args(options)
                .arg(image)
                .args(args),
        );
        let id = String::from_utf8_lossy(&out.stdout).trim().to_string();
        assert!(!id.is_empty(), "podman run {image} printed no container id");
        Container {
            id,
            image: image.to_string(),
        }
    }

    /// The container id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Whether the container is still running.
    pub fn running(&self) -> bool {
        let out = podman()
            .args(["inspect", "--format", "{{.State.Running}}", &self.id])
            .output()
            .expect("podman inspect");
        String::from_utf8_lossy(&out.stdout).trim() == "true"
    }

    /// What the container wrote so far (stdout and stderr).
    pub fn logs(&self) -> String {
        let out = podman()
            .args(["logs", &self.id])
            .output()
            .expect("podman logs");
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    }

    /// Panics with the container's logs when it is no longer running.
    pub fn assert_running(&self) {
        assert!(
            self.running(),
            "container of {} exited early:\n{}",
            self.image,
            self.logs()
        );
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        let _ = podman()
            .args(["rm", "--force", "--time", "0", &self.id])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_what_the_script_prints() {
        let built = parse_built(
            "localhost/idealstack/idealstack:0.1.0\nlocalhost/idealstack/php:8.4-0.1.0\nlocalhost/idealstack/php:8.2-0.1.0\n",
            1.0,
        );
        assert_eq!(built.idealstack, "localhost/idealstack/idealstack:0.1.0");
        assert_eq!(built.php("8.4"), "localhost/idealstack/php:8.4-0.1.0");
        assert_eq!(built.php("8.2"), "localhost/idealstack/php:8.2-0.1.0");
    }
}
