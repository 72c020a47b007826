//! Switching the monitored app's own maintenance mode: the steps of
//! `[[maintenance.control.start]]` / `[[maintenance.control.stop]]`, run in order by
//! `lookout maintenance start|stop` (and the dashboard) before a window is recorded. The first
//! step that fails stops the rest and is the error.
//!
//! An HTTP step goes through the checks' hyper client (`base::net`, no
//! redirects); any 2xx is success. Its body's placeholders `{reason}`, `{mode}`, `{minutes}`
//! and `{until}` become JSON values (strings quoted and escaped). A command step runs without
//! a shell, placeholders replaced as plain text in its arguments; exit code 0 is success.
//! Each step is bounded by the timeout. Errors are one line of plain words: URLs only through
//! `mask_url`, header values and command arguments never.

use std::process::Stdio;
use std::time::Duration;

use super::Mode;
use crate::base::net::{self, TlsClient, TlsSettings};
use crate::base::secret::Secret;
use crate::base::secret::mask_url;
use crate::base::units::format_duration;
use crate::clock::{UnixMillis, format_rfc3339};
use crate::config::maintenance::{CommandStep, ControlAction, HttpStep};

/// The most of a response body read, and of it the most shown in an error.
const MAX_BODY: u64 = 4096;
const SNIPPET: usize = 200;

/// What the placeholders stand for.
#[derive(Debug, Clone, PartialEq)]
pub struct ControlContext {
    /// `{reason}`.
    pub reason: String,
    /// `{mode}`: "normal", "emergency" or "test".
    pub mode: Mode,
    /// `{minutes}`: the planned duration in whole minutes.
    pub minutes: u64,
    /// `{until}`: the planned end, as RFC 3339.
    pub until_ms: UnixMillis,
}

/// The step that failed and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("control step {step} of {steps} ({what}) failed: {reason}")]
pub struct ControlError {
    /// 1-based.
    pub step: usize,
    pub steps: usize,
    /// "POST http://127.0.0.1:5000/admin/maintenance" or "command /usr/local/bin/app".
    pub what: String,
    pub reason: String,
}

/// Runs `actions` in order, each within `timeout`; stops at the first failure.
pub async fn run(
    actions: &[ControlAction],
    timeout: Duration,
    ctx: &ControlContext,
) -> Result<(), ControlError> {
    for (i, action) in actions.iter().enumerate() {
        let what = describe(action);
        // The steps bound their own phases; this is a fence against anything that does not.
        let outcome = match tokio::time::timeout(timeout + Duration::from_secs(1), async {
            match action {
                ControlAction::Http(HttpStep {
                    method,
                    url,
                    headers,
                    body,
                }) => http(method, url, headers, body.as_deref(), timeout, ctx).await,
                ControlAction::Command(CommandStep { argv }) => command(argv, timeout, ctx).await,
            }
        })
        .await
        {
            Ok(outcome) => outcome,
            Err(_) => Err(format!("no answer within {}", format_duration(timeout))),
        };
        if let Err(reason) = outcome {
            return Err(ControlError {
                step: i + 1,
                steps: actions.len(),
                what,
                reason,
            });
        }
        tracing::info!(step = i + 1, what = %what, "maintenance control step done");
    }
    Ok(())
}

fn describe(action: &ControlAction) -> String {
    match action {
        ControlAction::Http(HttpStep { method, url, .. }) => {
            format!("{method} {}", mask_url(url.expose()))
        }
        ControlAction::Command(CommandStep { argv }) => {
            format!("command {}", argv.first().map_or("(empty)", String::as_str))
        }
    }
}

/// `text` with each placeholder replaced by `value(name)`, in one pass (a replacement is
/// never read again, so a reason holding "{mode}" stays as written).
fn fill(text: &str, value: impl Fn(&str) -> Option<String>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open..];
        let replaced = after.find('}').and_then(|close| {
            let name = &after[1..close];
            value(name).map(|v| (v, close + 1))
        });
        match replaced {
            Some((v, len)) => {
                out.push_str(&v);
                rest = &after[len..];
            }
            None => {
                out.push('{');
                rest = &after[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// A placeholder's value as plain text.
fn plain(ctx: &ControlContext, name: &str) -> Option<String> {
    Some(match name {
        "reason" => ctx.reason.clone(),
        "mode" => ctx.mode.as_str().to_string(),
        "minutes" => ctx.minutes.to_string(),
        "until" => format_rfc3339(ctx.until_ms),
        _ => return None,
    })
}

/// A placeholder's value as JSON.
fn json(ctx: &ControlContext, name: &str) -> Option<String> {
    let value = plain(ctx, name)?;
    Some(if name == "minutes" {
        value
    } else {
        serde_json::Value::String(value).to_string()
    })
}

/// The body of an HTTP step, placeholders filled in as JSON values.
pub fn http_body(body: &str, ctx: &ControlContext) -> String {
    fill(body, |name| json(ctx, name))
}

/// The arguments of a command step, placeholders filled in as plain text.
pub fn command_args(argv: &[String], ctx: &ControlContext) -> Vec<String> {
    argv.iter()
        .map(|arg| fill(arg, |name| plain(ctx, name)))
        .collect()
}

async fn http(
    method: &str,
    url: &Secret,
    headers: &[(String, Secret)],
    body: Option<&str>,
    timeout: Duration,
    ctx: &ControlContext,
) -> Result<(), String> {
    let mut all: Vec<(String, Secret)> = Vec::new();
    if body.is_some()
        && !headers
            .iter()
            .any(|(name, _)| name.eq_ignore_ascii_case("content-type"))
    {
        all.push(("Content-Type".into(), Secret::new("application/json")));
    }
    all.extend(headers.iter().cloned());
    let request = net::Request {
        url: url.expose().to_string(),
        method: method.to_string(),
        headers: all,
        body: body.map(|b| http_body(b, ctx)),
        // A redirect of a control call is a misconfiguration; following it could send the
        // request (and its credentials) somewhere nobody configured.
        follow_redirects: 0,
        max_body: MAX_BODY,
    };
    let mut tls = TlsClient::new(TlsSettings::default(), Some(b"http/1.1"));
    let deadline = tokio::time::Instant::now() + timeout;
    let response = net::fetch(&request, &mut tls, deadline, timeout).await?;
    if (200..300).contains(&response.status) {
        return Ok(());
    }
    let mut text = net::http_failure(response.status, &response.body);
    // The app might echo the request: never let a header value or the URL through.
    for secret in headers
        .iter()
        .map(|(_, value)| value)
        .chain(std::iter::once(url))
    {
        if !secret.is_empty() {
            text = text.replace(secret.expose(), "***");
        }
    }
    Err(text)
}

async fn command(argv: &[String], timeout: Duration, ctx: &ControlContext) -> Result<(), String> {
    let Some((program, _)) = argv.split_first() else {
        return Err("the command is empty".to_string());
    };
    let args = command_args(&argv[1..], ctx);
    let child = tokio::process::Command::new(program)
        .args(&args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("cannot run {program}: {e}"))?;
    let output = tokio::time::timeout(timeout, child.wait_with_output())
        .await
        // Dropping the future kills the child.
        .map_err(|_| format!("still running after {}; killed", format_duration(timeout)))?
        .map_err(|e| format!("cannot wait for {program}: {e}"))?;
    if output.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    let last = stderr
        .lines()
        .map(str::trim)
        .rfind(|line| !line.is_empty())
        .map(|line| format!(": {}", line.chars().take(SNIPPET).collect::<String>()))
        .unwrap_or_default();
    use std::os::unix::process::ExitStatusExt;
    Err(match (output.status.code(), output.status.signal()) {
        (Some(code), _) => format!("exited with code {code}{last}"),
        (None, Some(signal)) => format!("killed by signal {signal}{last}"),
        (None, None) => format!("failed{last}"),
    })
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use axum::body::Bytes;
    use axum::http::{HeaderMap, StatusCode};
    use axum::routing::post;

    use super::*;

    fn ctx() -> ControlContext {
        ControlContext {
            reason: "upgrade \"db\" {mode}\nnow".into(),
            mode: Mode::Emergency,
            minutes: 30,
            until_ms: 1_700_000_000_000,
        }
    }

    fn argv(args: &[&str]) -> ControlAction {
        ControlAction::Command(CommandStep {
            argv: args.iter().map(|a| a.to_string()).collect(),
        })
    }

    #[test]
    fn placeholders_are_json_in_bodies_and_plain_text_in_arguments() {
        let body = r#"{"enable": true, "reason": {reason}, "mode": {mode}, "minutes": {minutes}, "until": {until}, "x": "{other}", "y": "{"}"#;
        let filled = http_body(body, &ctx());
        assert_eq!(
            filled,
            r#"{"enable": true, "reason": "upgrade \"db\" {mode}\nnow", "mode": "emergency", "minutes": 30, "until": "2023-11-14T22:13:20.000Z", "x": "{other}", "y": "{"}"#
        );
        let value: serde_json::Value = serde_json::from_str(&filled).unwrap();
        assert_eq!(value["reason"], "upgrade \"db\" {mode}\nnow");
        assert_eq!(
            command_args(
                &[
                    "--reason={reason}".into(),
                    "{mode}".into(),
                    "{minutes}m until {until}".into()
                ],
                &ctx()
            ),
            vec![
                "--reason=upgrade \"db\" {mode}\nnow",
                "emergency",
                "30m until 2023-11-14T22:13:20.000Z"
            ]
        );
    }

    /// A local app: answers `status` to POSTs on /maintenance and keeps what it received.
    async fn app(
        status: StatusCode,
        answer: &'static str,
    ) -> (String, Arc<Mutex<Vec<(HeaderMap, String)>>>) {
        let seen: Arc<Mutex<Vec<(HeaderMap, String)>>> = Arc::default();
        let sink = seen.clone();
        let router = axum::Router::new().route(
            "/maintenance",
            post(move |headers: HeaderMap, body: Bytes| {
                let sink = sink.clone();
                async move {
                    sink.lock()
                        .unwrap()
                        .push((headers, String::from_utf8_lossy(&body).into_owned()));
                    (status, answer)
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        (format!("http://{addr}/maintenance"), seen)
    }

    fn http_step(url: &str, body: &str) -> ControlAction {
        ControlAction::Http(HttpStep {
            method: "POST".into(),
            url: Secret::new(url),
            headers: vec![("Authorization".into(), Secret::new("Bearer s3cret-token"))],
            body: Some(body.into()),
        })
    }

    #[tokio::test]
    async fn http_steps_post_the_filled_body_and_run_in_order() {
        let (url, seen) = app(StatusCode::NO_CONTENT, "").await;
        let dir = tempfile::tempdir().unwrap();
        let marker = dir.path().join("ran");
        let steps = vec![
            http_step(&url, r#"{"reason": {reason}, "minutes": {minutes}}"#),
            argv(&[
                "/bin/sh",
                "-c",
                "printf '%s' \"$1\" > \"$2\"",
                "sh",
                "{mode} {minutes}",
                marker.to_str().unwrap(),
            ]),
        ];
        run(&steps, Duration::from_secs(5), &ctx()).await.unwrap();
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 1);
        let (headers, body) = &seen[0];
        let body: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(
            body,
            serde_json::json!({"reason": "upgrade \"db\" {mode}\nnow", "minutes": 30})
        );
        assert_eq!(headers["content-type"], "application/json");
        assert_eq!(headers["authorization"], "Bearer s3cret-token");
        assert_eq!(std::fs::read_to_string(&marker).unwrap(), "emergency 30");
    }

    #[tokio::test]
    async fn a_failing_http_step_stops_the_rest_and_shows_no_secret() {
        let (url, _) = app(
            StatusCode::INTERNAL_SERVER_ERROR,
            "token Bearer s3cret-token refused",
        )
        .await;
        let dir = tempfile::tempdir().unwrap();
        let marker = dir.path().join("ran");
        let url = url.replace("http://", "http://admin:hunter2@");
        let steps = vec![
            http_step(&url, "{}"),
            argv(&["/usr/bin/touch", marker.to_str().unwrap()]),
        ];
        let error = run(&steps, Duration::from_secs(5), &ctx())
            .await
            .unwrap_err();
        assert_eq!((error.step, error.steps), (1, 2));
        let text = error.to_string();
        assert!(
            text.starts_with("control step 1 of 2 (POST http://admin:***@127.0.0.1:"),
            "{text}"
        );
        assert!(
            text.ends_with("failed: HTTP 500 Internal Server Error: token *** refused"),
            "{text}"
        );
        assert!(
            !text.contains("hunter2") && !text.contains("s3cret"),
            "{text}"
        );
        assert!(!marker.exists(), "the step after a failure does not run");

        let refused = http_step("http://127.0.0.1:1/maintenance", "{}");
        let error = run(&[refused], Duration::from_secs(5), &ctx())
            .await
            .unwrap_err();
        assert!(error.reason.contains("connection refused"), "{error}");
    }

    #[tokio::test]
    async fn a_failing_command_says_its_exit_code_and_last_stderr_line() {
        let failing = argv(&[
            "/bin/sh",
            "-c",
            "echo first >&2; echo 'maintenance already on' >&2; exit 3",
        ]);
        let error = run(
            &[argv(&["/bin/true"]), failing],
            Duration::from_secs(5),
            &ctx(),
        )
        .await
        .unwrap_err();
        assert_eq!(
            error.to_string(),
            "control step 2 of 2 (command /bin/sh) failed: exited with code 3: maintenance already on"
        );
        let error = run(
            &[argv(&["/nonexistent/app", "on"])],
            Duration::from_secs(5),
            &ctx(),
        )
        .await
        .unwrap_err();
        assert!(
            error
                .reason
                .starts_with("cannot run /nonexistent/app: No such file"),
            "{error}"
        );
        let started = std::time::Instant::now();
        let error = run(
            &[argv(&["/bin/sleep", "10"])],
            Duration::from_millis(300),
            &ctx(),
        )
        .await
        .unwrap_err();
        assert_eq!(error.reason, "still running after 300ms; killed");
        assert!(started.elapsed() < Duration::from_secs(5));
        assert_eq!(run(&[], Duration::from_secs(1), &ctx()).await, Ok(()));
    }
}
