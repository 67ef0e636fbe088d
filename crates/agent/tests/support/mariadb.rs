//! A MariaDB server (Debian's mariadb-server) on a loopback port with its data in a scratch
//! folder, and an administrative user standing for the RDS master user. Adapted from the PHP
//! runtime's test support (crates/cli/tests/runtime_support), which this crate cannot import.

use idealstack_testbed::{ChildGuard, free_port, system_tool, wait_for_port};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

pub struct MariaDb {
    _guard: ChildGuard,
    pub port: u16,
    pub socket: PathBuf,
}

pub const ADMIN: &str = "admin";
pub const ADMIN_PASSWORD: &str = "adminPW123";

impl MariaDb {
    pub fn start(scratch: &Path) -> MariaDb {
        let datadir = scratch.join("mysql-data");
        std::fs::create_dir_all(&datadir).unwrap();
        let chown = |args: &[&str], path: &Path| {
            let status = Command::new("chown")
                .args(args)
                .arg(path)
                .status()
                .expect("chown");
            assert!(status.success(), "chown {}", path.display());
        };
        chown(&["mysql:mysql"], scratch);
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
            .arg(format!(
                "--pid-file={}",
                scratch.join("mariadb.pid").display()
            ))
            .arg("--innodb-buffer-pool-size=32M")
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
        let db = MariaDb {
            _guard: guard,
            port,
            socket,
        };
        db.sql(&format!(
            "CREATE USER '{ADMIN}'@'%' IDENTIFIED BY '{ADMIN_PASSWORD}'; \
             GRANT ALL PRIVILEGES ON *.* TO '{ADMIN}'@'%' WITH GRANT OPTION;"
        ));
        db
    }

    /// Runs SQL as root over the socket.
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
