//! Client paths: the lexical half of confinement.
//!
//! A client sees its site folder as `/`. Every path it sends is normalised here into a list of
//! plain components below that root: `.` is dropped, `..` pops one component and stops at the root
//! (like a chroot), empty components are ignored. The result never contains `.`, `..`, `/` or NUL,
//! so it can only name something *below* the site root when handed to the kernel. This is not the
//! security boundary on its own: symlinks on disk are resolved by the kernel under
//! `RESOLVE_BENEATH` (see [`crate::sitefs`]), which is what actually keeps every access inside.

use thiserror::Error;

/// Longest path accepted from a client, in bytes (Linux `PATH_MAX`).
pub const MAX_PATH_LEN: usize = 4096;
/// Longest single component, in bytes (Linux `NAME_MAX`).
pub const MAX_NAME_LEN: usize = 255;

/// Why a client path was refused.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum PathError {
    #[error("path is longer than {MAX_PATH_LEN} bytes: use a shorter path")]
    TooLong,
    #[error("path contains a NUL byte, which no file name can hold")]
    Nul,
    #[error("a path component is longer than {MAX_NAME_LEN} bytes: use a shorter name")]
    NameTooLong,
    #[error("symlink target leaves the site folder: link only to files inside the site")]
    TargetOutside,
}

/// A normalised path below the site root: zero components is the root itself.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VPath {
    parts: Vec<Vec<u8>>,
}

impl VPath {
    /// The site root.
    pub fn root() -> VPath {
        VPath::default()
    }

    /// Normalises a client path (absolute or relative to the root; both mean the same here).
    pub fn parse(raw: &[u8]) -> Result<VPath, PathError> {
        if raw.len() > MAX_PATH_LEN {
            return Err(PathError::TooLong);
        }
        if raw.contains(&0) {
            return Err(PathError::Nul);
        }
        let mut parts: Vec<Vec<u8>> = Vec::new();
        for part in raw.split(|&b| b == b'/') {
            match part {
                b"" | b"." => {}
                b".." => {
                    parts.pop();
                }
                name => {
                    if name.len() > MAX_NAME_LEN {
                        return Err(PathError::NameTooLong);
                    }
                    parts.push(name.to_vec());
                }
            }
        }
        Ok(VPath { parts })
    }

    /// The components.
    pub fn parts(&self) -> &[Vec<u8>] {
        &self.parts
    }

    /// True for the site root.
    pub fn is_root(&self) -> bool {
        self.parts.is_empty()
    }

    /// The parent and the last component, or `None` for the root.
    pub fn split_last(&self) -> Option<(VPath, &[u8])> {
        let (last, rest) = self.parts.split_last()?;
        Some((
            VPath {
                parts: rest.to_vec(),
            },
            last.as_slice(),
        ))
    }

    /// The path relative to the site root, for `openat2` (`.` for the root).
    pub fn relative(&self) -> Vec<u8> {
        if self.parts.is_empty() {
            return b".".to_vec();
        }
        self.parts.join(&b'/')
    }

    /// The path as the client sees it (`/` for the root).
    pub fn display(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.parts.iter().map(|p| p.len() + 1).sum::<usize>() + 1);
        for p in &self.parts {
            out.push(b'/');
            out.extend_from_slice(p);
        }
        if out.is_empty() {
            out.push(b'/');
        }
        out
    }

    /// The text to store in a new symlink at `self` pointing at `target` (as the client wrote
    /// it): absolute targets are taken relative to the site root, relative ones relative to the
    /// link's folder. The stored text is always relative, so the link means the same thing to
    /// the gateway and to PHP (which sees the site at another absolute path). A relative target
    /// whose `..` climbs above the site root is refused.
    pub fn symlink_text(&self, target: &[u8]) -> Result<Vec<u8>, PathError> {
        if target.len() > MAX_PATH_LEN {
            return Err(PathError::TooLong);
        }
        if target.contains(&0) {
            return Err(PathError::Nul);
        }
        let dir: &[Vec<u8>] = match self.parts.split_last() {
            Some((_, rest)) => rest,
            None => return Err(PathError::TargetOutside),
        };
        let absolute = target.starts_with(b"/");
        let mut abs: Vec<Vec<u8>> = if absolute { Vec::new() } else { dir.to_vec() };
        for part in target.split(|&b| b == b'/') {
            match part {
                b"" | b"." => {}
                b".." => {
                    if abs.pop().is_none() && !absolute {
                        return Err(PathError::TargetOutside);
                    }
                }
                name => {
                    if name.len() > MAX_NAME_LEN {
                        return Err(PathError::NameTooLong);
                    }
                    abs.push(name.to_vec());
                }
            }
        }
        let common = dir
            .iter()
            .zip(abs.iter())
            .take_while(|(a, b)| a == b)
            .count();
        let mut out: Vec<Vec<u8>> = Vec::new();
        for _ in common..dir.len() {
            out.push(b"..".to_vec());
        }
        out.extend(abs[common..].iter().cloned());
        if out.is_empty() {
            return Ok(b".".to_vec());
        }
        Ok(out.join(&b'/'))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn p(s: &str) -> VPath {
        VPath::parse(s.as_bytes()).unwrap()
    }

    #[test]
    fn dotdot_stops_at_the_root_in_every_position() {
        for raw in [
            "..",
            "/..",
            "../..",
            "/../../etc/passwd",
            "a/../../..",
            "./.././",
            "/a/b/../../../x",
        ] {
            let v = p(raw);
            assert!(
                v.parts()
                    .iter()
                    .all(|c| c != b".." && c != b"." && !c.contains(&b'/'))
            );
        }
        assert_eq!(p("/../../etc/passwd").display(), b"/etc/passwd");
        assert_eq!(p("a/b/../c").display(), b"/a/c");
        assert_eq!(p("").display(), b"/");
        assert_eq!(p("//a//b/").relative(), b"a/b");
        assert_eq!(p("/").relative(), b".");
    }

    #[test]
    fn refuses_nul_and_oversize() {
        assert_eq!(VPath::parse(b"a\0b"), Err(PathError::Nul));
        assert_eq!(VPath::parse(&vec![b'a'; 5000]), Err(PathError::TooLong));
        assert_eq!(VPath::parse(&vec![b'a'; 300]), Err(PathError::NameTooLong));
    }

    #[test]
    fn symlink_text_is_relative_and_inside() {
        let link = p("/public_html/wp/link");
        assert_eq!(link.symlink_text(b"../index.php").unwrap(), b"../index.php");
        assert_eq!(
            link.symlink_text(b"/private/config.php").unwrap(),
            b"../../private/config.php"
        );
        assert_eq!(link.symlink_text(b"x").unwrap(), b"x");
        assert_eq!(
            link.symlink_text(b"../../../etc/passwd"),
            Err(PathError::TargetOutside)
        );
        assert_eq!(
            p("/top").symlink_text(b"../x"),
            Err(PathError::TargetOutside)
        );
        // Absolute targets with `..` above the root clamp at the root, like every client path.
        assert_eq!(
            link.symlink_text(b"/../../etc/passwd").unwrap(),
            b"../../etc/passwd"
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(3000))]

        /// Whatever a client sends, the normalised form has only plain components.
        #[test]
        fn normalised_paths_are_plain(raw in proptest::collection::vec(
            prop_oneof![Just(b'/'), Just(b'.'), Just(b'a'), Just(0u8), any::<u8>()], 0..80)) {
            if let Ok(v) = VPath::parse(&raw) {
                for c in v.parts() {
                    prop_assert!(!c.is_empty());
                    prop_assert!(c.as_slice() != b".." && c.as_slice() != b".");
                    prop_assert!(!c.contains(&b'/') && !c.contains(&0));
                }
                // Normalising twice changes nothing.
                prop_assert_eq!(VPath::parse(&v.display()).unwrap(), v);
            }
        }

        /// A symlink text accepted for a link never climbs above the site root when resolved
        /// lexically from the link's folder.
        #[test]
        fn symlink_texts_stay_inside(
            link in proptest::collection::vec(prop_oneof![Just("a"), Just("b"), Just("..")], 1..6),
            target in proptest::collection::vec(prop_oneof![Just("a"), Just(".."), Just("."), Just("/")], 0..10),
        ) {
            let link = p(&link.join("/"));
            if link.is_root() { return Ok(()); }
            let target = target.concat();
            if let Ok(text) = link.symlink_text(target.as_bytes()) {
                prop_assert!(!text.starts_with(b"/"));
                let mut depth: i64 = link.parts().len() as i64 - 1;
                for part in text.split(|&b| b == b'/') {
                    match part {
                        b".." => depth -= 1,
                        b"." | b"" => {}
                        _ => depth += 1,
                    }
                    prop_assert!(depth >= 0, "text {:?} climbs out", String::from_utf8_lossy(&text));
                }
            }
        }
    }
}
