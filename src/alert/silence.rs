//! Silences: matchers + start + end + author + comment. A silence mutes every alert whose
//! labels all its matchers match, while `start <= now < end`; expired silences are kept for
//! audit. Pure: time comes in as `now`.

use std::collections::BTreeMap;

use super::matcher::{Matcher, all_match};
use crate::clock::{self, UnixMillis};

#[derive(Debug, Clone, PartialEq)]
pub struct Silence {
    pub id: String,
    pub matchers: Vec<Matcher>,
    pub starts_ms: UnixMillis,
    pub ends_ms: UnixMillis,
    pub author: String,
    pub comment: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SilenceState {
    Pending,
    Active,
    Expired,
}

impl Silence {
    pub fn state(&self, now_ms: UnixMillis) -> SilenceState {
        if now_ms < self.starts_ms {
            SilenceState::Pending
        } else if now_ms < self.ends_ms {
            SilenceState::Active
        } else {
            SilenceState::Expired
        }
    }

    /// Mutes `labels` now? A silence without matchers mutes nothing (it would mute everything
    /// by accident).
    pub fn mutes(&self, labels: &BTreeMap<String, String>, now_ms: UnixMillis) -> bool {
        self.state(now_ms) == SilenceState::Active
            && !self.matchers.is_empty()
            && all_match(&self.matchers, labels)
    }
}

/// The active silences that mute `labels` now (ids, for showing why an alert is quiet).
pub fn muting<'a>(
    silences: &'a [Silence],
    labels: &BTreeMap<String, String>,
    now_ms: UnixMillis,
) -> Vec<&'a str> {
    silences
        .iter()
        .filter(|s| s.mutes(labels, now_ms))
        .map(|s| s.id.as_str())
        .collect()
}

/// The longest a silence may last: a year. Longer is never meant (a forgotten silence hides
/// real alerts); a silence that must go on is renewed, which leaves an audit trail.
pub const MAX_SILENCE_MS: i64 = 365 * 86_400_000;
/// How far ahead a silence may start.
pub const MAX_SILENCE_START_MS: i64 = 365 * 86_400_000;

/// A time given by a person: RFC 3339, Unix seconds, "now", "-1h" or "+2h" from now. Times
/// outside `clock::TIME_RANGE` are refused with that range.
pub fn parse_when(text: &str, now_ms: UnixMillis, what: &str) -> Result<UnixMillis, String> {
    if let Some(ahead) = text.trim().strip_prefix('+') {
        let not_a_time =
            || format!("{what} \"{text}\" is not a time; expected RFC 3339 or \"+2h\"");
        let ahead = humantime::parse_duration(ahead).map_err(|_| not_a_time())?;
        return i64::try_from(ahead.as_millis())
            .ok()
            .and_then(|ms| now_ms.checked_add(ms))
            .filter(|ms| (clock::MIN_TIME_MS..=clock::MAX_TIME_MS).contains(ms))
            .ok_or_else(|| {
                format!(
                    "{what}: \"{text}\" is out of range; expected a time from {}",
                    clock::TIME_RANGE
                )
            });
    }
    clock::parse_time(text, now_ms).map_err(|e| format!("{what}: {e}"))
}

/// What a person asks for when creating a silence (CLI flags or API fields).
#[derive(Debug, Default, Clone)]
pub struct SilenceRequest {
    pub matchers: Vec<String>,
    /// "2h"; default 1h unless `until` is given.
    pub duration: Option<String>,
    pub until: Option<String>,
    pub start: Option<String>,
    pub author: String,
    pub comment: String,
}

impl Silence {
    /// Validates a request into a silence with a fresh id; the error names the field and
    /// the expected form.
    pub fn build(request: &SilenceRequest, now_ms: UnixMillis) -> Result<Silence, String> {
        let matchers = request
            .matchers
            .iter()
            .map(|m| Matcher::parse(m))
            .collect::<Result<Vec<_>, _>>()?;
        if matchers.is_empty() {
            return Err("a silence needs at least one matcher, e.g. check=\"app\"".into());
        }
        let starts_ms = match &request.start {
            Some(text) => parse_when(text, now_ms, "start")?,
            None => now_ms,
        };
        if starts_ms - now_ms > MAX_SILENCE_START_MS {
            return Err(format!(
                "start: a silence starts at most {} ahead (1 year)",
                format_days(MAX_SILENCE_START_MS)
            ));
        }
        let too_long = |field: &str, text: &str| {
            format!(
                "{field}: \"{text}\" is too long; a silence lasts at most {} (1 year): expire and renew it if it must go on",
                format_days(MAX_SILENCE_MS)
            )
        };
        let ends_ms = match (&request.duration, &request.until) {
            (_, Some(text)) => parse_when(text, now_ms, "until").map_err(|e| {
                format!(
                    "{e}; a silence lasts at most {} (1 year)",
                    format_days(MAX_SILENCE_MS)
                )
            })?,
            (Some(text), None) => {
                let d = humantime::parse_duration(text).map_err(|e| match e {
                    humantime::DurationError::NumberOverflow => too_long("for", text),
                    _ => format!(
                        "for: \"{text}\" is not a duration; expected e.g. \"2h\" or \"30m\""
                    ),
                })?;
                if d.as_millis() > MAX_SILENCE_MS as u128 {
                    return Err(too_long("for", text));
                }
                starts_ms + d.as_millis() as i64
            }
            (None, None) => starts_ms + 3_600_000,
        };
        if ends_ms <= starts_ms {
            return Err("the silence would end before it starts; check the duration or end".into());
        }
        if ends_ms - starts_ms > MAX_SILENCE_MS {
            let field = if request.until.is_some() {
                "until"
            } else {
                "for"
            };
            let text = request
                .until
                .as_deref()
                .or(request.duration.as_deref())
                .unwrap_or("");
            return Err(too_long(field, text));
        }
        if request.comment.trim().is_empty() {
            return Err("comment: must say why (it is kept for audit)".into());
        }
        if request.author.trim().is_empty() {
            return Err("author: must say who".into());
        }
        Ok(Silence {
            id: new_id(now_ms),
            matchers,
            starts_ms,
            ends_ms,
            author: request.author.clone(),
            comment: request.comment.clone(),
        })
    }
}

/// "365d".
fn format_days(ms: i64) -> String {
    format!("{}d", ms / 86_400_000)
}

/// Short enough for a person to type, unique enough: the second plus 32 random bits.
fn new_id(now_ms: UnixMillis) -> String {
    use ring::rand::SecureRandom;
    let mut random = [0u8; 4];
    // A failing system RNG is not worth failing the silence over; the time part still differs.
    let _ = ring::rand::SystemRandom::new().fill(&mut random);
    format!(
        "{:x}{}",
        now_ms / 1000,
        random
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn silence(id: &str, matchers: &[&str], starts_ms: i64, ends_ms: i64) -> Silence {
        Silence {
            id: id.into(),
            matchers: matchers
                .iter()
                .map(|m| Matcher::parse(m).unwrap())
                .collect(),
            starts_ms,
            ends_ms,
            author: "ops".into(),
            comment: "deploy".into(),
        }
    }

    #[test]
    fn mutes_only_matching_alerts_while_active() {
        let alert: BTreeMap<String, String> = [("check", "app"), ("severity", "warning")]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let silences = [
            silence("a", &["check=\"app\""], 100, 200),
            silence("b", &["check=\"db\""], 100, 200),
            silence("c", &["severity=~\"warn.*\"", "check=\"app\""], 150, 300),
            silence("empty", &[], 0, 1_000),
        ];
        assert_eq!(muting(&silences, &alert, 99), Vec::<&str>::new());
        assert_eq!(muting(&silences, &alert, 100), vec!["a"]);
        assert_eq!(muting(&silences, &alert, 150), vec!["a", "c"]);
        assert_eq!(
            muting(&silences, &alert, 200),
            vec!["c"],
            "end is exclusive"
        );
        assert_eq!(muting(&silences, &alert, 300), Vec::<&str>::new());
        assert_eq!(silences[0].state(250), SilenceState::Expired);
        assert_eq!(silences[2].state(120), SilenceState::Pending);
    }

    #[test]
    fn requests_are_validated_field_by_field() {
        let now = 1_764_237_600_000;
        let request = |matchers: &[&str], duration: Option<&str>, comment: &str| SilenceRequest {
            matchers: matchers.iter().map(|m| m.to_string()).collect(),
            duration: duration.map(str::to_string),
            author: "ops".into(),
            comment: comment.into(),
            ..SilenceRequest::default()
        };
        let silence =
            Silence::build(&request(&["check=\"app\""], Some("2h"), "deploy"), now).unwrap();
        assert_eq!(silence.ends_ms - silence.starts_ms, 7_200_000);
        assert_eq!(silence.starts_ms, now);
        let error = |r: SilenceRequest| Silence::build(&r, now).unwrap_err();
        assert!(error(request(&[], None, "x")).contains("at least one matcher"));
        assert!(error(request(&["check"], None, "x")).contains("is not a matcher"));
        assert!(
            error(request(&["a=\"b\""], Some("soon"), "x"))
                .starts_with("for: \"soon\" is not a duration")
        );
        assert!(error(request(&["a=\"b\""], None, " ")).starts_with("comment:"));
        let mut until = request(&["a=\"b\""], None, "x");
        until.until = Some("+30m".into());
        assert_eq!(
            Silence::build(&until, now).unwrap().ends_ms,
            now + 1_800_000
        );
    }

    #[test]
    fn silences_last_at_most_a_year() {
        let now = 1_764_237_600_000;
        let request = |duration: Option<&str>, until: Option<&str>| SilenceRequest {
            matchers: vec!["check=\"x\"".into()],
            duration: duration.map(str::to_string),
            until: until.map(str::to_string),
            author: "ops".into(),
            comment: "x".into(),
            ..SilenceRequest::default()
        };
        let year = Silence::build(&request(Some("365d"), None), now).unwrap();
        assert_eq!(year.ends_ms - year.starts_ms, MAX_SILENCE_MS);
        for (duration, until, field) in [
            (Some("366d"), None, "for:"),
            (Some("3000000d"), None, "for:"),
            (Some("99999999999999999999999d"), None, "for:"),
            (None, Some("+400d"), "until:"),
            (None, Some("+3000000d"), "until:"),
            (None, Some("9999-12-31T00:00:00Z"), "until:"),
        ] {
            let e = Silence::build(&request(duration, until), now).unwrap_err();
            assert!(
                e.starts_with(field) && e.contains("at most 365d (1 year)"),
                "{duration:?} {until:?}: {e}"
            );
        }
        let mut late = request(None, None);
        late.start = Some("+2000d".into());
        let e = Silence::build(&late, now).unwrap_err();
        assert!(e.starts_with("start:"), "{e}");
    }
}
