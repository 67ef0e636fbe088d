//! A site folder as a confined file system: the kernel-enforced half of confinement.
//!
//! [`SiteFs`] holds a directory file descriptor for `/sites/<site>`. Every lookup goes through
//! `openat2(2)` with `RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS` relative to that descriptor, so the
//! kernel itself refuses any resolution that would leave the folder: `..` above the root, absolute
//! symlinks, symlinks whose target climbs out, `/proc` magic links. Operations on a final name
//! (mkdir, unlink, rename, symlink, readlink, lstat, link) first resolve the *parent* that way, then
//! act on one plain component with the `*at` system calls on that parent descriptor, which never
//! follow a symlink in the final component. There is no check-then-use window: the kernel resolves
//! and opens in a single call, so a symlink swapped in between two requests is simply resolved
//! again, under the same rule.
//!
//! Ownership comes from the caller: the session thread runs with the site's uid/gid (see
//! [`crate::creds`]), so what it creates belongs to the site and the kernel's permission checks
//! apply exactly as they do to PHP.

use crate::protocol::{Attrs, VfsStats};
use crate::vpath::VPath;
use rustix::fd::{AsFd, BorrowedFd, OwnedFd};
use rustix::fs::{AtFlags, Mode, OFlags, RenameFlags, ResolveFlags, Stat, Timespec, Timestamps};
use rustix::io::Errno;
use std::io;
use std::path::Path;

const RESOLVE: ResolveFlags = ResolveFlags::BENEATH.union(ResolveFlags::NO_MAGICLINKS);

/// Permission bits a client may set with chmod: rwx for owner, group and others. Set-uid,
/// set-gid and sticky bits are dropped; nothing uploaded needs them.
pub const PERM_MASK: u32 = 0o777;

fn errno(e: Errno) -> io::Error {
    io::Error::from_raw_os_error(e.raw_os_error())
}

/// A site folder opened for confined access.
#[derive(Debug)]
pub struct SiteFs {
    root: OwnedFd,
}

impl SiteFs {
    /// Opens the site folder (the path is trusted configuration, resolved normally).
    pub fn open(root: &Path) -> io::Result<SiteFs> {
        let fd = rustix::fs::open(
            root,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(errno)?;
        Ok(SiteFs { root: fd })
    }

    fn resolve(&self, path: &VPath, flags: OFlags, mode: Mode) -> io::Result<OwnedFd> {
        rustix::fs::openat2(
            &self.root,
            path.relative(),
            flags | OFlags::CLOEXEC,
            mode,
            RESOLVE,
        )
        .map_err(errno)
    }

    /// The parent folder of `path` and its last component. The root has no parent: refused.
    fn parent<'p>(&self, path: &'p VPath) -> io::Result<(OwnedFd, &'p [u8])> {
        let (dir, name) = path.split_last().ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::PermissionDenied,
                "the site folder itself cannot be changed",
            )
        })?;
        let fd = self.resolve(&dir, OFlags::PATH | OFlags::DIRECTORY, Mode::empty())?;
        Ok((fd, name))
    }

    /// Opens a file (following symlinks that stay inside).
    pub fn open_file(&self, path: &VPath, flags: OFlags, mode: u32) -> io::Result<OwnedFd> {
        if path.is_root() && flags.intersects(OFlags::WRONLY | OFlags::RDWR) {
            return Err(io::Error::from_raw_os_error(Errno::ISDIR.raw_os_error()));
        }
        // openat2 refuses a mode without O_CREAT (EINVAL), unlike open.
        let mode = if flags.contains(OFlags::CREATE) {
            Mode::from_raw_mode(mode & 0o7777)
        } else {
            Mode::empty()
        };
        self.resolve(path, flags | OFlags::NOCTTY, mode)
    }

    /// Opens a folder for listing.
    pub fn open_dir(&self, path: &VPath) -> io::Result<OwnedFd> {
        self.resolve(path, OFlags::RDONLY | OFlags::DIRECTORY, Mode::empty())
    }

    /// `stat`, following symlinks that stay inside.
    pub fn stat(&self, path: &VPath) -> io::Result<Stat> {
        let fd = self.resolve(path, OFlags::PATH, Mode::empty())?;
        rustix::fs::fstat(&fd).map_err(errno)
    }

    /// `lstat`: the entry itself, a symlink is not followed.
    pub fn lstat(&self, path: &VPath) -> io::Result<Stat> {
        if path.is_root() {
            return rustix::fs::fstat(&self.root).map_err(errno);
        }
        let (dir, name) = self.parent(path)?;
        rustix::fs::statat(&dir, name, AtFlags::SYMLINK_NOFOLLOW).map_err(errno)
    }

    pub fn mkdir(&self, path: &VPath, mode: u32) -> io::Result<()> {
        let (dir, name) = self.parent(path)?;
        rustix::fs::mkdirat(&dir, name, Mode::from_raw_mode(mode & 0o7777)).map_err(errno)
    }

    pub fn rmdir(&self, path: &VPath) -> io::Result<()> {
        let (dir, name) = self.parent(path)?;
        rustix::fs::unlinkat(&dir, name, AtFlags::REMOVEDIR).map_err(errno)
    }

    pub fn remove(&self, path: &VPath) -> io::Result<()> {
        let (dir, name) = self.parent(path)?;
        rustix::fs::unlinkat(&dir, name, AtFlags::empty()).map_err(errno)
    }

    /// Renames; with `replace` false an existing destination is an error (SFTP v3 RENAME),
    /// with `replace` true it is replaced atomically (posix-rename@openssh.com).
    pub fn rename(&self, from: &VPath, to: &VPath, replace: bool) -> io::Result<()> {
        let (from_dir, from_name) = self.parent(from)?;
        let (to_dir, to_name) = self.parent(to)?;
        if replace {
            return rustix::fs::renameat(&from_dir, from_name, &to_dir, to_name).map_err(errno);
        }
        match rustix::fs::renameat_with(
            &from_dir,
            from_name,
            &to_dir,
            to_name,
            RenameFlags::NOREPLACE,
        ) {
            Ok(()) => Ok(()),
            // File systems without RENAME_NOREPLACE (older NFS servers): check, then rename.
            Err(Errno::INVAL) | Err(Errno::NOSYS) => {
                match rustix::fs::statat(&to_dir, to_name, AtFlags::SYMLINK_NOFOLLOW) {
                    Ok(_) => Err(io::Error::from_raw_os_error(Errno::EXIST.raw_os_error())),
                    Err(Errno::NOENT) => {
                        rustix::fs::renameat(&from_dir, from_name, &to_dir, to_name).map_err(errno)
                    }
                    Err(e) => Err(errno(e)),
                }
            }
            Err(e) => Err(errno(e)),
        }
    }

    /// Creates a symlink holding `text` (already checked to stay inside, see
    /// [`VPath::symlink_text`]).
    pub fn symlink(&self, text: &[u8], link: &VPath) -> io::Result<()> {
        let (dir, name) = self.parent(link)?;
        rustix::fs::symlinkat(text, &dir, name).map_err(errno)
    }

    /// Creates a hard link at `link` to the file at `target` (neither followed if a symlink).
    pub fn hardlink(&self, target: &VPath, link: &VPath) -> io::Result<()> {
        let (tdir, tname) = self.parent(target)?;
        let (ldir, lname) = self.parent(link)?;
        rustix::fs::linkat(&tdir, tname, &ldir, lname, AtFlags::empty()).map_err(errno)
    }

    pub fn readlink(&self, path: &VPath) -> io::Result<Vec<u8>> {
        let (dir, name) = self.parent(path)?;
        let target = rustix::fs::readlinkat(&dir, name, Vec::new()).map_err(errno)?;
        Ok(target.into_bytes())
    }

    /// SETSTAT on a path: size, permissions and times (uid/gid changes are ignored: files always
    /// belong to the site).
    pub fn setstat(&self, path: &VPath, attrs: &Attrs) -> io::Result<()> {
        if let Some(size) = attrs.size {
            let fd = self.resolve(path, OFlags::WRONLY | OFlags::NONBLOCK, Mode::empty())?;
            rustix::fs::ftruncate(&fd, size).map_err(errno)?;
        }
        if attrs.permissions.is_none() && attrs.atime_mtime.is_none() {
            return Ok(());
        }
        // An O_PATH descriptor pins the inode the kernel resolved (inside the site); chmod and
        // utimes then act on it through this thread's own /proc entry, never through a path
        // the client controls.
        let fd = self.resolve(path, OFlags::PATH, Mode::empty())?;
        let proc_path = format!("/proc/thread-self/fd/{}", fd_num(fd.as_fd()));
        if let Some(perm) = attrs.permissions {
            let st = rustix::fs::fstat(&fd).map_err(errno)?;
            if rustix::fs::FileType::from_raw_mode(st.st_mode) == rustix::fs::FileType::Symlink {
                return Err(io::Error::from_raw_os_error(Errno::LOOP.raw_os_error()));
            }
            rustix::fs::chmodat(
                rustix::fs::CWD,
                &proc_path,
                Mode::from_raw_mode(perm & PERM_MASK),
                AtFlags::empty(),
            )
            .map_err(errno)?;
        }
        if let Some((atime, mtime)) = attrs.atime_mtime {
            rustix::fs::utimensat(
                rustix::fs::CWD,
                &proc_path,
                &timestamps(atime, mtime),
                AtFlags::empty(),
            )
            .map_err(errno)?;
        }
        Ok(())
    }

    /// statvfs of the file system holding `path`.
    pub fn statvfs(&self, path: &VPath) -> io::Result<VfsStats> {
        let fd = self.resolve(path, OFlags::PATH, Mode::empty())?;
        vfs_stats(fd.as_fd())
    }
}

fn fd_num(fd: BorrowedFd<'_>) -> i32 {
    use rustix::fd::AsRawFd;
    fd.as_raw_fd()
}

/// SETSTAT on an open descriptor.
pub fn fsetstat(fd: BorrowedFd<'_>, attrs: &Attrs) -> io::Result<()> {
    if let Some(size) = attrs.size {
        rustix::fs::ftruncate(fd, size).map_err(errno)?;
    }
    if let Some(perm) = attrs.permissions {
        rustix::fs::fchmod(fd, Mode::from_raw_mode(perm & PERM_MASK)).map_err(errno)?;
    }
    if let Some((atime, mtime)) = attrs.atime_mtime {
        rustix::fs::futimens(fd, &timestamps(atime, mtime)).map_err(errno)?;
    }
    Ok(())
}

fn timestamps(atime: u32, mtime: u32) -> Timestamps {
    Timestamps {
        last_access: Timespec {
            tv_sec: i64::from(atime),
            tv_nsec: 0,
        },
        last_modification: Timespec {
            tv_sec: i64::from(mtime),
            tv_nsec: 0,
        },
    }
}

/// statvfs of the file system holding `fd`.
pub fn vfs_stats(fd: BorrowedFd<'_>) -> io::Result<VfsStats> {
    let s = rustix::fs::fstatvfs(fd).map_err(errno)?;
    Ok(VfsStats {
        bsize: s.f_bsize,
        frsize: s.f_frsize,
        blocks: s.f_blocks,
        bfree: s.f_bfree,
        bavail: s.f_bavail,
        files: s.f_files,
        ffree: s.f_ffree,
        favail: s.f_favail,
        fsid: s.f_fsid,
        flag: s.f_flag.bits(),
        namemax: s.f_namemax,
    })
}

/// SFTP attributes of a `stat` result.
pub fn attrs_of(st: &Stat) -> Attrs {
    Attrs {
        size: Some(st.st_size as u64),
        uid_gid: Some((st.st_uid, st.st_gid)),
        permissions: Some(st.st_mode),
        atime_mtime: Some((st.st_atime as u32, st.st_mtime as u32)),
    }
}
