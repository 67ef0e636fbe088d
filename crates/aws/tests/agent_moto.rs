//! The agent's AWS ports and reconcile loop against moto server, through the real AWS SDK for
//! Rust: scale-out, spread onto a new instance, scale-in with drain, a disconnected ECS agent and a
//! failing PHP health check replaced, an AMI roll-over started, the lease with two agents, site
//! secrets found by tag, a removed site's data deleted on request (with a real MariaDB). Every test runs full agent passes (`Agent::pass`) and then asserts the
//! state in the emulator.
//!
//! Emulator gaps are filled in moto itself (crates/testbed/moto/agent_gaps.py, each gap named
//! there) or, for what ECS does on its own, by test support (agent_support: the ECS agent
//! registering an instance, the service scheduler placing and moving tasks). Request rates are
//! scripted: moto does not serve CloudWatch's protocol.

mod agent_support;

use agent_support::*;
use idealstack_agent::controller::{Agent, PassOutcome, Timing};
use idealstack_agent::ports::Lease;
use idealstack_agent::reconcile::Config;
use idealstack_aws::agent::{lease::DynamoLease, secrets::SecretsPort};
use std::time::Duration;

fn agent(bed: &Bed, rates: &Rates, root: &std::path::Path, holder: &str) -> Agent {
    Agent::new(
        ports(&bed.config, rates, root, None),
        Config::default(),
        Timing::default(),
        holder,
    )
}

async fn acted(agent: &mut Agent) -> Vec<String> {
    match agent.pass().await.expect("a pass against moto") {
        PassOutcome::Acted(lines) => lines,
        PassOutcome::Standby => panic!("the agent stood by but holds the only lease"),
    }
}

async fn desired_tasks(bed: &Bed, site: &str) -> i32 {
    service(&bed.config, site).await.desired_count
}

#[test]
fn scale_out_raises_tasks_and_instances_then_a_busy_site_spreads_onto_the_new_instance() {
    let bed = Bed::start();
    let root = idealstack_testbed::scratch_dir("agent-moto-out");
    bed.rt.block_on(async {
        let c = &bed.config;
        deploy(c, 2).await;
        let cis = container_instances(c).await;
        for ci in &cis {
            let arn = ci.container_instance_arn.as_deref().unwrap();
            place_tasks(c, "shop", arn, 1).await;
            place_tasks(c, "blog", arn, 1).await;
        }
        // A burst on shop: far more than two tasks serve.
        let rates = Rates::new(200.0, 1.0);
        let mut a = agent(&bed, &rates, root.path(), "a");
        let lines = acted(&mut a).await;

        let shop = desired_tasks(&bed, "shop").await;
        assert!(shop > 2, "shop's service raised: {lines:?}");
        assert_eq!(desired_tasks(&bed, "blog").await, 2, "quiet blog untouched");
        let g = group(c).await;
        let capacity = g.desired_capacity.unwrap();
        assert!(capacity > 2, "group raised for the new tasks: {lines:?}");
        assert_eq!(
            group_instance_ids(c).await.len() as i32,
            capacity,
            "the group launched the instances"
        );
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with(&format!("tasks shop: 2 -> {shop} because"))),
            "{lines:?}"
        );
        assert!(root.path().join("shop/public_html").is_dir());
        assert!(root.path().join("blog/private").is_dir());
        assert!(
            instance_refreshes(c).await.is_empty(),
            "instances run the current AMI: no roll-over"
        );

        // ECS places shop's new tasks on the two instances it has; then the new instances' ECS
        // agents register. The next pass sees shop piled on the old instances and an empty new
        // one, and redeploys shop so its spread placement uses it.
        let per_old = (shop as usize).div_ceil(2);
        for ci in &cis {
            place_tasks(
                c,
                "shop",
                ci.container_instance_arn.as_deref().unwrap(),
                per_old - 1,
            )
            .await;
        }
        register_new_instances(c).await;
        assert_eq!(container_instances(c).await.len() as i32, capacity);
        let shop_deployment = deployment_id(c, "shop").await;
        let blog_deployment = deployment_id(c, "blog").await;
        let lines = acted(&mut a).await;
        assert_ne!(
            deployment_id(c, "shop").await,
            shop_deployment,
            "shop redeployed to spread: {lines:?}"
        );
        assert_eq!(
            deployment_id(c, "blog").await,
            blog_deployment,
            "blog is spread already"
        );
        assert!(
            lines.iter().any(|l| l.starts_with("spread shop because")),
            "{lines:?}"
        );
    });
}

#[test]
fn scale_in_drains_an_instance_and_terminates_it_only_once_its_tasks_run_elsewhere() {
    let bed = Bed::start();
    let root = idealstack_testbed::scratch_dir("agent-moto-in");
    bed.rt.block_on(async {
        let c = &bed.config;
        deploy(c, 4).await;
        // One task on every instance, so whichever is drained has one to move.
        let cis = container_instances(c).await;
        for (ci, site) in cis.iter().zip(["shop", "shop", "blog", "blog"]) {
            place_tasks(c, site, ci.container_instance_arn.as_deref().unwrap(), 1).await;
        }
        let rates = Rates::new(5.0, 1.0);
        let mut a = agent(&bed, &rates, root.path(), "a");
        let lines = acted(&mut a).await;
        let draining: Vec<_> = container_instances(c)
            .await
            .into_iter()
            .filter(|ci| ci.status.as_deref() == Some("DRAINING"))
            .collect();
        assert_eq!(
            draining.len(),
            1,
            "one instance drains at a time: {lines:?}"
        );
        let leaving = draining[0].ec2_instance_id.clone().unwrap();
        let ci_arn = draining[0].container_instance_arn.clone().unwrap();
        assert_eq!(group(c).await.desired_capacity, Some(4));
        assert!(group_instance_ids(c).await.contains(&leaving));

        // Its task still runs there: the next pass must not terminate it.
        let lines = acted(&mut a).await;
        assert_eq!(tasks_on(c, &ci_arn).await.len(), 1);
        assert!(
            group_instance_ids(c).await.contains(&leaving),
            "terminated with a task still on it: {lines:?}"
        );
        assert_eq!(group(c).await.desired_capacity, Some(4));

        // ECS moves the task; now the instance goes, and the capacity with it.
        assert_eq!(scheduler_moves_tasks_off_draining(c).await, 1);
        let lines = acted(&mut a).await;
        assert!(
            !group_instance_ids(c).await.contains(&leaving),
            "drained instance terminated: {lines:?}"
        );
        assert_eq!(group(c).await.desired_capacity, Some(3), "{lines:?}");
        assert_eq!(
            group_instance_ids(c).await.len(),
            3,
            "no replacement launched"
        );
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with(&format!("terminate {leaving} (scale in) because"))),
            "{lines:?}"
        );
    });
}

#[test]
fn an_instance_whose_ecs_agent_disconnected_is_replaced_after_the_grace_period() {
    let bed = Bed::start();
    let root = idealstack_testbed::scratch_dir("agent-moto-disconnect");
    bed.rt.block_on(async {
        let c = &bed.config;
        deploy(c, 2).await;
        let lost = container_instances(c).await.remove(0);
        let lost_id = lost.ec2_instance_id.clone().unwrap();
        put_attribute(
            c,
            lost.container_instance_arn.as_deref().unwrap(),
            DISCONNECT_ATTRIBUTE,
            "false",
        )
        .await;
        assert!(!container_instance_of(c, &lost_id).await.agent_connected);
        let config = Config {
            disconnected_grace_secs: 1,
            ..Config::default()
        };
        let rates = Rates::new(1.0, 1.0);
        let mut a = Agent::new(
            ports(c, &rates, root.path(), None),
            config,
            Timing::default(),
            "a",
        );
        let lines = acted(&mut a).await;
        assert!(
            group_instance_ids(c).await.contains(&lost_id),
            "replaced before the grace period: {lines:?}"
        );
        tokio::time::sleep(Duration::from_millis(1200)).await;
        let lines = acted(&mut a).await;
        let ids = group_instance_ids(c).await;
        assert!(!ids.contains(&lost_id), "not replaced: {lines:?}");
        assert_eq!(ids.len(), 2, "the group launched a replacement");
        assert_eq!(group(c).await.desired_capacity, Some(2), "capacity kept");
        assert!(
            lines.iter().any(|l| l.starts_with(&format!(
                "terminate {lost_id} (replace) because ECS agent disconnected"
            ))),
            "{lines:?}"
        );
    });
}

#[test]
fn an_instance_failing_the_php_health_check_is_drained_then_replaced() {
    let bed = Bed::start();
    let root = idealstack_testbed::scratch_dir("agent-moto-health");
    bed.rt.block_on(async {
        let c = &bed.config;
        deploy(c, 2).await;
        let elb = aws_sdk_elasticloadbalancingv2::Client::new(c);
        let vpc = default_vpc(&bed.moto);
        let tg = elb
            .create_target_group()
            .name("acme-php-health")
            .protocol(aws_sdk_elasticloadbalancingv2::types::ProtocolEnum::Http)
            .port(80)
            .vpc_id(vpc)
            .target_type(aws_sdk_elasticloadbalancingv2::types::TargetTypeEnum::Instance)
            .send()
            .await
            .unwrap()
            .target_groups
            .unwrap()
            .remove(0)
            .target_group_arn
            .unwrap();
        let cis = container_instances(c).await;
        for ci in &cis {
            elb.register_targets()
                .target_group_arn(&tg)
                .targets(
                    aws_sdk_elasticloadbalancingv2::types::TargetDescription::builder()
                        .id(ci.ec2_instance_id.clone().unwrap())
                        .port(80)
                        .build(),
                )
                .send()
                .await
                .unwrap();
            place_tasks(c, "shop", ci.container_instance_arn.as_deref().unwrap(), 1).await;
        }
        let sick = &cis[1];
        let sick_id = sick.ec2_instance_id.clone().unwrap();
        let sick_arn = sick.container_instance_arn.clone().unwrap();
        put_attribute(c, &sick_arn, HEALTH_ATTRIBUTE, "failing").await;

        let rates = Rates::new(1.0, 1.0);
        let mut a = Agent::new(
            ports(c, &rates, root.path(), Some(tg.clone())),
            Config::default(),
            Timing::default(),
            "a",
        );
        let lines = acted(&mut a).await;
        assert_eq!(
            container_instance_of(c, &sick_id).await.status.as_deref(),
            Some("DRAINING"),
            "{lines:?}"
        );
        assert!(
            group_instance_ids(c).await.contains(&sick_id),
            "terminated while its task still ran there: {lines:?}"
        );
        let healthy_id = cis[0].ec2_instance_id.clone().unwrap();
        assert_eq!(
            container_instance_of(c, &healthy_id)
                .await
                .status
                .as_deref(),
            Some("ACTIVE")
        );

        assert_eq!(scheduler_moves_tasks_off_draining(c).await, 1);
        let lines = acted(&mut a).await;
        let ids = group_instance_ids(c).await;
        assert!(!ids.contains(&sick_id), "not replaced: {lines:?}");
        assert_eq!(ids.len(), 2, "the group launched a replacement");
        assert_eq!(group(c).await.desired_capacity, Some(2), "capacity kept");
    });
}

#[test]
fn a_newer_ami_starts_one_instance_refresh_that_keeps_full_capacity() {
    let bed = Bed::start();
    let root = idealstack_testbed::scratch_dir("agent-moto-ami");
    bed.rt.block_on(async {
        let c = &bed.config;
        deploy(c, 2).await;
        let rates = Rates::new(1.0, 1.0);
        let mut a = agent(&bed, &rates, root.path(), "a");
        acted(&mut a).await;
        assert!(
            instance_refreshes(c).await.is_empty(),
            "instances run the AMI the parameter names"
        );

        // AWS publishes a newer ECS-optimised AMI (the instances' `ecs.ami-id` is still the old).
        publish_ami(c, NEW_AMI).await;
        let mut a = agent(&bed, &rates, root.path(), "a");
        let lines = acted(&mut a).await;
        let refreshes = instance_refreshes(c).await;
        assert_eq!(refreshes.len(), 1, "{lines:?}");
        let prefs = refreshes[0].preferences.clone().unwrap();
        assert_eq!(
            prefs.min_healthy_percentage,
            Some(100),
            "full capacity kept"
        );
        assert_eq!(prefs.max_healthy_percentage, Some(200));
        assert_eq!(
            prefs.skip_matching,
            Some(false),
            "the template version does not change"
        );
        assert_eq!(
            prefs.scale_in_protected_instances,
            Some(aws_sdk_autoscaling::types::ScaleInProtectedInstances::Refresh),
            "the group's instances are protected from scale-in: refresh them anyway"
        );
        assert!(
            lines.iter().any(|l| l.starts_with("instance refresh ")
                && l.contains(NEW_AMI)
                && l.contains(&refreshes[0].instance_refresh_id.clone().unwrap())),
            "{lines:?}"
        );

        // A fresh agent (no memory) sees the refresh running and does not start another.
        let mut b = agent(&bed, &rates, root.path(), "a");
        acted(&mut b).await;
        assert_eq!(instance_refreshes(c).await.len(), 1);
    });
}

#[test]
fn with_two_agents_only_the_lease_holder_acts_and_the_other_takes_over_after_expiry() {
    let bed = Bed::start();
    let root = idealstack_testbed::scratch_dir("agent-moto-lease");
    bed.rt.block_on(async {
        let c = &bed.config;
        deploy(c, 2).await;
        let timing = Timing {
            // Long enough that a slow pass of a on a loaded machine does not let it lapse early.
            lease_ttl: Duration::from_secs(3),
            ..Timing::default()
        };
        let rates = Rates::new(100.0, 1.0);
        let mut a = Agent::new(
            ports(c, &rates, root.path(), None),
            Config::default(),
            timing.clone(),
            "agent-a",
        );
        let mut b = Agent::new(
            ports(c, &rates, root.path(), None),
            Config::default(),
            timing,
            "agent-b",
        );
        acted(&mut a).await;
        assert_eq!(lease_holder(c).await.as_deref(), Some("agent-a"));
        let raised = desired_tasks(&bed, "shop").await;
        assert!(raised > 2);

        // Someone sets shop back; b would raise it again, but a holds the lease.
        let reset = || async {
            ecs(c)
                .update_service()
                .cluster(CLUSTER)
                .service(service_name("shop"))
                .desired_count(2)
                .send()
                .await
                .unwrap();
        };
        reset().await;
        assert_eq!(b.pass().await.unwrap(), PassOutcome::Standby);
        assert_eq!(
            desired_tasks(&bed, "shop").await,
            2,
            "b acted without the lease"
        );
        assert_eq!(lease_holder(c).await.as_deref(), Some("agent-a"));

        // a stops renewing (it died); once the lease lapsed b takes over and acts.
        tokio::time::sleep(Duration::from_millis(4100)).await;
        acted(&mut b).await;
        assert_eq!(lease_holder(c).await.as_deref(), Some("agent-b"));
        assert_eq!(desired_tasks(&bed, "shop").await, raised, "b acted");
        reset().await;
        assert_eq!(a.pass().await.unwrap(), PassOutcome::Standby, "a came back");
        assert_eq!(desired_tasks(&bed, "shop").await, 2);

        // The lease port itself: renewal by the holder, refusal of the other.
        let db = aws_sdk_dynamodb::Client::new(c);
        let la = DynamoLease::new(db.clone(), TABLE, "id", LEASE_KEY);
        assert!(la.acquire("agent-b", 30).await.unwrap(), "holder renews");
        assert!(!la.acquire("agent-a", 30).await.unwrap());
    });
}

#[test]
fn site_secrets_are_found_by_the_stacks_tags() {
    let bed = Bed::start();
    bed.rt.block_on(async {
        let sm = aws_sdk_secretsmanager::Client::new(&bed.config);
        for (stack, site) in [("acme", "shop"), ("acme", "blog"), ("other", "shop")] {
            use aws_sdk_secretsmanager::types::Tag;
            sm.create_secret()
                .name(format!("{stack}-{site}-db"))
                .secret_string(format!(
                    r#"{{"username":"{site}_user","password":"pw{stack}","dbname":"{site}_db","host":"db.internal","port":"3306"}}"#
                ))
                .tags(Tag::builder().key("idealstack:stack").value(stack).build())
                .tags(Tag::builder().key("idealstack:site").value(site).build())
                .tags(
                    Tag::builder()
                        .key("idealstack:purpose")
                        .value("site-database")
                        .build(),
                )
                .send()
                .await
                .unwrap();
        }
        let port = SecretsPort::new(sm, "acme");
        let (creds, endpoint) = port.sites().await.unwrap();
        assert_eq!(
            creds.keys().cloned().collect::<Vec<_>>(),
            vec!["blog".to_string(), "shop".to_string()]
        );
        assert_eq!(
            creds["shop"].password, "pwacme",
            "never the other stack's secret"
        );
        assert_eq!(creds["shop"].database, "shop_db");
        let endpoint = endpoint.unwrap();
        assert_eq!(
            (endpoint.host.as_str(), endpoint.port),
            ("db.internal", 3306)
        );
    });
}

#[test]
fn a_removed_sites_data_is_deleted_on_request_and_the_request_with_it() {
    use aws_sdk_secretsmanager::types::Tag;
    use idealstack_testbed::mariadb::{ADMIN, ADMIN_PASSWORD, MariaDb};
    let bed = Bed::start();
    let scratch = idealstack_testbed::scratch_dir("agent-purge");
    let db = MariaDb::with_admin(scratch.path());
    let root = scratch.path().join("sites");
    std::fs::create_dir(&root).unwrap();
    // What the removed site `old` (uid 20009) left: its folder, database, user and secret.
    idealstack_agent::folders::SiteFolders::new(&root)
        .ensure_site("old", 20009)
        .unwrap();
    std::fs::write(root.join("old/public_html/index.php"), "<?php").unwrap();
    db.sql("CREATE DATABASE old; CREATE USER 'old'@'%' IDENTIFIED BY 'oldPass1'; GRANT ALL ON old.* TO 'old'@'%';");
    let secret_arn = bed.rt.block_on(async {
        deploy(&bed.config, 2).await;
        let sm = aws_sdk_secretsmanager::Client::new(&bed.config);
        sm.create_secret()
            .name("acme-master")
            .secret_string(format!(r#"{{"username":"{ADMIN}","password":"{ADMIN_PASSWORD}"}}"#))
            .send()
            .await
            .unwrap();
        let out = sm
            .create_secret()
            .name("acme-site-old-db")
            .secret_string(format!(
                r#"{{"username":"old","password":"oldPass1","dbname":"old","host":"127.0.0.1","port":"{}"}}"#,
                db.port
            ))
            .tags(Tag::builder().key("idealstack:stack").value(STACK).build())
            .tags(Tag::builder().key("idealstack:site").value("old").build())
            .tags(Tag::builder().key("idealstack:purpose").value("site-database").build())
            .send()
            .await
            .unwrap();
        s3(&bed.config)
            .put_object()
            .bucket(BUCKET)
            .key("state/purge/old-20009.json")
            .body(
                br#"{"format":1,"site":"old","uid":20009,"files":true,"database":"old","requested_at":100}"#
                    .to_vec()
                    .into(),
            )
            .send()
            .await
            .unwrap();
        out.arn().unwrap().to_string()
    });
    let sm = aws_sdk_secretsmanager::Client::new(&bed.config);
    let master = bed.rt.block_on(async {
        sm.describe_secret()
            .secret_id("acme-master")
            .send()
            .await
            .unwrap()
            .arn()
            .unwrap()
            .to_string()
    });
    let rates = Rates::new(50.0, 20.0);
    let mut ports = ports(&bed.config, &rates, &root, None);
    ports.secrets = Some(Box::new(SecretsPort::new(sm.clone(), STACK)));
    ports.databases = Some(idealstack_aws::agent::rds_databases(
        sm.clone(),
        STACK,
        &master,
        false,
        None,
    ));
    let mut agent = Agent::new(ports, Config::default(), Timing::default(), "a");
    let lines = bed.rt.block_on(acted(&mut agent));
    assert!(
        lines.iter().any(|l| l.starts_with("purge old (uid 20009)")),
        "{lines:?}"
    );
    assert!(!root.join("old").exists(), "the folder is deleted");
    assert!(
        root.join("shop/public_html").is_dir(),
        "live sites keep theirs"
    );
    assert_eq!(db.sql("SHOW DATABASES LIKE 'old'").trim(), "");
    assert!(
        db.sql_as("old", "oldPass1", "SELECT 1").is_err(),
        "the user is gone"
    );
    bed.rt.block_on(async {
        let secret = sm
            .describe_secret()
            .secret_id(&secret_arn)
            .send()
            .await
            .unwrap();
        assert!(
            secret.deleted_date().is_some(),
            "the secret is scheduled for deletion"
        );
        let left = s3(&bed.config)
            .list_objects_v2()
            .bucket(BUCKET)
            .prefix("state/purge/")
            .send()
            .await
            .unwrap();
        assert!(left.contents().is_empty(), "the request is deleted");
    });
    // Nothing left to do: the next pass has no purge line.
    let lines = bed.rt.block_on(acted(&mut agent));
    assert!(!lines.iter().any(|l| l.starts_with("purge")), "{lines:?}");
}
