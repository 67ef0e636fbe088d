//! The gateway's host key: created once, kept in a folder (on EFS in the cluster, so every task
//! and every restart presents the same key and clients never see a "host key changed" warning).

use crate::fsutil::write_atomic;
use russh::keys::PrivateKey;
use russh::keys::ssh_key::LineEnding;
use russh::keys::ssh_key::private::Ed25519Keypair;
use std::path::{Path, PathBuf};
use thiserror::Error;

/// File name of the Ed25519 host key inside the host key folder.
pub const ED25519_FILE: &str = "ssh_host_ed25519_key";

/// Why the host key could not be loaded or created.
#[derive(Debug, Error)]
pub enum HostKeyError {
    #[error("cannot create host key folder {path}: {source}")]
    Folder {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot read host key {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "host key {path} is not an OpenSSH private key ({message}): restore it from backup, or delete it to make a new one (clients will then warn that the key changed)"
    )]
    Parse { path: PathBuf, message: String },
    #[error("cannot write new host key {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot generate a host key: {0}")]
    Generate(String),
}

/// Loads the Ed25519 host key from `dir`, creating it (mode 0600) when absent.
pub fn load_or_create(dir: &Path) -> Result<PrivateKey, HostKeyError> {
    std::fs::create_dir_all(dir).map_err(|source| HostKeyError::Folder {
        path: dir.into(),
        source,
    })?;
    let path = dir.join(ED25519_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => PrivateKey::from_openssh(text.as_bytes()).map_err(|e| HostKeyError::Parse {
            path,
            message: e.to_string(),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut seed = [0u8; 32];
            crate::random::fill(&mut seed).map_err(|e| HostKeyError::Generate(e.to_string()))?;
            let key = PrivateKey::from(Ed25519Keypair::from_seed(&seed));
            let text = key
                .to_openssh(LineEnding::LF)
                .map_err(|e| HostKeyError::Generate(e.to_string()))?;
            write_atomic(&path, text.as_bytes(), 0o600).map_err(|source| HostKeyError::Write {
                path: path.clone(),
                source,
            })?;
            // Another task may have raced us to create it: whatever is on disk now wins.
            let text = std::fs::read_to_string(&path).map_err(|source| HostKeyError::Read {
                path: path.clone(),
                source,
            })?;
            PrivateKey::from_openssh(text.as_bytes()).map_err(|e| HostKeyError::Parse {
                path,
                message: e.to_string(),
            })
        }
        Err(source) => Err(HostKeyError::Read { path, source }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_survives_a_restart() {
        let dir = idealstack_testbed::scratch_dir("sftp-hostkey");
        let a = load_or_create(dir.path()).unwrap();
        let b = load_or_create(dir.path()).unwrap();
        assert_eq!(a.public_key().key_data(), b.public_key().key_data());
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join(ED25519_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn corrupt_key_is_an_error_that_says_what_to_do() {
        let dir = idealstack_testbed::scratch_dir("sftp-hostkey-bad");
        std::fs::write(dir.path().join(ED25519_FILE), "garbage").unwrap();
        let err = load_or_create(dir.path()).unwrap_err().to_string();
        assert!(err.contains("restore it from backup"), "{err}");
    }
}
