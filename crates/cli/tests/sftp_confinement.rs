//! Confinement: every escape attempt from a site's folder fails. `..` in every position,
//! absolute paths, symlinks created on disk pointing out (absolute, relative, chains, to the
//! sibling site whose name extends this one's), rename/link/symlink targets outside, writes and
//! chmod through outward symlinks, and a symlink flipped between inside and outside while the
//! client keeps opening it (a check-then-open race) — the secrets outside are never read,
//! written or changed.

mod sftp_support;

use sftp_support::*;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

fn plant_symlinks(bed: &Bed) {
    let ph = bed.shop().join("public_html");
    let outside = bed.root().join("outside/secret.txt");
    symlink(&outside, ph.join("out_abs")).unwrap();
    symlink("../../../outside/secret.txt", ph.join("out_rel")).unwrap();
    symlink("../../shop2/public_html/secret.txt", ph.join("sib")).unwrap();
    symlink("chain2", ph.join("chain1")).unwrap();
    symlink("../chain3", ph.join("chain2")).unwrap();
    symlink("../shop2/public_html/secret.txt", bed.shop().join("chain3")).unwrap();
    symlink("/", ph.join("dirout")).unwrap();
    symlink("../..", ph.join("dirup")).unwrap();
    std::fs::write(ph.join("inside.txt"), "INSIDE").unwrap();
    std::fs::write(ph.join("mine.txt"), "MINE").unwrap();
    for f in ["inside.txt", "mine.txt"] {
        std::os::unix::fs::chown(ph.join(f), Some(SHOP_UID), Some(SHOP_UID)).unwrap();
    }
}

#[test]
fn every_escape_attempt_fails() {
    let mut bed = Bed::new("sftp-confine");
    plant_symlinks(&bed);
    bed.start(&[]);
    let outside_mode = std::fs::metadata(bed.root().join("outside/secret.txt"))
        .unwrap()
        .permissions()
        .mode();
    let script = r#"
s = connect("alice", key="alice")
SECRETS = [b"OUTSIDE-SECRET", b"SHOP2-SECRET"]
failures = []
def must_fail(what, fn):
    try:
        r = fn()
    except (IOError, OSError) as e:
        return
    if isinstance(r, (bytes, bytearray)) and any(x in r for x in SECRETS):
        failures.append("%s LEAKED a secret" % what)
    else:
        failures.append("%s succeeded: %r" % (what, r))
def read(p):
    with s.open(p, "rb") as f:
        return f.read()
def write(p):
    with s.open(p, "wb") as f:
        f.write(b"PWNED")
    return "written"
paths = ["../outside/secret.txt", "../../outside/secret.txt", "/../../outside/secret.txt",
         "public_html/../../outside/secret.txt", "public_html/../../../../../../etc/passwd",
         "/../shop2/public_html/secret.txt", "../shop2/public_html/secret.txt",
         "..//..//shop2/public_html/secret.txt", "./../../../shop2/public_html/secret.txt",
         ROOT + "/outside/secret.txt", ROOT + "/sites/shop2/public_html/secret.txt",
         "/etc/passwd", "public_html/out_abs", "public_html/out_rel", "public_html/sib",
         "public_html/chain1", "public_html/chain2", "chain3", "public_html/dirout/etc/passwd",
         "public_html/dirout" + ROOT + "/outside/secret.txt", "public_html/dirup/shop2/public_html/secret.txt",
         "public_html/dirup/../outside/secret.txt"]
for p in paths:
    must_fail("read " + p, lambda: read(p))
    must_fail("stat " + p, lambda: s.stat(p))
for p in ["public_html/sib", "public_html/out_abs", "public_html/dirout" + ROOT + "/outside/pwned", "public_html/dirup/shop2/public_html/pwned",
          "/../shop2/public_html/pwned"]:
    must_fail("write " + p, lambda: write(p))
must_fail("listdir dirout", lambda: s.listdir("public_html/dirout"))
must_fail("listdir dirup", lambda: s.listdir("public_html/dirup"))
must_fail("mkdir through dirout", lambda: s.mkdir("public_html/dirout" + ROOT + "/outside/evil"))
must_fail("chmod out_abs", lambda: s.chmod("public_html/out_abs", 0o777))
must_fail("chmod sib", lambda: s.chmod("public_html/sib", 0o777))
must_fail("utime sib", lambda: s.utime("public_html/sib", (1, 1)))
must_fail("truncate sib", lambda: s.truncate("public_html/sib", 0))
must_fail("rename into sibling", lambda: s.rename("public_html/mine.txt", "../shop2/public_html/mine.txt"))
must_fail("rename through dirup", lambda: s.rename("public_html/mine.txt", "public_html/dirup/shop2/public_html/mine.txt"))
must_fail("rename through dirout", lambda: s.rename("public_html/mine.txt", "public_html/dirout" + ROOT + "/outside/mine.txt"))
must_fail("rename from outside", lambda: s.rename("public_html/dirup/shop2/public_html/secret.txt", "public_html/stolen.txt"))
must_fail("remove through dirup", lambda: s.remove("public_html/dirup/shop2/public_html/secret.txt"))
must_fail("symlink relative out", lambda: s.symlink("../../../outside/secret.txt", "public_html/s1"))
must_fail("symlink sibling", lambda: s.symlink("../../shop2/public_html/secret.txt", "public_html/s2"))
must_fail("remove root", lambda: s.rmdir("/"))
must_fail("rename root", lambda: s.rename("/", "/x"))
# An absolute symlink target means the site root: it is stored relative, pointing inside.
s.symlink("/etc/passwd", "public_html/s3")
assert s.readlink("public_html/s3") == "../etc/passwd", s.readlink("public_html/s3")
must_fail("read s3", lambda: read("public_html/s3"))
top = sorted(s.listdir("/"))
assert top == ["chain3", "private", "public_html", "tmp"], top
assert s.normalize("/../..") == "/"
# The sibling site's user sees only its own files.
b = connect("bob", key="bob")
assert "secret.txt" in b.listdir("/public_html")
must_fail("bob reads shop", lambda: b.open("/../shop/public_html/inside.txt").read())
if failures:
    print("\n".join(failures))
    sys.exit(1)
print("ok")
"#;
    assert_eq!(ok(&bed.paramiko(script), "escape attempts").trim(), "ok");
    assert_eq!(
        std::fs::read_to_string(bed.root().join("sites/shop2/public_html/secret.txt")).unwrap(),
        "SHOP2-SECRET"
    );
    assert_eq!(
        std::fs::read_to_string(bed.root().join("outside/secret.txt")).unwrap(),
        "OUTSIDE-SECRET"
    );
    assert_eq!(
        std::fs::metadata(bed.root().join("outside/secret.txt"))
            .unwrap()
            .permissions()
            .mode(),
        outside_mode
    );
    assert!(
        std::fs::read_dir(bed.root().join("outside"))
            .unwrap()
            .count()
            == 1,
        "a file appeared outside"
    );
    assert_eq!(
        std::fs::read_dir(bed.root().join("sites/shop2/public_html"))
            .unwrap()
            .count(),
        1,
        "a file appeared in the sibling"
    );
    assert!(bed.shop().join("public_html/mine.txt").exists());
    // OpenSSH's hard link extension: linking to an outward symlink links the symlink itself,
    // which still cannot be followed; linking to a path outside fails.
    let out = bed.sftp("alice", "-ln public_html/dirup/shop2/public_html/secret.txt public_html/hl\nget public_html/hl hl.txt\n");
    assert!(!out.status.success());
    assert!(!bed.root().join("hl.txt").exists());
    bed.assert_running();
}

#[test]
fn a_symlink_flipped_between_inside_and_outside_never_leaks() {
    let mut bed = Bed::new("sftp-race");
    plant_symlinks(&bed);
    bed.start(&[]);
    let ph = bed.shop().join("public_html");
    let stop = Arc::new(AtomicBool::new(false));
    let flipper = {
        let (ph, stop) = (ph.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let tmp = ph.join(format!(".flip{n}"));
                let target = if n.is_multiple_of(2) {
                    "inside.txt"
                } else {
                    "../../shop2/public_html/secret.txt"
                };
                let dir_target = if n.is_multiple_of(2) {
                    "."
                } else {
                    "../../shop2/public_html"
                };
                symlink(target, &tmp).unwrap();
                std::fs::rename(&tmp, ph.join("race")).unwrap();
                symlink(dir_target, &tmp).unwrap();
                std::fs::rename(&tmp, ph.join("racedir")).unwrap();
                n += 1;
            }
            n
        })
    };
    let out = bed.paramiko(
        r#"
s = connect("alice", key="alice")
inside = 0
for i in range(1500):
    for p in ["public_html/race", "public_html/racedir/secret.txt", "public_html/racedir/inside.txt"]:
        try:
            with s.open(p, "rb") as f:
                data = f.read()
        except IOError:
            continue
        if b"SECRET" in data:
            print("LEAK via", p)
            sys.exit(1)
        inside += 1
print("ok", inside)
"#,
    );
    stop.store(true, Ordering::Relaxed);
    let flips = flipper.join().unwrap();
    let text = ok(&out, "race");
    assert!(text.starts_with("ok"), "{text}");
    let reads: u64 = text.split_whitespace().nth(1).unwrap().parse().unwrap();
    assert!(
        flips > 100,
        "the symlink flipped only {flips} times: the race was not exercised"
    );
    assert!(
        reads > 0,
        "no read ever succeeded, so the inside target was never reached"
    );
}
