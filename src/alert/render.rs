//! Turning numbers into words for people: values in their unit ("97.0%", "2.31 s"), and the
//! rule's summary/description templates (`{{value}}`, `{{labels.mountpoint}}`, ...).

use std::collections::BTreeMap;

use crate::config::ValueUnit;
use crate::model::Status;

/// `value` in `unit`, short: 0.9712 percent -> "97.1%", 2.314 seconds -> "2.31 s", 0.0031
/// seconds -> "3.10 ms" (three significant digits below 10 ms), bytes in binary units
/// ("1.5 KiB"). The one way Lookout writes a value for people: alert texts, the CLI's tables.
pub fn format_value(value: f64, unit: ValueUnit) -> String {
    if value.is_nan() {
        return "no value".to_string();
    }
    match unit {
        ValueUnit::Percent => format!("{:.1}%", value * 100.0),
        ValueUnit::Seconds => {
            let ms = value * 1000.0;
            if ms.abs() < 1.0 {
                format!("{ms:.3} ms")
            } else if ms.abs() < 10.0 {
                format!("{ms:.2} ms")
            } else if value.abs() < 1.0 {
                format!("{ms:.0} ms")
            } else if value.abs() < 120.0 {
                format!("{value:.2} s")
            } else {
                humantime::format_duration(std::time::Duration::from_secs(value.max(0.0) as u64))
                    .to_string()
            }
        }
        ValueUnit::Bytes => human_bytes(value),
        ValueUnit::Status => status_name(value).to_string(),
        ValueUnit::Number => {
            if value.fract() == 0.0 && value.abs() < 1e15 {
                format!("{value:.0}")
            } else {
                format!("{value:.3}")
            }
        }
    }
}

/// A rate's value or level, written per second: "12.5/s", "1.5 MiB/s", "450 ms/s"; a percent
/// (seconds per second, a share of time) stays as it is, and so does "no value".
pub fn per_second(text: String, unit: ValueUnit) -> String {
    if unit == ValueUnit::Percent || text == "no value" {
        text
    } else {
        format!("{text}/s")
    }
}

/// A threshold in its unit: percents as written in the config ("95%", "92.5%"), the rest
/// like values.
pub fn format_threshold(level: f64, unit: ValueUnit) -> String {
    match unit {
        ValueUnit::Percent => {
            let percent = level * 100.0;
            if percent.fract() == 0.0 {
                format!("{percent:.0}%")
            } else {
                format!("{percent}%")
            }
        }
        _ => format_value(level, unit),
    }
}

fn status_name(value: f64) -> &'static str {
    let status = match value.round() as i64 {
        0 => Status::Ok,
        1 => Status::Maintenance,
        2 => Status::Warning,
        3 => Status::Unknown,
        _ => Status::Critical,
    };
    status.as_str()
}

fn human_bytes(value: f64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut scaled = value;
    let mut unit = 0;
    while scaled.abs() >= 1024.0 && unit + 1 < UNITS.len() {
        scaled /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{scaled:.0} B")
    } else {
        format!("{scaled:.1} {}", UNITS[unit])
    }
}

/// What a template may refer to.
pub struct TemplateContext<'a> {
    pub value: &'a str,
    pub threshold: &'a str,
    pub severity: &'a str,
    pub rule: &'a str,
    pub host: &'a str,
    pub detail: &'a str,
    pub labels: &'a BTreeMap<String, String>,
}

/// Replaces `{{name}}` placeholders; unknown ones are left as written (the config reader has
/// already refused them, so this only matters for labels a series lacks: they become "").
pub fn render(template: &str, context: &TemplateContext<'_>) -> String {
    let mut out = String::with_capacity(template.len() + 32);
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            out.push_str(&rest[start..]);
            return out;
        };
        let name = after[..end].trim();
        match name {
            "value" => out.push_str(context.value),
            "threshold" => out.push_str(context.threshold),
            "severity" => out.push_str(context.severity),
            "rule" => out.push_str(context.rule),
            "host" => out.push_str(context.host),
            "detail" => out.push_str(context.detail),
            _ => match name.strip_prefix("labels.") {
                Some(label) => {
                    out.push_str(context.labels.get(label).map_or("", String::as_str));
                }
                None => out.push_str(&rest[start..start + 2 + end + 2]),
            },
        }
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_shown_in_their_unit() {
        let cases = [
            (0.9712, ValueUnit::Percent, "97.1%"),
            (2.314, ValueUnit::Seconds, "2.31 s"),
            (0.45, ValueUnit::Seconds, "450 ms"),
            (0.0031, ValueUnit::Seconds, "3.10 ms"),
            (0.000123, ValueUnit::Seconds, "0.123 ms"),
            (1023.0, ValueUnit::Bytes, "1023 B"),
            (1536.0, ValueUnit::Bytes, "1.5 KiB"),
            (600.0, ValueUnit::Seconds, "10m"),
            (3.0 * 1024.0 * 1024.0 * 1024.0, ValueUnit::Bytes, "3.0 GiB"),
            (4.0, ValueUnit::Status, "critical"),
            (2.0, ValueUnit::Status, "warning"),
            (3.0, ValueUnit::Number, "3"),
            (0.125, ValueUnit::Number, "0.125"),
            (f64::NAN, ValueUnit::Percent, "no value"),
        ];
        for (value, unit, expected) in cases {
            assert_eq!(format_value(value, unit), expected, "{value} {unit:?}");
        }
    }

    #[test]
    fn templates_fill_values_and_labels() {
        let labels: BTreeMap<String, String> = [("mountpoint".to_string(), "/data".to_string())]
            .into_iter()
            .collect();
        let context = TemplateContext {
            value: "96.0%",
            threshold: "95%",
            severity: "critical",
            rule: "disk_usage",
            host: "web1",
            detail: "",
            labels: &labels,
        };
        assert_eq!(
            render(
                "Disk {{labels.mountpoint}} {{ value }} full on {{host}} ({{severity}} at {{threshold}}){{labels.none}}",
                &context
            ),
            "Disk /data 96.0% full on web1 (critical at 95%)"
        );
        assert_eq!(render("open {{value", &context), "open {{value");
        assert_eq!(render("{{unknown}}", &context), "{{unknown}}");
    }
}
