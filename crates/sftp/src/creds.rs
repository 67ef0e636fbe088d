//! Per-thread credentials: a session's file operations run as the site's uid/gid.
//!
//! On Linux, user and group ids are attributes of a *thread*; the C library's `setuid` merely
//! repeats the call on every thread. The raw system calls (through rustix) change only the
//! calling thread, so each SFTP session gets a dedicated thread that drops to the site's ids for
//! good (real, effective and saved, and no supplementary groups) before it touches the site's
//! files. Files it creates are then owned by the site, and the kernel's permission checks apply
//! as they do to PHP running as that uid. The thread can never regain root.

use rustix::process::{Gid, Uid};
use thiserror::Error;

/// Why a session thread could not take the site's identity.
#[derive(Debug, Error)]
pub enum CredsError {
    #[error(
        "cannot switch to uid {uid} gid {gid}: {source} (the gateway must run as root, or with CAP_SETUID and CAP_SETGID)"
    )]
    Switch {
        uid: u32,
        gid: u32,
        source: std::io::Error,
    },
    #[error("refusing to run a session as uid/gid 0: give the site a non-root uid and gid")]
    Root,
}

/// True when the process can switch identities (runs as root).
pub fn can_switch() -> bool {
    rustix::process::geteuid().is_root()
}

/// Switches the calling thread, irreversibly, to `uid`/`gid` with no supplementary groups.
pub fn become_site(uid: u32, gid: u32) -> Result<(), CredsError> {
    if uid == 0 || gid == 0 {
        return Err(CredsError::Root);
    }
    let err = |e: rustix::io::Errno| CredsError::Switch {
        uid,
        gid,
        source: std::io::Error::from_raw_os_error(e.raw_os_error()),
    };
    let g = Gid::from_raw(gid);
    let u = Uid::from_raw(uid);
    rustix::thread::set_thread_groups(&[]).map_err(err)?;
    rustix::thread::set_thread_res_gid(g, g, g).map_err(err)?;
    rustix::thread::set_thread_res_uid(u, u, u).map_err(err)?;
    Ok(())
}
