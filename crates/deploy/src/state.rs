//! What the deployer keeps in the stack's state bucket (the data stack's `StateBucketName`
//! output), so it outlives every other stack:
//!
//! | key | what | read by |
//! | --- | --- | --- |
//! | `state/prior.json` | the plan's assignments ([`Prior`]: shards, rule priorities, uids) | the next deploy, so no site moves |
//! | `state/desired.json` | the resolved desired state: the validated model, the assignments, the version | the in-cluster agent |
//! | `templates/<stack>.json` | templates too large for an inline request (> 51,200 bytes) | CloudFormation (TemplateURL) |

use idealstack_manifest::Model;
use idealstack_plan::{Plan, Prior};
use serde_json::{Value, json};

use crate::ports::{ApiError, ObjectStore};

/// Key of the stored assignments.
pub const PRIOR_KEY: &str = "state/prior.json";
/// Key of the desired state for the agent.
pub const DESIRED_KEY: &str = "state/desired.json";
/// Version of the `state/desired.json` format.
pub const DESIRED_FORMAT: u32 = 1;

/// Key of an uploaded template.
pub fn template_key(stack: &str) -> String {
    format!("templates/{stack}.json")
}

/// The output of the data stack naming the state bucket.
pub const STATE_BUCKET_OUTPUT: &str = "StateBucketName";

/// Why the stored state could not be read.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// The bucket could not be read.
    #[error("cannot read s3://{bucket}/{key}: {source}")]
    Read {
        /// Bucket.
        bucket: String,
        /// Key.
        key: String,
        /// The API error.
        #[source]
        source: ApiError,
    },
    /// The object is not a prior.
    #[error(
        "s3://{bucket}/{key} is damaged ({why}): delete it only if you accept that sites may move to other load balancers and rule priorities"
    )]
    Damaged {
        /// Bucket.
        bucket: String,
        /// Key.
        key: String,
        /// Parser message.
        why: String,
    },
}

/// Reads the stored assignments (empty when none are stored yet).
pub fn read_prior(store: &dyn ObjectStore, bucket: &str) -> Result<Prior, StateError> {
    let body = store
        .get(bucket, PRIOR_KEY)
        .map_err(|source| StateError::Read {
            bucket: bucket.into(),
            key: PRIOR_KEY.into(),
            source,
        })?;
    match body {
        None => Ok(Prior::default()),
        Some(b) => serde_json::from_slice(&b).map_err(|e| StateError::Damaged {
            bucket: bucket.into(),
            key: PRIOR_KEY.into(),
            why: e.to_string(),
        }),
    }
}

/// The desired state the agent reads.
pub fn desired(model: &Model, plan: &Plan, version: &str) -> Value {
    json!({
        "format": DESIRED_FORMAT,
        "version": version,
        "stack": model.stack.name,
        "model": model,
        "assignments": Prior::from(plan),
        "shards": plan.shards,
    })
}

/// Writes the assignments and the desired state.
pub fn write(
    store: &dyn ObjectStore,
    bucket: &str,
    model: &Model,
    plan: &Plan,
    version: &str,
) -> Result<(), ApiError> {
    let prior = serde_json::to_vec_pretty(&Prior::from(plan)).unwrap_or_default();
    store.put(bucket, PRIOR_KEY, &prior, "application/json")?;
    let desired = serde_json::to_vec_pretty(&desired(model, plan, version)).unwrap_or_default();
    store.put(bucket, DESIRED_KEY, &desired, "application/json")
}
