//! The scaling benchmark: every trace through the agent's policy and target tracking in the same
//! run, with the clairvoyant bound, as a Markdown table.

use crate::reference::{AgentController, TargetTracking, clairvoyant_instance_hours};
use crate::sim::{SimConfig, SimReport, simulate};
use crate::trace::Trace;

/// One trace's figures.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// Trace name.
    pub trace: String,
    /// The agent's policy.
    pub agent: SimReport,
    /// Target tracking at 60% CPU.
    pub target_tracking: SimReport,
    /// Clairvoyant instance-hours.
    pub clairvoyant_hours: f64,
}

/// Runs the three on `trace`.
pub fn run_trace(config: &SimConfig, trace: &Trace) -> Row {
    let agent = simulate(config, trace, &mut AgentController::new(config, trace));
    let target_tracking = simulate(config, trace, &mut TargetTracking::new(config, trace));
    Row {
        trace: trace.name.clone(),
        agent,
        target_tracking,
        clairvoyant_hours: clairvoyant_instance_hours(config, trace),
    }
}

/// Totals over rows: (agent hours, target-tracking hours, clairvoyant hours, agent overload,
/// target-tracking overload).
pub fn totals(rows: &[Row]) -> (f64, f64, f64, u64, u64) {
    rows.iter().fold((0.0, 0.0, 0.0, 0, 0), |t, r| {
        (
            t.0 + r.agent.instance_hours,
            t.1 + r.target_tracking.instance_hours,
            t.2 + r.clairvoyant_hours,
            t.3 + r.agent.overload_site_minutes,
            t.4 + r.target_tracking.overload_site_minutes,
        )
    })
}

/// The report as a Markdown table (one row per trace and a total).
pub fn markdown(rows: &[Row]) -> String {
    let mut out = String::from(
        "| trace | agent inst-h | target tracking inst-h | clairvoyant inst-h | agent / TT | agent / clairvoyant | TT / clairvoyant | overload site-min agent | overload site-min TT |\n\
         | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n",
    );
    let line = |name: &str, a: f64, t: f64, c: f64, oa: u64, ot: u64| {
        format!(
            "| {name} | {a:.1} | {t:.1} | {c:.1} | {:.3} | {:.3} | {:.3} | {oa} | {ot} |\n",
            a / t,
            a / c,
            t / c
        )
    };
    for r in rows {
        out.push_str(&line(
            &r.trace,
            r.agent.instance_hours,
            r.target_tracking.instance_hours,
            r.clairvoyant_hours,
            r.agent.overload_site_minutes,
            r.target_tracking.overload_site_minutes,
        ));
    }
    let (a, t, c, oa, ot) = totals(rows);
    out.push_str(&line("**total**", a, t, c, oa, ot));
    out
}
