//! Silences on the wire: `/api/v1/silences` and `lookout silence ... --json` show the same
//! `SilenceView`, built here and nowhere else.

use serde::Serialize;

use crate::alert::silence::{Silence, SilenceState};
use crate::clock::{UnixMillis, format_rfc3339};

/// One silence, with its state at the moment it is shown.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SilenceView {
    pub id: String,
    /// "pending", "active" or "expired".
    pub state: &'static str,
    /// Each matcher as written (`check="app"`, `severity=~"crit.*"`).
    pub matchers: Vec<String>,
    pub starts_at: String,
    pub ends_at: String,
    pub author: String,
    pub comment: String,
}

impl SilenceView {
    pub fn new(s: &Silence, now_ms: UnixMillis) -> SilenceView {
        SilenceView {
            id: s.id.clone(),
            state: match s.state(now_ms) {
                SilenceState::Pending => "pending",
                SilenceState::Active => "active",
                SilenceState::Expired => "expired",
            },
            matchers: s.matchers.iter().map(ToString::to_string).collect(),
            starts_at: format_rfc3339(s.starts_ms),
            ends_at: format_rfc3339(s.ends_ms),
            author: s.author.clone(),
            comment: s.comment.clone(),
        }
    }
}

/// `GET /api/v1/silences`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SilencesView {
    pub silences: Vec<SilenceView>,
}
