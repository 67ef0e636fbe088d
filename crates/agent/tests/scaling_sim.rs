//! The simulator and its references: it can show overload, delays matter, the clairvoyant bound
//! is a bound, and the shipped trace files are exactly what the generators make.

use idealstack_agent::bench::{run_trace, totals};
use idealstack_agent::reference::{AgentController, TargetTracking, clairvoyant_instance_hours};
use idealstack_agent::sim::{
    Controller, InstanceScaleIn, MinuteMetrics, Placement, SimConfig, Targets, simulate,
};
use idealstack_agent::trace::{self, Trace};

/// A controller that never changes anything: the floor of tasks on one instance.
struct Frozen(usize);

impl Controller for Frozen {
    fn placement(&self) -> Placement {
        Placement::Binpack
    }
    fn scale_in(&self) -> InstanceScaleIn {
        InstanceScaleIn::EmptyOnly
    }
    fn initial(&mut self, _first: &[f64]) -> Targets {
        Targets {
            tasks: vec![2; self.0],
            instances: (self.0 as u32 * 2).div_ceil(4),
        }
    }
    fn decide(&mut self, _minute: usize, _visible: &[MinuteMetrics]) -> Targets {
        self.initial(&[])
    }
}

fn step_trace() -> Trace {
    // One site: 20 req/s for 30 minutes, then 400 req/s for 60.
    let mut csv = String::from("minute,site,demand\n");
    for m in 0..90 {
        csv.push_str(&format!("{m},shop,{}\n", if m < 30 { 20 } else { 400 }));
    }
    Trace::parse("step", &csv).unwrap()
}

#[test]
fn a_controller_that_does_not_scale_is_overloaded_every_minute_of_the_surge() {
    let report = simulate(&SimConfig::default(), &step_trace(), &mut Frozen(1));
    assert_eq!(report.overload_site_minutes, 60);
    assert!((report.instance_hours - 1.5).abs() < 1e-9, "{report:?}");
}

#[test]
fn the_agent_catches_up_within_minutes_and_slower_instances_cost_overload() {
    let t = step_trace();
    let fast = SimConfig::default();
    let agent = simulate(&fast, &t, &mut AgentController::new(&fast, &t));
    assert!(
        agent.overload_site_minutes >= 2,
        "metrics are late: {agent:?}"
    );
    assert!(agent.overload_site_minutes <= 6, "{agent:?}");
    let slow = SimConfig {
        instance_ready_secs: 600,
        ..SimConfig::default()
    };
    let late = simulate(&slow, &t, &mut AgentController::new(&slow, &t));
    assert!(
        late.overload_site_minutes > agent.overload_site_minutes,
        "{late:?} vs {agent:?}"
    );
}

#[test]
fn the_clairvoyant_bound_is_below_both_controllers() {
    let config = SimConfig::default();
    for t in [step_trace(), trace::flash_crowd()] {
        let bound = clairvoyant_instance_hours(&config, &t);
        let a = simulate(&config, &t, &mut AgentController::new(&config, &t));
        let tt = simulate(&config, &t, &mut TargetTracking::new(&config, &t));
        assert!(
            bound <= a.instance_hours && bound <= tt.instance_hours,
            "{}: {bound} {a:?} {tt:?}",
            t.name
        );
    }
}

#[test]
fn target_tracking_waits_for_three_datapoints_and_its_cpu_saturates() {
    let config = SimConfig::default();
    let t = step_trace();
    let tt = simulate(&config, &t, &mut TargetTracking::new(&config, &t));
    let agent = simulate(&config, &t, &mut AgentController::new(&config, &t));
    // 3 high datapoints one minute late, then steps of at most 1/0.6 while CPU reads 100%.
    assert!(tt.overload_site_minutes >= 6, "{tt:?}");
    assert!(agent.overload_site_minutes < tt.overload_site_minutes);
}

#[test]
fn flash_crowd_overload_is_no_worse_than_target_tracking() {
    let row = run_trace(&SimConfig::default(), &trace::flash_crowd());
    assert!(
        row.agent.overload_site_minutes <= row.target_tracking.overload_site_minutes,
        "{row:?}"
    );
}

#[test]
fn shipped_trace_files_are_what_the_generators_make() {
    let dir = idealstack_testbed::project_root().join("bench/scaling/traces");
    for t in trace::shipped() {
        let path = dir.join(format!("{}.csv", t.name));
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
            panic!("{}: {e} (run bench/scaling/run --generate)", path.display())
        });
        assert_eq!(
            text,
            t.to_csv(),
            "{} differs from its generator",
            path.display()
        );
    }
}

/// Issue 6's target on the shipped traces: at least 15% fewer instance-hours than target tracking
/// overall (ratio <= 0.85), and overload no worse than target tracking on every trace.
#[test]
fn the_agent_meets_the_target_on_the_shipped_traces() {
    let config = SimConfig::default();
    let rows: Vec<_> = trace::shipped()
        .iter()
        .map(|t| run_trace(&config, t))
        .collect();
    for row in &rows {
        assert!(
            row.agent.overload_site_minutes <= row.target_tracking.overload_site_minutes,
            "{}: agent overloaded {} site-minutes, target tracking {}",
            row.trace,
            row.agent.overload_site_minutes,
            row.target_tracking.overload_site_minutes
        );
    }
    let (agent, target_tracking, ..) = totals(&rows);
    assert!(
        agent / target_tracking <= 0.85,
        "agent {agent:.1} vs target tracking {target_tracking:.1} instance-hours: ratio {:.3}",
        agent / target_tracking
    );
}

/// The validation family (`trace::family`: noisy daily cycles at 5-20%, random spikes, sawtooth
/// ramps, level steps, many small sites with a few large ones, two seeds each; kept out of the
/// shipped traces): overload no worse than target tracking on every trace, and fewer
/// instance-hours than target tracking in total. (The policy's tunables were chosen against the
/// shipped traces and this family together; BENCHMARKS.md also reports fresh seeds.)
#[test]
fn the_agent_holds_on_the_validation_family() {
    let config = SimConfig::default();
    let rows: Vec<_> = trace::family::family()
        .iter()
        .map(|t| run_trace(&config, t))
        .collect();
    assert_eq!(rows.len(), 16);
    let worse: Vec<String> = rows
        .iter()
        .filter(|r| r.agent.overload_site_minutes > r.target_tracking.overload_site_minutes)
        .map(|r| {
            format!(
                "{}: agent {} vs target tracking {} overloaded site-minutes",
                r.trace, r.agent.overload_site_minutes, r.target_tracking.overload_site_minutes
            )
        })
        .collect();
    assert!(worse.is_empty(), "{worse:#?}");
    let (agent, target_tracking, ..) = totals(&rows);
    assert!(
        agent < target_tracking,
        "agent {agent:.1} vs target tracking {target_tracking:.1} instance-hours"
    );
}
