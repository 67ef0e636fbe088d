//! Benchmark: planning 1,000 sites with 3 domains each (primary, an alias, a www redirect).
//!
//! `cargo bench -p idealstack-plan --bench plan_1000` measures (median of repeated runs, release
//! build; median and minimum): a first plan (empty prior), a re-plan with the full prior (the steady-state deploy), a
//! re-plan adding one site, and as the peer measured in the same run, the JSON round trip of the
//! prior (what the deployer does anyway to read assignments back). Under `cargo test
//! --all-targets` (no `--bench` argument) it runs each step once as a smoke test.

use std::hint::black_box;
use std::time::{Duration, Instant};

use idealstack_plan::{Plan, PlanInput, Prior, Quotas, SiteDemand, plan};

fn sites(n: usize) -> Vec<SiteDemand> {
    (0..n)
        .map(|i| SiteDemand {
            name: format!("site{i:04}"),
            serve_hosts: vec![
                format!("site{i:04}.example.com"),
                format!("site{i:04}-alias.example.net"),
            ],
            redirect_hosts: vec![format!("www.site{i:04}.example.com")],
        })
        .collect()
}

/// Median and minimum of `iterations` timed runs. On this shared 2-core machine the median
/// swings with other load; the minimum is the steadier figure, so ratios use it.
#[derive(Clone, Copy)]
struct Timing {
    median: Duration,
    min: Duration,
}

fn time<T>(iterations: usize, mut f: impl FnMut() -> T) -> Timing {
    let mut runs: Vec<Duration> = (0..iterations)
        .map(|_| {
            let start = Instant::now();
            black_box(f());
            start.elapsed()
        })
        .collect();
    runs.sort();
    Timing {
        median: runs[runs.len() / 2],
        min: runs[0],
    }
}

fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn main() {
    let bench = std::env::args().any(|a| a == "--bench");
    let iterations = if bench { 51 } else { 1 };

    let input = PlanInput {
        sites: sites(1000),
        ..Default::default()
    };
    let first: Plan = plan(&input).expect("1,000 sites plan");
    first.check(&Quotas::default()).expect("plan invariants");
    let steady = PlanInput {
        prior: Prior::from(&first),
        ..input.clone()
    };
    let mut grown = steady.clone();
    grown.sites = sites(1001);
    let json = serde_json::to_string(&Prior::from(&first)).expect("serialise");

    let t_first = time(iterations, || plan(&input).expect("plan"));
    let t_steady = time(iterations, || plan(&steady).expect("plan"));
    let t_grown = time(iterations, || plan(&grown).expect("plan"));
    let t_json = time(iterations, || {
        let s = serde_json::to_string(&Prior::from(&first)).expect("serialise");
        serde_json::from_str::<Prior>(&s).expect("parse")
    });

    let max_rules = first.shards.iter().map(|s| s.rules).max().unwrap_or(0);
    let max_tgs = first
        .shards
        .iter()
        .map(|s| s.target_groups)
        .max()
        .unwrap_or(0);
    println!(
        "plan_1000: 1,000 sites x 3 domains, default quotas, {iterations} runs (median / min)"
    );
    println!(
        "  shards: {} (max {max_tgs} target groups, {max_rules} rules per shard); prior JSON {} bytes",
        first.shards.len(),
        json.len()
    );
    for (what, t) in [
        ("first plan (empty prior)", t_first),
        ("re-plan with full prior", t_steady),
        ("re-plan adding one site", t_grown),
        ("peer: prior JSON round trip", t_json),
    ] {
        println!("  {what:<30} {:8.3} / {:8.3} ms", ms(t.median), ms(t.min));
    }
    let ratio = |t: Timing| t.min.as_secs_f64() / t_json.min.as_secs_f64().max(1e-9);
    println!(
        "  ratios to the peer (min): first {:.2}x, re-plan {:.2}x, add one {:.2}x",
        ratio(t_first),
        ratio(t_steady),
        ratio(t_grown)
    );
    if let Some(kib) = peak_rss_kib() {
        println!("  peak RSS of this process: {:.1} MiB", kib as f64 / 1024.0);
    }
}
