//! The agent's scaling policy: a pure function of observations (and of its own small memory), so
//! the same code runs in the reconcile loop and in the simulator that replays traces through it.
//!
//! Two levels, one decision:
//! - **tasks per site** from the request rate the load balancer measured (not CPU, which saturates
//!   at 100% exactly when a site is overloaded and so hides how much is missing): size for the rate
//!   plus its recent growth projected over the time new capacity takes to arrive, at a target
//!   utilisation; scale in only to the peak of a trailing window, so capacity leaves slowly;
//! - **instances** from the slots the tasks need plus a spare, again scaled in only to the
//!   trailing window's peak; the reconciler drains an instance before it removes it.
//!
//! A site that asks for high availability never goes below two tasks (the reconciler keeps them in
//! two availability zones).

use std::collections::{BTreeMap, VecDeque};

/// What the policy sees of one site at a decision.
#[derive(Debug, Clone, PartialEq)]
pub struct SiteObservation {
    /// Requests per second over the last complete metric period.
    pub demand_rps: f64,
    /// Floor on tasks (2 for high availability).
    pub min_tasks: u32,
    /// Ceiling on tasks.
    pub max_tasks: u32,
}

/// What the policy sees of the cluster at a decision.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Observation {
    /// Per site, by name.
    pub sites: BTreeMap<String, SiteObservation>,
}

/// Tunables of the policy.
#[derive(Debug, Clone, PartialEq)]
pub struct PolicyConfig {
    /// Requests per second one task serves at 100% of its reservation.
    pub task_capacity_rps: f64,
    /// Task slots per instance.
    pub slots_per_instance: u32,
    /// Fraction of a task's capacity the policy plans to use (headroom for noise).
    pub target_utilisation: f64,
    /// Minutes over which recent growth is projected (about the time new capacity takes).
    pub lookahead_minutes: f64,
    /// Minutes of history whose peak bounds scale-in of tasks.
    pub task_scale_in_window: usize,
    /// Minutes of history whose peak bounds scale-in of instances.
    pub instance_scale_in_window: usize,
    /// Free task slots kept beyond what the tasks need, so a burst starts tasks without waiting for
    /// an instance to launch.
    pub spare_slots: u32,
    /// Floor on instances.
    pub min_instances: u32,
    /// Ceiling on instances.
    pub max_instances: u32,
}

impl Default for PolicyConfig {
    fn default() -> Self {
        PolicyConfig {
            task_capacity_rps: 25.0,
            slots_per_instance: 4,
            target_utilisation: 0.8,
            lookahead_minutes: 2.0,
            task_scale_in_window: 10,
            instance_scale_in_window: 15,
            spare_slots: 2,
            min_instances: 1,
            max_instances: 100,
        }
    }
}

/// What the policy remembers between decisions (recent history only).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PolicyMemory {
    demand: BTreeMap<String, VecDeque<f64>>,
    wanted_tasks: BTreeMap<String, VecDeque<u32>>,
    wanted_instances: VecDeque<u32>,
}

/// Why the policy chose a count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// Demand (with projected growth) needs this many.
    Demand,
    /// The trailing window's peak keeps capacity from leaving too fast.
    ScaleInWindow,
    /// The floor (minimum, or high availability).
    Floor,
    /// The ceiling.
    Ceiling,
}

/// The policy's decision.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    /// Desired tasks per site, with the reason.
    pub tasks: BTreeMap<String, (u32, Reason)>,
    /// Desired instances, with the reason.
    pub instances: (u32, Reason),
}

fn clamp(value: u32, floor: u32, ceiling: u32) -> (u32, Option<Reason>) {
    if value < floor {
        (floor, Some(Reason::Floor))
    } else if value > ceiling {
        (ceiling, Some(Reason::Ceiling))
    } else {
        (value, None)
    }
}

fn push_bounded<T>(queue: &mut VecDeque<T>, value: T, bound: usize) {
    queue.push_back(value);
    while queue.len() > bound.max(1) {
        queue.pop_front();
    }
}

/// Decides desired tasks per site and desired instances from `observation`, given the policy's
/// previous `memory`; returns the decision and the next memory. Pure: same inputs, same outputs.
pub fn decide(
    config: &PolicyConfig,
    memory: &PolicyMemory,
    observation: &Observation,
) -> (Decision, PolicyMemory) {
    let mut next = PolicyMemory::default();
    let per_task = (config.task_capacity_rps * config.target_utilisation).max(f64::MIN_POSITIVE);
    let mut tasks = BTreeMap::new();
    let mut total_tasks: u32 = 0;
    for (site, seen) in &observation.sites {
        let demand = seen.demand_rps.max(0.0);
        let mut history = memory.demand.get(site).cloned().unwrap_or_default();
        let previous = history.back().copied().unwrap_or(demand);
        push_bounded(&mut history, demand, 3);
        let growth = (demand - previous).max(0.0);
        let projected = demand + growth * config.lookahead_minutes;
        let for_demand = (projected / per_task).ceil() as u32;
        let mut wanted = memory.wanted_tasks.get(site).cloned().unwrap_or_default();
        push_bounded(&mut wanted, for_demand, config.task_scale_in_window);
        let peak = wanted.iter().copied().max().unwrap_or(for_demand);
        let (count, reason) = if peak > for_demand {
            (peak, Reason::ScaleInWindow)
        } else {
            (for_demand, Reason::Demand)
        };
        let (count, clamped) = clamp(count, seen.min_tasks, seen.max_tasks.max(seen.min_tasks));
        tasks.insert(site.clone(), (count, clamped.unwrap_or(reason)));
        total_tasks = total_tasks.saturating_add(count);
        next.demand.insert(site.clone(), history);
        next.wanted_tasks.insert(site.clone(), wanted);
    }
    let slots = config.slots_per_instance.max(1);
    let for_tasks = total_tasks.saturating_add(config.spare_slots).div_ceil(slots);
    let mut wanted_instances = memory.wanted_instances.clone();
    push_bounded(
        &mut wanted_instances,
        for_tasks,
        config.instance_scale_in_window,
    );
    let peak = wanted_instances.iter().copied().max().unwrap_or(for_tasks);
    let (count, reason) = if peak > for_tasks {
        (peak, Reason::ScaleInWindow)
    } else {
        (for_tasks, Reason::Demand)
    };
    let (count, clamped) = clamp(count, config.min_instances, config.max_instances);
    next.wanted_instances = wanted_instances;
    (
        Decision {
            tasks,
            instances: (count, clamped.unwrap_or(reason)),
        },
        next,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obs(demand: f64) -> Observation {
        let mut sites = BTreeMap::new();
        sites.insert(
            "shop".to_string(),
            SiteObservation {
                demand_rps: demand,
                min_tasks: 2,
                max_tasks: 50,
            },
        );
        Observation { sites }
    }

    #[test]
    fn sizes_for_demand_at_target_utilisation() {
        let config = PolicyConfig::default();
        let (d, _) = decide(&config, &PolicyMemory::default(), &obs(200.0));
        // 200 rps / (25 rps * 0.8) = 10 tasks; 12 slots with the spare -> 3 instances.
        assert_eq!(d.tasks["shop"], (10, Reason::Demand));
        assert_eq!(d.instances, (3, Reason::Demand));
    }

    #[test]
    fn floor_keeps_two_tasks_for_high_availability() {
        let (d, _) = decide(
            &PolicyConfig::default(),
            &PolicyMemory::default(),
            &obs(0.0),
        );
        assert_eq!(d.tasks["shop"], (2, Reason::Floor));
    }

    #[test]
    fn growth_is_projected_and_scale_in_waits_for_the_window() {
        let config = PolicyConfig::default();
        let (_, m) = decide(&config, &PolicyMemory::default(), &obs(100.0));
        let (d, m) = decide(&config, &m, &obs(300.0));
        // 300 + 200 * 2 = 700 rps -> 35 tasks.
        assert_eq!(d.tasks["shop"], (35, Reason::Demand));
        let mut m = m;
        for minute in 0..config.task_scale_in_window {
            let (d, next) = decide(&config, &m, &obs(100.0));
            m = next;
            if minute + 1 < config.task_scale_in_window {
                assert_eq!(d.tasks["shop"], (35, Reason::ScaleInWindow), "minute {minute}");
            } else {
                assert_eq!(d.tasks["shop"], (5, Reason::Demand));
            }
        }
    }

    #[test]
    fn same_inputs_give_the_same_decision() {
        let config = PolicyConfig::default();
        let a = decide(&config, &PolicyMemory::default(), &obs(123.0));
        let b = decide(&config, &PolicyMemory::default(), &obs(123.0));
        assert_eq!(a, b);
    }
}
