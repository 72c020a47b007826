//! The hints of `lookout doctor`: the seed's "Common Issues" (scripts not running, alerts not
//! sent, dashboard issues, missing data) made specific to what went wrong. An error text is
//! sorted into a `Cause` by the words Lookout's own messages use ("connection refused",
//! "DNS", "no answer within", "authentication failed", ...); each cause has its advice.

/// Seed: "Missing Data: verify data collection scripts and file permissions" and "Scripts Not
/// Running: check cron configuration and permissions".
pub const MISSING_DATA: &str = "missing data: is `lookout serve` running (systemctl status lookout; journalctl -u lookout says why it stopped)? In cron mode, check that the crontab runs `lookout collect` every minute and that its user can write the data dir";

/// Seed: "Dashboard Issues: check service status and logs".
pub const DASHBOARD_DOWN: &str = "dashboard issues: is `lookout serve` running (systemctl status lookout, journalctl -u lookout)? It listens on server.listen; from another machine a firewall must let that port through";

/// Seed: "Monthly: review thresholds", and high CPU/memory/disk alerts on a healthy host.
pub const THRESHOLDS: &str = "this raises alerts; if it is normal for this host, review the thresholds in [system.thresholds] (the seed's defaults: CPU 80%/95%, memory 85%/95%, disk 90%/95%)";

use crate::checks::CheckKind;
pub use crate::checks::hint::{Cause, cause};
use crate::notifiers::NotifierKind;

/// The hint for a failed check: `check_type` names it in words ("http", or "system" for the
/// system checks), `kind` is its config when it has one (the type's own advice comes first).
pub fn for_check(check_type: &str, kind: Option<&CheckKind>, detail: &str) -> String {
    let cause = cause(detail);
    if let Some(hint) = kind.and_then(|kind| kind.hint(cause)) {
        return hint;
    }
    let what = kind.map_or("the service", CheckKind::what);
    match cause {
        Cause::Refused => format!(
            "nothing listens there: is {what} running (systemctl status …), and are the host and port of the check right?"
        ),
        Cause::Dns => "the host name does not resolve from this machine: check its spelling, /etc/hosts and /etc/resolv.conf".into(),
        Cause::Timeout => format!(
            "no answer in time: a firewall dropping packets, a wrong address, or {what} overloaded; if it is only slow, raise the check's timeout"
        ),
        Cause::Auth => "the database refused the login: check the user and password in the DSN (write the password as ${ENV_VAR}) and that the user may connect from this host".into(),
        Cause::Permission => "Lookout cannot read it as the user it runs as: give that user read access (e.g. the group adm for /var/log, or setfacl -m u:lookout:r FILE)".into(),
        Cause::Directory => "the path names a directory: point path at the log file itself".into(),
        Cause::Missing => "check the URL or name: the server says it does not exist".into(),
        Cause::Tls => "the certificate is not trusted or not for this name: set ca_file to the CA that signed it, or server_name to the name it was issued for".into(),
        Cause::HttpStatus => "the service answered with an error: see its own logs; expect_status sets which answers count as healthy".into(),
        Cause::Other => format!(
            "`lookout check` shows the same; the keys of a {check_type} check are explained in `lookout config init`"
        ),
    }
}

/// The hint for a notifier that failed: the kind's own advice for the cause (email's SMTP
/// settings), or the advice for any receiver over HTTP.
pub fn for_notifier(kind: &NotifierKind, error: &str) -> String {
    // Seed: "Alerts Not Sent: verify email configuration and SMTP settings".
    let lead = "alerts not sent";
    let cause = cause(error);
    if let Some(hint) = kind.hint(cause) {
        return format!("{lead}: {hint}");
    }
    match cause {
        Cause::Refused | Cause::Dns | Cause::Timeout => format!(
            "{lead}: the receiver cannot be reached from this machine; check the url, that the receiver runs, and any proxy or firewall in between"
        ),
        Cause::Auth => format!(
            "{lead}: the receiver refused the credentials; check headers (Authorization) or basic_auth_user/basic_auth_password"
        ),
        Cause::Tls => format!(
            "{lead}: the receiver's certificate is not trusted; set ca_file to the CA that signed it"
        ),
        _ => format!("{lead}: check the notifier's url and the receiver's logs"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn causes_from_lookouts_own_words() {
        for (text, expected) in [
            ("connection refused to 127.0.0.1:5432", Cause::Refused),
            ("connection refused by redis://127.0.0.1:1", Cause::Refused),
            (
                "cannot reach postgres://u:***@db/app: error communicating with database: Connection refused (os error 111)",
                Cause::Refused,
            ),
            (
                "DNS: cannot resolve db.invalid (failed to lookup address information)",
                Cause::Dns,
            ),
            ("timeout: no answer within 5s", Cause::Timeout),
            ("SMTP 127.0.0.1:25: no answer within 10s", Cause::Timeout),
            (
                "SMTP 127.0.0.1:2525: authentication failed for ops@example.org (535 5.7.8 Authentication credentials invalid)",
                Cause::Auth,
            ),
            (
                "cannot reach postgres://monitor:***@db/app: password authentication failed for user \"monitor\"",
                Cause::Auth,
            ),
            (
                "authentication failed at redis://127.0.0.1:6379: WRONGPASS",
                Cause::Auth,
            ),
            (
                "cannot read /var/log/app.log: Permission denied",
                Cause::Permission,
            ),
            (
                "cannot read /tmp/x/dir.log: Is a directory",
                Cause::Directory,
            ),
            (
                "cannot read /var/log/app.log: No such file or directory",
                Cause::Missing,
            ),
            ("TLS: certificate not trusted (unknown issuer)", Cause::Tls),
            ("HTTP 503 in 0.02 s", Cause::HttpStatus),
            (
                "webhook hooks.example.org: HTTP 401 Unauthorized",
                Cause::Auth,
            ),
            ("memory 86.1% used (warning at 85%)", Cause::Other),
        ] {
            assert_eq!(cause(text), expected, "{text}");
        }
    }

    #[test]
    fn hints_follow_the_seed_common_issues() {
        let config = |text: &str| {
            crate::config::from_str(text, "t.toml", &|_| None).unwrap_or_else(|e| panic!("{e}"))
        };
        let notifiers = config(
            "[[notifier]]\nname = \"m\"\ntype = \"email\"\nsmtp = \"smtp://127.0.0.1:2525\"\n\
             from = \"a@example.org\"\nto = [\"b@example.org\"]\n\n\
             [[notifier]]\nname = \"w\"\ntype = \"webhook\"\nurl = \"https://hooks.example.org/x\"\n",
        )
        .notifiers;
        let smtp = for_notifier(
            &notifiers[0].kind,
            "SMTP 127.0.0.1:2525: authentication failed for ops@example.org (535 bad)",
        );
        assert!(smtp.starts_with("alerts not sent"), "{smtp}");
        assert!(smtp.contains("app password"), "{smtp}");
        let hook = for_notifier(
            &notifiers[1].kind,
            "webhook w (https://hooks.example.org): HTTP 401 Unauthorized",
        );
        assert!(hook.contains("refused the credentials"), "{hook}");
        let kind = |text: &str| config(text).checks[0].kind.clone();
        let postgres =
            kind("[[check]]\nname = \"db\"\ntype = \"postgres\"\ndsn = \"postgres://u@h/x\"\n");
        let refused = for_check(
            "postgres",
            Some(&postgres),
            "connection refused to 127.0.0.1:5432",
        );
        assert!(refused.contains("is the database running"), "{refused}");
        let app_log = kind(
            "[[check]]\nname = \"l\"\ntype = \"log\"\npath = \"/var/log/app.log\"\n[[check.pattern]]\nname = \"e\"\nregex = \"x\"\n",
        );
        let log = for_check(
            "log",
            Some(&app_log),
            "cannot read /var/log/app.log: Permission denied",
        );
        let missing = for_check(
            "log",
            Some(&app_log),
            "cannot read /var/log/app.log: No such file or directory",
        );
        assert!(missing.contains("picked up at the next run"), "{missing}");
        let general = for_check("tcp", None, "connection refused to 127.0.0.1:1");
        assert!(general.contains("is the service running"), "{general}");
        assert!(log.contains("read access"), "{log}");
        assert!(DASHBOARD_DOWN.starts_with("dashboard issues"));
        assert!(MISSING_DATA.starts_with("missing data"));
    }
}
