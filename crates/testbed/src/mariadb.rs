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
        let child = Command::new(system_tool("mariadbd"))
            .args([
                "--no-defaults",
                "--user=mysql",
                "--bind-address=127.0.0.1",
                "--skip-name-resolve",
            ])
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
