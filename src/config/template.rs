//! `lookout config init`: a complete, commented config for a preset. Every key the reader
//! accepts is written with its value and one comment line on what it does. The settings with
//! defaults are `template.toml` (data, not code: the comments are also the descriptions of
//! `lookout config schema`); a preset is a small TOML overlay of the keys it changes, written
//! over the template with the default noted in the key's comment. Tests parse each template
//! back to its preset and to the built-in defaults (`defaults.rs`), check that it names every
//! key the reader asks for, and (tests/it/config_schema.rs) validate it against the schema, so
//! the example cannot drift from the code.

use super::CheckKind;

/// A named starting point for `lookout config init --preset NAME`.
#[derive(Debug, Clone, Copy)]
pub struct Preset {
    pub name: &'static str,
    /// One line for `--help` and for the unknown-preset error.
    pub description: &'static str,
    /// The keys the preset changes, as TOML (`[table]` headers and `key = value` lines).
    pub(super) overlay: &'static str,
    /// Tables written after the settings, as text: `[[check]]` (health checks have no
    /// defaults) or `[[remote_write]]` (an agent's hub).
    tables: Option<&'static str>,
}

/// The presets, in the order they are listed to users.
pub const PRESETS: &[Preset] = &[
    Preset {
        name: "default",
        description: "the built-in defaults",
        overlay: "",
        tables: None,
    },
    // A small VPS: fewer samples (one a minute is plenty to see a disk fill or memory creep)
    // and a disk budget that fits a 10-20 GB root volume.
    Preset {
        name: "minimal",
        description: "a small VPS: system metrics every minute, at most 256MiB of history",
        overlay: "[storage]\nmax_size = \"256MiB\"\n[system]\ninterval = \"1m\"\n",
        tables: None,
    },
    Preset {
        name: "vedfolnir",
        description: "a Vedfolnir deployment: health endpoints, app metrics, MySQL, Redis sessions, the webapp log",
        overlay: "",
        tables: Some(include_str!("presets/vedfolnir.toml")),
    },
    // One host of many: collects the host and its checks, remote-writes them to a hub.
    Preset {
        name: "agent",
        description: "one host of many: its metrics and checks remote-written to a hub (LOOKOUT_HUB_URL)",
        overlay: "",
        tables: Some(include_str!("presets/agent.toml")),
    },
];

/// The settings with defaults (server, storage, system, log), each key with its comment.
pub(super) const SETTINGS: &str = include_str!("template.toml");

/// `init_template` was asked for a preset that does not exist.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown preset {name:?}; available presets: {}", preset_list())]
pub struct UnknownPreset {
    pub name: String,
}

fn preset_list() -> String {
    PRESETS
        .iter()
        .map(|preset| format!("{:?} ({})", preset.name, preset.description))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The commented config text for `preset` (one of `PRESETS`).
pub fn init_template(preset: &str) -> Result<String, UnknownPreset> {
    let preset = PRESETS
        .iter()
        .find(|known| known.name == preset)
        .ok_or_else(|| UnknownPreset {
            name: preset.to_string(),
        })?;
    let mut out = format!(
        "# Lookout configuration, preset {:?}: {}.\n",
        preset.name, preset.description
    );
    out.push_str(&overlay(SETTINGS, preset.overlay));
    // [alerts] addition: before the checks, whose last example block runs to the end.
    out.push('\n');
    out.push_str(ALERTS_DOC);
    out.push('\n');
    out.push_str(&checks_doc());
    if let Some(tables) = preset.tables {
        out.push('\n');
        out.push_str(tables);
    }
    out.push_str(&super::notifiers::template()); // notifiers: the kinds' examples, tested in crate::notifiers
    out.push_str(super::maintenance::TEMPLATE); // [maintenance]: the same, tested in maintenance.rs
    out.push_str(super::remote_write::TEMPLATE); // [[remote_write]]: the same, tested in remote_write.rs
    out.push_str(super::receive::TEMPLATE); // [receive]: the same, tested in receive.rs
    out.push_str(super::watch::TEMPLATE); // [heartbeat], [alerts.connectivity]: tested in watch.rs
    Ok(out)
}

/// `template` with the values of `overlay` written over its `key = value` lines (in the same
/// `[table]`), the comment above each ending with the default it replaced. A key of the
/// overlay that the template lacks is not written (a test parses every preset back).
fn overlay(template: &str, overlay: &str) -> String {
    let mut changes = Vec::new();
    let mut table = "";
    for line in overlay.lines() {
        if let Some(header) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            table = header;
        } else if let Some((key, value)) = line.split_once(" = ") {
            changes.push((table, key, value));
        }
    }
    let mut lines: Vec<String> = template.lines().map(str::to_string).collect();
    let mut table = String::new();
    for index in 0..lines.len() {
        if let Some(header) = lines[index]
            .strip_prefix('[')
            .and_then(|l| l.strip_suffix(']'))
        {
            table = header.to_string();
            continue;
        }
        let Some((key, default)) = lines[index].split_once(" = ") else {
            continue;
        };
        let change = changes.iter().find(|(t, k, _)| *t == table && *k == key);
        if let Some((_, key, value)) = change {
            let default = default.to_string();
            lines[index] = format!("{key} = {value}");
            if let Some(comment) = index.checked_sub(1).and_then(|above| lines.get_mut(above)) {
                comment.push_str(&format!(" Default: {default}."));
            }
        }
    }
    lines.join("\n") + "\n"
}

/// Every key and table the default template shows, by dotted path (`server.listen`,
/// `check.url`), with what it does from the template's comments (empty if none): the comment
/// line above a written key or table, or the comment after a commented example (`# method =
/// "GET"   # any HTTP method`). For `lookout config schema`, and for the test that the
/// template shows every key of the schema.
pub fn descriptions() -> std::collections::HashMap<String, String> {
    let text = init_template("default").unwrap_or_default();
    let mut docs = std::collections::HashMap::new();
    let mut table = String::new();
    let mut above: Option<&str> = None;
    for line in text.lines() {
        // A key commented twice (`# # key = ...`) is an alternative to the example's own.
        let is_key = |text: &str| {
            text.split_once(" = ")
                .is_some_and(|(key, _)| key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
        };
        let (commented, body) = match line.strip_prefix("# ") {
            Some(rest) => (
                true,
                rest.strip_prefix("# ")
                    .filter(|r| is_key(r))
                    .unwrap_or(rest),
            ),
            None => (false, line),
        };
        let header = body.trim_start_matches('[').trim_end_matches(']');
        if body.starts_with('[')
            && header
                .chars()
                .all(|c| c.is_alphanumeric() || "._".contains(c))
        {
            table = header.to_string();
            let doc = above.filter(|_| !commented).unwrap_or_default();
            docs.entry(table.clone()).or_insert_with(|| doc.to_string());
        } else if let Some((key, rest)) = body.split_once(" = ")
            && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            let doc = if commented {
                rest.split_once(" # ").map(|(_, doc)| doc.trim())
            } else {
                above
            };
            let doc = doc.unwrap_or_default();
            let path = if table.is_empty() {
                key.to_string()
            } else {
                format!("{table}.{key}")
            };
            // A key of several types keeps its longest comment ("(required)" says less).
            let known = docs.entry(path).or_insert_with(String::new);
            if known.len() < doc.len() {
                *known = doc.to_string();
            }
        }
        above = line
            .strip_prefix("# ")
            .filter(|_| !commented || !body.contains(" = "));
    }
    docs
}

/// The keys every check has, as the start of the first example (`{check_types}`: the list of
/// types).
const CHECKS_DOC: &str = include_str!("checks/template.toml");

/// Health checks have no default, so the template documents them as commented examples: the
/// keys every check has, then each type's own example (`crate::checks`), in registration
/// order.
fn checks_doc() -> String {
    let mut doc = CHECKS_DOC.replace("{check_types}", &CheckKind::type_names().join(", "));
    for (index, example) in CheckKind::templates().into_iter().enumerate() {
        if index > 0 {
            doc.push_str("#\n");
        }
        doc.push_str(example);
    }
    doc
}

/// [alerts] addition: the alert settings and rules, as commented examples (the built-in rules
/// are code, and `host` defaults to the machine's name, which a written file must not pin).
pub(super) const ALERTS_DOC: &str = include_str!("alerts_template.toml");

#[cfg(test)]
mod tests {
    use super::super::{CheckKind, from_str};
    use super::*;
    use crate::base::schema::Reader;
    use crate::config::test_support::{no_env, without_indices};
    use toml::de::{DeTable, DeValue};

    #[test]
    fn each_template_parses_back_to_its_preset() {
        for preset in PRESETS {
            let text = init_template(preset.name).unwrap_or_default();
            let env = |name: &str| match name {
                "VEDFOLNIR_DB_PASSWORD" | "LOOKOUT_AGENT_TOKEN" | "LOOKOUT_HOST" => {
                    Some("x".to_string())
                }
                "LOOKOUT_HUB_URL" => Some("https://hub.example.org/api/v1/write".to_string()),
                _ => None,
            };
            let parsed = from_str(&text, preset.name, &env);
            match parsed {
                Ok(mut config) => {
                    assert_eq!(
                        config.checks.is_empty(),
                        preset.name != "vedfolnir",
                        "preset {} checks",
                        preset.name
                    );
                    config.checks.clear();
                    // The agent's hub, and only the agent's.
                    assert_eq!(
                        config.remote_write.len(),
                        usize::from(preset.name == "agent"),
                        "preset {} remote_write",
                        preset.name
                    );
                    config.remote_write.clear();
                    // A preset's own text may also set a maintenance source (read like checks).
                    assert_eq!(
                        config.maintenance.source.take().is_some(),
                        preset.name == "vedfolnir",
                        "preset {} maintenance source",
                        preset.name
                    );
                    let own = from_str(preset.overlay, preset.name, &no_env).ok();
                    assert_eq!(Some(config), own, "preset {}", preset.name)
                }
                Err(error) => panic!(
                    "template {:?} does not parse:\n{error}\n{text}",
                    preset.name
                ),
            }
        }
    }

    #[test]
    fn default_template_is_the_embedded_default() {
        let text = init_template("default").unwrap_or_default();
        assert_eq!(
            from_str(&text, "t", &no_env).ok(),
            Some(super::super::embedded_default())
        );
    }

    /// One comment line per written key, and everything past the settings (the examples of
    /// [alerts], checks, notifiers, maintenance, remote write, heartbeat) is comments that fit
    /// a terminal. That the template shows every key is checked against the schema below.
    #[test]
    fn default_template_comments_every_key_and_its_examples() {
        let text = init_template("default").unwrap_or_default();
        let examples = text.split_once(ALERTS_DOC).map_or("", |(_, rest)| rest);
        use super::super::{maintenance, receive, remote_write, watch};
        let parts = [
            maintenance::TEMPLATE,
            remote_write::TEMPLATE,
            receive::TEMPLATE,
            watch::TEMPLATE,
        ];
        assert!(examples.contains("# [[check]]") && parts.iter().all(|t| examples.contains(t)));
        for line in ALERTS_DOC.lines().chain(examples.lines()) {
            assert!(
                line.is_empty() || line.starts_with('#'),
                "not a comment: {line:?}"
            );
            assert!(line.chars().count() <= 110, "longer than 110: {line:?}");
        }
        // One comment line per key: every `key = value` line follows a comment.
        let lines: Vec<&str> = text.lines().collect();
        for (index, line) in lines.iter().enumerate() {
            if line.contains(" = ") && !line.starts_with('#') {
                assert!(
                    index > 0 && lines[index - 1].starts_with("# "),
                    "no comment above {line:?}"
                );
            }
        }
    }

    #[test]
    fn every_check_example_uncommented_is_a_valid_check() {
        // Uncomment each example block: from a "# [[check]]" line to the next blank comment.
        let text = init_template("default").unwrap_or_default();
        let uncommented =
            crate::config::test_support::uncomment(&text, |line| line.trim_end() == "# [[check]]");
        for line in checks_doc().lines() {
            assert!(line.starts_with('#'), "not a comment: {line:?}");
            assert!(
                line.chars().count() <= 110,
                "longer than 110 characters: {line:?}"
            );
        }
        let env = |_: &str| Some("x".to_string());
        let config = match from_str(&uncommented, "uncommented", &env) {
            Ok(config) => config,
            Err(error) => panic!("the check examples do not parse:\n{error}\n{uncommented}"),
        };
        let types: Vec<&str> = config
            .checks
            .iter()
            .map(|check| check.kind.type_name())
            .collect();
        assert_eq!(types, CheckKind::type_names(), "one check per type");
        // Complete: every key the reader asks of a check of that type is in its example (the
        // keys every check has are shown once, in the first; mysql and sqlite point at postgres).
        let document = DeTable::parse(&uncommented)
            .map(|t| t.into_inner())
            .unwrap_or_default();
        let mut reader = Reader::new("uncommented", &uncommented, &env);
        let _ = super::super::parse::read_config(&mut reader, &document);
        let mut written = Vec::new();
        if let Some(DeValue::Array(checks)) = document.get("check").map(|v| v.get_ref()) {
            for (index, check) in checks.iter().enumerate() {
                if let DeValue::Table(table) = check.get_ref() {
                    keys_of(table, &format!("check[{index}]"), &mut written);
                }
            }
        }
        const COMMON: &[&str] = &[
            "name",
            "type",
            "layer",
            "interval",
            "timeout",
            "retries",
            "recover_after",
            "error_window",
            "depends_on",
            "enabled",
        ];
        for asked in reader.asked_paths() {
            let Some((index, key)) = asked
                .strip_prefix("check[")
                .and_then(|rest| rest.split_once("]."))
            else {
                continue;
            };
            let index: usize = index.parse().unwrap_or_default();
            let check_type = types[index];
            if matches!(check_type, "mysql" | "sqlite") || (index > 0 && COMMON.contains(&key)) {
                continue;
            }
            let key = without_indices(key);
            assert!(
                written.contains(&format!("check[{index}].{key}")),
                "the {check_type} example does not show {key}"
            );
        }
        // The nested tables were read too, not silently dropped.
        for check in &config.checks {
            match &check.kind {
                CheckKind::Http(http) => {
                    assert_eq!((http.asserts.len(), http.extracts.len()), (4, 1));
                    assert_eq!(http.request.headers.len(), 2);
                }
                CheckKind::Sql(sql) if sql.dialect == crate::checks::sql::Dialect::Postgres => {
                    assert_eq!(sql.queries.len(), 1)
                }
                CheckKind::Log(log) => assert_eq!(log.patterns.len(), 1),
                _ => {}
            }
        }
    }

    /// Every key path under `prefix`, with the index of a nested array of tables left out
    /// (`check[0].assert.equals`), so a key shown in any of the tables counts.
    fn keys_of(table: &DeTable<'_>, prefix: &str, out: &mut Vec<String>) {
        for (key, value) in table.iter() {
            let path = format!("{prefix}.{}", key.get_ref());
            if let DeValue::Array(items) = value.get_ref() {
                for item in items {
                    if let DeValue::Table(child) = item.get_ref() {
                        keys_of(child, &path, out);
                    }
                }
            }
            out.push(path);
        }
    }

    /// The template shows every key and table of the schema (written or as a commented example,
    /// in its table), every variant's too: the documentation cannot miss a key the reader knows.
    #[test]
    fn the_template_shows_every_key_of_the_schema() {
        fn keys(schema: &serde_json::Value, path: &str, out: &mut Vec<String>) {
            if let Some(properties) = schema["properties"].as_object() {
                for (key, value) in properties {
                    let path = if path.is_empty() {
                        key.clone()
                    } else {
                        format!("{path}.{key}")
                    };
                    keys(value, &path, out);
                    out.push(path);
                }
            }
            keys_of_parts(schema, path, out);
        }
        fn keys_of_parts(schema: &serde_json::Value, path: &str, out: &mut Vec<String>) {
            if schema["items"].is_object() {
                keys(&schema["items"], path, out);
            }
            for variant in schema["oneOf"].as_array().into_iter().flatten() {
                keys(variant, path, out);
            }
        }
        let mut all = Vec::new();
        keys(&super::super::json_schema(), "", &mut all);
        assert!(
            all.len() > 300,
            "the schema looks incomplete: {}",
            all.len()
        );
        let shown = descriptions();
        let mut missing: Vec<&String> = all
            .iter()
            .filter(|path| !shown.contains_key(*path))
            .collect();
        missing.sort();
        missing.dedup();
        assert!(
            missing.is_empty(),
            "not in the default template: {missing:#?}"
        );
    }

    /// `lookout config schema` describes every setting with the template's comment on it.
    #[test]
    fn the_schema_describes_every_setting_with_its_template_comment() {
        let schema = super::super::json_schema();
        let docs = descriptions();
        for section in ["server", "storage", "system", "log"] {
            let table = &schema["properties"][section];
            assert!(
                table["description"].is_string(),
                "{section} has no description"
            );
            let Some(properties) = table["properties"].as_object() else {
                panic!("{section} has no keys in the schema");
            };
            for (key, value) in properties {
                let path = format!("{section}.{key}");
                let description = value["description"].as_str().unwrap_or_default();
                let doc = docs.get(&path).map(String::as_str).unwrap_or("(none)");
                assert!(
                    description.starts_with(doc),
                    "{path}: {description:?} lacks {doc:?}"
                );
            }
        }
        assert!(
            docs["check.url"].contains("http"),
            "{:?}",
            docs.get("check.url")
        );
    }

    #[test]
    fn minimal_template_notes_what_it_changed() {
        let text = init_template("minimal").unwrap_or_default();
        assert!(text.contains("interval = \"1m\""), "{text}");
        assert!(
            text.contains("How often to collect them. Default: \"10s\".\n"),
            "{text}"
        );
        assert!(text.contains("max_size = \"256MiB\""), "{text}");
    }

    /// The agent remote-writes to its hub, from the environment, with its host label.
    #[test]
    fn the_agent_template_writes_to_the_hub_of_its_environment() {
        let text = init_template("agent").unwrap_or_default();
        let env = |name: &str| match name {
            "LOOKOUT_HUB_URL" => Some("http://10.0.0.1:9898/api/v1/write".to_string()),
            "LOOKOUT_AGENT_TOKEN" => Some("lk_agent".to_string()),
            "LOOKOUT_HOST" => Some("web-1".to_string()),
            _ => None,
        };
        let config = match from_str(&text, "agent", &env) {
            Ok(config) => config,
            Err(error) => panic!("{error}"),
        };
        assert!(config.system.enabled);
        let [hub] = config.remote_write.try_into().unwrap();
        assert_eq!(hub.endpoint(), "hub");
        assert_eq!(hub.url.expose(), "http://10.0.0.1:9898/api/v1/write");
        assert_eq!(
            hub.bearer_token.map(|t| t.expose().to_string()),
            Some("lk_agent".into())
        );
        assert_eq!(hub.labels.get("host").map(String::as_str), Some("web-1"));
        assert_eq!(
            crate::config::env_references(&text),
            ["LOOKOUT_HUB_URL", "LOOKOUT_AGENT_TOKEN", "LOOKOUT_HOST"]
        );
    }

    #[test]
    fn unknown_preset_lists_the_available_ones() {
        assert_eq!(
            init_template("huge").err().map(|error| error.to_string()),
            Some(
                "unknown preset \"huge\"; available presets: \"default\" (the built-in defaults), \
                 \"minimal\" (a small VPS: system metrics every minute, at most 256MiB of history), \
                 \"vedfolnir\" (a Vedfolnir deployment: health endpoints, app metrics, MySQL, Redis sessions, the webapp log), \
                 \"agent\" (one host of many: its metrics and checks remote-written to a hub (LOOKOUT_HUB_URL))"
                    .to_string()
            )
        );
    }
}
