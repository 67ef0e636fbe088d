//! A PHP container definition from a rendered template, played on Debian's apache2 and php-fpm:
//! the entrypoint runs with exactly the definition's `Environment` (references resolved from a
//! map the test gives), as its `User`, in a mount namespace whose root is read-only
//! (`ReadonlyRootFilesystem`) with its `LinuxParameters.Tmpfs` mounted, and with only its
//! `MountPoints` (each bound to a folder the test gives). What the image itself sets (its `ENV`
//! lines: where the config files and binaries are) is replaced by this machine's paths, and the
//! port by a free one.

use super::{append_file, config_dir, php_fpm_bin, read};
use idealstack_testbed::{ChildGuard, free_port, project_root, system_tool, wait_for_port};
use serde_json::Value;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

/// The stacks of a scenario manifest (crates/stacks/tests/scenarios/<name>.toml), as `plan` renders them.
pub fn scenario_stacks(scenario: &str) -> Vec<idealstack_templates::StackSpec> {
    let path = project_root().join(format!("crates/stacks/tests/scenarios/{scenario}.toml"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let model =
        idealstack_manifest::parse(&text).unwrap_or_else(|e| panic!("{}: {e:?}", path.display()));
    idealstack_stacks::build(&model, &idealstack_plan::Prior::default(), "test")
        .expect("build the scenario's stacks")
        .stacks
}

/// The first container definition of task definition `resource` in stack `stack` of `scenario`.
pub fn container_definition(scenario: &str, stack: &str, resource: &str) -> Value {
    let stacks = scenario_stacks(scenario);
    let spec = stacks
        .iter()
        .find(|s| s.name == stack)
        .unwrap_or_else(|| panic!("scenario {scenario} has no stack {stack}"));
    spec.template["Resources"][resource]["Properties"]["ContainerDefinitions"][0].clone()
}

/// The definition's environment, with `{"Ref": name}` values taken from `refs` (a reference
/// the test did not give fails the test: the container would get a value nobody checked).
pub fn environment(def: &Value, refs: &BTreeMap<&str, String>) -> Vec<(String, String)> {
    def["Environment"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| {
            let name = e["Name"].as_str().expect("Name").to_string();
            let value = match &e["Value"] {
                Value::String(s) => s.clone(),
                Value::Object(o) if o.contains_key("Ref") => {
                    let r = o["Ref"].as_str().unwrap();
                    refs.get(r)
                        .unwrap_or_else(|| panic!("{name} refers to {r}: give the test a value"))
                        .clone()
                }
                other => panic!("{name} has a value this test cannot resolve: {other}"),
            };
            (name, value)
        })
        .collect()
}

/// A running container (the whole PID namespace is killed on drop).
#[derive(Debug)]
pub struct Container {
    guard: Option<ChildGuard>,
    pub port: u16,
    pub stdout: PathBuf,
    pub stderr: PathBuf,
}

impl Container {
    /// Starts `def` with `env` (from [`environment`]); `mounts` binds each of the definition's
    /// `MountPoints` container paths to a folder of this machine.
    pub fn start(
        def: &Value,
        env: &[(String, String)],
        mounts: &BTreeMap<&str, PathBuf>,
        scratch: &Path,
    ) -> Container {
        let port = free_port();
        let stdout = scratch.join(format!("container-{port}.out"));
        let stderr = scratch.join(format!("container-{port}.err"));
        let cfg = config_dir();
        let mut script = String::from("set -e\n");
        for m in def["MountPoints"].as_array().into_iter().flatten() {
            let path = m["ContainerPath"].as_str().unwrap();
            let source = mounts
                .get(path)
                .unwrap_or_else(|| panic!("the definition mounts {path}: give the test a folder"));
            let parent = Path::new(path).parent().unwrap().display().to_string();
            // The mount point does not exist on this machine: a tmpfs on its parent makes one.
            script.push_str(&format!(
                "[ -d {path} ] || {{ mount -t tmpfs -o size=1m tmpfs {parent}; mkdir -p {path}; }}\nmount --bind {} {path}\n",
                source.display()
            ));
        }
        if def["ReadonlyRootFilesystem"] == Value::Bool(true) {
            script.push_str("mount -o remount,bind,ro /\n");
        }
        for t in def["LinuxParameters"]["Tmpfs"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let opts = t["MountOptions"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|o| o.as_str().unwrap().to_string())
                .collect::<Vec<_>>()
                .join(",");
            script.push_str(&format!(
                "mount -t tmpfs -o size={}m,{opts} tmpfs {}\n",
                t["Size"],
                t["ContainerPath"].as_str().unwrap()
            ));
        }
        let user = def["User"].as_str().unwrap_or("0:0");
        let (uid, gid) = user.split_once(':').unwrap_or((user, user));
        // Apache reopens /proc/self/fd/1 and 2: as the container's user, as with its own pipes.
        for f in [&stdout, &stderr] {
            drop(append_file(f));
            let status = Command::new("chown").arg(user).arg(f).status().unwrap();
            assert!(status.success(), "chown {user} {}", f.display());
        }
        script.push_str(&format!(
            "exec setpriv --reuid={uid} --regid={gid} --clear-groups -- \"$0\"\n"
        ));
        let mut cmd = Command::new(system_tool("unshare"));
        cmd.args(["--mount", "--propagation", "private", "--pid", "--fork"])
            .args(["--mount-proc", "sh", "-c", &script])
            .arg(cfg.join("idealstack/entrypoint.sh"))
            .env_clear()
            .env(
                "PATH",
                "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            )
            // The image's ENV lines (images/php/Dockerfile.template), with this machine's paths.
            .env("IDEALSTACK_SITE_ROOT", "/var/www/site")
            .env("IDEALSTACK_RUN_DIR", "/tmp/idealstack")
            .env("IDEALSTACK_LIB", cfg.join("idealstack"))
            .env("IDEALSTACK_BIN", env!("CARGO_BIN_EXE_idealstack"))
            .env("IDEALSTACK_APACHE_BIN", system_tool("apache2"))
            .env("IDEALSTACK_PHP_FPM_BIN", php_fpm_bin())
            .env("IDEALSTACK_APACHE_CONF", cfg.join("apache/httpd.conf"))
            .env("IDEALSTACK_FPM_CONF", cfg.join("php/php-fpm.conf"))
            // The image copies idealstack.ini into PHP's conf.d; Debian's PHP scans this folder too.
            .env(
                "PHP_INI_SCAN_DIR",
                format!(":{}", cfg.join("php").display()),
            );
        for (k, v) in env {
            cmd.env(k, v);
        }
        // The container port (8080 in the image) is a free one here: many tests run at once.
        cmd.env("IDEALSTACK_PORT", port.to_string())
            .stdin(Stdio::null())
            .stdout(append_file(&stdout))
            .stderr(append_file(&stderr))
            .process_group(0);
        let child = cmd.spawn().expect("spawn unshare (util-linux)");
        let mut guard = ChildGuard::new(child, "the container's entrypoint.sh");
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
            if std::time::Instant::now() > deadline {
                panic!("the container did not listen on {port}: {}", read(&stderr));
            }
            guard.assert_running();
            std::thread::sleep(Duration::from_millis(100));
        }
        wait_for_port(addr, Duration::from_secs(1), "the container");
        // php-fpm's socket (inside the namespace) appears a moment after Apache listens.
        let health = format!(
            "http://127.0.0.1:{port}{}",
            idealstack_manifest::DEFAULT_HEALTH_CHECK_PATH
        );
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while super::curl(&[&health]).status == 503 && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(100));
        }
        Container {
            guard: Some(guard),
            port,
            stdout,
            stderr,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{}", self.port, path)
    }

    pub fn stderr_text(&self) -> String {
        read(&self.stderr)
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        if let Some(guard) = self.guard.take() {
            // unshare's child is the PID namespace's init: killing it ends every process in
            // the namespace (the entrypoint changed its uid, so no parent-death signal reaches it).
            let pid = guard.id();
            let children = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
                .unwrap_or_default();
            for child in children.split_whitespace() {
                let _ = Command::new("kill").args(["-KILL", child]).status();
            }
            std::thread::sleep(Duration::from_millis(200));
            drop(guard);
        }
    }
}
