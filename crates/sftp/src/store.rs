//! Editing the user store safely when several people do it at once.
//!
//! `idealstack sftp user add|remove` read the document, change it, and write it back only if
//! nobody wrote it in between (a conditional write: S3's `If-Match` on the object's ETag, or
//! `If-None-Match: *` when it does not exist yet; for a local file, a comparison under an
//! exclusive lock). When someone did, the edit starts again from what they wrote, so two admins
//! never lose each other's change. [`UserStoreTarget`] is the port; [`FileTarget`] implements it
//! here, `idealstack_aws::sftp::S3UserStore` in the cluster.

use crate::users::{StoreError, UserStore, UserStoreDoc, parse_doc};
use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How many times an edit is tried against concurrent writers before giving up.
pub const EDIT_ATTEMPTS: usize = 8;

/// The stored document and the version it was read at (an S3 ETag, a file's content hash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    pub bytes: Vec<u8>,
    pub version: String,
}

/// What a conditional write did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PutOutcome {
    /// The document was written.
    Written,
    /// Someone changed the store since it was read: nothing was written.
    Conflict,
}

/// A user store that can be read with its version and written conditionally.
pub trait UserStoreTarget: Send + Sync {
    /// A human-readable name (a path, an `s3://` URL).
    fn name(&self) -> String;
    /// The document with its version, or `None` when the store does not exist yet.
    fn read(&self) -> Result<Option<Stored>, StoreError>;
    /// Writes `bytes` only if the store is still at `expected` (`None`: only if it still does
    /// not exist).
    fn write_if(&self, bytes: &[u8], expected: Option<&str>) -> Result<PutOutcome, StoreError>;
}

/// Reads the document (an empty one when the store does not exist yet).
pub fn load(target: &dyn UserStoreTarget) -> Result<UserStoreDoc, StoreError> {
    match target.read()? {
        Some(stored) => parse_doc(&stored.bytes, &target.name()),
        None => Ok(UserStoreDoc::new()),
    }
}

/// Applies `change` to the current document and writes the result conditionally, starting again
/// from the newer document when someone else wrote in between (up to [`EDIT_ATTEMPTS`] times).
/// The result is validated as a whole before it is written. Returns the written document and
/// what `change` returned.
pub fn edit<T>(
    target: &dyn UserStoreTarget,
    mut change: impl FnMut(&mut UserStoreDoc) -> Result<T, StoreError>,
) -> Result<(UserStoreDoc, T), StoreError> {
    let name = target.name();
    for attempt in 0..EDIT_ATTEMPTS {
        let stored = target.read()?;
        let mut doc = match &stored {
            Some(s) => parse_doc(&s.bytes, &name)?,
            None => UserStoreDoc::new(),
        };
        let out = change(&mut doc)?;
        UserStore::compile(&doc, &name)?;
        let mut text = serde_json::to_vec_pretty(&doc).expect("the document always serialises");
        text.push(b'\n');
        match target.write_if(&text, stored.as_ref().map(|s| s.version.as_str()))? {
            PutOutcome::Written => return Ok((doc, out)),
            PutOutcome::Conflict => {
                // Someone else won this round: back off a little (with jitter, so two retrying
                // editors do not collide again in lockstep) and start from what they wrote.
                let mut r = [0u8; 1];
                let _ = crate::random::fill(&mut r);
                std::thread::sleep(Duration::from_millis(
                    20 * (attempt as u64 + 1) + u64::from(r[0] % 50),
                ));
            }
        }
    }
    Err(StoreError::Contended {
        source_name: name,
        attempts: EDIT_ATTEMPTS,
    })
}

/// Makes sure `site` is in the document with the deployed `uid`/`gid` (the cluster's mode: the
/// ids come from the deployed assignments, never from the person typing). An entry left by an
/// earlier site of the same name (another uid) is taken over when it has no logins, and refused
/// when it has some: they were given for the old site.
pub fn ensure_deployed_site(
    doc: &mut UserStoreDoc,
    site: &str,
    uid: u32,
    gid: u32,
) -> Result<(), StoreError> {
    match doc.sites.get_mut(site) {
        None => {
            doc.sites.insert(
                site.to_string(),
                crate::users::SiteUsers {
                    uid,
                    gid,
                    users: Vec::new(),
                },
            );
        }
        Some(entry) if entry.uid == uid && entry.gid == gid => {}
        Some(entry) if entry.users.is_empty() => {
            entry.uid = uid;
            entry.gid = gid;
        }
        Some(entry) => {
            return Err(StoreError::StaleSite {
                site: site.to_string(),
                stored_uid: entry.uid,
                deployed_uid: uid,
                users: entry.users.iter().map(|u| u.name.clone()).collect(),
            });
        }
    }
    Ok(())
}

/// A user store in a local file (running the gateway alone): versions are content hashes, and a
/// write compares and replaces under an exclusive lock on `<file>.lock`.
#[derive(Debug, Clone)]
pub struct FileTarget {
    pub path: PathBuf,
}

fn version_of(bytes: &[u8]) -> String {
    let mut h = DefaultHasher::new();
    bytes.hash(&mut h);
    format!("{:016x}-{}", h.finish(), bytes.len())
}

fn read_file(path: &Path) -> Result<Option<Vec<u8>>, StoreError> {
    match std::fs::read(path) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(StoreError::Read {
            path: path.to_path_buf(),
            source,
        }),
    }
}

impl UserStoreTarget for FileTarget {
    fn name(&self) -> String {
        self.path.display().to_string()
    }

    fn read(&self) -> Result<Option<Stored>, StoreError> {
        Ok(read_file(&self.path)?.map(|bytes| Stored {
            version: version_of(&bytes),
            bytes,
        }))
    }

    fn write_if(&self, bytes: &[u8], expected: Option<&str>) -> Result<PutOutcome, StoreError> {
        let mut lock_path = self.path.clone().into_os_string();
        lock_path.push(".lock");
        let lock_path = PathBuf::from(lock_path);
        let write_err = |source| StoreError::Write {
            path: lock_path.clone(),
            source,
        };
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(write_err)?;
        rustix::fs::flock(&lock, rustix::fs::FlockOperation::LockExclusive)
            .map_err(|e| write_err(std::io::Error::from_raw_os_error(e.raw_os_error())))?;
        let current = read_file(&self.path)?.map(|b| version_of(&b));
        if current.as_deref() != expected {
            return Ok(PutOutcome::Conflict);
        }
        crate::fsutil::write_atomic(&self.path, bytes, 0o600).map_err(|source| {
            StoreError::Write {
                path: self.path.clone(),
                source,
            }
        })?;
        Ok(PutOutcome::Written)
        // The lock is released when `lock` is closed.
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::users::UserEntry;
    use std::sync::Mutex;

    const KEY: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKqRe0NWY1Lg4v9L0Gvy/BuVR1KHyN89uWULRjVlCiaT test";

    fn user(name: &str) -> UserEntry {
        UserEntry {
            name: name.into(),
            password_hash: None,
            keys: vec![KEY.into()],
            read_only: false,
        }
    }

    /// A store in memory that lets a rival write land between one editor's read and write, the
    /// first `rival_writes` times.
    struct Racy {
        state: Mutex<(Option<Vec<u8>>, u64)>,
        rival_writes: Mutex<Vec<String>>,
    }

    impl Racy {
        fn rival(&self) {
            let Some(name) = self.rival_writes.lock().unwrap().pop() else {
                return;
            };
            let mut st = self.state.lock().unwrap();
            let mut doc = match &st.0 {
                Some(b) => parse_doc(b, "racy").unwrap(),
                None => UserStoreDoc::new(),
            };
            ensure_deployed_site(&mut doc, "shop", 20001, 20001).unwrap();
            doc.add_user("shop", None, user(&name)).unwrap();
            st.0 = Some(serde_json::to_vec(&doc).unwrap());
            st.1 += 1;
        }
    }

    impl UserStoreTarget for Racy {
        fn name(&self) -> String {
            "racy".into()
        }
        fn read(&self) -> Result<Option<Stored>, StoreError> {
            let st = self.state.lock().unwrap();
            let out = st.0.clone().map(|bytes| Stored {
                bytes,
                version: st.1.to_string(),
            });
            drop(st);
            self.rival();
            Ok(out)
        }
        fn write_if(&self, bytes: &[u8], expected: Option<&str>) -> Result<PutOutcome, StoreError> {
            let mut st = self.state.lock().unwrap();
            let current = st.0.as_ref().map(|_| st.1.to_string());
            if current.as_deref() != expected {
                return Ok(PutOutcome::Conflict);
            }
            st.0 = Some(bytes.to_vec());
            st.1 += 1;
            Ok(PutOutcome::Written)
        }
    }

    #[test]
    fn a_write_between_read_and_write_is_kept() {
        let racy = Racy {
            state: Mutex::new((None, 0)),
            rival_writes: Mutex::new(vec!["carol".into(), "bob".into()]),
        };
        let (doc, ()) = edit(&racy, |doc| {
            ensure_deployed_site(doc, "shop", 20001, 20001)?;
            doc.add_user("shop", None, user("alice"))
        })
        .unwrap();
        let names: Vec<_> = doc.users("shop").unwrap().iter().map(|u| &u.name).collect();
        assert_eq!(names, ["bob", "carol", "alice"]);
        let stored = parse_doc(racy.state.lock().unwrap().0.as_ref().unwrap(), "t").unwrap();
        assert_eq!(stored, doc);
    }

    #[test]
    fn endless_rivals_give_a_clear_error() {
        let racy = Racy {
            state: Mutex::new((None, 0)),
            rival_writes: Mutex::new((0..EDIT_ATTEMPTS).map(|i| format!("u{i}")).collect()),
        };
        let err = edit(&racy, |doc| {
            ensure_deployed_site(doc, "shop", 20001, 20001)?;
            doc.add_user("shop", None, user("alice"))
        })
        .unwrap_err()
        .to_string();
        assert!(err.contains("run the command again"), "{err}");
    }

    #[test]
    fn a_site_added_again_does_not_inherit_old_logins() {
        let mut doc = UserStoreDoc::new();
        ensure_deployed_site(&mut doc, "shop", 20001, 20001).unwrap();
        doc.add_user("shop", None, user("alice")).unwrap();
        let err = ensure_deployed_site(&mut doc, "shop", 20007, 20007).unwrap_err();
        assert!(err.to_string().contains("alice"), "{err}");
        doc.remove_user("shop", "alice").unwrap();
        ensure_deployed_site(&mut doc, "shop", 20007, 20007).unwrap();
        assert_eq!(doc.sites["shop"].uid, 20007);
    }

    #[test]
    fn file_target_refuses_a_stale_version() {
        let dir = idealstack_testbed::scratch_dir("sftp-store-file");
        let t = FileTarget {
            path: dir.path().join("users.json"),
        };
        assert!(t.read().unwrap().is_none());
        assert_eq!(t.write_if(b"{}", None).unwrap(), PutOutcome::Written);
        assert_eq!(t.write_if(b"{ }", None).unwrap(), PutOutcome::Conflict);
        let v = t.read().unwrap().unwrap().version;
        assert_eq!(t.write_if(b"{ }", Some(&v)).unwrap(), PutOutcome::Written);
        assert_eq!(t.write_if(b"{}", Some(&v)).unwrap(), PutOutcome::Conflict);
    }
}
