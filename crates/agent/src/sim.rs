//! The scaling simulator: replays a trace through a controller on a model cluster with realistic
//! delays, and reports instance-hours and overload site-minutes.
//!
//! The model (documented for readers of the benchmark in bench/scaling/README.md):
//! - time advances in ticks of a few seconds; controllers decide once a minute and see per-minute
//!   metrics `metric_lag_minutes` late (CloudWatch's one-minute period plus its publishing delay);
//! - a task serves `task_capacity_rps`; it serves `task_ready_secs` after it is placed (start +
//!   load-balancer health checks); a stopped task drains for `drain_secs` (deregistration delay),
//!   holding its slot but serving nothing;
//! - an instance has `slots_per_instance` task slots, is billed from launch, and takes
//!   `instance_ready_secs` to boot and register with ECS;
//! - a task that finds no free slot waits (pending) until one appears;
//! - a site-minute is *overloaded* when its demand exceeds the mean capacity of its serving tasks
//!   over that minute; measured CPU is demand / capacity, capped at 100% (an overloaded task cannot
//!   use more than all of it).

use crate::trace::Trace;

/// Delays and sizes of the model cluster.
#[derive(Debug, Clone, PartialEq)]
pub struct SimConfig {
    /// Requests per second one task serves at 100% CPU.
    pub task_capacity_rps: f64,
    /// Task slots per instance.
    pub slots_per_instance: u32,
    /// Seconds from instance launch to ECS registration (boot + agent start).
    pub instance_ready_secs: u64,
    /// Seconds from task placement to serving (start + two health checks).
    pub task_ready_secs: u64,
    /// Seconds a stopping task drains (target deregistration delay).
    pub drain_secs: u64,
    /// Simulation step.
    pub tick_secs: u64,
    /// Minutes a per-minute metric takes to become visible.
    pub metric_lag_minutes: usize,
    /// Floor on tasks per site (2: every site highly available).
    pub min_tasks: u32,
    /// Ceiling on tasks per site.
    pub max_tasks: u32,
    /// Floor on instances.
    pub min_instances: u32,
    /// Ceiling on instances.
    pub max_instances: u32,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            task_capacity_rps: 25.0,
            slots_per_instance: 4,
            instance_ready_secs: 180,
            task_ready_secs: 45,
            drain_secs: 30,
            tick_secs: 5,
            metric_lag_minutes: 1,
            min_tasks: 2,
            max_tasks: 200,
            min_instances: 1,
            max_instances: 500,
        }
    }
}

/// Where new tasks go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    /// Fullest instance with a free slot (ECS `binpack`); scale-in stops tasks on the emptiest.
    Binpack,
    /// Instance with the fewest tasks of the same site, then fewest tasks (the agent's spread).
    SpreadPerSite,
}

/// How instances leave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InstanceScaleIn {
    /// Only instances without tasks are terminated (managed termination protection).
    EmptyOnly,
    /// The emptiest instance is drained: its tasks start elsewhere first, then it goes.
    Drain,
}

/// What the cluster looked like over one minute (what controllers observe, late).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MinuteMetrics {
    /// Demand per site (requests per second).
    pub demand: Vec<f64>,
    /// Mean CPU utilisation of the site's serving tasks, 0..=1.
    pub cpu: Vec<f64>,
    /// Tasks waiting for a slot at the end of the minute.
    pub pending: u32,
    /// Instances (any state) at the end of the minute.
    pub instances: u32,
    /// Instances running at least one task at the end of the minute.
    pub instances_with_tasks: u32,
    /// Free slots on instances still launching at the end of the minute.
    pub launching_slots: u32,
}

/// Counts a controller wants.
#[derive(Debug, Clone, PartialEq)]
pub struct Targets {
    /// Desired tasks per site (in the trace's site order).
    pub tasks: Vec<u32>,
    /// Desired instances.
    pub instances: u32,
}

/// A scaling controller under test.
pub trait Controller {
    /// Placement of new tasks.
    fn placement(&self) -> Placement;
    /// How instances leave.
    fn scale_in(&self) -> InstanceScaleIn;
    /// Counts at the start, sized for the first minute's demand (the cluster starts settled).
    fn initial(&mut self, first_minute: &[f64]) -> Targets;
    /// Counts at the start of `minute`; `visible` holds the metrics visible then (oldest first).
    fn decide(&mut self, minute: usize, visible: &[MinuteMetrics]) -> Targets;
}

/// Result of one run.
#[derive(Debug, Clone, PartialEq)]
pub struct SimReport {
    /// Billed instance-hours.
    pub instance_hours: f64,
    /// Site-minutes whose demand exceeded serving capacity.
    pub overload_site_minutes: u64,
    /// Of those, the site-minutes in which the site had tasks waiting for a free slot (instances
    /// were short, not the tasks wanted).
    pub overload_waiting_for_slot: u64,
    /// Peak instance count.
    pub peak_instances: u32,
}

#[derive(Debug)]
struct Instance {
    id: u64,
    ready_at: u64,
    draining: bool,
}

#[derive(Debug)]
struct Task {
    site: usize,
    instance: u64,
    ready_at: u64,
    stop_at: Option<u64>,
}

struct Cluster {
    used: std::collections::HashMap<u64, u32>,
    draining: std::collections::HashSet<u64>,
    config: SimConfig,
    placement: Placement,
    scale_in: InstanceScaleIn,
    instances: Vec<Instance>,
    tasks: Vec<Task>,
    pending: Vec<u32>,
    next_id: u64,
}

impl Cluster {
    fn slots_used(&self, instance: u64) -> u32 {
        self.used.get(&instance).copied().unwrap_or(0)
    }

    fn on_draining(&self, task: &Task) -> bool {
        self.draining.contains(&task.instance)
    }

    fn refresh(&mut self) {
        self.used.clear();
        for t in &self.tasks {
            *self.used.entry(t.instance).or_insert(0) += 1;
        }
        self.draining = self
            .instances
            .iter()
            .filter(|i| i.draining)
            .map(|i| i.id)
            .collect();
    }

    fn launch(&mut self, now: u64, ready_now: bool) {
        let ready_at = if ready_now {
            now
        } else {
            now + self.config.instance_ready_secs
        };
        self.instances.push(Instance {
            id: self.next_id,
            ready_at,
            draining: false,
        });
        self.next_id += 1;
    }

    fn serving(&self, site: usize, now: u64) -> u32 {
        self.tasks
            .iter()
            .filter(|t| t.site == site && t.ready_at <= now && t.stop_at.is_none())
            .count() as u32
    }

    fn step(&mut self, now: u64, targets: &Targets) {
        self.tasks.retain(|t| t.stop_at.is_none_or(|s| s > now));
        self.refresh();
        // Tasks per site: live ones not on draining instances, plus pending.
        for (site, &desired) in targets.tasks.iter().enumerate() {
            let live: Vec<usize> = (0..self.tasks.len())
                .filter(|&i| {
                    let t = &self.tasks[i];
                    t.site == site && t.stop_at.is_none() && !self.on_draining(t)
                })
                .collect();
            let have = live.len() as u32 + self.pending[site];
            if have < desired {
                self.pending[site] += desired - have;
            } else if have > desired {
                let mut extra = have - desired;
                let from_pending = extra.min(self.pending[site]);
                self.pending[site] -= from_pending;
                extra -= from_pending;
                // Stop starting tasks first, then on the instance with the fewest tasks (binpack
                // frees instances that way) or the most tasks of this site (spread).
                let mut order = live;
                order.sort_by_key(|&i| {
                    let t = &self.tasks[i];
                    let starting = t.ready_at > now;
                    let weight = match self.placement {
                        Placement::Binpack => self.slots_used(t.instance) as i64,
                        Placement::SpreadPerSite => {
                            -(self
                                .tasks
                                .iter()
                                .filter(|o| o.instance == t.instance && o.site == site)
                                .count() as i64)
                        }
                    };
                    (!starting, weight)
                });
                for i in order.into_iter().take(extra as usize) {
                    self.tasks[i].stop_at = Some(now + self.config.drain_secs);
                }
            }
            // Tasks on draining instances stop once the site serves its desired count elsewhere.
            let elsewhere = self
                .tasks
                .iter()
                .filter(|t| {
                    t.site == site
                        && t.ready_at <= now
                        && t.stop_at.is_none()
                        && !self.on_draining(t)
                })
                .count() as u32;
            if elsewhere >= desired {
                let ids: Vec<u64> = self
                    .instances
                    .iter()
                    .filter(|i| i.draining)
                    .map(|i| i.id)
                    .collect();
                for t in self.tasks.iter_mut() {
                    if t.site == site && t.stop_at.is_none() && ids.contains(&t.instance) {
                        t.stop_at = Some(now + self.config.drain_secs);
                    }
                }
            }
        }
        self.place(now);
        // Instances.
        let active = self.instances.iter().filter(|i| !i.draining).count() as u32;
        let desired = targets.instances;
        if desired > active {
            for _ in active..desired {
                self.launch(now, false);
            }
        } else if desired < active {
            let mut excess = (active - desired) as usize;
            let mut candidates: Vec<(u32, u64)> = self
                .instances
                .iter()
                .filter(|i| !i.draining && i.ready_at <= now)
                .map(|i| (self.slots_used(i.id), i.id))
                .collect();
            candidates.sort();
            match self.scale_in {
                InstanceScaleIn::EmptyOnly => {
                    let empty: Vec<u64> = candidates
                        .iter()
                        .filter(|(used, _)| *used == 0)
                        .map(|(_, id)| *id)
                        .take(excess)
                        .collect();
                    self.instances.retain(|i| !empty.contains(&i.id));
                }
                InstanceScaleIn::Drain => {
                    // Never drain more than the free slots elsewhere can absorb.
                    for (used, id) in candidates {
                        if excess == 0 {
                            break;
                        }
                        let free_elsewhere: u32 = self
                            .instances
                            .iter()
                            .filter(|i| !i.draining && i.id != id)
                            .map(|i| self.config.slots_per_instance - self.slots_used(i.id))
                            .sum();
                        if used <= free_elsewhere {
                            if let Some(i) = self.instances.iter_mut().find(|i| i.id == id) {
                                i.draining = true;
                            }
                            self.draining.insert(id);
                            excess -= 1;
                        }
                    }
                }
            }
        }
        // A draining instance whose tasks are gone is terminated.
        let empty_draining: Vec<u64> = self
            .instances
            .iter()
            .filter(|i| i.draining && self.slots_used(i.id) == 0)
            .map(|i| i.id)
            .collect();
        self.instances.retain(|i| !empty_draining.contains(&i.id));
    }

    fn place(&mut self, now: u64) {
        let slots = self.config.slots_per_instance;
        for site in 0..self.pending.len() {
            while self.pending[site] > 0 {
                let mut best: Option<((i64, i64), u64)> = None;
                for inst in self
                    .instances
                    .iter()
                    .filter(|i| !i.draining && i.ready_at <= now)
                {
                    let used = self.slots_used(inst.id);
                    if used >= slots {
                        continue;
                    }
                    let key = match self.placement {
                        Placement::Binpack => (-(used as i64), 0),
                        Placement::SpreadPerSite => (
                            self.tasks
                                .iter()
                                .filter(|t| t.instance == inst.id && t.site == site)
                                .count() as i64,
                            used as i64,
                        ),
                    };
                    if best.is_none_or(|(k, _)| key < k) {
                        best = Some((key, inst.id));
                    }
                }
                let Some((_, id)) = best else { break };
                *self.used.entry(id).or_insert(0) += 1;
                self.tasks.push(Task {
                    site,
                    instance: id,
                    ready_at: now + self.config.task_ready_secs,
                    stop_at: None,
                });
                self.pending[site] -= 1;
            }
        }
    }
}

/// Replays `trace` through `controller` on the model cluster.
#[allow(clippy::needless_range_loop)] // minutes index several parallel series
pub fn simulate(config: &SimConfig, trace: &Trace, controller: &mut dyn Controller) -> SimReport {
    let demand: Vec<&Vec<f64>> = trace.sites.values().collect();
    let n = demand.len();
    let mut cluster = Cluster {
        used: Default::default(),
        draining: Default::default(),
        config: config.clone(),
        placement: controller.placement(),
        scale_in: controller.scale_in(),
        instances: Vec::new(),
        tasks: Vec::new(),
        pending: vec![0; n],
        next_id: 0,
    };
    let first: Vec<f64> = demand.iter().map(|d| d[0]).collect();
    let mut targets = controller.initial(&first);
    // The cluster starts settled: the initial instances and tasks are ready.
    for _ in 0..targets.instances {
        cluster.launch(0, true);
    }
    cluster.step(0, &targets);
    for t in cluster.tasks.iter_mut() {
        t.ready_at = 0;
    }
    let tick = config.tick_secs.clamp(1, 60);
    let ticks_per_minute = 60 / tick;
    let mut history: Vec<MinuteMetrics> = Vec::with_capacity(trace.minutes);
    let mut instance_secs: u64 = 0;
    let mut overload: u64 = 0;
    let mut overload_waiting: u64 = 0;
    let mut peak = 0u32;
    for minute in 0..trace.minutes {
        if minute > 0 {
            let visible = history.len().saturating_sub(config.metric_lag_minutes);
            targets = controller.decide(minute, &history[..visible]);
        }
        let mut capacity = vec![0.0; n];
        let mut waited = vec![false; n];
        for k in 0..ticks_per_minute {
            let now = (minute as u64 * 60) + k * tick;
            cluster.step(now, &targets);
            for (site, w) in waited.iter_mut().enumerate() {
                *w |= cluster.pending[site] > 0;
            }
            instance_secs += cluster.instances.len() as u64 * tick;
            peak = peak.max(cluster.instances.len() as u32);
            for (site, cap) in capacity.iter_mut().enumerate() {
                *cap += cluster.serving(site, now) as f64 * config.task_capacity_rps;
            }
        }
        let mut metrics = MinuteMetrics {
            demand: Vec::with_capacity(n),
            cpu: Vec::with_capacity(n),
            ..MinuteMetrics::default()
        };
        for site in 0..n {
            let cap = capacity[site] / ticks_per_minute as f64;
            let d = demand[site][minute];
            if d > cap + 1e-9 {
                overload += 1;
                overload_waiting += u64::from(waited[site]);
            }
            metrics.demand.push(d);
            metrics
                .cpu
                .push(if cap > 0.0 { (d / cap).min(1.0) } else { 1.0 });
        }
        let end = (minute as u64 + 1) * 60;
        metrics.pending = cluster.pending.iter().sum();
        metrics.instances = cluster.instances.len() as u32;
        metrics.instances_with_tasks = cluster
            .instances
            .iter()
            .filter(|i| cluster.slots_used(i.id) > 0)
            .count() as u32;
        metrics.launching_slots = cluster
            .instances
            .iter()
            .filter(|i| i.ready_at > end)
            .map(|i| config.slots_per_instance - cluster.slots_used(i.id))
            .sum();
        history.push(metrics);
    }
    SimReport {
        instance_hours: instance_secs as f64 / 3600.0,
        overload_site_minutes: overload,
        overload_waiting_for_slot: overload_waiting,
        peak_instances: peak,
    }
}
