//! Stock WordPress (Debian's package, MariaDB) on the runtime config: installed through its web
//! installer, an admin logs in, uploads a media file, pretty permalinks resolve through the
//! .htaccess WordPress writes, and PHP sessions used by plugins live in DynamoDB.
//!
//! WordPress core keeps logins in its own cookies and database, not in PHP sessions; plugins
//! (shops, forms, SSO) use `$_SESSION`. A must-use plugin here plays such a plugin on every admin
//! page, so the admin's session is checked in DynamoDB.

mod runtime_support;
mod wordpress_support;

use idealstack_testbed::scratch_dir;
use runtime_support::*;
use wordpress_support::*;

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
    let browser = Browser::new(&stack.url(""), &[], &scratch.path().join("cookies.txt"));
    let context = || stack.stderr_text();

    // 1. The web installer; 2. admin login.
    browser.install(context);
    browser.login();

    // 3. Media upload through the REST API, as the block editor does; the file is in the site folder.
    let png = scratch.path().join("pixel.png");
    test_png(&png);
    let source = browser.upload_media(&png, scratch.path());
    let on_disk = source.replace(
        &browser.base,
        &root.join("public_html").display().to_string(),
    );
    assert!(
        std::path::Path::new(&on_disk).exists(),
        "{on_disk} written by PHP into the site folder"
    );

    // 4. Pretty permalinks. The installer already probed them over HTTP on this server and, seeing
    // them work, turned on the date-based structure; the user switches to /%postname%/.
    let posts: serde_json::Value =
        serde_json::from_str(&browser.get("/?rest_route=/wp/v2/posts/1").body).unwrap();
    let date_link = posts["link"].as_str().unwrap().to_string();
    assert!(
        date_link.ends_with("/hello-world/") && !date_link.contains('?'),
        "installer enabled pretty permalinks: {date_link}"
    );
    browser.pretty_permalinks(|| format!("{}\n{}", stack.stdout_text(), stack.stderr_text()));
    let htaccess = std::fs::read_to_string(root.join("public_html/.htaccess"))
        .expect("WordPress wrote .htaccess");
    assert!(
        htaccess.contains("RewriteRule . /index.php [L]"),
        "{htaccess}"
    );

    // 5. The admin's PHP session is in DynamoDB under the site's prefix.
    let items = dynamodb(
        &moto.endpoint(),
        "Scan",
        &serde_json::json!({"TableName": "sessions"}),
    );
    let admin_sessions: Vec<String> = decoded_sessions(&items, "shop#")
        .into_iter()
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
    let r = browser.get("/tls.php");
    assert!(r.body.starts_with("verify=yes\ncipher=TLS"), "{r:?}");
}
