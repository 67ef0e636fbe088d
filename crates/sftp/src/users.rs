//! The user store: which logins exist, which site each one belongs to, and how each proves who it
//! is (argon2 password hashes and/or public keys), plus read-only flags.
//!
//! The store is one JSON document ([`UserStoreDoc`]). Locally it is a file; in the cluster it is
//! an object in the stack's state bucket, which `idealstack sftp user` edits (see
//! [`crate::store`]) and the gateway fetches through a [`UserStoreSource`]. A document is validated as a whole (every problem reported at once)
//! before it replaces the one in use, so a bad edit never locks everyone out.

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use russh::keys::{Algorithm, PublicKey};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use thiserror::Error;

/// Lowest uid/gid a site may use: never root or a system account.
pub const MIN_SITE_ID: u32 = 1000;

/// The stored document.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserStoreDoc {
    /// Format version, currently 1.
    pub version: u32,
    /// Sites by name.
    #[serde(default)]
    pub sites: BTreeMap<String, SiteUsers>,
}

/// One site's identity on disk and its users.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SiteUsers {
    pub uid: u32,
    pub gid: u32,
    #[serde(default)]
    pub users: Vec<UserEntry>,
}

/// One login.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserEntry {
    /// The SSH login name, unique across all sites.
    pub name: String,
    /// An argon2 PHC string (`$argon2id$...`), never a clear password.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_hash: Option<String>,
    /// OpenSSH public key lines (`ssh-ed25519 AAAA... comment`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub keys: Vec<String>,
    #[serde(default)]
    pub read_only: bool,
}

/// Problems with a user store document or a change to it.
#[derive(Debug, Error)]
pub enum StoreError {
    #[error("user store {source_name} is not valid JSON of the expected shape: {message}")]
    Parse {
        source_name: String,
        message: String,
    },
    #[error("user store {source_name} is invalid:\n{}", problems.join("\n"))]
    Invalid {
        source_name: String,
        problems: Vec<String>,
    },
    #[error("site {site:?} is not in the user store: add a user with --uid and --gid to create it")]
    UnknownSite { site: String },
    #[error(
        "user {user:?} does not exist in site {site:?}: `idealstack sftp user list {site}` shows its users"
    )]
    UnknownUser { site: String, user: String },
    #[error(
        "user {user:?} already exists (in site {site:?}): remove it first or pick another name"
    )]
    DuplicateUser { site: String, user: String },
    /// A remote store (an `s3://` object) could not be fetched.
    #[error("cannot fetch the user store {source_name}: {message}")]
    Fetch {
        source_name: String,
        message: String,
    },
    /// A remote store (an `s3://` object) could not be written.
    #[error("cannot write the user store {source_name}: {message}")]
    Put {
        source_name: String,
        message: String,
    },
    /// Others kept changing the store while this change was being made.
    #[error(
        "the user store {source_name} changed under this edit {attempts} times in a row (others are editing it): run the command again"
    )]
    Contended {
        source_name: String,
        attempts: usize,
    },
    /// The store's entry for a site belongs to an earlier site of the same name.
    #[error(
        "site {site:?} has logins in the user store for uid {stored_uid}, but the deployed site runs as uid {deployed_uid} (it was removed and added again): remove the old logins ({}) with `idealstack sftp user remove {site} NAME`, then add them again",
        users.join(", ")
    )]
    StaleSite {
        site: String,
        stored_uid: u32,
        deployed_uid: u32,
        users: Vec<String>,
    },
    #[error("reading {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("writing {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("hashing the password failed: {0}")]
    Hash(String),
}

/// Is `s` a valid site name (as in the manifest: lowercase letters, digits, dashes)?
pub fn valid_site_name(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b[0].is_ascii_alphanumeric()
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
}

/// Is `s` a valid login name (lowercase letters, digits, `.`, `_`, `-`; up to 32)?
pub fn valid_user_name(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 32
        && (b[0].is_ascii_lowercase() || b[0].is_ascii_digit())
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || b"._-".contains(c))
}

/// Parses an OpenSSH public key line and checks that the gateway can verify it.
pub fn parse_public_key(line: &str) -> Result<PublicKey, String> {
    let key = PublicKey::from_openssh(line.trim())
        .map_err(|e| format!("not an OpenSSH public key line ({e})"))?;
    match key.algorithm() {
        Algorithm::Ed25519 | Algorithm::Ecdsa { .. } => Ok(key),
        other => Err(format!(
            "{} keys are not accepted: use an ed25519 key (ssh-keygen -t ed25519) or ecdsa",
            other.as_str()
        )),
    }
}

/// Hashes a password with argon2id and a fresh random salt.
pub fn hash_password(password: &str) -> Result<String, StoreError> {
    let mut salt = [0u8; 16];
    crate::random::fill(&mut salt).map_err(|e| StoreError::Hash(e.to_string()))?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| StoreError::Hash(e.to_string()))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| StoreError::Hash(e.to_string()))
}

/// A login ready for authentication.
#[derive(Debug)]
pub struct Account {
    pub user: String,
    pub site: String,
    pub uid: u32,
    pub gid: u32,
    pub read_only: bool,
    password_hash: Option<String>,
    keys: Vec<PublicKey>,
}

impl Account {
    /// Does this account accept `key`?
    pub fn accepts_key(&self, key: &PublicKey) -> bool {
        self.keys.iter().any(|k| k.key_data() == key.key_data())
    }

    /// Does `password` match? (CPU- and memory-hard: call off the async runtime.)
    pub fn verify_password(&self, password: &str) -> bool {
        let Some(hash) = &self.password_hash else {
            return false;
        };
        match PasswordHash::new(hash) {
            Ok(parsed) => Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok(),
            Err(_) => false,
        }
    }

    /// True when the account has a password.
    pub fn has_password(&self) -> bool {
        self.password_hash.is_some()
    }
}

/// A validated store, indexed by login name.
#[derive(Debug, Default)]
pub struct UserStore {
    accounts: HashMap<String, Arc<Account>>,
}

impl UserStore {
    /// Validates `doc` (every problem at once) and indexes it.
    pub fn compile(doc: &UserStoreDoc, source_name: &str) -> Result<UserStore, StoreError> {
        let mut problems = Vec::new();
        if doc.version != 1 {
            problems.push(format!("version is {}, expected 1", doc.version));
        }
        let mut accounts = HashMap::new();
        for (site, s) in &doc.sites {
            if !valid_site_name(site) {
                problems.push(format!(
                    "site {site:?}: names are lowercase letters, digits and dashes"
                ));
            }
            if s.uid < MIN_SITE_ID || s.gid < MIN_SITE_ID {
                problems.push(format!(
                    "site {site:?}: uid {} / gid {} must both be at least {MIN_SITE_ID} (never root or a system account)",
                    s.uid, s.gid
                ));
            }
            for u in &s.users {
                let at = format!("site {site:?} user {:?}", u.name);
                if !valid_user_name(&u.name) {
                    problems.push(format!("{at}: login names are 1-32 of a-z 0-9 . _ - starting with a letter or digit"));
                }
                let mut keys = Vec::new();
                for (i, line) in u.keys.iter().enumerate() {
                    match parse_public_key(line) {
                        Ok(k) => keys.push(k),
                        Err(e) => problems.push(format!("{at}: key {}: {e}", i + 1)),
                    }
                }
                if let Some(h) = &u.password_hash {
                    match PasswordHash::new(h) {
                        Ok(p) if p.algorithm.as_str().starts_with("argon2") => {}
                        _ => problems.push(format!("{at}: password_hash is not an argon2 PHC string (use `idealstack sftp user add --password-stdin`)")),
                    }
                }
                if u.password_hash.is_none() && u.keys.is_empty() {
                    problems.push(format!(
                        "{at}: has neither a password nor a key, so could never log in"
                    ));
                }
                let account = Account {
                    user: u.name.clone(),
                    site: site.clone(),
                    uid: s.uid,
                    gid: s.gid,
                    read_only: u.read_only,
                    password_hash: u.password_hash.clone(),
                    keys,
                };
                if accounts.insert(u.name.clone(), Arc::new(account)).is_some() {
                    problems.push(format!(
                        "{at}: login name used twice (login names are unique across sites)"
                    ));
                }
            }
        }
        if problems.is_empty() {
            Ok(UserStore { accounts })
        } else {
            Err(StoreError::Invalid {
                source_name: source_name.to_string(),
                problems,
            })
        }
    }

    /// Parses and validates a JSON document.
    pub fn from_json(bytes: &[u8], source_name: &str) -> Result<UserStore, StoreError> {
        let doc = parse_doc(bytes, source_name)?;
        UserStore::compile(&doc, source_name)
    }

    /// The account for a login name.
    pub fn account(&self, user: &str) -> Option<Arc<Account>> {
        self.accounts.get(user).cloned()
    }

    /// Number of logins.
    pub fn len(&self) -> usize {
        self.accounts.len()
    }

    /// True when there are no logins.
    pub fn is_empty(&self) -> bool {
        self.accounts.is_empty()
    }
}

/// Parses a JSON document without validating it.
pub fn parse_doc(bytes: &[u8], source_name: &str) -> Result<UserStoreDoc, StoreError> {
    serde_json::from_slice(bytes).map_err(|e| StoreError::Parse {
        source_name: source_name.to_string(),
        message: e.to_string(),
    })
}

/// Where the gateway fetches the user store document from (a port in the DESIGN sense).
///
/// Implementations: [`FileSource`] here; in the cluster, an object in the stack's bucket
/// (`idealstack_aws::sftp::S3UserStore`). `fetch` is blocking; the gateway calls it from a
/// blocking thread.
pub trait UserStoreSource: Send + Sync {
    /// A human-readable name for logs and errors (a path, an `s3://` URL).
    fn name(&self) -> String;
    /// The whole document as bytes, or `None` when the store does not exist (yet): no logins.
    /// A store that exists but cannot be read (forbidden, unreachable) is an error, never `None`.
    fn fetch(&self) -> Result<Option<Vec<u8>>, StoreError>;
}

/// A user store kept in a local file.
#[derive(Debug, Clone)]
pub struct FileSource {
    pub path: PathBuf,
}

impl UserStoreSource for FileSource {
    fn name(&self) -> String {
        self.path.display().to_string()
    }
    fn fetch(&self) -> Result<Option<Vec<u8>>, StoreError> {
        match std::fs::read(&self.path) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(StoreError::Read {
                path: self.path.clone(),
                source,
            }),
        }
    }
}

/// Edits of the document, used by `idealstack sftp user add/remove/list`.
impl UserStoreDoc {
    /// A new empty document.
    pub fn new() -> UserStoreDoc {
        UserStoreDoc {
            version: 1,
            sites: BTreeMap::new(),
        }
    }

    /// Loads a file, or an empty document when it does not exist yet.
    pub fn load_or_new(path: &Path) -> Result<UserStoreDoc, StoreError> {
        match std::fs::read(path) {
            Ok(bytes) => parse_doc(&bytes, &path.display().to_string()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(UserStoreDoc::new()),
            Err(source) => Err(StoreError::Read {
                path: path.to_path_buf(),
                source,
            }),
        }
    }

    /// Validates, then writes atomically (temporary file + rename), mode 0600.
    pub fn save(&self, path: &Path) -> Result<(), StoreError> {
        UserStore::compile(self, &path.display().to_string())?;
        let mut text = serde_json::to_string_pretty(self).expect("the document always serialises");
        text.push('\n');
        crate::fsutil::write_atomic(path, text.as_bytes(), 0o600).map_err(|source| {
            StoreError::Write {
                path: path.to_path_buf(),
                source,
            }
        })
    }

    /// Adds a user to `site`, creating the site entry when `ids` is given.
    pub fn add_user(
        &mut self,
        site: &str,
        ids: Option<(u32, u32)>,
        user: UserEntry,
    ) -> Result<(), StoreError> {
        for (s, users) in &self.sites {
            if users.users.iter().any(|u| u.name == user.name) {
                return Err(StoreError::DuplicateUser {
                    site: s.clone(),
                    user: user.name,
                });
            }
        }
        let entry = match (self.sites.get_mut(site), ids) {
            (Some(e), _) => e,
            (None, Some((uid, gid))) => self.sites.entry(site.to_string()).or_insert(SiteUsers {
                uid,
                gid,
                users: Vec::new(),
            }),
            (None, None) => {
                return Err(StoreError::UnknownSite {
                    site: site.to_string(),
                });
            }
        };
        entry.users.push(user);
        Ok(())
    }

    /// Removes a user from `site`.
    pub fn remove_user(&mut self, site: &str, user: &str) -> Result<(), StoreError> {
        let entry = self
            .sites
            .get_mut(site)
            .ok_or_else(|| StoreError::UnknownSite {
                site: site.to_string(),
            })?;
        let before = entry.users.len();
        entry.users.retain(|u| u.name != user);
        if entry.users.len() == before {
            return Err(StoreError::UnknownUser {
                site: site.to_string(),
                user: user.to_string(),
            });
        }
        Ok(())
    }

    /// The users of `site`.
    pub fn users(&self, site: &str) -> Result<&[UserEntry], StoreError> {
        self.sites
            .get(site)
            .map(|s| s.users.as_slice())
            .ok_or_else(|| StoreError::UnknownSite {
                site: site.to_string(),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKqRe0NWY1Lg4v9L0Gvy/BuVR1KHyN89uWULRjVlCiaT test";

    fn doc() -> UserStoreDoc {
        let mut d = UserStoreDoc::new();
        d.add_user(
            "shop",
            Some((20001, 20001)),
            UserEntry {
                name: "alice".into(),
                password_hash: None,
                keys: vec![KEY.into()],
                read_only: false,
            },
        )
        .unwrap();
        d
    }

    #[test]
    fn valid_document_compiles() {
        let store = UserStore::compile(&doc(), "t").unwrap();
        let a = store.account("alice").unwrap();
        assert_eq!((a.site.as_str(), a.uid), ("shop", 20001));
        assert!(a.accepts_key(&parse_public_key(KEY).unwrap()));
        assert!(store.account("bob").is_none());
    }

    #[test]
    fn every_problem_is_reported() {
        let mut d = doc();
        d.sites.insert(
            "Bad_Site".into(),
            SiteUsers {
                uid: 0,
                gid: 0,
                users: vec![
                    UserEntry {
                        name: "alice".into(),
                        password_hash: Some("plain".into()),
                        keys: vec!["nope".into()],
                        read_only: false,
                    },
                    UserEntry {
                        name: "x".into(),
                        password_hash: None,
                        keys: vec![],
                        read_only: true,
                    },
                ],
            },
        );
        let err = UserStore::compile(&d, "t").unwrap_err().to_string();
        for needle in [
            "Bad_Site",
            "at least 1000",
            "not an argon2",
            "key 1",
            "neither a password",
            "used twice",
        ] {
            assert!(err.contains(needle), "{needle} missing from {err}");
        }
    }

    #[test]
    fn passwords_hash_and_verify() {
        let mut d = doc();
        let hash = hash_password("s3cret pass").unwrap();
        assert!(hash.starts_with("$argon2id$"));
        d.add_user(
            "shop",
            None,
            UserEntry {
                name: "bob".into(),
                password_hash: Some(hash),
                keys: vec![],
                read_only: true,
            },
        )
        .unwrap();
        let store = UserStore::compile(&d, "t").unwrap();
        let bob = store.account("bob").unwrap();
        assert!(bob.verify_password("s3cret pass"));
        assert!(!bob.verify_password("s3cret pasS"));
        assert!(!store.account("alice").unwrap().verify_password(""));
    }

    #[test]
    fn edits_refuse_duplicates_and_unknowns() {
        let mut d = doc();
        let u = UserEntry {
            name: "alice".into(),
            password_hash: None,
            keys: vec![KEY.into()],
            read_only: false,
        };
        assert!(matches!(
            d.add_user("blog", Some((20002, 20002)), u),
            Err(StoreError::DuplicateUser { .. })
        ));
        let u = UserEntry {
            name: "carol".into(),
            password_hash: None,
            keys: vec![KEY.into()],
            read_only: false,
        };
        assert!(matches!(
            d.add_user("blog", None, u),
            Err(StoreError::UnknownSite { .. })
        ));
        assert!(matches!(
            d.remove_user("shop", "zed"),
            Err(StoreError::UnknownUser { .. })
        ));
        d.remove_user("shop", "alice").unwrap();
        assert!(d.users("shop").unwrap().is_empty());
    }

    #[test]
    fn rsa_keys_are_refused_with_advice() {
        let rsa = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAAAgQCnA1yduXQ8u6pffDNm5CZRpvWAR7Yg1NeOYZpz1GXxqCZOCC3+Lo66VAGOqp1Uwad7Zswgq+/r9I6WISPOeen6Zq8lDDMyNkZOG2uvHHmAIOmRPJsPjZQO6x60Fr1tEMXjqHqv8WeSpKkzR6fyc6la0Eb6Ao1DqgI4wcwkTywAEw== x";
        if let Err(e) = parse_public_key(rsa) {
            assert!(e.contains("ed25519"), "{e}");
        } else {
            panic!("an RSA key was accepted");
        }
    }
}
