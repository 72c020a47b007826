//! Windows opened by hand — `lookout maintenance start|stop|extend` and the dashboard's
//! buttons share this: the configured control steps switch the app first (if one fails,
//! nothing is recorded, so Lookout never believes in a window the app did not get), then the
//! window is written to the store, where the daemon's maintenance loop reads it. The store is
//! reached through the `Windows` trait (the store implements it), so maintenance does not
//! depend on the store.

use std::future::Future;
use std::time::Duration;

use super::control::{self, ControlContext, ControlError};
use super::{ManualWindow, Mode, Origin};
use crate::base::units::parse_duration;
use crate::clock::UnixMillis;
use crate::config::maintenance::ControlConfig;

/// The longest window that can be opened by hand (the app's own limit is a day too).
pub const MAX_WINDOW: Duration = Duration::from_secs(24 * 3600);

#[derive(Debug, thiserror::Error)]
pub enum ManualError {
    #[error("{0}")]
    BadInput(String),
    #[error("the app's maintenance mode could not be switched, so nothing was recorded: {0}")]
    Control(#[from] ControlError),
    /// The store could not record it (the store's own error, as it says it).
    #[error("{0}")]
    Store(WindowsError),
    #[error("no maintenance window is active")]
    NotActive,
}

/// What the store says when it cannot keep a window.
pub type WindowsError = Box<dyn std::error::Error + Send + Sync>;

/// Where windows opened by hand are kept: the store (`store::maintenance`).
pub trait Windows: Sync {
    /// Records `window`; its id.
    fn record_window(
        &self,
        window: &ManualWindow,
    ) -> impl Future<Output = Result<i64, WindowsError>> + Send;
    /// Stops the windows active at `now_ms`; them, stopped.
    fn stop_active_windows(
        &self,
        now_ms: UnixMillis,
    ) -> impl Future<Output = Result<Vec<ManualWindow>, WindowsError>> + Send;
    /// Moves the end of the active window that ends last by `by_ms`; `None` when none is
    /// active at `now_ms`.
    fn extend_active_window(
        &self,
        by_ms: i64,
        now_ms: UnixMillis,
    ) -> impl Future<Output = Result<Option<ManualWindow>, WindowsError>> + Send;
}

/// A checked request to open a window.
#[derive(Debug, Clone, PartialEq)]
pub struct StartRequest {
    pub duration: Duration,
    pub reason: String,
    pub mode: Mode,
}

impl StartRequest {
    /// `for` like "30m" (at most 24h), a non-empty reason, a mode (default normal).
    pub fn parse(duration: &str, reason: &str, mode: Option<&str>) -> Result<StartRequest, String> {
        let duration = parse_for("for", duration)?;
        if duration > MAX_WINDOW {
            return Err(format!(
                "for: {duration:?} is longer than a day; expected at most \"24h\" (extend it later if needed)",
                duration = duration_text(duration)
            ));
        }
        let reason = reason.trim();
        if reason.is_empty() {
            return Err("reason: empty; say why, like \"database upgrade\"".to_string());
        }
        let mode = match mode {
            None => Mode::Normal,
            Some(text) => Mode::parse(text).ok_or_else(|| {
                format!(
                    "mode: {text:?} is not a mode; expected \"normal\", \"emergency\" or \"test\""
                )
            })?,
        };
        Ok(StartRequest {
            duration,
            reason: reason.to_string(),
            mode,
        })
    }
}

fn duration_text(duration: Duration) -> String {
    crate::base::units::format_duration(duration)
}

fn parse_for(field: &str, text: &str) -> Result<Duration, String> {
    match parse_duration(text) {
        Ok(d) if !d.is_zero() => Ok(d),
        Ok(_) => Err(format!(
            "{field}: {text:?} is zero; expected a positive duration like \"30m\""
        )),
        Err(crate::base::units::UnitError::TooLarge) => Err(format!(
            "{field}: {text:?} is too long; expected at most {}",
            crate::base::units::MAX_DURATION_TEXT
        )),
        Err(_) => Err(format!(
            "{field}: {text:?} is not a duration; expected a number and a unit, like \"30m\", \"2h\" or \"90s\""
        )),
    }
}

/// Switches the app (control steps), then records the window.
pub async fn start(
    store: &impl Windows,
    control: &ControlConfig,
    request: StartRequest,
    origin: Origin,
    author: &str,
    now_ms: UnixMillis,
) -> Result<ManualWindow, ManualError> {
    let end_ms = now_ms + request.duration.as_millis() as i64;
    let context = ControlContext {
        reason: request.reason.clone(),
        mode: request.mode,
        minutes: request.duration.as_secs().div_ceil(60),
        until_ms: end_ms,
    };
    control::run(&control.start, control.timeout, &context).await?;
    let mut window = ManualWindow {
        id: 0,
        start_ms: now_ms,
        end_ms,
        mode: request.mode,
        reason: request.reason,
        origin,
        author: author.to_string(),
        stopped_ms: None,
        created_ms: now_ms,
    };
    window.id = store
        .record_window(&window)
        .await
        .map_err(ManualError::Store)?;
    Ok(window)
}

/// Switches the app back (control steps), then stops the active windows (none is not an
/// error: the app may have been in maintenance on its own).
pub async fn stop(
    store: &impl Windows,
    control: &ControlConfig,
    now_ms: UnixMillis,
) -> Result<Vec<ManualWindow>, ManualError> {
    let context = ControlContext {
        reason: String::new(),
        mode: Mode::Normal,
        minutes: 0,
        until_ms: now_ms,
    };
    control::run(&control.stop, control.timeout, &context).await?;
    store
        .stop_active_windows(now_ms)
        .await
        .map_err(ManualError::Store)
}

/// Moves the end of the active window by `by` ("15m").
pub async fn extend(
    store: &impl Windows,
    by: &str,
    now_ms: UnixMillis,
) -> Result<ManualWindow, ManualError> {
    let by = parse_for("by", by).map_err(ManualError::BadInput)?;
    store
        .extend_active_window(by.as_millis() as i64, now_ms)
        .await
        .map_err(ManualError::Store)?
        .ok_or(ManualError::NotActive)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_requests_are_checked_with_the_field_and_the_expected_form() {
        assert_eq!(
            StartRequest::parse("30m", " upgrade ", Some("Emergency")),
            Ok(StartRequest {
                duration: Duration::from_secs(1800),
                reason: "upgrade".into(),
                mode: Mode::Emergency
            })
        );
        let cases = [
            (
                "soon",
                "x",
                None,
                "for: \"soon\" is not a duration; expected a number and a unit, like \"30m\", \"2h\" or \"90s\"",
            ),
            (
                "0s",
                "x",
                None,
                "for: \"0s\" is zero; expected a positive duration like \"30m\"",
            ),
            (
                "2d",
                "x",
                None,
                "for: \"2d\" is longer than a day; expected at most \"24h\" (extend it later if needed)",
            ),
            (
                "1h",
                "  ",
                None,
                "reason: empty; say why, like \"database upgrade\"",
            ),
            (
                "1h",
                "x",
                Some("panic"),
                "mode: \"panic\" is not a mode; expected \"normal\", \"emergency\" or \"test\"",
            ),
        ];
        for (duration, reason, mode, expected) in cases {
            assert_eq!(
                StartRequest::parse(duration, reason, mode).unwrap_err(),
                expected
            );
        }
    }
}
