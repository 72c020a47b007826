//! Secrets: a `Secret` never prints its value (Debug and Display print `***`), and `mask_url`
//! is the one masking of URLs and DSNs shown in errors, logs, the API, `config check`,
//! `doctor` and /metrics: the userinfo password and every query value, `password=`-style
//! keywords; `url_origin` keeps only scheme, host and port. `Redactor` removes a DSN and its password from
//! a driver's error text. `is_sensitive_header` names the HTTP headers whose values are
//! credentials.

use std::fmt;

/// A value that must never be shown: Debug and Display print `***`.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The real value, for the one place that sends it (a connection, a header).
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// `scheme://host:port` of a URL: enough to say where, never a credential, path or query (a
/// chat webhook's token sits in its path).
pub fn url_origin(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return "(not a URL)".to_string();
    };
    let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
    let host = authority.rsplit('@').next().unwrap_or_default();
    format!("{scheme}://{host}")
}

/// The one masking of URLs and DSNs for display (errors, logs, the API, `config check`,
/// `doctor`, /metrics): `scheme://user:password@host/db?sslmode=require&api_key=abc#top` ->
/// `scheme://user:***@host/db?sslmode=***&api_key=***#top`. Every query value is masked
/// (which parameter carries a token differs per app: `api_key`, `sig`, `access_token`...), and
/// so is the password of the userinfo (a lone Redis userinfo is a password). Keyword DSNs
/// (`host=db password=x`) have their `password=`, `pass=`, `pwd=` and `token=` values masked.
pub fn mask_url(url: &str) -> String {
    let mut masked = url.to_string();
    if let Some(scheme_end) = url.find("://") {
        let rest = &url[scheme_end + 3..];
        let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let authority = &rest[..authority_end];
        let mut after_authority = rest[authority_end..].to_string();
        // The query: from the first '?' to the fragment.
        if let Some(question) = after_authority.find('?') {
            let query_end = after_authority[question..]
                .find('#')
                .map_or(after_authority.len(), |h| question + h);
            let query = &after_authority[question + 1..query_end];
            let shown: Vec<String> = query
                .split('&')
                .map(|pair| match pair.split_once('=') {
                    Some((key, value)) if !value.is_empty() => format!("{key}=***"),
                    _ => pair.to_string(),
                })
                .collect();
            after_authority.replace_range(question + 1..query_end, &shown.join("&"));
        }
        let shown_authority = match authority.rfind('@') {
            Some(at) => {
                let userinfo = &authority[..at];
                let shown_user = match userinfo.split_once(':') {
                    Some((user, _)) => format!("{user}:***"),
                    // redis://secret@host: a lone userinfo is a password for Redis.
                    None if !userinfo.is_empty() => "***".to_string(),
                    None => String::new(),
                };
                format!("{shown_user}@{}", &authority[at + 1..])
            }
            None => authority.to_string(),
        };
        masked = format!(
            "{}{shown_authority}{after_authority}",
            &url[..scheme_end + 3]
        );
    }
    for key in ["password=", "pass=", "pwd=", "token="] {
        let mut search_from = 0;
        while let Some(found) = masked[search_from..].to_ascii_lowercase().find(key) {
            let start = search_from + found + key.len();
            let end = masked[start..]
                .find(['&', ' ', ';', '#'])
                .map_or(masked.len(), |e| start + e);
            masked.replace_range(start..end, "***");
            search_from = start + 3;
        }
    }
    masked
}

/// Header names whose values are credentials, by substring of the lowercased name.
pub fn is_sensitive_header(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    [
        "authorization",
        "cookie",
        "token",
        "key",
        "secret",
        "password",
        "auth",
    ]
    .iter()
    .any(|word| name.contains(word))
}

/// Removes the DSN and its password from anything shown.
pub struct Redactor {
    dsn: String,
    pub masked_dsn: String,
    /// The password as written and percent-decoded (empty ones are not searched for).
    passwords: Vec<String>,
}

impl Redactor {
    pub fn new(dsn: &str) -> Redactor {
        let mut passwords = Vec::new();
        if let Some(rest) = dsn.split_once("://").map(|(_, rest)| rest) {
            let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
            if let Some((userinfo, _)) = authority.rsplit_once('@')
                && let Some((_, password)) = userinfo.split_once(':')
            {
                passwords.push(password.to_string());
            }
        }
        for part in dsn.split(['?', '&']) {
            if let Some((key, value)) = part.split_once('=')
                && matches!(
                    key.to_ascii_lowercase().as_str(),
                    "password" | "pass" | "pwd"
                )
            {
                passwords.push(value.to_string());
            }
        }
        let decoded: Vec<String> = passwords.iter().map(|p| percent_decode(p)).collect();
        passwords.extend(decoded);
        passwords.retain(|p| !p.is_empty());
        passwords.sort_by_key(|p| std::cmp::Reverse(p.len()));
        passwords.dedup();
        Redactor {
            dsn: dsn.to_string(),
            masked_dsn: mask_url(dsn),
            passwords,
        }
    }

    pub fn clean(&self, text: &str) -> String {
        let mut text = if self.dsn.is_empty() {
            text.to_string()
        } else {
            text.replace(&self.dsn, &self.masked_dsn)
        };
        for password in &self.passwords {
            text = text.replace(password.as_str(), "***");
        }
        text.replace('\n', " ")
    }
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|pair| std::str::from_utf8(pair).ok())
            .and_then(|pair| u8::from_str_radix(pair, 16).ok());
        if bytes[i] == b'%'
            && let Some(byte) = hex
        {
            out.push(byte);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_passwords_in_dsns_and_query_strings() {
        for (dsn, shown) in [
            (
                "postgres://monitor:s3cret@db:5432/app",
                "postgres://monitor:***@db:5432/app",
            ),
            (
                "mysql://root:@127.0.0.1/test",
                "mysql://root:***@127.0.0.1/test",
            ),
            (
                "redis://:pw@127.0.0.1:6379/0",
                "redis://:***@127.0.0.1:6379/0",
            ),
            ("redis://pw@127.0.0.1", "redis://***@127.0.0.1"),
            (
                "postgres://db/app?password=x&sslmode=require",
                "postgres://db/app?password=***&sslmode=***",
            ),
            (
                "http://127.0.0.1:5000/health?api_key=abc123&x=&flag",
                "http://127.0.0.1:5000/health?api_key=***&x=&flag",
            ),
            (
                "https://u:p@h.example.org/p?sig=zz#frag?a=b",
                "https://u:***@h.example.org/p?sig=***#frag?a=b",
            ),
            ("http://h?a=1&b=2", "http://h?a=***&b=***"),
            (
                "host=db user=app password=x",
                "host=db user=app password=***",
            ),
            ("sqlite:///var/lib/app.db", "sqlite:///var/lib/app.db"),
            (
                "http://127.0.0.1:5000/health",
                "http://127.0.0.1:5000/health",
            ),
        ] {
            assert_eq!(mask_url(dsn), shown, "{dsn}");
        }
    }

    #[test]
    fn secrets_never_print_their_value() {
        let secret = Secret::new("hunter2");
        assert_eq!(format!("{secret} {secret:?}"), "*** ***");
        assert_eq!(secret.expose(), "hunter2");
    }

    #[test]
    fn redactor_masks_the_dsn_and_removes_the_password() {
        let redactor = Redactor::new("postgres://monitor:s3cr%40t@db:5432/app?sslmode=require");
        let shown = redactor.clean(
            "cannot reach postgres://monitor:s3cr%40t@db:5432/app?sslmode=require: \
             password s3cr@t rejected",
        );
        assert_eq!(
            shown,
            "cannot reach postgres://monitor:***@db:5432/app?sslmode=***: password *** rejected"
        );
        let query = Redactor::new("postgres://db/app?password=hunter2&sslmode=disable");
        assert!(!query.clean("bad hunter2").contains("hunter2"));
        let none = Redactor::new("sqlite:///tmp/x.db");
        assert_eq!(none.clean("fine"), "fine");
    }
}
