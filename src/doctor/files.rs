//! The files Lookout keeps: the data dir (writable, 0700, its database files 0600) and the
//! config file (not readable by others while it holds secrets written literally rather than as
//! `${ENV}`). `literal_secrets` and `config_mode` are pure; the rest reads file metadata.

use std::io::ErrorKind;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::Path;

use super::{Finding, hints};
use crate::base::secret::is_sensitive_header;

const ITEM_DIR: &str = "data dir";
const ITEM_CONFIG: &str = "security: config file";

/// The data dir: there (or creatable), a directory, private, writable.
pub fn data_dir(path: &Path) -> Finding {
    let shown = path.display();
    let metadata = match std::fs::metadata(path) {
        Ok(metadata) => metadata,
        Err(error) if error.kind() == ErrorKind::NotFound => return missing_dir(path),
        Err(error) => {
            return Finding::fail(
                ITEM_DIR,
                format!("cannot look at {shown}: {}", plain(&error)),
                hints::MISSING_DATA,
            );
        }
    };
    if !metadata.is_dir() {
        return Finding::fail(
            ITEM_DIR,
            format!("{shown} is not a directory"),
            "storage.path (or --data-dir) must name a directory Lookout owns, e.g. /var/lib/lookout",
        );
    }
    let mode = metadata.mode() & 0o7777;
    if mode & 0o077 != 0 {
        return Finding::fail(
            ITEM_DIR,
            format!(
                "{shown} is mode {mode:04o}: other users can read the history, password hashes and sessions; expected 0700"
            ),
            format!("chmod 700 {shown} (Lookout creates it 0700; something changed it)"),
        );
    }
    let mut loose = Vec::new();
    let mut size = 0;
    for name in ["lookout.db", "lookout.db-wal", "lookout.db-shm"] {
        if let Ok(file) = std::fs::metadata(path.join(name)) {
            size += file.len();
            if file.mode() & 0o077 != 0 {
                loose.push(format!("{name} is mode {:04o}", file.mode() & 0o7777));
            }
        }
    }
    if !loose.is_empty() {
        return Finding::fail(
            ITEM_DIR,
            format!("in {shown}: {}; expected 0600", loose.join(", ")),
            format!("chmod 600 {shown}/lookout.db*"),
        );
    }
    if let Err(error) = try_write(path) {
        return Finding::fail(
            ITEM_DIR,
            format!("{shown} is not writable: {}", plain(&error)),
            format!(
                "{}; the user Lookout runs as must own it: chown -R USER {shown}",
                hints::MISSING_DATA
            ),
        );
    }
    let store = if size > 0 {
        format!(", store {}", human_size(size))
    } else {
        ", no store yet".to_string()
    };
    Finding::ok(ITEM_DIR, format!("{shown}: writable, mode 0700{store}"))
}

fn missing_dir(path: &Path) -> Finding {
    let parent = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    if !parent.is_dir() {
        return Finding::fail(
            ITEM_DIR,
            format!(
                "{} does not exist, nor does {}",
                path.display(),
                parent.display()
            ),
            format!(
                "create it for the user Lookout runs as: install -d -m 700 -o USER {}",
                path.display()
            ),
        );
    }
    if !writable(parent) {
        return Finding::fail(
            ITEM_DIR,
            format!(
                "{} does not exist and {} is not writable, so Lookout cannot create it",
                path.display(),
                parent.display()
            ),
            format!(
                "create it for the user Lookout runs as: install -d -m 700 -o USER {}",
                path.display()
            ),
        );
    }
    Finding::warn(
        ITEM_DIR,
        format!(
            "{} does not exist yet; the first `lookout serve` or `lookout collect` creates it (mode 0700)",
            path.display()
        ),
        "run Lookout once with this config, or check that storage.path is the directory the daemon uses",
    )
}

fn writable(path: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let Ok(c_path) = std::ffi::CString::new(path.as_os_str().as_bytes()) else {
        return false;
    };
    // SAFETY: a valid NUL-terminated path; access() only reads it.
    unsafe { libc::access(c_path.as_ptr(), libc::W_OK) == 0 }
}

/// Creates and removes a probe file: what a real write needs (a read-only mount, a full disk
/// and permissions all show).
fn try_write(dir: &Path) -> std::io::Result<()> {
    let probe = dir.join(format!(".lookout-doctor-{}", std::process::id()));
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&probe)?;
    std::fs::remove_file(&probe)
}

/// "349 KiB", "12.5 MiB": a size for people.
fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if value >= 100.0 {
        format!("{value:.0} {}", UNITS[unit])
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// An I/O error without "(os error N)".
pub fn plain(error: &std::io::Error) -> String {
    let text = error.to_string();
    match text.find(" (os error") {
        Some(at) => text[..at].to_string(),
        None => text,
    }
}

/// The config file: who may read it, against the secrets it holds literally.
pub fn config_file(path: &Path) -> Finding {
    let shown = path.display().to_string();
    let (mode, text) = match (std::fs::metadata(path), std::fs::read_to_string(path)) {
        (Ok(metadata), Ok(text)) => (metadata.mode() & 0o7777, text),
        (Err(error), _) | (_, Err(error)) => {
            return Finding::fail(
                ITEM_CONFIG,
                format!("cannot read {shown}: {}", plain(&error)),
                "the file was readable when the config was loaded; check it was not moved",
            );
        }
    };
    config_mode(&shown, mode, &literal_secrets(&text))
}

/// The finding for a config file of `mode` holding `secrets` (key paths) literally.
pub fn config_mode(shown: &str, mode: u32, secrets: &[String]) -> Finding {
    let readers = if mode & 0o004 != 0 {
        Some("every user")
    } else if mode & 0o040 != 0 {
        Some("its group")
    } else {
        None
    };
    let fix = format!(
        "chmod 600 {shown} (owned by the user Lookout runs as), or move the values to the environment: password = \"${{SMTP_PASSWORD}}\" (e.g. an EnvironmentFile= of the systemd unit)"
    );
    match (readers, secrets.is_empty()) {
        (_, true) => Finding::ok(
            ITEM_CONFIG,
            format!("{shown} (mode {mode:04o}) holds no secret written literally"),
        ),
        (None, false) => Finding::ok(
            ITEM_CONFIG,
            format!(
                "{shown} is mode {mode:04o}: only its owner reads the secrets written in it ({})",
                secrets.join(", ")
            ),
        ),
        (Some(who), false) => {
            let detail = format!(
                "{shown} is mode {mode:04o}, readable by {who}, and holds secrets written literally: {}",
                secrets.join(", ")
            );
            if mode & 0o004 != 0 {
                Finding::fail(ITEM_CONFIG, detail, fix)
            } else {
                Finding::warn(ITEM_CONFIG, detail, fix)
            }
        }
    }
}

/// The key paths (never the values) of the secrets a config text holds literally rather than
/// as `${ENV}`: keys naming a password, secret or token; credential headers and form fields;
/// URLs and DSNs with a password in them; the url of a webhook notifier (Slack-style URLs
/// carry their token). Text that is not TOML holds none (the config loaded, so it is TOML).
pub fn literal_secrets(text: &str) -> Vec<String> {
    let Ok(table) = text.parse::<toml::Table>() else {
        return Vec::new();
    };
    let mut found = Vec::new();
    walk_table(&table, "", false, &mut found);
    found
}

fn walk_table(table: &toml::Table, path: &str, credential_map: bool, found: &mut Vec<String>) {
    let webhook = table.get("type").and_then(|t| t.as_str()) == Some("webhook");
    for (key, value) in table {
        let here = if path.is_empty() {
            key.clone()
        } else {
            format!("{path}.{key}")
        };
        match value {
            toml::Value::String(text) => {
                let lower = key.to_ascii_lowercase();
                let named = ["password", "passwd", "secret", "token"]
                    .iter()
                    .any(|w| lower.contains(w));
                let header = credential_map && is_sensitive_header(key);
                let is_secret = named
                    || header
                    || url_password(text)
                    || (webhook && key == "url" && !text.is_empty());
                if is_secret && !text.is_empty() && !text.contains("${") {
                    found.push(here);
                }
            }
            toml::Value::Table(inner) => {
                let map = matches!(key.as_str(), "headers" | "form");
                walk_table(inner, &here, map, found);
            }
            toml::Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    if let toml::Value::Table(inner) = item {
                        let label = inner
                            .get("name")
                            .and_then(|n| n.as_str())
                            .map_or_else(|| format!("{here}[{i}]"), |n| format!("{here}.{n}"));
                        walk_table(inner, &label, false, found);
                    }
                }
            }
            _ => {}
        }
    }
}

/// A URL with a password written in it (userinfo, or a password/pass/pwd/token parameter)
/// that is not `${ENV}`.
fn url_password(text: &str) -> bool {
    let Some(scheme_end) = text.find("://") else {
        return false;
    };
    let rest = &text[scheme_end + 3..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    let literal = |part: &str| !part.is_empty() && !part.contains("${");
    if let Some(at) = authority.rfind('@') {
        let userinfo = &authority[..at];
        let password = match userinfo.split_once(':') {
            Some((_, password)) => password,
            // redis://secret@host: a lone userinfo is Redis's password.
            None if text.starts_with("redis") => userinfo,
            None => "",
        };
        if literal(password) {
            return true;
        }
    }
    let query = rest.split_once('?').map_or("", |(_, q)| q);
    query.split(['&', ';']).any(|pair| {
        pair.split_once('=').is_some_and(|(key, value)| {
            matches!(
                key.to_ascii_lowercase().as_str(),
                "password" | "pass" | "pwd" | "token"
            ) && literal(value)
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_secrets_are_found_by_key_and_env_references_are_not() {
        let text = r#"
[server]
listen = "127.0.0.1:9898"
metrics_token = "abc123abc123abc"

[[check]]
name = "db"
type = "postgres"
dsn = "postgres://monitor:hunter2@127.0.0.1/app"

[[check]]
name = "db-env"
type = "postgres"
dsn = "postgres://monitor:${PGPASSWORD}@127.0.0.1/app"

[[check]]
name = "nopass"
type = "postgres"
dsn = "postgres://postgres@127.0.0.1/test"

[[check]]
name = "cache"
type = "redis"
url = "redis://s3cret@127.0.0.1:6379/0"

[[check]]
name = "api"
type = "http"
url = "http://127.0.0.1/health?token=xyz"
headers = { Authorization = "Bearer xyz", Accept = "application/json", X-Api-Key = "${KEY}" }

[[notifier]]
name = "ops-mail"
type = "email"
smtp = "smtp://127.0.0.1:25"
username = "ops@example.org"
password = "hunter2"

[[notifier]]
name = "hook"
type = "webhook"
url = "https://hooks.slack.com/services/T0/B0/XXXX"
secret = "${HOOK_SECRET}"

[maintenance.source.login]
form = { username = "admin", password = "pw" }
"#;
        assert_eq!(
            literal_secrets(text),
            [
                "check.db.dsn",
                "check.cache.url",
                "check.api.headers.Authorization",
                "check.api.url",
                "maintenance.source.login.form.password",
                "notifier.ops-mail.password",
                "notifier.hook.url",
                "server.metrics_token",
            ]
        );
    }

    #[test]
    fn readable_configs_with_literal_secrets_are_flagged() {
        let secrets = vec!["notifier.ops-mail.password".to_string()];
        let world = config_mode("/etc/lookout.toml", 0o644, &secrets);
        assert_eq!(world.status, super::super::Level::Fail);
        assert_eq!(
            world.detail,
            "/etc/lookout.toml is mode 0644, readable by every user, and holds secrets written literally: notifier.ops-mail.password"
        );
        assert_eq!(
            config_mode("/etc/lookout.toml", 0o640, &secrets).status,
            super::super::Level::Warn
        );
        assert_eq!(
            config_mode("/etc/lookout.toml", 0o600, &secrets).status,
            super::super::Level::Ok
        );
        assert_eq!(
            config_mode("/etc/lookout.toml", 0o644, &[]).status,
            super::super::Level::Ok
        );
    }

    #[test]
    fn sizes_for_people() {
        assert_eq!(human_size(512), "512 B");
        assert_eq!(human_size(357_128), "349 KiB");
        assert_eq!(human_size(13_107_200), "12.5 MiB");
        assert_eq!(human_size(3 << 30), "3.0 GiB");
    }

    #[test]
    fn data_dir_modes() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        assert_eq!(data_dir(&data).status, super::super::Level::Warn);
        std::fs::create_dir(&data).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
        let open = data_dir(&data);
        assert_eq!(open.status, super::super::Level::Fail);
        assert!(open.detail.contains("mode 0755"), "{}", open.detail);
        std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o700)).unwrap();
        std::fs::write(data.join("lookout.db"), b"x").unwrap();
        std::fs::set_permissions(
            data.join("lookout.db"),
            std::fs::Permissions::from_mode(0o644),
        )
        .unwrap();
        let file = data_dir(&data);
        assert_eq!(file.status, super::super::Level::Fail);
        assert!(
            file.detail.contains("lookout.db is mode 0644"),
            "{}",
            file.detail
        );
        std::fs::set_permissions(
            data.join("lookout.db"),
            std::fs::Permissions::from_mode(0o600),
        )
        .unwrap();
        let fine = data_dir(&data);
        assert_eq!(fine.status, super::super::Level::Ok, "{fine:?}");
        assert!(
            !data
                .join(format!(".lookout-doctor-{}", std::process::id()))
                .exists()
        );
        assert_eq!(
            data_dir(&dir.path().join("no/such/dir")).status,
            super::super::Level::Fail
        );
    }
}
