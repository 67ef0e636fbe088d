//! The deploy lifecycle end to end against moto server (started and stopped here, on loopback):
//! deploy three sites from nothing, re-deploy with no changes, add a site, change a site's PHP
//! version, remove a site, status, certs, destroy; after each step the emulator is asked what
//! exists (stacks, services, target groups, listener rules with hosts and priorities,
//! certificates), through the real AWS SDK.

mod lifecycle_support;

use std::collections::{BTreeMap, BTreeSet};

use idealstack_aws::deploy::Aws;
use idealstack_deploy::ports::{CertificateApi, ObjectStore, StackApi};
use idealstack_plan::Prior;
use lifecycle_support::{Emulator, FAST, MANIFEST, manifest_path, project};
use serde_json::Value;

fn stacks(aws: &Aws) -> BTreeMap<String, String> {
    StackApi::list(aws, "e2e-")
        .unwrap()
        .into_iter()
        .map(|s| (s.name, s.status))
        .collect()
}

fn outputs(aws: &Aws, stack: &str) -> BTreeMap<String, String> {
    StackApi::describe(aws, stack)
        .unwrap()
        .unwrap_or_else(|| panic!("{stack} exists"))
        .outputs
}

fn prior(aws: &Aws) -> Prior {
    let bucket = outputs(aws, "e2e-data")["StateBucketName"].clone();
    let body = ObjectStore::get(aws, &bucket, "state/prior.json")
        .unwrap()
        .expect("state/prior.json");
    serde_json::from_slice(&body).unwrap()
}

/// Listener rules of shard 0 as (priority, hosts).
fn rules(aws: &Aws) -> BTreeSet<(u32, Vec<String>)> {
    let listener = outputs(aws, "e2e-edge-0")["HttpsListenerArn"].clone();
    aws.listener_rules(&listener)
        .unwrap()
        .into_iter()
        .map(|r| {
            let mut h = r.hosts;
            h.sort();
            (r.priority, h)
        })
        .collect()
}

/// The rules the stored assignments say should exist.
fn expected_rules(p: &Prior) -> BTreeSet<(u32, Vec<String>)> {
    p.sites
        .values()
        .flat_map(|a| a.rules.iter())
        .map(|r| {
            let mut h = r.hosts.clone();
            h.sort();
            (r.priority, h)
        })
        .collect()
}

fn assert_complete(aws: &Aws, expected: &[&str]) {
    let s = stacks(aws);
    let names: Vec<&str> = s.keys().map(String::as_str).collect();
    assert_eq!(names, expected, "stacks in the emulator: {s:?}");
    for (name, status) in &s {
        assert!(
            status == "CREATE_COMPLETE" || status == "UPDATE_COMPLETE",
            "{name} is {status}"
        );
    }
}

fn site_service(aws: &Aws, site: &str) -> idealstack_aws::deploy::ServiceCounts {
    let cluster = outputs(aws, "e2e-cluster")["ClusterName"].clone();
    let service = outputs(aws, &format!("e2e-site-{site}"))["ServiceName"].clone();
    aws.service(&cluster, &service)
        .unwrap()
        .unwrap_or_else(|| panic!("service of {site}"))
}

#[test]
fn lifecycle_from_nothing_to_destroy() {
    let emu = Emulator::start();
    let aws = emu.aws();
    let project = project(MANIFEST);
    let dir = project.path();
    emu.ok(dir, &["validate"]);

    // 1. Deploy three sites from nothing.
    let out = emu.ok(dir, &[&["deploy"][..], FAST].concat());
    assert!(
        out.contains("e2e-network") && out.contains("created"),
        "{out}"
    );
    assert_complete(
        &aws,
        &[
            "e2e-cluster",
            "e2e-data",
            "e2e-edge-0",
            "e2e-network",
            "e2e-site-blog",
            "e2e-site-docs",
            "e2e-site-shop",
        ],
    );
    let data = StackApi::describe(&aws, "e2e-data").unwrap().unwrap();
    assert!(
        data.termination_protection,
        "the data stack is termination-protected"
    );
    // Site containers reach the database as `database`: a CNAME in the stack's private zone.
    let zone = aws
        .stack_resources_of_type("e2e-data", "AWS::Route53::HostedZone")
        .unwrap()
        .remove(0);
    let records = aws.records(&zone).unwrap();
    let endpoint = outputs(&aws, "e2e-data")["DatabaseEndpointAddress"].clone();
    assert!(
        records.iter().any(
            |r| r.name.trim_end_matches('.') == "database.e2e.idealstack.internal"
                && r.record_type == "CNAME"
                && r.value.trim_end_matches('.') == endpoint
        ),
        "database CNAME to {endpoint}: {records:?}"
    );
    let p1 = prior(&aws);
    assert_eq!(
        p1.sites.keys().collect::<Vec<_>>(),
        ["blog", "docs", "shop"]
    );
    assert_eq!(
        rules(&aws),
        expected_rules(&p1),
        "listener rules match the plan's hosts and priorities"
    );
    let hosts: BTreeSet<String> = rules(&aws).into_iter().flat_map(|r| r.1).collect();
    for h in [
        "shop.example.com",
        "blog.example.com",
        "www.blog.example.com",
        "docs.example.org",
    ] {
        assert!(hosts.contains(h), "a rule for {h}: {hosts:?}");
    }
    for site in ["shop", "blog", "docs"] {
        let svc = site_service(&aws, site);
        assert_eq!(svc.status, "ACTIVE", "{site}: {svc:?}");
    }
    let tgs = aws.target_group_names().unwrap();
    assert!(tgs.len() >= 3, "a target group per site: {tgs:?}");
    let certs = CertificateApi::find_tagged(&aws, "idealstack:stack", "e2e").unwrap();
    // The sites' certificates (the listeners' default belongs to no site: step 7).
    let mut cert_names: Vec<Vec<String>> = certs
        .iter()
        .filter(|c| c.tags.contains_key("idealstack:site"))
        .map(|c| c.names.clone())
        .collect();
    cert_names.sort();
    assert_eq!(
        cert_names,
        [
            vec![
                "blog.example.com".to_string(),
                "www.blog.example.com".to_string()
            ],
            vec!["docs.example.org".to_string()],
            vec!["shop.example.com".to_string()],
        ]
    );
    assert!(certs.iter().all(|c| c.status == "ISSUED"), "{certs:?}");
    let bucket = outputs(&aws, "e2e-data")["StateBucketName"].clone();
    let desired: Value = serde_json::from_slice(
        &ObjectStore::get(&aws, &bucket, "state/desired.json")
            .unwrap()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(desired["format"], 1);
    assert_eq!(desired["model"]["sites"].as_array().unwrap().len(), 3);

    // 2. Deploying again changes nothing and says so.
    let out = emu.ok(dir, &[&["deploy"][..], FAST].concat());
    let lines: Vec<&str> = out.lines().filter(|l| l.contains("  e2e-")).collect();
    assert_eq!(lines.len(), 7, "{out}");
    assert!(lines.iter().all(|l| l.ends_with("no changes")), "{out}");

    // 3. Add a site: only its stack (and its shard) are deployed; no other site moves.
    let out = emu.ok(
        dir,
        &[
            &["site", "add", "news.example.net", "--php", "8.3"][..],
            FAST,
        ]
        .concat(),
    );
    assert!(
        out.contains("e2e-site-news") && out.contains("created"),
        "{out}"
    );
    assert!(
        !out.contains("e2e-site-blog"),
        "only the new site is deployed: {out}"
    );
    let manifest = std::fs::read_to_string(manifest_path(dir)).unwrap();
    assert!(
        manifest.contains("name = \"news\"") && manifest.starts_with("# Lifecycle test stack"),
        "{manifest}"
    );
    let p2 = prior(&aws);
    for (site, a) in &p1.sites {
        assert_eq!(
            &p2.sites[site], a,
            "{site} kept its shard, uid and priorities"
        );
    }
    assert!(p2.sites["news"].uid > p1.sites.values().map(|a| a.uid).max().unwrap());
    assert_eq!(rules(&aws), expected_rules(&p2));
    assert!(rules(&aws).iter().any(|r| r.1 == ["news.example.net"]));
    assert!(
        aws.task_image(&site_service(&aws, "news").task_definition)
            .unwrap()
            .unwrap()
            .contains(":8.3-")
    );

    // 4. Change a site's PHP version: its stack is updated, the others are not.
    let manifest = manifest.replace(
        "name = \"blog\"\ndomains = [\"blog.example.com\", \"www.blog.example.com\"]\n",
        "name = \"blog\"\ndomains = [\"blog.example.com\", \"www.blog.example.com\"]\nphp = \"8.3\"\n",
    );
    std::fs::write(manifest_path(dir), &manifest).unwrap();
    let out = emu.ok(dir, &[&["deploy"][..], FAST].concat());
    let line = |stack: &str| {
        out.lines()
            .find(|l| l.trim_start().starts_with(stack))
            .unwrap_or_default()
            .to_string()
    };
    assert!(line("e2e-site-blog ").contains("updated"), "{out}");
    assert!(line("e2e-site-shop ").ends_with("no changes"), "{out}");
    let template = StackApi::describe(&aws, "e2e-site-blog").unwrap().unwrap();
    assert_eq!(template.status, "UPDATE_COMPLETE");
    let image = aws
        .task_image(&site_service(&aws, "blog").task_definition)
        .unwrap()
        .unwrap();
    assert!(image.contains(":8.3-"), "blog runs PHP 8.3 now: {image}");

    // 5. Remove a site: its stack and rules go, nobody else's priorities change.
    let removal = emu.idealstack(
        dir,
        &[
            "site",
            "remove",
            "shop",
            "--yes",
            "--delete-data",
            "--poll",
            "1",
        ],
    );
    assert!(removal.status.success());
    let out = String::from_utf8_lossy(&removal.stdout).to_string();
    let log = String::from_utf8_lossy(&removal.stderr).to_string();
    assert!(
        out.contains("e2e-site-shop") && out.contains("deleted"),
        "{out}"
    );
    assert!(!stacks(&aws).contains_key("e2e-site-shop"));
    let p3 = prior(&aws);
    // --delete-data: a request for the agent, naming this incarnation of the site (its uid).
    let purge_key = format!("state/purge/shop-{}.json", p2.sites["shop"].uid);
    let purge: Value = serde_json::from_slice(
        &ObjectStore::get(&aws, &bucket, &purge_key)
            .unwrap()
            .unwrap_or_else(|| panic!("{purge_key} in the state bucket")),
    )
    .unwrap();
    assert_eq!(purge["site"], "shop");
    assert_eq!(purge["uid"], p2.sites["shop"].uid);
    assert_eq!(purge["database"], "shop");
    assert!(out.contains(&purge_key), "{out}");
    assert!(!p3.sites.contains_key("shop"));
    for (site, a) in &p3.sites {
        assert_eq!(a.rules, p2.sites[site].rules, "{site} kept its priorities");
    }
    assert_eq!(rules(&aws), expected_rules(&p3));
    assert!(
        !rules(&aws)
            .iter()
            .any(|r| r.1.contains(&"shop.example.com".to_string()))
    );
    let names: Vec<Vec<String>> = CertificateApi::find_tagged(&aws, "idealstack:stack", "e2e")
        .unwrap()
        .into_iter()
        .filter(|c| c.tags.contains_key("idealstack:site"))
        .map(|c| c.names)
        .collect();
    assert_eq!(names.len(), 3, "blog, docs and news keep theirs: {names:?}");
    assert!(
        !names.iter().flatten().any(|n| n == "shop.example.com"),
        "the removed site's certificate is deleted: {names:?}"
    );
    assert!(
        log.contains("deleted the unused certificate of site shop"),
        "{log}"
    );

    // 6. Status and certs show what is there.
    let status: Value = serde_json::from_str(&emu.ok(dir, &["status", "--json"])).unwrap();
    let sites: Vec<&str> = status["sites"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["site"].as_str().unwrap())
        .collect();
    assert_eq!(sites, ["blog", "docs", "news"]);
    let shop_uid = p2.sites["shop"].uid;
    assert_eq!(
        status["pending_data_deletions"],
        serde_json::json!([format!("shop-{shop_uid}")]),
        "no agent runs here, so shop's data deletion is pending"
    );
    let edge_dns = outputs(&aws, "e2e-edge-0")["LoadBalancerDnsName"].clone();
    assert!(
        status["sites"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["dns_target"] == edge_dns.as_str())
    );
    let text = emu.ok(dir, &["status"]);
    assert!(
        text.contains("news: ") && text.contains("news.example.net"),
        "{text}"
    );
    let certs = emu.ok(dir, &["certs"]);
    assert!(
        certs.contains("news.example.net (site news): ISSUED"),
        "{certs}"
    );

    // 7. Remove the shard's first site (sites are sorted by name): the listener's default
    // certificate is the stack's own, self-signed for a name nobody serves, so removing any
    // site's listener certificate works (a listener cannot lose its default).
    let listener = outputs(&aws, "e2e-edge-0")["HttpsListenerArn"].clone();
    let defaults: Vec<_> = CertificateApi::find_tagged(&aws, "idealstack:stack", "e2e")
        .unwrap()
        .into_iter()
        .filter(|c| {
            c.tags.get("idealstack:purpose").map(String::as_str) == Some("listener-default")
        })
        .collect();
    assert_eq!(defaults.len(), 1, "one default certificate: {defaults:?}");
    assert_eq!(defaults[0].names, ["default.e2e.idealstack.invalid"]);
    assert!(!defaults[0].tags.contains_key("idealstack:site"));
    assert_eq!(
        aws.listener_certificates(&listener).unwrap().first(),
        Some(&defaults[0].arn),
        "the listener's default certificate"
    );
    let out = emu.ok(dir, &["site", "remove", "blog", "--yes", "--poll", "1"]);
    assert!(
        out.contains("e2e-site-blog") && out.contains("deleted"),
        "{out}"
    );
    assert!(!stacks(&aws).contains_key("e2e-site-blog"));

    // 8. Destroy keeps the data and its network.
    let out = emu.idealstack(dir, &["destroy", "--poll", "1", "--confirm", "wrong"]);
    assert!(
        !out.status.success(),
        "a wrong confirmation deletes nothing"
    );
    assert_eq!(stacks(&aws).len(), 6);
    let out = emu.ok(dir, &["destroy", "--poll", "1", "--confirm", "e2e"]);
    assert!(out.contains("Kept e2e-data and e2e-network"), "{out}");
    assert_eq!(
        stacks(&aws).keys().collect::<Vec<_>>(),
        ["e2e-data", "e2e-network"]
    );
    assert!(
        CertificateApi::find_tagged(&aws, "idealstack:stack", "e2e")
            .unwrap()
            .is_empty()
    );
}
