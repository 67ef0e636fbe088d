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
    /// Highest fraction of a task's capacity the policy plans to use (steady sites).
    pub target_utilisation: f64,
    /// Lowest fraction planned (the burstiest sites).
    pub min_utilisation: f64,
    /// Per-period decay of the remembered burstiness (0.998: half-life of about six hours).
    pub burst_memory: f64,
    /// Minutes over which recent growth is projected (about the time new capacity takes).
    pub lookahead_minutes: f64,
    /// Minutes of history whose peak bounds scale-in of tasks.
    pub task_scale_in_window: usize,
    /// Minutes of history whose peak bounds scale-in of instances.
    pub instance_scale_in_window: usize,
    /// Free task slots kept beyond what the tasks need, as a fraction of the tasks above their
    /// floors, so a burst starts tasks without waiting for an instance to launch.
    pub spare_fraction: f64,
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
            target_utilisation: 0.9,
            min_utilisation: 0.6,
            burst_memory: 0.998,
            lookahead_minutes: 2.0,
            task_scale_in_window: 5,
            instance_scale_in_window: 10,
            spare_fraction: 0.1,
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
    burst: BTreeMap<String, f64>,
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
    let mut tasks = BTreeMap::new();
    let mut total_tasks: u32 = 0;
    let mut above_floor: u32 = 0;
    for (site, seen) in &observation.sites {
        let demand = seen.demand_rps.max(0.0);
        let mut history = memory.demand.get(site).cloned().unwrap_or_default();
        push_bounded(&mut history, demand, 3);
        // Growth counts only when sustained over two periods (the smaller of the two rises), so
        // one noisy minute does not inflate capacity.
        let growth = match history.len() {
            3 => (history[2] - history[1])
                .min(history[1] - history[0])
                .max(0.0),
            _ => 0.0,
        };
        let projected = demand + growth * config.lookahead_minutes;
        // Burstiness: the largest recent jump from one period to the next (decaying slowly), for
        // sites busy enough to matter; a bursty site runs with more headroom, a steady one less.
        let mut burst = memory.burst.get(site).copied().unwrap_or(1.0);
        burst = 1.0 + (burst - 1.0) * config.burst_memory;
        if history.len() >= 2 {
            let prev = history[history.len() - 2];
            if prev >= config.task_capacity_rps * 0.5 {
                burst = burst.max((demand / prev).clamp(1.0, 3.0));
            }
        }
        next.burst.insert(site.clone(), burst);
        let utilisation = (1.0 / burst).clamp(config.min_utilisation, config.target_utilisation);
        let per_task = (config.task_capacity_rps * utilisation).max(f64::MIN_POSITIVE);
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
        above_floor = above_floor.saturating_add(count.saturating_sub(seen.min_tasks));
        next.demand.insert(site.clone(), history);
        next.wanted_tasks.insert(site.clone(), wanted);
    }
    let slots = config.slots_per_instance.max(1);
    // Spare slots in proportion to the tasks above their floors (the part that can grow).
    let spare = (f64::from(above_floor) * config.spare_fraction).ceil() as u32;
    let for_tasks = total_tasks.saturating_add(spare).div_ceil(slots);
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
        // 200 rps / (25 rps * 0.9) = 9 tasks; 7 above the floor -> 1 spare slot; 10 slots -> 3
        // instances.
        assert_eq!(d.tasks["shop"], (9, Reason::Demand));
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
    fn sustained_growth_is_projected_and_scale_in_waits_for_the_window() {
        let config = PolicyConfig::default();
        let (_, m) = decide(&config, &PolicyMemory::default(), &obs(100.0));
        let (_, m) = decide(&config, &m, &obs(200.0));
        let (d, m) = decide(&config, &m, &obs(300.0));
        // Growth of 100 req/s per minute projected two minutes: 500 req/s; the site doubled in
        // a minute, so it runs at the lowest utilisation (60%): 500 / 15 = 34 tasks.
        assert_eq!(d.tasks["shop"], (34, Reason::Demand));
        let mut m = m;
        for minute in 0..config.task_scale_in_window {
            let (d, next) = decide(&config, &m, &obs(100.0));
            m = next;
            if minute + 1 < config.task_scale_in_window {
                assert_eq!(
                    d.tasks["shop"],
                    (34, Reason::ScaleInWindow),
                    "minute {minute}"
                );
            } else {
                assert_eq!(d.tasks["shop"], (7, Reason::Demand));
            }
        }
    }

    #[test]
    fn one_noisy_minute_is_not_growth() {
        let config = PolicyConfig::default();
        let (_, m) = decide(&config, &PolicyMemory::default(), &obs(200.0));
        let (_, m) = decide(&config, &m, &obs(180.0));
        let (d, _) = decide(&config, &m, &obs(200.0));
        // A rise after a fall projects nothing: 200 / (25 * 0.9) = 9 tasks.
        assert_eq!(d.tasks["shop"].0, 9);
    }

    #[test]
    fn same_inputs_give_the_same_decision() {
        let config = PolicyConfig::default();
        let a = decide(&config, &PolicyMemory::default(), &obs(123.0));
        let b = decide(&config, &PolicyMemory::default(), &obs(123.0));
        assert_eq!(a, b);
    }
}
