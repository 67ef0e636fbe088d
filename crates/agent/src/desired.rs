//! The desired state the deployer writes to `state/desired.json` in the stack's bucket (format 1:
//! `{format, version, stack, written_at, model, assignments, shards}`), read tolerantly: unknown fields are
//! ignored and only what the agent uses is required, so the deployer can add fields freely.

use serde::Deserialize;
use std::collections::BTreeMap;

/// Key of the desired state in the state bucket.
pub const DESIRED_KEY: &str = "state/desired.json";

/// What the agent needs of the desired state.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Desired {
    /// Version label of the deploy that wrote it.
    pub version: String,
    /// Stack name.
    pub stack: String,
    /// Sites by name.
    pub sites: BTreeMap<String, DesiredSite>,
    /// Instance bounds.
    pub min_instances: u32,
    /// Instance bounds.
    pub max_instances: u32,
    /// When the deployer wrote it (seconds since the epoch; 0 when absent).
    pub written_at: u64,
    /// Hours between AMI checks (`stack.instances.ami-rollover-hours` when the manifest sets it;
    /// 24 by default).
    pub ami_check_hours: u32,
}

/// One site as the agent sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct DesiredSite {
    /// Site name.
    pub name: String,
    /// The site's uid/gid on the file system.
    pub uid: u32,
    /// Fewest tasks (2 or more means high availability: two zones).
    pub min_tasks: u32,
    /// Most tasks.
    pub max_tasks: u32,
    /// Whether the site has its own database.
    pub database: bool,
}

/// Why the desired state could not be used.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum DesiredError {
    /// Not JSON of the expected shape.
    #[error(
        "{key} is not a desired state the agent understands ({why}): redeploy with `idealstack deploy` to rewrite it"
    )]
    Shape {
        /// The key read.
        key: String,
        /// Parser message.
        why: String,
    },
    /// A site has no uid assignment.
    #[error(
        "{key}: site `{site}` has no uid in `assignments.sites`: redeploy with `idealstack deploy`"
    )]
    NoUid {
        /// The key read.
        key: String,
        /// Site.
        site: String,
    },
    /// A newer format.
    #[error(
        "{key} has format {found}, newer than this agent understands ({known}): update the agent image"
    )]
    Format {
        /// The key read.
        key: String,
        /// Found.
        found: u64,
        /// Known.
        known: u64,
    },
}

#[derive(Deserialize)]
struct Raw {
    #[serde(default)]
    format: u64,
    #[serde(default)]
    version: String,
    #[serde(default)]
    stack: String,
    #[serde(default)]
    written_at: u64,
    #[serde(default)]
    model: RawModel,
    #[serde(default)]
    assignments: RawAssignments,
}

#[derive(Deserialize, Default)]
struct RawModel {
    #[serde(default)]
    stack: RawStack,
    #[serde(default)]
    sites: Vec<RawSite>,
}

#[derive(Deserialize, Default)]
struct RawStack {
    #[serde(default)]
    instances: Option<RawInstances>,
}

#[derive(Deserialize, Default)]
struct RawInstances {
    #[serde(default)]
    min: Option<u32>,
    #[serde(default)]
    max: Option<u32>,
    #[serde(default, alias = "ami-rollover-hours", alias = "ami_rollover_hours")]
    ami_rollover_hours: Option<u32>,
}

#[derive(Deserialize)]
struct RawSite {
    name: String,
    #[serde(default)]
    min_tasks: Option<u32>,
    #[serde(default)]
    max_tasks: Option<u32>,
    #[serde(default)]
    database: bool,
}

#[derive(Deserialize, Default)]
struct RawAssignments {
    #[serde(default)]
    sites: BTreeMap<String, RawAssignment>,
}

#[derive(Deserialize)]
struct RawAssignment {
    uid: u32,
}

impl Desired {
    /// Parses the JSON body stored at `key`.
    pub fn parse(key: &str, body: &[u8]) -> Result<Desired, DesiredError> {
        let shape = |why: String| DesiredError::Shape {
            key: key.into(),
            why,
        };
        let value: serde_json::Value =
            serde_json::from_slice(body).map_err(|e| shape(e.to_string()))?;
        if !value.is_object() {
            return Err(shape("the top level is not an object".into()));
        }
        let raw: Raw = serde_json::from_value(value).map_err(|e| shape(e.to_string()))?;
        if raw.format > 1 {
            return Err(DesiredError::Format {
                key: key.into(),
                found: raw.format,
                known: 1,
            });
        }
        let mut sites = BTreeMap::new();
        for s in raw.model.sites {
            let uid = raw
                .assignments
                .sites
                .get(&s.name)
                .map(|a| a.uid)
                .ok_or_else(|| DesiredError::NoUid {
                    key: key.into(),
                    site: s.name.clone(),
                })?;
            let min_tasks = s.min_tasks.unwrap_or(2);
            sites.insert(
                s.name.clone(),
                DesiredSite {
                    name: s.name,
                    uid,
                    min_tasks,
                    max_tasks: s.max_tasks.unwrap_or(10).max(min_tasks),
                    database: s.database,
                },
            );
        }
        let instances = raw.model.stack.instances.unwrap_or_default();
        let min_instances = instances.min.unwrap_or(2);
        Ok(Desired {
            version: raw.version,
            stack: raw.stack,
            written_at: raw.written_at,
            sites,
            min_instances,
            max_instances: instances.max.unwrap_or(10).max(min_instances),
            ami_check_hours: instances.ami_rollover_hours.unwrap_or(24).max(1),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_deployers_shape_and_ignores_the_rest() {
        let body = br#"{"format":1,"version":"v7","stack":"acme","shards":[],
            "model":{"stack":{"name":"acme","instances":{"min":2,"max":6,"types":["t4g.small"]}},
                     "sites":[{"name":"shop","min_tasks":2,"max_tasks":8,"database":true,"php":"8.3"},
                              {"name":"blog","min_tasks":1,"max_tasks":3,"database":false}]},
            "assignments":{"sites":{"shop":{"shard":0,"uid":20000,"rules":[],"certificates":[]},
                                    "blog":{"shard":0,"uid":20001,"rules":[],"certificates":[]}},"next_uid":20002}}"#;
        let d = Desired::parse(DESIRED_KEY, body).unwrap();
        assert_eq!(d.version, "v7");
        assert_eq!(d.sites["shop"].uid, 20000);
        assert!(d.sites["shop"].database);
        assert_eq!(d.sites["blog"].max_tasks, 3);
        assert_eq!(
            (d.min_instances, d.max_instances, d.ami_check_hours),
            (2, 6, 24)
        );
    }

    #[test]
    fn errors_say_what_to_do() {
        let e = Desired::parse(DESIRED_KEY, b"[]").unwrap_err();
        assert!(e.to_string().contains("redeploy"), "{e}");
        let e = Desired::parse(
            DESIRED_KEY,
            br#"{"model":{"sites":[{"name":"shop"}]},"assignments":{"sites":{}}}"#,
        )
        .unwrap_err();
        assert_eq!(
            e,
            DesiredError::NoUid {
                key: DESIRED_KEY.into(),
                site: "shop".into()
            }
        );
        assert!(matches!(
            Desired::parse(DESIRED_KEY, br#"{"format":2}"#).unwrap_err(),
            DesiredError::Format { found: 2, .. }
        ));
    }
}
