//! The decision step of the reconcile loop: a pure function from what was observed ([`World`]) to
//! the [`Action`]s that move the cluster toward the desired state, each with its reason.
//!
//! What it decides, in order:
//! 1. site folders and databases (idempotent: the act step reports only real changes);
//! 2. tasks per site and instances, from the scaling [`policy`](crate::policy);
//! 3. self-healing: an instance whose PHP health check fails, or whose ECS agent disconnected, is
//!    replaced (terminated without lowering the desired capacity, so the group launches another;
//!    its sites keep serving on their other tasks, which high availability puts elsewhere);
//! 4. scale-in with draining: the agent sets the emptiest instance `DRAINING` (ECS starts its
//!    tasks elsewhere before it stops them, and the load balancer drains their targets); only once
//!    the instance runs no task is it terminated with the capacity decremented. One at a time.
//!    Terminations the group starts itself (scale-in, health replacement, instance refresh) are
//!    drained by ECS managed draining on the capacity provider;
//! 5. spread: when an instance has joined and a busy site has more tasks on one instance than an
//!    even spread allows, the site is redeployed so its spread placement uses the new instance;
//! 6. AMI roll-over: when the newest ECS-optimised AMI differs from what instances run and the
//!    schedule is due, an instance refresh (min healthy 100%) replaces the fleet.

use crate::desired::Desired;
use crate::policy::{self, PolicyConfig, PolicyMemory, SiteObservation};
use crate::ports::{ContainerInstance, GroupState, ServiceState};
use std::collections::BTreeMap;

/// Everything observed in one pass.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct World {
    /// Seconds since the loop started (monotonic).
    pub now_secs: u64,
    /// Desired state.
    pub desired: Desired,
    /// Site services by site.
    pub services: BTreeMap<String, ServiceState>,
    /// Container instances.
    pub container_instances: Vec<ContainerInstance>,
    /// The Auto Scaling group.
    pub group: GroupState,
    /// Instances failing the PHP health check.
    pub unhealthy: Vec<String>,
    /// Request rates per site.
    pub demand: BTreeMap<String, f64>,
    /// The newest ECS-optimised AMI, when known.
    pub latest_ami: Option<String>,
}

/// What the loop remembers between passes.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Memory {
    /// The scaling policy's history.
    pub policy: PolicyMemory,
    /// When an AMI roll-over was last started (or checked and found current).
    pub last_ami_check: Option<u64>,
    /// When an ECS agent was first seen disconnected, by container instance.
    pub disconnected_since: BTreeMap<String, u64>,
}

/// Tunables of the decision.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// The scaling policy.
    pub policy: PolicyConfig,
    /// Seconds an ECS agent may stay disconnected before its instance is replaced.
    pub disconnected_grace_secs: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            policy: PolicyConfig::default(),
            disconnected_grace_secs: 180,
        }
    }
}

/// One thing to do, with the reason logged next to it.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Make the site's folder follow the contract.
    EnsureFolder {
        /// Site.
        site: String,
        /// Its uid.
        uid: u32,
    },
    /// Make the site's database and user exist.
    EnsureDatabase {
        /// Site.
        site: String,
    },
    /// Set a service's desired count.
    SetTasks {
        /// Site.
        site: String,
        /// Service.
        service: String,
        /// From.
        from: u32,
        /// To.
        to: u32,
        /// Why.
        reason: String,
    },
    /// Set the group's desired capacity.
    SetInstances {
        /// From.
        from: u32,
        /// To.
        to: u32,
        /// Why.
        reason: String,
    },
    /// Set a container instance to DRAINING.
    Drain {
        /// Container instance ARN.
        container_instance: String,
        /// EC2 id.
        instance: String,
        /// Why.
        reason: String,
    },
    /// Terminate an instance.
    Terminate {
        /// EC2 id.
        instance: String,
        /// Lower the desired capacity (scale-in) or not (replacement).
        decrement: bool,
        /// Why.
        reason: String,
    },
    /// Redeploy a site so its tasks spread onto a new instance.
    Spread {
        /// Site.
        site: String,
        /// Service.
        service: String,
        /// Why.
        reason: String,
    },
    /// Start an instance refresh onto the newest AMI.
    RollAmi {
        /// Why.
        reason: String,
    },
}

fn in_service(group: &GroupState, id: &str) -> bool {
    group
        .instances
        .iter()
        .any(|i| i.id == id && i.lifecycle == "InService")
}

/// Decides the actions for `world`; returns them and the next memory. Pure.
pub fn reconcile(world: &World, memory: &Memory, config: &Config) -> (Vec<Action>, Memory) {
    let mut actions = Vec::new();
    let mut next = memory.clone();
    let desired = &world.desired;

    // 1. Folders and databases.
    for site in desired.sites.values() {
        actions.push(Action::EnsureFolder {
            site: site.name.clone(),
            uid: site.uid,
        });
        if site.database {
            actions.push(Action::EnsureDatabase {
                site: site.name.clone(),
            });
        }
    }

    // 2. Scaling.
    let observation = policy::Observation {
        sites: desired
            .sites
            .values()
            .map(|s| {
                (
                    s.name.clone(),
                    SiteObservation {
                        demand_rps: world.demand.get(&s.name).copied().unwrap_or(0.0),
                        min_tasks: s.min_tasks,
                        max_tasks: s.max_tasks,
                    },
                )
            })
            .collect(),
    };
    let mut policy_config = config.policy.clone();
    policy_config.min_instances = desired.min_instances;
    policy_config.max_instances = desired.max_instances;
    let (decision, policy_memory) = policy::decide(&policy_config, &memory.policy, &observation);
    next.policy = policy_memory;
    for (site, (count, why)) in &decision.tasks {
        if let Some(service) = world.services.get(site)
            && service.desired != *count
        {
            actions.push(Action::SetTasks {
                site: site.clone(),
                service: service.service.clone(),
                from: service.desired,
                to: *count,
                reason: format!(
                    "{:.1} req/s, policy: {why:?}",
                    world.demand.get(site).copied().unwrap_or(0.0)
                ),
            });
        }
    }

    // 3. Self-healing.
    let mut replacing = Vec::new();
    for ci in &world.container_instances {
        if !ci.agent_connected {
            let since = *next
                .disconnected_since
                .entry(ci.arn.clone())
                .or_insert(world.now_secs);
            if world.now_secs.saturating_sub(since) >= config.disconnected_grace_secs
                && in_service(&world.group, &ci.ec2_id)
            {
                replacing.push(ci.ec2_id.clone());
                actions.push(Action::Terminate {
                    instance: ci.ec2_id.clone(),
                    decrement: false,
                    reason: format!(
                        "ECS agent disconnected for {} s: replacing the instance (ECS reschedules its tasks)",
                        world.now_secs - since
                    ),
                });
            }
        } else {
            next.disconnected_since.remove(&ci.arn);
        }
    }
    for id in &world.unhealthy {
        if replacing.contains(id) || !in_service(&world.group, id) {
            continue;
        }
        let ci = world.container_instances.iter().find(|c| &c.ec2_id == id);
        match ci {
            Some(ci) if ci.status != "DRAINING" && ci.running_tasks > 0 => {
                actions.push(Action::Drain {
                    container_instance: ci.arn.clone(),
                    instance: id.clone(),
                    reason: "PHP health check failing: moving its tasks before replacing it".into(),
                });
            }
            _ => {
                replacing.push(id.clone());
                actions.push(Action::Terminate {
                    instance: id.clone(),
                    decrement: false,
                    reason: "PHP health check failing and no task left on it: replacing it".into(),
                });
            }
        }
    }

    // 4. Instances: scale out, or drain then remove one at a time.
    let (want, why) = decision.instances;
    let group = &world.group;
    let draining: Vec<&ContainerInstance> = world
        .container_instances
        .iter()
        .filter(|c| c.status == "DRAINING" && !replacing.contains(&c.ec2_id))
        .collect();
    if want > group.desired {
        actions.push(Action::SetInstances {
            from: group.desired,
            to: want,
            reason: format!("task slots needed, policy: {why:?}"),
        });
    } else {
        for ci in &draining {
            if ci.running_tasks == 0
                && ci.pending_tasks == 0
                && in_service(group, &ci.ec2_id)
                && !world.unhealthy.contains(&ci.ec2_id)
            {
                actions.push(Action::Terminate {
                    instance: ci.ec2_id.clone(),
                    decrement: true,
                    reason: "drained: its tasks run elsewhere and its targets deregistered".into(),
                });
            }
        }
        if want < group.desired && draining.is_empty() && !group.refresh_in_progress {
            let candidate = world
                .container_instances
                .iter()
                .filter(|c| {
                    c.status == "ACTIVE"
                        && c.agent_connected
                        && in_service(group, &c.ec2_id)
                        && !replacing.contains(&c.ec2_id)
                })
                .min_by_key(|c| (c.running_tasks, c.ec2_id.clone()));
            if let Some(ci) = candidate {
                actions.push(Action::Drain {
                    container_instance: ci.arn.clone(),
                    instance: ci.ec2_id.clone(),
                    reason: format!(
                        "scale in from {} to {} instances ({why:?}): draining the emptiest ({} tasks)",
                        group.desired, want, ci.running_tasks
                    ),
                });
            }
        }
    }

    // 5. Spread busy sites onto an instance that joined.
    let active: Vec<&ContainerInstance> = world
        .container_instances
        .iter()
        .filter(|c| c.status == "ACTIVE" && c.agent_connected)
        .collect();
    let fresh = active.iter().any(|c| c.running_tasks == 0);
    if fresh && active.len() > 1 {
        let busiest = world
            .services
            .values()
            .filter(|s| !s.deploying && s.running >= 2)
            .filter_map(|s| {
                let most = s.tasks_per_instance.values().copied().max().unwrap_or(0);
                let even = s.running.div_ceil(active.len() as u32);
                (most > even).then(|| (most - even, s))
            })
            .max_by_key(|(excess, s)| (*excess, s.running));
        if let Some((_, s)) = busiest {
            actions.push(Action::Spread {
                site: s.site.clone(),
                service: s.service.clone(),
                reason: format!(
                    "an instance joined and {} has {} of its {} tasks on one instance",
                    s.site,
                    s.tasks_per_instance.values().max().copied().unwrap_or(0),
                    s.running
                ),
            });
        }
    }

    // 6. AMI roll-over on the manifest's schedule.
    let period = u64::from(desired.ami_check_hours) * 3600;
    let due = memory
        .last_ami_check
        .is_none_or(|t| world.now_secs.saturating_sub(t) >= period);
    if let Some(latest) = &world.latest_ami
        && due
        && !group.refresh_in_progress
    {
        let stale = world
            .container_instances
            .iter()
            .filter(|c| c.image_id.as_ref().is_some_and(|img| img != latest))
            .count();
        if stale == 0 {
            next.last_ami_check = Some(world.now_secs);
        } else if draining.is_empty() && replacing.is_empty() {
            next.last_ami_check = Some(world.now_secs);
            actions.push(Action::RollAmi {
                reason: format!(
                    "{stale} instance(s) run an older AMI than {latest}: instance refresh keeping 100% healthy"
                ),
            });
        }
    }
    (actions, next)
}
