//! OTLP/HTTP metrics in (protobuf): an `ExportMetricsServiceRequest` to `Incoming` series in
//! the Prometheus model Lookout stores.
//!
//! The messages are declared by hand with prost's derive (no build script, no protoc, no
//! tonic), only the fields Lookout reads; protobuf skips the others. Field numbers are those of
//! open-telemetry/opentelemetry-proto v1.x: `opentelemetry/proto/collector/metrics/v1/
//! metrics_service.proto`, `opentelemetry/proto/metrics/v1/metrics.proto`,
//! `opentelemetry/proto/resource/v1/resource.proto`, `opentelemetry/proto/common/v1/common.proto`.
//!
//! The mapping (as Prometheus' OTLP receiver does, without unit suffixes):
//! - names and attribute keys: characters outside `[a-zA-Z0-9_:]` become `_`;
//! - gauge: one series per data point's attributes;
//! - sum: monotonic cumulative -> a counter named `<name>_total`; non-monotonic -> a gauge;
//!   delta temporality -> made cumulative per series by the receiver (`Incoming::delta`: each
//!   point adds to the series' running total, which starts at 0 when the hub starts or the
//!   series was idle, a counter reset for `rate`);
//! - histogram: `<name>_bucket{le}` (cumulative bucket counts, `le="+Inf"` = count),
//!   `<name>_sum` (when sent) and `<name>_count`; delta histograms made cumulative likewise;
//! - summaries and exponential histograms are not stored (counted as `unsupported`);
//! - resource attributes: `host.name` -> `host`, `service.name` -> `job`,
//!   `service.instance.id` -> `instance`; the others are not kept.

use super::{Incoming, Outcome, Refusal, Text};

#[derive(Clone, PartialEq, prost::Message)]
pub struct ExportMetricsServiceRequest {
    #[prost(message, repeated, tag = "1")]
    pub resource_metrics: Vec<ResourceMetrics>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ResourceMetrics {
    #[prost(message, optional, tag = "1")]
    pub resource: Option<Resource>,
    #[prost(message, repeated, tag = "2")]
    pub scope_metrics: Vec<ScopeMetrics>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Resource {
    #[prost(message, repeated, tag = "1")]
    pub attributes: Vec<KeyValue>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ScopeMetrics {
    #[prost(message, repeated, tag = "2")]
    pub metrics: Vec<Metric>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Metric {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(oneof = "Data", tags = "5, 7, 9, 10, 11")]
    pub data: Option<Data>,
}

#[derive(Clone, PartialEq, prost::Oneof)]
pub enum Data {
    #[prost(message, tag = "5")]
    Gauge(Gauge),
    #[prost(message, tag = "7")]
    Sum(Sum),
    #[prost(message, tag = "9")]
    Histogram(Histogram),
    /// Not stored: only counted.
    #[prost(message, tag = "10")]
    ExponentialHistogram(Unsupported),
    /// Not stored: only counted.
    #[prost(message, tag = "11")]
    Summary(Unsupported),
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Gauge {
    #[prost(message, repeated, tag = "1")]
    pub data_points: Vec<NumberDataPoint>,
}

/// `AggregationTemporality`: 1 delta, 2 cumulative.
pub const DELTA: i32 = 1;

#[derive(Clone, PartialEq, prost::Message)]
pub struct Sum {
    #[prost(message, repeated, tag = "1")]
    pub data_points: Vec<NumberDataPoint>,
    #[prost(int32, tag = "2")]
    pub aggregation_temporality: i32,
    #[prost(bool, tag = "3")]
    pub is_monotonic: bool,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Histogram {
    #[prost(message, repeated, tag = "1")]
    pub data_points: Vec<HistogramDataPoint>,
    #[prost(int32, tag = "2")]
    pub aggregation_temporality: i32,
}

/// The data points of a summary or an exponential histogram: only how many there are.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Unsupported {
    #[prost(bytes = "vec", repeated, tag = "1")]
    pub data_points: Vec<Vec<u8>>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct NumberDataPoint {
    #[prost(message, repeated, tag = "7")]
    pub attributes: Vec<KeyValue>,
    #[prost(fixed64, tag = "3")]
    pub time_unix_nano: u64,
    #[prost(oneof = "Number", tags = "4, 6")]
    pub value: Option<Number>,
}

#[derive(Clone, Copy, PartialEq, prost::Oneof)]
pub enum Number {
    #[prost(double, tag = "4")]
    AsDouble(f64),
    #[prost(sfixed64, tag = "6")]
    AsInt(i64),
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct HistogramDataPoint {
    #[prost(message, repeated, tag = "9")]
    pub attributes: Vec<KeyValue>,
    #[prost(fixed64, tag = "3")]
    pub time_unix_nano: u64,
    #[prost(fixed64, tag = "4")]
    pub count: u64,
    #[prost(double, optional, tag = "5")]
    pub sum: Option<f64>,
    #[prost(fixed64, repeated, tag = "6")]
    pub bucket_counts: Vec<u64>,
    #[prost(double, repeated, tag = "7")]
    pub explicit_bounds: Vec<f64>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct KeyValue {
    #[prost(string, tag = "1")]
    pub key: String,
    #[prost(message, optional, tag = "2")]
    pub value: Option<AnyValue>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct AnyValue {
    #[prost(oneof = "Value", tags = "1, 2, 3, 4")]
    pub value: Option<Value>,
}

#[derive(Clone, PartialEq, prost::Oneof)]
pub enum Value {
    #[prost(string, tag = "1")]
    String(String),
    #[prost(bool, tag = "2")]
    Bool(bool),
    #[prost(int64, tag = "3")]
    Int(i64),
    #[prost(double, tag = "4")]
    Double(f64),
}

/// What an OTLP body holds: the series, and how many data points were not stored
/// (summaries, exponential histograms).
#[derive(Debug, Default)]
pub struct Decoded {
    pub series: Vec<Incoming<'static>>,
    pub unsupported: u64,
    /// The sender's SDK, from the first resource that names it: `telemetry.sdk.name`,
    /// `.language` and `.version` ("opentelemetry python 1.29.0").
    pub sdk: Option<String>,
}

/// A Prometheus name or label name: `[a-zA-Z0-9_:]` kept (`:` not in label names), a leading
/// digit prefixed with `_`.
pub fn sanitize(name: &str, colon: bool) -> String {
    let mut out: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || (colon && c == ':') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    out
}

fn text(value: &Option<AnyValue>) -> String {
    match value.as_ref().and_then(|v| v.value.as_ref()) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Bool(b)) => b.to_string(),
        Some(Value::Int(i)) => i.to_string(),
        Some(Value::Double(d)) => d.to_string(),
        None => String::new(),
    }
}

type Labels = Vec<(Text<'static>, Text<'static>)>;

fn labels_of(base: &[(String, String)], attributes: &[KeyValue]) -> Labels {
    let mut labels: Labels = base
        .iter()
        .map(|(k, v)| (k.clone().into(), v.clone().into()))
        .collect();
    for kv in attributes {
        let key = sanitize(&kv.key, false);
        labels.retain(|(k, _)| *k != key);
        labels.push((key.into(), text(&kv.value).into()));
    }
    labels
}

fn millis(nanos: u64) -> i64 {
    i64::try_from(nanos / 1_000_000).unwrap_or(i64::MAX)
}

/// The series of a decompressed OTLP body.
pub fn decode(raw: &[u8]) -> Result<Decoded, Refusal> {
    use prost::Message;
    let request = ExportMetricsServiceRequest::decode(raw).map_err(|e| {
        Refusal::new(
            400,
            Outcome::Malformed,
            format!("the body is not a protobuf OTLP ExportMetricsServiceRequest: {e}"),
        )
    })?;
    let mut out = Decoded::default();
    for resource_metrics in request.resource_metrics {
        let mut base = Vec::new();
        let mut sdk: [Option<String>; 3] = Default::default();
        for kv in resource_metrics
            .resource
            .iter()
            .flat_map(|r| r.attributes.iter())
        {
            let part = match kv.key.as_str() {
                "telemetry.sdk.name" => Some(0),
                "telemetry.sdk.language" => Some(1),
                "telemetry.sdk.version" => Some(2),
                _ => None,
            };
            if let Some(i) = part {
                sdk[i] = Some(text(&kv.value));
                continue;
            }
            let label = match kv.key.as_str() {
                "host.name" => "host",
                "service.name" => "job",
                "service.instance.id" => "instance",
                _ => continue,
            };
            base.push((label.to_string(), text(&kv.value)));
        }
        if out.sdk.is_none() && sdk.iter().any(Option::is_some) {
            out.sdk = Some(sdk.into_iter().flatten().collect::<Vec<_>>().join(" "));
        }
        for metric in resource_metrics
            .scope_metrics
            .iter()
            .flat_map(|s| s.metrics.iter())
        {
            let name = sanitize(&metric.name, true);
            if name.is_empty() {
                return Err(Refusal::new(
                    400,
                    Outcome::Malformed,
                    "a metric has no name",
                ));
            }
            match &metric.data {
                None => {}
                Some(Data::Gauge(gauge)) => {
                    number_points(&mut out, &base, name, &gauge.data_points, false)
                }
                Some(Data::Sum(sum)) => {
                    let name = if sum.is_monotonic && !name.ends_with("_total") {
                        format!("{name}_total")
                    } else {
                        name
                    };
                    let delta = sum.aggregation_temporality == DELTA;
                    number_points(&mut out, &base, name, &sum.data_points, delta);
                }
                Some(Data::Histogram(histogram)) => {
                    let delta = histogram.aggregation_temporality == DELTA;
                    for point in &histogram.data_points {
                        histogram_point(&mut out, &base, &name, point, delta)?;
                    }
                }
                Some(Data::ExponentialHistogram(u) | Data::Summary(u)) => {
                    out.unsupported += u.data_points.len() as u64;
                }
            }
        }
    }
    Ok(out)
}

fn number_points(
    out: &mut Decoded,
    base: &[(String, String)],
    name: String,
    points: &[NumberDataPoint],
    delta: bool,
) {
    for point in points {
        let value = match point.value {
            Some(Number::AsDouble(v)) => v,
            Some(Number::AsInt(i)) => i as f64,
            None => continue,
        };
        out.series.push(Incoming {
            name: name.clone().into(),
            labels: labels_of(base, &point.attributes),
            samples: vec![(millis(point.time_unix_nano), value)],
            delta,
        });
    }
}

fn histogram_point(
    out: &mut Decoded,
    base: &[(String, String)],
    name: &str,
    point: &HistogramDataPoint,
    delta: bool,
) -> Result<(), Refusal> {
    let bounds = &point.explicit_bounds;
    if !point.bucket_counts.is_empty() && point.bucket_counts.len() != bounds.len() + 1 {
        return Err(Refusal::new(
            400,
            Outcome::Malformed,
            format!(
                "histogram {name:?} has {} bucket counts for {} bounds; expected one more count than bounds",
                point.bucket_counts.len(),
                bounds.len()
            ),
        ));
    }
    let at = millis(point.time_unix_nano);
    let labels = labels_of(base, &point.attributes);
    let series = |suffix: &str, extra: Option<String>, value: f64| {
        let mut labels = labels.clone();
        if let Some(le) = extra {
            labels.retain(|(k, _)| k != "le");
            labels.push(("le".into(), le.into()));
        }
        Incoming {
            name: format!("{name}{suffix}").into(),
            labels,
            samples: vec![(at, value)],
            delta,
        }
    };
    let mut cumulative = 0u64;
    for (i, count) in point.bucket_counts.iter().enumerate() {
        cumulative = cumulative.saturating_add(*count);
        let le = match bounds.get(i) {
            Some(bound) => format_bound(*bound),
            None => "+Inf".to_string(),
        };
        out.series
            .push(series("_bucket", Some(le), cumulative as f64));
    }
    if point.bucket_counts.is_empty() {
        out.series
            .push(series("_bucket", Some("+Inf".into()), point.count as f64));
    }
    if let Some(sum) = point.sum {
        out.series.push(series("_sum", None, sum));
    }
    out.series.push(series("_count", None, point.count as f64));
    Ok(())
}

/// A bucket bound as Prometheus writes `le`: "0.5", "1", "+Inf".
fn format_bound(bound: f64) -> String {
    if bound == f64::INFINITY {
        "+Inf".into()
    } else if bound == f64::NEG_INFINITY {
        "-Inf".into()
    } else {
        format!("{bound}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    fn kv(key: &str, value: &str) -> KeyValue {
        KeyValue {
            key: key.into(),
            value: Some(AnyValue {
                value: Some(Value::String(value.into())),
            }),
        }
    }

    fn request(metrics: Vec<Metric>) -> Vec<u8> {
        ExportMetricsServiceRequest {
            resource_metrics: vec![ResourceMetrics {
                resource: Some(Resource {
                    attributes: vec![kv("host.name", "db-1"), kv("service.name", "shop")],
                }),
                scope_metrics: vec![ScopeMetrics { metrics }],
            }],
        }
        .encode_to_vec()
    }

    fn point(value: Number, at_s: u64) -> NumberDataPoint {
        NumberDataPoint {
            attributes: vec![kv("http.route", "/cart")],
            time_unix_nano: at_s * 1_000_000_000,
            value: Some(value),
        }
    }

    #[test]
    fn gauges_counters_and_histograms_in_the_prometheus_model() {
        let body = request(vec![
            Metric {
                name: "queue.depth".into(),
                data: Some(Data::Gauge(Gauge {
                    data_points: vec![point(Number::AsDouble(7.5), 10)],
                })),
            },
            Metric {
                name: "requests".into(),
                data: Some(Data::Sum(Sum {
                    data_points: vec![point(Number::AsInt(42), 10)],
                    aggregation_temporality: 2,
                    is_monotonic: true,
                })),
            },
            Metric {
                name: "latency".into(),
                data: Some(Data::Histogram(Histogram {
                    data_points: vec![HistogramDataPoint {
                        attributes: vec![],
                        time_unix_nano: 10_000_000_000,
                        count: 6,
                        sum: Some(2.5),
                        bucket_counts: vec![1, 2, 3],
                        explicit_bounds: vec![0.1, 1.0],
                    }],
                    aggregation_temporality: 2,
                })),
            },
            Metric {
                name: "s".into(),
                data: Some(Data::Summary(Unsupported {
                    data_points: vec![vec![], vec![]],
                })),
            },
        ]);
        let decoded = decode(&body).unwrap();
        assert_eq!(decoded.unsupported, 2);
        let shown: Vec<String> = decoded
            .series
            .iter()
            .map(|s| {
                let mut labels = s.labels.clone();
                labels.sort();
                format!("{}{:?}={:?}", s.name, labels, s.samples)
            })
            .collect();
        let base = r#"("host", "db-1"), ("http_route", "/cart"), ("job", "shop")"#;
        let hist = r#"("host", "db-1"), ("job", "shop")"#;
        assert_eq!(
            shown,
            [
                format!("queue_depth[{base}]=[(10000, 7.5)]"),
                format!("requests_total[{base}]=[(10000, 42.0)]"),
                format!("latency_bucket[{hist}, (\"le\", \"0.1\")]=[(10000, 1.0)]"),
                format!("latency_bucket[{hist}, (\"le\", \"1\")]=[(10000, 3.0)]"),
                format!("latency_bucket[{hist}, (\"le\", \"+Inf\")]=[(10000, 6.0)]"),
                format!("latency_sum[{hist}]=[(10000, 2.5)]"),
                format!("latency_count[{hist}]=[(10000, 6.0)]"),
            ]
        );
        assert!(decoded.series.iter().all(|s| !s.delta));
    }

    #[test]
    fn garbage_and_inconsistent_histograms_are_refused() {
        assert_eq!(decode(b"\x0a\xff").unwrap_err().outcome, Outcome::Malformed);
        let body = request(vec![Metric {
            name: "latency".into(),
            data: Some(Data::Histogram(Histogram {
                data_points: vec![HistogramDataPoint {
                    attributes: vec![],
                    time_unix_nano: 1,
                    count: 6,
                    sum: None,
                    bucket_counts: vec![1, 2, 3],
                    explicit_bounds: vec![0.1],
                }],
                aggregation_temporality: 2,
            })),
        }]);
        assert!(
            decode(&body)
                .unwrap_err()
                .reason
                .contains("3 bucket counts for 1 bounds")
        );
    }
}
