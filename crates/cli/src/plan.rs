//! `idealstack plan`: what would be created (stacks, resources, ALB shards, sites per shard) and
//! what it would cost; `--out DIR` also writes every template and its parameters as files.
//! Needs no AWS account and no network.

use crate::manifest_file::{self, ManifestArg};
use anyhow::Context;
use idealstack_plan::Prior;
use idealstack_stacks::Build;
use idealstack_templates::{StackKind, StackSpec, render};
use serde_json::{Value, json};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Arguments of `plan`.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    manifest: ManifestArg,
    /// Also write every template and its parameters into this folder.
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Assignments of an earlier plan (`plan.json` from `--out`), kept so no site moves.
    #[arg(long, value_name = "FILE")]
    prior: Option<PathBuf>,
    /// Print the plan as JSON on stdout.
    #[arg(long)]
    json: bool,
}

/// The idealstack version images are tagged with.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Plans, prints, and writes files when asked.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let model = manifest_file::load(&args.manifest.path)?;
    let prior = match &args.prior {
        Some(path) => read_prior(path)?,
        None => Prior::default(),
    };
    let build = idealstack_stacks::build(&model, &prior, VERSION).map_err(|e| {
        anyhow::anyhow!(
            "{e}\nThe sites in {} do not fit the load balancer quotas.",
            args.manifest.path.display()
        )
    })?;
    if let Some(dir) = &args.out {
        write_out(dir, &build)?;
    }
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&plan_json(&model, &build))?
        );
    } else {
        print!("{}", human(&model, &build, args.out.as_deref()));
    }
    Ok(ExitCode::SUCCESS)
}

fn read_prior(path: &Path) -> anyhow::Result<Prior> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the prior plan {}", path.display()))?;
    let value: Value = serde_json::from_str(&text).with_context(|| {
        format!(
            "{} is not JSON: expected the plan.json written by `idealstack plan --out`",
            path.display()
        )
    })?;
    let assignments = value.get("assignments").cloned().unwrap_or(value);
    serde_json::from_value(assignments).with_context(|| {
        format!("{} does not hold plan assignments: expected the plan.json written by `idealstack plan --out`", path.display())
    })
}

fn resources(spec: &StackSpec) -> usize {
    spec.template
        .get("Resources")
        .and_then(Value::as_object)
        .map_or(0, |r| r.len())
}

/// The files for one stack: template, parameters (+ tags and order), and the data stack's policy.
fn write_out(dir: &Path, build: &Build) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    // Remove files of stacks an earlier run wrote that no longer exist, so the folder is exactly
    // this plan (only files idealstack writes are touched).
    for entry in std::fs::read_dir(dir)?.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.ends_with(".template.json")
            || name.ends_with(".parameters.json")
            || name.ends_with(".stack-policy.json")
        {
            std::fs::remove_file(entry.path())?;
        }
    }
    let write = |name: String, body: String| -> anyhow::Result<()> {
        let path = dir.join(name);
        std::fs::write(&path, body).with_context(|| format!("cannot write {}", path.display()))
    };
    for spec in &build.stacks {
        write(
            format!("{}.template.json", spec.name),
            render(&spec.template),
        )?;
        let params = json!({
            "StackName": spec.name,
            "Kind": spec.kind,
            "Parameters": spec.parameters,
            "Tags": spec.tags,
            "DependsOn": spec.depends_on,
        });
        write(format!("{}.parameters.json", spec.name), render(&params))?;
    }
    write(
        "plan.json".into(),
        render(&json!({"assignments": Prior::from(&build.plan)})),
    )?;
    Ok(())
}

fn plan_json(model: &idealstack_manifest::Model, build: &Build) -> Value {
    json!({
        "stack": model.stack.name,
        "region": model.stack.region,
        "stacks": build.stacks.iter().map(|s| json!({
            "name": s.name,
            "kind": s.kind,
            "resources": resources(s),
            "template_bytes": render(&s.template).len(),
            "depends_on": s.depends_on,
        })).collect::<Vec<_>>(),
        "shards": build.plan.shards,
        "sites": build.plan.sites,
        "notes": build.plan.notes.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "cost": match &build.cost {
            Ok(c) => serde_json::to_value(c).unwrap_or(Value::Null),
            Err(e) => json!({"unavailable": e.to_string()}),
        },
    })
}

fn human(model: &idealstack_manifest::Model, build: &Build, out: Option<&Path>) -> String {
    let s = &model.stack;
    let mut o = String::new();
    let _ = writeln!(
        o,
        "Plan for stack {} in {} ({} zones: {}), {} site{}\n",
        s.name,
        s.region,
        s.zones.len(),
        s.zones.join(", "),
        model.sites.len(),
        if model.sites.len() == 1 { "" } else { "s" }
    );
    let _ = writeln!(o, "Stacks, in deploy order:");
    let width = build
        .stacks
        .iter()
        .map(|st| st.name.len())
        .max()
        .unwrap_or(0);
    let mut total = 0;
    for st in &build.stacks {
        let n = resources(st);
        total += n;
        let what = match st.kind {
            StackKind::Network => format!(
                "VPC {}, {} NAT gateway(s), flow logs, endpoints",
                s.vpc_cidr,
                if matches!(s.nat, idealstack_manifest::model::NatMode::PerAz) {
                    s.zones.len()
                } else {
                    1
                }
            ),
            StackKind::Data => match &s.database {
                Some(db) => format!(
                    "EFS, {} {} {} ({} GB{}), sessions table, buckets, KMS key",
                    engine_name(db.engine),
                    db.version,
                    db.instance_class,
                    db.storage_gb,
                    if db.multi_az { ", multi-AZ" } else { "" }
                ),
                None => "EFS, sessions table, buckets, KMS key (no database)".into(),
            },
            StackKind::Cluster => format!(
                "ECS cluster, {}-{} x {}, agent, SFTP",
                s.instances.min,
                s.instances.max,
                s.instances.types.join("/")
            ),
            StackKind::Edge => {
                let shard = st
                    .name
                    .rsplit('-')
                    .next()
                    .and_then(|n| n.parse::<u32>().ok());
                let sites = build
                    .plan
                    .shards
                    .iter()
                    .find(|sh| Some(sh.index) == shard)
                    .map_or(0, |sh| sh.sites.len());
                format!("load balancer for {sites} site(s)")
            }
            StackKind::Site => String::new(),
        };
        let _ = writeln!(o, "  {:width$}  {:>3} resources  {}", st.name, n, what);
    }
    let _ = writeln!(o, "  {} stacks, {} resources\n", build.stacks.len(), total);

    let q = s.alb_limits;
    let _ = writeln!(o, "Load balancer shards:");
    for sh in &build.plan.shards {
        let _ = writeln!(
            o,
            "  edge-{}: {} site(s), {}/{} target groups, {}/{} rules, {}/{} certificates: {}",
            sh.index,
            sh.sites.len(),
            sh.target_groups,
            q.target_groups_per_alb,
            sh.rules,
            q.rules_per_listener,
            sh.certificates,
            q.certificates_per_listener,
            sh.sites.join(", ")
        );
    }
    let _ = writeln!(o, "\nSites:");
    for site in &model.sites {
        let a = &build.plan.sites[&site.name];
        let prios: Vec<String> = a.rules.iter().map(|r| r.priority.to_string()).collect();
        let _ = writeln!(
            o,
            "  {}: PHP {}, {} vCPU / {} MB x {}-{}, edge-{}, uid {}, rule priorities {}{}",
            site.name,
            site.php,
            f64::from(site.cpu_units) / 1024.0,
            site.memory_mib,
            site.min_tasks,
            site.max_tasks,
            a.shard,
            a.uid,
            prios.join(","),
            if site.database { ", database" } else { "" }
        );
        let hosts: Vec<&str> = site.serve_hosts.iter().map(|d| d.as_str()).collect();
        let _ = writeln!(o, "      serves {}", hosts.join(", "));
        if !site.redirect_hosts.is_empty() {
            let r: Vec<&str> = site.redirect_hosts.iter().map(|d| d.as_str()).collect();
            let _ = writeln!(o, "      redirects {} -> {}", r.join(", "), site.primary);
        }
    }
    if !build.plan.notes.is_empty() {
        let _ = writeln!(o, "\nChanges to earlier assignments:");
        for note in &build.plan.notes {
            let _ = writeln!(o, "  {note}");
        }
    }
    let _ = writeln!(o);
    match &build.cost {
        Ok(cost) => {
            let _ = writeln!(
                o,
                "Estimated monthly cost in USD (an estimate, not a quote; prices: {}):",
                cost.price_date
            );
            let mut last = String::new();
            for line in &cost.lines {
                let stack = if line.stack == last {
                    String::new()
                } else {
                    line.stack.clone()
                };
                last = line.stack.clone();
                let _ = writeln!(
                    o,
                    "  {:8} {:46} {:>9.2}  {}",
                    stack, line.item, line.monthly_usd, line.quantity
                );
            }
            let _ = writeln!(
                o,
                "  {:8} {:46} {:>9.2}",
                "total", "", cost.total_monthly_usd
            );
            let _ = writeln!(o, "  Assumptions:");
            for a in &cost.assumptions {
                let _ = writeln!(o, "    - {a}");
            }
        }
        Err(e) => {
            let _ = writeln!(o, "No cost estimate: {e}");
        }
    }
    if let Some(dir) = out {
        let _ = writeln!(
            o,
            "\nWrote {} templates, their parameters and plan.json to {}",
            build.stacks.len(),
            dir.display()
        );
    }
    o
}

fn engine_name(engine: idealstack_manifest::model::Engine) -> &'static str {
    match engine {
        idealstack_manifest::model::Engine::Mariadb => "MariaDB",
        _ => "MySQL",
    }
}
