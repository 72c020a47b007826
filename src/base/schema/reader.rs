//! A reader over toml's span-preserving tree (`toml::de::DeTable`) that never stops at the first
//! problem: every getter records the key it was asked for, substitutes `${ENV}` in strings,
//! and pushes what is wrong (with the value's byte span) to a list instead of returning early.
//! When reading is done, `finish` walks the tree once more: any key nobody asked for is an
//! unknown key, reported with a did-you-mean from the keys that *were* asked for at that level.
//!
//! Why not serde with `deny_unknown_fields`: serde stops at the first error and loses the
//! position of most of them, while a config check should list every problem with its
//! file:line:column so that one edit fixes them all. The schema is small; reading it by hand
//! costs a few lines per key and buys exact messages.
//!
//! Key paths. A problem's key is written the way TOML addresses the value: `system.interval`,
//! `server.trusted_proxies[1]`, a key TOML would quote in quotes (`headers."X Y"`). An element of
//! an array of tables (`[[check]]`) is its array and its index, `check[2]`, until the section
//! reading it names it (`name_table`, called by the readers of `name`): from then on it is its
//! array and its name, quoted as a TOML basic string, `check "app"`, so a problem reads
//! `check "app".timeout` and, nested, `check "web".pattern "errors".regex`. The quotes are
//! always there, so a name can never be mistaken for a key (`check "timeout".timeout`). A table
//! keeps its index when it has no usable name (missing, invalid, or already taken by an earlier
//! table of the same array): a key path always points at one table. Reading itself, the known
//! keys and `asked_paths` stay by index; `finish` rewrites the keys of the problems, those of
//! the unknown-key pass included.
//!
//! This file knows TOML and positions, not Lookout: the keys, defaults and validation of the
//! Lookout config are in `config` (`config/parse.rs` and the sections it calls).

use std::ops::Range;

use toml::de::{DeTable, DeValue};

use super::env::expand;
use super::problem::{LineIndex, Problem};

/// Reads one config text; collects the problems.
pub struct Reader<'a> {
    origin: &'a str,
    lines: LineIndex<'a>,
    env: &'a dyn Fn(&str) -> Option<String>,
    problems: Vec<Problem>,
    /// Every (table path, key) a getter asked for, in schema order: the known keys. An absent
    /// key is still asked for (its default applies), so this is the whole schema.
    asked: Vec<(String, &'static str)>,
    /// The same pairs, for the unknown-key pass: with thousands of `[[check]]` tables a linear
    /// search per key would make reading quadratic.
    asked_by_table: std::collections::HashMap<String, std::collections::HashSet<&'static str>>,
    /// Paths of the tables that were read as tables: only those are searched for unknown keys
    /// (a key that held the wrong type already has its problem; its contents are not news).
    opened: std::collections::HashSet<String>,
    /// What each asked key holds, by (table path, key), for `lookout config schema`
    /// (`describe.rs`); a key asked with `item` alone is `Kind::Undeclared`.
    declared: std::collections::HashMap<(String, &'static str), Declared>,
    /// Paths of the tables read with free-form keys (`accept_all_keys`): `Kind::Map`.
    maps: std::collections::HashSet<String>,
    /// Named elements of arrays of tables, by index path (`check[0]`): the array's index path
    /// (`check`) and the name. `finish` keys problems by them.
    names: std::collections::HashMap<String, (String, String)>,
    /// The (array path, name) pairs given out, so a name names one table of its array.
    names_taken: std::collections::HashSet<(String, String)>,
}

/// What a key holds, as the typed getters know it: enough for a JSON Schema (`describe.rs`).
#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    /// Not declared by the getter that read it (a hand-written read): a gap in the schema.
    Undeclared,
    /// Any value, deliberately (a JSON value to compare with).
    Any,
    Bool,
    /// A whole number within the range.
    Integer {
        min: i64,
        max: i64,
    },
    /// An integer or a float.
    Number,
    /// A string; `form` says what it holds (e.g. a duration string like "10s").
    Text {
        form: String,
    },
    /// A size: a string with a unit or a number of bytes.
    Size,
    /// One of a closed set of strings (the `type` of a table of an array).
    OneOf(Vec<String>),
    /// An array of strings; `form` says what each holds.
    Texts {
        form: String,
    },
    /// A table with free-form keys and string values (HTTP headers, a login form).
    Map,
    /// A table with known keys.
    Table,
    /// An array of tables, written [[key]].
    Tables,
    /// Any of these (a threshold: a number or a string like "80%").
    AnyOf(Vec<Kind>),
    /// An array of values of one kind.
    List(Box<Kind>),
}

/// A key's kind, whether it must be written, and its default as JSON.
#[derive(Debug, Clone, PartialEq)]
pub struct Declared {
    pub kind: Kind,
    pub required: bool,
    pub default: Option<serde_json::Value>,
}

/// A table being read. `entries` is `None` when the table is absent (or had the wrong type), so
/// its keys are still asked for and take their defaults.
pub struct Table<'t, 'i> {
    /// The key path by index (`check[0]`); problems are keyed by name only in `finish`.
    pub path: String,
    entries: Option<&'t DeTable<'i>>,
    /// Where the table is written, for problems about keys missing from it.
    pub span: Option<Range<usize>>,
    /// For an element of an array of tables, the array's path (`check`): it can be named.
    element_of: Option<String>,
}

impl Table<'_, '_> {
    /// Whether the table is written in the file (as a table): an optional section is read
    /// only when it is.
    pub fn is_present(&self) -> bool {
        self.entries.is_some()
    }
}

/// A value present in the file.
pub struct Item<'t, 'i> {
    /// The full key path, e.g. `system.interfaces.exclude[2]`.
    pub path: String,
    pub span: Range<usize>,
    pub value: &'t DeValue<'i>,
}

/// A string value after `${ENV}` substitution.
pub struct Text {
    pub value: String,
    /// The text as written, when substitution changed it: messages show both, since the value
    /// alone may not appear anywhere in the file.
    written: Option<String>,
}

impl Text {
    /// The value quoted for a message: `"10s"`, or `"10 parsecs" (from "${INTERVAL}")`.
    pub fn quoted(&self) -> String {
        match &self.written {
            None => format!("{:?}", self.value),
            Some(written) => format!("{:?} (from {written:?})", self.value),
        }
    }
}

/// A setting's final value and where it came from, for checks that relate two settings.
#[derive(Debug, Clone)]
pub struct Field<T> {
    pub value: T,
    pub path: String,
    /// Where the value was written; `None` when the default applies.
    pub span: Option<Range<usize>>,
    /// False when the written value had a problem (already recorded) and `value` is the
    /// default: checks relating two settings skip it rather than pile on a second message.
    pub valid: bool,
}

impl<'a> Reader<'a> {
    pub fn new(origin: &'a str, text: &'a str, env: &'a dyn Fn(&str) -> Option<String>) -> Self {
        Reader {
            origin,
            lines: LineIndex::new(text),
            env,
            problems: Vec::new(),
            asked: Vec::new(),
            asked_by_table: std::collections::HashMap::new(),
            opened: std::collections::HashSet::new(),
            declared: std::collections::HashMap::new(),
            maps: std::collections::HashSet::new(),
            names: std::collections::HashMap::new(),
            names_taken: std::collections::HashSet::new(),
        }
    }

    /// Says what `key` of `table` holds (for the schema); the reading itself does not change.
    pub fn declare(&mut self, table: &Table<'_, '_>, key: &'static str, kind: Kind) {
        let entry = self
            .declared
            .entry((table.path.clone(), key))
            .or_insert(Declared {
                kind: Kind::Undeclared,
                required: false,
                default: None,
            });
        entry.kind = kind;
    }

    /// `key` of `table` must be written (its absence is a problem).
    pub fn require(&mut self, table: &Table<'_, '_>, key: &'static str) {
        self.declared_mut(table, key).required = true;
    }

    /// The default of `key` of `table`, as JSON (shown by editors).
    pub fn default_is(
        &mut self,
        table: &Table<'_, '_>,
        key: &'static str,
        default: impl Into<serde_json::Value>,
    ) {
        self.declared_mut(table, key).default = Some(default.into());
    }

    /// `item` then `declare`: the value of a key whose kind is known.
    pub fn item_of<'t, 'i>(
        &mut self,
        table: &Table<'t, 'i>,
        key: &'static str,
        kind: Kind,
    ) -> Option<Item<'t, 'i>> {
        self.declare(table, key, kind);
        self.item(table, key)
    }

    fn declared_mut(&mut self, table: &Table<'_, '_>, key: &'static str) -> &mut Declared {
        self.declared
            .entry((table.path.clone(), key))
            .or_insert(Declared {
                kind: Kind::Undeclared,
                required: false,
                default: None,
            })
    }

    /// Every key asked for, in order, with what it holds: the schema `describe.rs` builds on.
    pub fn schema(&self) -> Vec<(String, &'static str, Declared)> {
        let any = Declared {
            kind: Kind::Undeclared,
            required: false,
            default: None,
        };
        self.asked
            .iter()
            .map(|(table, key)| {
                let mut declared = self
                    .declared
                    .get(&(table.clone(), *key))
                    .unwrap_or(&any)
                    .clone();
                if self.maps.contains(&join(table, key)) {
                    declared.kind = Kind::Map;
                }
                (table.clone(), *key, declared)
            })
            .collect()
    }

    /// Records a problem at `span` (a byte range of the text).
    pub fn problem(&mut self, span: Option<&Range<usize>>, path: &str, message: impl Into<String>) {
        self.problems.push(Problem {
            origin: self.origin.to_string(),
            position: span.map(|span| self.lines.position(span.start)),
            key: path.to_string(),
            message: message.into(),
        });
    }

    /// Records "expected X, found Y" for `item`.
    pub fn wrong_type(&mut self, item: &Item<'_, '_>, expected: &str) {
        let message = format!("expected {expected}, found {}", a_type(item.value));
        self.problem(Some(&item.span), &item.path, message);
    }

    /// The document itself, as the root table.
    pub fn root<'t, 'i>(&mut self, document: &'t DeTable<'i>) -> Table<'t, 'i> {
        self.opened.insert(String::new());
        Table {
            path: String::new(),
            entries: Some(document),
            span: None,
            element_of: None,
        }
    }

    /// The sub-table `key` of `parent`; absent (all defaults) if missing or not a table.
    pub fn table<'t, 'i>(&mut self, parent: &Table<'t, 'i>, key: &'static str) -> Table<'t, 'i> {
        let path = join(&parent.path, key);
        let mut span = None;
        let entries = match self.item_of(parent, key, Kind::Table) {
            None => None,
            Some(Item {
                value: DeValue::Table(entries),
                span: item_span,
                ..
            }) => {
                self.opened.insert(path.clone());
                span = Some(item_span);
                Some(entries)
            }
            Some(item) => {
                self.wrong_type(&item, "a table");
                None
            }
        };
        Table {
            path,
            entries,
            span,
            element_of: None,
        }
    }

    /// The value of `key` in `table`, if present. Asking is what makes a key known.
    pub fn item<'t, 'i>(
        &mut self,
        table: &Table<'t, 'i>,
        key: &'static str,
    ) -> Option<Item<'t, 'i>> {
        let keys = self.asked_by_table.entry(table.path.clone()).or_default();
        if keys.insert(key) {
            self.asked.push((table.path.clone(), key));
        }
        let (_, value) = table.entries?.get_key_value(key)?;
        Some(Item {
            path: join(&table.path, key),
            span: value.span(),
            value: value.get_ref(),
        })
    }

    /// The elements of an array value, each with its indexed path; `None` (with a problem) if
    /// `item` is not an array.
    /// An array of tables (`[[check]]`): one `Table` per element, with paths `check[0]`, ...
    /// Elements that are not tables are reported and skipped.
    pub fn table_array<'t, 'i>(
        &mut self,
        parent: &Table<'t, 'i>,
        key: &'static str,
    ) -> Vec<Table<'t, 'i>> {
        let expected = "an array of tables, written [[key]]";
        let Some(item) = self.item_of(parent, key, Kind::Tables) else {
            return Vec::new();
        };
        let Some(elements) = self.elements(&item, expected) else {
            return Vec::new();
        };
        let mut tables = Vec::with_capacity(elements.len());
        for element in elements {
            match element.value {
                DeValue::Table(entries) => {
                    self.opened.insert(element.path.clone());
                    tables.push(Table {
                        path: element.path,
                        entries: Some(entries),
                        span: Some(element.span),
                        element_of: Some(item.path.clone()),
                    });
                }
                _ => self.wrong_type(&element, "a table"),
            }
        }
        tables
    }

    /// Names `table`, an element of an array of tables, by `name` (its validated `name` key):
    /// problems under it are keyed `check "app".timeout` instead of `check[0].timeout` (see the
    /// module's header). Does nothing for a table that is not an element of an array, or when
    /// an earlier element of the same array already has the name: that one keeps it and this
    /// one its index, so a key path never points at two tables.
    pub fn name_table(&mut self, table: &Table<'_, '_>, name: &str) {
        let Some(array) = &table.element_of else {
            return;
        };
        if self.names.contains_key(&table.path)
            || !self.names_taken.insert((array.clone(), name.to_string()))
        {
            return;
        }
        self.names
            .insert(table.path.clone(), (array.clone(), name.to_string()));
    }

    /// A table nested in `parent` under a key the caller chooses at run time (e.g. the name
    /// of a header map); like `table` but for keys that are not in the schema.
    pub fn entries<'t, 'i>(&self, table: &Table<'t, 'i>) -> Vec<(String, Item<'t, 'i>)> {
        let Some(entries) = table.entries else {
            return Vec::new();
        };
        entries
            .iter()
            .map(|(key, value)| {
                let name: &str = key.get_ref();
                (
                    name.to_string(),
                    Item {
                        path: join(&table.path, name),
                        span: value.span(),
                        value: value.get_ref(),
                    },
                )
            })
            .collect()
    }

    /// Marks every key of `table` as known: for free-form maps such as HTTP headers.
    pub fn accept_all_keys(&mut self, table: &Table<'_, '_>) {
        self.opened.remove(&table.path);
        self.maps.insert(table.path.clone());
    }

    pub fn elements<'t, 'i>(
        &mut self,
        item: &Item<'t, 'i>,
        expected: &str,
    ) -> Option<Vec<Item<'t, 'i>>> {
        let DeValue::Array(array) = item.value else {
            self.wrong_type(item, expected);
            return None;
        };
        let elements = array
            .iter()
            .enumerate()
            .map(|(index, element)| Item {
                path: format!("{}[{index}]", item.path),
                span: element.span(),
                value: element.get_ref(),
            })
            .collect();
        Some(elements)
    }

    /// A string value with `${ENV}` substituted; `None` (with problems recorded) if `item` is
    /// not a string or names unset variables. `expected` describes the wanted form for the
    /// type error, e.g. `a duration string like "10s"`.
    pub fn text(&mut self, item: &Item<'_, '_>, expected: &str) -> Option<Text> {
        let DeValue::String(written) = item.value else {
            self.wrong_type(item, expected);
            return None;
        };
        match expand(written, self.env) {
            Ok(value) if value == **written => Some(Text {
                value,
                written: None,
            }),
            Ok(value) => Some(Text {
                value,
                written: Some(written.to_string()),
            }),
            Err(errors) => {
                for error in errors {
                    self.problem(Some(&item.span), &item.path, error.message());
                }
                None
            }
        }
    }

    /// Ends reading: reports unknown keys, keys every problem by the names of its tables, then
    /// returns the problems in file order.
    pub fn finish(mut self, document: &DeTable<'_>) -> Vec<Problem> {
        self.report_unknown_keys(document, "");
        let mut problems = std::mem::take(&mut self.problems);
        for problem in &mut problems {
            problem.key = self.named_path(&problem.key);
        }
        // Stable: problems at one place keep the order they were found in.
        problems.sort_by_key(|problem| (problem.position.is_none(), problem.position));
        problems
    }

    /// Every key path the reader asked for, tables included (the schema); for the test that
    /// keeps the template complete.
    #[cfg(test)]
    pub fn asked_paths(&self) -> Vec<String> {
        self.asked
            .iter()
            .map(|(table, key)| join(table, key))
            .collect()
    }

    /// `path` with its innermost named table written by name (`check[0].timeout` ->
    /// `check "app".timeout`), and so on outwards; unchanged when no table on it is named.
    fn named_path(&self, path: &str) -> String {
        if self.names.is_empty() {
            return path.to_string();
        }
        // The longest prefix that is a named table and ends where a key or an index begins.
        let named = path
            .char_indices()
            .rev()
            .filter(|&(at, c)| {
                c == ']' && matches!(path.as_bytes().get(at + 1), None | Some(b'.' | b'['))
            })
            .find_map(|(at, _)| {
                let (table, rest) = path.split_at(at + 1);
                self.names.get(table).map(|named| (named, rest))
            });
        match named {
            None => path.to_string(),
            Some(((array, name), rest)) => {
                format!("{} {name:?}{rest}", self.named_path(array))
            }
        }
    }

    fn report_unknown_keys(&mut self, table: &DeTable<'_>, table_path: &str) {
        for (key, value) in table.iter() {
            let name: &str = key.get_ref();
            let path = join(table_path, name);
            let known = self
                .asked_by_table
                .get(table_path)
                .is_some_and(|keys| keys.contains(name));
            if !known {
                let message = self.unknown_key_message(table_path, name);
                self.problem(Some(&key.span()), &path, message);
            } else if let DeValue::Table(child) = value.get_ref() {
                if self.opened.contains(&path) {
                    self.report_unknown_keys(child, &path);
                }
            } else if let DeValue::Array(elements) = value.get_ref() {
                for (index, element) in elements.iter().enumerate() {
                    let element_path = format!("{path}[{index}]");
                    if let DeValue::Table(child) = element.get_ref()
                        && self.opened.contains(&element_path)
                    {
                        self.report_unknown_keys(child, &element_path);
                    }
                }
            }
        }
    }

    /// "unknown key" plus the most useful hint: a close spelling at this level, the same key at
    /// another level, or the list of keys allowed here.
    fn unknown_key_message(&self, table_path: &str, name: &str) -> String {
        // Below this similarity a "did you mean" guess is more confusing than helpful.
        const MIN_SIMILARITY: f64 = 0.8;
        let siblings: Vec<&str> = self
            .asked
            .iter()
            .filter(|(parent, _)| parent == table_path)
            .map(|(_, key)| *key)
            .collect();
        let lowercase = name.to_lowercase();
        let closest = siblings
            .iter()
            .map(|key| (strsim::jaro_winkler(&lowercase, key), *key))
            .filter(|(similarity, _)| *similarity >= MIN_SIMILARITY)
            .max_by(|a, b| a.0.total_cmp(&b.0));
        if let Some((_, key)) = closest {
            return format!("unknown key; did you mean {key:?}?");
        }
        let elsewhere: Vec<String> = self
            .asked
            .iter()
            .filter(|(parent, key)| parent != table_path && key.eq_ignore_ascii_case(name))
            .map(|(parent, key)| format!("{:?}", self.named_path(&join(parent, key))))
            .collect();
        if let Some((last, others)) = elsewhere.split_last() {
            let options = if others.is_empty() {
                last.clone()
            } else {
                format!("{} or {last}", others.join(", "))
            };
            return format!("unknown key here; did you mean {options}?");
        }
        match siblings.as_slice() {
            [] => "unknown key".to_string(),
            keys => {
                let quoted: Vec<String> = keys.iter().map(|key| format!("{key:?}")).collect();
                format!("unknown key; expected one of {}", quoted.join(", "))
            }
        }
    }
}

/// `parent.key`, quoting the key when TOML would need quotes for it.
pub fn join(parent: &str, key: &str) -> String {
    let bare = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    let key = if bare {
        key.to_string()
    } else {
        format!("{key:?}")
    };
    if parent.is_empty() {
        key
    } else {
        format!("{parent}.{key}")
    }
}

/// A TOML type with its article, for "expected a string, found an array".
pub fn a_type(value: &DeValue<'_>) -> &'static str {
    match value {
        DeValue::String(_) => "a string",
        DeValue::Integer(_) => "an integer",
        DeValue::Float(_) => "a float",
        DeValue::Boolean(_) => "a boolean",
        DeValue::Datetime(_) => "a datetime",
        DeValue::Array(_) => "an array",
        DeValue::Table(_) => "a table",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_paths_quote_what_toml_would_quote() {
        assert_eq!(join("", "server"), "server");
        assert_eq!(
            join("system.thresholds", "cpu_warning"),
            "system.thresholds.cpu_warning"
        );
        assert_eq!(join("system", "foo bar"), "system.\"foo bar\"");
        assert_eq!(join("", ""), "\"\"");
    }

    /// Reads `[[item]]` tables (each with `name`, `size` and `[[item.part]]` with `name`),
    /// naming those whose name is not "-", and reports `size` as wrong everywhere.
    fn named_problems(text: &str) -> Vec<String> {
        let document = DeTable::parse(text)
            .map(|t| t.into_inner())
            .unwrap_or_default();
        let env = |_: &str| None;
        let mut r = Reader::new("t.toml", text, &env);
        let root = r.root(&document);
        let settings = r.table(&root, "settings");
        r.name_table(&settings, "not an element");
        r.item(&settings, "size");
        for item in r.table_array(&root, "item") {
            name_and_size(&mut r, &item);
            for part in r.table_array(&item, "part") {
                name_and_size(&mut r, &part);
            }
        }
        fn name_and_size(r: &mut Reader<'_>, table: &Table<'_, '_>) {
            if let Some(name) = r.item(table, "name")
                && let DeValue::String(name) = name.value
                && name != "-"
            {
                r.name_table(table, name);
            }
            if let Some(size) = r.item(table, "size") {
                r.problem(Some(&size.span), &size.path, "wrong");
            }
        }
        r.finish(&document)
            .iter()
            .map(|p| format!("{}: {}", p.key, p.message))
            .collect()
    }

    #[test]
    fn tables_of_arrays_are_keyed_by_name_once_named() {
        let text = r#"
[settings]
size = 1
sise = 1

[[item]]
name = "a"
size = 1
[[item.part]]
name = "x.y"
size = 1
sise = 1
[[item.part]]
name = "-"
size = 1
[[item.part]]
name = "x.y"
size = 1

[[item]]
name = "say \"hi\" \\ 1"
size = 1

[[item]]
name = "a"
size = 1
[[item.part]]
name = "x.y"
size = 1

[[item]]
size = 1
sise = 1
"#;
        assert_eq!(
            named_problems(text),
            [
                "settings.sise: unknown key; did you mean \"size\"?",
                "item \"a\".size: wrong",
                // A name is quoted whatever it holds: a dot in it is not a key.
                "item \"a\".part \"x.y\".size: wrong",
                "item \"a\".part \"x.y\".sise: unknown key; did you mean \"size\"?",
                // No usable name, or a name an earlier table of the array has: the index.
                "item \"a\".part[1].size: wrong",
                "item \"a\".part[2].size: wrong",
                "item \"say \\\"hi\\\" \\\\ 1\".size: wrong",
                "item[2].size: wrong",
                "item[2].part \"x.y\".size: wrong",
                "item[3].size: wrong",
                "item[3].sise: unknown key; did you mean \"size\"?",
            ]
        );
    }
}
