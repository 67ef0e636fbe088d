//! `idealstack agent` as a process against moto server (with the agent's emulator gaps filled,
//! crates/testbed/moto/agent_gaps.py): settings from the environment, one pass with `--once`,
//! actions logged to stderr with their reasons; the effects asserted in the emulator and on the
//! sites folder. Request rates come from the real CloudWatch port, which reads no metric here:
//! the test's services have no target group (moto does not serve CloudWatch's protocol).

#[path = "../../aws/tests/agent_support/mod.rs"]
mod agent_support;

use agent_support::*;
use std::process::Command;

fn agent(bed: &Bed, sites_root: &std::path::Path, args: &[&str]) -> std::process::Output {
    agent_command(bed, sites_root, args)
        .output()
        .expect("run idealstack agent")
}

fn agent_command(bed: &Bed, sites_root: &std::path::Path, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_idealstack"));
    command
        .arg("agent")
        .args(args)
        .env_clear()
        .envs(bed.moto.env())
        .env("IDEALSTACK_STACK", STACK)
        .env("IDEALSTACK_CLUSTER", CLUSTER)
        .env("IDEALSTACK_AUTOSCALING_GROUP", GROUP)
        .env("IDEALSTACK_STATE_BUCKET", BUCKET)
        .env("IDEALSTACK_LEASE_TABLE", TABLE)
        .env("IDEALSTACK_AMI_PARAMETER", AMI_PARAM)
        .env("IDEALSTACK_SITES_ROOT", sites_root);
    command
}

#[test]
fn agent_once_makes_one_pass_against_the_stack_and_logs_each_action_with_its_reason() {
    let bed = Bed::start();
    let root = idealstack_testbed::scratch_dir("cli-agent");
    bed.rt.block_on(async {
        deploy(&bed.config, 2).await;
        lower_shop(&bed).await;
    });
    let out = agent(&bed, root.path(), &["--once"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(out.stdout.is_empty(), "logs go to stderr");
    assert!(
        stderr.contains("agent: tasks shop: 1 -> 2 because"),
        "{stderr}"
    );
    bed.rt.block_on(async {
        assert_eq!(service(&bed.config, "shop").await.desired_count, 2);
        assert!(
            lease_holder(&bed.config).await.is_some(),
            "the pass took the lease"
        );
    });
    for site in ["shop", "blog"] {
        assert!(
            root.path().join(site).join("public_html").is_dir(),
            "{stderr}"
        );
    }

    // A second process is another agent (its holder id is host and pid): while the first one's
    // lease runs it stands by, even when there is work.
    let holder = bed.rt.block_on(async {
        lower_shop(&bed).await;
        lease_holder(&bed.config).await
    });
    let out = agent(&bed, root.path(), &["--once"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("another agent holds the lease"), "{stderr}");
    bed.rt.block_on(async {
        assert_eq!(service(&bed.config, "shop").await.desired_count, 1);
        assert_eq!(lease_holder(&bed.config).await, holder);
    });
}

/// Someone lowers shop below its high-availability floor of two tasks.
async fn lower_shop(bed: &Bed) {
    ecs(&bed.config)
        .update_service()
        .cluster(CLUSTER)
        .service(service_name("shop"))
        .desired_count(1)
        .send()
        .await
        .unwrap();
}

#[test]
fn agent_names_a_missing_setting_and_a_failed_pass() {
    let bed = Bed::start();
    let root = idealstack_testbed::scratch_dir("cli-agent-fail");
    let out = Command::new(env!("CARGO_BIN_EXE_idealstack"))
        .args(["agent", "--once"])
        .env_clear()
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("IDEALSTACK_STACK is not set"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Nothing deployed: the state bucket does not exist, and the error says which call failed.
    let out = agent(&bed, root.path(), &["--once"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("the pass failed"), "{stderr}");
}

#[test]
fn agent_loops_until_sigterm_and_then_stops_cleanly() {
    use std::io::{BufRead, BufReader};
    let bed = Bed::start();
    let root = idealstack_testbed::scratch_dir("cli-agent-loop");
    bed.rt.block_on(async {
        deploy(&bed.config, 2).await;
        lower_shop(&bed).await;
    });
    let mut child = agent_command(&bed, root.path(), &[])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut seen = Vec::new();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !seen
        .iter()
        .any(|l: &String| l.starts_with("agent: tasks shop: 1 -> 2"))
    {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => seen.push(line),
            Err(_) => {
                let _ = child.kill();
                panic!("no action logged: {seen:?}");
            }
        }
    }
    // ECS stops a task with SIGTERM.
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("the agent did not stop on SIGTERM: {seen:?}");
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    seen.extend(rx.iter()); // until the pipe closes
    assert!(status.success(), "{status:?} {seen:?}");
    assert_eq!(
        seen.last().map(String::as_str),
        Some("agent: stopped"),
        "{seen:?}"
    );
}
