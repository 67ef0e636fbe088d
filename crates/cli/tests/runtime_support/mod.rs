//! Test support for the PHP runtime tests (`runtime_*.rs`): starts the image's entrypoint with
//! Debian's apache2 and php-fpm and the image's own config files, on loopback, and talks to it
//! with curl. Lives here (not in idealstack-testbed) because only these tests need it.

#![allow(dead_code)]

pub mod container;

#[allow(unused_imports)] // runtime_wordpress uses TestCa
pub use idealstack_testbed::mariadb::{MariaDb, TestCa};
use idealstack_testbed::{
    ChildGuard, free_port, project_root, system_tool, venv_tool, wait_for_port,
};
use std::net::SocketAddr;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The shared config folder of the images.
pub fn config_dir() -> PathBuf {
    project_root().join("images/php/config")
}

/// Debian's php-fpm binary (php-fpm8.2 on bookworm, whatever branch is installed).
pub fn php_fpm_bin() -> PathBuf {
    for dir in ["/usr/sbin", "/usr/local/sbin"] {
        if let Ok(entries) = std::fs::read_dir(dir) {
            let mut found: Vec<PathBuf> = entries
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| {
                    p.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| n.starts_with("php-fpm"))
                })
                .collect();
            found.sort();
            if let Some(p) = found.pop() {
                return p;
            }
        }
    }
    panic!(
        "php-fpm is not installed: run scripts/setup (it installs php-fpm from scripts/apt-packages.txt)"
    );
}

/// How to start one "container".
#[derive(Debug, Clone)]
pub struct StackOptions {
    pub site: String,
    /// Shared between stacks to play two containers on one EFS folder.
    pub site_root: PathBuf,
    pub trusted_proxies: String,
    pub env: Vec<(String, String)>,
}

impl StackOptions {
    pub fn new(site_root: &Path) -> StackOptions {
        StackOptions {
            site: "shop".into(),
            site_root: site_root.to_path_buf(),
            trusted_proxies: "127.0.0.2/32".into(),
            env: Vec::new(),
        }
    }

    pub fn env(mut self, key: &str, value: impl Into<String>) -> StackOptions {
        self.env.push((key.into(), value.into()));
        self
    }
}

/// Creates the site folder layout of the EFS contract (public_html/ private/ tmp/), writable by
/// the unprivileged user the workers run as.
pub fn make_site_root(parent: &Path) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let root = parent.join("site");
    for sub in ["public_html", "private", "tmp"] {
        std::fs::create_dir_all(root.join(sub)).unwrap();
    }
    // Whatever the umask, the unprivileged workers (and MariaDB) must reach their folders, as
    // with the 0755 site root of the EFS contract.
    for dir in [parent, root.as_path()] {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    chown_www_data(&root.join("public_html"));
    chown_www_data(&root.join("tmp"));
    root
}

pub fn chown_www_data(path: &Path) {
    let status = Command::new("chown")
        .args(["-R", "www-data:www-data"])
        .arg(path)
        .status()
        .expect("run chown");
    assert!(status.success(), "chown www-data {}", path.display());
}

/// The image's entrypoint as the tests run it: Debian's apache2 and php-fpm, the images' config
/// files, `opts`' site and variables, listening on `port`, scratch in `run_dir`.
pub fn entrypoint(opts: &StackOptions, port: u16, run_dir: &Path) -> Command {
    let cfg = config_dir();
    let mut cmd = Command::new(cfg.join("idealstack/entrypoint.sh"));
    cmd.env_clear()
        .env(
            "PATH",
            "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        )
        .env("IDEALSTACK_SITE", &opts.site)
        .env("IDEALSTACK_PORT", port.to_string())
        .env("IDEALSTACK_SITE_ROOT", &opts.site_root)
        .env("IDEALSTACK_RUN_DIR", run_dir)
        .env("IDEALSTACK_TRUSTED_PROXIES", &opts.trusted_proxies)
        .env("IDEALSTACK_LIB", cfg.join("idealstack"))
        .env("IDEALSTACK_APACHE_CONF", cfg.join("apache/httpd.conf"))
        .env("IDEALSTACK_FPM_CONF", cfg.join("php/php-fpm.conf"))
        .env("IDEALSTACK_APACHE_BIN", system_tool("apache2"))
        .env("IDEALSTACK_PHP_FPM_BIN", php_fpm_bin())
        .env("IDEALSTACK_APACHE_USER", "www-data")
        .env("IDEALSTACK_FPM_MAX_CHILDREN", "8")
        .env("IDEALSTACK_BIN", env!("CARGO_BIN_EXE_idealstack"))
        // The image copies idealstack.ini into PHP's conf.d; Debian's PHP scans this folder too.
        .env(
            "PHP_INI_SCAN_DIR",
            format!(":{}", cfg.join("php").display()),
        );
    for (k, v) in &opts.env {
        cmd.env(k, v);
    }
    cmd
}

/// Apache + php-fpm started through the image's entrypoint; stopped (whole process group) on drop.
#[derive(Debug)]
pub struct Stack {
    guard: Option<ChildGuard>,
    pub port: u16,
    pub run_dir: PathBuf,
    pub stdout: PathBuf,
    pub stderr: PathBuf,
}

impl Stack {
    pub fn start(opts: &StackOptions, scratch: &Path) -> Stack {
        let port = free_port();
        let run_dir = scratch.join(format!("run-{port}"));
        std::fs::create_dir_all(&run_dir).unwrap();
        let stdout = scratch.join(format!("stack-{port}.out"));
        let stderr = scratch.join(format!("stack-{port}.err"));
        let mut cmd = entrypoint(opts, port, &run_dir);
        cmd.stdin(Stdio::null())
            // Appending, as a pipe to the awslogs driver would: Apache and php-fpm share stderr.
            .stdout(append_file(&stdout))
            .stderr(append_file(&stderr))
            .process_group(0);
        let child = cmd
            .spawn()
            .expect("spawn images/php/config/idealstack/entrypoint.sh");
        let mut guard = ChildGuard::new(child, "entrypoint.sh (apache2 + php-fpm)");
        wait_for_port(
            SocketAddr::from(([127, 0, 0, 1], port)),
            Duration::from_secs(20),
            "apache2 from the entrypoint",
        );
        // php-fpm's socket appears a moment after Apache listens.
        let sock = run_dir.join("php-fpm.sock");
        let start = Instant::now();
        while !sock.exists() && start.elapsed() < Duration::from_secs(20) {
            std::thread::sleep(Duration::from_millis(50));
        }
        guard.assert_running();
        assert!(
            sock.exists(),
            "php-fpm did not create {}: {}",
            sock.display(),
            read(&stderr)
        );
        Stack {
            guard: Some(guard),
            port,
            run_dir,
            stdout,
            stderr,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{}", self.port, path)
    }

    /// What the stack wrote to stdout (access log) so far.
    pub fn stdout_text(&self) -> String {
        read(&self.stdout)
    }

    /// What the stack wrote to stderr (error log, PHP messages, sendmail lines) so far.
    pub fn stderr_text(&self) -> String {
        read(&self.stderr)
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        if let Some(guard) = self.guard.take() {
            let pgid = guard.id();
            // php-fpm starts a session of its own, so the group signal below misses it: stop its
            // master by pid file (its workers follow it).
            if let Ok(pid) = std::fs::read_to_string(self.run_dir.join("php-fpm.pid")) {
                let _ = Command::new("kill").args(["-TERM", pid.trim()]).status();
            }
            // TERM the whole group (entrypoint, apache2, sed), then reap.
            let _ = Command::new("kill")
                .args(["-TERM", "--", &format!("-{pgid}")])
                .status();
            std::thread::sleep(Duration::from_millis(300));
            let _ = Command::new("kill")
                .args(["-KILL", "--", &format!("-{pgid}")])
                .stderr(Stdio::null())
                .status();
            drop(guard);
        }
    }
}

fn append_file(path: &Path) -> std::fs::File {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap()
}

pub fn read(path: &Path) -> String {
    String::from_utf8_lossy(&std::fs::read(path).unwrap_or_default()).into_owned()
}

/// An HTTP answer as curl saw it.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: String,
    pub body: String,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<String> {
        let prefix = format!("{}:", name.to_ascii_lowercase());
        self.headers
            .lines()
            .find(|l| l.to_ascii_lowercase().starts_with(&prefix))
            .map(|l| l[prefix.len()..].trim().to_string())
    }
}

/// Runs curl with `args` (plus -sS, a 60 s ceiling) and returns status, headers and body.
pub fn curl(args: &[&str]) -> Response {
    let dir = std::env::temp_dir();
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let tag = format!("{}-{n}", std::process::id());
    let headers_file = dir.join(format!("idealstack-curl-{tag}.h"));
    let out = Command::new(system_tool("curl"))
        .args(["-sS", "--max-time", "60", "-H", "Expect:", "-D"])
        .arg(&headers_file)
        .args(["-w", "\n%{http_code}"])
        .args(args)
        .output()
        .expect("run curl");
    let headers = read(&headers_file);
    let _ = std::fs::remove_file(&headers_file);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = stdout.rsplit_once('\n').unwrap_or(("", "000"));
    Response {
        status: code.trim().parse().unwrap_or(0),
        headers,
        body: body.to_string(),
    }
}

/// moto with requests applied one at a time (see moto_serial.py for the named gap).
#[derive(Debug)]
pub struct SerialMoto {
    _guard: ChildGuard,
    pub port: u16,
}

impl SerialMoto {
    pub fn start() -> SerialMoto {
        let python = venv_tool("python");
        let port = free_port();
        let script =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/runtime_support/moto_serial.py");
        let child = Command::new(python)
            .arg(script)
            .arg(port.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn moto_serial.py");
        let mut guard = ChildGuard::new(child, "moto_serial.py");
        wait_for_port(
            SocketAddr::from(([127, 0, 0, 1], port)),
            Duration::from_secs(60),
            "moto_serial.py",
        );
        guard.assert_running();
        SerialMoto {
            _guard: guard,
            port,
        }
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

/// Environment for a stack that talks to the emulator at `endpoint`.
pub fn aws_env(opts: StackOptions, endpoint: &str) -> StackOptions {
    opts.env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-east-1")
}

/// Calls a DynamoDB JSON action on the emulator (moto does not check signatures).
pub fn dynamodb(endpoint: &str, action: &str, payload: &serde_json::Value) -> serde_json::Value {
    let body = payload.to_string();
    let r = curl(&[
        "-X",
        "POST",
        "-H",
        &format!("X-Amz-Target: DynamoDB_20120810.{action}"),
        "-H",
        "Content-Type: application/x-amz-json-1.0",
        "-H",
        "Authorization: AWS4-HMAC-SHA256 Credential=testing/20261126/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=0",
        "--data-binary",
        &body,
        &format!("{endpoint}/"),
    ]);
    assert_eq!(
        r.status, 200,
        "DynamoDB {action} on the emulator: {}",
        r.body
    );
    serde_json::from_str(&r.body).expect("DynamoDB answer is JSON")
}

/// Creates the sessions table the data stack creates (key `id`, TTL attribute `expires`).
pub fn create_sessions_table(endpoint: &str, table: &str) {
    dynamodb(
        endpoint,
        "CreateTable",
        &serde_json::json!({
            "TableName": table,
            "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}],
            "AttributeDefinitions": [{"AttributeName": "id", "AttributeType": "S"}],
            "BillingMode": "PAY_PER_REQUEST"
        }),
    );
    dynamodb(
        endpoint,
        "UpdateTimeToLive",
        &serde_json::json!({
            "TableName": table,
            "TimeToLiveSpecification": {"Enabled": true, "AttributeName": "expires"}
        }),
    );
}

/// Writes a file into the site's document root, readable by the workers whatever the umask.
pub fn put(site_root: &Path, rel: &str, content: &str) {
    use std::os::unix::fs::PermissionsExt;
    let docroot = site_root.join("public_html");
    let path = docroot.join(rel);
    let mut dir = path.parent().unwrap().to_path_buf();
    std::fs::create_dir_all(&dir).unwrap();
    while dir.starts_with(&docroot) {
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        if !dir.pop() {
            break;
        }
    }
    std::fs::write(&path, content).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
}

/// Copies Debian's WordPress into the site's document root with a wp-config.php for `db_port`,
/// owned by the workers' user (WordPress writes uploads and .htaccess).
pub fn install_wordpress_files(site_root: &Path, db_port: u16) {
    let docroot = site_root.join("public_html");
    let status = Command::new("cp")
        .args(["-a", "/usr/share/wordpress/."])
        .arg(&docroot)
        .status()
        .expect("cp wordpress");
    assert!(
        status.success(),
        "copy /usr/share/wordpress (install the wordpress package: scripts/setup)"
    );
    // Debian links .htaccess and wp-config.php to /etc/wordpress; the site owns its own.
    let _ = std::fs::remove_file(docroot.join(".htaccess"));
    std::fs::write(
        docroot.join("wp-config.php"),
        format!(
            r#"<?php
define('DB_NAME', 'wordpress');
define('DB_USER', 'wp');
define('DB_PASSWORD', 'wp-password');
define('DB_HOST', '127.0.0.1:{db_port}');
define('DB_CHARSET', 'utf8mb4');
define('DB_COLLATE', '');
define('AUTH_KEY', 'test-auth-key'); define('SECURE_AUTH_KEY', 'test-secure-auth-key');
define('LOGGED_IN_KEY', 'test-logged-in-key'); define('NONCE_KEY', 'test-nonce-key');
define('AUTH_SALT', 'test-auth-salt'); define('SECURE_AUTH_SALT', 'test-secure-auth-salt');
define('LOGGED_IN_SALT', 'test-logged-in-salt'); define('NONCE_SALT', 'test-nonce-salt');
define('WP_CONTENT_DIR', __DIR__ . '/wp-content');
define('FS_METHOD', 'direct');
define('DISABLE_WP_CRON', true);
define('WP_HTTP_BLOCK_EXTERNAL', true);
$table_prefix = 'wp_';
if (!defined('ABSPATH')) {{ define('ABSPATH', __DIR__ . '/'); }}
require_once ABSPATH . 'wp-settings.php';
"#
        ),
    )
    .unwrap();
    chown_www_data(&docroot);
}

/// Creates the WordPress database and its user.
pub fn create_wordpress_db(db: &MariaDb) {
    db.sql("CREATE DATABASE wordpress; CREATE USER 'wp'@'127.0.0.1' IDENTIFIED BY 'wp-password'; GRANT ALL ON wordpress.* TO 'wp'@'127.0.0.1';");
}
