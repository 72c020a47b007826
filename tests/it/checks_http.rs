//! http and prometheus checks against real in-process servers (axum over TCP; for https a
//! tokio-rustls server with a CA and leaf made by the openssl CLI), run through `CheckProbe`
//! from a config text, as the daemon runs them.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use lookout::config::from_str;
use lookout::model::{Observation, Status};
use lookout::probes::Probe;
use lookout::probes::checks::CheckProbe;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::common::checks::{self, sample};

const TOKEN: &str = "s3cr3t-bearer-token";

fn env(name: &str) -> Option<String> {
    (name == "APP_TOKEN").then(|| TOKEN.to_string())
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// A probe for one `[[check]]` whose keys are `keys` (name and retries = 0 added).
fn probe(keys: &str) -> CheckProbe {
    let text = format!("[[check]]\nname = \"t\"\nretries = 0\n{keys}\n");
    checks::probe(&text, &env)
}

async fn run(keys: &str) -> Observation {
    probe(keys).run(now_ms()).await
}

fn status(o: &Observation) -> Status {
    o.checks[0].status
}

fn detail(o: &Observation) -> &str {
    &o.checks[0].detail
}

fn sample_with(o: &Observation, name: &str, label: &str, value: &str) -> Option<f64> {
    o.samples
        .iter()
        .find(|s| s.series.name() == name && s.series.label(label) == Some(value))
        .map(|s| s.value)
}

async fn serve(router: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    address
}

/// The app under test: health JSON, statuses, redirects, slow and huge answers, maintenance.
async fn app(seen_auth: Arc<Mutex<Vec<String>>>) -> SocketAddr {
    let health = r#"{"status":"healthy","version":"1.0.0","uptime":12.5,"components":{"database":{"healthy":true},"redis":{"healthy":false}}}"#;
    let router = Router::new()
        .route(
            "/health",
            get(move |headers: HeaderMap| async move {
                if let Some(value) = headers.get("authorization") {
                    seen_auth
                        .lock()
                        .unwrap()
                        .push(value.to_str().unwrap_or_default().to_string());
                }
                ([("content-type", "application/json")], health)
            }),
        )
        .route(
            "/unhealthy",
            get(|| async {
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    r#"{"status":"unhealthy","components":{"database":{"healthy":false}}}"#,
                )
            }),
        )
        .route(
            "/fail",
            get(|| async { (StatusCode::INTERNAL_SERVER_ERROR, "boom") }),
        )
        .route("/empty", get(|| async { StatusCode::NO_CONTENT }))
        .route(
            "/r/{n}",
            get(
                |axum::extract::Path(n): axum::extract::Path<u32>| async move {
                    if n == 0 {
                        "arrived".into_response()
                    } else {
                        (
                            StatusCode::FOUND,
                            [("location", format!("/r/{}", n - 1))],
                            "",
                        )
                            .into_response()
                    }
                },
            ),
        )
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_millis(300)).await;
                "late"
            }),
        )
        .route("/huge", get(|| async { vec![b'x'; 5 << 20] }))
        .route(
            "/binary",
            get(|| async { vec![0xff, 0xfe, 0x00, b'o', b'k', 0xc3] }),
        )
        .route(
            "/maintenance",
            get(|| async {
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    [
                        ("x-maintenance-active", "true"),
                        ("x-maintenance-mode", "normal"),
                        ("retry-after", "1800"),
                    ],
                    "down for maintenance",
                )
            }),
        )
        .route(
            "/maintenance-json",
            get(|| async { (StatusCode::SERVICE_UNAVAILABLE, r#"{"maintenance":true}"#) }),
        )
        .route(
            "/metrics",
            get(|| async {
                "# HELP vedfolnir_health_status Component health.\n\
                 # TYPE vedfolnir_health_status gauge\n\
                 vedfolnir_health_status{component=\"database\"} 1\n\
                 vedfolnir_health_status{component=\"redis\",check=\"x\"} 0\n\
                 # TYPE http_requests_total counter\n\
                 http_requests_total{code=\"200\"} 1027 1395066363000\n\
                 http_requests_total{code=\"500\"} 3\n\
                 vedfolnir_cpu_usage_percent 12.5\n\
                 this line is broken\n"
            }),
        );
    serve(router).await
}

async fn plain_app() -> SocketAddr {
    app(Arc::new(Mutex::new(Vec::new()))).await
}

#[tokio::test]
async fn a_healthy_answer_is_ok_with_every_phase_timed() {
    let _machine = crate::common::machine::shared();
    let address = plain_app().await;
    let o = run(&format!(
        "type = \"http\"\nurl = \"http://{address}/health\""
    ))
    .await;
    assert_eq!(status(&o), Status::Ok, "{}", detail(&o));
    assert!(detail(&o).starts_with("HTTP 200 in "), "{}", detail(&o));
    for series in [
        "http_response_seconds",
        "http_dns_seconds",
        "http_connect_seconds",
        "http_first_byte_seconds",
    ] {
        let seconds = sample(&o, series).unwrap_or_else(|| panic!("no {series}"));
        assert!((0.0..1.0).contains(&seconds), "{series} = {seconds}");
    }
    assert_eq!(sample(&o, "http_status_code"), Some(200.0));
    assert_eq!(sample(&o, "http_body_bytes"), Some(121.0));
    assert_eq!(sample(&o, "http_tls_seconds"), None, "no TLS on http");
    assert_eq!(sample(&o, "check_up"), Some(1.0));
    assert_eq!(o.checks[0].value, sample(&o, "http_response_seconds"));
    let labelled = o
        .samples
        .iter()
        .find(|s| s.series.name() == "http_status_code")
        .unwrap();
    assert_eq!(labelled.series.label("check"), Some("t"));
}

#[tokio::test]
async fn status_codes_are_judged_against_the_expected_ranges() {
    let _machine = crate::common::machine::shared();
    let address = plain_app().await;
    let cases = [
        ("/fail", "", Status::Critical, "HTTP 500 (expected 200-399)"),
        ("/fail", "expect_status = [500]", Status::Ok, "HTTP 500 in"),
        (
            "/empty",
            "expect_status = [\"200-204\"]",
            Status::Ok,
            "HTTP 204 in",
        ),
        (
            "/empty",
            "expect_status = [200, \"3xx\"]",
            Status::Critical,
            "HTTP 204 (expected 200, 300-399)",
        ),
        (
            "/unhealthy",
            "",
            Status::Critical,
            "HTTP 503 (expected 200-399)",
        ),
    ];
    for (path, keys, want, text) in cases {
        let o = run(&format!(
            "type = \"http\"\nurl = \"http://{address}{path}\"\n{keys}"
        ))
        .await;
        assert_eq!(status(&o), want, "{path} {keys}: {}", detail(&o));
        assert!(
            detail(&o).starts_with(text),
            "{path} {keys}: {}",
            detail(&o)
        );
    }
}

#[tokio::test]
async fn body_text_and_regex() {
    let _machine = crate::common::machine::shared();
    let address = plain_app().await;
    let cases = [
        ("body_contains = \"healthy\"", Status::Ok, "HTTP 200"),
        (
            "body_contains = \"nope\"",
            Status::Critical,
            "body does not contain \"nope\"",
        ),
        (
            "body_matches = '\"version\":\"1\\.\\d+'",
            Status::Ok,
            "HTTP 200",
        ),
        (
            "body_matches = 'v9\\.'",
            Status::Critical,
            "body does not match /v9\\./",
        ),
    ];
    for (keys, want, text) in cases {
        let o = run(&format!(
            "type = \"http\"\nurl = \"http://{address}/health\"\n{keys}"
        ))
        .await;
        assert_eq!(status(&o), want, "{keys}: {}", detail(&o));
        assert!(detail(&o).starts_with(text), "{keys}: {}", detail(&o));
    }
}

#[tokio::test]
async fn json_assertions_pass_and_fail() {
    let _machine = crate::common::machine::shared();
    let address = plain_app().await;
    let ok = run(&format!(
        "type = \"http\"\nurl = \"http://{address}/health\"\n\
         [[check.assert]]\njson_pointer = \"/status\"\nequals = \"healthy\"\n\
         [[check.assert]]\njson_pointer = \"/uptime\"\ngreater_than = 10\nless_than = 100\n\
         [[check.assert]]\njson_pointer = \"/components/database/healthy\"\nequals = true\n"
    ))
    .await;
    assert_eq!(status(&ok), Status::Ok, "{}", detail(&ok));

    let failing = run(&format!(
        "type = \"http\"\nurl = \"http://{address}/unhealthy\"\nexpect_status = [503]\n\
         [[check.assert]]\njson_pointer = \"/status\"\nequals = \"healthy\"\n"
    ))
    .await;
    assert_eq!(status(&failing), Status::Critical);
    assert_eq!(
        detail(&failing),
        "/status is \"unhealthy\", expected \"healthy\""
    );

    let numeric = run(&format!(
        "type = \"http\"\nurl = \"http://{address}/health\"\n\
         [[check.assert]]\njson_pointer = \"/uptime\"\nless_than = 5\n"
    ))
    .await;
    assert_eq!(status(&numeric), Status::Critical);
    assert_eq!(detail(&numeric), "/uptime is 12.5, expected less than 5");

    let not_json = run(&format!(
        "type = \"http\"\nurl = \"http://{address}/fail\"\nexpect_status = [500]\n\
         [[check.assert]]\njson_pointer = \"/status\"\nexists = true\n"
    ))
    .await;
    assert_eq!(detail(&not_json), "/status: the body is not JSON");
}

#[tokio::test]
async fn numbers_and_booleans_are_extracted_and_a_missing_one_is_only_noted() {
    let _machine = crate::common::machine::shared();
    let address = plain_app().await;
    let o = run(&format!(
        "type = \"http\"\nurl = \"http://{address}/health\"\n\
         [[check.extract]]\nname = \"db_healthy\"\njson_pointer = \"/components/database/healthy\"\n\
         [[check.extract]]\nname = \"redis_healthy\"\njson_pointer = \"/components/redis/healthy\"\n\
         [[check.extract]]\nname = \"uptime\"\njson_pointer = \"/uptime\"\n\
         [[check.extract]]\nname = \"queue\"\njson_pointer = \"/queue/depth\"\n"
    ))
    .await;
    assert_eq!(status(&o), Status::Ok, "{}", detail(&o));
    assert_eq!(
        sample_with(&o, "http_extract", "name", "db_healthy"),
        Some(1.0)
    );
    assert_eq!(
        sample_with(&o, "http_extract", "name", "redis_healthy"),
        Some(0.0)
    );
    assert_eq!(
        sample_with(&o, "http_extract", "name", "uptime"),
        Some(12.5)
    );
    assert_eq!(sample_with(&o, "http_extract", "name", "queue"), None);
    assert!(
        detail(&o).ends_with("(queue: /queue/depth not found)"),
        "{}",
        detail(&o)
    );
}

#[tokio::test]
async fn redirects_are_followed_up_to_the_limit() {
    let _machine = crate::common::machine::shared();
    let address = plain_app().await;
    let o = run(&format!(
        "type = \"http\"\nurl = \"http://{address}/r/3\"\nbody_contains = \"arrived\""
    ))
    .await;
    assert_eq!(status(&o), Status::Ok, "{}", detail(&o));
    assert!(detail(&o).contains("after 3 redirects"), "{}", detail(&o));

    let o = run(&format!(
        "type = \"http\"\nurl = \"http://{address}/r/3\"\nfollow_redirects = 2"
    ))
    .await;
    assert_eq!(status(&o), Status::Critical);
    assert_eq!(
        detail(&o),
        "too many redirects (more than 2), the last to /r/0"
    );

    let o = run(&format!("type = \"http\"\nurl = \"http://{address}/r/9\"")).await;
    assert_eq!(status(&o), Status::Critical, "the default limit is 5");
    assert!(
        detail(&o).starts_with("too many redirects (more than 5)"),
        "{}",
        detail(&o)
    );

    let o = run(&format!(
        "type = \"http\"\nurl = \"http://{address}/r/1\"\nfollow_redirects = false"
    ))
    .await;
    assert_eq!(status(&o), Status::Ok, "{}", detail(&o));
    assert_eq!(sample(&o, "http_status_code"), Some(302.0));
}

#[tokio::test]
async fn slow_answers_grade_by_the_response_time_thresholds() {
    let _machine = crate::common::machine::shared();
    let address = plain_app().await;
    let url = format!("type = \"http\"\nurl = \"http://{address}/slow\"");
    let o = run(&format!(
        "{url}\nresponse_time_warning = \"100ms\"\nresponse_time_critical = \"2s\""
    ))
    .await;
    assert_eq!(status(&o), Status::Warning, "{}", detail(&o));
    assert!(detail(&o).starts_with("slow: 0.3"), "{}", detail(&o));
    assert!(detail(&o).ends_with("(threshold 100ms)"), "{}", detail(&o));
    let o = run(&format!(
        "{url}\nresponse_time_warning = \"100ms\"\nresponse_time_critical = \"200ms\""
    ))
    .await;
    assert_eq!(status(&o), Status::Critical, "{}", detail(&o));
    let o = run(&url).await;
    assert_eq!(
        status(&o),
        Status::Ok,
        "the defaults are 2s / 5s: {}",
        detail(&o)
    );
}

#[tokio::test]
async fn a_hung_target_times_out_without_delaying_another_check() {
    let _machine = crate::common::machine::shared();
    // Accepts connections and never answers.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hung = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let address = plain_app().await;
    let mut hung_probe = probe(&format!(
        "type = \"http\"\nurl = \"http://{hung}/health\"\ntimeout = \"400ms\"\ninterval = \"1s\""
    ));
    let mut ok_probe = probe(&format!(
        "type = \"http\"\nurl = \"http://{address}/health\""
    ));
    let started = Instant::now();
    let hung_task = tokio::spawn(async move {
        let o = hung_probe.run(now_ms()).await;
        (o, started.elapsed())
    });
    let ok_task = tokio::spawn(async move {
        let o = ok_probe.run(now_ms()).await;
        (o, started.elapsed())
    });
    let (ok, ok_took) = ok_task.await.unwrap();
    let (o, took) = hung_task.await.unwrap();
    assert_eq!(status(&ok), Status::Ok);
    // Generous bounds: this machine's cores are shared; the point is the order and no hang.
    assert!(
        ok_took < took && ok_took < Duration::from_secs(1),
        "the other check waited {ok_took:?} (the hung one took {took:?})"
    );
    assert_eq!(status(&o), Status::Critical);
    assert!(detail(&o).starts_with("timeout: "), "{}", detail(&o));
    assert!(detail(&o).contains("no response headers"), "{}", detail(&o));
    assert!(
        took >= Duration::from_millis(350) && took < Duration::from_secs(2),
        "{took:?}"
    );
}

#[tokio::test]
async fn a_body_that_never_ends_is_cut_at_the_timeout() {
    let _machine = crate::common::machine::shared();
    // Sends the head and part of a 1000-byte body, then nothing.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((mut socket, _)) = listener.accept().await {
            let mut buffer = [0u8; 1024];
            let _ = socket.read(&mut buffer).await;
            let _ = socket
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\npartial")
                .await;
            held.push(socket);
        }
    });
    let started = Instant::now();
    let o = run(&format!(
        "type = \"http\"\nurl = \"http://{address}/\"\ntimeout = \"300ms\"\ninterval = \"1s\""
    ))
    .await;
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(status(&o), Status::Critical);
    assert_eq!(
        detail(&o),
        "timeout: body not complete (7 bytes read) within 300ms"
    );
}

#[tokio::test]
async fn a_huge_body_is_capped() {
    let _machine = crate::common::machine::shared();
    let address = plain_app().await;
    let o = run(&format!(
        "type = \"http\"\nurl = \"http://{address}/huge\"\nmax_body = \"64KiB\""
    ))
    .await;
    assert_eq!(status(&o), Status::Ok, "{}", detail(&o));
    assert_eq!(sample(&o, "http_body_bytes"), Some(65536.0));
    assert!(
        detail(&o).contains("body truncated at 65536 bytes (max_body)"),
        "{}",
        detail(&o)
    );
    let o = run(&format!("type = \"http\"\nurl = \"http://{address}/huge\"")).await;
    assert_eq!(
        sample(&o, "http_body_bytes"),
        Some(1048576.0),
        "default max_body is 1 MiB"
    );
}

#[tokio::test]
async fn an_invalid_utf8_body_is_read_lossily() {
    let _machine = crate::common::machine::shared();
    let address = plain_app().await;
    let url = format!("type = \"http\"\nurl = \"http://{address}/binary\"");
    let o = run(&format!("{url}\nbody_contains = \"ok\"")).await;
    assert_eq!(status(&o), Status::Ok, "{}", detail(&o));
    let o = run(&format!("{url}\nbody_contains = \"nope\"\nbody_matches = \"x\"\n[[check.assert]]\njson_pointer = \"/a\"\nexists = true")).await;
    assert_eq!(status(&o), Status::Critical);
    assert_eq!(
        detail(&o),
        "body does not contain \"nope\"; body does not match /x/; /a: the body is not JSON"
    );
}

#[tokio::test]
async fn a_maintenance_answer_is_maintenance_not_down() {
    let _machine = crate::common::machine::shared();
    let address = plain_app().await;
    let o = run(&format!(
        "type = \"http\"\nurl = \"http://{address}/maintenance\""
    ))
    .await;
    assert_eq!(status(&o), Status::Maintenance, "{}", detail(&o));
    assert_eq!(
        detail(&o),
        "in maintenance (mode normal, retry after 1800 s)"
    );
    assert_eq!(sample(&o, "check_up"), Some(1.0));

    let o = run(&format!(
        "type = \"http\"\nurl = \"http://{address}/maintenance-json\"\nmaintenance_json_pointer = \"/maintenance\""
    ))
    .await;
    assert_eq!(status(&o), Status::Maintenance, "{}", detail(&o));
    assert_eq!(detail(&o), "in maintenance (HTTP 503)");

    let o = run(&format!(
        "type = \"http\"\nurl = \"http://{address}/maintenance-json\""
    ))
    .await;
    assert_eq!(
        status(&o),
        Status::Critical,
        "without the pointer a 503 is down"
    );

    let o = run(&format!(
        "type = \"http\"\nurl = \"http://{address}/maintenance\"\nmaintenance_header = \"X-Other\""
    ))
    .await;
    assert_eq!(
        status(&o),
        Status::Critical,
        "the header name is configurable"
    );
}

#[tokio::test]
async fn refused_and_unresolvable_targets_are_critical() {
    let _machine = crate::common::machine::shared();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let o = run(&format!(
        "type = \"http\"\nurl = \"http://127.0.0.1:{port}/health\""
    ))
    .await;
    assert_eq!(status(&o), Status::Critical);
    assert_eq!(
        detail(&o),
        format!("connection refused to 127.0.0.1:{port}")
    );
    assert_eq!(sample(&o, "check_up"), Some(0.0));

    let o = run("type = \"http\"\nurl = \"http://no-such-host.invalid/health\"").await;
    assert_eq!(status(&o), Status::Critical);
    assert!(
        detail(&o).starts_with("DNS: cannot resolve no-such-host.invalid"),
        "{}",
        detail(&o)
    );
}

#[tokio::test]
async fn an_authorization_header_is_sent_but_never_shown() {
    let _machine = crate::common::machine::shared();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let address = app(seen.clone()).await;
    let refused = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let headers =
        "headers = { Authorization = \"Bearer ${APP_TOKEN}\", X-Api-Key = \"${APP_TOKEN}\" }";
    for (url, extra) in [
        (
            format!("http://{address}/health"),
            "[[check.assert]]\njson_pointer = \"/status\"\nequals = \"bad\"",
        ),
        (format!("http://{address}/fail"), ""),
        (format!("http://{refused}/"), ""),
        (format!("http://{address}/r/9"), ""),
    ] {
        let keys = format!("type = \"http\"\nurl = \"{url}\"\n{headers}\n{extra}");
        let text = format!("[[check]]\nname = \"t\"\n{keys}\n");
        let config = from_str(&text, "t.toml", &env).unwrap();
        let debug = format!("{:?}", config.checks[0]);
        assert!(!debug.contains(TOKEN), "{debug}");
        let o = run(&keys).await;
        assert_eq!(status(&o), Status::Critical, "{url}");
        let everything = format!("{o:?}");
        assert!(!everything.contains(TOKEN), "{everything}");
    }
    assert_eq!(seen.lock().unwrap().as_slice(), [format!("Bearer {TOKEN}")]);

    // A config error about such a header does not show its value either.
    let text = "[[check]]\nname = \"t\"\ntype = \"http\"\nurl = \"http://h/\"\nheaders = { Authorization = \"Bearer ${APP_TOKEN}\\u0001\" }\n";
    let error = from_str(text, "t.toml", &env)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(error.contains("not a valid header value"), "{error}");
    assert!(!error.contains(TOKEN), "{error}");
}

#[tokio::test]
async fn prometheus_families_are_kept_with_their_labels() {
    let _machine = crate::common::machine::shared();
    let address = plain_app().await;
    let o = run(&format!(
        "type = \"prometheus\"\nurl = \"http://{address}/metrics\"\n\
         families = [\"vedfolnir_health_status\", \"http_requests_.*\"]"
    ))
    .await;
    assert_eq!(status(&o), Status::Ok, "{}", detail(&o));
    assert!(
        detail(&o).starts_with("4 samples from 2 families in "),
        "{}",
        detail(&o)
    );
    assert!(
        detail(&o).ends_with("(1 bad lines skipped)"),
        "{}",
        detail(&o)
    );
    assert_eq!(
        sample_with(&o, "vedfolnir_health_status", "component", "database"),
        Some(1.0)
    );
    let redis = o
        .samples
        .iter()
        .find(|s| s.series.label("component") == Some("redis"))
        .unwrap();
    assert_eq!(redis.series.label("check"), Some("t"));
    assert_eq!(redis.series.label("exported_check"), Some("x"));
    assert_eq!(
        sample_with(&o, "http_requests_total", "code", "500"),
        Some(3.0)
    );
    assert_eq!(
        sample(&o, "vedfolnir_cpu_usage_percent"),
        None,
        "not selected"
    );
    assert_eq!(sample(&o, "prometheus_scrape_samples"), Some(4.0));
    assert_eq!(sample(&o, "prometheus_scrape_bad_lines"), Some(1.0));

    let o = run(&format!(
        "type = \"prometheus\"\nurl = \"http://{address}/metrics\"\nprefix = \"app_\"\nmax_samples = 2"
    ))
    .await;
    assert!(
        detail(&o).contains("kept the first 2 of 5 samples (max_samples)"),
        "{}",
        detail(&o)
    );
    assert_eq!(
        sample_with(&o, "app_vedfolnir_health_status", "component", "database"),
        Some(1.0)
    );

    let o = run(&format!(
        "type = \"prometheus\"\nurl = \"http://{address}/fail\""
    ))
    .await;
    assert_eq!(status(&o), Status::Critical);
    assert_eq!(detail(&o), "HTTP 500 (expected 2xx)");
}

use crate::common::tls::make_certs;

// ---- https: a private CA and a leaf for 127.0.0.1 valid 10 days, made by the openssl CLI.

/// A TLS server answering every request with `200 ok` (a hand-written HTTP/1.1 answer).
pub async fn tls_server(dir: &Path, require_client_cert: bool) -> SocketAddr {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(dir.join("leaf.pem"))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_file(dir.join("leaf.key")).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .unwrap();
    let builder = if require_client_cert {
        let mut roots = rustls::RootCertStore::empty();
        for ca in CertificateDer::pem_file_iter(dir.join("ca.pem")).unwrap() {
            roots.add(ca.unwrap()).unwrap();
        }
        let verifier =
            rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .unwrap();
        builder.with_client_cert_verifier(verifier)
    } else {
        builder.with_no_client_auth()
    };
    let config = builder.with_single_cert(certs, key).unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(socket).await else {
                    return;
                };
                let mut request = Vec::new();
                let mut buffer = [0u8; 1024];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match tls.read(&mut buffer).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => request.extend_from_slice(&buffer[..n]),
                    }
                }
                let _ = tls
                    .write_all(
                        b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok",
                    )
                    .await;
                let _ = tls.shutdown().await;
            });
        }
    });
    address
}

#[tokio::test]
async fn https_verifies_certificates_and_reports_their_expiry() {
    let _machine = crate::common::machine::shared();
    let dir = tempfile::tempdir().unwrap();
    make_certs(dir.path(), 10);
    let address = tls_server(dir.path(), false).await;
    let url = format!("type = \"http\"\nurl = \"https://{address}/\"");

    let o = run(&url).await;
    assert_eq!(status(&o), Status::Critical, "{}", detail(&o));
    assert_eq!(
        detail(&o),
        "TLS: certificate not trusted (unknown issuer; set ca_file for a private CA)"
    );

    let ca = dir.path().join("ca.pem");
    let o = run(&format!("{url}\nca_file = \"{}\"", ca.display())).await;
    assert_eq!(
        status(&o),
        Status::Warning,
        "10 days is within the 14d warning: {}",
        detail(&o)
    );
    // 10 days from its creation a moment ago: 10 days when created in this very second.
    assert!(
        [
            "TLS: certificate expires in 9 days",
            "TLS: certificate expires in 10 days"
        ]
        .contains(&detail(&o)),
        "{}",
        detail(&o)
    );
    let left = sample(&o, "tls_certificate_expiry_seconds").unwrap();
    assert!((9.0 * 86_400.0..=10.0 * 86_400.0).contains(&left), "{left}");
    assert!(sample(&o, "http_tls_seconds").is_some());

    let o = run(&format!(
        "{url}\nca_file = \"{}\"\ncert_expiry_warning = \"5d\"\ncert_expiry_critical = \"1d\"",
        ca.display()
    ))
    .await;
    assert_eq!(status(&o), Status::Ok, "{}", detail(&o));
    assert!(
        detail(&o).contains(", certificate expires in "),
        "{}",
        detail(&o)
    );

    let o = run(&format!(
        "{url}\nca_file = \"{}\"\ncert_expiry_critical = \"11d\"\ncert_expiry_warning = \"20d\"",
        ca.display()
    ))
    .await;
    assert_eq!(status(&o), Status::Critical, "{}", detail(&o));

    let o = run(&format!("{url}\ninsecure_skip_verify = true\ncert_expiry_warning = \"1d\"\ncert_expiry_critical = \"1h\"")).await;
    assert_eq!(status(&o), Status::Ok, "{}", detail(&o));

    let o = run(&format!(
        "{url}\nca_file = \"{}\"\nserver_name = \"other.example\"",
        ca.display()
    ))
    .await;
    assert_eq!(status(&o), Status::Critical);
    assert_eq!(
        detail(&o),
        "TLS: certificate is not valid for this host name (see server_name)"
    );

    let o = run(&format!(
        "{url}\nca_file = \"{}\"",
        dir.path().join("missing.pem").display()
    ))
    .await;
    assert_eq!(status(&o), Status::Critical);
    assert!(detail(&o).starts_with("ca_file "), "{}", detail(&o));
}

#[tokio::test]
async fn a_client_certificate_is_presented_when_configured() {
    let _machine = crate::common::machine::shared();
    let dir = tempfile::tempdir().unwrap();
    make_certs(dir.path(), 60);
    let address = tls_server(dir.path(), true).await;
    let d = dir.path().display();
    let url = format!("type = \"http\"\nurl = \"https://{address}/\"\nca_file = \"{d}/ca.pem\"");

    let o = run(&url).await;
    assert_eq!(status(&o), Status::Critical, "{}", detail(&o));
    assert_eq!(
        detail(&o),
        "TLS: the server requires a client certificate (set client_cert and client_key)"
    );

    let o = run(&format!(
        "{url}\nclient_cert = \"{d}/client.pem\"\nclient_key = \"{d}/client.key\""
    ))
    .await;
    assert_eq!(status(&o), Status::Ok, "{}", detail(&o));
    assert!(detail(&o).starts_with("HTTP 200 in "), "{}", detail(&o));
}
