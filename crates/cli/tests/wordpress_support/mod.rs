//! What a person does with stock WordPress in a browser, as curl calls: the web installer, the
//! admin login, a media upload through the REST API (as the block editor does it), and switching
//! to pretty permalinks. Shared by the runtime test (WordPress on the image's config, on loopback)
//! and the journey through `idealstack local` (WordPress behind the local router, by its domain).
//! Needs `mod runtime_support;` beside it (its curl).

#![allow(dead_code)]

use crate::runtime_support::{Response, curl};
use std::path::Path;
use std::process::Command;

/// A must-use plugin that plays one keeping per-user state in `$_SESSION` on admin pages (shops,
/// forms and SSO plugins do; WordPress core keeps logins in its own cookies and database).
pub const SESSION_PROBE: &str = r#"<?php
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

pub const ADMIN: &str = "admin";
pub const PASSWORD: &str = "Correct-Horse-9-Battery";

/// A browser on one WordPress site: its base URL, curl arguments that reach it (`--resolve` for
/// a site behind the local router), and a cookie jar.
pub struct Browser {
    pub base: String,
    pub reach: Vec<String>,
    pub jar: String,
}

impl Browser {
    pub fn new(base: &str, reach: &[String], jar: &Path) -> Browser {
        Browser {
            base: base.to_string(),
            reach: reach.to_vec(),
            jar: jar.display().to_string(),
        }
    }

    /// curl with the reach arguments, the cookie jar and `args`.
    pub fn curl(&self, args: &[&str]) -> Response {
        let mut all: Vec<&str> = self.reach.iter().map(String::as_str).collect();
        all.extend(["-c", &self.jar, "-b", &self.jar]);
        all.extend(args);
        curl(&all)
    }

    /// `GET base + path`.
    pub fn get(&self, path: &str) -> Response {
        self.curl(&[&format!("{}{path}", self.base)])
    }

    /// `POST base + path` of url-encoded `fields` (`-L`: follows the redirect as a browser does).
    pub fn post(&self, path: &str, fields: &[(&str, &str)], follow: bool) -> Response {
        let encoded: Vec<String> = fields.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let mut args: Vec<&str> = vec!["-X", "POST"];
        if follow {
            args.push("-L");
        }
        for f in &encoded {
            args.extend(["--data-urlencode", f.as_str()]);
        }
        let url = format!("{}{path}", self.base);
        args.push(&url);
        self.curl(&args)
    }

    /// The web installer, both steps; panics with `context()` unless it reports success.
    pub fn install(&self, context: impl Fn() -> String) {
        let r = self.get("/wp-admin/install.php?step=1");
        assert_eq!(r.status, 200, "installer page: {}", context());
        assert!(
            r.body.contains("admin_password"),
            "installer form not shown: {}",
            r.body
        );
        let r = self.post(
            "/wp-admin/install.php?step=2",
            &[
                ("weblog_title", "Idealstack Shop"),
                ("user_name", ADMIN),
                ("admin_password", PASSWORD),
                ("admin_password2", PASSWORD),
                ("pw_weak", "on"),
                ("admin_email", "admin@shop.example"),
                ("blog_public", "0"),
                ("Submit", "Install WordPress"),
                ("language", ""),
            ],
            false,
        );
        assert!(
            r.body.contains("Success!"),
            "install failed ({}): {}\n{}",
            r.status,
            r.body,
            context()
        );
    }

    /// The admin logs in and sees the dashboard.
    pub fn login(&self) {
        self.get("/wp-login.php");
        let dashboard = format!("{}/wp-admin/", self.base);
        let r = self.post(
            "/wp-login.php",
            &[
                ("log", ADMIN),
                ("pwd", PASSWORD),
                ("wp-submit", "Log In"),
                ("redirect_to", &dashboard),
                ("testcookie", "1"),
            ],
            false,
        );
        assert_eq!(r.status, 302, "login did not redirect: {}", r.body);
        assert_eq!(r.header("location").as_deref(), Some(dashboard.as_str()));
        let r = self.get("/wp-admin/");
        assert_eq!(r.status, 200);
        assert!(r.body.contains("Dashboard"), "{}", r.body);
    }

    /// Uploads `png` as the block editor does; returns the media's URL, checked to serve the same
    /// bytes back.
    pub fn upload_media(&self, png: &Path, scratch: &Path) -> String {
        let nonce = self.rest_nonce();
        let r = self.curl(&[
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
            &format!("{}/?rest_route=/wp/v2/media", self.base),
        ]);
        assert_eq!(r.status, 201, "upload: {}", r.body);
        let media: serde_json::Value = serde_json::from_str(&r.body).unwrap();
        let source = media["source_url"].as_str().unwrap().to_string();
        assert!(
            source.starts_with(&format!("{}/wp-content/uploads/", self.base))
                && source.ends_with("/pixel.png"),
            "{source}"
        );
        let fetched = scratch.join("fetched.png");
        let r = self.curl(&["-o", fetched.to_str().unwrap(), &source]);
        assert_eq!(r.status, 200);
        assert_eq!(
            std::fs::read(&fetched).unwrap(),
            std::fs::read(png).unwrap(),
            "uploaded file served back unchanged"
        );
        source
    }

    /// The logged-in user's REST API nonce, as the admin pages embed it.
    pub fn rest_nonce(&self) -> String {
        let nonce = self.get("/wp-admin/admin-ajax.php?action=rest-nonce").body;
        assert!(
            nonce.len() >= 8 && nonce.chars().all(|c| c.is_ascii_alphanumeric()),
            "rest nonce: {nonce:?}"
        );
        nonce
    }

    /// Uploads `file` to the media library as a multipart form, the way the media uploader
    /// sends files (and the way PHP's `upload_max_filesize` applies); the response as it is.
    pub fn upload_file(&self, file: &Path) -> Response {
        let nonce = self.rest_nonce();
        self.curl(&[
            "-X",
            "POST",
            "-H",
            &format!("X-WP-Nonce: {nonce}"),
            "-F",
            &format!("file=@{};type=text/plain", file.display()),
            &format!("{}/?rest_route=/wp/v2/media", self.base),
        ])
    }

    /// Switches to `/%postname%/` permalinks as a user would (the browser follows the redirect,
    /// which is when WordPress flushes its rules) and checks the first post answers under its
    /// pretty permalink and a missing one is a 404.
    pub fn pretty_permalinks(&self, context: impl Fn() -> String) {
        let page = self.get("/wp-admin/options-permalink.php").body;
        let wpnonce =
            between(&page, "name=\"_wpnonce\" value=\"", "\"").expect("permalink form nonce");
        let r = self.post(
            "/wp-admin/options-permalink.php",
            &[
                ("_wpnonce", wpnonce),
                ("_wp_http_referer", "/wp-admin/options-permalink.php"),
                ("selection", "/%postname%/"),
                ("permalink_structure", "/%postname%/"),
                ("category_base", ""),
                ("tag_base", ""),
                ("submit", "Save Changes"),
            ],
            true,
        );
        assert_eq!(r.status, 200, "saving permalinks: {}", r.body);
        let posts: serde_json::Value =
            serde_json::from_str(&self.get("/?rest_route=/wp/v2/posts/1").body).unwrap();
        assert_eq!(
            posts["link"].as_str(),
            Some(format!("{}/hello-world/", self.base).as_str())
        );
        let r = self.get("/hello-world/");
        assert_eq!(
            r.status,
            200,
            "{}\n{}",
            &r.body[..r.body.len().min(600)],
            context()
        );
        assert!(
            r.body.contains("Hello world!"),
            "the first post under its pretty permalink"
        );
        assert_eq!(self.get("/no-such-post/").status, 404);
    }
}

pub fn between<'a>(text: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let from = text.find(start)? + start.len();
    let len = text[from..].find(end)?;
    Some(&text[from..from + len])
}

/// A 64x48 PNG made with php-gd, at `path`.
pub fn test_png(path: &Path) {
    let made = Command::new("php")
        .args(["-r", &format!("$i = imagecreatetruecolor(64, 48); imagefill($i, 0, 0, imagecolorallocate($i, 200, 30, 30)); imagepng($i, '{}');", path.display())])
        .status()
        .unwrap();
    assert!(made.success(), "php-gd makes the test image");
}

/// PHP sessions (base64 `data`) of items whose id starts with `prefix`, decoded, from a DynamoDB
/// Scan answer.
pub fn decoded_sessions(items: &serde_json::Value, prefix: &str) -> Vec<String> {
    items["Items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| {
            i["id"]["S"]
                .as_str()
                .is_some_and(|id| id.starts_with(prefix))
        })
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
        .collect()
}
