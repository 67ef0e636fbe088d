//! Site folders on the shared file system (EFS), following the contract in DESIGN.md:
//!
//! ```text
//! /sites/<site>/               root:root 0755   (the SFTP root of the site's users)
//! /sites/<site>/public_html/   uid:uid   0755   document root
//! /sites/<site>/private/       uid:uid   0750   outside the document root
//! /sites/<site>/tmp/           uid:uid   0750   upload temp
//! ```
//!
//! `ensure` creates what is missing and repairs owner and mode drift on these four folders only
//! (never the site's files inside them). A path that is a symbolic link or not a directory is an
//! error: the agent will not follow or replace it.

use crate::ports::{Folders, PortError, PortFuture};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Errors of the folder work.
#[derive(Debug, thiserror::Error)]
pub enum FolderError {
    /// A site name that could leave `/sites`.
    #[error(
        "site name `{0}` cannot be a folder name: expected 1-63 lowercase letters, digits or `-`"
    )]
    Name(String),
    /// A uid outside the site range.
    #[error(
        "site {site}: uid {uid} is below 20000, the site uid range: redeploy so the planner assigns one"
    )]
    Uid {
        /// Site.
        site: String,
        /// Uid.
        uid: u32,
    },
    /// Something in the way.
    #[error(
        "{0} exists but is not a directory (or is a symbolic link): move it away, the agent will not replace it"
    )]
    NotADirectory(PathBuf),
    /// The folder belongs to another incarnation of the site.
    #[error(
        "{path} belongs to uid {owner}, not {uid}: the site was added again, so its folder is not deleted"
    )]
    Owner {
        /// Path.
        path: PathBuf,
        /// Its owner.
        owner: u32,
        /// The uid of the removed site.
        uid: u32,
    },
    /// An I/O error.
    #[error("{path}: {source}")]
    Io {
        /// Path.
        path: PathBuf,
        /// Error.
        #[source]
        source: std::io::Error,
    },
}

/// The contract's folders below the site root: (name, owned by the site, mode).
pub const SUBFOLDERS: [(&str, u32); 3] =
    [("public_html", 0o755), ("private", 0o750), ("tmp", 0o750)];

/// Site folders under a root standing for `/sites`.
#[derive(Debug, Clone)]
pub struct SiteFolders {
    root: PathBuf,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> FolderError + '_ {
    move |source| FolderError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn ensure_dir(
    path: &Path,
    uid: u32,
    mode: u32,
    repairs: &mut Vec<String>,
) -> Result<(), FolderError> {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() || !m.is_dir() => {
            return Err(FolderError::NotADirectory(path.to_path_buf()));
        }
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::create_dir(path).map_err(io(path))?;
            repairs.push(format!("{} created", path.display()));
        }
        Err(e) => return Err(io(path)(e)),
    }
    let m = std::fs::symlink_metadata(path).map_err(io(path))?;
    if m.uid() != uid || m.gid() != uid {
        std::os::unix::fs::lchown(path, Some(uid), Some(uid)).map_err(io(path))?;
        repairs.push(format!(
            "{} owner {}:{} -> {uid}:{uid}",
            path.display(),
            m.uid(),
            m.gid()
        ));
    }
    if m.mode() & 0o7777 != mode {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).map_err(io(path))?;
        repairs.push(format!(
            "{} mode {:o} -> {mode:o}",
            path.display(),
            m.mode() & 0o7777
        ));
    }
    Ok(())
}

impl SiteFolders {
    /// Folders under `root` (the EFS mount's `sites` folder in production).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        SiteFolders { root: root.into() }
    }

    /// Makes the site's folders follow the contract; returns the repairs made.
    pub fn ensure_site(&self, site: &str, uid: u32) -> Result<Vec<String>, FolderError> {
        check(site, uid)?;
        let mut repairs = Vec::new();
        let base = self.root.join(site);
        ensure_dir(&base, 0, 0o755, &mut repairs)?;
        for (name, mode) in SUBFOLDERS {
            ensure_dir(&base.join(name), uid, mode, &mut repairs)?;
        }
        Ok(repairs)
    }

    /// Deletes a removed site's folder and everything in it, if its document root still belongs
    /// to `uid` (the removed incarnation); returns what was deleted. Symbolic links inside are
    /// removed, never followed. Idempotent.
    pub fn remove_site(&self, site: &str, uid: u32) -> Result<Vec<String>, FolderError> {
        check(site, uid)?;
        let base = self.root.join(site);
        let meta = match std::fs::symlink_metadata(&base) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            other => other.map_err(io(&base))?,
        };
        if !meta.is_dir() {
            return Err(FolderError::NotADirectory(base));
        }
        let docroot = base.join("public_html");
        match std::fs::symlink_metadata(&docroot) {
            Ok(m) if m.uid() != uid => {
                return Err(FolderError::Owner {
                    path: docroot,
                    owner: m.uid(),
                    uid,
                });
            }
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io(&docroot)(e)),
        }
        std::fs::remove_dir_all(&base).map_err(io(&base))?;
        Ok(vec![format!("{} deleted", base.display())])
    }
}

/// A site name that stays inside the root, and a uid of the site range.
fn check(site: &str, uid: u32) -> Result<(), FolderError> {
    if site.is_empty()
        || site.len() > 63
        || !site
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        || site.starts_with('-')
    {
        return Err(FolderError::Name(site.into()));
    }
    if uid < 20000 {
        return Err(FolderError::Uid {
            site: site.into(),
            uid,
        });
    }
    Ok(())
}

impl Folders for SiteFolders {
    fn ensure<'a>(&'a self, site: &'a str, uid: u32) -> PortFuture<'a, Vec<String>> {
        Box::pin(async move {
            self.ensure_site(site, uid)
                .map_err(|e| PortError::new("efs", "ensure-folder", e.to_string()))
        })
    }
    fn remove<'a>(&'a self, site: &'a str, uid: u32) -> PortFuture<'a, Vec<String>> {
        Box::pin(async move {
            self.remove_site(site, uid)
                .map_err(|e| PortError::new("efs", "remove-folder", e.to_string()))
        })
    }
}
