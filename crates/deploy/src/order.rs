//! The order of a deploy: stacks to delete first (removed sites, then emptied ALB shards), then
//! waves of stacks whose dependencies are deployed (network; data; cluster; edges; sites), each
//! wave run in parallel. And resolving a stack's parameters from earlier stacks' outputs and the
//! certificates.

use std::collections::{BTreeMap, BTreeSet};

use idealstack_templates::{ParameterValue, StackSpec};

/// Waves of indices into `specs`: every stack's `depends_on` are in earlier waves (or are not in
/// `specs` at all, meaning already deployed). Stacks in a wave keep `specs`' order.
pub fn waves(specs: &[StackSpec]) -> Vec<Vec<usize>> {
    let names: BTreeSet<&str> = specs.iter().map(|s| s.name.as_str()).collect();
    let mut done: BTreeSet<&str> = BTreeSet::new();
    let mut left: Vec<usize> = (0..specs.len()).collect();
    let mut out = Vec::new();
    while !left.is_empty() {
        let (ready, wait): (Vec<usize>, Vec<usize>) = left.iter().partition(|&&i| {
            specs[i]
                .depends_on
                .iter()
                .all(|d| done.contains(d.as_str()) || !names.contains(d.as_str()))
        });
        if ready.is_empty() {
            // A cycle cannot come out of the templates crate; deploy the rest one by one rather
            // than loop forever.
            out.extend(wait.into_iter().map(|i| vec![i]));
            break;
        }
        for &i in &ready {
            done.insert(specs[i].name.as_str());
        }
        out.push(ready);
        left = wait;
    }
    out
}

/// The deployed stacks of `stack` that the new build no longer has, in deletion order: site
/// stacks first, then edge stacks (an ALB shard goes once its sites are gone). Network, data and
/// cluster stacks are never deleted by a deploy.
pub fn removed(stack: &str, existing: &[String], specs: &[StackSpec]) -> Vec<String> {
    let wanted: BTreeSet<&str> = specs.iter().map(|s| s.name.as_str()).collect();
    let site_prefix = format!("{stack}-site-");
    let edge_prefix = format!("{stack}-edge-");
    let mut sites: Vec<String> = existing
        .iter()
        .filter(|n| n.starts_with(&site_prefix) && !wanted.contains(n.as_str()))
        .cloned()
        .collect();
    let mut edges: Vec<String> = existing
        .iter()
        .filter(|n| {
            n.strip_prefix(&edge_prefix)
                .is_some_and(|i| i.parse::<u32>().is_ok())
                && !wanted.contains(n.as_str())
        })
        .cloned()
        .collect();
    sites.sort();
    edges.sort();
    sites.extend(edges);
    sites
}

/// A parameter that could not be resolved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unresolved {
    /// The stack whose output is needed has no such output (not deployed, or failed).
    #[error("parameter {parameter} needs output {output} of stack {stack}, which {why}")]
    Output {
        /// The parameter.
        parameter: String,
        /// The stack.
        stack: String,
        /// The output.
        output: String,
        /// What is wrong.
        why: String,
    },
    /// The certificate is not issued yet.
    #[error(
        "parameter {parameter} needs certificate {index} of site {site}, which is not issued yet"
    )]
    Certificate {
        /// The parameter.
        parameter: String,
        /// The site.
        site: String,
        /// Which certificate.
        index: u32,
    },
    /// The stack's listener default certificate could not be made.
    #[error(
        "parameter {parameter} needs the stack's listener default certificate, which could not be imported into ACM (see the message above)"
    )]
    DefaultCertificate {
        /// The parameter.
        parameter: String,
    },
}

/// Resolves every parameter of `spec`: literals as they are, outputs from `outputs` (by stack),
/// certificates from `certificates` (issued ARNs by site and index) and `default_certificate`
/// (the stack's listener default, see [`crate::certs::ensure_default`]).
pub fn resolve(
    spec: &StackSpec,
    outputs: &BTreeMap<String, BTreeMap<String, String>>,
    certificates: &BTreeMap<(String, u32), String>,
    default_certificate: Option<&str>,
) -> Result<BTreeMap<String, String>, Unresolved> {
    let mut out = BTreeMap::new();
    for (key, value) in &spec.parameters {
        let v = match value {
            ParameterValue::Literal(s) => s.clone(),
            ParameterValue::FromOutput { stack, output } => match outputs.get(stack) {
                Some(o) => match o.get(output) {
                    Some(v) => v.clone(),
                    None => {
                        return Err(Unresolved::Output {
                            parameter: key.clone(),
                            stack: stack.clone(),
                            output: output.clone(),
                            why: "has no such output".into(),
                        });
                    }
                },
                None => {
                    return Err(Unresolved::Output {
                        parameter: key.clone(),
                        stack: stack.clone(),
                        output: output.clone(),
                        why: "is not deployed".into(),
                    });
                }
            },
            ParameterValue::DefaultCertificate { .. } => match default_certificate {
                Some(arn) => arn.to_string(),
                None => {
                    return Err(Unresolved::DefaultCertificate {
                        parameter: key.clone(),
                    });
                }
            },
            ParameterValue::Certificate { site, index } => {
                match certificates.get(&(site.clone(), *index)) {
                    Some(arn) => arn.clone(),
                    None => {
                        return Err(Unresolved::Certificate {
                            parameter: key.clone(),
                            site: site.clone(),
                            index: *index,
                        });
                    }
                }
            }
        };
        out.insert(key.clone(), v);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use idealstack_templates::StackKind;
    use serde_json::json;

    fn spec(name: &str, deps: &[&str]) -> StackSpec {
        StackSpec {
            name: name.into(),
            kind: StackKind::Site,
            template: json!({}),
            parameters: BTreeMap::new(),
            tags: BTreeMap::new(),
            depends_on: deps.iter().map(|d| (*d).to_string()).collect(),
        }
    }

    #[test]
    fn waves_follow_dependencies_and_group_parallel_stacks() {
        let specs = vec![
            spec("a-network", &[]),
            spec("a-data", &["a-network"]),
            spec("a-cluster", &["a-data", "a-network"]),
            spec("a-edge-0", &["a-data", "a-network"]),
            spec("a-site-x", &["a-cluster", "a-edge-0"]),
            spec("a-site-y", &["a-cluster", "a-edge-0"]),
        ];
        assert_eq!(
            waves(&specs),
            vec![vec![0], vec![1], vec![2, 3], vec![4, 5]]
        );
        // A dependency outside the list counts as deployed.
        assert_eq!(waves(&specs[4..]), vec![vec![0, 1]]);
    }

    #[test]
    fn removed_lists_sites_before_edges_and_never_core_stacks() {
        let specs = vec![
            spec("a-network", &[]),
            spec("a-site-x", &[]),
            spec("a-edge-0", &[]),
        ];
        let existing: Vec<String> = [
            "a-network",
            "a-data",
            "a-cluster",
            "a-edge-0",
            "a-edge-1",
            "a-site-x",
            "a-site-y",
            "ab-site-z",
            "a-edge-x",
        ]
        .iter()
        .map(|s| (*s).to_string())
        .collect();
        assert_eq!(removed("a", &existing, &specs), ["a-site-y", "a-edge-1"]);
    }

    #[test]
    fn resolve_names_what_is_missing() {
        let mut s = spec("a-site-x", &[]);
        s.parameters
            .insert("Tag".into(), ParameterValue::literal("1"));
        s.parameters.insert(
            "Vpc".into(),
            ParameterValue::from_output("a-network", "VpcId"),
        );
        s.parameters
            .insert("Cert".into(), ParameterValue::certificate("x", 0));
        let mut outputs = BTreeMap::new();
        let mut certs = BTreeMap::new();
        let e = resolve(&s, &outputs, &certs, None).unwrap_err();
        assert!(e.to_string().contains("not issued"), "{e}");
        certs.insert(("x".to_string(), 0), "arn:c".to_string());
        let e = resolve(&s, &outputs, &certs, None).unwrap_err();
        assert!(
            e.to_string().contains("a-network, which is not deployed"),
            "{e}"
        );
        outputs.insert(
            "a-network".to_string(),
            BTreeMap::from([("VpcId".to_string(), "vpc-1".to_string())]),
        );
        let p = resolve(&s, &outputs, &certs, None).unwrap();
        assert_eq!(p["Vpc"], "vpc-1");
        assert_eq!(p["Cert"], "arn:c");
        assert_eq!(p["Tag"], "1");
    }
}
