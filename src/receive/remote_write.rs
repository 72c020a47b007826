//! Prometheus remote write 1.0 in: a `prometheus.WriteRequest` (the messages Lookout sends
//! with, `exporter::remote_write::proto`, its labels read as slices of the body) to `Incoming`
//! series. Metadata, exemplars and native histograms are fields Lookout does not declare:
//! protobuf skips them.

use bytes::Bytes;
use prost::Message;

use super::{Incoming, Outcome, Refusal, Text};
use crate::exporter::remote_write::proto::Sample;

/// `prometheus.WriteRequest` as the receiver reads it: the same fields as
/// `exporter::remote_write::proto`, but a label's name and value are slices of the body (protobuf
/// strings and bytes are one wire type), so decoding 1,500 series does not allocate 15,000
/// strings (which was a fifth of a hub's CPU).
#[derive(Clone, PartialEq, Message)]
struct WriteRequestIn {
    #[prost(message, repeated, tag = "1")]
    timeseries: Vec<TimeSeriesIn>,
}

#[derive(Clone, PartialEq, Message)]
struct TimeSeriesIn {
    #[prost(message, repeated, tag = "1")]
    labels: Vec<LabelIn>,
    #[prost(message, repeated, tag = "2")]
    samples: Vec<Sample>,
}

#[derive(Clone, PartialEq, Message)]
struct LabelIn {
    #[prost(bytes = "bytes", tag = "1")]
    name: Bytes,
    #[prost(bytes = "bytes", tag = "2")]
    value: Bytes,
}

/// A decoded request; `series()` reads its series without copying their labels.
#[derive(Debug)]
pub struct Request(WriteRequestIn);

/// Decodes a decompressed request body.
pub fn decode(raw: Vec<u8>) -> Result<Request, Refusal> {
    WriteRequestIn::decode(Bytes::from(raw))
        .map(Request)
        .map_err(|e| {
            Refusal::new(
                400,
                Outcome::Malformed,
                format!("the body is not a protobuf prometheus.WriteRequest: {e}"),
            )
        })
}

fn text<'a>(bytes: &'a Bytes, what: &str) -> Result<Text<'a>, Refusal> {
    std::str::from_utf8(bytes).map(Text::Borrowed).map_err(|_| {
        Refusal::new(
            400,
            Outcome::Malformed,
            format!("a label {what} is not UTF-8"),
        )
    })
}

impl Request {
    /// The request's series, their names and labels borrowed from it.
    pub fn series(&self) -> Result<Vec<Incoming<'_>>, Refusal> {
        let mut out = Vec::with_capacity(self.0.timeseries.len());
        for series in &self.0.timeseries {
            let mut name = None;
            let mut labels = Vec::with_capacity(series.labels.len());
            for label in &series.labels {
                let value = text(&label.value, "value")?;
                if label.name == "__name__" {
                    name = Some(value);
                } else {
                    labels.push((text(&label.name, "name")?, value));
                }
            }
            let Some(name) = name else {
                return Err(Refusal::new(
                    400,
                    Outcome::Malformed,
                    "a series has no __name__ label",
                ));
            };
            out.push(Incoming {
                name,
                labels,
                samples: series
                    .samples
                    .iter()
                    .map(|s| (s.timestamp, s.value))
                    .collect(),
                delta: false,
            });
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exporter::remote_write::proto::{Label, Sample, TimeSeries, WriteRequest};

    #[test]
    fn series_keep_their_labels_and_samples() {
        let request = WriteRequest {
            timeseries: vec![TimeSeries {
                labels: vec![
                    Label {
                        name: "__name__".into(),
                        value: "node_load1".into(),
                    },
                    Label {
                        name: "instance".into(),
                        value: "web-1:9100".into(),
                    },
                ],
                samples: vec![Sample {
                    value: 0.5,
                    timestamp: 1_000,
                }],
            }],
        };
        let request = decode(request.encode_to_vec()).unwrap();
        let got = request.series().unwrap();
        assert_eq!(got[0].name, "node_load1");
        assert_eq!(got[0].labels, [("instance".into(), "web-1:9100".into())]);
        assert_eq!(got[0].samples, [(1_000, 0.5)]);
        assert_eq!(
            decode(b"\xff\xff".to_vec()).unwrap_err().outcome,
            Outcome::Malformed
        );
        let nameless = WriteRequest {
            timeseries: vec![TimeSeries {
                labels: vec![],
                samples: vec![],
            }],
        };
        assert!(
            decode(nameless.encode_to_vec())
                .unwrap()
                .series()
                .unwrap_err()
                .reason
                .contains("__name__")
        );
    }

    #[test]
    fn a_label_that_is_not_utf8_is_refused_as_malformed() {
        // What prost refused for a `string` field, the receiver refuses for its byte slices.
        for (name, value) in [
            (&b"job"[..], &b"\xff\xfe"[..]),
            (&b"j\xc3"[..], &b"node"[..]),
        ] {
            let request = WriteRequestIn {
                timeseries: vec![TimeSeriesIn {
                    labels: vec![
                        LabelIn {
                            name: Bytes::from_static(b"__name__"),
                            value: Bytes::from_static(b"up"),
                        },
                        LabelIn {
                            name: Bytes::copy_from_slice(name),
                            value: Bytes::copy_from_slice(value),
                        },
                    ],
                    samples: vec![Sample {
                        value: 1.0,
                        timestamp: 1_000,
                    }],
                }],
            };
            let refusal = decode(request.encode_to_vec())
                .unwrap()
                .series()
                .unwrap_err();
            assert_eq!((refusal.status, refusal.outcome), (400, Outcome::Malformed));
            assert!(refusal.reason.contains("not UTF-8"), "{}", refusal.reason);
        }
    }
}
