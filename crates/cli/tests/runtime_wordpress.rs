//! Stock WordPress (Debian's package, MariaDB) on the runtime config: installed through its web
//! installer, an admin logs in, uploads a media file, pretty permalinks resolve through the
//! .htaccess WordPress writes, PHP sessions used by plugins live in DynamoDB, and the manifest's
//! PHP settings decide what WordPress accepts.
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

    // 6. PHP settings. A 40 MB file goes into the media library with the runtime's defaults
    // (upload_max_filesize 64M)...
    // (Prose: separators would make PHP's finfo call it CSV, which WordPress refuses as .txt.)
    let big = scratch.path().join("manual.txt");
    let line = "The quick brown fox jumps over the lazy dog and keeps running page after page.\n";
    std::fs::write(&big, line.repeat((40 << 20) / line.len())).unwrap();
    let r = browser.upload_file(&big);
    assert_eq!(r.status, 201, "40 MB with the defaults: {}", r.body);
    // ...and is refused by PHP, as WordPress reports it, once the manifest sets
    // `upload_max_filesize = "16M"`: the container variables of the site's rendered template,
    // passed as ECS passes them, restart the site.
    put(
        &root,
        "ini.php",
        "<?php echo ini_get('upload_max_filesize'), ' ', ini_get('max_input_vars'), ' ', date_default_timezone_get();",
    );
    drop(stack);
    let mut opts = opts;
    for (name, value) in site_php_environment(
        scratch.path(),
        r#"{ upload_max_filesize = "16M", max_input_vars = 5000, timezone = "Europe/Berlin" }"#,
    ) {
        opts = opts.env(&name, value);
    }
    let stack = Stack::start(&opts, scratch.path());
    let browser = Browser::new(&stack.url(""), &[], &scratch.path().join("cookies.txt"));
    assert_eq!(browser.get("/ini.php").body, "16M 5000 Europe/Berlin");
    let r = browser.upload_file(&big);
    assert!(
        r.status >= 400 && r.body.contains("upload_max_filesize"),
        "40 MB with upload_max_filesize = 16M: {r:?}"
    );
    assert!(
        !stack.stderr_text().contains("entrypoint:"),
        "{}",
        stack.stderr_text()
    );
}

/// The PHP settings variables (`IDEALSTACK_INI_*`) and the worker count of site `shop` with
/// `php_settings = <settings>`, read from the task definition `idealstack plan --out` renders.
fn site_php_environment(scratch: &std::path::Path, settings: &str) -> Vec<(String, String)> {
    let dir = scratch.join("manifest");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("idealstack.toml"),
        format!("[stack]\nname = \"acme\"\nregion = \"eu-west-1\"\n\n[[sites]]\nname = \"shop\"\ndomains = [\"shop.example.com\"]\nphp_settings = {settings}\n"),
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_idealstack"))
        .args(["plan", "--out", "build"])
        .current_dir(&dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let template: serde_json::Value =
        serde_json::from_str(&read(&dir.join("build/acme-site-shop.template.json"))).unwrap();
    let env = template["Resources"]["TaskDefinition"]["Properties"]["ContainerDefinitions"][0]
        ["Environment"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["Name"].as_str().unwrap().to_owned(), e["Value"].as_str().unwrap_or_default().to_owned()))
        .filter(|(name, _)| name.starts_with("IDEALSTACK_INI_") || name == "IDEALSTACK_FPM_MAX_CHILDREN")
        .collect::<Vec<_>>();
    assert_eq!(env.len(), 4, "{env:?}");
    env
}
