//! The live feed's messages (`/api/v1/live`, one JSON object per WebSocket text frame):
//! `hello`, `observation` (one probe run) and `event` (a timeline line). The `status`
//! greeting is the `StatusView` with `"type":"status"` added; the `heartbeat` a bare type.

use serde::Serialize;

use super::status::CheckView;
use crate::model::{Event, LabelMap, Observation};

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SampleView<'a> {
    pub name: &'a str,
    pub labels: LabelMap<'a>,
    /// `null` when not a finite number.
    pub value: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum LiveMessage<'a> {
    Hello {
        version: &'static str,
    },
    Observation {
        source: &'a str,
        /// Unix milliseconds.
        at: i64,
        samples: Vec<SampleView<'a>>,
        checks: Vec<CheckView>,
    },
    Event {
        at: i64,
        kind: &'static str,
        subject: &'a str,
        message: &'a str,
    },
}

impl<'a> LiveMessage<'a> {
    pub fn observation(o: &'a Observation) -> LiveMessage<'a> {
        LiveMessage::Observation {
            source: &o.source,
            at: o.at_ms,
            samples: o
                .samples
                .iter()
                .map(|s| SampleView {
                    name: s.series.name(),
                    labels: s.series.label_map(),
                    value: Some(s.value).filter(|v| v.is_finite()),
                })
                .collect(),
            checks: o.checks.iter().map(CheckView::from).collect(),
        }
    }

    pub fn event(e: &'a Event) -> LiveMessage<'a> {
        LiveMessage::Event {
            at: e.at_ms,
            kind: e.kind.as_str(),
            subject: &e.subject,
            message: &e.message,
        }
    }
}
