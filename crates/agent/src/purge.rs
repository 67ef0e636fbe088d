//! Deleting a removed site's data when the user asked for it (`idealstack site remove
//! --delete-data`): the deployer leaves a request at `state/purge/<site>-<uid>.json` in the
//! stack's bucket once the site's stack is deleted; the agent deletes the site's files, database,
//! database user and retained credentials secret, then the request.
//!
//! A request names one incarnation of the site (its uid; uids are never reused). If the name is
//! in the desired state again, the site was added back and its folder and database (same names)
//! now belong to the new site: a request older than that desired state is dropped without
//! deleting anything; a request newer than the desired state the agent holds waits for the next
//! one (the deploy that removed the site writes it first).

use crate::desired::Desired;
use serde::Deserialize;

/// Prefix of the purge requests in the state bucket.
pub const PURGE_PREFIX: &str = "state/purge/";

/// One request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PurgeRequest {
    /// The object key it was read from.
    pub key: String,
    /// Site name.
    pub site: String,
    /// The removed site's uid.
    pub uid: u32,
    /// Delete `/sites/<site>`.
    pub files: bool,
    /// Database (and user) to drop, if the site had one.
    pub database: Option<String>,
    /// When it was asked for (seconds since the epoch).
    pub requested_at: u64,
}

/// Why a request cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "s3 object {key} is not a purge request the agent understands ({why}): delete it, and remove the site's data by hand if it is still wanted"
)]
pub struct PurgeError {
    /// Key.
    pub key: String,
    /// What is wrong.
    pub why: String,
}

#[derive(Deserialize)]
struct Raw {
    format: u32,
    site: String,
    uid: u32,
    #[serde(default)]
    files: bool,
    #[serde(default)]
    database: Option<String>,
    #[serde(default)]
    requested_at: u64,
}

impl PurgeRequest {
    /// Parses the body stored at `key`.
    pub fn parse(key: &str, body: &[u8]) -> Result<PurgeRequest, PurgeError> {
        let bad = |why: String| PurgeError {
            key: key.into(),
            why,
        };
        let raw: Raw = serde_json::from_slice(body).map_err(|e| bad(e.to_string()))?;
        if raw.format != 1 {
            return Err(bad(format!("format {} (this agent knows 1)", raw.format)));
        }
        let expected = format!("{PURGE_PREFIX}{}-{}.json", raw.site, raw.uid);
        if key != expected {
            return Err(bad(format!("its key should be {expected}")));
        }
        Ok(PurgeRequest {
            key: key.into(),
            site: raw.site,
            uid: raw.uid,
            files: raw.files,
            database: raw.database,
            requested_at: raw.requested_at,
        })
    }
}

/// What to do with a request now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Delete the data, then the request.
    Purge,
    /// The site was added again after the request: delete only the request.
    Drop(String),
    /// The desired state the agent holds predates the request: ask again next pass.
    Wait(String),
}

/// Decides a request against the desired state.
pub fn decide(request: &PurgeRequest, desired: &Desired) -> Decision {
    if !desired.sites.contains_key(&request.site) {
        return Decision::Purge;
    }
    if desired.written_at > request.requested_at {
        Decision::Drop(format!(
            "site {} was added again after its data was to be deleted: its folder and database now belong to the new site; nothing deleted",
            request.site
        ))
    } else {
        Decision::Wait(format!(
            "site {} is still in the desired state the agent holds (older than the request); waiting for the deploy's",
            request.site
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::desired::DesiredSite;

    fn request(requested_at: u64) -> PurgeRequest {
        PurgeRequest::parse(
            "state/purge/shop-20002.json",
            format!(
                r#"{{"format":1,"site":"shop","uid":20002,"files":true,"database":"shop","requested_at":{requested_at}}}"#
            )
            .as_bytes(),
        )
        .unwrap()
    }

    fn desired(with_shop: bool, written_at: u64) -> Desired {
        let mut d = Desired {
            written_at,
            ..Desired::default()
        };
        if with_shop {
            d.sites.insert(
                "shop".into(),
                DesiredSite {
                    name: "shop".into(),
                    uid: 20005,
                    min_tasks: 2,
                    max_tasks: 10,
                    database: true,
                },
            );
        }
        d
    }

    #[test]
    fn decisions() {
        assert_eq!(decide(&request(100), &desired(false, 50)), Decision::Purge);
        assert_eq!(decide(&request(100), &desired(false, 150)), Decision::Purge);
        assert!(matches!(
            decide(&request(100), &desired(true, 150)),
            Decision::Drop(_)
        ));
        assert!(matches!(
            decide(&request(100), &desired(true, 50)),
            Decision::Wait(_)
        ));
    }

    #[test]
    fn parses_and_refuses_what_it_does_not_understand() {
        let r = request(7);
        assert_eq!(
            (r.site.as_str(), r.uid, r.files, r.database.as_deref()),
            ("shop", 20002, true, Some("shop"))
        );
        for (key, body) in [
            ("state/purge/shop-20002.json", "not json"),
            (
                "state/purge/shop-20002.json",
                r#"{"format":2,"site":"shop","uid":20002}"#,
            ),
            (
                "state/purge/other-20002.json",
                r#"{"format":1,"site":"shop","uid":20002}"#,
            ),
            (
                "state/purge/shop-20002.json",
                r#"{"format":1,"site":"shop"}"#,
            ),
        ] {
            let e = PurgeRequest::parse(key, body.as_bytes()).unwrap_err();
            assert!(e.to_string().contains(key), "{e}");
        }
    }
}
