//! Per-site databases on the stack's MySQL/MariaDB: for each site that asks for one, a database
//! and a user whose password comes from the site's Secrets Manager secret, with privileges on that
//! database only. Idempotent: a pass that finds everything in place changes nothing; a rotated
//! password (the secret changed) is noticed by a login probe and applied.
//!
//! Removing a site never drops anything here: the database stays unless the user asks otherwise.

use crate::ports::{PortError, PortFuture, SiteCredentials};
use mysql_async::prelude::Queryable;
use mysql_async::{Opts, OptsBuilder, Pool};

/// Errors of the database work.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum DatabaseError {
    /// A name in a site secret is not a safe identifier.
    #[error(
        "site {site}: {what} `{value}` in its database secret is not valid: expected 1-{max} letters, digits or `_`; fix the secret's {what} field"
    )]
    Name {
        /// Site.
        site: String,
        /// `dbname` or `username`.
        what: &'static str,
        /// The value.
        value: String,
        /// Longest allowed.
        max: usize,
    },
    /// The password holds characters the agent will not put in SQL.
    #[error(
        "site {0}: the password in its database secret has characters other than ASCII letters, digits and -_.~!@#%^*+=: rotate it with GenerateSecretString ExcludePunctuation"
    )]
    Password(String),
    /// The server refused or failed.
    #[error("database server: {0}")]
    Server(String),
    /// TLS is required but no CA bundle is configured.
    #[error(
        "the database requires TLS and IDEALSTACK_DATABASE_CA_FILE is not set: set it to the PEM bundle of the database server's CA (the idealstack image ships {DEFAULT_CA_FILE})"
    )]
    NoCaFile,
    /// The CA bundle cannot be used.
    #[error(
        "IDEALSTACK_DATABASE_CA_FILE {path}: {why}: expected a PEM bundle of the database server's CA certificates (the idealstack image ships {DEFAULT_CA_FILE}); fix the variable or the image"
    )]
    CaFile {
        /// The file.
        path: String,
        /// What is wrong with it.
        why: String,
    },
}

/// Where the idealstack images keep the RDS CA bundle (and set `IDEALSTACK_DATABASE_CA_FILE` to).
pub const DEFAULT_CA_FILE: &str = "/usr/local/share/idealstack/database-ca.pem";

/// How the agent's connections to the database server are secured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tls {
    /// Plain TCP (`IDEALSTACK_DATABASE_TLS=false`: a server without TLS, tests only).
    Off,
    /// TLS verified against the CA certificates of this PEM file only (RDS's bundle, not the
    /// public web roots), and the server's certificate must name the host connected to.
    Verified(std::path::PathBuf),
}

impl Tls {
    /// TLS when `required` (RDS sets `require_secure_transport`), verified against `ca_file`
    /// (`IDEALSTACK_DATABASE_CA_FILE`); an error when required and not given.
    pub fn new(required: bool, ca_file: Option<std::path::PathBuf>) -> Result<Tls, DatabaseError> {
        match (required, ca_file) {
            (false, _) => Ok(Tls::Off),
            (true, Some(path)) => Ok(Tls::Verified(path)),
            (true, None) => Err(DatabaseError::NoCaFile),
        }
    }

    /// The CA bundle's bytes, checked to hold at least one PEM certificate.
    fn roots(&self) -> Result<Option<Vec<u8>>, DatabaseError> {
        let Tls::Verified(path) = self else {
            return Ok(None);
        };
        let fail = |why: String| DatabaseError::CaFile {
            path: path.display().to_string(),
            why,
        };
        let pem = std::fs::read(path).map_err(|e| fail(format!("cannot be read ({e})")))?;
        if !pem.windows(27).any(|w| w == b"-----BEGIN CERTIFICATE-----") {
            return Err(fail("holds no PEM certificate".into()));
        }
        Ok(Some(pem))
    }
}

impl From<DatabaseError> for PortError {
    fn from(e: DatabaseError) -> Self {
        PortError::new("database", "ensure", e.to_string())
    }
}

/// Where the stack's database server is and how the agent logs in (the master secret).
#[derive(Clone)]
pub struct ServerAccess {
    /// Host name or address.
    pub host: String,
    /// Port.
    pub port: u16,
    /// Administrative user.
    pub user: String,
    /// Its password.
    pub password: String,
    /// TLS (required by RDS) and whom it trusts.
    pub tls: Tls,
}

impl std::fmt::Debug for ServerAccess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerAccess")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("user", &self.user)
            .field("tls", &self.tls)
            .finish_non_exhaustive()
    }
}

fn opts(
    access: &ServerAccess,
    roots: Option<&[u8]>,
    user: &str,
    password: &str,
    db: Option<&str>,
) -> Opts {
    let mut b = OptsBuilder::default()
        .ip_or_hostname(access.host.clone())
        .tcp_port(access.port)
        .user(Some(user.to_string()))
        .pass(Some(password.to_string()))
        .db_name(db.map(str::to_string))
        .prefer_socket(false);
    if let Some(roots) = roots {
        // Only the bundle's CAs, and the certificate must name the host (the defaults of
        // mysql_async's rustls: domain validated, invalid certificates refused).
        b = b.ssl_opts(Some(
            mysql_async::SslOpts::default()
                .with_root_certs(vec![roots.to_vec().into()])
                .with_disable_built_in_roots(true),
        ));
    }
    b.into()
}

fn check_ident(
    site: &str,
    what: &'static str,
    value: &str,
    max: usize,
) -> Result<(), DatabaseError> {
    if value.is_empty()
        || value.len() > max
        || !value.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    {
        return Err(DatabaseError::Name {
            site: site.into(),
            what,
            value: value.into(),
            max,
        });
    }
    Ok(())
}

/// Validates a site's credentials before any of it reaches SQL.
pub fn validate(creds: &SiteCredentials) -> Result<(), DatabaseError> {
    check_ident(&creds.site, "dbname", &creds.database, 64)?;
    check_ident(&creds.site, "username", &creds.user, 32)?;
    let ok = |c: char| c.is_ascii_alphanumeric() || "-_.~!@#%^*+=".contains(c);
    if creds.password.is_empty() || creds.password.len() > 128 || !creds.password.chars().all(ok) {
        return Err(DatabaseError::Password(creds.site.clone()));
    }
    Ok(())
}

/// The database name as a grant pattern (`_` is a wildcard in grants: escape it).
fn grant_pattern(db: &str) -> String {
    db.replace('_', "\\_")
}

fn server_error(e: mysql_async::Error) -> DatabaseError {
    DatabaseError::Server(e.to_string())
}

async fn database_exists(conn: &mut mysql_async::Conn, name: &str) -> Result<bool, DatabaseError> {
    let found: Option<String> = conn
        .exec_first(
            "SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?",
            (name,),
        )
        .await
        .map_err(server_error)?;
    Ok(found.is_some())
}

/// Whether `user`@`%` exists (the host every site user is made for).
async fn user_exists(conn: &mut mysql_async::Conn, user: &str) -> Result<bool, DatabaseError> {
    let count: Option<u64> = conn
        .exec_first(
            "SELECT COUNT(*) FROM mysql.user WHERE User = ? AND Host = '%'",
            (user,),
        )
        .await
        .map_err(server_error)?;
    Ok(count.unwrap_or(0) > 0)
}

/// Per-site databases on one server.
#[derive(Debug)]
pub struct MysqlDatabases {
    access: ServerAccess,
    roots: Option<Vec<u8>>,
    pool: Pool,
}

impl MysqlDatabases {
    /// Connects lazily to the server in `access`; reads the CA bundle now, so a missing or
    /// unreadable one is reported as such (not as a failed handshake).
    pub fn new(access: ServerAccess) -> Result<Self, DatabaseError> {
        let roots = access.tls.roots()?;
        if roots.is_some() {
            // Already installed (by an earlier call or another part of the process) is fine.
            let _ = rustls::crypto::ring::default_provider().install_default();
        }
        let pool = Pool::new(opts(
            &access,
            roots.as_deref(),
            &access.user,
            &access.password,
            None,
        ));
        Ok(MysqlDatabases {
            access,
            roots,
            pool,
        })
    }

    /// Whether `user` logs in with `password` (a login probe: engine-neutral, unlike hashes).
    async fn logs_in(&self, user: &str, password: &str, db: &str) -> bool {
        let opts = opts(
            &self.access,
            self.roots.as_deref(),
            user,
            password,
            Some(db),
        );
        match mysql_async::Conn::new(opts).await {
            Ok(conn) => {
                let _ = conn.disconnect().await;
                true
            }
            Err(_) => false,
        }
    }

    /// Makes the site's database, user, password and grants right; returns the changes.
    pub async fn ensure_site(&self, c: &SiteCredentials) -> Result<Vec<String>, DatabaseError> {
        validate(c)?;
        let server = |e: mysql_async::Error| DatabaseError::Server(e.to_string());
        let mut conn = self.pool.get_conn().await.map_err(server)?;
        let mut changes = Vec::new();
        if !database_exists(&mut conn, &c.database).await? {
            conn.query_drop(format!(
                "CREATE DATABASE IF NOT EXISTS `{}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci",
                c.database
            ))
            .await
            .map_err(server)?;
            changes.push(format!("database {} created", c.database));
        }
        if !user_exists(&mut conn, &c.user).await? {
            conn.query_drop(format!(
                "CREATE USER '{}'@'%' IDENTIFIED BY '{}'",
                c.user, c.password
            ))
            .await
            .map_err(server)?;
            changes.push(format!("user {} created", c.user));
        }
        // Privileges: all on its own database, nothing on any other.
        let grantee = format!("'{}'@'%'", c.user);
        let pattern = grant_pattern(&c.database);
        let schemas: Vec<String> = conn
            .exec(
                "SELECT DISTINCT TABLE_SCHEMA FROM information_schema.SCHEMA_PRIVILEGES WHERE GRANTEE = ?",
                (grantee.as_str(),),
            )
            .await
            .map_err(server)?;
        for other in schemas.iter().filter(|s| **s != pattern) {
            conn.query_drop(format!(
                "REVOKE ALL PRIVILEGES ON `{}`.* FROM {grantee}",
                other.replace('`', "``")
            ))
            .await
            .map_err(server)?;
            changes.push(format!("privileges on {other} revoked"));
        }
        if !schemas.contains(&pattern) {
            conn.query_drop(format!(
                "GRANT ALL PRIVILEGES ON `{pattern}`.* TO {grantee}"
            ))
            .await
            .map_err(server)?;
            changes.push(format!("privileges on {} granted", c.database));
        }
        drop(conn);
        if !self.logs_in(&c.user, &c.password, &c.database).await {
            let mut conn = self.pool.get_conn().await.map_err(server)?;
            conn.query_drop(format!(
                "ALTER USER '{}'@'%' IDENTIFIED BY '{}'",
                c.user, c.password
            ))
            .await
            .map_err(server)?;
            changes.push(format!("password of {} set from its secret", c.user));
        }
        Ok(changes)
    }

    /// Drops a removed site's database and its user; returns what existed and was dropped.
    /// Idempotent.
    pub async fn drop_site(
        &self,
        site: &str,
        database: &str,
        user: &str,
    ) -> Result<Vec<String>, DatabaseError> {
        check_ident(site, "dbname", database, 64)?;
        check_ident(site, "username", user, 32)?;
        let server = |e: mysql_async::Error| DatabaseError::Server(e.to_string());
        let mut conn = self.pool.get_conn().await.map_err(server)?;
        let mut changes = Vec::new();
        if database_exists(&mut conn, database).await? {
            conn.query_drop(format!("DROP DATABASE IF EXISTS `{database}`"))
                .await
                .map_err(server)?;
            changes.push(format!("database {database} dropped"));
        }
        if user_exists(&mut conn, user).await? {
            conn.query_drop(format!("DROP USER IF EXISTS '{user}'@'%'"))
                .await
                .map_err(server)?;
            changes.push(format!("user {user} dropped"));
        }
        Ok(changes)
    }

    /// Closes the pool.
    pub async fn close(self) {
        let _ = self.pool.disconnect().await;
    }
}

impl crate::ports::Databases for MysqlDatabases {
    fn ensure<'a>(&'a self, creds: &'a SiteCredentials) -> PortFuture<'a, Vec<String>> {
        Box::pin(async move { self.ensure_site(creds).await.map_err(PortError::from) })
    }
    fn drop_site<'a>(
        &'a self,
        site: &'a str,
        database: &'a str,
        user: &'a str,
    ) -> PortFuture<'a, Vec<String>> {
        Box::pin(async move {
            self.drop_site(site, database, user)
                .await
                .map_err(PortError::from)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn creds(db: &str, user: &str, pw: &str) -> SiteCredentials {
        SiteCredentials {
            site: "shop".into(),
            database: db.into(),
            user: user.into(),
            password: pw.into(),
        }
    }

    #[test]
    fn rejects_what_could_break_out_of_sql() {
        assert!(validate(&creds("shop", "shop", "abcDEF123")).is_ok());
        assert!(matches!(
            validate(&creds("shop`; DROP", "shop", "x")),
            Err(DatabaseError::Name { what: "dbname", .. })
        ));
        assert!(matches!(
            validate(&creds("shop", "a'b", "x")),
            Err(DatabaseError::Name {
                what: "username",
                ..
            })
        ));
        assert_eq!(
            validate(&creds("shop", "shop", "it's")),
            Err(DatabaseError::Password("shop".into()))
        );
        assert!(validate(&creds("shop", &"u".repeat(33), "x")).is_err());
    }

    #[test]
    fn underscores_are_escaped_in_grants() {
        assert_eq!(grant_pattern("site_db"), "site\\_db");
    }

    #[test]
    fn secrets_stay_out_of_debug_output() {
        let a = ServerAccess {
            host: "h".into(),
            port: 3306,
            user: "admin".into(),
            password: "s3cret".into(),
            tls: Tls::Verified("/ca.pem".into()),
        };
        assert!(!format!("{a:?}").contains("s3cret"));
        assert!(!format!("{:?}", creds("d", "u", "s3cret")).contains("s3cret"));
    }

    #[test]
    fn tls_needs_a_readable_bundle_of_certificates() {
        assert_eq!(Tls::new(true, None), Err(DatabaseError::NoCaFile));
        assert_eq!(Tls::new(false, None), Ok(Tls::Off));
        let missing = Tls::new(true, Some("/nonexistent/ca.pem".into())).unwrap();
        let e = missing.roots().unwrap_err().to_string();
        assert!(
            e.starts_with("IDEALSTACK_DATABASE_CA_FILE /nonexistent/ca.pem: cannot be read"),
            "{e}"
        );
        let dir = std::env::temp_dir().join(format!("idealstack-ca-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let empty = dir.join("empty.pem");
        std::fs::write(&empty, "not a certificate").unwrap();
        let e = Tls::Verified(empty).roots().unwrap_err().to_string();
        assert!(e.contains("holds no PEM certificate"), "{e}");
        let _ = std::fs::remove_dir_all(dir);
    }
}
