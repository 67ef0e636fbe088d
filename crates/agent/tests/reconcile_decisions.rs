//! The pure decision step: observed worlds in, actions with reasons out.

use idealstack_agent::desired::{Desired, DesiredSite};
use idealstack_agent::ports::{ContainerInstance, GroupInstance, GroupState, ServiceState};
use idealstack_agent::reconcile::{Action, Config, Memory, World, reconcile};
use std::collections::BTreeMap;

fn site(name: &str, uid: u32, database: bool) -> DesiredSite {
    DesiredSite {
        name: name.into(),
        uid,
        min_tasks: 2,
        max_tasks: 20,
        database,
    }
}

fn ci(n: u32, tasks: u32) -> ContainerInstance {
    ContainerInstance {
        arn: format!("arn:ci/{n}"),
        ec2_id: format!("i-{n}"),
        status: "ACTIVE".into(),
        agent_connected: true,
        running_tasks: tasks,
        pending_tasks: 0,
        image_id: Some("ami-1".into()),
    }
}

fn world(instances: &[u32], demand: f64) -> World {
    let mut sites = BTreeMap::new();
    sites.insert("shop".to_string(), site("shop", 20000, true));
    sites.insert("blog".to_string(), site("blog", 20001, false));
    let mut services = BTreeMap::new();
    for s in ["shop", "blog"] {
        services.insert(
            s.to_string(),
            ServiceState {
                site: s.into(),
                service: format!("{s}-svc"),
                desired: 2,
                running: 2,
                deploying: false,
                tasks_per_instance: BTreeMap::from([
                    ("arn:ci/0".to_string(), 1),
                    ("arn:ci/1".to_string(), 1),
                ]),
            },
        );
    }
    World {
        now_secs: 0,
        desired: Desired {
            version: "v1".into(),
            stack: "acme".into(),
            written_at: 0,
            sites,
            min_instances: 2,
            max_instances: 10,
            ami_check_hours: 24,
        },
        services,
        container_instances: instances
            .iter()
            .enumerate()
            .map(|(n, t)| ci(n as u32, *t))
            .collect(),
        group: GroupState {
            desired: instances.len() as u32,
            min: 2,
            max: 10,
            instances: (0..instances.len())
                .map(|n| GroupInstance {
                    id: format!("i-{n}"),
                    lifecycle: "InService".into(),
                    health: "Healthy".into(),
                    image_id: Some("ami-1".into()),
                })
                .collect(),
            refresh_in_progress: false,
        },
        unhealthy: vec![],
        demand: BTreeMap::from([("shop".to_string(), demand), ("blog".to_string(), 1.0)]),
        latest_ami: Some("ami-1".into()),
    }
}

fn kinds(actions: &[Action]) -> Vec<&'static str> {
    actions
        .iter()
        .map(|a| match a {
            Action::EnsureFolder { .. } => "folder",
            Action::EnsureDatabase { .. } => "database",
            Action::SetTasks { .. } => "tasks",
            Action::SetInstances { .. } => "instances",
            Action::Drain { .. } => "drain",
            Action::Terminate { .. } => "terminate",
            Action::Spread { .. } => "spread",
            Action::RollAmi { .. } => "roll-ami",
        })
        .collect()
}

#[test]
fn folders_for_every_site_and_databases_only_where_asked() {
    let (actions, _) = reconcile(
        &world(&[2, 2], 10.0),
        &Memory::default(),
        &Config::default(),
    );
    assert!(actions.contains(&Action::EnsureFolder {
        site: "shop".into(),
        uid: 20000
    }));
    assert!(actions.contains(&Action::EnsureFolder {
        site: "blog".into(),
        uid: 20001
    }));
    assert!(actions.contains(&Action::EnsureDatabase {
        site: "shop".into()
    }));
    assert!(!actions.contains(&Action::EnsureDatabase {
        site: "blog".into()
    }));
}

#[test]
fn busy_site_scales_out_tasks_and_instances_with_reasons() {
    let (actions, _) = reconcile(
        &world(&[2, 2], 400.0),
        &Memory::default(),
        &Config::default(),
    );
    let tasks = actions.iter().find_map(|a| match a {
        Action::SetTasks {
            site, to, reason, ..
        } if site == "shop" => Some((*to, reason.clone())),
        _ => None,
    });
    // 400 req/s at 25 req/s per task is 16 tasks' worth; a site without history gets the policy's
    // prior margin on top: 20 tasks.
    let (to, reason) = tasks.expect("shop scales out");
    assert_eq!(to, 20);
    assert!(reason.contains("400.0 req/s"), "{reason}");
    let instances = actions.iter().find_map(|a| match a {
        Action::SetInstances { from, to, .. } => Some((*from, *to)),
        _ => None,
    });
    // 20 + 2 tasks + 1 spare slot (5% of the 18 above the floors) over 4 slots: 6 instances.
    assert_eq!(instances, Some((2, 6)));
}

#[test]
fn scale_in_drains_the_emptiest_then_terminates_it_once_empty() {
    let mut w = world(&[2, 1, 1], 10.0);
    w.group.desired = 3;
    let (actions, memory) = reconcile(&w, &Memory::default(), &Config::default());
    let drain: Vec<_> = actions
        .iter()
        .filter_map(|a| match a {
            Action::Drain { instance, .. } => Some(instance.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(drain, vec!["i-1".to_string()], "{actions:?}");
    assert!(!kinds(&actions).contains(&"terminate"));
    // Next pass: still draining with a task left: wait.
    w.container_instances[1].status = "DRAINING".into();
    let (actions, memory) = reconcile(&w, &memory, &Config::default());
    assert!(!kinds(&actions).contains(&"terminate"), "{actions:?}");
    assert!(
        !kinds(&actions).contains(&"drain"),
        "one drain at a time: {actions:?}"
    );
    // Its tasks run elsewhere now: terminate with the capacity decremented.
    w.container_instances[1].running_tasks = 0;
    let (actions, _) = reconcile(&w, &memory, &Config::default());
    assert!(actions.contains(&Action::Terminate {
        instance: "i-1".into(),
        decrement: true,
        reason: "drained: its tasks run elsewhere and its targets deregistered".into(),
    }));
}

#[test]
fn a_disconnected_agent_is_replaced_after_the_grace_period() {
    let mut w = world(&[2, 2], 10.0);
    w.container_instances[0].agent_connected = false;
    let config = Config::default();
    let (actions, memory) = reconcile(&w, &Memory::default(), &config);
    assert!(!kinds(&actions).contains(&"terminate"));
    w.now_secs = config.disconnected_grace_secs + 1;
    let (actions, _) = reconcile(&w, &memory, &config);
    assert!(
        actions.iter().any(|a| matches!(a,
        Action::Terminate { instance, decrement: false, .. } if instance == "i-0")),
        "{actions:?}"
    );
}

#[test]
fn php_unhealthy_instance_is_drained_then_replaced() {
    let mut w = world(&[2, 2], 10.0);
    w.unhealthy = vec!["i-1".into()];
    let (actions, memory) = reconcile(&w, &Memory::default(), &Config::default());
    assert!(
        actions
            .iter()
            .any(|a| matches!(a, Action::Drain { instance, .. } if instance == "i-1"))
    );
    w.container_instances[1].status = "DRAINING".into();
    w.container_instances[1].running_tasks = 0;
    let (actions, _) = reconcile(&w, &memory, &Config::default());
    assert!(
        actions.iter().any(|a| matches!(a,
        Action::Terminate { instance, decrement: false, .. } if instance == "i-1")),
        "{actions:?}"
    );
}

#[test]
fn a_joined_instance_gets_the_busiest_site_spread_onto_it() {
    let mut w = world(&[4, 0, 0], 10.0);
    w.group.desired = 3;
    let shop = w.services.get_mut("shop").unwrap();
    shop.running = 4;
    shop.desired = 4;
    shop.tasks_per_instance = BTreeMap::from([("arn:ci/0".to_string(), 4)]);
    let (actions, _) = reconcile(&w, &Memory::default(), &Config::default());
    assert!(
        actions
            .iter()
            .any(|a| matches!(a, Action::Spread { site, .. } if site == "shop")),
        "{actions:?}"
    );
    // Already even: no spread.
    let mut even = world(&[2, 2, 0], 10.0);
    even.group.desired = 3;
    let (actions, _) = reconcile(&even, &Memory::default(), &Config::default());
    assert!(!kinds(&actions).contains(&"spread"), "{actions:?}");
}

#[test]
fn a_service_whose_tasks_are_not_listed_yet_is_not_spread() {
    // ECS reports running tasks before ListTasks shows where they run (or the tasks are fewer per
    // instance than an even share): the check must not underflow, and there is nothing to spread.
    let mut w = world(&[0, 0, 0], 10.0);
    w.group.desired = 3;
    let shop = w.services.get_mut("shop").unwrap();
    shop.running = 5;
    shop.tasks_per_instance.clear();
    let (actions, _) = reconcile(&w, &Memory::default(), &Config::default());
    assert!(!kinds(&actions).contains(&"spread"), "{actions:?}");
}

#[test]
fn new_ami_rolls_the_fleet_once_per_schedule() {
    let mut w = world(&[2, 2], 10.0);
    w.latest_ami = Some("ami-2".into());
    let (actions, memory) = reconcile(&w, &Memory::default(), &Config::default());
    assert!(kinds(&actions).contains(&"roll-ami"), "{actions:?}");
    w.now_secs = 3600;
    let (actions, _) = reconcile(&w, &memory, &Config::default());
    assert!(
        !kinds(&actions).contains(&"roll-ami"),
        "not before the schedule: {actions:?}"
    );
    w.now_secs = 24 * 3600;
    let (actions, _) = reconcile(&w, &memory, &Config::default());
    assert!(kinds(&actions).contains(&"roll-ami"));
    w.group.refresh_in_progress = true;
    let (actions, _) = reconcile(&w, &memory, &Config::default());
    assert!(
        !kinds(&actions).contains(&"roll-ami"),
        "never two refreshes at once"
    );
}

#[test]
fn high_availability_sites_never_go_below_two_tasks() {
    let mut w = world(&[2, 2], 0.0);
    w.services.get_mut("shop").unwrap().desired = 5;
    let (actions, _) = reconcile(&w, &Memory::default(), &Config::default());
    let to = actions.iter().find_map(|a| match a {
        Action::SetTasks { site, to, .. } if site == "shop" => Some(*to),
        _ => None,
    });
    assert_eq!(to, Some(2));
}
