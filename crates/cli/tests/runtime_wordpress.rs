//! Stock WordPress (Debian's package, MariaDB) on the runtime config: installed through its web
//! installer, an admin logs in, uploads a media file, pretty permalinks resolve through the
//! .htaccess WordPress writes, and PHP sessions used by plugins live in DynamoDB.
//!
//! WordPress core keeps logins in its own cookies and database, not in PHP sessions; plugins
//! (shops, forms, SSO) use `$_SESSION`. A must-use plugin here plays such a plugin on every admin
//! page, so the admin's session is checked in DynamoDB.

mod runtime_support;

use idealstack_testbed::scratch_dir;
use runtime_support::*;
use std::process::Command;

const SESSION_PROBE: &str = r#"<?php
// Plays a plugin that keeps per-user state in $_SESSION on admin pages.
add_action('admin_init', function () {
    if (session_status() === PHP_SESSION_NONE) {
        session_start();
    }
    $_SESSION['wp_user'] = wp_get_current_user()->user_login;
    $_SESSION['admin_views'] = ($_SESSION['admin_views'] ?? 0) + 1;
    session_write_close();
});
"#;

/// What WordPress's wpdb does with MYSQL_CLIENT_FLAGS, and the session's TLS cipher.
const TLS_PROBE: &str = r#"<?php
mysqli_report(MYSQLI_REPORT_OFF);
$h = mysqli_init();
[$host, $port] = explode(':', getenv('DB_HOST'));
$ok = @mysqli_real_connect($h, $host, 'wp', 'wp-password', null, (int)$port, null, MYSQL_CLIENT_FLAGS);
echo 'verify=', (MYSQL_CLIENT_FLAGS & MYSQLI_CLIENT_SSL_VERIFY_SERVER_CERT) ? 'yes' : 'no', "
";
echo 'cipher=', $ok ? mysqli_query($h, "SHOW SESSION STATUS LIKE 'Ssl_cipher'")->fetch_row()[1] : mysqli_connect_error(), "
";
"#;

fn between<'a>(text: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let from = text.find(start)? + start.len();
    let len = text[from..].find(end)?;
    Some(&text[from..from + len])
}

#[test]
fn wordpress_installs_logs_in_uploads_and_uses_pretty_permalinks() {
    let scratch = scratch_dir("rt-wp");
    // Like RDS: TLS required, a certificate of a CA the image is given (IDEALSTACK_DATABASE_CA_FILE).
    let ca = TestCa::make(&scratch.path().join("ca"));
    let db = MariaDb::start_tls(scratch.path(), &ca);
    create_wordpress_db(&db);
    let moto = SerialMoto::start();
    create_sessions_table(&moto.endpoint(), "sessions");
    let root = make_site_root(scratch.path());
    install_wordpress_files(&root, db.port);
    put(
        &root,
        "wp-content/mu-plugins/idealstack-session-probe.php",
        SESSION_PROBE,
    );
    chown_www_data(&root.join("public_html"));
    put(&root, "tls.php", TLS_PROBE);
    let opts = aws_env(StackOptions::new(&root), &moto.endpoint())
        .env("IDEALSTACK_SESSION_TABLE", "sessions")
        .env("DB_HOST", format!("127.0.0.1:{}", db.port))
        .env("IDEALSTACK_DATABASE_CA_FILE", ca.ca.to_str().unwrap());
    let stack = Stack::start(&opts, scratch.path());
    let jar = scratch.path().join("cookies.txt");
    let jar = jar.to_str().unwrap();
    let base = stack.url("");

    // 1. The web installer.
    let r = curl(&[&format!("{base}/wp-admin/install.php?step=1")]);
    assert_eq!(r.status, 200, "installer page: {}", stack.stderr_text());
    assert!(
        r.body.contains("admin_password"),
        "installer form not shown: {}",
        r.body
    );
    let r = curl(&[
        "-X",
        "POST",
        "--data-urlencode",
        "weblog_title=Idealstack Shop",
        "--data-urlencode",
        "user_name=admin",
        "--data-urlencode",
        "admin_password=Correct-Horse-9-Battery",
        "--data-urlencode",
        "admin_password2=Correct-Horse-9-Battery",
        "--data-urlencode",
        "pw_weak=on",
        "--data-urlencode",
        "admin_email=admin@shop.example",
        "--data-urlencode",
        "blog_public=0",
        "--data-urlencode",
        "Submit=Install WordPress",
        "--data-urlencode",
        "language=",
        &format!("{base}/wp-admin/install.php?step=2"),
    ]);
    assert!(
        r.body.contains("Success!"),
        "install failed ({}): {}\n{}",
        r.status,
        r.body,
        stack.stderr_text()
    );

    // 2. Admin login.
    curl(&["-c", jar, "-b", jar, &format!("{base}/wp-login.php")]);
    let r = curl(&[
        "-c",
        jar,
        "-b",
        jar,
        "-X",
        "POST",
        "--data-urlencode",
        "log=admin",
        "--data-urlencode",
        "pwd=Correct-Horse-9-Battery",
        "--data-urlencode",
        "wp-submit=Log In",
        "--data-urlencode",
        &format!("redirect_to={base}/wp-admin/"),
        "--data-urlencode",
        "testcookie=1",
        &format!("{base}/wp-login.php"),
    ]);
    assert_eq!(r.status, 302, "login did not redirect: {}", r.body);
    assert_eq!(
        r.header("location").as_deref(),
        Some(format!("{base}/wp-admin/").as_str())
    );
    let r = curl(&["-c", jar, "-b", jar, &format!("{base}/wp-admin/")]);
    assert_eq!(r.status, 200);
    assert!(r.body.contains("Dashboard"), "{}", r.body);

    // 3. Media upload through the REST API, as the block editor does.
    let nonce = curl(&[
        "-c",
        jar,
        "-b",
        jar,
        &format!("{base}/wp-admin/admin-ajax.php?action=rest-nonce"),
    ])
    .body;
    assert!(
        nonce.len() >= 8 && nonce.chars().all(|c| c.is_ascii_alphanumeric()),
        "rest nonce: {nonce:?}"
    );
    let png = scratch.path().join("pixel.png");
    let made = Command::new("php")
        .args(["-r", &format!("$i = imagecreatetruecolor(64, 48); imagefill($i, 0, 0, imagecolorallocate($i, 200, 30, 30)); imagepng($i, '{}');", png.display())])
        .status()
        .unwrap();
    assert!(made.success(), "php-gd makes the test image");
    let r = curl(&[
        "-c",
        jar,
        "-b",
        jar,
        "-X",
        "POST",
        "-H",
        &format!("X-WP-Nonce: {nonce}"),
        "-H",
        "Content-Disposition: attachment; filename=pixel.png",
        "-H",
        "Content-Type: image/png",
        "--data-binary",
        &format!("@{}", png.display()),
        &format!("{base}/?rest_route=/wp/v2/media"),
    ]);
    assert_eq!(r.status, 201, "upload: {}\n{}", r.body, stack.stderr_text());
    let media: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    let source = media["source_url"].as_str().unwrap().to_string();
    assert!(
        source.starts_with(&format!("{base}/wp-content/uploads/"))
            && source.ends_with("/pixel.png"),
        "{source}"
    );
    let fetched = scratch.path().join("fetched.png");
    let r = curl(&["-o", fetched.to_str().unwrap(), &source]);
    assert_eq!(r.status, 200);
    assert_eq!(
        std::fs::read(&fetched).unwrap(),
        std::fs::read(&png).unwrap(),
        "uploaded file served back unchanged"
    );
    let on_disk = source.replace(&base, &root.join("public_html").display().to_string());
    assert!(
        std::path::Path::new(&on_disk).exists(),
        "{on_disk} written by PHP into the site folder"
    );

    // 4. Pretty permalinks. The installer already probed them over HTTP on this server and, seeing
    // them work, turned on the date-based structure; switch to /%postname%/ as a user would (the
    // browser follows the redirect, which is when WordPress flushes its rules).
    let posts: serde_json::Value =
        serde_json::from_str(&curl(&[&format!("{base}/?rest_route=/wp/v2/posts/1")]).body).unwrap();
    let date_link = posts["link"].as_str().unwrap().to_string();
    assert!(
        date_link.ends_with("/hello-world/") && !date_link.contains('?'),
        "installer enabled pretty permalinks: {date_link}"
    );
    assert_eq!(curl(&[&date_link]).status, 200);
    let page = curl(&[
        "-c",
        jar,
        "-b",
        jar,
        &format!("{base}/wp-admin/options-permalink.php"),
    ])
    .body;
    let wpnonce = between(&page, "name=\"_wpnonce\" value=\"", "\"").expect("permalink form nonce");
    let r = curl(&[
        "-L",
        "-c",
        jar,
        "-b",
        jar,
        "--data-urlencode",
        &format!("_wpnonce={wpnonce}"),
        "--data-urlencode",
        "_wp_http_referer=/wp-admin/options-permalink.php",
        "--data-urlencode",
        "selection=/%postname%/",
        "--data-urlencode",
        "permalink_structure=/%postname%/",
        "--data-urlencode",
        "category_base=",
        "--data-urlencode",
        "tag_base=",
        "--data-urlencode",
        "submit=Save Changes",
        &format!("{base}/wp-admin/options-permalink.php"),
    ]);
    assert_eq!(r.status, 200, "saving permalinks: {}", r.body);
    let posts: serde_json::Value =
        serde_json::from_str(&curl(&[&format!("{base}/?rest_route=/wp/v2/posts/1")]).body).unwrap();
    assert_eq!(
        posts["link"].as_str(),
        Some(format!("{base}/hello-world/").as_str())
    );
    let htaccess = std::fs::read_to_string(root.join("public_html/.htaccess"))
        .expect("WordPress wrote .htaccess");
    assert!(
        htaccess.contains("RewriteRule . /index.php [L]"),
        "{htaccess}"
    );
    let r = curl(&[&format!("{base}/hello-world/")]);
    assert_eq!(
        r.status,
        200,
        "{}\n{}\n{}",
        &r.body[..r.body.len().min(600)],
        stack.stdout_text(),
        stack.stderr_text()
    );
    assert!(
        r.body.contains("Hello world!"),
        "the first post under its pretty permalink"
    );
    assert_eq!(curl(&[&format!("{base}/no-such-post/")]).status, 404);

    // 5. The admin's PHP session is in DynamoDB under the site's prefix.
    let items = dynamodb(
        &moto.endpoint(),
        "Scan",
        &serde_json::json!({"TableName": "sessions"}),
    );
    let admin_sessions: Vec<String> = items["Items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["id"]["S"].as_str().unwrap().starts_with("shop#"))
        .filter_map(|i| i["data"]["B"].as_str())
        .map(|b| {
            let out = Command::new("base64")
                .arg("-d")
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .spawn()
                .and_then(|mut c| {
                    use std::io::Write;
                    c.stdin.take().unwrap().write_all(b.as_bytes())?;
                    c.wait_with_output()
                })
                .unwrap();
            String::from_utf8_lossy(&out.stdout).into_owned()
        })
        .filter(|d| d.contains("wp_user|s:5:\"admin\""))
        .collect();
    assert_eq!(admin_sessions.len(), 1, "{items}");
    assert!(
        admin_sessions[0].contains("admin_views|i:"),
        "{}",
        admin_sessions[0]
    );
    assert!(
        !stack.stderr_text().contains("idealstack-session"),
        "{}",
        stack.stderr_text()
    );
    // The server refuses plain connections: WordPress got this far over TLS, with the flags the
    // prepend gives it (the certificate verified against IDEALSTACK_DATABASE_CA_FILE).
    let r = curl(&[&format!("{base}/tls.php")]);
    assert!(r.body.starts_with("verify=yes\ncipher=TLS"), "{r:?}");
}
