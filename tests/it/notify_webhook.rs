//! The webhook notifier against an in-process receiver (axum on a free port) that checks the
//! HMAC signature the way a real receiver would — recomputed with `ring` from the shared secret,
//! compared in constant time — and records what it got: payload fields, headers, Slack shape,
//! and how 500 / 400 answers and a wrong secret come out. Then the real daemon against a
//! receiver that answers 503 for a while: what it finally gets, key by key and in order.

use crate::common::{self, alerting};

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use alerting::{FlipServer, HookReceiver, http_check, poll};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;

use lookout::alert::Severity;
use lookout::config::from_str;
use lookout::model::{AlertNotice, Category, NoticeKind};
use lookout::notifiers::{GroupMessage, Notifier, NotifyError};
use lookout::notify::build_notifiers;

const SECRET: &str = "shared-hook-secret";

#[derive(Debug, Clone)]
struct Received {
    headers: HeaderMap,
    body: serde_json::Value,
    /// The receiver's verdict on X-Lookout-Signature.
    signature_valid: bool,
}

#[derive(Clone)]
struct Receiver {
    secret: &'static str,
    /// The status to answer with, and a body.
    answer: (StatusCode, &'static str),
    received: Arc<Mutex<Vec<Received>>>,
}

/// What a receiver does: recompute the HMAC of `timestamp + "." + body` with the shared secret.
fn verify(secret: &str, headers: &HeaderMap, body: &[u8]) -> bool {
    let (Some(timestamp), Some(signature)) = (
        headers
            .get("x-lookout-timestamp")
            .and_then(|v| v.to_str().ok()),
        headers
            .get("x-lookout-signature")
            .and_then(|v| v.to_str().ok()),
    ) else {
        return false;
    };
    let Some(hex) = signature.strip_prefix("sha256=") else {
        return false;
    };
    let Some(tag) = (0..hex.len())
        .step_by(2)
        .map(|i| {
            hex.get(i..i + 2)
                .and_then(|b| u8::from_str_radix(b, 16).ok())
        })
        .collect::<Option<Vec<u8>>>()
    else {
        return false;
    };
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.as_bytes());
    let mut signed = format!("{timestamp}.").into_bytes();
    signed.extend_from_slice(body);
    ring::hmac::verify(&key, &signed, &tag).is_ok()
}

async fn receive(
    State(receiver): State<Receiver>,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, &'static str) {
    let signature_valid = verify(receiver.secret, &headers, &body);
    let body = serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null);
    receiver.received.lock().unwrap().push(Received {
        headers,
        body,
        signature_valid,
    });
    receiver.answer
}

/// Starts a receiver; returns its URL and what it records.
async fn start(
    secret: &'static str,
    answer: (StatusCode, &'static str),
) -> (String, Arc<Mutex<Vec<Received>>>) {
    let received = Arc::new(Mutex::new(Vec::new()));
    let router = Router::new()
        .route("/hook", post(receive))
        .with_state(Receiver {
            secret,
            answer,
            received: received.clone(),
        });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    (format!("http://{address}/hook"), received)
}

fn notifier(url: &str, extra: &str) -> Arc<dyn Notifier> {
    let env = |name: &str| match name {
        "HOOK_SECRET" => Some(SECRET.to_string()),
        "HOOK_TOKEN" => Some("tok-123".to_string()),
        _ => None,
    };
    let text = format!(
        "[[notifier]]\nname = \"ops-hook\"\ntype = \"webhook\"\nurl = \"{url}\"\ntimeout = \"5s\"\n{extra}"
    );
    let config = from_str(&text, "test.toml", &env).unwrap_or_else(|e| panic!("{e}"));
    build_notifiers(&config.notifiers).remove(0)
}

fn notice(rule: &str, kind: NoticeKind, severity: Severity) -> AlertNotice {
    AlertNotice {
        alert_id: format!("{rule}|host=web1"),
        rule: rule.to_string(),
        kind,
        severity,
        previous_severity: None,
        category: Category::Resource,
        labels: BTreeMap::from([
            ("alertname".to_string(), rule.to_string()),
            ("host".to_string(), "web1".to_string()),
        ]),
        summary: format!("{rule} usage high on web1"),
        description: "Above the threshold for 2m.".to_string(),
        value: "97.0%".to_string(),
        threshold: "95%".to_string(),
        since_ms: 1_700_000_000_000,
        at_ms: 1_700_000_120_000,
        runbook_url: None,
        explains: Vec::new(),
        resolved_while_muted: None,
    }
}

fn message(notices: Vec<AlertNotice>) -> GroupMessage {
    GroupMessage {
        idempotency_key: "outbox-42-1".to_string(),
        group_key: "host=web1".to_string(),
        group_labels: BTreeMap::from([("host".to_string(), "web1".to_string())]),
        notices,
        dashboard_url: Some("http://127.0.0.1:9898/".to_string()),
        created_ms: 1_700_000_120_000,
    }
}

#[tokio::test]
async fn posts_the_signed_json_payload_with_its_idempotency_key() {
    let _machine = crate::common::machine::shared();
    let (url, received) = start(SECRET, (StatusCode::NO_CONTENT, "")).await;
    let hook = notifier(
        &url,
        "secret = \"${HOOK_SECRET}\"\nheaders = { Authorization = \"Bearer ${HOOK_TOKEN}\" }\n",
    );
    let group = message(vec![
        notice("memory", NoticeKind::Firing, Severity::Warning),
        notice("cpu", NoticeKind::Escalated, Severity::Critical),
    ]);
    hook.send(&group).await.expect("delivered");
    let received = received.lock().unwrap().clone();
    let [got] = received.as_slice() else {
        panic!("one request expected, got {received:?}")
    };
    assert!(
        got.signature_valid,
        "the receiver could not verify the signature"
    );
    let header = |name: &str| got.headers.get(name).and_then(|v| v.to_str().ok());
    assert_eq!(header("idempotency-key"), Some("outbox-42-1"));
    assert_eq!(header("content-type"), Some("application/json"));
    assert_eq!(header("authorization"), Some("Bearer tok-123"));
    assert!(
        header("user-agent").is_some_and(|ua| ua.starts_with("lookout/")),
        "{:?}",
        header("user-agent")
    );
    let body = &got.body;
    assert_eq!(body["version"], 1);
    assert_eq!(body["idempotency_key"], "outbox-42-1");
    assert_eq!(body["group_key"], "host=web1");
    assert_eq!(body["group_labels"], serde_json::json!({"host": "web1"}));
    assert_eq!(body["status"], "firing");
    assert_eq!(body["severity"], "critical");
    assert_eq!(body["dashboard_url"], "http://127.0.0.1:9898/");
    let notices = body["notices"].as_array().unwrap();
    assert_eq!(notices.len(), 2);
    // Worst first.
    assert_eq!(notices[0]["rule"], "cpu");
    assert_eq!(notices[0]["kind"], "escalated");
    assert_eq!(notices[1]["rule"], "memory");
    for field in [
        "alert_id",
        "rule",
        "kind",
        "severity",
        "previous_severity",
        "category",
        "labels",
        "summary",
        "description",
        "value",
        "threshold",
        "since",
        "since_ms",
        "at",
        "at_ms",
        "runbook_url",
        "explains",
        "resolved_while_muted",
    ] {
        assert!(notices[1].get(field).is_some(), "notice has no {field}");
    }
    assert_eq!(notices[1]["since"], "2023-11-14T22:13:20.000Z");
    assert_eq!(notices[1]["value"], "97.0%");
}

#[tokio::test]
async fn a_receiver_with_another_secret_rejects_the_signature() {
    let _machine = crate::common::machine::shared();
    let (url, received) = start("not-the-same-secret", (StatusCode::OK, "ok")).await;
    let hook = notifier(&url, "secret = \"${HOOK_SECRET}\"\n");
    let group = message(vec![notice("cpu", NoticeKind::Firing, Severity::Critical)]);
    hook.send(&group).await.expect("the receiver answered 200");
    let received = received.lock().unwrap().clone();
    assert_eq!(received.len(), 1);
    assert!(
        !received[0].signature_valid,
        "a wrong secret must not verify"
    );
    // And an unsigned request does not verify either.
    let (url, received) = start(SECRET, (StatusCode::OK, "ok")).await;
    notifier(&url, "").send(&group).await.expect("delivered");
    let received = received.lock().unwrap().clone();
    assert!(!received[0].signature_valid);
    assert!(received[0].headers.get("x-lookout-signature").is_none());
}

#[tokio::test]
async fn slack_format_sends_text_and_coloured_attachments() {
    let _machine = crate::common::machine::shared();
    let (url, received) = start(SECRET, (StatusCode::OK, "ok")).await;
    let hook = notifier(&url, "format = \"slack\"\n");
    let group = message(vec![
        notice("cpu", NoticeKind::Resolved, Severity::Critical),
        notice("memory", NoticeKind::Resolved, Severity::Warning),
    ]);
    hook.send(&group).await.expect("delivered");
    let received = received.lock().unwrap().clone();
    let body = &received[0].body;
    assert_eq!(
        body["text"],
        "[RESOLVED] cpu usage high on web1 (+1 more) — web1 <http://127.0.0.1:9898/|dashboard>"
    );
    let attachments = body["attachments"].as_array().unwrap();
    assert_eq!(attachments.len(), 2);
    for attachment in attachments {
        assert_eq!(attachment["color"], "#2e7d32", "resolved is green");
        assert!(
            attachment["fields"]
                .as_array()
                .is_some_and(|f| !f.is_empty())
        );
    }
    assert_eq!(attachments[0]["title"], "[RESOLVED] cpu usage high on web1");
}

#[tokio::test]
async fn a_500_is_retryable_and_a_400_permanent_with_status_and_body() {
    let _machine = crate::common::machine::shared();
    let group = message(vec![notice("cpu", NoticeKind::Firing, Severity::Critical)]);
    let (url, _) = start(
        SECRET,
        (StatusCode::INTERNAL_SERVER_ERROR, "database is down"),
    )
    .await;
    let origin = url.trim_end_matches("/hook").to_string();
    let error = notifier(&url, "").send(&group).await.expect_err("500");
    assert_eq!(
        error,
        NotifyError::retryable(format!(
            "webhook ops-hook ({origin}): HTTP 500 Internal Server Error: database is down"
        ))
    );
    let (url, _) = start(SECRET, (StatusCode::BAD_REQUEST, "unknown field \"x\"")).await;
    let origin = url.trim_end_matches("/hook").to_string();
    let error = notifier(&url, "").send(&group).await.expect_err("400");
    assert_eq!(
        error,
        NotifyError::permanent(format!(
            "webhook ops-hook ({origin}): HTTP 400 Bad Request: unknown field \"x\""
        ))
    );
    let (url, _) = start(SECRET, (StatusCode::TOO_MANY_REQUESTS, "")).await;
    let error = notifier(&url, "").send(&group).await.expect_err("429");
    assert!(error.retryable, "{error:?}");
}

#[tokio::test]
async fn errors_never_show_the_path_or_query_of_the_url() {
    let _machine = crate::common::machine::shared();
    // Nobody listens: a retryable connection error naming only scheme://host:port.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}/services/T000/B000/XXXXSECRET?token=abc");
    let group = message(vec![notice("cpu", NoticeKind::Firing, Severity::Critical)]);
    let error = notifier(&url, "").send(&group).await.expect_err("refused");
    assert!(error.retryable, "{error:?}");
    assert!(
        error.message.starts_with(&format!(
            "webhook ops-hook (http://127.0.0.1:{port}): connection refused"
        )),
        "{}",
        error.message
    );
    assert!(
        !error.message.contains("XXXXSECRET") && !error.message.contains("abc"),
        "{}",
        error.message
    );
}

/// Regression (issue 16, finding 6): a webhook answering 503 while a check went down, up and
/// down got a key reused for another message (an urgent notice had pulled not-yet-due rows
/// into its batch, and the retry split them under that key), and got the first firing after
/// the resolution and the newer firing. A receiver deduping on the key (as the docs say) then
/// drops real notices and shows a stale state last.
#[test]
fn a_webhook_answering_503_while_a_check_goes_down_up_down_gets_one_body_per_key_in_order() {
    let _machine = crate::common::machine::shared();
    const SECRET: &str = "whsec-503-e2e";
    let limit = Duration::from_secs(120);
    let dir = tempfile::tempdir().unwrap();
    let hook = HookReceiver::start(SECRET);
    hook.refuse(503);
    let app = FlipServer::start(500);
    // No resolve_wait: the resolution is queued (and refused) before the app fails again,
    // instead of being withdrawn by that failure; the new firing (critical, urgent) then goes
    // out with the older, still undelivered resolution. The outbox retries after 500 ms,
    // doubling up to 2 s (the defaults, 5 s up to 5 min, took 25 s for the same retries).
    let extra = format!(
        "\n[alerts]\nhost = \"web-test\"\ngroup_wait = \"1s\"\ngroup_interval = \"10s\"\nresolve_wait = \"0s\"\n\
         outbox_backoff = \"500ms\"\noutbox_backoff_max = \"2s\"\n\
         [[alerts.rule]]\nname = \"cpu_usage\"\nenabled = false\n\
         [[alerts.rule]]\nname = \"memory_usage\"\nenabled = false\n\
         [[alerts.rule]]\nname = \"disk_usage\"\nenabled = false\n\
         [[alerts.rule]]\nname = \"http_response_time\"\nenabled = false\n\n\
         [[notifier]]\nname = \"ops-hook\"\ntype = \"webhook\"\nurl = \"http://{}/hook\"\n\
         secret = \"{SECRET}\"\n",
        hook.addr
    ) + &http_check("app", &app.url(), "");
    let config = common::write_config(dir.path(), 0, &extra);
    let daemon = common::Daemon::start(&config);

    let tried = |n: usize| {
        poll(limit, &format!("{n} webhook attempt(s)"), || {
            (hook.received().len() >= n).then_some(())
        })
    };
    // Down: the firing is tried (503).
    tried(1);
    // Up: the resolution is queued; down again: the new firing is urgent.
    app.set(200);
    poll(limit, "the resolution in the outbox", || {
        daemon.json("/api/v1/outbox?all=true")["outbox"]
            .as_array()
            .unwrap()
            .iter()
            .any(|row| row["kind"] == "resolved")
            .then_some(())
    });
    app.set(500);
    // Keep answering 503 through several retries of each row: the attempt of the new firing,
    // then three more.
    let before = hook.received().len();
    tried(before + 4);
    hook.accept();

    let outbox = |all: bool| -> Vec<serde_json::Value> {
        let path = if all {
            "/api/v1/outbox?all=true"
        } else {
            "/api/v1/outbox"
        };
        daemon.json(path)["outbox"].as_array().unwrap().clone()
    };
    poll(limit, "the outbox empty", || {
        outbox(false).is_empty().then_some(())
    });
    let received = hook.received();
    let rows = outbox(true);
    let summary: Vec<String> = received
        .iter()
        .map(|r| {
            let body: serde_json::Value = serde_json::from_str(&r.body).unwrap();
            let notices: Vec<String> = body["notices"]
                .as_array()
                .unwrap()
                .iter()
                .map(|n| format!("{}@{}", n["kind"], n["at_ms"]))
                .collect();
            format!(
                "{} {} {}",
                r.status,
                body["idempotency_key"],
                notices.join(",")
            )
        })
        .collect();
    let context = format!("requests:\n{}\noutbox: {rows:#?}", summary.join("\n"));

    // The retries happened: a message refused was sent again under its key.
    let mut refused: BTreeMap<String, usize> = BTreeMap::new();
    for request in received.iter().filter(|r| r.status == 503) {
        *refused
            .entry(request.headers["idempotency-key"].clone())
            .or_default() += 1;
    }
    assert!(
        refused.values().any(|&n| n >= 2),
        "no message was retried while refused\n{context}"
    );

    // One body per key, whatever the receiver answered.
    let mut bodies: BTreeMap<String, String> = BTreeMap::new();
    for request in &received {
        assert!(request.verified, "{context}");
        let key = request.headers["idempotency-key"].clone();
        let body = bodies
            .entry(key.clone())
            .or_insert_with(|| request.body.clone());
        assert_eq!(
            *body, request.body,
            "key {key} sent with two bodies\n{context}"
        );
    }

    // What a deduping receiver keeps: the first 2xx of each key, in arrival order.
    let mut seen = std::collections::BTreeSet::new();
    let mut delivered: Vec<(String, i64)> = Vec::new();
    for request in received.iter().filter(|r| r.status == 200) {
        if !seen.insert(request.headers["idempotency-key"].clone()) {
            continue;
        }
        let body: serde_json::Value = serde_json::from_str(&request.body).unwrap();
        for notice in body["notices"].as_array().unwrap() {
            assert_eq!(notice["labels"]["check"], "app", "{context}");
            delivered.push((
                notice["kind"].as_str().unwrap().to_string(),
                notice["at_ms"].as_i64().unwrap(),
            ));
        }
    }
    assert!(
        delivered.windows(2).all(|w| w[0].1 < w[1].1),
        "the app's notices out of order: {delivered:?}\n{context}"
    );
    // Every row the engine queued delivered once (none given up, dropped or deduped away),
    // in the order the engine decided them, the newest (the second firing) last.
    assert!(rows.iter().all(|r| r["state"] == "delivered"), "{context}");
    let queued: Vec<&str> = rows
        .iter()
        .rev()
        .map(|r| r["kind"].as_str().unwrap())
        .collect();
    let kinds: Vec<&str> = delivered.iter().map(|(kind, _)| kind.as_str()).collect();
    assert_eq!(kinds, queued, "{context}");
    assert!(queued.len() >= 3, "down, up, down: {context}");
    assert_eq!(kinds.last(), Some(&"firing"), "{context}");
}
