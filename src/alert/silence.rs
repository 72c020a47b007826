//! Silences: matchers + start + end + author + comment. A silence mutes every alert whose
//! labels all its matchers match, while `start <= now < end`; expired silences are kept for
//! audit. Pure: time comes in as `now`.

use std::collections::BTreeMap;

use super::matcher::{Matcher, all_match};
use crate::clock::UnixMillis;

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

/// A time given by a person: RFC 3339, Unix seconds, "now", "-1h" or "+2h" from now.
pub fn parse_when(text: &str, now_ms: UnixMillis, what: &str) -> Result<UnixMillis, String> {
    if let Some(ahead) = text.trim().strip_prefix('+') {
        return humantime::parse_duration(ahead)
            .map(|d| now_ms + d.as_millis() as i64)
            .map_err(|_| format!("{what} \"{text}\" is not a time; expected RFC 3339 or \"+2h\""));
    }
    crate::web::parse_time(text, now_ms).map_err(|e| format!("{what}: {e}"))
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
        let ends_ms = match (&request.duration, &request.until) {
            (_, Some(text)) => parse_when(text, now_ms, "until")?,
            (Some(text), None) => {
                let d = humantime::parse_duration(text).map_err(|_| {
                    format!("for: \"{text}\" is not a duration; expected e.g. \"2h\" or \"30m\"")
                })?;
                starts_ms + d.as_millis() as i64
            }
            (None, None) => starts_ms + 3_600_000,
        };
        if ends_ms <= starts_ms {
            return Err("the silence would end before it starts; check the duration or end".into());
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
}
