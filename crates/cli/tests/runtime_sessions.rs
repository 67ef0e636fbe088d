//! Sessions in DynamoDB (the image's prepend + session handler) on Debian's apache2 + php-fpm,
//! against the emulator: shared between two "containers", no lost update under concurrency, a
//! killed worker's lock lapses, keys carry the site prefix, and an unreachable DynamoDB is logged
//! while the page still renders.

mod runtime_support;

use idealstack_testbed::scratch_dir;
use runtime_support::*;
use std::path::Path;
use std::time::{Duration, Instant};

const COUNTER: &str = r#"<?php
session_start();
$_SESSION['n'] = ($_SESSION['n'] ?? 0) + 1;
// Widen the read-modify-write window so that a missing lock would lose updates.
usleep(30000);
echo $_SESSION['n'];
"#;

const HOLD: &str = r#"<?php
session_start();
$_SESSION['held'] = true;
file_put_contents(__DIR__ . '/worker.pid', (string) getmypid());
sleep(120);
"#;

const REGENERATE: &str = r#"<?php
session_start();
$_SESSION['n'] = ($_SESSION['n'] ?? 0) + 1;
session_regenerate_id(true);
echo $_SESSION['n'];
"#;

const RENDER: &str = r#"<?php
$ok = @session_start();
echo 'rendered session=', $ok ? 'on' : 'off';
"#;

fn session_stack(root: &Path, scratch: &Path, moto: &SerialMoto, lock_ttl: &str) -> Stack {
    let opts = aws_env(StackOptions::new(root), &moto.endpoint())
        .env("IDEALSTACK_SESSION_TABLE", "sessions")
        .env("IDEALSTACK_SESSION_LOCK_TTL", lock_ttl);
    Stack::start(&opts, scratch)
}

fn site_with_pages(scratch: &Path) -> std::path::PathBuf {
    let root = make_site_root(scratch);
    put(&root, "counter.php", COUNTER);
    put(&root, "hold.php", HOLD);
    put(&root, "render.php", RENDER);
    put(&root, "regenerate.php", REGENERATE);
    root
}

fn cookie_of(r: &Response) -> String {
    let set = r
        .header("set-cookie")
        .expect("the first request sets a session cookie");
    set.split(';').next().unwrap().to_string()
}

#[test]
fn a_session_written_in_one_container_is_read_in_another() {
    let scratch = scratch_dir("rt-sess-two");
    let moto = SerialMoto::start();
    create_sessions_table(&moto.endpoint(), "sessions");
    let root = site_with_pages(scratch.path());
    let a = session_stack(&root, scratch.path(), &moto, "30");
    let b = session_stack(&root, scratch.path(), &moto, "30");

    let first = curl(&[&a.url("/counter.php")]);
    assert_eq!(first.body, "1", "{first:?}");
    let cookie = cookie_of(&first);
    assert_eq!(curl(&["-b", &cookie, &b.url("/counter.php")]).body, "2");
    assert_eq!(curl(&["-b", &cookie, &a.url("/counter.php")]).body, "3");

    // The item is keyed <site>#<id> (the IAM LeadingKeys prefix), expires through TTL, no lock left.
    // The cookie carries the id URL-encoded: PHP's ids may hold `,` and `-` (6 bits per character).
    let id = percent_decode(cookie.split_once('=').unwrap().1);
    let reply = dynamodb(
        &moto.endpoint(),
        "GetItem",
        &serde_json::json!({"TableName": "sessions", "Key": {"id": {"S": format!("shop#{id}")}}, "ConsistentRead": true}),
    );
    let item = &reply["Item"];
    let expires: i64 = item["expires"]["N"]
        .as_str()
        .unwrap_or_else(|| panic!("no session item shop#{id} with an expiry: {reply}"))
        .parse()
        .unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    assert!(
        (now + 1000..=now + 1500).contains(&expires),
        "expires {expires} vs now {now}"
    );
    assert!(
        item.get("lock_owner").is_none(),
        "lock released after the request: {item}"
    );
    assert!(item["data"]["B"].is_string());

    // session_regenerate_id(true) (done at login by most frameworks) moves the data to a new id,
    // readable from the other container, and the old id is gone.
    let r = curl(&["-b", &cookie, &a.url("/regenerate.php")]);
    assert_eq!(r.body, "4", "{r:?}");
    let new_cookie = cookie_of(&r);
    assert_ne!(new_cookie, cookie);
    assert_eq!(curl(&["-b", &new_cookie, &b.url("/counter.php")]).body, "5");
    let old = dynamodb(
        &moto.endpoint(),
        "GetItem",
        &serde_json::json!({"TableName": "sessions", "Key": {"id": {"S": format!("shop#{id}")}}}),
    );
    assert!(old.get("Item").is_none(), "old id destroyed: {old}");
    assert!(
        !a.stderr_text().contains("idealstack-session"),
        "{}",
        a.stderr_text()
    );

    // A stranger's cookie is not adopted (strict mode): a fresh id is issued.
    let r = curl(&[
        "-b",
        "PHPSESSID=forgedforgedforgedforgedforgedforged",
        &a.url("/counter.php"),
    ]);
    assert_eq!(r.body, "1");
    assert!(!cookie_of(&r).contains("forged"));
}

#[test]
fn concurrent_requests_on_one_session_lose_no_update() {
    let scratch = scratch_dir("rt-sess-conc");
    let moto = SerialMoto::start();
    create_sessions_table(&moto.endpoint(), "sessions");
    let root = site_with_pages(scratch.path());
    let a = session_stack(&root, scratch.path(), &moto, "30");
    let b = session_stack(&root, scratch.path(), &moto, "30");
    let first = curl(&[&a.url("/counter.php")]);
    let cookie = cookie_of(&first);

    const N: usize = 24;
    let urls: Vec<String> = (0..N)
        .map(|i| {
            if i % 2 == 0 {
                a.url("/counter.php")
            } else {
                b.url("/counter.php")
            }
        })
        .collect();
    let handles: Vec<_> = urls
        .into_iter()
        .map(|url| {
            let cookie = cookie.clone();
            std::thread::spawn(move || curl(&["-b", &cookie, &url]))
        })
        .collect();
    let mut seen: Vec<u32> = handles
        .into_iter()
        .map(|h| {
            let r = h.join().unwrap();
            assert_eq!(r.status, 200, "{r:?}");
            r.body
                .parse()
                .unwrap_or_else(|_| panic!("counter page answered {r:?}"))
        })
        .collect();
    seen.sort();
    // Every request saw a distinct value: the increments were serialised by the lock.
    assert_eq!(seen, (2..=(N as u32 + 1)).collect::<Vec<_>>());
    assert_eq!(
        curl(&["-b", &cookie, &b.url("/counter.php")]).body,
        (N + 2).to_string()
    );
    for stack in [&a, &b] {
        assert!(
            !stack.stderr_text().contains("idealstack-session"),
            "{}",
            stack.stderr_text()
        );
    }
}

#[test]
fn a_killed_workers_lock_expires() {
    let scratch = scratch_dir("rt-sess-kill");
    let moto = SerialMoto::start();
    create_sessions_table(&moto.endpoint(), "sessions");
    let root = site_with_pages(scratch.path());
    let stack = session_stack(&root, scratch.path(), &moto, "4");
    let cookie = cookie_of(&curl(&[&stack.url("/counter.php")]));

    // A request takes the lock and its worker is killed mid-request.
    let hold_url = stack.url("/hold.php");
    let hold_cookie = cookie.clone();
    let holder = std::thread::spawn(move || curl(&["-b", &hold_cookie, &hold_url]));
    let pid_file = root.join("public_html/worker.pid");
    let start = Instant::now();
    while !pid_file.exists() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "hold.php never started"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let pid = std::fs::read_to_string(&pid_file).unwrap();
    let killed_at = Instant::now();
    assert!(
        std::process::Command::new("kill")
            .args(["-KILL", pid.trim()])
            .status()
            .unwrap()
            .success()
    );
    let _ = holder.join();

    // The next request waits for the lock to lapse (4 s), then proceeds with the last saved data.
    let r = curl(&["-b", &cookie, &stack.url("/counter.php")]);
    let waited = killed_at.elapsed();
    assert_eq!(r.body, "2", "{r:?}");
    assert!(
        waited >= Duration::from_millis(2500),
        "the lock was not held: {waited:?}"
    );
    assert!(
        waited < Duration::from_secs(12),
        "the lock outlived its TTL: {waited:?}"
    );
}

#[test]
fn an_unreachable_dynamodb_is_logged_and_the_page_still_renders() {
    let scratch = scratch_dir("rt-sess-down");
    let root = site_with_pages(scratch.path());
    // Nothing listens on this port.
    let dead = format!("http://127.0.0.1:{}", idealstack_testbed::free_port());
    let opts = aws_env(StackOptions::new(&root), &dead).env("IDEALSTACK_SESSION_TABLE", "sessions");
    let stack = Stack::start(&opts, scratch.path());
    let started = Instant::now();
    let r = curl(&[&stack.url("/render.php")]);
    assert_eq!(
        (r.status, r.body.as_str()),
        (200, "rendered session=off"),
        "{r:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(10));
    std::thread::sleep(Duration::from_millis(300));
    let err = stack.stderr_text();
    let line = err
        .lines()
        .find(|l| l.contains("idealstack-session:"))
        .unwrap_or_else(|| panic!("no session error line in: {err}"));
    assert!(line.starts_with("site=shop type=php msg=PHP message: idealstack-session: site=shop status=error op=read table=sessions"), "{line}");
    assert!(line.contains("error=network"), "{line}");
}

/// A stand-in for the ECS container credentials endpoint: answers every request with temporary
/// credentials and records the Authorization header of each request. Stops after 60 s.
fn container_credentials_endpoint() -> (u16, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let record = seen.clone();
    std::thread::spawn(move || {
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            let Ok((stream, _)) = listener.accept() else {
                std::thread::sleep(Duration::from_millis(20));
                continue;
            };
            stream.set_nonblocking(false).unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut auth = String::from("-");
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line.trim().is_empty() {
                    break;
                }
                if let Some(v) = line.strip_prefix("Authorization:") {
                    auth = v.trim().to_string();
                }
            }
            record.lock().unwrap().push(auth);
            let body = r#"{"AccessKeyId":"ASIACONTAINER","SecretAccessKey":"container-secret","Token":"container-token","Expiration":"2099-01-01T00:00:00Z"}"#;
            let mut stream = stream;
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    (port, seen)
}

#[test]
fn credentials_come_from_the_container_endpoint_and_are_cached() {
    let scratch = scratch_dir("rt-sess-creds");
    let moto = SerialMoto::start();
    create_sessions_table(&moto.endpoint(), "sessions");
    let root = site_with_pages(scratch.path());
    let (port, seen) = container_credentials_endpoint();
    // As in an ECS task: no keys in the environment, only the credentials endpoint.
    let opts = StackOptions::new(&root)
        .env("AWS_ENDPOINT_URL", moto.endpoint())
        .env("AWS_REGION", "us-east-1")
        .env(
            "AWS_CONTAINER_CREDENTIALS_FULL_URI",
            format!("http://127.0.0.1:{port}/v2/credentials/task"),
        )
        .env("AWS_CONTAINER_AUTHORIZATION_TOKEN", "task-auth-token")
        .env("IDEALSTACK_SESSION_TABLE", "sessions");
    let stack = Stack::start(&opts, scratch.path());
    let first = curl(&[&stack.url("/counter.php")]);
    assert_eq!(first.body, "1", "{first:?} {}", stack.stderr_text());
    let cookie = cookie_of(&first);
    for expected in 2..=5 {
        assert_eq!(
            curl(&["-b", &cookie, &stack.url("/counter.php")]).body,
            expected.to_string()
        );
    }
    // Fetched once, with the task's token, then served from the tmpfs cache by every worker.
    assert_eq!(*seen.lock().unwrap(), ["task-auth-token"]);
    let cache = std::fs::read_dir(&stack.run_dir)
        .unwrap()
        .filter_map(Result::ok)
        .find(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("aws-credentials-")
        })
        .expect("credentials cache file in the run dir");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        cache.metadata().unwrap().permissions().mode() & 0o777,
        0o600
    );
}

/// Decodes `%XX` escapes (cookie values).
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok());
        match (bytes[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}
