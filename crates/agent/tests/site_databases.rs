//! Per-site databases against a real MariaDB (Debian's mariadb-server) started by the test.

use idealstack_agent::database::{MysqlDatabases, ServerAccess, Tls};
use idealstack_agent::ports::SiteCredentials;
use idealstack_testbed::mariadb::{ADMIN, ADMIN_PASSWORD, MariaDb, TestCa};

fn creds(site: &str, password: &str) -> SiteCredentials {
    SiteCredentials {
        site: site.into(),
        database: format!("{site}_db"),
        user: format!("{site}_user"),
        password: password.into(),
    }
}

#[tokio::test(flavor = "current_thread")]
async fn databases_are_created_isolated_idempotent_and_follow_rotation() {
    let scratch = idealstack_testbed::scratch_dir("agent-db");
    let server = MariaDb::with_admin(scratch.path());
    let dbs = MysqlDatabases::new(ServerAccess {
        host: "127.0.0.1".into(),
        port: server.port,
        user: ADMIN.into(),
        password: ADMIN_PASSWORD.into(),
        tls: Tls::Off,
    })
    .unwrap();
    let shop = creds("shop", "shopPass1");
    let blog = creds("blog", "blogPass1");

    // Created.
    let changes = dbs.ensure_site(&shop).await.unwrap();
    assert_eq!(
        changes,
        vec![
            "database shop_db created".to_string(),
            "user shop_user created".to_string(),
            "privileges on shop_db granted".to_string(),
        ]
    );
    assert!(!dbs.ensure_site(&blog).await.unwrap().is_empty());

    // The user reaches its database (and can create tables in it) ...
    server
        .sql_as(
            "shop_user",
            "shopPass1",
            "CREATE TABLE shop_db.t (id INT); INSERT INTO shop_db.t VALUES (1)",
        )
        .unwrap();
    assert_eq!(
        server
            .sql_as("shop_user", "shopPass1", "SELECT id FROM shop_db.t")
            .unwrap()
            .trim(),
        "1"
    );
    // ... and not another site's, nor a database whose name its own matches as a pattern.
    let denied = server
        .sql_as("shop_user", "shopPass1", "SELECT 1 FROM blog_db.dual")
        .unwrap_err();
    assert!(denied.contains("denied"), "{denied}");
    server.sql("CREATE DATABASE shopXdb");
    let denied = server
        .sql_as("shop_user", "shopPass1", "CREATE TABLE shopXdb.t (id INT)")
        .unwrap_err();
    assert!(
        denied.contains("denied"),
        "`_` must not act as a wildcard: {denied}"
    );
    assert!(
        server
            .sql_as("blog_user", "blogPass1", "SELECT * FROM shop_db.t")
            .is_err()
    );

    // Re-running changes nothing.
    assert_eq!(dbs.ensure_site(&shop).await.unwrap(), Vec::<String>::new());
    assert_eq!(dbs.ensure_site(&blog).await.unwrap(), Vec::<String>::new());

    // Rotation: the secret changed, the agent sets the new password; the old one stops working.
    let rotated = creds("shop", "shopPass2");
    assert_eq!(
        dbs.ensure_site(&rotated).await.unwrap(),
        vec!["password of shop_user set from its secret".to_string()]
    );
    assert!(server.sql_as("shop_user", "shopPass2", "SELECT 1").is_ok());
    assert!(server.sql_as("shop_user", "shopPass1", "SELECT 1").is_err());
    assert_eq!(
        dbs.ensure_site(&rotated).await.unwrap(),
        Vec::<String>::new()
    );

    // Drift: a privilege on another database is revoked.
    server.sql("GRANT SELECT ON blog_db.* TO 'shop_user'@'%'");
    let changes = dbs.ensure_site(&rotated).await.unwrap();
    assert_eq!(changes, vec!["privileges on blog_db revoked".to_string()]);
    assert!(
        server
            .sql_as("shop_user", "shopPass2", "SELECT 1 FROM blog_db.dual")
            .is_err()
    );

    // Data survives: nothing is dropped by a pass.
    assert_eq!(
        server
            .sql_as("shop_user", "shopPass2", "SELECT id FROM shop_db.t")
            .unwrap()
            .trim(),
        "1"
    );

    // A removed site whose data the user asked to delete: its database and user are dropped,
    // nothing of another site's; asking again changes nothing.
    assert_eq!(
        dbs.drop_site("shop", "shop_db", "shop_user").await.unwrap(),
        vec![
            "database shop_db dropped".to_string(),
            "user shop_user dropped".to_string()
        ]
    );
    assert!(server.sql_as("shop_user", "shopPass2", "SELECT 1").is_err());
    assert_eq!(server.sql("SHOW DATABASES LIKE 'shop\\_db'").trim(), "");
    assert_eq!(
        dbs.drop_site("shop", "shop_db", "shop_user").await.unwrap(),
        Vec::<String>::new()
    );
    assert!(server.sql_as("blog_user", "blogPass1", "SELECT 1").is_ok());
    assert!(
        dbs.drop_site("shop", "shop_db`; DROP DATABASE blog_db; --", "x")
            .await
            .is_err()
    );
    assert_eq!(
        server.sql("SHOW DATABASES LIKE 'blog\\_db'").trim(),
        "blog_db"
    );
    dbs.close().await;
}

fn access(host: &str, port: u16, tls: Tls) -> ServerAccess {
    ServerAccess {
        host: host.into(),
        port,
        user: ADMIN.into(),
        password: ADMIN_PASSWORD.into(),
        tls,
    }
}

#[tokio::test(flavor = "current_thread")]
async fn a_server_requiring_tls_is_reached_only_through_its_ca_and_name() {
    let scratch = idealstack_testbed::scratch_dir("agent-db-tls");
    // The RDS CA's stand-in, and a server that requires secure transport as RDS does.
    let ca = TestCa::make(&scratch.path().join("ca"));
    let server = MariaDb::with_tls(scratch.path(), &ca);

    // The bundle of IDEALSTACK_DATABASE_CA_FILE, the server by the name its certificate holds.
    let dbs = MysqlDatabases::new(access(
        "127.0.0.1",
        server.port,
        Tls::Verified(ca.ca.clone()),
    ))
    .unwrap();
    let shop = creds("shop", "shopPass1");
    assert!(!dbs.ensure_site(&shop).await.unwrap().is_empty());
    let cipher = server
        .sql_as(
            "shop_user",
            "shopPass1",
            "SHOW SESSION STATUS LIKE 'Ssl_cipher'",
        )
        .unwrap();
    assert!(cipher.trim().len() > "Ssl_cipher".len(), "{cipher}");
    dbs.close().await;

    // Without TLS the server refuses; with another CA's bundle or another name, the agent does.
    let plain = MysqlDatabases::new(access("127.0.0.1", server.port, Tls::Off)).unwrap();
    let e = plain.ensure_site(&shop).await.unwrap_err().to_string();
    assert!(
        e.contains("secure transport") || e.contains("insecure") || e.contains("Access denied"),
        "{e}"
    );
    plain.close().await;
    let other = TestCa::make(&scratch.path().join("other-ca"));
    let untrusted =
        MysqlDatabases::new(access("127.0.0.1", server.port, Tls::Verified(other.ca))).unwrap();
    let e = untrusted.ensure_site(&shop).await.unwrap_err().to_string();
    assert!(e.to_lowercase().contains("certificate"), "{e}");
    untrusted.close().await;
    let wrong_name = MysqlDatabases::new(access(
        "localhost",
        server.port,
        Tls::Verified(ca.ca.clone()),
    ))
    .unwrap();
    let e = wrong_name.ensure_site(&shop).await.unwrap_err().to_string();
    assert!(
        e.to_lowercase().contains("certificate") || e.contains("NotValidForName"),
        "{e}"
    );
    wrong_name.close().await;
}
