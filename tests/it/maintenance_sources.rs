//! The maintenance sources against real peers: a SQL row on the machine's PostgreSQL and
//! MariaDB (the way Vedfolnir keeps its flag in `system_configuration`), a Redis key (flag
//! and JSON), and an admin-only HTTP status endpoint behind a login form. The servers must
//! run (`.ci/run` starts them); without them these tests fail.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use lookout::base::secret::Secret;
use lookout::config::maintenance::{
    FieldPointers, HttpSource, LoginConfig, Mode, RedisSource, SourceConfig, SourceKind, SqlDriver,
    SqlSource,
};
use lookout::maintenance::source::Source;
use sqlx::AssertSqlSafe;

fn source(kind: SourceKind) -> Source {
    Source::new(SourceConfig {
        interval: Duration::from_secs(15),
        timeout: Duration::from_secs(3),
        kind,
        fields: FieldPointers::default(),
    })
}

/// Vedfolnir's table, with the flag set to `active`.
async fn system_configuration(dsn: &str, table: &str, active: &str) {
    let run = |sql: String| sql;
    let statements = [
        run(format!("DROP TABLE IF EXISTS {table}")),
        run(format!(
            "CREATE TABLE {table} (k VARCHAR(64) PRIMARY KEY, v TEXT)"
        )),
        run(format!(
            "INSERT INTO {table} (k, v) VALUES ('maintenance_mode', '{active}'), ('maintenance_reason', 'DB migration')"
        )),
    ];
    if dsn.starts_with("postgres") {
        let pool = sqlx::PgPool::connect(dsn)
            .await
            .expect("PostgreSQL on 127.0.0.1:5432");
        for sql in statements {
            sqlx::query(AssertSqlSafe(sql))
                .execute(&pool)
                .await
                .unwrap();
        }
    } else {
        let pool = sqlx::MySqlPool::connect(dsn)
            .await
            .expect("MariaDB on 127.0.0.1:3306");
        for sql in statements {
            sqlx::query(AssertSqlSafe(sql))
                .execute(&pool)
                .await
                .unwrap();
        }
    }
}

fn flag_query(table: &str) -> String {
    format!(
        "SELECT MAX(CASE WHEN k = 'maintenance_mode' THEN v END) AS active, \
                MAX(CASE WHEN k = 'maintenance_reason' THEN v END) AS reason FROM {table}"
    )
}

#[tokio::test]
async fn a_sql_row_on_postgres_and_mariadb_says_whether_the_app_is_in_maintenance() {
    let _machine = crate::common::machine::shared();
    for (driver, dsn, table) in [
        (
            SqlDriver::Postgres,
            "postgres://postgres@127.0.0.1:5432/test",
            "lookout_maint_pg",
        ),
        (
            SqlDriver::Mysql,
            "mysql://root@127.0.0.1:3306/test",
            "lookout_maint_my",
        ),
    ] {
        for (flag, expected) in [("true", true), ("false", false)] {
            system_configuration(dsn, table, flag).await;
            let mut s = source(SourceKind::Sql(SqlSource {
                driver,
                dsn: Secret::new(dsn),
                query: flag_query(table),
            }));
            let reading = s.read().await.unwrap_or_else(|e| panic!("{dsn}: {e}"));
            assert_eq!(reading.active, expected, "{dsn} with {flag}");
            assert_eq!(reading.reason.as_deref(), Some("DB migration"), "{dsn}");
        }
    }
}

#[tokio::test]
async fn a_failing_sql_source_is_an_error_without_the_password() {
    let _machine = crate::common::machine::shared();
    let mut s = source(SourceKind::Sql(SqlSource {
        driver: SqlDriver::Mysql,
        dsn: Secret::new("mysql://root:s3cret-pw@127.0.0.1:3306/test"),
        query: "SELECT active FROM no_such_table_here".into(),
    }));
    let error = s.read().await.unwrap_err();
    assert!(!error.contains("s3cret-pw"), "{error}");
    assert!(error.contains("root:***@127.0.0.1:3306"), "{error}");
}

fn redis(command: &[&str]) {
    let mut stream = std::net::TcpStream::connect("127.0.0.1:6379").expect("Redis on 6379");
    let mut wire = format!("*{}\r\n", command.len());
    for part in command {
        wire += &format!("${}\r\n{part}\r\n", part.len());
    }
    stream.write_all(wire.as_bytes()).unwrap();
    let mut reply = [0u8; 64];
    let _ = stream.read(&mut reply).unwrap();
}

#[tokio::test]
async fn a_redis_key_holds_a_flag_or_a_json_document() {
    let _machine = crate::common::machine::shared();
    let key = format!("lookouttest:{}:maintenance", std::process::id());
    let read = || async {
        source(SourceKind::Redis(RedisSource {
            url: Secret::new("redis://127.0.0.1:6379"),
            key: key.clone(),
        }))
        .read()
        .await
    };
    redis(&["DEL", &key]);
    assert!(!read().await.unwrap().active, "no key: not in maintenance");
    redis(&["SET", &key, "on"]);
    assert!(read().await.unwrap().active);
    redis(&[
        "SET",
        &key,
        r#"{"data": {"is_active": true, "mode": "emergency", "reason": "restore"}}"#,
    ]);
    let reading = read().await.unwrap();
    assert_eq!(
        (reading.active, reading.mode, reading.reason.as_deref()),
        (true, Some(Mode::Emergency), Some("restore"))
    );
    redis(&["SET", &key, "perhaps"]);
    let error = read().await.unwrap_err();
    assert!(
        error.contains("neither a JSON object nor a flag"),
        "{error}"
    );
    redis(&["DEL", &key]);
}

/// An admin-only status endpoint: 302 to the login page without the session cookie, which a
/// POST of the right form sets.
fn admin_app(logins: Arc<AtomicUsize>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let mut request = Vec::new();
            let mut buf = [0u8; 4096];
            while !String::from_utf8_lossy(&request).contains("\r\n\r\n") {
                match stream.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => request.extend_from_slice(&buf[..n]),
                }
            }
            let mut text = String::from_utf8_lossy(&request).to_string();
            if text.starts_with("POST") && !text.contains("password=") {
                let n = stream.read(&mut buf).unwrap_or(0);
                text += &String::from_utf8_lossy(&buf[..n]);
            }
            let answer = if text.starts_with("POST /login") {
                if text.contains("username=admin") && text.contains("password=p%40ss+word") {
                    logins.fetch_add(1, Ordering::SeqCst);
                    "HTTP/1.1 302 Found\r\nLocation: /admin\r\nSet-Cookie: session=abc123; HttpOnly; Path=/\r\nSet-Cookie: csrf=x; Path=/\r\nContent-Length: 0\r\n\r\n".to_string()
                } else {
                    "HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n".to_string()
                }
            } else if text
                .to_ascii_lowercase()
                .contains("cookie: session=abc123; csrf=x")
            {
                let body = r#"{"success": true, "data": {"is_active": true, "mode": "normal", "reason": "upgrade"}}"#;
                format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                    body.len()
                )
            } else {
                "HTTP/1.1 302 Found\r\nLocation: /login\r\nContent-Length: 0\r\n\r\n".to_string()
            };
            let _ = stream.write_all(answer.as_bytes());
        }
    });
    format!("http://{addr}")
}

#[tokio::test]
async fn an_admin_only_status_endpoint_is_read_after_the_login_step() {
    let _machine = crate::common::machine::shared();
    let logins = Arc::new(AtomicUsize::new(0));
    let base = admin_app(logins.clone());
    let login = |password: &str| LoginConfig {
        url: Secret::new(format!("{base}/login")),
        form: vec![
            ("password".into(), Secret::new(password)),
            ("username".into(), Secret::new("admin")),
        ],
    };
    let mut s = source(SourceKind::Http(HttpSource {
        url: Secret::new(format!("{base}/admin/api/maintenance/status")),
        headers: Vec::new(),
        login: Some(login("p@ss word")),
    }));
    let reading = s.read().await.unwrap();
    assert_eq!(
        (reading.active, reading.reason.as_deref()),
        (true, Some("upgrade"))
    );
    s.read().await.unwrap();
    assert_eq!(
        logins.load(Ordering::SeqCst),
        1,
        "the session is kept between polls"
    );

    let mut wrong = source(SourceKind::Http(HttpSource {
        url: Secret::new(format!("{base}/admin/api/maintenance/status")),
        headers: Vec::new(),
        login: Some(login("guess")),
    }));
    let error = wrong.read().await.unwrap_err();
    assert!(
        error.contains("login at") && error.contains("failed: HTTP 401"),
        "{error}"
    );
    assert!(!error.contains("guess"), "{error}");
}
