//! Access control through `router(state)`, without a socket; time from a `ManualClock`.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use tower::ServiceExt;

use super::*;
use crate::bus::Bus;
use crate::clock::ManualClock;
use crate::exporter::Snapshot;
use crate::model::BusMessage;
use crate::store::{Store, StoreOptions};
use crate::web::{ROUTES, router};

const T0: i64 = 1_764_237_600_000;
const PASSWORD: &str = "a long password";

struct Env {
    state: AppState,
    clock: Arc<ManualClock>,
    bus: Bus,
    _dir: tempfile::TempDir,
}

async fn env() -> Env {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let store = Store::open(dir.path(), StoreOptions::default(), clock.clone())
        .await
        .unwrap();
    let hash = secret::hash_password(PASSWORD).unwrap();
    store.add_user("ann", Role::Admin, &hash).await.unwrap();
    store.add_user("vic", Role::Viewer, &hash).await.unwrap();
    let bus = Bus::new(64);
    let snapshot = Snapshot::new();
    let state = AppState {
        config: Default::default(),
        maintenance: None,
        metrics_page: crate::exporter::MetricsPage::new(
            snapshot.clone(),
            crate::web::VERSION,
            T0,
            clock.clone(),
            Duration::ZERO,
        ),
        snapshot,
        store,
        clock: clock.clone(),
        started_at_ms: T0,
        alerting: None,
        bus: Some(bus.clone()),
        auth: Arc::new(Auth::new(
            false,
            Duration::from_secs(1800),
            Duration::from_secs(43_200),
        )),
        live: Default::default(),
        receiver: Default::default(),
    };
    Env {
        state,
        clock,
        bus,
        _dir: dir,
    }
}

async fn call(state: &AppState, request: Request<Body>) -> (StatusCode, HeaderMap, String) {
    let response = router(state.clone()).oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, headers, String::from_utf8_lossy(&body).into_owned())
}

fn login_request(user: &str, password: &str, next: &str) -> Request<Body> {
    Request::post("/login")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(format!(
            "user={user}&password={}&next={next}",
            password.replace(' ', "+")
        )))
        .unwrap()
}

/// Logs in; returns the cookie pair and the CSRF token.
async fn login(state: &AppState, user: &str) -> (String, String) {
    let (status, headers, _) = call(state, login_request(user, PASSWORD, "/")).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let set = headers[header::SET_COOKIE].to_str().unwrap();
    let pair = set.split(';').next().unwrap().to_string();
    let (_, _, body) = call(
        state,
        Request::get("/api/v1/session")
            .header(header::COOKIE, &pair)
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    let session: serde_json::Value = serde_json::from_str(&body).unwrap();
    (pair, session["csrf_token"].as_str().unwrap().to_string())
}

#[tokio::test]
async fn login_sets_a_strict_http_only_cookie_and_redirects_to_next() {
    let env = env().await;
    let (status, headers, _) =
        call(&env.state, login_request("ann", PASSWORD, "/api/v1/status")).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(headers[header::LOCATION], "/api/v1/status");
    let cookie = headers[header::SET_COOKIE].to_str().unwrap();
    assert!(cookie.starts_with("lookout_session="), "{cookie}");
    for flag in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(cookie.contains(flag), "{cookie}");
    }
    assert!(!cookie.contains("Secure"), "no TLS here: {cookie}");
    // Only same-site relative paths are followed.
    let (_, headers, _) = call(
        &env.state,
        login_request("ann", PASSWORD, "//evil.example/x"),
    )
    .await;
    assert_eq!(headers[header::LOCATION], "/");
    let (pair, csrf) = login(&env.state, "ann").await;
    let (_, _, body) = call(
        &env.state,
        Request::get("/api/v1/session")
            .header(header::COOKIE, &pair)
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&body).unwrap(),
        serde_json::json!({"user": "ann", "role": "admin", "csrf_token": csrf})
    );
}

#[tokio::test]
async fn wrong_credentials_get_one_generic_message() {
    let env = env().await;
    let (status, _, wrong_password) =
        call(&env.state, login_request("ann", "wrong password!", "/")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _, no_user) =
        call(&env.state, login_request("nobody", "wrong password!", "/")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(wrong_password, no_user);
    assert!(no_user.contains(WRONG_CREDENTIALS));
}

#[tokio::test]
async fn sessions_end_when_idle_too_long_or_too_old_and_on_logout() {
    let env = env().await;
    let get = |pair: &str| {
        Request::get("/api/v1/status")
            .header(header::COOKIE, pair)
            .body(Body::empty())
            .unwrap()
    };
    let (pair, _) = login(&env.state, "ann").await;
    env.clock.advance(Duration::from_secs(1800));
    assert_eq!(
        call(&env.state, get(&pair)).await.0,
        StatusCode::OK,
        "idle exactly 30m"
    );
    env.clock
        .advance(Duration::from_secs(1800) + Duration::from_millis(1));
    assert_eq!(
        call(&env.state, get(&pair)).await.0,
        StatusCode::UNAUTHORIZED,
        "idle 30m+1ms"
    );

    let (pair, csrf) = login(&env.state, "ann").await;
    for _ in 0..24 {
        env.clock.advance(Duration::from_secs(1800));
        assert_eq!(call(&env.state, get(&pair)).await.0, StatusCode::OK);
    }
    env.clock.advance(Duration::from_millis(1));
    assert_eq!(
        call(&env.state, get(&pair)).await.0,
        StatusCode::UNAUTHORIZED,
        "older than 12h"
    );

    let (pair, csrf2) = login(&env.state, "ann").await;
    assert_ne!(csrf, csrf2);
    let logout = Request::post("/logout")
        .header(header::COOKIE, &pair)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(format!("csrf_token={csrf2}")))
        .unwrap();
    let (status, headers, _) = call(&env.state, logout).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(
        headers[header::SET_COOKIE]
            .to_str()
            .unwrap()
            .contains("Max-Age=0")
    );
    assert_eq!(
        call(&env.state, get(&pair)).await.0,
        StatusCode::UNAUTHORIZED
    );
}

fn silence_post(cookie: Option<&str>, csrf: Option<&str>, bearer: Option<&str>) -> Request<Body> {
    let mut request =
        Request::post("/api/v1/silences").header(header::CONTENT_TYPE, "application/json");
    if let Some(cookie) = cookie {
        request = request.header(header::COOKIE, cookie);
    }
    if let Some(csrf) = csrf {
        request = request.header(CSRF_HEADER, csrf);
    }
    if let Some(token) = bearer {
        request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    request
        .body(Body::from(
            r#"{"matchers": ["alertname=\"x\""], "for": "1h", "author": "t", "comment": "t"}"#,
        ))
        .unwrap()
}

#[tokio::test]
async fn csrf_token_is_required_for_cookie_writes_and_viewers_get_403() {
    let env = env().await;
    let (pair, csrf) = login(&env.state, "ann").await;
    let (status, _, body) = call(&env.state, silence_post(Some(&pair), None, None)).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(body.contains("CSRF"));
    let (status, _, _) = call(&env.state, silence_post(Some(&pair), Some("0000"), None)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _, body) = call(&env.state, silence_post(Some(&pair), Some(&csrf), None)).await;
    assert!(status.is_success(), "{status} {body}");

    let (pair, csrf) = login(&env.state, "vic").await;
    let (status, _, body) = call(&env.state, silence_post(Some(&pair), Some(&csrf), None)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(body.contains("admin role"));
}

#[tokio::test]
async fn bearer_tokens_work_without_csrf_and_cross_site_writes_are_refused() {
    let env = env().await;
    let token = secret::new_api_token();
    env.state
        .store
        .add_token("t1", "ci", Role::Admin, &secret::sha256_hex(&token))
        .await
        .unwrap();
    let (status, _, body) = call(&env.state, silence_post(None, None, Some(&token))).await;
    assert!(status.is_success(), "{status} {body}");
    let (status, _, _) = call(&env.state, silence_post(None, None, Some("lookout_wrong"))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let mut request = silence_post(None, None, Some(&token));
    request
        .headers_mut()
        .insert("sec-fetch-site", "cross-site".parse().unwrap());
    assert_eq!(call(&env.state, request).await.0, StatusCode::FORBIDDEN);
    let mut request = login_request("ann", PASSWORD, "/");
    request
        .headers_mut()
        .insert(header::ORIGIN, "https://evil.example".parse().unwrap());
    request
        .headers_mut()
        .insert(header::HOST, "127.0.0.1:9898".parse().unwrap());
    assert_eq!(call(&env.state, request).await.0, StatusCode::FORBIDDEN);
    let mut request = login_request("ann", PASSWORD, "/");
    request
        .headers_mut()
        .insert(header::ORIGIN, "http://127.0.0.1:9898".parse().unwrap());
    request
        .headers_mut()
        .insert(header::HOST, "127.0.0.1:9898".parse().unwrap());
    assert_eq!(call(&env.state, request).await.0, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn every_route_but_the_public_ones_needs_credentials() {
    let env = env().await;
    let token = secret::new_api_token();
    env.state
        .store
        .add_token("t1", "ci", Role::Admin, &secret::sha256_hex(&token))
        .await
        .unwrap();
    // `{name}` is a check the dashboard knows (an unknown one's page is a 404).
    env.state.config.replace(
        crate::config::from_str(
            "[[check]]\nname = \"app\"\ntype = \"tcp\"\naddress = \"127.0.0.1:1\"\n",
            "t.toml",
            &|_| None,
        )
        .unwrap(),
    );
    let public = [
        "GET /login",
        "POST /login",
        "GET /healthz",
        "GET /metrics",
        "GET /assets/{file}",
    ];
    for (path, method) in ROUTES {
        // A host page of this Lookout itself (any other name is a 404).
        let own_host = format!("/hosts/{}", env.state.config.get().alerts.host);
        let uri = path
            .replace("{id}", "x")
            .replace("{file}", "app.js")
            .replace("/hosts/{name}", &own_host)
            .replace("{name}", "app");
        let name = format!("{method} {path}");
        let request = Request::builder()
            .method(method.clone())
            .uri(&uri)
            .body(Body::empty())
            .unwrap();
        let (status, _, body) = call(&env.state, request).await;
        if public.contains(&name.as_str()) {
            assert_ne!(status, StatusCode::UNAUTHORIZED, "{name}");
        } else {
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{name}: {body}");
            assert!(body.contains("\"error\""), "{name}: {body}");
        }
        // The listed route exists.
        let request = Request::builder()
            .method(method.clone())
            .uri(&uri)
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .body(Body::empty())
            .unwrap();
        let status = call(&env.state, request).await.0;
        assert!(
            status != StatusCode::NOT_FOUND && status != StatusCode::METHOD_NOT_ALLOWED
                || path.contains("{id}"),
            "{name}: {status}"
        );
    }
    // Not listed, still protected: the guard denies by default.
    for uri in ["/api/v1/not-yet", "/dashboard/x"] {
        let request = Request::get(uri).body(Body::empty()).unwrap();
        assert_eq!(
            call(&env.state, request).await.0,
            StatusCode::UNAUTHORIZED,
            "{uri}"
        );
    }
    // A browser asking for a page is sent to the login form.
    let request = Request::get("/?x=1")
        .header(header::ACCEPT, "text/html")
        .body(Body::empty())
        .unwrap();
    let (status, headers, _) = call(&env.state, request).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(headers[header::LOCATION], "/login?next=/%3Fx%3D1");
}

/// A login attempt from `peer`, with an `X-Forwarded-For` header when given.
fn login_from(user: &str, password: &str, peer: &str, forwarded: Option<&str>) -> Request<Body> {
    let mut request = login_request(user, password, "/");
    let peer: std::net::SocketAddr = format!("{peer}:40000").parse().unwrap();
    request
        .extensions_mut()
        .insert(axum::extract::ConnectInfo(peer));
    if let Some(forwarded) = forwarded {
        request
            .headers_mut()
            .insert("x-forwarded-for", forwarded.parse().unwrap());
    }
    request
}

/// Sends `request()` as soon as the limiter allows (advancing the clock by Retry-After).
async fn when_allowed(env: &Env, request: impl Fn() -> Request<Body>) -> StatusCode {
    loop {
        let (status, headers, body) = call(&env.state, request()).await;
        if status != StatusCode::TOO_MANY_REQUESTS || body.contains("minutes") {
            return status;
        }
        let wait: u64 = headers[header::RETRY_AFTER]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((1..=60).contains(&wait), "{wait}");
        env.clock.advance(Duration::from_secs(wait));
    }
}

#[tokio::test]
async fn five_failures_lock_the_user_at_that_address_for_15_minutes_and_raise_a_security_incident()
{
    let env = env().await;
    let mut rx = env.bus.subscribe();
    // Three failures cost nothing; the fourth must wait 1 s (429 with Retry-After, nothing
    // verified), the fifth 2 s.
    for _ in 0..3 {
        let (status, _, _) = call(&env.state, login_request("ann", "wrong password!", "/")).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    let (status, headers, body) =
        call(&env.state, login_request("ann", "wrong password!", "/")).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(headers[header::RETRY_AFTER], "1");
    assert!(body.contains("Try again in 1 second."), "{body}");
    for _ in 0..2 {
        let status = when_allowed(&env, || login_request("ann", "wrong password!", "/")).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    // Locked: even the right password is refused until exactly 15 minutes later.
    let (status, headers, body) = call(&env.state, login_request("ann", PASSWORD, "/")).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(headers[header::RETRY_AFTER], "900");
    assert!(body.contains("Try again in 15 minutes."), "{body}");
    env.clock
        .advance(Duration::from_secs(900) - Duration::from_millis(1));
    assert_eq!(
        call(&env.state, login_request("ann", PASSWORD, "/"))
            .await
            .0,
        StatusCode::TOO_MANY_REQUESTS
    );
    env.clock.advance(Duration::from_millis(1));
    assert_eq!(
        call(&env.state, login_request("ann", PASSWORD, "/"))
            .await
            .0,
        StatusCode::SEE_OTHER
    );

    let mut events = Vec::new();
    let mut results = Vec::new();
    while let Some(message) = rx.try_recv() {
        match message {
            BusMessage::Event(e) => events.push(e),
            BusMessage::Observation(o) => results.push(o.checks[0].clone()),
        }
    }
    let detail = "5 failed logins for ann from unknown; ann locked out from unknown until 2025-11-27T10:15:03.000Z";
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].kind, EventKind::Security);
    assert_eq!(events[0].message, detail);
    assert_eq!(results[0].check, "security:login");
    assert_eq!(results[0].status, Status::Critical);
    assert_eq!(results[0].detail, detail);
    assert_eq!(results[0].layer, Layer::Application);
    // The lockout is over: OK again.
    assert_eq!(results.last().unwrap().status, Status::Ok);
}

#[tokio::test]
async fn a_user_locked_out_from_one_address_still_logs_in_from_another() {
    let env = env().await;
    for _ in 0..5 {
        let status = when_allowed(&env, || {
            login_from("ann", "wrong password!", "203.0.113.7", None)
        })
        .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    let (status, _, _) = call(&env.state, login_from("ann", PASSWORD, "203.0.113.7", None)).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    let (status, _, _) = call(
        &env.state,
        login_from("ann", PASSWORD, "198.51.100.1", None),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::SEE_OTHER,
        "ann at her own address is let in"
    );
}

#[tokio::test]
async fn twenty_failures_from_one_address_lock_the_address() {
    let env = env().await;
    for i in 0..20 {
        let user = format!("u{i}");
        let status = when_allowed(&env, || login_request(&user, "wrong password!", "/")).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "attempt {i}");
    }
    assert_eq!(
        call(&env.state, login_request("vic", PASSWORD, "/"))
            .await
            .0,
        StatusCode::TOO_MANY_REQUESTS
    );
    env.clock.advance(Duration::from_secs(900));
    assert_eq!(
        call(&env.state, login_request("vic", PASSWORD, "/"))
            .await
            .0,
        StatusCode::SEE_OTHER
    );
}

#[tokio::test]
async fn x_forwarded_for_counts_only_from_a_trusted_proxy() {
    let mut env = env().await;
    let mut config = crate::config::embedded_default();
    config.server.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    env.state.auth = Arc::new(Auth::from_config(&config.server));
    // Behind the proxy, 20 failures from one client lock that client, not everyone.
    for i in 0..20 {
        let user = format!("u{i}");
        let status = when_allowed(&env, || {
            login_from(&user, "wrong password!", "127.0.0.1", Some("198.51.100.66"))
        })
        .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    let (status, _, _) = call(
        &env.state,
        login_from("vic", PASSWORD, "127.0.0.1", Some("198.51.100.66")),
    )
    .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    let (status, _, _) = call(
        &env.state,
        login_from("vic", PASSWORD, "127.0.0.1", Some("192.0.2.10, 127.0.0.1")),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::SEE_OTHER,
        "another client behind the proxy"
    );
    // A client that is not a trusted proxy cannot pick its address with the header.
    for _ in 0..5 {
        let status = when_allowed(&env, || {
            login_from("ann", "wrong password!", "203.0.113.9", Some("192.0.2.1"))
        })
        .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    let (status, _, _) = call(
        &env.state,
        login_from("ann", PASSWORD, "203.0.113.9", Some("192.0.2.99")),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::TOO_MANY_REQUESTS,
        "the header was ignored"
    );
}

#[test]
fn client_ip_reads_x_forwarded_for_from_the_right_past_trusted_proxies() {
    let trusted: Vec<ipnet::IpNet> =
        vec!["10.0.0.0/8".parse().unwrap(), "::1/128".parse().unwrap()];
    let ip = |s: &str| s.parse::<std::net::IpAddr>().unwrap();
    let cases = [
        ("10.0.0.1", "", "10.0.0.1"),
        ("10.0.0.1", "192.0.2.1", "192.0.2.1"),
        ("10.0.0.1", "6.6.6.6, 192.0.2.1, 10.0.0.2", "192.0.2.1"),
        ("10.0.0.1", "garbage, 192.0.2.1", "192.0.2.1"),
        ("10.0.0.1", "192.0.2.1, garbage", "10.0.0.1"),
        ("203.0.113.1", "192.0.2.1", "203.0.113.1"),
        ("::1", "2001:db8::1", "2001:db8::1"),
        ("::ffff:10.0.0.1", "192.0.2.5", "192.0.2.5"),
    ];
    for (peer, header, want) in cases {
        assert_eq!(
            super::client_ip(ip(peer), header, &trusted),
            ip(want),
            "{peer} {header}"
        );
    }
}
