//! Certificates: one ACM certificate per group of names the plan made for a site, requested
//! through the ACM API with DNS validation (CloudFormation would wait until validated). Found
//! again by their tags, so a deploy never requests twice; validation records created in Route 53
//! when the account hosts a matching zone; warnings for `certs`.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use idealstack_plan::Plan;
use serde::Serialize;

use crate::ports::{ApiError, CertificateApi, CertificateInfo, DnsApi, DnsRecord};
use crate::progress::Progress;

/// Tag keys on every certificate idealstack requests.
pub const TAG_STACK: &str = "idealstack:stack";
/// The site tag.
pub const TAG_SITE: &str = "idealstack:site";
/// Which of the site's certificates.
pub const TAG_INDEX: &str = "idealstack:certificate";
/// What a certificate that belongs to no site is for.
pub const TAG_PURPOSE: &str = "idealstack:purpose";
/// [`TAG_PURPOSE`] of the listeners' default certificate.
pub const PURPOSE_LISTENER_DEFAULT: &str = "listener-default";

/// The name of the listeners' default certificate: one nobody serves (`.invalid` never
/// resolves, RFC 2606), so a request whose SNI matches no site gets this certificate and the
/// listener's 404, never a site's certificate.
pub fn default_certificate_name(stack: &str) -> String {
    format!("default.{stack}.idealstack.invalid")
}

/// Why the default certificate could not be made.
#[derive(Debug, thiserror::Error)]
pub enum DefaultCertificateError {
    /// Generating the key or certificate failed.
    #[error("could not make the listeners' default certificate: {0}")]
    Generate(String),
    /// ACM refused.
    #[error(transparent)]
    Api(#[from] ApiError),
}

/// The stack's listener default certificate (self-signed, for [`default_certificate_name`]):
/// found among `existing` (the stack's certificates) by its purpose tag, or made and imported
/// into ACM once, tagged with the stack so `destroy` deletes it. Its key is sent to ACM only.
pub fn ensure_default(
    acm: &dyn CertificateApi,
    stack: &str,
    existing: &[CertificateInfo],
    progress: &dyn Progress,
) -> Result<String, DefaultCertificateError> {
    if let Some(c) = existing.iter().find(|c| {
        c.tags.get(TAG_PURPOSE).map(String::as_str) == Some(PURPOSE_LISTENER_DEFAULT)
            && c.status == "ISSUED"
    }) {
        return Ok(c.arn.clone());
    }
    let name = default_certificate_name(stack);
    let key =
        rcgen::KeyPair::generate().map_err(|e| DefaultCertificateError::Generate(e.to_string()))?;
    let mut params = rcgen::CertificateParams::new(vec![name.clone()])
        .map_err(|e| DefaultCertificateError::Generate(e.to_string()))?;
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, name.clone());
    // ACM imports certificates valid now; ten years spares renewals of a certificate no client
    // is meant to trust.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    params.not_before = rcgen::date_time_ymd(1970, 1, 1)
        + std::time::Duration::from_secs(now.saturating_sub(86_400));
    params.not_after = params.not_before + std::time::Duration::from_secs(10 * 365 * 86_400);
    let cert = params
        .self_signed(&key)
        .map_err(|e| DefaultCertificateError::Generate(e.to_string()))?;
    let tags = BTreeMap::from([
        (TAG_STACK.to_string(), stack.to_string()),
        (
            TAG_PURPOSE.to_string(),
            PURPOSE_LISTENER_DEFAULT.to_string(),
        ),
    ]);
    let arn = acm.import(&cert.pem(), &key.serialize_pem(), &tags)?;
    progress.say(
        "",
        &format!(
            "imported the listeners' default certificate ({name}, self-signed, serves no site)"
        ),
    );
    Ok(arn)
}

/// One certificate the plan needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Need {
    /// The site.
    pub site: String,
    /// Index among the site's certificates.
    pub index: u32,
    /// Names, primary first.
    pub names: Vec<String>,
}

/// The certificates a plan needs, by site then index.
pub fn needs(plan: &Plan) -> Vec<Need> {
    plan.sites
        .iter()
        .flat_map(|(site, a)| {
            a.certificates
                .iter()
                .enumerate()
                .map(move |(i, names)| Need {
                    site: site.clone(),
                    index: u32::try_from(i).unwrap_or(u32::MAX),
                    names: names.clone(),
                })
        })
        .collect()
}

fn same_names(a: &[String], b: &[String]) -> bool {
    let mut a = a.to_vec();
    let mut b = b.to_vec();
    a.sort();
    b.sort();
    a == b
}

/// An idempotency token for a request (ACM: 1-32 word characters).
pub fn token(stack: &str, need: &Need) -> String {
    // FNV-1a over the stack, site, index and names: the same request gives the same token.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let text = format!(
        "{stack}|{}|{}|{}",
        need.site,
        need.index,
        need.names.join(",")
    );
    for b in text.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("idealstack{h:016x}")
}

/// A certificate and what was done for it.
#[derive(Debug, Clone, Serialize)]
pub struct Status {
    /// What the plan needs.
    pub need: Need,
    /// The certificate (after requesting it if needed).
    pub info: CertificateInfo,
    /// Whether this run requested it.
    pub requested: bool,
    /// Records this run created in Route 53.
    pub records_created: Vec<DnsRecord>,
}

/// Finds (among `existing`, the stack's certificates: `find_tagged(TAG_STACK, stack)`) or
/// requests every certificate the plan needs, and creates the validation records in a matching
/// Route 53 zone when there is one.
pub fn ensure(
    acm: &dyn CertificateApi,
    dns: &dyn DnsApi,
    stack: &str,
    existing: &[CertificateInfo],
    plan: &Plan,
    progress: &dyn Progress,
) -> Result<Vec<Status>, ApiError> {
    let zones = dns.zones().unwrap_or_else(|e| {
        progress.say(
            "",
            &format!("cannot list Route 53 zones ({e}); create the validation records yourself"),
        );
        Vec::new()
    });
    let mut out = Vec::new();
    for need in needs(plan) {
        let found = existing.iter().find(|c| {
            c.tags.get(TAG_SITE) == Some(&need.site)
                && c.tags.get(TAG_INDEX).map(String::as_str) == Some(&need.index.to_string())
                && same_names(&c.names, &need.names)
                && !matches!(
                    c.status.as_str(),
                    "FAILED" | "REVOKED" | "EXPIRED" | "VALIDATION_TIMED_OUT"
                )
        });
        let (mut info, requested) = match found {
            Some(c) => (c.clone(), false),
            None => {
                let tags = BTreeMap::from([
                    (TAG_STACK.to_string(), stack.to_string()),
                    (TAG_SITE.to_string(), need.site.clone()),
                    (TAG_INDEX.to_string(), need.index.to_string()),
                ]);
                let arn = acm.request(&need.names, &token(stack, &need), &tags)?;
                progress.say(
                    "",
                    &format!(
                        "requested a certificate for site {}: {}",
                        need.site,
                        need.names.join(", ")
                    ),
                );
                (acm.describe(&arn)?, true)
            }
        };
        // ACM fills in the validation records a few seconds after the request.
        let start = Instant::now();
        while info.status == "PENDING_VALIDATION"
            && info.validation_records.len() < info.names.len().min(1)
            && start.elapsed() < Duration::from_secs(30)
        {
            std::thread::sleep(Duration::from_secs(2));
            info = acm.describe(&info.arn)?;
        }
        let mut records_created = Vec::new();
        if info.status == "PENDING_VALIDATION" {
            for record in &info.validation_records {
                if let Some((zone_id, _)) = zone_for(&zones, &record.name) {
                    dns.upsert(zone_id, record)?;
                    records_created.push(record.clone());
                }
            }
        }
        out.push(Status {
            need,
            info,
            requested,
            records_created,
        });
    }
    Ok(out)
}

/// The most specific hosted zone that `name` is in.
pub fn zone_for<'a>(zones: &'a [(String, String)], name: &str) -> Option<&'a (String, String)> {
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    zones
        .iter()
        .filter(|(_, z)| {
            let z = z.trim_end_matches('.').to_ascii_lowercase();
            name == z || name.ends_with(&format!(".{z}"))
        })
        .max_by_key(|(_, z)| z.len())
}

/// Waits up to `timeout` for the certificates to be issued; returns them refreshed.
pub fn wait_issued(
    acm: &dyn CertificateApi,
    mut certs: Vec<Status>,
    timeout: Duration,
    poll: Duration,
    progress: &dyn Progress,
) -> Result<Vec<Status>, ApiError> {
    let start = Instant::now();
    let mut told = false;
    loop {
        for c in &mut certs {
            if c.info.status == "PENDING_VALIDATION" {
                c.info = acm.describe(&c.info.arn)?;
            }
        }
        let pending = certs
            .iter()
            .filter(|c| c.info.status == "PENDING_VALIDATION")
            .count();
        if pending == 0 || start.elapsed() >= timeout {
            return Ok(certs);
        }
        if !told {
            progress.say(
                "",
                &format!(
                    "waiting up to {} s for {pending} certificate(s) to be validated",
                    timeout.as_secs()
                ),
            );
            told = true;
        }
        std::thread::sleep(poll);
    }
}

/// The issued certificates' ARNs by (site, index), as stack parameters need them.
pub fn issued(certs: &[Status]) -> BTreeMap<(String, u32), String> {
    certs
        .iter()
        .filter(|c| c.info.status == "ISSUED")
        .map(|c| ((c.need.site.clone(), c.need.index), c.info.arn.clone()))
        .collect()
}

/// Certificates of the stack that nothing uses any more, to delete once the stacks that used
/// them are gone or updated: those of sites no longer in the plan (their stacks were deleted
/// first), and, when `whole` (every stack was deployed and succeeded), those of a site that the
/// deploy did not pick (superseded by new names, or failed). `in_use`: what this deploy chose;
/// `planned`: whether a site is in the plan.
pub fn unused<'a>(
    existing: &'a [CertificateInfo],
    in_use: &[Status],
    planned: impl Fn(&str) -> bool,
    whole: bool,
) -> Vec<&'a CertificateInfo> {
    existing
        .iter()
        .filter(|c| !in_use.iter().any(|u| u.info.arn == c.arn))
        .filter(|c| match c.tags.get(TAG_SITE) {
            Some(site) => whole || !planned(site),
            None => false,
        })
        .collect()
}

/// Warnings about a certificate at `now` (seconds since the epoch): pending validation, failure,
/// expiry within 30 days.
pub fn warnings(info: &CertificateInfo, now: i64) -> Vec<String> {
    let mut w = Vec::new();
    match info.status.as_str() {
        "PENDING_VALIDATION" => w.push(format!(
            "pending validation: create the DNS record(s) below for {}; the site is deployed once it is issued",
            info.names.join(", ")
        )),
        "ISSUED" => {}
        other => w.push(format!(
            "{other}{}: request a new one by running `idealstack deploy` (after fixing the DNS records)",
            info.failure_reason.as_deref().map(|r| format!(" ({r})")).unwrap_or_default()
        )),
    }
    if let Some(end) = info.not_after {
        let days = (end - now).div_euclid(86_400);
        if days < 0 {
            w.push("expired".into());
        } else if days < 30 {
            w.push(format!(
                "expires in {days} day(s): ACM renews DNS-validated certificates only while their validation records exist and the certificate is in use"
            ));
        }
    }
    w
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(status: &str, not_after: Option<i64>) -> CertificateInfo {
        CertificateInfo {
            arn: "arn:x".into(),
            names: vec!["a.example.com".into()],
            status: status.into(),
            validation_records: vec![],
            not_after,
            failure_reason: None,
            tags: BTreeMap::new(),
        }
    }

    #[test]
    fn warns_on_pending_failure_and_expiry_within_30_days() {
        let now = 1_000_000_000;
        assert!(warnings(&info("ISSUED", Some(now + 31 * 86_400)), now).is_empty());
        assert!(
            warnings(&info("ISSUED", Some(now + 29 * 86_400)), now)[0]
                .contains("expires in 29 day")
        );
        assert!(warnings(&info("PENDING_VALIDATION", None), now)[0].contains("pending validation"));
        assert!(warnings(&info("FAILED", None), now)[0].starts_with("FAILED"));
        assert_eq!(warnings(&info("ISSUED", Some(now - 1)), now), ["expired"]);
    }

    #[test]
    fn unused_certificates_are_those_of_removed_sites_and_after_a_whole_deploy_superseded_ones() {
        let cert = |arn: &str, site: Option<&str>| CertificateInfo {
            arn: arn.into(),
            tags: site
                .map(|s| BTreeMap::from([(TAG_SITE.to_string(), s.to_string())]))
                .unwrap_or_default(),
            ..info("ISSUED", None)
        };
        let existing = vec![
            cert("in-use", Some("kept")),
            cert("superseded", Some("kept")),
            cert("removed", Some("gone")),
            cert("untagged", None),
        ];
        let in_use = vec![Status {
            need: Need {
                site: "kept".into(),
                index: 0,
                names: vec!["k.example.com".into()],
            },
            info: cert("in-use", Some("kept")),
            requested: false,
            records_created: vec![],
        }];
        let arns = |whole| -> Vec<&str> {
            unused(&existing, &in_use, |s| s == "kept", whole)
                .iter()
                .map(|c| c.arn.as_str())
                .collect()
        };
        assert_eq!(arns(false), ["removed"]);
        assert_eq!(arns(true), ["superseded", "removed"]);
    }

    #[test]
    fn the_most_specific_zone_wins() {
        let zones = vec![
            ("Z1".to_string(), "example.com.".to_string()),
            ("Z2".to_string(), "shop.example.com.".to_string()),
            ("Z3".to_string(), "other.org.".to_string()),
        ];
        assert_eq!(zone_for(&zones, "_x.shop.example.com.").unwrap().0, "Z2");
        assert_eq!(zone_for(&zones, "_x.blog.example.com.").unwrap().0, "Z1");
        assert!(zone_for(&zones, "_x.notexample.com.").is_none());
    }

    #[test]
    fn tokens_are_stable_and_valid() {
        let n = Need {
            site: "s".into(),
            index: 0,
            names: vec!["a.b".into()],
        };
        let t = token("st", &n);
        assert_eq!(t, token("st", &n));
        assert!(t.len() <= 32 && t.chars().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(t, token("other", &n));
    }
}
