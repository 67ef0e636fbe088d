//! The controllers the simulator compares: the agent's policy, AWS target tracking as ECS users
//! configure it, and the clairvoyant lower bound.
//!
//! Target tracking, as modelled (Application Auto Scaling and ECS capacity provider documentation):
//! - per service, `ECSServiceAverageCPUUtilization` at 60%, default cooldowns (300 s out, 300 s
//!   in); the scale-out alarm needs 3 consecutive one-minute datapoints above the target, the
//!   scale-in alarm 15 consecutive datapoints below 90% of it; the new capacity is
//!   `ceil(capacity * metric / target)`; during the scale-out cooldown a further scale-out counts
//!   from the capacity that started the cooldown; scale-in waits for both cooldowns to end;
//! - instances through a capacity provider with managed scaling at target capacity 100%: the
//!   metric is `M / N` where `M` is the instances running tasks plus those needed for the tasks
//!   that wait for a slot (net of free slots on instances still warming up); scale-out after one
//!   datapoint above 100%, scale-in after 15 below; managed termination protection means only
//!   instances without tasks are terminated; tasks are placed `binpack` (the placement most
//!   favourable to freeing instances).

use crate::policy::{self, PolicyConfig, PolicyMemory, SiteObservation};
use crate::sim::{Controller, InstanceScaleIn, MinuteMetrics, Placement, SimConfig, Targets};
use crate::trace::Trace;
use std::collections::BTreeMap;

/// The agent's policy driving the model cluster.
#[derive(Debug)]
pub struct AgentController {
    config: PolicyConfig,
    memory: PolicyMemory,
    names: Vec<String>,
    min_tasks: u32,
    max_tasks: u32,
    seen: usize,
    last: Option<Targets>,
}

impl AgentController {
    /// For `trace`'s sites, with the policy configured from `sim`'s sizes.
    pub fn new(sim: &SimConfig, trace: &Trace) -> Self {
        Self::with_policy(sim, trace, PolicyConfig::default())
    }

    /// For `trace`'s sites, with `policy`'s tunables (its sizes and instance bounds taken from
    /// `sim`, so the policy plans for the cluster it drives).
    pub fn with_policy(sim: &SimConfig, trace: &Trace, policy: PolicyConfig) -> Self {
        AgentController {
            config: PolicyConfig {
                task_capacity_rps: sim.task_capacity_rps,
                slots_per_instance: sim.slots_per_instance,
                min_instances: sim.min_instances,
                max_instances: sim.max_instances,
                ..policy
            },
            memory: PolicyMemory::default(),
            names: trace.sites.keys().cloned().collect(),
            min_tasks: sim.min_tasks,
            max_tasks: sim.max_tasks,
            seen: 0,
            last: None,
        }
    }

    fn run(&mut self, demand: &[f64]) -> Targets {
        let observation = policy::Observation {
            sites: self
                .names
                .iter()
                .zip(demand)
                .map(|(name, d)| {
                    (
                        name.clone(),
                        SiteObservation {
                            demand_rps: *d,
                            min_tasks: self.min_tasks,
                            max_tasks: self.max_tasks,
                        },
                    )
                })
                .collect::<BTreeMap<_, _>>(),
        };
        let (decision, memory) = policy::decide(&self.config, &self.memory, &observation);
        self.memory = memory;
        Targets {
            tasks: self.names.iter().map(|n| decision.tasks[n].0).collect(),
            instances: decision.instances.0,
        }
    }
}

impl Controller for AgentController {
    fn placement(&self) -> Placement {
        Placement::SpreadPerSite
    }
    fn scale_in(&self) -> InstanceScaleIn {
        InstanceScaleIn::Drain
    }
    fn initial(&mut self, first_minute: &[f64]) -> Targets {
        let targets = self.run(first_minute);
        self.last = Some(targets.clone());
        targets
    }
    fn decide(&mut self, _minute: usize, visible: &[MinuteMetrics]) -> Targets {
        if visible.len() > self.seen {
            self.seen = visible.len();
            let demand = visible[visible.len() - 1].demand.clone();
            self.last = Some(self.run(&demand));
        }
        self.last.clone().unwrap_or_else(|| Targets {
            tasks: Vec::new(),
            instances: 0,
        })
    }
}

/// Target tracking at 60% average CPU with default cooldowns (see the module documentation).
#[derive(Debug)]
pub struct TargetTracking {
    target: f64,
    task_capacity_rps: f64,
    slots: u32,
    min_tasks: u32,
    max_tasks: u32,
    min_instances: u32,
    max_instances: u32,
    sites: Vec<ServiceScaling>,
    instances: u32,
    cpr_high: u32,
    cpr_low: u32,
    seen: usize,
}

#[derive(Debug, Clone, Default)]
struct ServiceScaling {
    desired: u32,
    high: u32,
    low: u32,
    out_until: usize,
    out_base: u32,
    in_until: usize,
}

const COOLDOWN_MINUTES: usize = 5;
const HIGH_DATAPOINTS: u32 = 3;
const LOW_DATAPOINTS: u32 = 15;

impl TargetTracking {
    /// As ECS users configure it: 60% CPU.
    pub fn new(sim: &SimConfig, trace: &Trace) -> Self {
        TargetTracking {
            target: 0.6,
            task_capacity_rps: sim.task_capacity_rps,
            slots: sim.slots_per_instance,
            min_tasks: sim.min_tasks,
            max_tasks: sim.max_tasks,
            min_instances: sim.min_instances,
            max_instances: sim.max_instances,
            sites: vec![ServiceScaling::default(); trace.sites.len()],
            instances: 0,
            cpr_high: 0,
            cpr_low: 0,
            seen: 0,
        }
    }

    fn targets(&self) -> Targets {
        Targets {
            tasks: self.sites.iter().map(|s| s.desired).collect(),
            instances: self.instances,
        }
    }
}

impl Controller for TargetTracking {
    fn placement(&self) -> Placement {
        Placement::Binpack
    }
    fn scale_in(&self) -> InstanceScaleIn {
        InstanceScaleIn::EmptyOnly
    }
    fn initial(&mut self, first_minute: &[f64]) -> Targets {
        // Settled at the target: the capacity target tracking converges to for minute 0.
        let per_task = (self.task_capacity_rps * self.target).max(f64::MIN_POSITIVE);
        let mut total = 0;
        for (s, d) in self.sites.iter_mut().zip(first_minute) {
            s.desired = ((d / per_task).ceil() as u32).clamp(self.min_tasks, self.max_tasks);
            total += s.desired;
        }
        self.instances = total
            .div_ceil(self.slots.max(1))
            .clamp(self.min_instances, self.max_instances);
        self.targets()
    }
    fn decide(&mut self, minute: usize, visible: &[MinuteMetrics]) -> Targets {
        for m in &visible[self.seen.min(visible.len())..] {
            for (site, s) in self.sites.iter_mut().enumerate() {
                let cpu = m.cpu[site];
                s.high = if cpu > self.target { s.high + 1 } else { 0 };
                s.low = if cpu < 0.9 * self.target {
                    s.low + 1
                } else {
                    0
                };
            }
            // Capacity provider reservation, M / N.
            let n = m.instances.max(1);
            let need_more = m.pending.saturating_sub(m.launching_slots);
            let busy = m.instances_with_tasks
                + (m.instances - m.instances_with_tasks).min(
                    // Instances still launching count as needed while they have tasks to take.
                    if m.launching_slots > 0 {
                        m.launching_slots.div_ceil(self.slots)
                    } else {
                        0
                    },
                );
            let needed = busy + need_more.div_ceil(self.slots);
            let cpr = needed as f64 / n as f64;
            self.cpr_high = if cpr > 1.0 { self.cpr_high + 1 } else { 0 };
            self.cpr_low = if cpr < 1.0 { self.cpr_low + 1 } else { 0 };
            if self.cpr_high >= 1 && needed > self.instances {
                self.instances = needed.min(self.max_instances);
            } else if self.cpr_low >= LOW_DATAPOINTS && needed < self.instances {
                self.instances = needed.max(self.min_instances);
                self.cpr_low = 0;
            }
            for (site, s) in self.sites.iter_mut().enumerate() {
                let cpu = m.cpu[site];
                if s.high >= HIGH_DATAPOINTS {
                    let base = if minute < s.out_until {
                        s.out_base
                    } else {
                        s.desired
                    };
                    let want = ((base as f64 * cpu / self.target).ceil() as u32)
                        .clamp(self.min_tasks, self.max_tasks);
                    if want > s.desired {
                        if minute >= s.out_until {
                            s.out_base = s.desired;
                        }
                        s.desired = want;
                        s.out_until = minute + COOLDOWN_MINUTES;
                        s.in_until = 0;
                    }
                } else if s.low >= LOW_DATAPOINTS && minute >= s.out_until && minute >= s.in_until {
                    let want = ((s.desired as f64 * cpu / self.target).ceil() as u32)
                        .clamp(self.min_tasks, self.max_tasks);
                    if want < s.desired {
                        s.desired = want;
                        s.in_until = minute + COOLDOWN_MINUTES;
                    }
                }
            }
        }
        self.seen = visible.len();
        self.targets()
    }
}

/// The clairvoyant lower bound: each minute exactly the tasks the demand needs at 100% (never
/// below the floor), packed onto the fewest instances, with no delay.
pub fn clairvoyant_instance_hours(sim: &SimConfig, trace: &Trace) -> f64 {
    let mut instance_minutes: u64 = 0;
    for minute in 0..trace.minutes {
        let tasks: u32 = trace
            .sites
            .values()
            .map(|d| {
                ((d[minute] / sim.task_capacity_rps).ceil() as u32)
                    .clamp(sim.min_tasks, sim.max_tasks)
            })
            .sum();
        instance_minutes += u64::from(tasks.div_ceil(sim.slots_per_instance.max(1)).max(1));
    }
    instance_minutes as f64 / 60.0
}
