//! The PHP containers of the rendered templates, started as ECS would start them (their own
//! environment, user, read-only root with their tmpfs, their mounts only) on Debian's apache2 and
//! php-fpm: the cluster's health daemon answers its health check without any site, and a site's
//! container serves as its uid with the php-fpm worker ceiling its template sizes from the
//! task's memory.

mod runtime_support;

use idealstack_testbed::scratch_dir;
use runtime_support::container::{Container, container_definition, environment};
use runtime_support::*;
use std::collections::BTreeMap;

fn refs() -> BTreeMap<&'static str, String> {
    BTreeMap::from([
        ("AWS::Region", "us-east-1".to_string()),
        ("SessionsTableName", "small-sessions".to_string()),
    ])
}

#[test]
fn the_health_daemon_answers_its_health_check_without_a_site() {
    let scratch = scratch_dir("rt-health-daemon");
    let def = container_definition("small", "small-cluster", "HealthTaskDefinition");
    assert!(
        def["MountPoints"].is_null(),
        "the health daemon mounts nothing: {def}"
    );
    let env = environment(&def, &refs());
    let c = Container::start(&def, &env, &BTreeMap::new(), scratch.path());
    let r = curl(&[&c.url(idealstack_manifest::DEFAULT_HEALTH_CHECK_PATH)]);
    assert_eq!(r.status, 200, "{r:?}\n{}", c.stderr_text());
    let v: serde_json::Value = serde_json::from_str(&r.body).expect("JSON");
    assert_eq!(v["role"], "health", "{v}");
    assert_eq!(v["sapi"], "fpm-fcgi", "{v}");
}

#[test]
fn a_site_container_serves_as_its_uid_with_the_worker_ceiling_of_its_memory() {
    let scratch = scratch_dir("rt-site-container");
    let def = container_definition("small", "small-site-www", "TaskDefinition");
    let env = environment(&def, &refs());
    let workers: usize = env
        .iter()
        .find(|(k, _)| k == "IDEALSTACK_FPM_MAX_CHILDREN")
        .expect("the site's template sizes php-fpm's workers")
        .1
        .parse()
        .unwrap();
    // The site folder as the agent leaves it: owned by the site's uid.
    let user = def["User"].as_str().unwrap().to_string();
    let root = make_site_root(scratch.path());
    put(
        &root,
        "whoami.php",
        "<?php echo posix_geteuid(), ':', posix_getegid();",
    );
    put(&root, "slow.php", "<?php sleep(6); echo 'done';");
    let status = std::process::Command::new("chown")
        .args(["-R", &user])
        .arg(&root)
        .status()
        .unwrap();
    assert!(status.success());
    let mount = def["MountPoints"][0]["ContainerPath"].as_str().unwrap();
    let mounts = BTreeMap::from([(mount, root.clone())]);
    let c = Container::start(&def, &env, &mounts, scratch.path());

    let r = curl(&[&c.url(idealstack_manifest::DEFAULT_HEALTH_CHECK_PATH)]);
    assert_eq!(r.status, 200, "{r:?}\n{}", c.stderr_text());
    let r = curl(&[&c.url("/whoami.php")]);
    assert_eq!(r.body, user, "{r:?}");

    // More requests than the ceiling at once (slow enough for php-fpm's once-a-second spawning
    // to reach it): php-fpm says it reached exactly that ceiling.
    let url = c.url("/slow.php");
    let handles: Vec<_> = (0..workers + 3)
        .map(|_| {
            let url = url.clone();
            std::thread::spawn(move || curl(&[&url]).status)
        })
        .collect();
    for h in handles {
        assert_eq!(h.join().unwrap(), 200);
    }
    let log = c.stderr_text();
    assert!(
        log.contains(&format!("reached pm.max_children setting ({workers})")),
        "php-fpm did not run with {workers} workers at most: {log}"
    );
}
