//! The loop around the decision: lease, act, requeue and backoff, with scripted ports and paused
//! time (tokio's test clock), so minutes of waiting run instantly and exactly.

#[path = "support/scripted.rs"]
mod scripted;

use idealstack_agent::controller::{Agent, PassOutcome, Timing, error_policy};
use idealstack_agent::ports::{ContainerInstance, GroupInstance, GroupState, ServiceState};
use idealstack_agent::reconcile::Config;
use scripted::{Script, Shared, ports, ports_with_database};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const DESIRED: &str = r#"{"format":1,"version":"v1","stack":"acme",
  "model":{"stack":{"instances":{"min":2,"max":8}},
           "sites":[{"name":"shop","min_tasks":2,"max_tasks":12,"database":false}]},
  "assignments":{"sites":{"shop":{"uid":20000}}}}"#;

fn script(demand: f64) -> Shared {
    Arc::new(Mutex::new(Script {
        desired_json: Some(DESIRED.as_bytes().to_vec()),
        services: vec![ServiceState {
            site: "shop".into(),
            service: "acme-site-shop".into(),
            desired: 2,
            running: 2,
            deploying: false,
            tasks_per_instance: BTreeMap::from([("ci-0".into(), 1), ("ci-1".into(), 1)]),
        }],
        instances: (0..2)
            .map(|n| ContainerInstance {
                arn: format!("ci-{n}"),
                ec2_id: format!("i-{n}"),
                status: "ACTIVE".into(),
                agent_connected: true,
                running_tasks: 1,
                pending_tasks: 0,
                image_id: Some("ami-1".into()),
            })
            .collect(),
        group: GroupState {
            desired: 2,
            min: 2,
            max: 8,
            instances: (0..2)
                .map(|n| GroupInstance {
                    id: format!("i-{n}"),
                    lifecycle: "InService".into(),
                    health: "Healthy".into(),
                    image_id: Some("ami-1".into()),
                })
                .collect(),
            refresh_in_progress: false,
        },
        demand: BTreeMap::from([("shop".into(), demand)]),
        ami: "ami-1".into(),
        ..Script::default()
    }))
}

#[tokio::test(start_paused = true)]
async fn a_pass_scales_out_and_logs_each_action_with_its_reason() {
    let shared = script(200.0);
    let mut agent = Agent::new(ports(&shared), Config::default(), Timing::default(), "a");
    let outcome = agent.pass().await.unwrap();
    let PassOutcome::Acted(lines) = outcome else {
        panic!("standby")
    };
    // A site without history gets the policy's prior margin (3.3 sigmas of 12.8% noise, about
    // 66% utilisation): 200 req/s / (25 * 0.66) = 12 tasks; 12 + 1 spare slot / 4 = 4 instances.
    assert_eq!(
        shared.lock().unwrap().calls,
        vec![
            "ecs:UpdateService acme-site-shop desired=12".to_string(),
            "autoscaling:SetDesiredCapacity 4".to_string(),
        ]
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("tasks shop: 2 -> 12 because 200.0 req/s")),
        "{lines:?}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("instances: 2 -> 4 because")),
        "{lines:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn only_the_lease_holder_acts_and_the_other_takes_over_when_it_lapses() {
    let shared = script(150.0);
    let timing = Timing::default();
    let mut first = Agent::new(ports(&shared), Config::default(), timing.clone(), "first");
    let mut second = Agent::new(ports(&shared), Config::default(), timing.clone(), "second");
    assert!(matches!(first.pass().await.unwrap(), PassOutcome::Acted(_)));
    let calls = shared.lock().unwrap().calls.len();
    assert_eq!(second.pass().await.unwrap(), PassOutcome::Standby);
    assert_eq!(
        shared.lock().unwrap().calls.len(),
        calls,
        "the standby agent made calls"
    );
    // The holder renews; the other still waits.
    tokio::time::advance(Duration::from_secs(120)).await;
    assert!(matches!(first.pass().await.unwrap(), PassOutcome::Acted(_)));
    assert_eq!(second.pass().await.unwrap(), PassOutcome::Standby);
    // The holder stops; once its lease lapses the other takes over.
    tokio::time::advance(timing.lease_ttl + Duration::from_secs(1)).await;
    assert!(matches!(
        second.pass().await.unwrap(),
        PassOutcome::Acted(_)
    ));
    assert_eq!(first.pass().await.unwrap(), PassOutcome::Standby);
}

#[test]
fn error_policy_doubles_up_to_the_cap() {
    let t = Timing::default();
    let delays: Vec<u64> = (1..=8).map(|n| error_policy(&t, n).as_secs()).collect();
    assert_eq!(delays, vec![5, 10, 20, 40, 80, 160, 300, 300]);
    assert_eq!(error_policy(&t, 100).as_secs(), 300);
}

/// When the desired state was read, in seconds from `start`.
fn read_times(shared: &Shared, start: tokio::time::Instant) -> Vec<u64> {
    shared
        .lock()
        .unwrap()
        .state_reads
        .iter()
        .map(|t| (*t - start).as_secs())
        .collect()
}

#[tokio::test(start_paused = true)]
async fn failures_back_off_then_the_loop_requeues_at_its_interval() {
    let shared = script(10.0);
    shared.lock().unwrap().fail_state_reads = 3;
    let timing = Timing {
        watch: None,
        ..Timing::default()
    };
    let mut agent = Agent::new(ports(&shared), Config::default(), timing, "a");
    let start = tokio::time::Instant::now();
    agent
        .run(tokio::time::sleep(Duration::from_secs(200)))
        .await;
    let reads = read_times(&shared, start);
    // Fails at 0, 5, 15; succeeds at 35; then every 60 s.
    assert_eq!(reads, vec![0, 5, 15, 35, 95, 155]);
}

#[tokio::test(start_paused = true)]
async fn a_deploy_that_changes_the_desired_state_gets_a_pass_at_once() {
    let shared = script(10.0);
    let mut agent = Agent::new(ports(&shared), Config::default(), Timing::default(), "a");
    let start = tokio::time::Instant::now();
    let deploy = {
        let shared = shared.clone();
        async move {
            tokio::time::sleep(Duration::from_secs(12)).await;
            let changed = DESIRED.replace("\"v1\"", "\"v2\"");
            shared.lock().unwrap().desired_json = Some(changed.into_bytes());
            tokio::time::sleep(Duration::from_secs(10)).await;
        }
    };
    agent.run(deploy).await;
    let reads = read_times(&shared, start);
    // A pass at 0; the watch reads every 5 s; the change at 12 is seen at 15, and the pass
    // (its own read) follows at once instead of at 60; the watch then goes on from there.
    assert_eq!(reads, vec![0, 5, 10, 15, 15, 20]);
}

#[tokio::test(start_paused = true)]
async fn a_missing_desired_state_says_to_deploy() {
    let shared = script(10.0);
    shared.lock().unwrap().desired_json = None;
    let mut agent = Agent::new(ports(&shared), Config::default(), Timing::default(), "a");
    let err = agent.pass().await.unwrap_err();
    assert!(err.to_string().contains("idealstack deploy"), "{err}");
}

#[tokio::test(start_paused = true)]
async fn a_removed_sites_data_is_deleted_when_asked_and_a_live_site_is_never_touched() {
    let shared = script(50.0);
    {
        let mut s = shared.lock().unwrap();
        s.objects.insert(
            "state/purge/old-20007.json".into(),
            br#"{"format":1,"site":"old","uid":20007,"files":true,"database":"old","requested_at":100}"#.to_vec(),
        );
        // shop is in the desired state, which says nothing of when it was written (older).
        s.objects.insert(
            "state/purge/shop-20000.json".into(),
            br#"{"format":1,"site":"shop","uid":20000,"files":true,"database":null,"requested_at":100}"#.to_vec(),
        );
        s.objects
            .insert("state/purge/garbage-1.json".into(), b"{".to_vec());
    }
    let mut agent = Agent::new(
        ports_with_database(&shared),
        Config::default(),
        Timing::default(),
        "a",
    );
    let PassOutcome::Acted(lines) = agent.pass().await.unwrap() else {
        panic!("standby")
    };
    let purge_calls = |shared: &Shared| -> Vec<String> {
        shared
            .lock()
            .unwrap()
            .calls
            .iter()
            .filter(|c| !c.starts_with("ecs:") && !c.starts_with("autoscaling:"))
            .cloned()
            .collect()
    };
    assert_eq!(
        purge_calls(&shared),
        [
            "mysql:DROP old old",
            "secretsmanager:DeleteSecret site=old",
            "efs:remove /sites/old uid=20007",
            "s3:DeleteObject state/purge/old-20007.json",
        ],
        "{lines:?}"
    );
    assert!(
        lines.iter().any(|l| l.starts_with("purge old (uid 20007)")),
        "{lines:?}"
    );
    assert!(
        lines.iter().any(|l| l.starts_with("purge shop: waiting")),
        "{lines:?}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains("state/purge/garbage-1.json is not a purge request")),
        "{lines:?}"
    );
    assert!(
        shared
            .lock()
            .unwrap()
            .objects
            .contains_key("state/purge/shop-20000.json")
    );

    // The deploy that added shop again wrote its desired state after the request: the request is
    // dropped and nothing of shop is deleted.
    {
        let mut s = shared.lock().unwrap();
        s.calls.clear();
        s.desired_json = Some(
            DESIRED
                .replace(r#""stack":"acme","#, r#""stack":"acme","written_at":200,"#)
                .into_bytes(),
        );
    }
    let PassOutcome::Acted(lines) = agent.pass().await.unwrap() else {
        panic!("standby")
    };
    assert_eq!(
        purge_calls(&shared),
        ["s3:DeleteObject state/purge/shop-20000.json"],
        "{lines:?}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("purge shop: request dropped: site shop was added again")),
        "{lines:?}"
    );
}
