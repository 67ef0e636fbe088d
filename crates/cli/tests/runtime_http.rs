//! The PHP runtime's HTTP behaviour on Debian's apache2 + php-fpm with the images' config files:
//! .htaccess, client IP and HTTPS behind the load balancer, the health page, logs, non-root
//! workers, uploads through the site's tmp folder, and code changes taking effect within seconds.

mod runtime_support;

use idealstack_testbed::scratch_dir;
use runtime_support::*;
use std::os::unix::process::CommandExt;
use std::time::{Duration, Instant};

const INFO: &str = r#"<?php
header('Content-Type: text/plain');
echo 'addr=', $_SERVER['REMOTE_ADDR'], "\n";
echo 'https=', $_SERVER['HTTPS'] ?? '-', "\n";
echo 'port=', $_SERVER['SERVER_PORT'], "\n";
echo 'scheme=', $_SERVER['REQUEST_SCHEME'] ?? '-', "\n";
echo 'euid=', posix_geteuid(), "\n";
"#;

#[test]
fn htaccess_rewrites_and_access_rules_work() {
    let scratch = scratch_dir("rt-htaccess");
    let root = make_site_root(scratch.path());
    put(
        &root,
        ".htaccess",
        "RewriteEngine On\nRewriteRule ^pretty/([a-z]+)$ page.php?slug=$1 [L,QSA]\nRedirect 301 /old /new\n<Files secret.txt>\nRequire all denied\n</Files>\n",
    );
    put(
        &root,
        "page.php",
        "<?php echo 'slug=', $_GET['slug'] ?? '-';",
    );
    put(&root, "secret.txt", "nope");
    put(&root, ".env", "DB_PASSWORD=x");
    let stack = Stack::start(&StackOptions::new(&root), scratch.path());

    let r = curl(&[&stack.url("/pretty/hello")]);
    assert_eq!((r.status, r.body.as_str()), (200, "slug=hello"), "{r:?}");
    let r = curl(&[&stack.url("/old")]);
    assert_eq!(r.status, 301);
    assert!(r.header("location").unwrap().ends_with("/new"), "{r:?}");
    assert_eq!(curl(&[&stack.url("/secret.txt")]).status, 403);
    assert_eq!(
        curl(&[&stack.url("/.env")]).status,
        403,
        "dotfiles are never served"
    );
    assert_eq!(curl(&[&stack.url("/missing.php")]).status, 404);
}

#[test]
fn client_ip_and_https_come_only_from_trusted_proxies() {
    let scratch = scratch_dir("rt-proxy");
    let root = make_site_root(scratch.path());
    put(&root, "info.php", INFO);
    // Trusted range: 127.0.0.2 only. Requests from 127.0.0.2 play the ALB; from 127.0.0.1, a
    // client outside the VPC reaching the container directly.
    let stack = Stack::start(&StackOptions::new(&root), scratch.path());
    let url = stack.url("/info.php");

    let via_alb = curl(&[
        "--interface",
        "127.0.0.2",
        "-H",
        "X-Forwarded-For: 198.51.100.7, 203.0.113.9",
        "-H",
        "X-Forwarded-Proto: https",
        &url,
    ]);
    assert_eq!(via_alb.status, 200, "{via_alb:?}");
    // The client may prepend anything; the ALB's own entry (last) is the one believed.
    assert!(
        via_alb.body.contains("addr=203.0.113.9\n"),
        "{}",
        via_alb.body
    );
    assert!(via_alb.body.contains("https=on\n"), "{}", via_alb.body);
    assert!(via_alb.body.contains("port=443\n"), "{}", via_alb.body);
    assert!(via_alb.body.contains("scheme=https\n"), "{}", via_alb.body);

    let spoofed = curl(&[
        "-H",
        "X-Forwarded-For: 203.0.113.9",
        "-H",
        "X-Forwarded-Proto: https",
        &url,
    ]);
    assert!(
        spoofed.body.contains("addr=127.0.0.1\n"),
        "{}",
        spoofed.body
    );
    assert!(spoofed.body.contains("https=-\n"), "{}", spoofed.body);

    let plain_alb = curl(&[
        "--interface",
        "127.0.0.2",
        "-H",
        "X-Forwarded-For: 203.0.113.9",
        "-H",
        "X-Forwarded-Proto: http",
        &url,
    ]);
    assert!(plain_alb.body.contains("https=-\n"), "{}", plain_alb.body);

    // The access log records the real client and the peer.
    let log = stack.stdout_text();
    assert!(log.contains("client=203.0.113.9 peer=127.0.0.2 "), "{log}");
    assert!(log.contains("client=127.0.0.1 peer=127.0.0.1 "), "{log}");
}

#[test]
fn health_page_runs_php_and_checks_the_site_folder() {
    let scratch = scratch_dir("rt-health");
    let root = make_site_root(scratch.path());
    let stack = Stack::start(&StackOptions::new(&root), scratch.path());
    let r = curl(&[&stack.url("/.idealstack/health")]);
    assert_eq!(r.status, 200, "{r:?}");
    let v: serde_json::Value = serde_json::from_str(&r.body).expect("health page answers JSON");
    assert_eq!(v["status"], "ok");
    assert_eq!(v["site"], "shop");
    assert_eq!(
        v["sapi"], "fpm-fcgi",
        "served by php-fpm, not a static file"
    );
    assert_eq!(v["opcache"], true);
    let php_version = std::process::Command::new("php")
        .args(["-r", "echo PHP_VERSION;"])
        .output()
        .expect("php cli");
    assert_eq!(
        v["php"],
        String::from_utf8_lossy(&php_version.stdout).as_ref()
    );
    // Computed per request: without the site folder, the task reports unhealthy.
    std::fs::rename(root.join("public_html"), root.join("public_html.away")).unwrap();
    let r = curl(&[&stack.url("/.idealstack/health")]);
    assert_eq!(r.status, 503, "{r:?}");
    std::fs::rename(root.join("public_html.away"), root.join("public_html")).unwrap();
    assert_eq!(curl(&[&stack.url("/.idealstack/health")]).status, 200);
    // Health checks are not written to the access log (they would drown the site's lines).
    assert!(!stack.stdout_text().contains("/.idealstack/health"));
}

#[test]
fn logs_are_one_line_per_event_with_the_site_name() {
    let scratch = scratch_dir("rt-logs");
    let root = make_site_root(scratch.path());
    put(
        &root,
        "warn.php",
        "<?php trigger_error('disk almost full', E_USER_WARNING); error_log('custom line'); echo 'done';",
    );
    let stack = Stack::start(&StackOptions::new(&root), scratch.path());
    assert_eq!(
        curl(&["-A", "probe/1.0", &stack.url("/warn.php?x=1")]).body,
        "done"
    );
    assert_eq!(curl(&[&stack.url("/nothing-here")]).status, 404);
    std::thread::sleep(Duration::from_millis(500));

    let access = stack.stdout_text();
    let lines: Vec<&str> = access.lines().collect();
    assert_eq!(lines.len(), 2, "one access line per request: {access}");
    let re_ok = lines[0].starts_with("site=shop type=access time=")
        && lines[0].contains(" client=127.0.0.1 peer=127.0.0.1 method=GET uri=\"/warn.php?x=1\" proto=HTTP/1.1 status=200 ")
        && lines[0].contains(" ua=\"probe/1.0\"");
    assert!(re_ok, "{}", lines[0]);
    assert!(
        lines[1].contains("uri=\"/nothing-here\"") && lines[1].contains("status=404"),
        "{}",
        lines[1]
    );

    let errors = stack.stderr_text();
    for line in errors.lines() {
        assert!(
            line.starts_with("site=shop type="),
            "every stderr line names the site: {line:?}"
        );
    }
    let warning: Vec<&str> = errors
        .lines()
        .filter(|l| l.contains("disk almost full"))
        .collect();
    assert_eq!(
        warning.len(),
        1,
        "PHP warning logged exactly once: {errors}"
    );
    assert!(
        warning[0]
            .starts_with("site=shop type=php msg=PHP message: PHP Warning:  disk almost full in "),
        "{}",
        warning[0]
    );
    assert!(warning[0].ends_with("warn.php on line 1"), "{}", warning[0]);
    assert_eq!(
        errors.lines().filter(|l| l.contains("custom line")).count(),
        1,
        "{errors}"
    );
}

#[test]
fn workers_are_unprivileged_and_uploads_use_the_site_tmp_folder() {
    let scratch = scratch_dir("rt-upload");
    let root = make_site_root(scratch.path());
    put(&root, "info.php", INFO);
    put(
        &root,
        "upload.php",
        "<?php $f = $_FILES['file']; echo dirname($f['tmp_name']), '|', $f['size'], '|', move_uploaded_file($f['tmp_name'], __DIR__ . '/uploaded.bin') ? 'moved' : 'failed';",
    );
    let stack = Stack::start(&StackOptions::new(&root), scratch.path());
    let r = curl(&[&stack.url("/info.php")]);
    assert!(
        !r.body.contains("euid=0\n"),
        "PHP must not run as root: {}",
        r.body
    );

    let payload = scratch.path().join("payload.bin");
    let bytes: Vec<u8> = (0..200_000u32).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(&payload, &bytes).unwrap();
    let r = curl(&[
        "-F",
        &format!("file=@{}", payload.display()),
        &stack.url("/upload.php"),
    ]);
    assert_eq!(
        r.body,
        format!("{}|200000|moved", root.join("tmp").display()),
        "{r:?}"
    );
    assert_eq!(
        std::fs::read(root.join("public_html/uploaded.bin")).unwrap(),
        bytes
    );
}

#[test]
fn code_uploaded_by_sftp_takes_effect_within_seconds() {
    let scratch = scratch_dir("rt-opcache");
    let root = make_site_root(scratch.path());
    put(&root, "version.php", "<?php echo 'v1';");
    let stack = Stack::start(&StackOptions::new(&root), scratch.path());
    // Warm OPcache in the workers.
    for _ in 0..5 {
        assert_eq!(curl(&[&stack.url("/version.php")]).body, "v1");
    }
    // An SFTP client overwrites the file in place (same size, new content).
    std::thread::sleep(Duration::from_millis(1100));
    put(&root, "version.php", "<?php echo 'v2';");
    let start = Instant::now();
    loop {
        let body = curl(&[&stack.url("/version.php")]).body;
        if body == "v2" {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "new code not served after {:?}",
            start.elapsed()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // And a brand-new file is served at once.
    put(&root, "new.php", "<?php echo 'fresh';");
    assert_eq!(curl(&[&stack.url("/new.php")]).body, "fresh");
}

/// Runs the entrypoint with `args` (a one-off command) or none, with `env` on top of a site's;
/// returns its exit code, stdout and stderr. Does not wait for a port: a refused start exits.
fn entrypoint_run(env: &[(&str, &str)], args: &[&str]) -> (Option<i32>, String, String) {
    let scratch = scratch_dir("rt-entry");
    let root = make_site_root(scratch.path());
    let mut opts = StackOptions::new(&root);
    for (k, v) in env {
        opts = opts.env(k, *v);
    }
    let run_dir = scratch.path().join("run");
    let (out, err) = (scratch.path().join("out"), scratch.path().join("err"));
    let mut child = entrypoint(&opts, idealstack_testbed::free_port(), &run_dir)
        .args(args)
        .stdin(std::process::Stdio::null())
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(std::fs::File::create(&err).unwrap())
        .process_group(0)
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let code = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status.code();
        }
        if Instant::now() > deadline {
            // Still serving: the start was not refused. Stop the whole group.
            let _ = std::process::Command::new("kill")
                .args(["-KILL", "--", &format!("-{}", child.id())])
                .status();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    (code, read(&out), read(&err))
}

#[test]
fn php_settings_the_image_does_not_take_stop_the_start() {
    // A misspelt setting would silently keep the default: refused, naming the variable.
    let (code, _, err) = entrypoint_run(&[("IDEALSTACK_INI_MEMORY_LIMT", "512M")], &[]);
    assert_eq!(code, Some(64), "{err}");
    assert!(
        err.contains("IDEALSTACK_INI_MEMORY_LIMT is not a PHP setting this image takes"),
        "{err}"
    );
    // A value that could end the quoted string and add a line of its own: refused.
    let (code, _, err) = entrypoint_run(
        &[(
            "IDEALSTACK_INI_MEMORY_LIMIT",
            "1G\"\nauto_prepend_file = \"/etc/passwd",
        )],
        &[],
    );
    assert_eq!(code, Some(64), "{err}");
    assert!(err.contains("is not a php.ini value"), "{err}");
}

#[test]
fn a_command_runs_in_the_site_folder_with_its_php_settings_and_returns_its_code() {
    let (code, out, err) = entrypoint_run(
        &[
            ("IDEALSTACK_INI_MEMORY_LIMIT", "300M"),
            ("IDEALSTACK_INI_DATE_TIMEZONE", "Europe/Berlin"),
        ],
        &[
            "php",
            "-r",
            "echo ini_get('memory_limit'), ' ', date_default_timezone_get(), ' ', basename(getcwd()), ' ', ini_get('auto_prepend_file') !== '' ? 'prepend' : 'none';",
        ],
    );
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(out, "300M Europe/Berlin public_html prepend");
    let (code, out, _) = entrypoint_run(&[], &["sh", "-c", "echo failing; exit 7"]);
    assert_eq!((code, out.as_str()), (Some(7), "failing\n"));
}
