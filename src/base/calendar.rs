//! Calendar values as people write them in a config: a 5-field cron expression (`CronExpr`),
//! an IANA time zone name (`ZoneName`) and an RFC 3339 instant (`Rfc3339Time`). Each is a
//! leaf type with `FromStr`; its error is what is wrong with the text, worded to follow the
//! quoted text in a message (`"0 25 * * *" is not a cron expression: the hour ...`), which is
//! how `base::schema::parsed_setting` reads them. `*_TYPE` names each for a wrong TOML type.

use std::fmt;
use std::str::FromStr;

use crate::clock::UnixMillis;

pub const CRON_TYPE: &str = "a cron expression string like \"0 2 * * SUN\"";
pub const CRON_FORM: &str = "expected 5 fields like \"0 2 * * SUN\" \
     (minute hour day-of-month month day-of-week; MON#1 = first Monday)";
pub const ZONE_TYPE: &str = "a time zone string like \"Europe/Berlin\"";
pub const ZONE_FORM: &str = "expected an IANA time zone name like \"Europe/Berlin\" or \"UTC\"";
pub const RFC3339_TYPE: &str = "a time string like \"2026-12-24T02:00:00Z\"";
pub const RFC3339_FORM: &str = "expected a date, a time and a UTC offset (RFC 3339), \
     like \"2026-12-24T02:00:00Z\" or \"2026-12-24T03:00:00+01:00\"";

/// A cron expression of 5 fields as `croner` reads it (seconds are not allowed: a schedule
/// starts on a minute), trimmed. The error says which field is wrong when one alone is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CronExpr(String);

impl CronExpr {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for CronExpr {
    type Err = String;

    fn from_str(expression: &str) -> Result<Self, String> {
        const FIELDS: [(&str, &str); 5] = [
            ("minute", "0-59"),
            ("hour", "0-23"),
            ("day of month", "1-31"),
            ("month", "1-12 or JAN-DEC"),
            ("day of week", "0-7 or SUN-SAT"),
        ];
        let fields: Vec<&str> = expression.split_whitespace().collect();
        if fields.len() != FIELDS.len() {
            return Err(format!("is not a cron expression; {CRON_FORM}"));
        }
        let parser = croner::parser::CronParser::new();
        if parser.parse(expression).is_ok() {
            return Ok(CronExpr(expression.trim().to_string()));
        }
        // The first field that is wrong on its own, with every other field "*".
        for (index, (name, range)) in FIELDS.iter().enumerate() {
            let mut alone = vec!["*"; FIELDS.len()];
            alone[index] = fields[index];
            if parser.parse(&alone.join(" ")).is_err() {
                return Err(format!(
                    "is not a cron expression: the {name} {:?} is not valid ({range}); {CRON_FORM}",
                    fields[index]
                ));
            }
        }
        Err(format!("is not a cron expression; {CRON_FORM}"))
    }
}

impl From<CronExpr> for String {
    fn from(cron: CronExpr) -> String {
        cron.0
    }
}

impl fmt::Display for CronExpr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The name of a time zone this host's tz database knows ("Europe/Berlin", "UTC"), trimmed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZoneName(String);

impl ZoneName {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for ZoneName {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let name = text.trim();
        match jiff::tz::TimeZone::get(name) {
            Ok(_) if !name.is_empty() => Ok(ZoneName(name.to_string())),
            _ => Err(format!("is not a time zone; {ZONE_FORM}")),
        }
    }
}

impl From<ZoneName> for String {
    fn from(zone: ZoneName) -> String {
        zone.0
    }
}

/// An instant written in RFC 3339, with its UTC offset ("2026-12-24T03:00:00+01:00").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rfc3339Time(pub UnixMillis);

impl FromStr for Rfc3339Time {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        text.trim()
            .parse::<jiff::Timestamp>()
            .map(|at| Rfc3339Time(at.as_millisecond()))
            .map_err(|_| format!("is not a time; {RFC3339_FORM}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cron_expressions() {
        for good in [
            "0 2 * * SUN",
            "0 2 * * sun",
            "0 2 * * MON#1",
            "*/15 * * * *",
            "0 2 1,15 * *",
            "30 3 * JAN-MAR MON-FRI",
            "0 22 L * *",
        ] {
            assert_eq!(good.parse::<CronExpr>().map(String::from), Ok(good.into()));
        }
        assert_eq!(
            "  0   2 * * 7 ".parse::<CronExpr>().map(String::from),
            Ok("0   2 * * 7".into())
        );
        let wrong = |field: &str| format!("is not a cron expression: the {field}; {CRON_FORM}");
        for (bad, expected) in [
            ("", format!("is not a cron expression; {CRON_FORM}")),
            (
                "0 0 2 * * SUN",
                format!("is not a cron expression; {CRON_FORM}"),
            ),
            ("@weekly", format!("is not a cron expression; {CRON_FORM}")),
            ("60 2 * * *", wrong("minute \"60\" is not valid (0-59)")),
            (
                "0 2 32 * *",
                wrong("day of month \"32\" is not valid (1-31)"),
            ),
            (
                "0 2 * 13 *",
                wrong("month \"13\" is not valid (1-12 or JAN-DEC)"),
            ),
            (
                "0 2 * * FUNDAY",
                wrong("day of week \"FUNDAY\" is not valid (0-7 or SUN-SAT)"),
            ),
            (
                "0 2 * * MON#6",
                wrong("day of week \"MON#6\" is not valid (0-7 or SUN-SAT)"),
            ),
        ] {
            assert_eq!(bad.parse::<CronExpr>(), Err(expected), "{bad:?}");
        }
    }

    #[test]
    fn zones_and_instants() {
        assert_eq!(
            " Europe/Berlin ".parse::<ZoneName>().map(String::from),
            Ok("Europe/Berlin".into())
        );
        for bad in ["", " ", "Mars/Olympus"] {
            assert_eq!(
                bad.parse::<ZoneName>(),
                Err(format!("is not a time zone; {ZONE_FORM}"))
            );
        }
        assert_eq!(
            " 2026-12-24T03:00:00+01:00".parse::<Rfc3339Time>(),
            Ok(Rfc3339Time(1_798_077_600_000))
        );
        assert_eq!(
            "2026-12-24 02:00".parse::<Rfc3339Time>(),
            Err(format!("is not a time; {RFC3339_FORM}"))
        );
    }
}
