//! Failure paths end to end against moto server: a resource that fails on create and on update
//! (injected through moto_cfn.py's failure file) with the rollback reported and the retry
//! working, one site's failure not touching the others, a change set replacing the database
//! refused, and an interrupted deploy resumed.

mod lifecycle_support;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use idealstack_deploy::ports::{ObjectStore, StackApi};
use lifecycle_support::{Emulator, FAST, MANIFEST, manifest_path, project};

#[test]
fn failing_resources_roll_back_are_reported_and_a_retry_works() {
    let emu = Emulator::start();
    let aws = emu.aws();
    let project = project(MANIFEST);
    let dir = project.path();

    // Create: docs' target group fails; the other sites still deploy.
    emu.inject_failure(
        "e2e-site-docs",
        "TargetGroup",
        "You have reached the maximum number of target groups",
    );
    let out = emu.idealstack(dir, &[&["deploy"][..], FAST].concat());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{stdout}");
    let line = stdout
        .lines()
        .find(|l| l.contains("e2e-site-docs"))
        .unwrap();
    assert!(
        line.contains("creating e2e-site-docs failed and was rolled back"),
        "{line}"
    );
    assert!(
        line.contains("TargetGroup (AWS::ElasticLoadBalancingV2::TargetGroup) failed"),
        "{line}"
    );
    assert!(line.contains("maximum number of target groups"), "{line}");
    assert!(
        StackApi::describe(&aws, "e2e-site-docs").unwrap().is_none(),
        "the rolled-back stack was deleted"
    );
    for ok in ["e2e-site-shop", "e2e-site-blog"] {
        assert_eq!(
            StackApi::describe(&aws, ok).unwrap().unwrap().status,
            "CREATE_COMPLETE",
            "{ok}"
        );
    }

    // Retry after the cause is gone.
    emu.clear_failures();
    let out = emu.ok(dir, &[&["deploy"][..], FAST].concat());
    assert!(
        out.lines()
            .any(|l| l.contains("e2e-site-docs") && l.contains("created")),
        "{out}"
    );

    // Update: blog's service fails; the stack is back on its previous version.
    let manifest = std::fs::read_to_string(manifest_path(dir))
        .unwrap()
        .replace(
            "domains = [\"blog.example.com\", \"www.blog.example.com\"]\n",
            "domains = [\"blog.example.com\", \"www.blog.example.com\"]\nphp = \"8.3\"\n",
        );
    std::fs::write(manifest_path(dir), manifest).unwrap();
    emu.inject_failure(
        "e2e-site-blog",
        "Service",
        "ECS deployment circuit breaker: tasks failed to start",
    );
    let out = emu.idealstack(dir, &[&["deploy"][..], FAST].concat());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success());
    let line = stdout
        .lines()
        .find(|l| l.contains("e2e-site-blog"))
        .unwrap();
    assert!(line.contains("updating e2e-site-blog failed and was rolled back: the stack is back on its previous version"), "{line}");
    assert!(
        line.contains("Service (AWS::ECS::Service) failed: ECS deployment circuit breaker"),
        "{line}"
    );
    assert_eq!(
        StackApi::describe(&aws, "e2e-site-blog")
            .unwrap()
            .unwrap()
            .status,
        "UPDATE_ROLLBACK_COMPLETE"
    );
    emu.clear_failures();
    let out = emu.ok(dir, &[&["deploy"][..], FAST].concat());
    assert!(
        out.lines()
            .any(|l| l.contains("e2e-site-blog") && l.contains("updated")),
        "{out}"
    );
}

#[test]
fn a_failed_first_create_of_the_cluster_is_cleaned_up_and_the_next_deploy_succeeds() {
    let emu = Emulator::start();
    let aws = emu.aws();
    let project = project(MANIFEST);
    let dir = project.path();
    // The cluster's load balancers (deletion protection on) exist when the agent's service
    // fails; the rollback cannot delete them, so the stack is left in ROLLBACK_FAILED.
    emu.inject_failure_after_create(
        "e2e-cluster",
        "AgentService",
        "ECS deployment circuit breaker: tasks failed to start",
    );
    let out = emu.idealstack(dir, &[&["deploy"][..], FAST].concat());
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stdout}");
    let line = stdout
        .lines()
        .find(|l| l.trim_start().starts_with("e2e-cluster "))
        .unwrap_or_else(|| panic!("{stdout}"));
    assert!(
        line.contains(
            "creating e2e-cluster failed and was rolled back (the empty stack was deleted)"
        ),
        "the clean-up deletes the stack as destroy does: {line}\n{stderr}"
    );
    assert!(
        StackApi::describe(&aws, "e2e-cluster").unwrap().is_none(),
        "the failed stack is gone, not DELETE_FAILED"
    );
    emu.clear_failures();
    let out = emu.ok(dir, &[&["deploy"][..], FAST].concat());
    assert!(
        out.lines()
            .any(|l| l.trim_start().starts_with("e2e-cluster ") && l.contains("created")),
        "{out}"
    );
}

#[test]
fn replacing_the_database_is_refused() {
    let emu = Emulator::start();
    let aws = emu.aws();
    let project = project(MANIFEST);
    let dir = project.path();
    emu.ok(dir, &[&["deploy"][..], FAST].concat());

    // MySQL -> MariaDB replaces the RDS instance: refused, nothing changed.
    let manifest = std::fs::read_to_string(manifest_path(dir))
        .unwrap()
        .replace(
            "region = \"us-east-1\"\n",
            "region = \"us-east-1\"\n\n[stack.database]\nengine = \"mariadb\"\n",
        );
    std::fs::write(manifest_path(dir), &manifest).unwrap();
    let out = emu.idealstack(dir, &[&["deploy"][..], FAST].concat());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{stdout}");
    assert!(
        stdout
            .lines()
            .any(|l| l.trim_start().starts_with("e2e-data ")
                && l.contains("REFUSED: the change set would lose data")),
        "{stdout}"
    );
    assert!(
        stdout.contains("Database (AWS::RDS::DBInstance) would be replaced"),
        "{stdout}"
    );
    assert!(stdout.contains("--allow-data-loss"), "{stdout}");
    assert_eq!(
        StackApi::describe(&aws, "e2e-data")
            .unwrap()
            .unwrap()
            .status,
        "CREATE_COMPLETE",
        "not executed"
    );

    // With --allow-data-loss it goes through: the stack policy (enforced by the patched emulator)
    // spares the database for this update only, and is back afterwards.
    let policy = |aws: &idealstack_aws::deploy::Aws| {
        StackApi::stack_policy(aws, "e2e-data").unwrap().unwrap()
    };
    let before = policy(&aws);
    assert!(before.contains("LogicalResourceId/Database"), "{before}");
    let out = emu.ok(dir, &[&["deploy", "--allow-data-loss"][..], FAST].concat());
    assert!(
        out.lines()
            .any(|l| l.trim_start().starts_with("e2e-data ") && l.contains("updated")),
        "{out}"
    );
    assert_eq!(
        StackApi::describe(&aws, "e2e-data")
            .unwrap()
            .unwrap()
            .status,
        "UPDATE_COMPLETE"
    );
    assert_eq!(policy(&aws), before, "the stack policy is restored");
}

#[test]
fn an_interrupted_deploy_resumes() {
    let emu = Emulator::start();
    let aws = emu.aws();
    let project = project(MANIFEST);
    let dir = project.path();
    emu.ok(dir, &[&["deploy"][..], FAST].concat());
    let manifest = std::fs::read_to_string(manifest_path(dir)).unwrap();
    // Interrupted: kill a deploy while a stack is being created, then deploy again.
    let manifest = manifest.replace("\n[stack.database]\nengine = \"mariadb\"\n", "")
        + "\n[[sites]]\nname = \"late\"\ndomains = [\"late.example.com\"]\n";
    std::fs::write(manifest_path(dir), &manifest).unwrap();
    emu.slow_stack("e2e-site-late", 8);
    let mut child = Command::new(env!("CARGO_BIN_EXE_idealstack"))
        .args([&["deploy"][..], FAST].concat())
        .current_dir(dir)
        .envs(emu.env())
        .env("IDEALSTACK_PLAIN", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    loop {
        let status = StackApi::describe(&aws, "e2e-site-late")
            .unwrap()
            .map(|s| s.status);
        // REVIEW_IN_PROGRESS is the change set still being made: wait for its execution.
        if status.as_deref() == Some("CREATE_IN_PROGRESS") {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "the new site's stack never started: {status:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // The agent creates a site's folders from the desired state: it names the new site before
    // the site's stack starts, or the site's first tasks would find no document root.
    let bucket = StackApi::describe(&aws, "e2e-data")
        .unwrap()
        .unwrap()
        .outputs["StateBucketName"]
        .clone();
    let desired: serde_json::Value = serde_json::from_slice(
        &ObjectStore::get(&aws, &bucket, "state/desired.json")
            .unwrap()
            .expect("the desired state exists"),
    )
    .unwrap();
    let sites: Vec<&str> = desired["model"]["sites"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert!(
        sites.contains(&"late"),
        "the desired state did not name the new site while its stack was being created: {sites:?}"
    );
    child.kill().unwrap();
    child.wait().unwrap();
    let out = emu.idealstack(dir, &[&["deploy"][..], FAST].concat());
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(
        stderr.contains(
            "e2e-site-late: an earlier operation is still running (CREATE_IN_PROGRESS); waiting"
        ),
        "the second deploy waited for the first one's create: {stderr}"
    );
    assert!(
        stdout
            .lines()
            .any(|l| l.contains("e2e-site-late") && l.ends_with("no changes")),
        "{stdout}"
    );
    assert_eq!(
        StackApi::describe(&aws, "e2e-site-late")
            .unwrap()
            .unwrap()
            .status,
        "CREATE_COMPLETE"
    );
}
