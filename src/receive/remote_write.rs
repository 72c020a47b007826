//! Prometheus remote write 1.0 in: a `prometheus.WriteRequest` (the messages Lookout sends
//! with, `exporter::remote_write::proto`) to `Incoming` series. Metadata, exemplars and
//! native histograms are fields Lookout does not declare: protobuf skips them.

use prost::Message;

use super::{Incoming, Outcome, Refusal};
use crate::exporter::remote_write::proto::WriteRequest;

/// The series of a decompressed request body.
pub fn decode(raw: &[u8]) -> Result<Vec<Incoming>, Refusal> {
    let request = WriteRequest::decode(raw).map_err(|e| {
        Refusal::new(
            400,
            Outcome::Malformed,
            format!("the body is not a protobuf prometheus.WriteRequest: {e}"),
        )
    })?;
    let mut out = Vec::with_capacity(request.timeseries.len());
    for series in request.timeseries {
        let mut name = None;
        let mut labels = Vec::with_capacity(series.labels.len());
        for label in series.labels {
            if label.name == "__name__" {
                name = Some(label.value);
            } else {
                labels.push((label.name, label.value));
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
                .into_iter()
                .map(|s| (s.timestamp, s.value))
                .collect(),
            delta: false,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exporter::remote_write::proto::{Label, Sample, TimeSeries};

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
        let got = decode(&request.encode_to_vec()).unwrap();
        assert_eq!(got[0].name, "node_load1");
        assert_eq!(got[0].labels, [("instance".into(), "web-1:9100".into())]);
        assert_eq!(got[0].samples, [(1_000, 0.5)]);
        assert_eq!(decode(b"\xff\xff").unwrap_err().outcome, Outcome::Malformed);
        let nameless = WriteRequest {
            timeseries: vec![TimeSeries {
                labels: vec![],
                samples: vec![],
            }],
        };
        assert!(
            decode(&nameless.encode_to_vec())
                .unwrap_err()
                .reason
                .contains("__name__")
        );
    }
}
