//! `idealstack certs`: each certificate idealstack requested for the stack: status, the DNS
//! records to create, expiry; warnings on pending validation, failure and expiry within 30 days.

use std::process::ExitCode;

use anyhow::Context;
use idealstack_deploy::certs::{
    PURPOSE_LISTENER_DEFAULT, TAG_INDEX, TAG_PURPOSE, TAG_SITE, TAG_STACK, warnings,
};
use idealstack_deploy::ports::CertificateApi;

use super::common;
use crate::manifest_file;

/// Arguments of `certs`.
pub use super::common::ReadArgs as Args;

/// Lists the certificates.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let model = manifest_file::load(&args.manifest.path)?;
    let aws = common::connect(&args.aws, &model)?;
    let mut certs = CertificateApi::find_tagged(&aws, TAG_STACK, &model.stack.name)
        .context("cannot list the certificates")?;
    certs.sort_by(|a, b| {
        (a.tags.get(TAG_SITE), a.tags.get(TAG_INDEX))
            .cmp(&(b.tags.get(TAG_SITE), b.tags.get(TAG_INDEX)))
    });
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or_default();
    if args.json {
        let v: Vec<serde_json::Value> = certs
            .iter()
            .map(|c| serde_json::json!({"site": c.tags.get(TAG_SITE), "certificate": c, "warnings": warnings(c, now)}))
            .collect();
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(ExitCode::SUCCESS);
    }
    if certs.is_empty() {
        println!(
            "No certificates for stack {} yet: `idealstack deploy` requests them.",
            model.stack.name
        );
        return Ok(ExitCode::SUCCESS);
    }
    let mut warned = false;
    for c in &certs {
        let owner = match (c.tags.get(TAG_SITE), c.tags.get(TAG_PURPOSE)) {
            (Some(site), _) => format!("site {site}"),
            (None, Some(p)) if p == PURPOSE_LISTENER_DEFAULT => {
                "the load balancers' default, self-signed, serves no site".to_string()
            }
            _ => "no site".to_string(),
        };
        println!("{} ({owner}): {}", c.names.join(", "), c.status);
        println!("    arn {}", c.arn);
        if let Some(end) = c.not_after {
            println!("    expires in {} days", (end - now).div_euclid(86_400));
        }
        if c.status == "PENDING_VALIDATION" {
            for r in &c.validation_records {
                println!(
                    "    DNS record to create: {} {} {}",
                    r.name, r.record_type, r.value
                );
            }
        }
        for w in warnings(c, now) {
            warned = true;
            eprintln!(
                "warning: {}: {w}",
                c.names.first().map_or("", String::as_str)
            );
        }
    }
    if warned {
        eprintln!(
            "Certificates are attached to their site once issued; `idealstack deploy` then deploys the waiting sites."
        );
    }
    Ok(ExitCode::SUCCESS)
}
