//! `idealstack status`: what is deployed: stacks, sites (shard, DNS target, rules), certificates,
//! instances and services. Data on stdout (`--json` for scripts).

use std::process::ExitCode;

use anyhow::Context;
use idealstack_deploy::ports::{CertificateApi, ObjectStore, StackInfo};
use serde_json::{Value, json};

use super::common;
use crate::manifest_file;

/// Arguments of `status`.
pub use super::common::ReadArgs as Args;

/// Gathers and prints the status.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let model = manifest_file::load(&args.manifest.path)?;
    let aws = common::connect(&args.aws, &model)?;
    let name = &model.stack.name;
    let stacks = aws
        .stacks_with_prefix(&format!("{name}-"))
        .context("cannot list the stacks")?;
    let (prior, bucket) = idealstack_deploy::run::prior(common::ports(&aws), name)?;
    let out = |s: &str, k: &str| -> Option<String> {
        stacks.get(s).and_then(|i| i.outputs.get(k).cloned())
    };
    let cluster_stack = idealstack_templates::cluster_stack_name(name);
    let cluster = out(&cluster_stack, "ClusterName");
    let certs = CertificateApi::find_tagged(&aws, idealstack_deploy::certs::TAG_STACK, name)
        .context("cannot list the certificates")?;
    let mut sites = Vec::new();
    for (site, a) in &prior.sites {
        let stack = idealstack_templates::site_stack_name(name, site);
        let edge = idealstack_templates::edge_stack_name(name, a.shard);
        let service = match (&cluster, out(&stack, "ServiceName")) {
            (Some(c), Some(s)) => aws.service(c, &s).ok().flatten(),
            _ => None,
        };
        let php = match &service {
            Some(s) => aws.task_image(&s.task_definition).ok().flatten(),
            None => None,
        };
        sites.push(json!({
            "site": site,
            "stack": stack,
            "stack_status": stacks.get(&stack).map(|s| s.status.clone()),
            "shard": a.shard,
            "uid": a.uid,
            "dns_target": out(&edge, "LoadBalancerDnsName"),
            "rules": a.rules,
            "certificates": certs.iter().filter(|c| c.tags.get(idealstack_deploy::certs::TAG_SITE) == Some(site)).map(|c| json!({
                "names": c.names, "status": c.status, "arn": c.arn,
            })).collect::<Vec<_>>(),
            "service": service,
            "image": php,
        }));
    }
    let instances = cluster
        .as_deref()
        .and_then(|c| aws.container_instances(c).ok());
    // Removed sites whose data the agent has yet to delete (`site remove --delete-data`).
    let purges: Vec<String> = match &bucket {
        Some(b) => ObjectStore::list(&aws, b, idealstack_deploy::state::PURGE_PREFIX)
            .context("cannot list the pending data deletions")?,
        None => Vec::new(),
    };
    let value = json!({
        "stack": name,
        "region": aws.region(),
        "state_bucket": bucket,
        "stacks": stacks.values().map(|s: &StackInfo| json!({"name": s.name, "status": s.status, "termination_protection": s.termination_protection})).collect::<Vec<_>>(),
        "cluster": cluster,
        "container_instances": instances,
        "sftp_endpoint": out(&cluster_stack, "SftpEndpoint"),
        "sites": sites,
        "pending_data_deletions": purges.iter().map(|k| k.trim_start_matches(idealstack_deploy::state::PURGE_PREFIX).trim_end_matches(".json")).collect::<Vec<_>>(),
    });
    if args.json {
        println!("{}", serde_json::to_string_pretty(&value)?);
    } else {
        print!("{}", human(&value));
    }
    Ok(ExitCode::SUCCESS)
}

fn s(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The items of a JSON list as text (none when it is not a list).
fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|l| l.iter().map(s).collect())
        .unwrap_or_default()
}

fn human(v: &Value) -> String {
    use std::fmt::Write as _;
    let mut o = String::new();
    let _ = writeln!(o, "Stack {} in {}", s(&v["stack"]), s(&v["region"]));
    let stacks = v["stacks"].as_array().cloned().unwrap_or_default();
    if stacks.is_empty() {
        let _ = writeln!(o, "  nothing deployed yet: run `idealstack deploy`");
        return o;
    }
    let _ = writeln!(o, "\nStacks:");
    for st in &stacks {
        let _ = writeln!(
            o,
            "  {:32} {}{}",
            s(&st["name"]),
            s(&st["status"]),
            if st["termination_protection"] == Value::Bool(true) {
                "  (termination protection)"
            } else {
                ""
            }
        );
    }
    let _ = writeln!(
        o,
        "\nCluster {}: {} container instance(s); SFTP at {}",
        s(&v["cluster"]),
        s(&v["container_instances"]),
        s(&v["sftp_endpoint"])
    );
    let _ = writeln!(o, "\nSites:");
    for site in v["sites"].as_array().cloned().unwrap_or_default() {
        let svc = &site["service"];
        let _ = writeln!(
            o,
            "  {}: {} on edge-{}, uid {}, DNS target {}",
            s(&site["site"]),
            s(&site["stack_status"]),
            s(&site["shard"]),
            s(&site["uid"]),
            s(&site["dns_target"])
        );
        if !svc.is_null() {
            let _ = writeln!(
                o,
                "      service {}: {} running / {} desired, image {}",
                s(&svc["name"]),
                s(&svc["running"]),
                s(&svc["desired"]),
                s(&site["image"])
            );
        }
        for r in site["rules"].as_array().cloned().unwrap_or_default() {
            let hosts = strings(&r["hosts"]);
            let _ = writeln!(
                o,
                "      rule {} {}: {}",
                s(&r["priority"]),
                s(&r["action"]),
                hosts.join(", ")
            );
        }
        for c in site["certificates"].as_array().cloned().unwrap_or_default() {
            let names = strings(&c["names"]);
            let _ = writeln!(
                o,
                "      certificate {}: {}",
                s(&c["status"]),
                names.join(", ")
            );
        }
    }
    let pending = strings(&v["pending_data_deletions"]);
    if !pending.is_empty() {
        let _ = writeln!(
            o,
            "\nData of removed sites the agent has yet to delete (site-uid): {}",
            pending.join(", ")
        );
    }
    o
}
