//! A MariaDB server (Debian's mariadb-server) on a loopback port with its data in a scratch
//! folder: the database of the PHP runtime tests (WordPress) and of the agent's per-site
//! database tests, where an administrative user stands for the RDS master user.

use crate::{ChildGuard, free_port, system_tool, wait_for_port};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

/// A running server; stopped when dropped.
#[derive(Debug)]
pub struct MariaDb {
    _guard: ChildGuard,
    /// TCP port on 127.0.0.1.
    pub port: u16,
    /// Unix socket, where root authenticates by socket.
    pub socket: PathBuf,
    /// With [`MariaDb::with_tls`]: the CA that TCP clients verify the server against.
    pub tls_ca: Option<PathBuf>,
}

/// A certificate authority made for one test (the RDS CA's stand-in) and a server certificate
/// it issued for 127.0.0.1 (IP address only: a client that checks names must connect by it).
#[derive(Debug, Clone)]
pub struct TestCa {
    /// The CA certificate (PEM): the bundle clients trust.
    pub ca: PathBuf,
    /// The server's certificate (PEM).
    pub cert: PathBuf,
    /// The server's private key (PEM).
    pub key: PathBuf,
}

impl TestCa {
    /// Makes a CA and a server certificate under `dir` with the openssl command.
    pub fn make(dir: &Path) -> TestCa {
        std::fs::create_dir_all(dir).unwrap();
        let openssl = |args: &[&str]| {
            let out = Command::new(system_tool("openssl"))
                .args(args)
                .current_dir(dir)
                .output()
                .expect("run openssl");
            assert!(
                out.status.success(),
                "openssl {}: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr)
            );
        };
        openssl(&[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "2",
            "-subj",
            "/CN=idealstack test database CA",
        ]);
        openssl(&[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=127.0.0.1",
        ]);
        std::fs::write(dir.join("san.ext"), "subjectAltName=IP:127.0.0.1\n").unwrap();
        openssl(&[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.pem",
            "-days",
            "2",
            "-extfile",
            "san.ext",
        ]);
        use std::os::unix::fs::PermissionsExt;
        for f in ["ca.pem", "server.pem", "server.key"] {
            std::fs::set_permissions(dir.join(f), std::fs::Permissions::from_mode(0o644)).unwrap();
        }
        TestCa {
            ca: dir.join("ca.pem"),
            cert: dir.join("server.pem"),
            key: dir.join("server.key"),
        }
    }
}

/// The administrative user [`MariaDb::with_admin`] makes (the RDS master user's stand-in).
pub const ADMIN: &str = "admin";
/// Its password.
pub const ADMIN_PASSWORD: &str = "adminPW123";

fn chown(args: &[&str], path: &Path) {
    let status = Command::new("chown")
        .args(args)
        .arg(path)
        .status()
        .expect("chown");
    assert!(status.success(), "chown {}", path.display());
}

impl MariaDb {
    /// Initialises a data folder under `scratch` and starts the server on a free port.
    pub fn start(scratch: &Path) -> MariaDb {
        MariaDb::start_with(scratch, None)
    }

    /// [`MariaDb::start`] on a server that, like RDS, refuses connections without TLS
    /// (`require_secure_transport`; root's socket still works) and presents a certificate of `ca`.
    pub fn start_tls(scratch: &Path, ca: &TestCa) -> MariaDb {
        MariaDb::start_with(scratch, Some(ca))
    }

    /// [`MariaDb::with_admin`] on a server that, like RDS, refuses connections without TLS
    /// (`require_secure_transport`) and presents a certificate of `ca`.
    pub fn with_tls(scratch: &Path, ca: &TestCa) -> MariaDb {
        let db = MariaDb::start_with(scratch, Some(ca));
        db.sql(&format!(
            "CREATE USER '{ADMIN}'@'%' IDENTIFIED BY '{ADMIN_PASSWORD}'; \
             GRANT ALL PRIVILEGES ON *.* TO '{ADMIN}'@'%' WITH GRANT OPTION;"
        ));
        db
    }

    fn start_with(scratch: &Path, ca: Option<&TestCa>) -> MariaDb {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(scratch, std::fs::Permissions::from_mode(0o755)).unwrap();
        let datadir = scratch.join("mysql-data");
        let run = scratch.join("mysql-run");
        std::fs::create_dir_all(&datadir).unwrap();
        std::fs::create_dir_all(&run).unwrap();
        chown(&["mysql:mysql"], scratch);
        chown(&["mysql:mysql"], &run);
        chown(&["-R", "mysql:mysql"], &datadir);
        let out = Command::new(system_tool("mariadb-install-db"))
            .args([
                "--no-defaults",
                "--user=mysql",
                "--auth-root-authentication-method=socket",
                "--skip-test-db",
            ])
            .arg(format!("--datadir={}", datadir.display()))
            .output()
            .expect("run mariadb-install-db");
        assert!(
            out.status.success(),
            "mariadb-install-db: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let port = free_port();
        let socket = scratch.join("mysql.sock");
        let mut tls_args = Vec::new();
        if let Some(ca) = ca {
            tls_args.push(format!("--ssl-ca={}", ca.ca.display()));
            tls_args.push(format!("--ssl-cert={}", ca.cert.display()));
            tls_args.push(format!("--ssl-key={}", ca.key.display()));
            tls_args.push("--require-secure-transport=ON".into());
        }
        let child = Command::new(system_tool("mariadbd"))
            .args([
                "--no-defaults",
                "--user=mysql",
                "--bind-address=127.0.0.1",
                "--skip-name-resolve",
            ])
            .args(&tls_args)
            .arg(format!("--datadir={}", datadir.display()))
            .arg(format!("--port={port}"))
            .arg(format!("--socket={}", socket.display()))
            .arg(format!("--pid-file={}", run.join("mariadb.pid").display()))
            .arg("--innodb-buffer-pool-size=64M")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(scratch.join("mariadb.err")).unwrap())
            .spawn()
            .expect("spawn mariadbd");
        let mut guard = ChildGuard::new(child, "mariadbd");
        wait_for_port(
            SocketAddr::from(([127, 0, 0, 1], port)),
            Duration::from_secs(60),
            "mariadbd",
        );
        guard.assert_running();
        MariaDb {
            _guard: guard,
            port,
            socket,
            tls_ca: ca.map(|c| c.ca.clone()),
        }
    }

    /// [`MariaDb::start`], plus the administrative user [`ADMIN`] reachable over TCP.
    pub fn with_admin(scratch: &Path) -> MariaDb {
        let db = MariaDb::start(scratch);
        db.sql(&format!(
            "CREATE USER '{ADMIN}'@'%' IDENTIFIED BY '{ADMIN_PASSWORD}'; \
             GRANT ALL PRIVILEGES ON *.* TO '{ADMIN}'@'%' WITH GRANT OPTION;"
        ));
        db
    }

    /// Runs SQL as the database's root user (socket authentication); panics on failure.
    pub fn sql(&self, sql: &str) -> String {
        let out = Command::new(system_tool("mariadb"))
            .args(["--no-defaults", "-uroot", "-N", "-B"])
            .arg(format!("--socket={}", self.socket.display()))
            .args(["-e", sql])
            .output()
            .expect("run mariadb client");
        assert!(
            out.status.success(),
            "{sql}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Runs SQL as `user` over TCP (as a site's PHP would); Err carries the client's message.
    pub fn sql_as(&self, user: &str, password: &str, sql: &str) -> Result<String, String> {
        let out = Command::new(system_tool("mariadb"))
            .args(["--no-defaults", "-h", "127.0.0.1", "-N", "-B"])
            .arg(format!("--port={}", self.port))
            .arg(format!("--user={user}"))
            .arg(format!("--password={password}"))
            .args(
                self.tls_ca
                    .iter()
                    .flat_map(|ca| ["--ssl".to_string(), format!("--ssl-ca={}", ca.display())]),
            )
            .args(["-e", sql])
            .output()
            .expect("run mariadb client");
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    }
}
