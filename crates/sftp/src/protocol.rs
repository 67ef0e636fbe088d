//! The SFTP version 3 wire format (draft-ietf-secsh-filexfer-02 plus the OpenSSH extensions real
//! clients use): parsing of client requests and encoding of server replies.
//!
//! Everything here is pure and bounded: a packet is parsed from a byte slice the caller already
//! limited to [`MAX_PACKET_LEN`], every length field is checked against the bytes that remain, and
//! nothing a peer sends can make the parser panic or allocate more than the packet it sent
//! (property-tested in this module's tests).

use thiserror::Error;

/// The largest request packet accepted (length field excluded). OpenSSH uses the same bound.
pub const MAX_PACKET_LEN: u32 = 256 * 1024;
/// The largest READ/WRITE payload advertised through `limits@openssh.com`.
pub const MAX_IO_LEN: u32 = MAX_PACKET_LEN - 1024;

/// Packet type numbers.
pub mod kind {
    pub const INIT: u8 = 1;
    pub const VERSION: u8 = 2;
    pub const OPEN: u8 = 3;
    pub const CLOSE: u8 = 4;
    pub const READ: u8 = 5;
    pub const WRITE: u8 = 6;
    pub const LSTAT: u8 = 7;
    pub const FSTAT: u8 = 8;
    pub const SETSTAT: u8 = 9;
    pub const FSETSTAT: u8 = 10;
    pub const OPENDIR: u8 = 11;
    pub const READDIR: u8 = 12;
    pub const REMOVE: u8 = 13;
    pub const MKDIR: u8 = 14;
    pub const RMDIR: u8 = 15;
    pub const REALPATH: u8 = 16;
    pub const STAT: u8 = 17;
    pub const RENAME: u8 = 18;
    pub const READLINK: u8 = 19;
    pub const SYMLINK: u8 = 20;
    pub const STATUS: u8 = 101;
    pub const HANDLE: u8 = 102;
    pub const DATA: u8 = 103;
    pub const NAME: u8 = 104;
    pub const ATTRS: u8 = 105;
    pub const EXTENDED: u8 = 200;
    pub const EXTENDED_REPLY: u8 = 201;
}

/// Open flags (`SSH_FXF_*`).
pub mod pflags {
    pub const READ: u32 = 0x01;
    pub const WRITE: u32 = 0x02;
    pub const APPEND: u32 = 0x04;
    pub const CREAT: u32 = 0x08;
    pub const TRUNC: u32 = 0x10;
    pub const EXCL: u32 = 0x20;
}

/// Status codes (`SSH_FX_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum StatusCode {
    Ok = 0,
    Eof = 1,
    NoSuchFile = 2,
    PermissionDenied = 3,
    Failure = 4,
    BadMessage = 5,
    OpUnsupported = 8,
}

/// File attributes (`ATTRS`); absent fields are `None`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Attrs {
    pub size: Option<u64>,
    pub uid_gid: Option<(u32, u32)>,
    pub permissions: Option<u32>,
    pub atime_mtime: Option<(u32, u32)>,
}

const ATTR_SIZE: u32 = 0x1;
const ATTR_UIDGID: u32 = 0x2;
const ATTR_PERMISSIONS: u32 = 0x4;
const ATTR_ACMODTIME: u32 = 0x8;
const ATTR_EXTENDED: u32 = 0x8000_0000;

/// A client request. Paths and handles are raw bytes: paths need not be UTF-8 on the wire.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Request {
    Init {
        version: u32,
    },
    Open {
        id: u32,
        path: Vec<u8>,
        pflags: u32,
        attrs: Attrs,
    },
    Close {
        id: u32,
        handle: Vec<u8>,
    },
    Read {
        id: u32,
        handle: Vec<u8>,
        offset: u64,
        len: u32,
    },
    Write {
        id: u32,
        handle: Vec<u8>,
        offset: u64,
        data: Vec<u8>,
    },
    Lstat {
        id: u32,
        path: Vec<u8>,
    },
    Fstat {
        id: u32,
        handle: Vec<u8>,
    },
    SetStat {
        id: u32,
        path: Vec<u8>,
        attrs: Attrs,
    },
    FSetStat {
        id: u32,
        handle: Vec<u8>,
        attrs: Attrs,
    },
    OpenDir {
        id: u32,
        path: Vec<u8>,
    },
    ReadDir {
        id: u32,
        handle: Vec<u8>,
    },
    Remove {
        id: u32,
        path: Vec<u8>,
    },
    Mkdir {
        id: u32,
        path: Vec<u8>,
        attrs: Attrs,
    },
    Rmdir {
        id: u32,
        path: Vec<u8>,
    },
    RealPath {
        id: u32,
        path: Vec<u8>,
    },
    Stat {
        id: u32,
        path: Vec<u8>,
    },
    Rename {
        id: u32,
        from: Vec<u8>,
        to: Vec<u8>,
    },
    ReadLink {
        id: u32,
        path: Vec<u8>,
    },
    /// OpenSSH's argument order: the link's target first, then the link's own path.
    Symlink {
        id: u32,
        target: Vec<u8>,
        link: Vec<u8>,
    },
    PosixRename {
        id: u32,
        from: Vec<u8>,
        to: Vec<u8>,
    },
    StatVfs {
        id: u32,
        path: Vec<u8>,
    },
    FStatVfs {
        id: u32,
        handle: Vec<u8>,
    },
    Hardlink {
        id: u32,
        target: Vec<u8>,
        link: Vec<u8>,
    },
    Fsync {
        id: u32,
        handle: Vec<u8>,
    },
    Limits {
        id: u32,
    },
    /// An extended request this server does not implement (answered OP_UNSUPPORTED).
    UnknownExtended {
        id: u32,
        name: Vec<u8>,
    },
    /// A packet type this server does not implement; `id` when one could be read.
    Unknown {
        kind: u8,
        id: Option<u32>,
    },
}

impl Request {
    /// The request id to answer with (INIT has none).
    pub fn id(&self) -> Option<u32> {
        use Request::*;
        match self {
            Init { .. } => None,
            Unknown { id, .. } => *id,
            Open { id, .. }
            | Close { id, .. }
            | Read { id, .. }
            | Write { id, .. }
            | Lstat { id, .. }
            | Fstat { id, .. }
            | SetStat { id, .. }
            | FSetStat { id, .. }
            | OpenDir { id, .. }
            | ReadDir { id, .. }
            | Remove { id, .. }
            | Mkdir { id, .. }
            | Rmdir { id, .. }
            | RealPath { id, .. }
            | Stat { id, .. }
            | Rename { id, .. }
            | ReadLink { id, .. }
            | Symlink { id, .. }
            | PosixRename { id, .. }
            | StatVfs { id, .. }
            | FStatVfs { id, .. }
            | Hardlink { id, .. }
            | Fsync { id, .. }
            | Limits { id }
            | UnknownExtended { id, .. } => Some(*id),
        }
    }
}

/// Why a packet could not be parsed.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum ParseError {
    #[error("empty SFTP packet: every packet starts with a type byte")]
    Empty,
    #[error("truncated SFTP packet of type {kind}: a field runs past the end of the packet")]
    Truncated { kind: u8 },
}

/// A cursor over a packet body.
struct Reader<'a> {
    buf: &'a [u8],
    kind: u8,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], ParseError> {
        if self.buf.len() < n {
            return Err(ParseError::Truncated { kind: self.kind });
        }
        let (head, tail) = self.buf.split_at(n);
        self.buf = tail;
        Ok(head)
    }
    fn u32(&mut self) -> Result<u32, ParseError> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn u64(&mut self) -> Result<u64, ParseError> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_be_bytes(a))
    }
    fn bytes(&mut self) -> Result<&'a [u8], ParseError> {
        let n = self.u32()? as usize;
        self.take(n)
    }
    fn string(&mut self) -> Result<Vec<u8>, ParseError> {
        Ok(self.bytes()?.to_vec())
    }
    fn attrs(&mut self) -> Result<Attrs, ParseError> {
        let flags = self.u32()?;
        let mut a = Attrs::default();
        if flags & ATTR_SIZE != 0 {
            a.size = Some(self.u64()?);
        }
        if flags & ATTR_UIDGID != 0 {
            a.uid_gid = Some((self.u32()?, self.u32()?));
        }
        if flags & ATTR_PERMISSIONS != 0 {
            a.permissions = Some(self.u32()?);
        }
        if flags & ATTR_ACMODTIME != 0 {
            a.atime_mtime = Some((self.u32()?, self.u32()?));
        }
        if flags & ATTR_EXTENDED != 0 {
            let count = self.u32()?;
            for _ in 0..count {
                // Each pair consumes at least 8 bytes, so a huge count fails fast on truncation.
                self.bytes()?;
                self.bytes()?;
            }
        }
        Ok(a)
    }
}

/// Parses one request packet (type byte onwards, without the length prefix).
pub fn parse_request(packet: &[u8]) -> Result<Request, ParseError> {
    let (&kind, body) = packet.split_first().ok_or(ParseError::Empty)?;
    let mut r = Reader { buf: body, kind };
    use Request::*;
    let req = match kind {
        kind::INIT => Init { version: r.u32()? },
        kind::OPEN => Open {
            id: r.u32()?,
            path: r.string()?,
            pflags: r.u32()?,
            attrs: r.attrs()?,
        },
        kind::CLOSE => Close {
            id: r.u32()?,
            handle: r.string()?,
        },
        kind::READ => Read {
            id: r.u32()?,
            handle: r.string()?,
            offset: r.u64()?,
            len: r.u32()?,
        },
        kind::WRITE => Write {
            id: r.u32()?,
            handle: r.string()?,
            offset: r.u64()?,
            data: r.string()?,
        },
        kind::LSTAT => Lstat {
            id: r.u32()?,
            path: r.string()?,
        },
        kind::FSTAT => Fstat {
            id: r.u32()?,
            handle: r.string()?,
        },
        kind::SETSTAT => SetStat {
            id: r.u32()?,
            path: r.string()?,
            attrs: r.attrs()?,
        },
        kind::FSETSTAT => FSetStat {
            id: r.u32()?,
            handle: r.string()?,
            attrs: r.attrs()?,
        },
        kind::OPENDIR => OpenDir {
            id: r.u32()?,
            path: r.string()?,
        },
        kind::READDIR => ReadDir {
            id: r.u32()?,
            handle: r.string()?,
        },
        kind::REMOVE => Remove {
            id: r.u32()?,
            path: r.string()?,
        },
        kind::MKDIR => Mkdir {
            id: r.u32()?,
            path: r.string()?,
            attrs: r.attrs()?,
        },
        kind::RMDIR => Rmdir {
            id: r.u32()?,
            path: r.string()?,
        },
        kind::REALPATH => RealPath {
            id: r.u32()?,
            path: r.string()?,
        },
        kind::STAT => Stat {
            id: r.u32()?,
            path: r.string()?,
        },
        kind::RENAME => Rename {
            id: r.u32()?,
            from: r.string()?,
            to: r.string()?,
        },
        kind::READLINK => ReadLink {
            id: r.u32()?,
            path: r.string()?,
        },
        kind::SYMLINK => Symlink {
            id: r.u32()?,
            target: r.string()?,
            link: r.string()?,
        },
        kind::EXTENDED => {
            let id = r.u32()?;
            let name = r.string()?;
            match name.as_slice() {
                b"posix-rename@openssh.com" => PosixRename {
                    id,
                    from: r.string()?,
                    to: r.string()?,
                },
                b"statvfs@openssh.com" => StatVfs {
                    id,
                    path: r.string()?,
                },
                b"fstatvfs@openssh.com" => FStatVfs {
                    id,
                    handle: r.string()?,
                },
                b"hardlink@openssh.com" => Hardlink {
                    id,
                    target: r.string()?,
                    link: r.string()?,
                },
                b"fsync@openssh.com" => Fsync {
                    id,
                    handle: r.string()?,
                },
                b"limits@openssh.com" => Limits { id },
                _ => UnknownExtended { id, name },
            }
        }
        other => Unknown {
            kind: other,
            id: r.u32().ok(),
        },
    };
    Ok(req)
}

/// Builds reply packets into a buffer (length prefix included, filled in by [`Writer::finish`]).
#[derive(Debug, Default)]
pub struct Writer {
    buf: Vec<u8>,
}

impl Writer {
    /// Starts a packet of `kind`.
    pub fn new(kind: u8) -> Writer {
        Writer::with_capacity(kind, 64)
    }
    /// Starts a packet of `kind` with room for `cap` bytes.
    pub fn with_capacity(kind: u8, cap: usize) -> Writer {
        let mut buf = Vec::with_capacity(cap + 5);
        buf.extend_from_slice(&[0, 0, 0, 0, kind]);
        Writer { buf }
    }
    pub fn u32(&mut self, v: u32) -> &mut Self {
        self.buf.extend_from_slice(&v.to_be_bytes());
        self
    }
    pub fn u64(&mut self, v: u64) -> &mut Self {
        self.buf.extend_from_slice(&v.to_be_bytes());
        self
    }
    pub fn bytes(&mut self, v: &[u8]) -> &mut Self {
        // Replies are bounded far below 4 GiB by construction (READ lengths are capped).
        self.u32(v.len() as u32);
        self.buf.extend_from_slice(v);
        self
    }
    pub fn attrs(&mut self, a: &Attrs) -> &mut Self {
        let mut flags = 0;
        if a.size.is_some() {
            flags |= ATTR_SIZE;
        }
        if a.uid_gid.is_some() {
            flags |= ATTR_UIDGID;
        }
        if a.permissions.is_some() {
            flags |= ATTR_PERMISSIONS;
        }
        if a.atime_mtime.is_some() {
            flags |= ATTR_ACMODTIME;
        }
        self.u32(flags);
        if let Some(s) = a.size {
            self.u64(s);
        }
        if let Some((u, g)) = a.uid_gid {
            self.u32(u).u32(g);
        }
        if let Some(p) = a.permissions {
            self.u32(p);
        }
        if let Some((at, mt)) = a.atime_mtime {
            self.u32(at).u32(mt);
        }
        self
    }
    /// The finished packet, length prefix filled in.
    pub fn finish(mut self) -> Vec<u8> {
        let len = (self.buf.len() - 4) as u32;
        self.buf[..4].copy_from_slice(&len.to_be_bytes());
        self.buf
    }
}

/// The VERSION reply with the extensions this server implements.
pub fn version_reply() -> Vec<u8> {
    let mut w = Writer::new(kind::VERSION);
    w.u32(3);
    for (name, ver) in [
        ("posix-rename@openssh.com", "1"),
        ("statvfs@openssh.com", "2"),
        ("fstatvfs@openssh.com", "2"),
        ("hardlink@openssh.com", "1"),
        ("fsync@openssh.com", "1"),
        ("limits@openssh.com", "1"),
    ] {
        w.bytes(name.as_bytes()).bytes(ver.as_bytes());
    }
    w.finish()
}

/// A STATUS reply.
pub fn status(id: u32, code: StatusCode, message: &str) -> Vec<u8> {
    let mut w = Writer::new(kind::STATUS);
    w.u32(id)
        .u32(code as u32)
        .bytes(message.as_bytes())
        .bytes(b"en");
    w.finish()
}

/// A HANDLE reply.
pub fn handle(id: u32, handle: &[u8]) -> Vec<u8> {
    let mut w = Writer::new(kind::HANDLE);
    w.u32(id).bytes(handle);
    w.finish()
}

/// An ATTRS reply.
pub fn attrs(id: u32, a: &Attrs) -> Vec<u8> {
    let mut w = Writer::new(kind::ATTRS);
    w.u32(id).attrs(a);
    w.finish()
}

/// One entry of a NAME reply.
#[derive(Clone, Debug)]
pub struct NameEntry {
    pub filename: Vec<u8>,
    pub longname: Vec<u8>,
    pub attrs: Attrs,
}

/// A NAME reply.
pub fn names(id: u32, entries: &[NameEntry]) -> Vec<u8> {
    let mut w = Writer::with_capacity(kind::NAME, entries.len() * 96);
    w.u32(id).u32(entries.len() as u32);
    for e in entries {
        w.bytes(&e.filename).bytes(&e.longname).attrs(&e.attrs);
    }
    w.finish()
}

/// The reply to `limits@openssh.com`: max packet, max read, max write, max open handles.
pub fn limits_reply(id: u32, max_handles: u64) -> Vec<u8> {
    let mut w = Writer::new(kind::EXTENDED_REPLY);
    w.u32(id)
        .u64(u64::from(MAX_PACKET_LEN))
        .u64(u64::from(MAX_IO_LEN))
        .u64(u64::from(MAX_IO_LEN))
        .u64(max_handles);
    w.finish()
}

/// File-system figures for the `statvfs@openssh.com` reply.
#[derive(Clone, Copy, Debug, Default)]
pub struct VfsStats {
    pub bsize: u64,
    pub frsize: u64,
    pub blocks: u64,
    pub bfree: u64,
    pub bavail: u64,
    pub files: u64,
    pub ffree: u64,
    pub favail: u64,
    pub fsid: u64,
    pub flag: u64,
    pub namemax: u64,
}

/// The reply to `statvfs@openssh.com` / `fstatvfs@openssh.com`.
pub fn statvfs_reply(id: u32, s: &VfsStats) -> Vec<u8> {
    let mut w = Writer::new(kind::EXTENDED_REPLY);
    w.u32(id);
    for v in [
        s.bsize, s.frsize, s.blocks, s.bfree, s.bavail, s.files, s.ffree, s.favail, s.fsid, s.flag,
        s.namemax,
    ] {
        w.u64(v);
    }
    w.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn packet(kind: u8, body: &[u8]) -> Vec<u8> {
        let mut v = vec![kind];
        v.extend_from_slice(body);
        v
    }

    #[test]
    fn parses_open_with_attrs() {
        let mut w = Writer::new(kind::OPEN);
        w.u32(7).bytes(b"/a/b").u32(pflags::WRITE | pflags::CREAT);
        w.attrs(&Attrs {
            permissions: Some(0o644),
            ..Attrs::default()
        });
        let bytes = w.finish();
        let req = parse_request(&bytes[4..]).unwrap();
        assert_eq!(
            req,
            Request::Open {
                id: 7,
                path: b"/a/b".to_vec(),
                pflags: pflags::WRITE | pflags::CREAT,
                attrs: Attrs {
                    permissions: Some(0o644),
                    ..Attrs::default()
                }
            }
        );
    }

    #[test]
    fn truncated_string_is_an_error_not_a_panic() {
        // LSTAT id=1, path length claims 1000 bytes but none follow.
        let p = packet(kind::LSTAT, &[0, 0, 0, 1, 0, 0, 3, 232]);
        assert_eq!(
            parse_request(&p),
            Err(ParseError::Truncated { kind: kind::LSTAT })
        );
        assert_eq!(parse_request(&[]), Err(ParseError::Empty));
    }

    #[test]
    fn extended_requests_are_recognised() {
        let mut w = Writer::new(kind::EXTENDED);
        w.u32(3)
            .bytes(b"posix-rename@openssh.com")
            .bytes(b"/x")
            .bytes(b"/y");
        let bytes = w.finish();
        assert_eq!(
            parse_request(&bytes[4..]).unwrap(),
            Request::PosixRename {
                id: 3,
                from: b"/x".to_vec(),
                to: b"/y".to_vec()
            }
        );
        let mut w = Writer::new(kind::EXTENDED);
        w.u32(4).bytes(b"nope@example.com");
        let bytes = w.finish();
        assert_eq!(
            parse_request(&bytes[4..]).unwrap(),
            Request::UnknownExtended {
                id: 4,
                name: b"nope@example.com".to_vec()
            }
        );
    }

    #[test]
    fn attrs_round_trip() {
        let a = Attrs {
            size: Some(5),
            uid_gid: Some((20001, 20001)),
            permissions: Some(0o100644),
            atime_mtime: Some((1, 2)),
        };
        let mut w = Writer::new(kind::SETSTAT);
        w.u32(1).bytes(b"f").attrs(&a);
        let bytes = w.finish();
        match parse_request(&bytes[4..]).unwrap() {
            Request::SetStat { attrs, .. } => assert_eq!(attrs, a),
            other => panic!("unexpected {other:?}"),
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4000))]

        /// Arbitrary bytes never panic the parser.
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            let _ = parse_request(&bytes);
        }

        /// A valid type byte followed by arbitrary bytes never panics, and whatever parses
        /// never holds more data than the packet carried.
        #[test]
        fn typed_garbage_never_panics(kind in prop_oneof![1u8..=20, Just(200u8)],
                                      body in proptest::collection::vec(any::<u8>(), 0..300)) {
            let p = packet(kind, &body);
            if let Ok(Request::Write { data, .. }) = parse_request(&p) {
                prop_assert!(data.len() <= body.len());
            }
        }

        /// Huge declared counts in extended attributes fail as truncation, quickly.
        #[test]
        fn huge_attr_counts_fail_cleanly(count in any::<u32>()) {
            let mut body = vec![0, 0, 0, 1, 0, 0, 0, 1, b'p'];
            body.extend_from_slice(&ATTR_EXTENDED.to_be_bytes());
            body.extend_from_slice(&count.to_be_bytes());
            let r = parse_request(&packet(kind::SETSTAT, &body));
            if count == 0 {
                prop_assert!(r.is_ok());
            } else {
                prop_assert_eq!(r, Err(ParseError::Truncated { kind: kind::SETSTAT }));
            }
        }
    }
}
