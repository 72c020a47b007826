//! The wire format of Prometheus remote write 1.0: the protobuf messages of `prompb`
//! (`WriteRequest`, `TimeSeries`, `Label`, `Sample`), declared by hand with prost's derive (no
//! build script, no protoc), and the snappy *block* compression of the body (not the framed
//! stream format: remote write 1.0 says block).
//!
//! Field numbers are those of prometheus/prompb/{remote,types}.proto; the fields Lookout never
//! sends (metadata, exemplars, native histograms) are left out, which protobuf allows: a
//! receiver sees them as empty.

/// `prometheus.WriteRequest`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct WriteRequest {
    #[prost(message, repeated, tag = "1")]
    pub timeseries: Vec<TimeSeries>,
}

/// `prometheus.TimeSeries`: labels sorted by name (`__name__` among them), samples in time
/// order.
#[derive(Clone, PartialEq, prost::Message)]
pub struct TimeSeries {
    #[prost(message, repeated, tag = "1")]
    pub labels: Vec<Label>,
    #[prost(message, repeated, tag = "2")]
    pub samples: Vec<Sample>,
}

/// `prometheus.Label`.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct Label {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(string, tag = "2")]
    pub value: String,
}

/// `prometheus.Sample`: the timestamp is Unix milliseconds.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Sample {
    #[prost(double, tag = "1")]
    pub value: f64,
    #[prost(int64, tag = "2")]
    pub timestamp: i64,
}

/// The HTTP headers of every request, as the 1.0 spec fixes them.
pub const CONTENT_TYPE: &str = "application/x-protobuf";
pub const CONTENT_ENCODING: &str = "snappy";
pub const VERSION_HEADER: &str = "X-Prometheus-Remote-Write-Version";
pub const VERSION: &str = "0.1.0";

/// The body of a request: the protobuf encoding of `request`, snappy block-compressed.
pub fn encode(request: &WriteRequest) -> Vec<u8> {
    use prost::Message;
    let raw = request.encode_to_vec();
    // Compressing a buffer in memory cannot fail but for a length beyond snappy's 4 GiB
    // limit, far above what a batch holds (batch_size is at most 100,000 samples).
    snap::raw::Encoder::new()
        .compress_vec(&raw)
        .unwrap_or_default()
}

/// Why a body is not a remote-write request.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum DecodeError {
    #[error("not snappy block-compressed: {0}")]
    Snappy(String),
    #[error("not a protobuf WriteRequest: {0}")]
    Protobuf(String),
}

/// The inverse of `encode`, for tests and receivers.
pub fn decode(body: &[u8]) -> Result<WriteRequest, DecodeError> {
    use prost::Message;
    let raw = snap::raw::Decoder::new()
        .decompress_vec(body)
        .map_err(|e| DecodeError::Snappy(e.to_string()))?;
    WriteRequest::decode(raw.as_slice()).map_err(|e| DecodeError::Protobuf(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    fn label(name: &str, value: &str) -> Label {
        Label {
            name: name.into(),
            value: value.into(),
        }
    }

    fn request() -> WriteRequest {
        WriteRequest {
            timeseries: vec![
                TimeSeries {
                    labels: vec![
                        label("__name__", "lookout_cpu_usage_ratio"),
                        label("instance", "web1"),
                    ],
                    samples: vec![
                        Sample {
                            value: 0.25,
                            timestamp: 1_700_000_000_000,
                        },
                        Sample {
                            value: f64::NAN,
                            timestamp: 1_700_000_010_000,
                        },
                    ],
                },
                TimeSeries {
                    labels: vec![label("__name__", "lookout_load1")],
                    samples: vec![Sample {
                        value: -1.5,
                        timestamp: -1,
                    }],
                },
            ],
        }
    }

    #[test]
    fn field_numbers_and_wire_types_are_those_of_prompb() {
        // Label{name="a", value="b"}: field 1 and 2, wire type 2 (length-delimited).
        assert_eq!(
            label("a", "b").encode_to_vec(),
            [0x0a, 1, b'a', 0x12, 1, b'b']
        );
        // Sample{value=1.0, timestamp=2}: field 1 fixed64 (0x09), field 2 varint (0x10).
        let sample = Sample {
            value: 1.0,
            timestamp: 2,
        };
        let mut expected = vec![0x09];
        expected.extend_from_slice(&1.0f64.to_le_bytes());
        expected.extend_from_slice(&[0x10, 2]);
        assert_eq!(sample.encode_to_vec(), expected);
        // TimeSeries: labels field 1, samples field 2; WriteRequest: timeseries field 1.
        let series = TimeSeries {
            labels: vec![label("a", "b")],
            samples: vec![sample],
        };
        let bytes = series.encode_to_vec();
        assert_eq!(&bytes[..2], [0x0a, 6]);
        assert_eq!(bytes[8], 0x12);
        let request = WriteRequest {
            timeseries: vec![series],
        };
        assert_eq!(request.encode_to_vec()[0], 0x0a);
    }

    #[test]
    fn a_request_round_trips_through_protobuf_and_snappy() {
        let request = request();
        let body = encode(&request);
        // Snappy block format: starts with the uncompressed length as a varint, no stream
        // identifier chunk (the framed format starts with 0xff "sNaPpY").
        assert_ne!(body[0], 0xff);
        let raw_len = request.encode_to_vec().len();
        assert_eq!(snap::raw::decompress_len(&body).unwrap(), raw_len);
        let back = decode(&body).unwrap();
        assert_eq!(back.timeseries.len(), 2);
        assert_eq!(back.timeseries[0].labels, request.timeseries[0].labels);
        assert_eq!(
            back.timeseries[0].samples[0],
            request.timeseries[0].samples[0]
        );
        // NaN != NaN: compare the bits.
        assert_eq!(
            back.timeseries[0].samples[1].value.to_bits(),
            f64::NAN.to_bits()
        );
        assert_eq!(back.timeseries[1], request.timeseries[1]);
    }

    #[test]
    fn garbage_is_refused_with_the_reason() {
        assert!(matches!(
            decode(b"\xff\x06\x00\x00sNaPpY"),
            Err(DecodeError::Snappy(_))
        ));
        let not_protobuf = snap::raw::Encoder::new()
            .compress_vec(b"\xff\xff\xff")
            .unwrap();
        assert!(matches!(
            decode(&not_protobuf),
            Err(DecodeError::Protobuf(_))
        ));
    }
}
