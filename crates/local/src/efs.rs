//! EFS as a local folder: one folder per file system, and access points with their semantics
//! (the root directory a mount sees, created with the access point's owner and mode when it is
//! missing).
//!
//! Not reproduced: an access point's `PosixUser` overriding the caller's uid on every operation
//! (it would need an id-mapped mount). The templates run each container as the same uid its
//! access point names, so files still land with the owner EFS would give them.

use std::os::unix::fs::{PermissionsExt, chown};
use std::path::{Component, Path, PathBuf};

use crate::spec::{AccessPoint, EfsVolume};

/// Why a volume cannot be prepared.
#[derive(Debug, thiserror::Error)]
pub enum EfsError {
    /// A root directory that is not a plain absolute path.
    #[error(
        "EFS path {0:?} is not a plain absolute path (no `..`): fix the access point or RootDirectory"
    )]
    Path(String),
    /// The access point is not in the emulator.
    #[error(
        "EFS access point {0} does not exist in the emulator: deploy the stack that creates it"
    )]
    NoAccessPoint(String),
    /// Creating or chowning the folder failed.
    #[error("preparing {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// The host folder a task volume mounts, prepared as EFS would present it.
pub fn prepare(
    root: &Path,
    volume: &EfsVolume,
    access_points: &[AccessPoint],
) -> Result<PathBuf, EfsError> {
    let fs_root = root.join(&volume.file_system_id);
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| EfsError::Io { path, source }
    };
    std::fs::create_dir_all(&fs_root).map_err(io(&fs_root))?;
    let (path, creation) = match &volume.access_point_id {
        Some(id) => {
            let ap = access_points
                .iter()
                .find(|a| &a.id == id)
                .ok_or_else(|| EfsError::NoAccessPoint(id.clone()))?;
            (ap.path.clone(), ap.creation.clone())
        }
        None => (volume.root_directory.clone(), None),
    };
    let relative = relative(&path)?;
    let target = fs_root.join(&relative);
    if !target.exists() {
        // EFS creates the missing folders of an access point's path with its CreationInfo; a
        // plain RootDirectory must exist already (there it is created as root, 0755).
        let mut at = fs_root.clone();
        for part in relative.components() {
            at.push(part);
            if !at.exists() {
                std::fs::create_dir(&at).map_err(io(&at))?;
                if let Some(c) = &creation {
                    chown(&at, Some(c.uid), Some(c.gid)).map_err(io(&at))?;
                    std::fs::set_permissions(&at, std::fs::Permissions::from_mode(c.mode))
                        .map_err(io(&at))?;
                }
            }
        }
    }
    Ok(target)
}

fn relative(path: &str) -> Result<PathBuf, EfsError> {
    let p = Path::new(if path.is_empty() { "/" } else { path });
    if !p.is_absolute() {
        return Err(EfsError::Path(path.to_string()));
    }
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::RootDir => {}
            Component::Normal(n) => out.push(n),
            _ => return Err(EfsError::Path(path.to_string())),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::Creation;
    use std::os::unix::fs::MetadataExt;

    #[test]
    fn an_access_point_root_is_created_with_its_owner_and_mode() {
        let dir = tempfile::tempdir().unwrap();
        let ap = AccessPoint {
            id: "fsap-1".into(),
            file_system_id: "fs-1".into(),
            path: "/sites/shop".into(),
            creation: Some(Creation {
                uid: 0,
                gid: 0,
                mode: 0o750,
            }),
            posix_user: Some((20000, 20000)),
        };
        let volume = EfsVolume {
            file_system_id: "fs-1".into(),
            root_directory: "/".into(),
            access_point_id: Some("fsap-1".into()),
        };
        let path = prepare(dir.path(), &volume, std::slice::from_ref(&ap)).unwrap();
        assert_eq!(path, dir.path().join("fs-1/sites/shop"));
        let meta = std::fs::metadata(&path).unwrap();
        assert_eq!(meta.mode() & 0o7777, 0o750);
        // A second mount finds it as it is.
        assert_eq!(prepare(dir.path(), &volume, &[ap]).unwrap(), path);
    }

    #[test]
    fn bad_paths_and_unknown_access_points_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let mut volume = EfsVolume {
            file_system_id: "fs-1".into(),
            root_directory: "/../etc".into(),
            access_point_id: None,
        };
        assert!(matches!(
            prepare(dir.path(), &volume, &[]),
            Err(EfsError::Path(_))
        ));
        volume.access_point_id = Some("fsap-x".into());
        assert!(matches!(
            prepare(dir.path(), &volume, &[]),
            Err(EfsError::NoAccessPoint(_))
        ));
    }
}
