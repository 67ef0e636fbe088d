//! What the deployer keeps in the stack's state bucket (the data stack's `StateBucketName`
//! output), so it outlives every other stack:
//!
//! | key | what | read by |
//! | --- | --- | --- |
//! | `state/prior.json` | the plan's assignments ([`Prior`]: shards, rule priorities, uids) | the next deploy, so no site moves |
//! | `state/desired.json` | the resolved desired state: the validated model, the assignments, the version | the in-cluster agent |
//! | `state/purge/<site>-<uid>.json` | a removed site whose files and database the user asked to delete (`site remove --delete-data`) | the agent, which deletes them and then the request |
//! | `state/sftp/users.json` ([`SFTP_USERS_KEY`]) | the SFTP logins: argon2 hashes, public keys, each site's uid/gid | the SFTP gateway (`IDEALSTACK_SFTP_USERS`); written by `idealstack sftp user`, never by a deploy |
//! | `templates/<stack>.json` | templates too large for an inline request (> 51,200 bytes) | CloudFormation (TemplateURL) |

use idealstack_manifest::Model;
use idealstack_plan::{Plan, Prior};
use serde_json::{Value, json};

use crate::ports::{ApiError, ObjectStore};

/// Key of the stored assignments.
pub const PRIOR_KEY: &str = "state/prior.json";
/// Key of the SFTP gateway's user store (`idealstack sftp user` edits it with conditional
/// writes; the cluster template gives it to the gateway as `IDEALSTACK_SFTP_USERS`). Defined in
/// the templates crate, which cannot depend on this one, so both name the same object.
pub const SFTP_USERS_KEY: &str = idealstack_templates::SFTP_USERS_KEY;

/// The `s3://` location of the SFTP user store in `bucket`.
pub fn sftp_users_location(bucket: &str) -> String {
    format!("s3://{bucket}/{SFTP_USERS_KEY}")
}

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

/// Where purge requests live: one object per removed site, `<site>-<uid>.json`.
pub const PURGE_PREFIX: &str = "state/purge/";
/// Format of a purge request.
pub const PURGE_FORMAT: u32 = 1;

/// The key of the purge request for a removed site.
pub fn purge_key(site: &str, uid: u32) -> String {
    format!("{PURGE_PREFIX}{site}-{uid}.json")
}

/// A purge request: delete the files (`/sites/<site>`, owned by `uid`) and, when `database`
/// names one, the database, its user and the retained credentials secret of a site that is no
/// longer deployed. The uid tells the agent which incarnation of the name is meant: a site
/// added again under the same name gets a new uid and is never touched.
pub fn purge_request(site: &str, uid: u32, database: Option<&str>, requested_at: u64) -> Value {
    json!({
        "format": PURGE_FORMAT,
        "site": site,
        "uid": uid,
        "files": true,
        "database": database,
        "requested_at": requested_at,
    })
}

/// Writes a purge request for the agent.
pub fn write_purge(
    store: &dyn ObjectStore,
    bucket: &str,
    site: &str,
    uid: u32,
    database: Option<&str>,
    requested_at: u64,
) -> Result<String, ApiError> {
    let key = purge_key(site, uid);
    let body = serde_json::to_vec_pretty(&purge_request(site, uid, database, requested_at))
        .unwrap_or_default();
    store.put(bucket, &key, &body, "application/json")?;
    Ok(key)
}

/// The desired state the agent reads.
pub fn desired(model: &Model, plan: &Plan, version: &str, written_at: u64) -> Value {
    json!({
        "format": DESIRED_FORMAT,
        "version": version,
        "stack": model.stack.name,
        "written_at": written_at,
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
    written_at: u64,
) -> Result<(), ApiError> {
    let prior = serde_json::to_vec_pretty(&Prior::from(plan)).unwrap_or_default();
    store.put(bucket, PRIOR_KEY, &prior, "application/json")?;
    let desired =
        serde_json::to_vec_pretty(&desired(model, plan, version, written_at)).unwrap_or_default();
    store.put(bucket, DESIRED_KEY, &desired, "application/json")
}
