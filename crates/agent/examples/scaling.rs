//! The scaling benchmark (bench/scaling/run): replays traces through the agent's policy and AWS
//! target tracking in the same run, with the clairvoyant lower bound, and prints a Markdown table.
//!
//! Usage: `scaling [--generate DIR] [--family] [--family-seeds 303,404] [TRACE.csv ...]`.
//! `--generate` (re)writes the shipped traces into DIR first; `--family` replays the held-out
//! validation family (`trace::family`, generated in memory, never written to the shipped set)
//! after any files; `--family-seeds` the same shapes with other seeds;
//! without trace files or `--family` the shipped set is generated in memory.

use idealstack_agent::bench::{markdown, run_trace};
use idealstack_agent::sim::SimConfig;
use idealstack_agent::trace::{self, Trace};
use std::process::ExitCode;

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let mut files = Vec::new();
    let mut with_family = false;
    let mut family_seeds: Vec<u64> = Vec::new();
    while let Some(arg) = args.next() {
        if arg == "--generate" {
            let Some(dir) = args.next() else {
                eprintln!("scaling: --generate needs a directory");
                return ExitCode::from(2);
            };
            for t in trace::shipped() {
                let path = std::path::Path::new(&dir).join(format!("{}.csv", t.name));
                if let Err(e) = std::fs::write(&path, t.to_csv()) {
                    eprintln!("scaling: cannot write {}: {e}", path.display());
                    return ExitCode::FAILURE;
                }
                eprintln!("wrote {}", path.display());
            }
        } else if arg == "--family" {
            with_family = true;
        } else if arg == "--family-seeds" {
            let parsed: Option<Vec<u64>> = args
                .next()
                .map(|list| list.split(',').map(|n| n.trim().parse().ok()).collect())
                .unwrap_or(None);
            match parsed {
                Some(seeds) if !seeds.is_empty() => family_seeds = seeds,
                _ => {
                    eprintln!(
                        "scaling: --family-seeds needs a comma-separated list of numbers, e.g. 303,404,505"
                    );
                    return ExitCode::from(2);
                }
            }
        } else {
            files.push(arg);
        }
    }
    let mut traces: Vec<Trace> = if files.is_empty() && !with_family && family_seeds.is_empty() {
        trace::shipped()
    } else {
        let mut traces = Vec::new();
        for f in &files {
            let path = std::path::Path::new(f);
            let name = path.file_stem().and_then(|s| s.to_str()).unwrap_or(f);
            let text = match std::fs::read_to_string(path) {
                Ok(t) => t,
                Err(e) => {
                    eprintln!("scaling: cannot read trace {f}: {e}");
                    return ExitCode::FAILURE;
                }
            };
            match Trace::parse(name, &text) {
                Ok(t) => traces.push(t),
                Err(e) => {
                    eprintln!("scaling: {e}");
                    return ExitCode::FAILURE;
                }
            }
        }
        traces
    };
    if with_family {
        traces.extend(trace::family::family());
    }
    if !family_seeds.is_empty() {
        traces.extend(trace::family::family_with_seeds(&family_seeds));
    }
    let config = SimConfig::default();
    let mut rows = Vec::new();
    for t in &traces {
        eprintln!(
            "simulating {} ({} sites, {} minutes)",
            t.name,
            t.sites.len(),
            t.minutes
        );
        rows.push(run_trace(&config, t));
    }
    print!("{}", markdown(&rows));
    ExitCode::SUCCESS
}
