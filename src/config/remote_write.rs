//! `[[remote_write]]`: Prometheus remote-write 1.0 endpoints (Prometheus with
//! `--web.enable-remote-write-receiver`, Mimir, VictoriaMetrics, Thanos receive, ...). Every
//! key is documented, with its default, in `remote_write_template.toml` (part of `config init`).
//!
//! ```toml
//! [[remote_write]]
//! name = "central"
//! url = "https://prometheus.example.org/api/v1/write"
//! bearer_token = "${REMOTE_WRITE_TOKEN}"
//! labels = { instance = "web1" }
//! ```

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;
use std::time::Duration;

use toml::de::DeValue;

use crate::base::schema::{Reader, Table, text_kind, whole_setting};
use crate::base::schema::{check_http_url, header_map, optional_string, string_list};
use crate::base::schema::{duration_setting, positive, string_setting};
use crate::base::secret::Secret;

/// The commented example of `config init`.
pub const TEMPLATE: &str = include_str!("remote_write_template.toml");

pub const DEFAULT_BATCH_SIZE: usize = 2_000;
pub const MAX_BATCH_SIZE: usize = 100_000;
pub const DEFAULT_FLUSH_INTERVAL: Duration = Duration::from_secs(5);
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
pub const DEFAULT_MAX_QUEUED_SAMPLES: u64 = 1_000_000;
/// Prometheus' own default `max_backoff`.
pub const DEFAULT_MAX_BACKOFF: Duration = Duration::from_secs(5);
/// Every series Lookout sends starts with it.
const SERIES_PREFIX: &str = "lookout_";

#[derive(Debug, Clone, PartialEq)]
pub struct RemoteWriteConfig {
    /// `name`: optional, unique; the `endpoint` label of the remote-write metrics and the name
    /// in logs. Without it, the URL (as written, `${ENV}` not expanded, credentials masked).
    pub name: Option<String>,
    /// `url`: where to POST, e.g. "http://127.0.0.1:9090/api/v1/write" (http or https). A
    /// `Secret`: it may come from `${ENV}`; `shown_url` is what may be shown.
    pub url: Secret,
    pub shown_url: String,
    /// `bearer_token`: sent as `Authorization: Bearer ...`; none by default.
    pub bearer_token: Option<Secret>,
    /// `basic_auth_user` and `basic_auth_password`: HTTP basic authentication; none by default.
    pub basic_auth_user: Option<String>,
    pub basic_auth_password: Option<Secret>,
    /// `headers = { X-Scope-OrgID = "ops" }`: sent as written, values never shown.
    pub headers: Vec<(String, Secret)>,
    /// `labels = { instance = "web1" }`: external labels added to every series (a series' own
    /// label of the same name wins).
    pub labels: BTreeMap<String, String>,
    /// `name_prefixes = ["lookout_cpu_", "lookout_check_"]`: only the series whose name starts
    /// with one of these; every series by default.
    pub name_prefixes: Vec<String>,
    /// `batch_size`: the most samples in one request (default 2,000).
    pub batch_size: usize,
    /// `flush_interval`: how often what has been collected is queued and sent, at the latest
    /// (default 5s); a full batch goes at once.
    pub flush_interval: Duration,
    /// `timeout`: the longest one request may take, answer included (default 30s).
    pub timeout: Duration,
    /// `max_queued_samples`: the most samples kept in the store while the endpoint cannot be
    /// reached (default 1,000,000); past it the oldest batches are dropped (and counted).
    pub max_queued_samples: u64,
    /// `max_backoff`: the longest wait between two attempts while the endpoint fails
    /// (default 5s, as Prometheus; the first retry comes after 500ms, doubling up to this).
    pub max_backoff: Duration,
    /// `ca_file`: PEM of extra CAs trusted besides the public roots.
    pub ca_file: Option<PathBuf>,
}

impl RemoteWriteConfig {
    /// The `endpoint` label and the name in logs: `name`, or the URL that may be shown.
    pub fn endpoint(&self) -> &str {
        self.name.as_deref().unwrap_or(&self.shown_url)
    }
}

/// Headers remote write sets itself.
const RESERVED_HEADERS: &[&str] = &[
    "content-type",
    "content-encoding",
    "content-length",
    "host",
    "user-agent",
    "x-prometheus-remote-write-version",
];

/// Every `[[remote_write]]`; problems go to the reader.
pub(in crate::config) fn read_remote_writes(
    r: &mut Reader<'_>,
    root: &Table<'_, '_>,
) -> Vec<RemoteWriteConfig> {
    let tables = r.table_array(root, "remote_write");
    let mut out: Vec<RemoteWriteConfig> = Vec::with_capacity(tables.len());
    let mut endpoints = HashSet::new();
    for table in &tables {
        let config = read_one(r, table);
        if !endpoints.insert(config.endpoint().to_string()) {
            let (key, what) = if config.name.is_some() {
                (
                    "name",
                    "is already the name of another remote_write; names must be unique",
                )
            } else {
                (
                    "url",
                    "is already the URL of another remote_write; give each a distinct name",
                )
            };
            let span = r.item(table, key).map(|item| item.span);
            r.problem(span.as_ref(), &format!("{}.{key}", table.path), what);
        }
        out.push(config);
    }
    out
}

fn read_one(r: &mut Reader<'_>, table: &Table<'_, '_>) -> RemoteWriteConfig {
    let name = string_setting(r, table, "name", None, "a name string", |text| {
        let name = text.value.trim();
        if name.is_empty() {
            Err("must not be empty; expected a short name like \"central\"".to_string())
        } else if name.chars().any(|c| c.is_control()) {
            Err(format!("{} contains control characters", text.quoted()))
        } else {
            Ok(Some(name.to_string()))
        }
    });
    if let Some(name) = &name.value {
        r.name_table(table, name);
    }
    let (url, shown_url) = read_url(r, table);
    let bearer_token = non_empty_secret(r, table, "bearer_token");
    let basic_auth_user = optional_string(r, table, "basic_auth_user");
    let basic_auth_password = non_empty_secret(r, table, "basic_auth_password");
    let path = |key: &str| format!("{}.{key}", table.path);
    if basic_auth_password.is_some() && basic_auth_user.is_none() {
        r.problem(
            table.span.as_ref(),
            &path("basic_auth_user"),
            "missing; a basic_auth_password needs the user it belongs to",
        );
    }
    if bearer_token.is_some() && basic_auth_user.is_some() {
        let span = r.item(table, "bearer_token").map(|item| item.span);
        r.problem(
            span.as_ref(),
            &path("bearer_token"),
            "conflicts with basic_auth_user; authenticate one way or the other",
        );
    }
    let headers = header_map(r, table, "headers", RESERVED_HEADERS);
    if (bearer_token.is_some() || basic_auth_user.is_some())
        && headers
            .iter()
            .any(|(name, _)| name.eq_ignore_ascii_case("authorization"))
    {
        {
            let map = r.table(table, "headers");
            r.accept_all_keys(&map);
            for (name, item) in r.entries(&map) {
                if name.eq_ignore_ascii_case("authorization") {
                    r.problem(
                        Some(&item.span),
                        &item.path,
                        "conflicts with bearer_token or basic_auth_user; authenticate one way or the other",
                    );
                }
            }
        }
    }
    let labels = read_labels(r, table);
    let mut name_prefixes = Vec::new();
    for (prefix, span, path) in string_list(r, table, "name_prefixes") {
        if prefix.starts_with(SERIES_PREFIX) {
            name_prefixes.push(prefix);
        } else {
            r.problem(
                span.as_ref(),
                &path,
                format!(
                    "{prefix:?} matches no series: every series Lookout sends starts with \
                     {SERIES_PREFIX:?}, like \"lookout_cpu_\""
                ),
            );
        }
    }
    let batch_size = whole_setting(
        r,
        table,
        "batch_size",
        DEFAULT_BATCH_SIZE as u64,
        1..=MAX_BATCH_SIZE as u64,
    );
    let flush_interval =
        duration_setting(r, table, "flush_interval", DEFAULT_FLUSH_INTERVAL, positive);
    let timeout = duration_setting(r, table, "timeout", DEFAULT_TIMEOUT, positive);
    let max_queued_samples = whole_setting(
        r,
        table,
        "max_queued_samples",
        DEFAULT_MAX_QUEUED_SAMPLES,
        1..=u64::MAX >> 1,
    );
    if batch_size.valid && max_queued_samples.valid && max_queued_samples.value < batch_size.value {
        let blamed = if max_queued_samples.span.is_some() {
            &max_queued_samples
        } else {
            &batch_size
        };
        r.problem(
            blamed.span.as_ref(),
            &blamed.path,
            format!(
                "max_queued_samples ({}) is below batch_size ({}); the queue must hold at least one batch",
                max_queued_samples.value, batch_size.value
            ),
        );
    }
    let max_backoff = duration_setting(r, table, "max_backoff", DEFAULT_MAX_BACKOFF, positive);
    let ca_file = optional_string(r, table, "ca_file").map(PathBuf::from);
    RemoteWriteConfig {
        name: name.value,
        url,
        shown_url,
        bearer_token,
        basic_auth_user,
        basic_auth_password,
        headers,
        labels,
        name_prefixes,
        batch_size: usize::try_from(batch_size.value).unwrap_or(DEFAULT_BATCH_SIZE),
        flush_interval: flush_interval.value,
        timeout: timeout.value,
        max_queued_samples: max_queued_samples.value,
        max_backoff: max_backoff.value,
        ca_file,
    }
}

/// The URL to send to, and the form of it that may be shown: as written (a `${VAR}` stays a
/// `${VAR}`), with any password or token masked. Problems name what is wrong without quoting
/// the URL.
fn read_url(r: &mut Reader<'_>, table: &Table<'_, '_>) -> (Secret, String) {
    const EXAMPLE: &str = "http://127.0.0.1:9090/api/v1/write";
    r.require(table, "url");
    let Some(item) = r.item_of(table, "url", text_kind("an http(s) URL")) else {
        r.problem(
            table.span.as_ref(),
            &format!("{}.url", table.path),
            format!("missing; every remote_write needs it, like url = {EXAMPLE:?}"),
        );
        return (Secret::default(), String::new());
    };
    let written = match item.value {
        DeValue::String(written) => written.to_string(),
        _ => String::new(),
    };
    let Some(text) = r.text(&item, "a URL string") else {
        return (Secret::default(), String::new());
    };
    let url = text.value.trim().to_string();
    let problem = check_http_url(&url, EXAMPLE).err().or_else(|| {
        let rest = url.split_once("://").map_or("", |(_, rest)| rest);
        let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
        if authority.contains('@') {
            Some(
                "must not hold credentials; set basic_auth_user and basic_auth_password instead"
                    .to_string(),
            )
        } else if rest.contains('#') {
            Some("must have no fragment (#...)".to_string())
        } else {
            None
        }
    });
    if let Some(why) = problem {
        r.problem(Some(&item.span), &item.path, why);
    }
    (
        Secret::new(url),
        crate::base::secret::mask_url(written.trim()),
    )
}

/// An optional secret that must not be empty when given.
fn non_empty_secret(
    r: &mut Reader<'_>,
    table: &Table<'_, '_>,
    key: &'static str,
) -> Option<Secret> {
    string_setting(r, table, key, None, "a string", |text| {
        if text.value.is_empty() {
            Err("must not be empty; remove the key to send no credentials".to_string())
        } else {
            Ok(Some(Secret::new(text.value.clone())))
        }
    })
    .value
}

/// `labels = { instance = "web1" }`: Prometheus label names (not the reserved `__` ones),
/// non-empty values (an empty value means "no such label" to Prometheus).
fn read_labels(r: &mut Reader<'_>, table: &Table<'_, '_>) -> BTreeMap<String, String> {
    let map = r.table(table, "labels");
    r.accept_all_keys(&map);
    let mut out = BTreeMap::new();
    for (name, item) in r.entries(&map) {
        let Some(text) = r.text(&item, "a string") else {
            continue;
        };
        let valid = name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid {
            r.problem(
                Some(&item.span),
                &item.path,
                "is not a Prometheus label name; expected letters, digits and _, not starting with a digit, like instance",
            );
        } else if name.starts_with("__") {
            r.problem(
                Some(&item.span),
                &item.path,
                "label names starting with __ are reserved for Prometheus' own use",
            );
        } else if text.value.is_empty() {
            r.problem(
                Some(&item.span),
                &item.path,
                "must not be empty (Prometheus treats an empty label as no label); remove it instead",
            );
        } else {
            out.insert(name, text.value);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::from_str;
    use crate::config::test_support::{errors, errors_with_env};

    fn remote_writes(text: &str, env: &dyn Fn(&str) -> Option<String>) -> Vec<RemoteWriteConfig> {
        match from_str(text, "lookout.toml", env) {
            Ok(config) => config.remote_write,
            Err(error) => panic!("{error}"),
        }
    }

    #[test]
    fn reads_an_endpoint_with_defaults() {
        let [rw] = remote_writes(
            "[[remote_write]]\nurl = \"http://127.0.0.1:9090/api/v1/write\"\n",
            &|_| None,
        )
        .try_into()
        .unwrap();
        assert_eq!(
            rw,
            RemoteWriteConfig {
                name: None,
                url: Secret::new("http://127.0.0.1:9090/api/v1/write"),
                shown_url: "http://127.0.0.1:9090/api/v1/write".into(),
                bearer_token: None,
                basic_auth_user: None,
                basic_auth_password: None,
                headers: Vec::new(),
                labels: BTreeMap::new(),
                name_prefixes: Vec::new(),
                batch_size: 2_000,
                flush_interval: Duration::from_secs(5),
                timeout: Duration::from_secs(30),
                max_queued_samples: 1_000_000,
                max_backoff: Duration::from_secs(5),
                ca_file: None,
            }
        );
        assert_eq!(rw.endpoint(), "http://127.0.0.1:9090/api/v1/write");
    }

    #[test]
    fn reads_every_key_and_never_prints_a_secret() {
        let env = |name: &str| Some(format!("v-{name}"));
        let rws = remote_writes(
            "[[remote_write]]\nname = \"central\"\nurl = \"https://${HOST}/api/v1/write?token=${T}\"\n\
             bearer_token = \"${TOKEN}\"\nheaders = { X-Scope-OrgID = \"${ORG}\" }\n\
             labels = { instance = \"web1\", env = \"${ENV_NAME}\" }\n\
             name_prefixes = [\"lookout_cpu_\", \"lookout_check_\"]\nbatch_size = 500\n\
             flush_interval = \"1s\"\ntimeout = \"3s\"\nmax_queued_samples = 1_000\n\
             max_backoff = \"30s\"\nca_file = \"/etc/ca.pem\"\n\n\
             [[remote_write]]\nurl = \"http://vm:8428/api/v1/write\"\n\
             basic_auth_user = \"lookout\"\nbasic_auth_password = \"${PW}\"\n",
            &env,
        );
        let printed = format!("{rws:?}");
        for secret in ["v-T", "v-TOKEN", "v-ORG", "v-PW", "v-HOST"] {
            assert!(!printed.contains(secret), "{secret} in {printed}");
        }
        let [central, vm] = rws.try_into().unwrap();
        assert_eq!(central.endpoint(), "central");
        assert_eq!(
            central.url.expose(),
            "https://v-HOST/api/v1/write?token=v-T"
        );
        // As written, secrets masked: what is shown if there is no name.
        assert_eq!(central.shown_url, "https://${HOST}/api/v1/write?token=***");
        assert_eq!(
            central.bearer_token.as_ref().map(Secret::expose),
            Some("v-TOKEN")
        );
        assert_eq!(central.headers[0].0, "X-Scope-OrgID");
        assert_eq!(
            central.labels,
            BTreeMap::from([
                ("env".to_string(), "v-ENV_NAME".to_string()),
                ("instance".to_string(), "web1".to_string())
            ])
        );
        assert_eq!(central.name_prefixes, ["lookout_cpu_", "lookout_check_"]);
        assert_eq!(
            (central.batch_size, central.max_queued_samples),
            (500, 1_000)
        );
        assert_eq!(
            (central.flush_interval, central.timeout, central.max_backoff),
            (
                Duration::from_secs(1),
                Duration::from_secs(3),
                Duration::from_secs(30)
            )
        );
        assert_eq!(central.ca_file, Some(PathBuf::from("/etc/ca.pem")));
        assert_eq!(vm.endpoint(), "http://vm:8428/api/v1/write");
        assert_eq!(vm.basic_auth_user.as_deref(), Some("lookout"));
        assert_eq!(
            vm.basic_auth_password.as_ref().map(Secret::expose),
            Some("v-PW")
        );
    }

    #[test]
    fn reports_every_problem_with_positions_and_without_secrets() {
        let text = "[[remote_write]]\nname = \"a\"\nurl = \"ftp://h/?token=s3cret\"\n\
                    bearer_token = \"s3cret\"\nbasic_auth_user = \"u\"\n\
                    headers = { Content-Encoding = \"gzip\", Authorization = \"Bearer s3cret\" }\n\
                    labels = { \"1x\" = \"v\", __tenant = \"t\", env = \"\" }\n\
                    name_prefixes = [\"cpu_\"]\nbatch_size = 0\ntimeout = \"0s\"\n\
                    max_queued_samples = \"many\"\nbatchsize = 3\n\n\
                    [[remote_write]]\nname = \"a\"\nurl = \"http://u:s3cret@h:9090/api/v1/write\"\n\
                    basic_auth_password = \"pw\"\nbatch_size = 5000\nmax_queued_samples = 100\n\n\
                    [[remote_write]]\nurl = \"http://h/w\"\n\n[[remote_write]]\nurl = \"http://h/w\"\n\n\
                    [[remote_write]]\nname = \"b\"\n";
        let shown = errors(text);
        assert!(!shown.contains("s3cret"), "{shown}");
        assert_eq!(
            shown,
            "lookout.toml:3:7: remote_write \"a\".url: is not an http(s) URL; expected http:// or https:// and a host, like \"http://127.0.0.1:9090/api/v1/write\"\n\
             lookout.toml:4:16: remote_write \"a\".bearer_token: conflicts with basic_auth_user; authenticate one way or the other\n\
             lookout.toml:6:32: remote_write \"a\".headers.Content-Encoding: is set by Lookout itself and cannot be configured\n\
             lookout.toml:6:56: remote_write \"a\".headers.Authorization: conflicts with bearer_token or basic_auth_user; authenticate one way or the other\n\
             lookout.toml:7:19: remote_write \"a\".labels.1x: is not a Prometheus label name; expected letters, digits and _, not starting with a digit, like instance\n\
             lookout.toml:7:35: remote_write \"a\".labels.__tenant: label names starting with __ are reserved for Prometheus' own use\n\
             lookout.toml:7:46: remote_write \"a\".labels.env: must not be empty (Prometheus treats an empty label as no label); remove it instead\n\
             lookout.toml:8:18: remote_write \"a\".name_prefixes[0]: \"cpu_\" matches no series: every series Lookout sends starts with \"lookout_\", like \"lookout_cpu_\"\n\
             lookout.toml:9:14: remote_write \"a\".batch_size: 0 is out of range; expected a whole number from 1 to 100000\n\
             lookout.toml:10:11: remote_write \"a\".timeout: \"0s\" must be greater than zero\n\
             lookout.toml:11:22: remote_write \"a\".max_queued_samples: expected a whole number, like max_queued_samples = 1000000, found a string\n\
             lookout.toml:12:1: remote_write \"a\".batchsize: unknown key; did you mean \"batch_size\"?\n\
             lookout.toml:14:1: remote_write[1].basic_auth_user: missing; a basic_auth_password needs the user it belongs to\n\
             lookout.toml:15:8: remote_write[1].name: is already the name of another remote_write; names must be unique\n\
             lookout.toml:16:7: remote_write[1].url: must not hold credentials; set basic_auth_user and basic_auth_password instead\n\
             lookout.toml:19:22: remote_write[1].max_queued_samples: max_queued_samples (100) is below batch_size (5000); the queue must hold at least one batch\n\
             lookout.toml:25:7: remote_write[3].url: is already the URL of another remote_write; give each a distinct name\n\
             lookout.toml:27:1: remote_write \"b\".url: missing; every remote_write needs it, like url = \"http://127.0.0.1:9090/api/v1/write\""
        );
    }

    #[test]
    fn an_unset_variable_is_named_not_guessed() {
        let shown = errors_with_env(
            "[[remote_write]]\nurl = \"http://h/w\"\nbearer_token = \"${RW_TOKEN}\"\n",
            &|_| None,
        );
        assert!(
            shown.starts_with("lookout.toml:3:16: remote_write[0].bearer_token: ")
                && shown.contains("RW_TOKEN"),
            "{shown}"
        );
    }

    /// The `config init` fragment: uncommented, it is a valid endpoint (that it shows every key
    /// is `config::template`'s test against the schema).
    #[test]
    fn the_template_example_uncommented_is_valid() {
        let uncommented = crate::config::test_support::uncomment(TEMPLATE, |line| {
            line.trim_end() == "# [[remote_write]]"
        });
        let env = |_: &str| Some("x".to_string());
        let config = match from_str(&uncommented, "uncommented", &env) {
            Ok(config) => config,
            Err(error) => {
                panic!("the remote_write example does not parse:\n{error}\n{uncommented}")
            }
        };
        assert_eq!(config.remote_write.len(), 1);
    }
}
