//! The state bucket is a contract between two programs: what the deployer writes
//! (idealstack-deploy's `state`) is what the agent reads (idealstack-agent's `desired` and
//! `purge`). Each side has its own types; this test runs one into the other.

use idealstack_agent::desired::{DESIRED_KEY, Desired};
use idealstack_agent::purge::{PURGE_PREFIX, PurgeRequest};
use idealstack_plan::Prior;

const MANIFEST: &str = r#"
[stack]
name = "acme"
region = "eu-west-1"

[stack.instances]
types = ["t3.medium"]
min = 3
max = 9
ami_rollover_hours = 6

[[sites]]
name = "shop"
domains = ["shop.example.com"]
database = true

[[sites]]
name = "blog-2"
domains = ["blog.example.com"]
"#;

#[test]
fn the_agent_reads_the_desired_state_the_deployer_writes() {
    let model = idealstack_manifest::parse(MANIFEST).unwrap();
    let build = idealstack_stacks::build(&model, &Prior::default(), "1.2.3").unwrap();
    assert_eq!(idealstack_deploy::state::DESIRED_KEY, DESIRED_KEY);
    let body = serde_json::to_vec(&idealstack_deploy::state::desired(
        &model,
        &build.plan,
        "1.2.3",
        1_700_000_000,
    ))
    .unwrap();
    let desired = Desired::parse(DESIRED_KEY, &body).unwrap();
    assert_eq!(desired.stack, "acme");
    assert_eq!(desired.version, "1.2.3");
    assert_eq!(desired.written_at, 1_700_000_000);
    assert_eq!((desired.min_instances, desired.max_instances), (3, 9));
    assert_eq!(
        desired.ami_check_hours, 6,
        "the manifest's roll-over schedule"
    );
    assert_eq!(desired.sites.keys().collect::<Vec<_>>(), ["blog-2", "shop"]);
    for (name, site) in &desired.sites {
        assert_eq!(site.uid, build.plan.sites[name].uid, "{name}'s uid");
    }
    assert!(desired.sites["shop"].database);
    assert!(!desired.sites["blog-2"].database);
}

#[test]
fn the_agent_reads_the_purge_request_site_remove_writes() {
    let key = idealstack_deploy::state::purge_key("blog-2", 20001);
    assert!(key.starts_with(PURGE_PREFIX));
    let body = serde_json::to_vec(&idealstack_deploy::state::purge_request(
        "blog-2",
        20001,
        Some(&idealstack_stacks::site_database_name("blog-2")),
        1_700_000_001,
    ))
    .unwrap();
    let request = PurgeRequest::parse(&key, &body).unwrap();
    assert_eq!(request.site, "blog-2");
    assert_eq!(request.uid, 20001);
    assert!(request.files);
    assert_eq!(request.database.as_deref(), Some("blog_2"));
    assert_eq!(request.requested_at, 1_700_000_001);
}
