//! The JSON Schema of a config, derived from the code that reads it: there is no second
//! description to keep in step. The reading code asks for every key it knows, present or not
//! (`Reader::item`), and its typed getters say what each holds (`Reader::declare`). Reading an
//! empty document therefore lists every key of every section; what it cannot list is what is
//! read only when present (an optional section, the tables of an array, the keys of one `type`
//! of table). So `derive` reads a *probe* document, grows it with what the last reading showed
//! (an empty optional table, one element per array, one element per `type` of a closed set),
//! and reads it again until nothing new appears. The keys asked for then, with their kinds, are
//! the schema; the tables of an array with a `type` become a `oneOf` of their variants.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};
use toml::de::DeTable;

use super::reader::{Declared, Kind, Reader, join};

/// Grows the probe at most this many times: arrays inside tables of arrays inside optional
/// sections are three levels; more means a reading that never settles.
const MAX_ROUNDS: usize = 12;

/// The JSON Schema (draft-07) of the config that `read` reads.
pub fn derive(title: &str, read: &dyn Fn(&mut Reader<'_>, &DeTable<'_>)) -> Value {
    let (found, variants) = probe_all(read);
    let schema = Schema {
        found: &found,
        variants: &variants,
    };
    let mut root = schema.object(&found, "");
    if let Value::Object(fields) = &mut root {
        fields.insert(
            "$schema".into(),
            json!("http://json-schema.org/draft-07/schema#"),
        );
        fields.insert("title".into(), json!(title));
    }
    root
}

/// The keys `read` asks for without saying what they hold (`Kind::Undeclared`): holes in the
/// schema, which a test keeps at none.
pub fn undeclared(read: &dyn Fn(&mut Reader<'_>, &DeTable<'_>)) -> Vec<String> {
    let (found, variants) = probe_all(read);
    let all = std::iter::once(&found).chain(variants.values().flatten().map(|(_, found)| found));
    let mut holes: Vec<String> = all
        .flat_map(|found| &found.keys)
        .filter(|(_, _, declared)| declared.kind == Kind::Undeclared)
        .map(|(table, key, _)| join(table, key))
        .collect();
    holes.sort();
    holes.dedup();
    holes
}

/// The table variants by path: a `type` and what the probe with it found.
type Variants = BTreeMap<String, Vec<(String, Found)>>;

/// Every probe: the whole document grown to a fixed point, then one per `type` of each table
/// (not of an array) that has one.
fn probe_all(read: &dyn Fn(&mut Reader<'_>, &DeTable<'_>)) -> (Found, Variants) {
    let found = explore(read, Node::default());
    // A table (not of an array) with a `type` holds one variant per probe: read each.
    let mut variants = BTreeMap::new();
    for (table, key, declared) in &found.keys {
        let Kind::OneOf(types) = &declared.kind else {
            continue;
        };
        if *key != "type" || table.ends_with(']') || table.is_empty() {
            continue;
        }
        let mut each = Vec::new();
        for kind in types {
            let mut probe = found.probe.clone();
            if let Some(node) = probe.at_mut(table) {
                node.strings.insert("type".into(), kind.clone());
            }
            each.push((kind.clone(), explore(read, probe)));
        }
        variants.insert(table.clone(), each);
    }
    (found, variants)
}

/// What one probe showed: the keys asked for (with their kinds) and the probe that showed them.
struct Found {
    keys: Vec<(String, &'static str, Declared)>,
    probe: Node,
}

/// Reads `probe`, grows it with what the reading showed, until nothing new appears.
fn explore(read: &dyn Fn(&mut Reader<'_>, &DeTable<'_>), mut probe: Node) -> Found {
    let mut keys = Vec::new();
    for _ in 0..MAX_ROUNDS {
        let text = probe.document();
        let Ok(document) = DeTable::parse(&text) else {
            break;
        };
        let no_env = |_: &str| None;
        let mut reader = Reader::new("schema", &text, &no_env);
        read(&mut reader, document.get_ref());
        keys = reader.schema();
        if !grow(&mut probe, &keys) {
            break;
        }
    }
    Found { keys, probe }
}

/// Adds each key's description from `docs` (by dotted path, array indices left out:
/// `check.url`) in front of the form the reader gave, for editors' hovers and completion.
pub fn annotate(schema: &mut Value, docs: &dyn Fn(&str) -> Option<String>) {
    annotate_at(schema, "", docs);
}

fn annotate_at(schema: &mut Value, path: &str, docs: &dyn Fn(&str) -> Option<String>) {
    let Value::Object(fields) = schema else {
        return;
    };
    if let Some(doc) = docs(path) {
        let described = match fields.get("description").and_then(Value::as_str) {
            Some(form) => format!("{doc} ({form})"),
            None => doc,
        };
        fields.insert("description".into(), Value::String(described));
    }
    if let Some(Value::Object(properties)) = fields.get_mut("properties") {
        for (key, value) in properties.iter_mut() {
            annotate_at(value, &join(path, key), docs);
        }
    }
    for key in ["items", "anyOf", "oneOf"] {
        match fields.get_mut(key) {
            Some(Value::Array(each)) => {
                for value in each {
                    annotate_inner(value, path, docs);
                }
            }
            Some(value) => annotate_inner(value, path, docs),
            None => {}
        }
    }
}

/// The parts of a key's schema (an array's items, a variant) are described by the key's
/// doc already: only their own keys are annotated.
fn annotate_inner(schema: &mut Value, path: &str, docs: &dyn Fn(&str) -> Option<String>) {
    if let Some(Value::Object(properties)) = schema.get_mut("properties") {
        for (key, value) in properties.iter_mut() {
            annotate_at(value, &join(path, key), docs);
        }
    }
    if let Some(Value::Array(each)) = schema.get_mut("oneOf") {
        for value in each {
            annotate_inner(value, path, docs);
        }
    }
}

/// A table of the probe document: the strings it sets, its tables and its arrays of tables.
#[derive(Debug, Default, Clone)]
struct Node {
    strings: BTreeMap<String, String>,
    tables: BTreeMap<String, Node>,
    arrays: BTreeMap<String, Vec<Node>>,
}

impl Node {
    /// The probe as TOML: one `key = value` line per entry of the root, inline below it.
    fn document(&self) -> String {
        self.entries()
            .into_iter()
            .map(|(key, value)| format!("{key} = {value}\n"))
            .collect()
    }

    fn entries(&self) -> Vec<(String, String)> {
        let mut entries: Vec<(String, String)> = self
            .strings
            .iter()
            .map(|(key, value)| (key.clone(), format!("{value:?}")))
            .collect();
        for (key, table) in &self.tables {
            entries.push((key.clone(), table.inline()));
        }
        for (key, elements) in &self.arrays {
            let inline: Vec<String> = elements.iter().map(Node::inline).collect();
            entries.push((key.clone(), format!("[{}]", inline.join(", "))));
        }
        entries
    }

    fn inline(&self) -> String {
        let entries: Vec<String> = self
            .entries()
            .into_iter()
            .map(|(key, value)| format!("{key} = {value}"))
            .collect();
        format!("{{{}}}", entries.join(", "))
    }

    /// The table at a reader path (`alerts.rule[1].x`), made if missing (the tables of an
    /// array are not: `None` if the probe lacks one).
    fn at_mut(&mut self, path: &str) -> Option<&mut Node> {
        let mut node = self;
        for segment in path.split('.').filter(|segment| !segment.is_empty()) {
            node = match segment.split_once('[') {
                None => node.tables.entry(segment.to_string()).or_default(),
                Some((key, index)) => {
                    let index: usize = index.strip_suffix(']')?.parse().ok()?;
                    node.arrays.get_mut(key)?.get_mut(index)?
                }
            };
        }
        Some(node)
    }

    fn at(&self, path: &str) -> Option<&Node> {
        let mut node = self;
        for segment in path.split('.').filter(|segment| !segment.is_empty()) {
            node = match segment.split_once('[') {
                None => node.tables.get(segment)?,
                Some((key, index)) => {
                    let index: usize = index.strip_suffix(']')?.parse().ok()?;
                    node.arrays.get(key)?.get(index)?
                }
            };
        }
        Some(node)
    }
}

/// Adds to the probe what the last reading showed it lacks; false when nothing was added.
fn grow(probe: &mut Node, keys: &[(String, &'static str, Declared)]) -> bool {
    let asked_in = |path: &str| keys.iter().any(|(table, _, _)| table == path);
    let mut grown = false;
    for (table, key, declared) in keys {
        let path = join(table, key);
        let Some(parent) = probe.at_mut(table) else {
            continue;
        };
        match &declared.kind {
            // Read only when present: make it present.
            Kind::Table if !asked_in(&path) && !parent.tables.contains_key(*key) => {
                parent.tables.insert(key.to_string(), Node::default());
                grown = true;
            }
            Kind::Tables => {
                let elements = parent.arrays.entry(key.to_string()).or_default();
                if elements.is_empty() {
                    elements.push(Node::default());
                    grown = true;
                    continue;
                }
                // One element of each type, once the first has shown the types.
                let first = format!("{path}[0]");
                let types = keys.iter().find_map(|(table, key, declared)| {
                    match (&declared.kind, table == &first && *key == "type") {
                        (Kind::OneOf(types), true) => Some(types.clone()),
                        _ => None,
                    }
                });
                if let Some(types) = types
                    && elements.len() == 1
                    && !elements[0].strings.contains_key("type")
                {
                    *elements = types
                        .iter()
                        .map(|t| Node {
                            strings: BTreeMap::from([("type".to_string(), t.clone())]),
                            ..Node::default()
                        })
                        .collect();
                    grown = true;
                }
            }
            _ => {}
        }
        // A table of an array that asks for a name gets one: some readings stop without it.
        if *key == "name"
            && table.ends_with(']')
            && !parent.strings.contains_key("name")
            && !matches!(declared.kind, Kind::Table | Kind::Tables)
        {
            let name = format!("probe {}", table.replace(['[', ']', '.'], " ").trim());
            parent.strings.insert("name".into(), name);
            grown = true;
        }
    }
    grown
}

/// Builds the JSON Schema from what the probes found.
struct Schema<'a> {
    found: &'a Found,
    /// The variants of the tables (not of an array) with a `type`, by path.
    variants: &'a Variants,
}

impl Schema<'_> {
    /// The schema of the table at `path`: its asked keys, closed (`additionalProperties:
    /// false`); a `oneOf` if the table has variants by `type`.
    fn object(&self, found: &Found, path: &str) -> Value {
        if let Some(variants) = self.variants.get(path)
            && std::ptr::eq(found, self.found)
        {
            let each = variants
                .iter()
                .map(|(kind, found)| (kind.clone(), self.closed(found, path)));
            return one_of(each);
        }
        self.closed(found, path)
    }

    fn closed(&self, found: &Found, path: &str) -> Value {
        let mut properties = Map::new();
        let mut required = Vec::new();
        for (table, key, declared) in found.keys.iter().filter(|(table, _, _)| table == path) {
            let value = self.value(found, &join(table, key), declared);
            properties.insert(key.to_string(), value);
            if declared.required {
                required.push(json!(key));
            }
        }
        let mut schema = json!({
            "type": "object",
            "properties": properties,
            "additionalProperties": false,
        });
        if !required.is_empty() {
            schema["required"] = Value::Array(required);
        }
        schema
    }

    /// The schema of one key's value.
    fn value(&self, found: &Found, path: &str, declared: &Declared) -> Value {
        let mut schema = match &declared.kind {
            Kind::Undeclared | Kind::Any => json!({}),
            Kind::Bool => json!({"type": "boolean"}),
            Kind::Integer { min, max } => {
                json!({"type": "integer", "minimum": min, "maximum": max})
            }
            Kind::Number => json!({"type": "number"}),
            Kind::Text { form } => json!({"type": "string", "description": form}),
            Kind::Size => json!({
                "type": ["string", "integer"],
                "description": "a size string like \"512MiB\" or \"1GiB\", or a number of bytes",
            }),
            Kind::OneOf(choices) => json!({"type": "string", "enum": choices}),
            Kind::Texts { form } => json!({
                "type": "array",
                "items": {"type": "string", "description": form},
            }),
            Kind::Map => json!({"type": "object", "additionalProperties": {"type": "string"}}),
            Kind::Table => self.object(found, path),
            Kind::Tables => json!({"type": "array", "items": self.elements(found, path)}),
            Kind::List(kind) => {
                let declared = Declared {
                    kind: (**kind).clone(),
                    required: false,
                    default: None,
                };
                json!({"type": "array", "items": self.value(found, path, &declared)})
            }
            Kind::AnyOf(kinds) => {
                let each: Vec<Value> = kinds
                    .iter()
                    .map(|kind| {
                        let declared = Declared {
                            kind: kind.clone(),
                            required: false,
                            default: None,
                        };
                        self.value(found, path, &declared)
                    })
                    .collect();
                json!({"anyOf": each})
            }
        };
        if let (Some(default), Value::Object(fields)) = (&declared.default, &mut schema) {
            fields.insert("default".into(), default.clone());
        }
        schema
    }

    /// The schema of the tables of the array at `path`: one object, or a `oneOf` of the
    /// variants by `type`.
    fn elements(&self, found: &Found, path: &str) -> Value {
        let count = (0..)
            .take_while(|index| found.probe.at(&format!("{path}[{index}]")).is_some())
            .count();
        let mut each = Vec::new();
        for index in 0..count {
            let element = format!("{path}[{index}]");
            let schema = self.closed(found, &element);
            let kind = found
                .probe
                .at(&element)
                .and_then(|node| node.strings.get("type"));
            match kind {
                Some(kind) => each.push((kind.clone(), schema)),
                None => return schema,
            }
        }
        if each.is_empty() {
            return json!({"type": "object"});
        }
        one_of(each.into_iter())
    }
}

/// The variants of a table by `type`, those with the same keys sharing one; one variant is
/// the object itself.
fn one_of(each: impl Iterator<Item = (String, Value)>) -> Value {
    let mut variants: Vec<(Vec<String>, Value)> = Vec::new();
    for (kind, schema) in each {
        match variants.iter_mut().find(|(_, other)| *other == schema) {
            Some((types, _)) => types.push(kind),
            None => variants.push((vec![kind], schema)),
        }
    }
    if variants.len() == 1 {
        return variants.remove(0).1;
    }
    let one_of: Vec<Value> = variants
        .into_iter()
        .map(|(types, mut schema)| {
            schema["properties"]["type"] = json!({"enum": types});
            schema
        })
        .collect();
    json!({"type": "object", "oneOf": one_of})
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::base::schema::{bool_setting, closed_type, duration_setting, positive, unique_name};

    /// A small config: `[server]` with two keys, an optional `[extra]`, and `[[thing]]`s of
    /// two types with keys of their own.
    fn read(r: &mut Reader<'_>, document: &DeTable<'_>) {
        let root = r.root(document);
        let server = r.table(&root, "server");
        bool_setting(r, &server, "tls", false);
        duration_setting(
            r,
            &server,
            "timeout",
            std::time::Duration::from_secs(5),
            positive,
        );
        let extra = r.table(&root, "extra");
        if extra.is_present() {
            bool_setting(r, &extra, "on", true);
        }
        let mut names = std::collections::HashSet::new();
        for thing in r.table_array(&root, "thing") {
            unique_name(r, &thing, &mut names, "thing", "a");
            let kind = closed_type(r, &thing, &["cat", "dog"], "thing");
            match kind.value.as_str() {
                "cat" => drop(bool_setting(r, &thing, "purrs", true)),
                "dog" => drop(duration_setting(
                    r,
                    &thing,
                    "walk",
                    std::time::Duration::ZERO,
                    |_| None,
                )),
                _ => {}
            }
        }
    }

    #[test]
    fn the_schema_lists_every_key_optional_sections_and_variants() {
        let schema = derive("test", &read);
        assert_eq!(schema["additionalProperties"], json!(false));
        let server = &schema["properties"]["server"];
        assert_eq!(
            server["properties"]["tls"],
            json!({"type": "boolean", "default": false})
        );
        assert_eq!(server["properties"]["timeout"]["default"], json!("5s"));
        assert_eq!(
            schema["properties"]["extra"]["properties"]["on"]["type"],
            json!("boolean")
        );
        let variants = schema["properties"]["thing"]["items"]["oneOf"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        assert_eq!(variants.len(), 2, "{schema:#}");
        assert_eq!(variants[0]["properties"]["type"], json!({"enum": ["cat"]}));
        assert!(variants[0]["properties"]["purrs"].is_object());
        assert!(variants[0]["properties"]["walk"].is_null());
        assert_eq!(variants[1]["properties"]["type"], json!({"enum": ["dog"]}));
        assert!(variants[1]["properties"]["walk"].is_object());
        assert_eq!(variants[1]["required"], json!(["name", "type"]));
    }
}
