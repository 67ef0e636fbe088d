//! The SFTP gateway as the cluster runs it, and its logins for a deployed stack (issue 10,
//! findings 3 and 4).
//!
//! - `the_cluster_sftp_container_serves_a_login_added_with_the_cli`: the contract between the
//!   cluster template and the program. The SFTP container's Command, Environment, User and
//!   capabilities, taken from the rendered template of a scenario, start the real binary (a
//!   flag, variable or path it does not take fails here), with the user store not written yet;
//!   `idealstack sftp user add` against the deployed stack in moto creates a login the running
//!   gateway accepts, and an upload lands on "EFS" owned by the site's deployed uid.
//! - `logins_are_added_listed_and_removed_on_a_running_gateway`: add/list/remove round trip,
//!   each change picked up without a restart, the last login removed, the connection details.
//! - `bad_input_is_refused_and_concurrent_adds_are_both_kept`: an unknown site names the
//!   deployed sites, a bad key file names the file, and two `user add` at once (made to race
//!   by the emulator) both survive.

mod sftp_cluster_support;

use sftp_cluster_support::*;
use std::os::unix::fs::MetadataExt;
use std::process::{Command, Stdio};

#[test]
fn the_cluster_sftp_container_serves_a_login_added_with_the_cli() {
    let (task, _) = sftp_task();
    assert_eq!(
        task.container["ReadonlyRootFilesystem"], true,
        "the gateway writes only to EFS"
    );
    let deployed = Deployed::new("sftp-cluster-contract", false);
    // The store does not exist yet: the gateway starts anyway (no logins).
    let gateway = deployed.start_gateway();
    assert!(
        gateway.log().contains("does not exist yet"),
        "{}",
        gateway.log()
    );

    let key = deployed.key("alice");
    let out = deployed.cli(
        &[
            "sftp",
            "user",
            "add",
            SITE,
            "alice",
            "--key",
            &format!("{}.pub", key.display()),
        ],
        None,
    );
    let printed = ok(&out, "sftp user add");
    assert!(printed.contains(SFTP_HOST), "{printed}");

    let upload = deployed.root().join("hello.txt");
    std::fs::write(&upload, "hello from the contract test\n").unwrap();
    let out = gateway.sftp_until(
        true,
        "alice",
        &key,
        deployed.root(),
        "cd public_html\nput hello.txt\nls -l\n",
    );
    ok(
        &out,
        &format!("upload as alice; gateway log:\n{}", gateway.log()),
    );
    let landed = gateway
        .efs
        .join("sites")
        .join(SITE)
        .join("public_html/hello.txt");
    let meta = std::fs::metadata(&landed).unwrap_or_else(|e| panic!("{}: {e}", landed.display()));
    assert_eq!(
        (meta.uid(), meta.gid()),
        (deployed.uid, deployed.uid),
        "the upload belongs to the site's deployed uid"
    );
    assert_eq!(
        std::fs::read_to_string(&landed).unwrap(),
        "hello from the contract test\n"
    );
    // The host key lives on EFS, where every task finds the same one.
    assert!(
        gateway
            .efs
            .join(".idealstack/sftp-host-keys/ssh_host_ed25519_key")
            .exists()
    );
}

#[test]
fn logins_are_added_listed_and_removed_on_a_running_gateway() {
    let deployed = Deployed::new("sftp-cluster-roundtrip", false);
    let gateway = deployed.start_gateway();
    let alice = deployed.key("alice");
    let bob = deployed.key("bob");
    let pub_of = |k: &std::path::Path| format!("{}.pub", k.display());
    deployed.ship_logs(&gateway);
    let fingerprint = ok(
        &Command::new("ssh-keygen")
            .arg("-lf")
            .arg(
                gateway
                    .efs
                    .join(".idealstack/sftp-host-keys/ssh_host_ed25519_key"),
            )
            .output()
            .unwrap(),
        "ssh-keygen -l",
    )
    .split_whitespace()
    .nth(1)
    .unwrap()
    .to_string();
    assert!(fingerprint.starts_with("SHA256:"), "{fingerprint}");

    ok(
        &deployed.cli(
            &[
                "sftp",
                "user",
                "add",
                SITE,
                "alice",
                "--key",
                &pub_of(&alice),
            ],
            None,
        ),
        "add alice",
    );
    let printed = ok(
        &deployed.cli(
            &[
                "sftp",
                "user",
                "add",
                SITE,
                "bob",
                "--read-only",
                "--password-stdin",
                "--key",
                &pub_of(&bob),
            ],
            Some(PASSWORD),
        ),
        "add bob",
    );
    for needle in [
        format!("host: {SFTP_HOST}"),
        "port: 22".to_string(),
        "login: bob".to_string(),
        format!("host key: {fingerprint}"),
        format!("sftp -P 22 bob@{SFTP_HOST}"),
    ] {
        assert!(printed.contains(&needle), "{needle} in {printed}");
    }
    let list = ok(&deployed.cli(&["sftp", "user", "list", SITE], None), "list");
    assert!(
        list.contains("alice\tread-write\t1 key(s)")
            && list.contains("bob\tread-only\tpassword, 1 key(s)"),
        "{list}"
    );
    let json: serde_json::Value = serde_json::from_str(&ok(
        &deployed.cli(&["sftp", "user", "list", SITE, "--json"], None),
        "list --json",
    ))
    .unwrap();
    assert_eq!(json["uid"], deployed.uid);
    assert_eq!(json["connect"]["host"], SFTP_HOST);
    assert_eq!(
        json["connect"]["host_key_fingerprint"],
        fingerprint.as_str()
    );
    assert_eq!(json["logins"].as_array().unwrap().len(), 2);
    assert_eq!(json["logins"][1]["read_only"], true);
    assert_eq!(json["logins"][1]["password"], true);

    // Picked up without a restart; read-only is enforced.
    ok(
        &gateway.sftp_until(true, "alice", &alice, deployed.root(), "ls\n"),
        "alice logs in",
    );
    std::fs::write(deployed.root().join("f.txt"), "x").unwrap();
    let out = gateway.sftp_until(true, "bob", &bob, deployed.root(), "ls\n");
    ok(&out, "bob logs in");
    let out = gateway.sftp("bob", &bob, deployed.root(), "cd public_html\nput f.txt\n");
    assert!(!out.status.success(), "a read-only login uploaded");

    ok(
        &deployed.cli(&["sftp", "user", "remove", SITE, "alice"], None),
        "remove alice",
    );
    let out = gateway.sftp_until(false, "alice", &alice, deployed.root(), "ls\n");
    assert!(
        !out.status.success(),
        "a removed login still logs in after 30 s:\n{}",
        gateway.log()
    );
    ok(
        &deployed.cli(&["sftp", "user", "remove", SITE, "bob"], None),
        "remove the last login",
    );
    let list = ok(&deployed.cli(&["sftp", "user", "list", SITE], None), "list");
    assert_eq!(list, "", "no logins left");
    let err = fails(
        &deployed.cli(&["sftp", "user", "remove", SITE, "bob"], None),
        "remove twice",
    );
    assert!(err.contains("does not exist"), "{err}");
    let out = gateway.sftp_until(false, "bob", &bob, deployed.root(), "ls\n");
    assert!(
        !out.status.success(),
        "the last removed login still logs in"
    );
}

#[test]
fn bad_input_is_refused_and_concurrent_adds_are_both_kept() {
    let deployed = Deployed::new("sftp-cluster-input", true);
    let key = deployed.key("carol");
    let pub_key = format!("{}.pub", key.display());

    let err = fails(
        &deployed.cli(
            &["sftp", "user", "add", "shop", "carol", "--key", &pub_key],
            None,
        ),
        "add to an unknown site",
    );
    assert!(
        err.contains("\"shop\" is not deployed") && err.contains("deployed sites: www"),
        "{err}"
    );
    let err = fails(
        &deployed.cli(&["sftp", "user", "list", "shop"], None),
        "list an unknown site",
    );
    assert!(err.contains("deployed sites: www"), "{err}");

    let bad = deployed.root().join("bad.pub");
    std::fs::write(&bad, "this is not a key\n").unwrap();
    let err = fails(
        &deployed.cli(
            &[
                "sftp",
                "user",
                "add",
                SITE,
                "carol",
                "--key",
                &bad.display().to_string(),
            ],
            None,
        ),
        "add with a bad key file",
    );
    assert!(
        err.contains(&bad.display().to_string()) && err.contains("ed25519"),
        "{err}"
    );
    let missing = deployed.root().join("missing.pub");
    let err = fails(
        &deployed.cli(
            &[
                "sftp",
                "user",
                "add",
                SITE,
                "carol",
                "--key",
                &missing.display().to_string(),
            ],
            None,
        ),
        "add with a missing key file",
    );
    assert!(err.contains(&missing.display().to_string()), "{err}");
    let err = fails(
        &deployed.cli(
            &[
                "sftp", "user", "add", SITE, "carol", "--key", &pub_key, "--uid", "20000", "--gid",
                "20000",
            ],
            None,
        ),
        "add with a uid on a deployed stack",
    );
    assert!(err.contains("--users"), "{err}");

    // Two admins at once. The emulator holds the first write until the second one is answered,
    // so both read the same version; neither login may be lost.
    let spawn = |name: &str| {
        let k = deployed.key(name);
        Command::new(bin())
            .args(["sftp", "user", "add", SITE, name, "--key"])
            .arg(format!("{}.pub", k.display()))
            .arg("--manifest")
            .arg(scenario_path())
            .env_clear()
            .envs(deployed.env())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let first = spawn("dave");
    let second = spawn("erin");
    ok(&first.wait_with_output().unwrap(), "add dave");
    ok(&second.wait_with_output().unwrap(), "add erin");
    let list = ok(&deployed.cli(&["sftp", "user", "list", SITE], None), "list");
    assert!(
        list.contains("dave\t") && list.contains("erin\t"),
        "a concurrent add was lost:\n{list}"
    );
}
