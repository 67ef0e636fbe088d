//! Authentication and protection: wrong password, wrong key, a user of another site, throttling
//! after repeated failures, logs naming user and address, garbage from unauthenticated peers,
//! the login grace time, and users added or removed without a restart.

mod sftp_support;

use sftp_support::*;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

#[test]
fn wrong_credentials_are_refused_and_logged() {
    let mut bed = Bed::new("sftp-auth");
    bed.start(&[]);
    let out = bed.paramiko(&format!(
        r#"
def refused(fn):
    try:
        fn()
    except paramiko.AuthenticationException:
        return True
    return False
assert refused(lambda: transport("alice", password="wrong password")), "wrong password accepted"
assert refused(lambda: transport("alice", key="stranger")), "unknown key accepted"
assert refused(lambda: transport("alice", key="bob")), "another site's key accepted"
assert refused(lambda: transport("nobody", password={PASSWORD:?})), "unknown user accepted"
assert refused(lambda: transport("reader", password={PASSWORD:?})), "password accepted for a key-only user"
s = connect("alice", password={PASSWORD:?})
assert "public_html" in s.listdir("/")
print("ok")
"#
    ));
    assert_eq!(ok(&out, "auth").trim(), "ok");
    // OpenSSH with the wrong key fails too.
    let out = bed.sftp_with_key("alice", &bed.key("stranger"), "ls\n");
    assert!(
        !out.status.success(),
        "OpenSSH logged in with a stranger's key"
    );
    let log = bed.log();
    for needle in [
        "login failed user=alice addr=127.0.0.1",
        "method=password: wrong password",
        "login failed user=nobody",
        "login ok user=alice site=shop addr=127.0.0.1",
    ] {
        assert!(log.contains(needle), "log lacks {needle:?}:\n{log}");
    }
}

#[test]
fn throttling_engages_after_repeated_failures() {
    let mut bed = Bed::new("sftp-throttle");
    bed.start(&[]);
    let out = bed.paramiko(&format!(
        r#"
for i in range(6):
    try:
        transport("alice", password="guess %d" % i)
        print("guess accepted"); sys.exit(1)
    except paramiko.AuthenticationException:
        pass
# Now even the right password is refused: the address and the login are throttled.
try:
    transport("alice", password={PASSWORD:?})
    print("throttle did not engage"); sys.exit(1)
except paramiko.AuthenticationException:
    pass
print("ok")
"#
    ));
    assert_eq!(ok(&out, "throttle").trim(), "ok");
    assert!(
        bed.log().contains("throttled"),
        "no throttling logged:\n{}",
        bed.log()
    );
}

#[test]
fn garbage_from_unauthenticated_peers_does_not_hurt_and_grace_time_closes_idle_ones() {
    let mut bed = Bed::new("sftp-garbage");
    bed.start(&["--login-grace-seconds", "2"]);
    let addr = format!("127.0.0.1:{}", bed.port);
    let mut seed = 1u64;
    for round in 0..40 {
        let Ok(mut s) = TcpStream::connect(&addr) else {
            continue;
        };
        s.set_read_timeout(Some(Duration::from_millis(300)))
            .unwrap();
        let mut junk = Vec::new();
        if round % 2 == 0 {
            junk.extend_from_slice(b"SSH-2.0-fuzzer\r\n");
        }
        for _ in 0..(64 + round * 97) {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            junk.push(seed as u8);
        }
        if round % 5 == 0 {
            // A packet header claiming 4 GiB.
            junk.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0x10]);
        }
        let _ = s.write_all(&junk);
        let mut buf = [0u8; 256];
        let _ = s.read(&mut buf);
    }
    // A peer that connects and says nothing is closed after the grace time.
    let mut idle = TcpStream::connect(&addr).unwrap();
    idle.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut sink = Vec::new();
    let started = std::time::Instant::now();
    let _ = idle.read_to_end(&mut sink);
    assert!(
        started.elapsed() < Duration::from_secs(9),
        "an idle unauthenticated connection stayed open"
    );
    bed.assert_running();
    ok(&bed.sftp("alice", "ls /\n"), "login after garbage");
}

#[test]
fn users_are_added_and_removed_without_restart_and_listed() {
    let mut bed = Bed::new("sftp-reload");
    bed.start(&[]);
    assert!(
        !bed.sftp("stranger", "ls\n").status.success(),
        "stranger logged in before being added"
    );
    bed.add_user("shop", "stranger", &[], None);
    let list = ok(
        &run(std::process::Command::new(bin())
            .args(["sftp", "user", "list", "shop", "--users"])
            .arg(bed.users())),
        "user list",
    );
    assert!(
        list.contains("stranger\tread-write\t1 key(s)")
            && list.contains("alice\tread-write\tpassword, 1 key(s)")
            && list.contains("reader\tread-only"),
        "{list}"
    );
    let mut logged_in = false;
    for _ in 0..20 {
        std::thread::sleep(Duration::from_millis(500));
        if bed.sftp("stranger", "ls\n").status.success() {
            logged_in = true;
            break;
        }
    }
    assert!(
        logged_in,
        "added user could not log in after the reload interval:\n{}",
        bed.log()
    );
    ok(
        &run(std::process::Command::new(bin())
            .args(["sftp", "user", "remove", "shop", "stranger", "--users"])
            .arg(bed.users())),
        "user remove",
    );
    std::thread::sleep(Duration::from_millis(2500));
    assert!(
        !bed.sftp("stranger", "ls\n").status.success(),
        "removed user could still log in"
    );
    // A broken store is refused by the gateway (the previous one stays in use).
    std::fs::write(bed.users(), "{ not json").unwrap();
    std::thread::sleep(Duration::from_millis(2500));
    ok(
        &bed.sftp("alice", "ls\n"),
        "login with the previous store after a bad edit",
    );
    assert!(
        bed.log().contains("keeping the previous user store"),
        "{}",
        bed.log()
    );
}

#[test]
fn cli_refuses_bad_input_with_advice() {
    let bed = Bed::new("sftp-cli");
    let out = run(std::process::Command::new(bin())
        .args(["sftp", "user", "add", "newsite", "carol", "--users"])
        .arg(bed.users())
        .arg("--key")
        .arg(bed.key("alice").with_extension("pub")));
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--uid and --gid"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = run(std::process::Command::new(bin())
        .args(["sftp", "user", "add", "shop", "Bad Name", "--users"])
        .arg(bed.users())
        .arg("--key")
        .arg(bed.key("alice").with_extension("pub")));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("login name"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn idle_sessions_are_closed_and_sessions_per_user_are_limited() {
    let mut bed = Bed::new("sftp-limits");
    bed.start(&[
        "--idle-timeout-seconds",
        "2",
        "--max-sessions-per-user",
        "1",
    ]);
    let out = bed.paramiko(
        r#"
first = connect("alice", key="alice")
first.listdir("/")
try:
    transport("alice", key="alice")
    print("a second session was allowed"); sys.exit(1)
except paramiko.AuthenticationException:
    pass
# Another login of the same site is not limited by alice's sessions.
connect("reader", key="reader").listdir("/")
time.sleep(4)
try:
    first.listdir("/")
    print("idle session still open"); sys.exit(1)
except (OSError, EOFError, paramiko.SSHException):
    pass
# Once alice's idle session is gone, she can log in again.
connect("alice", key="alice").listdir("/")
print("ok")
"#,
    );
    assert_eq!(ok(&out, "limits").trim(), "ok");
    assert!(bed.log().contains("max_sessions_per_user"), "{}", bed.log());
}
