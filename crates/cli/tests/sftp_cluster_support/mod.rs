//! Test bed for the SFTP gateway as the cluster runs it: a scenario's cluster template rendered
//! by `idealstack_stacks::build`, a deployed stack emulated in moto the way the deployer leaves
//! it (the data stack's `StateBucketName` output, the assignments in `state/prior.json` written
//! by `idealstack_deploy::state::write`, the cluster stack's `SftpEndpoint` output), EFS as a
//! scratch folder with the site folders made by the agent's own code, and the SFTP container
//! run as the real `idealstack` binary with exactly its task definition's Command, Environment,
//! User and capabilities (paths under the EFS mount and the listen port mapped, as ECS maps
//! them). Tests run as root, as in CI.

#![allow(dead_code)]

use idealstack_testbed::{
    ChildGuard, free_port, project_root, scratch_dir, system_tool, venv_tool, wait_for_port,
};
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

pub const SCENARIO: &str = "small";
pub const SITE: &str = "www";
pub const BUCKET: &str = "small-state-bucket";
pub const SFTP_HOST: &str = "small-sftp-0123456789.elb.us-east-1.amazonaws.com";
pub const PASSWORD: &str = "correct horse battery staple";

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_idealstack")
}

pub fn scenario_path() -> PathBuf {
    project_root().join(format!("crates/stacks/tests/scenarios/{SCENARIO}.toml"))
}

/// The SFTP task definition's container and volumes, from the cluster template `build` renders.
pub struct SftpTask {
    pub container: Value,
    pub volumes: Value,
    pub task_role_policy: Value,
    /// The log group the awslogs driver sends the container's output to.
    pub log_group: String,
}

pub fn sftp_task() -> (SftpTask, u32) {
    let text = std::fs::read_to_string(scenario_path()).unwrap();
    let model = idealstack_manifest::parse(&text).unwrap();
    let build =
        idealstack_stacks::build(&model, &idealstack_plan::Prior::default(), "1.2.3").unwrap();
    let cluster = build
        .stacks
        .iter()
        .find(|s| s.kind == idealstack_templates::StackKind::Cluster)
        .expect("a cluster stack");
    let res = &cluster.template["Resources"];
    let task = &res["SftpTaskDefinition"]["Properties"];
    let containers = task["ContainerDefinitions"].as_array().unwrap();
    assert_eq!(containers.len(), 1, "one container in the SFTP task");
    let logs = &containers[0]["LogConfiguration"];
    assert_eq!(logs["LogDriver"], "awslogs");
    let group_id = logs["Options"]["awslogs-group"]["Ref"].as_str().unwrap();
    let log_group = res[group_id]["Properties"]["LogGroupName"]
        .as_str()
        .unwrap()
        .to_string();
    (
        SftpTask {
            container: containers[0].clone(),
            volumes: task["Volumes"].clone(),
            task_role_policy: res["SftpTaskRole"]["Properties"]["Policies"].clone(),
            log_group,
        },
        build.plan.sites[SITE].uid,
    )
}

/// A template value as CloudFormation resolves it, for the parameters the test knows; anything
/// else fails the test (a value the container would get that the test cannot reproduce).
pub fn resolve(v: &Value, params: &BTreeMap<&str, String>) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Object(o) if o.len() == 1 && o.contains_key("Ref") => {
            let name = o["Ref"].as_str().unwrap();
            params
                .get(name)
                .unwrap_or_else(|| panic!("Ref {name} has no value in this test"))
                .clone()
        }
        Value::Object(o) if o.len() == 1 && o["Fn::Sub"].is_string() => {
            let mut s = o["Fn::Sub"].as_str().unwrap().to_string();
            for (k, val) in params {
                s = s.replace(&format!("${{{k}}}"), val);
            }
            assert!(!s.contains("${"), "unresolved Fn::Sub {s}");
            s
        }
        other => panic!("cannot resolve {other}"),
    }
}

/// moto, with a stack deployed in it the way the deployer leaves it.
pub struct Deployed {
    pub dir: idealstack_testbed::tempdir::TempDir,
    moto: ChildGuard,
    pub endpoint: String,
    pub uid: u32,
}

impl Deployed {
    /// Starts moto (with `hold_put`, the racing variant of `moto_hold_put.py`) and deploys the
    /// scenario's state into it.
    pub fn new(tag: &str, hold_put: bool) -> Deployed {
        let dir = scratch_dir(tag);
        let port = free_port();
        let mut cmd = Command::new(venv_tool("python"));
        if hold_put {
            cmd.arg(
                Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("tests/sftp_cluster_support/moto_hold_put.py"),
            )
            .arg(port.to_string())
            .arg(idealstack_deploy::state::SFTP_USERS_KEY);
        } else {
            cmd.arg(venv_tool("moto_server"))
                .args(["-H", "127.0.0.1", "-p", &port.to_string()]);
        }
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn moto (run scripts/setup for the venv)");
        let mut moto = ChildGuard::new(child, "moto");
        wait_for_port(
            SocketAddr::from(([127, 0, 0, 1], port)),
            Duration::from_secs(60),
            "moto",
        );
        moto.assert_running();
        let endpoint = format!("http://127.0.0.1:{port}");
        // The data stack (its state bucket as an output) and the cluster stack (the SFTP load
        // balancer's name as an output), as CloudFormation reports them after a deploy.
        let script = format!(
            r#"
import boto3, json
cfn = boto3.client("cloudformation", endpoint_url="{endpoint}", region_name="us-east-1",
                   aws_access_key_id="testing", aws_secret_access_key="testing")
def stack(name, bucket, outputs):
    cfn.create_stack(StackName=name, TemplateBody=json.dumps({{
        "Resources": {{"B": {{"Type": "AWS::S3::Bucket", "Properties": {{"BucketName": bucket}}}}}},
        "Outputs": outputs}}))
stack("small-data", "{BUCKET}", {{"StateBucketName": {{"Value": {{"Ref": "B"}}}}}})
stack("small-cluster", "small-cluster-unused", {{"SftpEndpoint": {{"Value": "{SFTP_HOST}"}}}})
boto3.client("logs", endpoint_url="{endpoint}", region_name="us-east-1",
             aws_access_key_id="testing", aws_secret_access_key="testing").create_log_group(logGroupName="{group}")
"#,
            group = sftp_task().0.log_group
        );
        let out = Command::new(venv_tool("python"))
            .arg("-c")
            .arg(script)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "stack set-up: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        // The assignments, written by the deployer's own code.
        let text = std::fs::read_to_string(scenario_path()).unwrap();
        let model = idealstack_manifest::parse(&text).unwrap();
        let build =
            idealstack_stacks::build(&model, &idealstack_plan::Prior::default(), "1.2.3").unwrap();
        let aws = idealstack_aws::deploy::Aws::for_emulator(&endpoint).unwrap();
        idealstack_deploy::state::write(&aws, BUCKET, &model, &build.plan, "1.2.3", 1).unwrap();
        std::fs::create_dir_all(dir.path().join("keys")).unwrap();
        Deployed {
            uid: build.plan.sites[SITE].uid,
            dir,
            moto,
            endpoint,
        }
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    /// Sends the gateway's log lines to its log group, as the awslogs driver does.
    pub fn ship_logs(&self, gateway: &Gateway) {
        let aws = idealstack_aws::deploy::Aws::for_emulator(&self.endpoint).unwrap();
        let group = sftp_task().0.log_group;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64;
        for line in gateway.log().lines() {
            aws.put_log_line(&group, "sftp/sftp/0123", now, line)
                .unwrap();
        }
    }

    pub fn env(&self) -> Vec<(&'static str, String)> {
        idealstack_testbed::emulator_env(&self.endpoint)
    }

    /// A fresh ed25519 key pair `keys/<name>`; returns the private key's path.
    pub fn key(&self, name: &str) -> PathBuf {
        let path = self.root().join("keys").join(name);
        if !path.exists() {
            let out = Command::new(system_tool("ssh-keygen"))
                .args(["-q", "-t", "ed25519", "-N", "", "-C", name, "-f"])
                .arg(&path)
                .output()
                .unwrap();
            assert!(out.status.success());
        }
        path
    }

    /// `idealstack <args>` against the deployed stack (the scenario's manifest, moto's
    /// endpoint), `stdin` on its standard input.
    pub fn cli(&self, args: &[&str], stdin: Option<&str>) -> Output {
        let mut cmd = Command::new(bin());
        cmd.args(args)
            .arg("--manifest")
            .arg(scenario_path())
            .env_clear()
            .envs(self.env())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        if let Some(s) = stdin {
            writeln!(child.stdin.take().unwrap(), "{s}").unwrap();
        }
        drop(child.stdin.take());
        child.wait_with_output().unwrap()
    }

    /// Starts the SFTP container of the cluster template as ECS would run it.
    pub fn start_gateway(&self) -> Gateway {
        let (task, _) = sftp_task();
        let c = &task.container;
        // The EFS volume: the file system's root, mounted at the container path.
        assert_eq!(task.volumes.as_array().unwrap().len(), 1);
        let volume = &task.volumes[0];
        assert_eq!(
            volume["EFSVolumeConfiguration"]["RootDirectory"], "/",
            "the test maps the EFS root"
        );
        let mounts = c["MountPoints"].as_array().unwrap();
        assert_eq!(mounts.len(), 1);
        assert_eq!(mounts[0]["SourceVolume"], volume["Name"]);
        let mount = mounts[0]["ContainerPath"].as_str().unwrap().to_string();
        let efs = self.root().join("efs");
        std::fs::create_dir_all(&efs).unwrap();
        // What the agent does through its access point (`/sites`, created 0:0 0755), then per site.
        std::fs::create_dir_all(efs.join("sites")).unwrap();
        idealstack_agent::folders::SiteFolders::new(efs.join("sites"))
            .ensure_site(SITE, self.uid)
            .unwrap();
        let map = |s: String| match s.strip_prefix(&mount) {
            Some(rest) if rest.is_empty() || rest.starts_with('/') => {
                format!("{}{rest}", efs.display())
            }
            _ => s,
        };
        let params = BTreeMap::from([
            ("AWS::Region", "us-east-1".to_string()),
            ("AWS::StackName", "small-cluster".to_string()),
            ("StateBucketName", BUCKET.to_string()),
        ]);
        let port = free_port();
        let container_port = c["PortMappings"][0]["ContainerPort"].as_u64().unwrap();
        let mut env = Vec::new();
        for e in c["Environment"].as_array().unwrap() {
            let name = e["Name"].as_str().unwrap().to_string();
            let mut value = map(resolve(&e["Value"], &params));
            if name == "IDEALSTACK_SFTP_LISTEN" {
                // The port mapping: the container port, published on a loopback port here.
                assert_eq!(
                    value,
                    format!("0.0.0.0:{container_port}"),
                    "listens where the port mapping and the target group send traffic"
                );
                value = format!("127.0.0.1:{port}");
            }
            env.push((name, value));
        }
        let args: Vec<String> = c["Command"]
            .as_array()
            .expect("a Command")
            .iter()
            .map(|a| map(a.as_str().unwrap().to_string()))
            .collect();
        // The user and capabilities ECS starts the container with. Without `User`, the image's
        // default user (non-root); without capability settings, Docker's default set.
        let user = c["User"].as_str().unwrap_or("65532:65532").to_string();
        let (uid, gid) = user.split_once(':').expect("User is uid:gid");
        let caps = &c["LinuxParameters"]["Capabilities"];
        let bounding = if caps["Drop"]
            .as_array()
            .is_some_and(|d| d.iter().any(|x| x == "ALL"))
        {
            let mut b = "-all".to_string();
            for a in caps["Add"].as_array().cloned().unwrap_or_default() {
                b.push_str(&format!(",+{}", a.as_str().unwrap().to_lowercase()));
            }
            b
        } else {
            "-all,+chown,+dac_override,+fowner,+fsetid,+kill,+setgid,+setuid,+setpcap,+net_bind_service,+net_raw,+sys_chroot,+mknod,+audit_write,+setfcap".into()
        };
        let log = std::fs::File::create(self.root().join("gateway.log")).unwrap();
        let mut cmd = Command::new(system_tool("setpriv"));
        cmd.arg(format!("--reuid={uid}"))
            .arg(format!("--regid={gid}"))
            .arg("--clear-groups")
            .arg("--inh-caps=-all")
            .arg(format!("--bounding-set={bounding}"))
            .arg("--")
            .arg(bin())
            .args(&args)
            .env_clear()
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            // The task role's credentials (ECS hands them out; here, the emulator's).
            .envs(
                self.env()
                    .into_iter()
                    .filter(|(k, _)| !env.iter().any(|(n, _)| n.as_str() == *k)),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log);
        let mut child = cmd.spawn().expect("spawn the SFTP container's command");
        let start = Instant::now();
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                panic!(
                    "the SFTP container's command exited with {status}:\n{}",
                    std::fs::read_to_string(self.root().join("gateway.log")).unwrap_or_default()
                );
            }
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                break;
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "the gateway did not listen within 30 s"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        Gateway {
            _guard: ChildGuard::new(child, "the SFTP container's command"),
            port,
            efs,
            log: self.root().join("gateway.log"),
        }
    }
}

/// The running gateway.
pub struct Gateway {
    _guard: ChildGuard,
    pub port: u16,
    pub efs: PathBuf,
    log: PathBuf,
}

impl Gateway {
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// OpenSSH `sftp -b -` as `user` with the private key `key`, from `cwd`.
    pub fn sftp(&self, user: &str, key: &Path, cwd: &Path, batch: &str) -> Output {
        idealstack_testbed::sftp_batch(self.port, user, key, cwd, batch)
    }

    /// Retries `sftp` until `want` holds for its success, for up to 30 s (the gateway re-reads
    /// the store every 10 s by default); returns the last output.
    pub fn sftp_until(
        &self,
        want: bool,
        user: &str,
        key: &Path,
        cwd: &Path,
        batch: &str,
    ) -> Output {
        let start = Instant::now();
        loop {
            let out = self.sftp(user, key, cwd, batch);
            if out.status.success() == want || start.elapsed() > Duration::from_secs(30) {
                return out;
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    }
}

/// Asserts success, showing the output otherwise; returns stdout.
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

/// Asserts failure; returns stderr.
pub fn fails(out: &Output, what: &str) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        !out.status.success(),
        "{what} succeeded but should have failed:\n{}\n{stderr}",
        String::from_utf8_lossy(&out.stdout)
    );
    stderr
}
