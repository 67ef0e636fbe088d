//! One SFTP session: turns parsed requests into confined file-system operations and replies.
//!
//! A [`Session`] owns the open handles of one client (bounded in number) and answers each request
//! with exactly one reply packet. It is synchronous on purpose: it runs on the session's own
//! thread, which carries the site's uid/gid (see [`crate::creds`]), so a slow network file system
//! never stalls other clients.

use crate::protocol::{self, Attrs, NameEntry, Request, StatusCode, pflags};
use crate::sitefs::{self, SiteFs};
use crate::vpath::{PathError, VPath};
use rustix::fd::{AsFd, OwnedFd};
use rustix::fs::{Dir, OFlags};
use std::collections::HashMap;
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;

/// Most handles one client may hold open at once.
pub const MAX_HANDLES: usize = 256;
/// Entries per READDIR reply.
const READDIR_BATCH: usize = 128;

enum Handle {
    File { file: File, writable: bool },
    Dir { dir: Dir, path: VPath },
}

/// The state of one SFTP session.
pub struct Session {
    fs: SiteFs,
    read_only: bool,
    handles: HashMap<u32, Handle>,
    next_handle: u32,
    initialised: bool,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("read_only", &self.read_only)
            .field("handles", &self.handles.len())
            .finish()
    }
}

type Reply = Vec<u8>;

fn io_status(id: u32, e: &io::Error) -> Reply {
    let code = match e.raw_os_error() {
        Some(n) if n == libc_errno::NOENT || n == libc_errno::NOTDIR => StatusCode::NoSuchFile,
        Some(n) if n == libc_errno::ACCES || n == libc_errno::PERM => StatusCode::PermissionDenied,
        // RESOLVE_BENEATH refused a path that leaves the site folder.
        Some(n) if n == libc_errno::XDEV => {
            return protocol::status(
                id,
                StatusCode::PermissionDenied,
                "path leaves the site folder",
            );
        }
        Some(n) if n == libc_errno::LOOP => {
            return protocol::status(
                id,
                StatusCode::PermissionDenied,
                "too many symlinks or a symlink where a file was expected",
            );
        }
        _ if e.kind() == io::ErrorKind::PermissionDenied => StatusCode::PermissionDenied,
        _ => StatusCode::Failure,
    };
    protocol::status(id, code, &e.to_string())
}

fn path_status(id: u32, e: &PathError) -> Reply {
    let code = match e {
        PathError::TargetOutside => StatusCode::PermissionDenied,
        _ => StatusCode::BadMessage,
    };
    protocol::status(id, code, &e.to_string())
}

fn denied(id: u32) -> Reply {
    protocol::status(id, StatusCode::PermissionDenied, "this user is read-only")
}

/// errno values used for status mapping (rustix gives them without libc).
mod libc_errno {
    use rustix::io::Errno;
    pub const NOENT: i32 = Errno::NOENT.raw_os_error();
    pub const NOTDIR: i32 = Errno::NOTDIR.raw_os_error();
    pub const ACCES: i32 = Errno::ACCESS.raw_os_error();
    pub const PERM: i32 = Errno::PERM.raw_os_error();
    pub const XDEV: i32 = Errno::XDEV.raw_os_error();
    pub const LOOP: i32 = Errno::LOOP.raw_os_error();
}

macro_rules! vpath {
    ($id:expr, $raw:expr) => {
        match VPath::parse(&$raw) {
            Ok(p) => p,
            Err(e) => return path_status($id, &e),
        }
    };
}

macro_rules! try_io {
    ($id:expr, $e:expr) => {
        match $e {
            Ok(v) => v,
            Err(e) => return io_status($id, &e),
        }
    };
}

fn ok(id: u32) -> Reply {
    protocol::status(id, StatusCode::Ok, "")
}

impl Session {
    /// A session over `fs`; `read_only` refuses every change.
    pub fn new(fs: SiteFs, read_only: bool) -> Session {
        Session {
            fs,
            read_only,
            handles: HashMap::new(),
            next_handle: 1,
            initialised: false,
        }
    }

    /// Number of open handles.
    pub fn open_handles(&self) -> usize {
        self.handles.len()
    }

    fn add_handle(&mut self, id: u32, h: Handle) -> Reply {
        if self.handles.len() >= MAX_HANDLES {
            return protocol::status(
                id,
                StatusCode::Failure,
                "too many open handles: close some files or folders first",
            );
        }
        let n = self.next_handle;
        self.next_handle = self.next_handle.wrapping_add(1).max(1);
        self.handles.insert(n, h);
        protocol::handle(id, &n.to_be_bytes())
    }

    fn handle_no(raw: &[u8]) -> Option<u32> {
        let b: [u8; 4] = raw.try_into().ok()?;
        Some(u32::from_be_bytes(b))
    }

    /// Answers one request packet (type byte onwards).
    pub fn handle_packet(&mut self, packet: &[u8]) -> Reply {
        match protocol::parse_request(packet) {
            Ok(req) => self.handle(req),
            Err(e) => {
                // Answer with the request id when the packet got that far, so clients do not hang.
                let id = if packet.len() >= 5 {
                    u32::from_be_bytes([packet[1], packet[2], packet[3], packet[4]])
                } else {
                    0
                };
                protocol::status(id, StatusCode::BadMessage, &e.to_string())
            }
        }
    }

    /// Answers one request.
    pub fn handle(&mut self, req: Request) -> Reply {
        use Request::*;
        if !self.initialised {
            return match req {
                Init { .. } => {
                    self.initialised = true;
                    protocol::version_reply()
                }
                other => protocol::status(
                    other.id().unwrap_or(0),
                    StatusCode::BadMessage,
                    "the session must start with SSH_FXP_INIT",
                ),
            };
        }
        let ro = self.read_only;
        match req {
            Init { .. } => protocol::status(0, StatusCode::BadMessage, "INIT sent twice"),
            Open {
                id,
                path,
                pflags,
                attrs,
            } => self.open(id, &path, pflags, &attrs),
            Close { id, handle } => {
                match Self::handle_no(&handle).and_then(|n| self.handles.remove(&n)) {
                    Some(_) => ok(id),
                    None => bad_handle(id),
                }
            }
            Read {
                id,
                handle,
                offset,
                len,
            } => self.read(id, &handle, offset, len),
            Write {
                id,
                handle,
                offset,
                data,
            } => self.write(id, &handle, offset, &data),
            Lstat { id, path } => {
                let p = vpath!(id, path);
                let st = try_io!(id, self.fs.lstat(&p));
                protocol::attrs(id, &sitefs::attrs_of(&st))
            }
            Stat { id, path } => {
                let p = vpath!(id, path);
                let st = try_io!(id, self.fs.stat(&p));
                protocol::attrs(id, &sitefs::attrs_of(&st))
            }
            Fstat { id, handle } => {
                let st = match self.handle_fd(&handle) {
                    Some(fd) => try_io!(id, rustix::fs::fstat(fd).map_err(io::Error::from)),
                    None => return bad_handle(id),
                };
                protocol::attrs(id, &sitefs::attrs_of(&st))
            }
            SetStat { id, path, attrs } => {
                if ro {
                    return denied(id);
                }
                let p = vpath!(id, path);
                try_io!(id, self.fs.setstat(&p, &attrs));
                ok(id)
            }
            FSetStat { id, handle, attrs } => {
                if ro {
                    return denied(id);
                }
                match self.handle_fd(&handle) {
                    Some(fd) => try_io!(id, sitefs::fsetstat(fd, &attrs)),
                    None => return bad_handle(id),
                }
                ok(id)
            }
            OpenDir { id, path } => {
                let p = vpath!(id, path);
                let fd = try_io!(id, self.fs.open_dir(&p));
                let dir = try_io!(id, Dir::new(fd).map_err(io::Error::from));
                self.add_handle(id, Handle::Dir { dir, path: p })
            }
            ReadDir { id, handle } => self.readdir(id, &handle),
            Remove { id, path } => {
                if ro {
                    return denied(id);
                }
                let p = vpath!(id, path);
                try_io!(id, self.fs.remove(&p));
                ok(id)
            }
            Mkdir { id, path, attrs } => {
                if ro {
                    return denied(id);
                }
                let p = vpath!(id, path);
                try_io!(
                    id,
                    self.fs
                        .mkdir(&p, attrs.permissions.unwrap_or(0o755) & 0o777)
                );
                ok(id)
            }
            Rmdir { id, path } => {
                if ro {
                    return denied(id);
                }
                let p = vpath!(id, path);
                try_io!(id, self.fs.rmdir(&p));
                ok(id)
            }
            RealPath { id, path } => {
                let p = vpath!(id, path);
                let name = p.display();
                protocol::names(
                    id,
                    &[NameEntry {
                        filename: name.clone(),
                        longname: name,
                        attrs: Attrs::default(),
                    }],
                )
            }
            Rename { id, from, to } | PosixRename { id, from, to } if ro => {
                let _ = (from, to);
                denied(id)
            }
            Rename { id, from, to } => {
                let (f, t) = (vpath!(id, from), vpath!(id, to));
                try_io!(id, self.fs.rename(&f, &t, false));
                ok(id)
            }
            PosixRename { id, from, to } => {
                let (f, t) = (vpath!(id, from), vpath!(id, to));
                try_io!(id, self.fs.rename(&f, &t, true));
                ok(id)
            }
            ReadLink { id, path } => {
                let p = vpath!(id, path);
                let text = try_io!(id, self.fs.readlink(&p));
                protocol::names(
                    id,
                    &[NameEntry {
                        filename: text.clone(),
                        longname: text,
                        attrs: Attrs::default(),
                    }],
                )
            }
            Symlink { id, target, link } => {
                if ro {
                    return denied(id);
                }
                let l = vpath!(id, link);
                let text = match l.symlink_text(&target) {
                    Ok(t) => t,
                    Err(e) => return path_status(id, &e),
                };
                try_io!(id, self.fs.symlink(&text, &l));
                ok(id)
            }
            Hardlink { id, target, link } => {
                if ro {
                    return denied(id);
                }
                let (t, l) = (vpath!(id, target), vpath!(id, link));
                try_io!(id, self.fs.hardlink(&t, &l));
                ok(id)
            }
            StatVfs { id, path } => {
                let p = vpath!(id, path);
                let s = try_io!(id, self.fs.statvfs(&p));
                protocol::statvfs_reply(id, &s)
            }
            FStatVfs { id, handle } => match self.handle_fd(&handle) {
                Some(fd) => {
                    let s = try_io!(id, sitefs::vfs_stats(fd));
                    protocol::statvfs_reply(id, &s)
                }
                None => bad_handle(id),
            },
            Fsync { id, handle } => match self.handle_fd(&handle) {
                Some(fd) => {
                    try_io!(id, rustix::fs::fsync(fd).map_err(io::Error::from));
                    ok(id)
                }
                None => bad_handle(id),
            },
            Limits { id } => protocol::limits_reply(id, MAX_HANDLES as u64),
            UnknownExtended { id, name } => protocol::status(
                id,
                StatusCode::OpUnsupported,
                &format!(
                    "extension {} is not supported",
                    String::from_utf8_lossy(&name)
                ),
            ),
            Unknown { kind, id } => protocol::status(
                id.unwrap_or(0),
                StatusCode::OpUnsupported,
                &format!("SFTP packet type {kind} is not supported"),
            ),
        }
    }

    fn handle_fd(&self, raw: &[u8]) -> Option<rustix::fd::BorrowedFd<'_>> {
        match self.handles.get(&Self::handle_no(raw)?)? {
            Handle::File { file, .. } => Some(file.as_fd()),
            Handle::Dir { dir, .. } => dir.fd().ok(),
        }
    }

    fn open(&mut self, id: u32, raw: &[u8], pf: u32, attrs: &Attrs) -> Reply {
        let p = vpath!(id, raw);
        let write = pf & (pflags::WRITE | pflags::APPEND | pflags::CREAT | pflags::TRUNC) != 0;
        if write && self.read_only {
            return denied(id);
        }
        let mut flags = match (pf & pflags::READ != 0, write) {
            (true, true) => OFlags::RDWR,
            (false, true) => OFlags::WRONLY,
            _ => OFlags::RDONLY,
        };
        if pf & pflags::APPEND != 0 {
            flags |= OFlags::APPEND;
        }
        if pf & pflags::CREAT != 0 {
            flags |= OFlags::CREATE;
            if pf & pflags::EXCL != 0 {
                flags |= OFlags::EXCL;
            }
        }
        if pf & pflags::TRUNC != 0 {
            flags |= OFlags::TRUNC;
        }
        let mode = attrs.permissions.map(|m| m & 0o777).unwrap_or(0o644);
        let fd: OwnedFd = try_io!(id, self.fs.open_file(&p, flags, mode));
        // Only regular files are served: no FIFOs or devices, even if one exists on disk.
        let st = try_io!(id, rustix::fs::fstat(&fd).map_err(io::Error::from));
        if rustix::fs::FileType::from_raw_mode(st.st_mode) != rustix::fs::FileType::RegularFile {
            return protocol::status(id, StatusCode::Failure, "not a regular file");
        }
        self.add_handle(
            id,
            Handle::File {
                file: File::from(fd),
                writable: write,
            },
        )
    }

    fn read(&mut self, id: u32, raw: &[u8], offset: u64, len: u32) -> Reply {
        let Some(Handle::File { file, .. }) =
            Self::handle_no(raw).and_then(|n| self.handles.get(&n))
        else {
            return bad_handle(id);
        };
        let len = len.min(protocol::MAX_IO_LEN) as usize;
        let mut w = protocol::Writer::with_capacity(protocol::kind::DATA, len + 8);
        w.u32(id).u32(0);
        let mut buf = w.finish();
        let start = buf.len();
        buf.resize(start + len, 0);
        let mut got = 0;
        while got < len {
            match file.read_at(&mut buf[start + got..], offset + got as u64) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if got == 0 => return io_status(id, &e),
                Err(_) => break,
            }
        }
        if got == 0 {
            return protocol::status(id, StatusCode::Eof, "end of file");
        }
        buf.truncate(start + got);
        // Fix up the packet length and the data length written as placeholders above.
        let total = (buf.len() - 4) as u32;
        buf[..4].copy_from_slice(&total.to_be_bytes());
        buf[start - 4..start].copy_from_slice(&(got as u32).to_be_bytes());
        buf
    }

    fn write(&mut self, id: u32, raw: &[u8], offset: u64, data: &[u8]) -> Reply {
        let Some(Handle::File { file, writable }) =
            Self::handle_no(raw).and_then(|n| self.handles.get(&n))
        else {
            return bad_handle(id);
        };
        if !*writable {
            return protocol::status(
                id,
                StatusCode::PermissionDenied,
                "file was not opened for writing",
            );
        }
        try_io!(id, file.write_all_at(data, offset));
        ok(id)
    }

    fn readdir(&mut self, id: u32, raw: &[u8]) -> Reply {
        let Some(Handle::Dir { dir, path }) =
            Self::handle_no(raw).and_then(|n| self.handles.get_mut(&n))
        else {
            return bad_handle(id);
        };
        let mut entries = Vec::new();
        let mut bytes = 0usize;
        while entries.len() < READDIR_BATCH && bytes < 64 * 1024 {
            let entry = match dir.read() {
                None => break,
                Some(Ok(e)) => e,
                Some(Err(e)) => {
                    if entries.is_empty() {
                        return io_status(id, &io::Error::from(e));
                    }
                    break;
                }
            };
            let name = entry.file_name().to_bytes();
            if name == b"." || name == b".." {
                continue;
            }
            let name = name.to_vec();
            let Ok(fd) = dir.fd() else { break };
            let attrs = match rustix::fs::statat(
                fd,
                name.as_slice(),
                rustix::fs::AtFlags::SYMLINK_NOFOLLOW,
            ) {
                Ok(st) => sitefs::attrs_of(&st),
                // Removed between listing and stat: skip it, as ls does.
                Err(_) => continue,
            };
            let longname = longname(&name, &attrs);
            bytes += name.len() + longname.len() + 40;
            entries.push(NameEntry {
                filename: name,
                longname,
                attrs,
            });
        }
        let _ = path;
        if entries.is_empty() {
            return protocol::status(id, StatusCode::Eof, "no more entries");
        }
        protocol::names(id, &entries)
    }
}

fn bad_handle(id: u32) -> Reply {
    protocol::status(id, StatusCode::Failure, "unknown or wrong kind of handle")
}

/// An `ls -l` style line, as OpenSSH's server sends in NAME replies.
pub fn longname(name: &[u8], a: &Attrs) -> Vec<u8> {
    let mode = a.permissions.unwrap_or(0);
    let kind = match mode & 0o170000 {
        0o040000 => 'd',
        0o120000 => 'l',
        0o010000 => 'p',
        0o140000 => 's',
        0o020000 => 'c',
        0o060000 => 'b',
        _ => '-',
    };
    let mut perms = String::with_capacity(10);
    perms.push(kind);
    for (bit, ch) in [
        (0o400, 'r'),
        (0o200, 'w'),
        (0o100, 'x'),
        (0o040, 'r'),
        (0o020, 'w'),
        (0o010, 'x'),
        (0o004, 'r'),
        (0o002, 'w'),
        (0o001, 'x'),
    ] {
        perms.push(if mode & bit != 0 { ch } else { '-' });
    }
    let (uid, gid) = a.uid_gid.unwrap_or((0, 0));
    let mtime = a.atime_mtime.map(|t| t.1).unwrap_or(0);
    let (y, m, d, hh, mm) = civil(i64::from(mtime));
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let line = format!(
        "{perms}    1 {uid:<8} {gid:<8} {size:>8} {mon} {d:>2} {y} {hh:02}:{mm:02} ",
        size = a.size.unwrap_or(0),
        mon = MONTHS[(m - 1) as usize],
    );
    let mut out = line.into_bytes();
    out.extend_from_slice(name);
    out
}

/// UTC date and time of a Unix timestamp: (year, month 1-12, day, hour, minute).
fn civil(t: i64) -> (i64, i64, i64, i64, i64) {
    let days = t.div_euclid(86400);
    let secs = t.rem_euclid(86400);
    // Howard Hinnant's days-to-civil algorithm.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (
        if m <= 2 { y + 1 } else { y },
        m,
        d,
        secs / 3600,
        (secs % 3600) / 60,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates() {
        assert_eq!(civil(0), (1970, 1, 1, 0, 0));
        assert_eq!(civil(1_795_000_000), (2026, 11, 18, 11, 6));
    }

    #[test]
    fn longname_looks_like_ls() {
        let a = Attrs {
            size: Some(42),
            uid_gid: Some((20001, 20001)),
            permissions: Some(0o100644),
            atime_mtime: Some((0, 0)),
        };
        let l = String::from_utf8(longname(b"index.php", &a)).unwrap();
        assert!(l.starts_with("-rw-r--r--"), "{l}");
        assert!(l.ends_with(" index.php"), "{l}");
    }

    use crate::protocol::{Writer, kind};
    use proptest::prelude::*;

    fn name_strategy() -> impl Strategy<Value = Vec<u8>> {
        proptest::collection::vec(
            prop_oneof![
                Just("a"),
                Just("b"),
                Just(".."),
                Just("."),
                Just("/"),
                Just("up"),
                Just("out"),
                Just("x\0")
            ],
            0..6,
        )
        .prop_map(|parts| parts.concat().into_bytes())
    }

    fn request_strategy() -> impl Strategy<Value = Vec<u8>> {
        (
            1u8..=20,
            any::<u32>(),
            name_strategy(),
            name_strategy(),
            any::<u32>(),
            any::<u64>(),
            proptest::collection::vec(any::<u8>(), 0..64),
            any::<bool>(),
        )
            .prop_map(|(k, id, p1, p2, flags, off, data, mangle)| {
                let mut w = Writer::new(if k == 2 { kind::EXTENDED } else { k });
                w.u32(id);
                match k {
                    2 => {
                        let ext: &[u8] = match flags % 4 {
                            0 => b"posix-rename@openssh.com",
                            1 => b"hardlink@openssh.com",
                            2 => b"statvfs@openssh.com",
                            _ => b"limits@openssh.com",
                        };
                        w.bytes(ext).bytes(&p1).bytes(&p2);
                    }
                    // Handles are small numbers, so some refer to open ones.
                    4 | 5 | 6 | 8 | 10 | 12 => {
                        w.bytes(&(flags % 4).to_be_bytes())
                            .u64(off % 4096)
                            .bytes(&data);
                    }
                    3 => {
                        w.bytes(&p1).u32(flags & 0x3f).u32(0);
                    }
                    9 | 14 => {
                        w.bytes(&p1)
                            .u32(flags & 0xf)
                            .u64(off % 100)
                            .u32(20001)
                            .u32(20001)
                            .u32(0o644)
                            .u32(1)
                            .u32(2);
                    }
                    _ => {
                        w.bytes(&p1).bytes(&p2);
                    }
                }
                let mut pkt = w.finish().split_off(4);
                if mangle && !pkt.is_empty() {
                    let cut = (off as usize) % pkt.len();
                    pkt.truncate(cut.max(1));
                }
                pkt
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Random request sequences (mangled or not) never panic the session, every reply is a
        /// well-formed packet, and nothing outside the site folder changes.
        #[test]
        fn random_requests_never_panic_or_escape(reqs in proptest::collection::vec(request_strategy(), 1..60)) {
            let scratch = idealstack_testbed::scratch_dir("sftp-session-fuzz");
            let site = scratch.path().join("site");
            std::fs::create_dir_all(site.join("a")).unwrap();
            std::fs::write(site.join("a/b"), b"inside").unwrap();
            std::fs::write(scratch.path().join("out"), b"sentinel").unwrap();
            std::os::unix::fs::symlink("../out", site.join("out")).unwrap();
            std::os::unix::fs::symlink("..", site.join("up")).unwrap();
            let mut s = Session::new(SiteFs::open(&site).unwrap(), false);
            let mut init = Writer::new(kind::INIT);
            init.u32(3);
            let _ = s.handle_packet(&init.finish()[4..]);
            for r in &reqs {
                let reply = s.handle_packet(r);
                prop_assert!(reply.len() >= 5);
                let len = u32::from_be_bytes([reply[0], reply[1], reply[2], reply[3]]) as usize;
                prop_assert_eq!(len, reply.len() - 4);
                prop_assert!(protocol::parse_request(&reply[4..]).is_ok() || reply[4] >= 101);
            }
            let entries: Vec<_> = std::fs::read_dir(scratch.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
            prop_assert_eq!(entries.len(), 2, "something appeared next to the site: {:?}", entries);
            prop_assert_eq!(std::fs::read(scratch.path().join("out")).unwrap(), b"sentinel".to_vec());
        }
    }
}
