//! RDS as MariaDB: Debian's `mariadbd` on the containers' network, requiring TLS
//! (`require_secure_transport`, as the data stack's parameter group does) with a server
//! certificate for the database's endpoint name issued by the local CA that stands in for the RDS
//! CA (the images carry it as their database CA bundle), and the master user the emulator's RDS
//! master secret names.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// Why the database could not be run.
#[derive(Debug, thiserror::Error)]
pub enum DatabaseError {
    /// A program failed.
    #[error("{what}: {detail}")]
    Failed { what: String, detail: String },
    /// The server's user cannot reach its folder.
    #[error(
        "MariaDB runs as the mysql user and cannot reach {dir}: {blocked} is not searchable by other users; run `chmod o+x {blocked}`, or keep the project in a folder other users can traverse"
    )]
    Unreachable { dir: PathBuf, blocked: PathBuf },
}

/// The first folder on the way to `dir` (absolute) that users other than its owner cannot
/// traverse, if any.
pub fn unreachable_ancestor(dir: &Path) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    dir.ancestors()
        .skip(1)
        .filter(|a| !a.as_os_str().is_empty())
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .find(|a| {
            std::fs::metadata(a)
                .map(|m| m.permissions().mode() & 0o001 == 0)
                .unwrap_or(false)
        })
        .map(Path::to_path_buf)
}

fn failed(what: &str, detail: impl std::fmt::Display) -> DatabaseError {
    DatabaseError::Failed {
        what: what.to_string(),
        detail: detail.to_string(),
    }
}

fn run(cmd: &mut Command, what: &str) -> Result<String, DatabaseError> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| failed(what, e))?;
    if !out.status.success() {
        return Err(failed(what, String::from_utf8_lossy(&out.stderr).trim()));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// A local certificate authority (`ca.pem`, `ca.key` in `dir`), made once.
pub fn ensure_ca(dir: &Path) -> Result<PathBuf, DatabaseError> {
    let cert = dir.join("ca.pem");
    let key = dir.join("ca.key");
    if cert.exists() && key.exists() {
        return Ok(cert);
    }
    std::fs::create_dir_all(dir).map_err(|e| failed(&dir.display().to_string(), e))?;
    run(
        Command::new("openssl")
            .args([
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "3650",
            ])
            .args([
                "-subj",
                "/CN=idealstack local CA (stands in for the Amazon RDS CA)",
            ])
            .arg("-keyout")
            .arg(&key)
            .arg("-out")
            .arg(&cert),
        "openssl: making the local CA",
    )?;
    Ok(cert)
}

/// Issues a server certificate for `names` from the CA in `ca_dir` into `out` (`server.pem`,
/// `server.key`).
pub fn issue(
    ca_dir: &Path,
    out: &Path,
    names: &[String],
) -> Result<(PathBuf, PathBuf), DatabaseError> {
    std::fs::create_dir_all(out).map_err(|e| failed(&out.display().to_string(), e))?;
    let key = out.join("server.key");
    let csr = out.join("server.csr");
    let cert = out.join("server.pem");
    let ext = out.join("server.ext");
    let san: Vec<String> = names.iter().map(|n| format!("DNS:{n}")).collect();
    std::fs::write(
        &ext,
        format!(
            "subjectAltName={}\nextendedKeyUsage=serverAuth\n",
            san.join(",")
        ),
    )
    .map_err(|e| failed(&ext.display().to_string(), e))?;
    run(
        Command::new("openssl")
            .args(["req", "-newkey", "rsa:2048", "-nodes"])
            .args([
                "-subj",
                &format!(
                    "/CN={}",
                    names.first().map(String::as_str).unwrap_or("database")
                ),
            ])
            .arg("-keyout")
            .arg(&key)
            .arg("-out")
            .arg(&csr),
        "openssl: the database's key",
    )?;
    run(
        Command::new("openssl")
            .args(["x509", "-req", "-days", "825"])
            .arg("-in")
            .arg(&csr)
            .arg("-CA")
            .arg(ca_dir.join("ca.pem"))
            .arg("-CAkey")
            .arg(ca_dir.join("ca.key"))
            .arg("-CAcreateserial")
            .arg("-extfile")
            .arg(&ext)
            .arg("-out")
            .arg(&cert),
        "openssl: the database's certificate",
    )?;
    Ok((cert, key))
}

/// A running MariaDB server.
#[derive(Debug)]
pub struct Database {
    child: Child,
    pub socket: PathBuf,
}

impl Database {
    /// Initialises `dir` (once) and starts the server on `address:port` with TLS required.
    pub fn start(
        dir: &Path,
        address: &str,
        port: u16,
        ca: &Path,
        cert: &Path,
        key: &Path,
    ) -> Result<Database, DatabaseError> {
        if let Some(blocked) = unreachable_ancestor(dir) {
            return Err(DatabaseError::Unreachable {
                dir: dir.to_path_buf(),
                blocked,
            });
        }
        let data = dir.join("data");
        let socket = dir.join("mysqld.sock");
        if !data.join("mysql").exists() {
            std::fs::create_dir_all(&data).map_err(|e| failed("database folder", e))?;
            run(
                Command::new("chown").arg("-R").arg("mysql:mysql").arg(dir),
                "chown of the database folder",
            )?;
            run(
                Command::new("mariadb-install-db")
                    .args([
                        "--no-defaults",
                        "--user=mysql",
                        "--auth-root-authentication-method=socket",
                        "--skip-test-db",
                    ])
                    .arg(format!("--datadir={}", data.display())),
                "mariadb-install-db",
            )?;
        }
        for f in [cert, key] {
            let _ = Command::new("chown").arg("mysql:mysql").arg(f).status();
        }
        let child = Command::new("mariadbd")
            .args([
                "--no-defaults",
                "--user=mysql",
                "--skip-name-resolve",
                "--require-secure-transport=ON",
            ])
            .arg(format!("--bind-address={address}"))
            .arg(format!("--port={port}"))
            .arg(format!("--datadir={}", data.display()))
            .arg(format!("--socket={}", socket.display()))
            .arg(format!("--pid-file={}", dir.join("mysqld.pid").display()))
            .arg(format!("--ssl-ca={}", ca.display()))
            .arg(format!("--ssl-cert={}", cert.display()))
            .arg(format!("--ssl-key={}", key.display()))
            .arg("--innodb-buffer-pool-size=64M")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(
                std::fs::File::create(dir.join("mariadb.log"))
                    .map_err(|e| failed("database log", e))?,
            ))
            .spawn()
            .map_err(|e| failed("mariadbd (install mariadb-server: scripts/setup does)", e))?;
        let db = Database { child, socket };
        for _ in 0..120 {
            if db.socket.exists() && db.sql("SELECT 1").is_ok() {
                return Ok(db);
            }
            std::thread::sleep(std::time::Duration::from_millis(250));
        }
        Err(failed(
            "mariadbd",
            format!("did not start; see {}", dir.join("mariadb.log").display()),
        ))
    }

    /// Runs SQL as root over the socket (statements on stdin, never on the command line).
    pub fn sql(&self, statements: &str) -> Result<String, DatabaseError> {
        use std::io::Write;
        let mut child = Command::new("mariadb")
            .args(["--no-defaults", "-uroot", "-N", "-B"])
            .arg(format!("--socket={}", self.socket.display()))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| failed("mariadb client", e))?;
        if let Some(mut stdin) = child.stdin.take() {
            stdin
                .write_all(statements.as_bytes())
                .map_err(|e| failed("mariadb client", e))?;
        }
        let out = child
            .wait_with_output()
            .map_err(|e| failed("mariadb client", e))?;
        if !out.status.success() {
            return Err(failed("SQL", String::from_utf8_lossy(&out.stderr).trim()));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Creates (or updates) the master user RDS would have, over TLS only.
    pub fn master_user(&self, user: &str, password: &str) -> Result<(), DatabaseError> {
        let q = |s: &str| s.replace('\\', "\\\\").replace('\'', "\\'");
        self.sql(&format!(
            "CREATE USER IF NOT EXISTS '{u}'@'%' IDENTIFIED BY '{p}';\nALTER USER '{u}'@'%' IDENTIFIED BY '{p}' REQUIRE SSL;\nGRANT ALL PRIVILEGES ON *.* TO '{u}'@'%' WITH GRANT OPTION;\nFLUSH PRIVILEGES;\n",
            u = q(user),
            p = q(password)
        ))
        .map(|_| ())
    }

    /// Stops the server.
    pub fn stop(&mut self) {
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.wait();
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        self.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn a_private_parent_folder_is_named() {
        let base = std::env::temp_dir().join(format!("idealstack-db-reach-{}", std::process::id()));
        let private = base.join("private");
        let db = private.join("project/db");
        std::fs::create_dir_all(&db).unwrap();
        std::fs::set_permissions(&base, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::set_permissions(&private, std::fs::Permissions::from_mode(0o700)).unwrap();
        assert_eq!(unreachable_ancestor(&db), Some(private.clone()));
        std::fs::set_permissions(&private, std::fs::Permissions::from_mode(0o711)).unwrap();
        assert_eq!(unreachable_ancestor(&db), None);
        std::fs::remove_dir_all(&base).unwrap();
    }
}
