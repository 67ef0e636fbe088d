//! The journey through `idealstack local` (issue 10), from nothing, as a PHP developer meets it:
//! the cluster runs from the templates `plan` renders, deployed into the emulator by the same
//! deployer, every ECS service as containers of the images built from the project's Dockerfiles.
//!
//! One test, in order (each step needs the ones before): `local up` of a two-site stack until both
//! answer through the router; `local status --json` names the router, the SFTP port and the URLs;
//! an SFTP login made with the CLI uploads stock WordPress (Debian's) through the gateway
//! container, which lands on the local EFS as the site's uid; WordPress is installed through the
//! router by its domain with a browser-like client, the admin logs in (a plugin's session in the
//! emulator's DynamoDB), uploads media (on the local EFS as the site's uid) and turns on pretty
//! permalinks; the site reaches its database over verified TLS (the agent made the database and
//! the user); `idealstack run` prints WordPress's siteurl from a command in the site's
//! environment and returns a failing command's exit code; `mail()` without a From header reaches
//! the emulator's SES from the address the template sets; `logs` shows the requests; a killed container is replaced while the site keeps answering; `site add`
//! of a third site serves within the run; a PHP version change replaces that site's containers
//! with the other image; `local down` leaves nothing running.

mod local_support;
mod runtime_support;
mod wordpress_support;

use local_support::*;
use runtime_support::{curl, dynamodb};
use std::os::unix::fs::MetadataExt;
use std::time::{Duration, Instant};
use wordpress_support::*;

const STACK: &str = "journey";

const MANIFEST: &str = r#"
[stack]
name = "journey"
region = "us-east-1"

[stack.email]
service = "ses"
domain = "shop.example.com"

[[sites]]
name = "shop"
domains = ["shop.example.com"]
database = true

[[sites]]
name = "blog"
domains = ["blog.example.com"]
php = "8.2"
"#;

/// What the site reports of itself: PHP, its database session over TLS, mail().
const PROBE: &str = r#"<?php
header('Content-Type: text/plain');
echo "php=", PHP_MAJOR_VERSION, ".", PHP_MINOR_VERSION, "\n";
if (isset($_GET['db'])) {
    mysqli_report(MYSQLI_REPORT_OFF);
    $h = mysqli_init();
    $h->ssl_set(null, null, getenv('IDEALSTACK_DATABASE_CA_FILE'), null, null);
    $ok = $h->real_connect(getenv('DB_HOST'), getenv('DB_USER'), getenv('DB_PASSWORD'),
        getenv('DB_NAME'), (int) getenv('DB_PORT'), null,
        MYSQLI_CLIENT_SSL | MYSQLI_CLIENT_SSL_VERIFY_SERVER_CERT);
    if (!$ok) { echo "db=error ", mysqli_connect_error(), "\n"; exit; }
    $r = $h->query("SHOW SESSION STATUS LIKE 'Ssl_cipher'")->fetch_row();
    echo "db=", $h->query('SELECT DATABASE()')->fetch_row()[0], " cipher=", $r[1], "\n";
}
if (isset($_GET['mail'])) {
    $sent = mail('customer@example.net', 'Your order', "Thank you for your order.\n");
    echo "mail=", $sent ? "sent" : "failed", "\n";
}
"#;

/// A command-line script: WordPress's siteurl as `wp option get siteurl` prints it, and where and
/// as whom it ran. (A file, not `php -r`: PHP runs auto_prepend_file, which gives WordPress its
/// database TLS flags, only for script files.)
const SITEURL: &str = r#"<?php
require 'wp-load.php';
echo get_option('siteurl'), ' uid=', posix_getuid(), ' cwd=', getcwd(), PHP_EOL;
"#;

#[test]
fn a_two_site_stack_runs_from_nothing_through_local() {
    let mut local = Local::new("local-journey", MANIFEST);
    let took = local.up();
    eprintln!("journey: local up took {took:?}");

    // local status names the router, the SFTP gateway and every site's URL.
    let status = local.status();
    let router = format!("127.0.0.1:{}", local.http_port);
    assert_eq!(status["router"], router.as_str(), "{status}");
    assert_eq!(
        status["sftp"],
        format!("127.0.0.1:{}", local.sftp_port).as_str()
    );
    for (site, host) in [("shop", "shop.example.com"), ("blog", "blog.example.com")] {
        let line = status["sites"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["site"] == site)
            .unwrap_or_else(|| panic!("{site} missing from {status}"));
        assert_eq!(
            line["url"],
            format!("http://{host}:{}/", local.http_port).as_str()
        );
        assert_eq!(line["answers"], 200, "{status}");
    }

    // An SFTP login made with the CLI; PHP uploaded through the gateway container.
    let key = local.key("alice");
    let printed = local.ok(&[
        "sftp",
        "user",
        "add",
        "shop",
        "alice",
        "--key",
        &format!("{}.pub", key.display()),
    ]);
    assert!(printed.contains("alice"), "{printed}");
    let upload = local.dir.path().join("probe.php");
    std::fs::write(&upload, PROBE).unwrap();
    let out = local.sftp_until_ok("alice", &key, "cd public_html\nput probe.php\n");
    assert!(out.status.success());
    let on_efs = local
        .site_folder(STACK, "shop")
        .join("public_html/probe.php");
    let owner = std::fs::metadata(&on_efs)
        .unwrap_or_else(|e| panic!("{} on the local EFS: {e}", on_efs.display()));
    let folder = std::fs::metadata(on_efs.parent().unwrap()).unwrap();
    assert!(
        owner.uid() >= 20000 && owner.uid() == folder.uid(),
        "uploaded as the site's uid {} (the agent's folder owner), not {}",
        folder.uid(),
        owner.uid()
    );

    // The database over verified TLS, as the site's own user on its own database.
    let r = local.get("shop.example.com", "/probe.php?db=1");
    assert_eq!(r.status, 200, "{r:?}\n{}", local.platform_log());
    assert!(
        r.body.contains("php=8.4") && r.body.contains("db=shop cipher=TLS"),
        "{}",
        r.body
    );

    // Stock WordPress through the gateway, installed and used through the router by its domain.
    let wordpress = local.dir.path().join("wordpress");
    wordpress_files(&wordpress);
    // With a command-line script of the developer's, for `idealstack run` below.
    std::fs::write(wordpress.join("siteurl.php"), SITEURL).unwrap();
    // Its contents into public_html (OpenSSH puts a folder into an existing one as a subfolder).
    local.sftp_until_ok("alice", &key, "lcd wordpress\ncd public_html\nput -r *\n");
    let base = format!("http://shop.example.com:{}", local.http_port);
    let reach = vec![
        "--resolve".to_string(),
        format!("shop.example.com:{}:127.0.0.1", local.http_port),
    ];
    let browser = Browser::new(&base, &reach, &local.dir.path().join("jar.txt"));
    browser.install(|| local.platform_log());
    browser.login();
    let png = local.dir.path().join("pixel.png");
    test_png(&png);
    let source = browser.upload_media(&png, local.dir.path());
    let media = source.replace(
        &base,
        &local
            .site_folder(STACK, "shop")
            .join("public_html")
            .display()
            .to_string(),
    );
    let media_owner = std::fs::metadata(&media)
        .unwrap_or_else(|e| panic!("{media} on the local EFS: {e}"))
        .uid();
    assert_eq!(media_owner, folder.uid(), "media written as the site's uid");
    browser.pretty_permalinks(|| local.platform_log());

    // The admin's plugin session is in the emulator's DynamoDB, under the site's prefix.
    let endpoint = local.endpoint();
    let tables = dynamodb(&endpoint, "ListTables", &serde_json::json!({}));
    let table = tables["TableNames"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t.as_str())
        .find(|t| t.contains("Sessions"))
        .unwrap_or_else(|| panic!("no sessions table: {tables}"))
        .to_string();
    let items = dynamodb(
        &endpoint,
        "Scan",
        &serde_json::json!({ "TableName": table }),
    );
    let admin = decoded_sessions(&items, "shop#")
        .into_iter()
        .filter(|d| d.contains("wp_user|s:5:\"admin\""))
        .count();
    assert_eq!(admin, 1, "{items}");

    // `idealstack run`: a command in the site's environment (its folder, PHP, uid, database over
    // TLS), its output streamed, its exit code returned. WordPress's siteurl, read the way
    // `wp option get siteurl` reads it (wp-cli is not in the image built here: see ARCHITECTURE).
    let started = Instant::now();
    let out = local.idealstack(&["run", "shop", "--", "php", "siteurl.php"], None);
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "run: {out:?}\n{}",
        local.platform_log()
    );
    assert_eq!(
        printed.trim(),
        format!(
            "{base} uid={} cwd={}/public_html",
            folder.uid(),
            idealstack_templates::SITE_MOUNT_PATH
        ),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("journey: run to its exit: {:?}", started.elapsed());
    let out = local.idealstack(
        &[
            "run",
            "shop",
            "--",
            "sh",
            "-c",
            "echo about to fail; exit 3",
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "about to fail\n");

    // mail() without a From header reaches SES from the address the template sets.
    local.verify_email_domain("shop.example.com");
    let r = local.get("shop.example.com", "/probe.php?mail=1");
    assert!(
        r.body.contains("mail=sent"),
        "{r:?}\n{}",
        local.platform_log()
    );
    let outbox = curl(&[&format!("{endpoint}/moto-api/ses/raw-messages")]);
    let messages: Vec<serde_json::Value> = serde_json::from_str(&outbox.body)
        .unwrap_or_else(|e| panic!("the emulator's outbox: {e}: {outbox:?}"));
    let order = messages
        .iter()
        .find(|m| m["raw"].as_str().is_some_and(|r| r.contains("Your order")))
        .unwrap_or_else(|| panic!("the message is not in SES: {messages:?}"));
    assert_eq!(order["source"], "shop@shop.example.com", "{order}");
    assert!(
        order["raw"]
            .as_str()
            .is_some_and(|r| r.contains("From: shop@shop.example.com")),
        "{order}"
    );

    // logs shows the requests (the containers' output shipped to CloudWatch Logs).
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let logs = local.ok(&["logs", "shop", "--since", "1h"]);
        if logs.contains("method=GET uri=\"/probe.php?db=1\"") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "logs does not show the requests:\n{logs}"
        );
        std::thread::sleep(Duration::from_secs(2));
    }

    // A killed container is replaced while the site keeps answering.
    let before = local.containers_of("shop");
    assert_eq!(before.len(), 2, "{before:?}");
    local.podman(&["kill", &before[0]]);
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut answered = 0;
    loop {
        let r = local.get("shop.example.com", "/probe.php");
        assert_eq!(
            r.status, 200,
            "the site stopped answering after a container was killed: {r:?}"
        );
        answered += 1;
        let now = local.containers_of("shop");
        if now.len() == 2 && !now.contains(&before[0]) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the killed container was not replaced: {now:?}\n{}",
            local.platform_log()
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    eprintln!("journey: {answered} requests answered while the container was replaced");

    // site add of a third site serves within the same run.
    let started = Instant::now();
    local.ok(&[
        "site",
        "add",
        "news.example.org",
        "--name",
        "news",
        "--cert-wait",
        "120",
    ]);
    local.wait_for(
        "news.example.org",
        "/.idealstack/health",
        200,
        Duration::from_secs(300),
    );
    eprintln!(
        "journey: site add to the new site answering: {:?}",
        started.elapsed()
    );

    // A PHP version change replaces that site's containers with the other image.
    let manifest = local.dir.path().join("idealstack.toml");
    let text = std::fs::read_to_string(&manifest).unwrap();
    std::fs::write(&manifest, text.replace("php = \"8.2\"", "php = \"8.4\"")).unwrap();
    let blog_before = local.images_of("blog");
    assert!(
        blog_before.iter().all(|i| i.contains("php:8.2-")),
        "{blog_before:?}"
    );
    local.ok(&["deploy", "--poll", "1", "--cert-wait", "120"]);
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let images = local.images_of("blog");
        if !images.is_empty() && images.iter().all(|i| i.contains("php:8.4-")) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "blog still runs {images:?}\n{}",
            local.platform_log()
        );
        std::thread::sleep(Duration::from_secs(1));
    }
    local.wait_for(
        "blog.example.com",
        "/.idealstack/health",
        200,
        Duration::from_secs(120),
    );
    let health = local.get("blog.example.com", "/.idealstack/health");
    assert!(health.body.contains("\"php\":\"8.4."), "{health:?}");

    local.down();
    assert!(
        containers(STACK).is_empty(),
        "local down left {:?}",
        containers(STACK)
    );
}

/// Debian's WordPress as a user downloads it (links resolved, no .htaccess yet), with a
/// wp-config.php that takes the database from the variables the site's task gets, and the
/// session plugin.
fn wordpress_files(dir: &std::path::Path) {
    let status = std::process::Command::new("cp")
        .args(["-rL", "/usr/share/wordpress"])
        .arg(dir)
        .status()
        .expect("cp wordpress");
    assert!(
        status.success(),
        "copy /usr/share/wordpress (the wordpress package: scripts/setup)"
    );
    let _ = std::fs::remove_file(dir.join(".htaccess"));
    std::fs::write(
        dir.join("wp-config.php"),
        r#"<?php
define('DB_NAME', getenv('DB_NAME'));
define('DB_USER', getenv('DB_USER'));
define('DB_PASSWORD', getenv('DB_PASSWORD'));
define('DB_HOST', getenv('DB_HOST') . ':' . getenv('DB_PORT'));
define('DB_CHARSET', 'utf8mb4');
define('DB_COLLATE', '');
define('AUTH_KEY', 'journey-auth-key'); define('SECURE_AUTH_KEY', 'journey-secure-auth-key');
define('LOGGED_IN_KEY', 'journey-logged-in-key'); define('NONCE_KEY', 'journey-nonce-key');
define('AUTH_SALT', 'journey-auth-salt'); define('SECURE_AUTH_SALT', 'journey-secure-auth-salt');
define('LOGGED_IN_SALT', 'journey-logged-in-salt'); define('NONCE_SALT', 'journey-nonce-salt');
define('FS_METHOD', 'direct');
define('DISABLE_WP_CRON', true);
define('WP_HTTP_BLOCK_EXTERNAL', true);
$table_prefix = 'wp_';
if (!defined('ABSPATH')) { define('ABSPATH', __DIR__ . '/'); }
require_once ABSPATH . 'wp-settings.php';
"#,
    )
    .unwrap();
    let mu = dir.join("wp-content/mu-plugins");
    std::fs::create_dir_all(&mu).unwrap();
    std::fs::write(mu.join("idealstack-session-probe.php"), SESSION_PROBE).unwrap();
}
