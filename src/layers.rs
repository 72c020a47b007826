//! The layers of the crate, as data, and the test that holds the code to them (ARCHITECTURE.md,
//! "Architecture invariants"). `LAYERS` is the one place they are declared: module path
//! prefixes, bottom-up; the longest prefix that matches a path gives its layer (so
//! `store::policy` can sit with the pure cores while the rest of `store` is an I/O edge).
//!
//! The test reads every file under `src/`, collects its `crate::` paths (in `use` lines and
//! in code; comments and string literals are skipped) and fails on
//! - a path that points to a higher layer than its file's, naming the file, line and edge;
//! - a cycle between top-level modules (`src/<name>` or `src/<name>.rs`), naming it;
//! - a top-level module missing from `LAYERS`.
//!
//! Only `crate::` paths count: `super::` stays inside a module, and the binary (`main.rs`)
//! sees the library from outside.

#![cfg(test)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// The layers, bottom-up: a module may use its own layer and those below, never above.
const LAYER_NAMES: [&str; 6] = ["base", "kinds", "config", "cores", "edges", "top"];

/// Module path prefix -> layer (an index of `LAYER_NAMES`). Longest prefix wins.
const LAYERS: &[(&str, usize)] = &[
    // 0 base: what everything shares; depends on nothing of Lookout above it.
    ("base", 0),
    ("model", 0),
    ("clock", 0),
    ("fds", 0),
    ("bus", 0),
    // 1 kinds: one folder per kind of check and of notifier.
    ("checks", 1),
    ("notifiers", 1),
    // 2 config: composes the sections, including the kinds' config types.
    ("config", 2),
    // 3 pure cores.
    ("alert", 3),
    ("maintenance", 3),
    ("store::policy", 3),
    ("store::rollup", 3),
    ("store::codec", 3),
    // 4 I/O edges.
    ("probes", 4),
    ("store", 4),
    // notify: the outbox; it calls the notifier kinds through their trait.
    ("notify", 4),
    ("exporter", 4),
    ("web", 4),
    // receive: the hub's receivers (remote write, OTLP) -> bus; the web serves them.
    ("receive", 4),
    ("logs", 4),
    ("views", 4),
    // 5 top.
    ("daemon", 5),
    ("cli", 5),
    ("doctor", 5),
    ("layers", 5),
];

/// Edges allowed for now although they break the rule, each with its owner and why. Empty is
/// the goal; an entry is (from module path prefix, to module path prefix, why).
const KNOWN_EXCEPTIONS: &[(&str, &str, &str)] = &[];

/// A `crate::` path found in a file.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Reference {
    /// The file, relative to `src/`.
    file: String,
    line: usize,
    /// The file's module path, e.g. `["store", "policy"]`.
    from: Vec<String>,
    /// The path after `crate::`, e.g. `["store", "Store"]`.
    to: Vec<String>,
}

/// The module path of a file relative to `src/`: `store/mod.rs` -> `store`,
/// `store/policy.rs` -> `store::policy`, `clock.rs` -> `clock`.
fn module_path(file: &str) -> Vec<String> {
    let mut parts: Vec<String> = file.split('/').map(str::to_string).collect();
    if let Some(last) = parts.pop() {
        let stem = last.strip_suffix(".rs").unwrap_or(&last).to_string();
        if stem != "mod" {
            parts.push(stem);
        }
    }
    parts
}

/// The layer of a module path, by the longest prefix of `layers` that matches it.
fn layer_of(path: &[String], layers: &[(&str, usize)]) -> Option<(usize, usize)> {
    layers
        .iter()
        .filter_map(|(prefix, layer)| {
            let prefix: Vec<&str> = prefix.split("::").collect();
            let matches = prefix.len() <= path.len()
                && prefix.iter().zip(path).all(|(a, b)| *a == b.as_str());
            matches.then_some((prefix.len(), *layer))
        })
        .max_by_key(|(length, _)| *length)
}

/// `text` with comments and the contents of string and character literals blanked out
/// (newlines kept, so line numbers stay).
fn code_only(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let blank = |c: char| if c == '\n' { '\n' } else { ' ' };
    let ident = |c: char| c.is_alphanumeric() || c == '_';
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                out.push(' ');
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let mut depth = 0;
            while i < chars.len() {
                if chars[i] == '/' && chars.get(i + 1) == Some(&'*') {
                    depth += 1;
                    out.push_str("  ");
                    i += 2;
                } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    out.push_str("  ");
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    out.push(blank(chars[i]));
                    i += 1;
                }
            }
        } else if c == 'r'
            && (i == 0
                || !ident(chars[i - 1])
                || (chars[i - 1] == 'b' && (i < 2 || !ident(chars[i - 2]))))
            && matches!(next, Some('"' | '#'))
            && {
                let hashes = chars[i + 1..].iter().take_while(|c| **c == '#').count();
                chars.get(i + 1 + hashes) == Some(&'"')
            }
        {
            // A raw string: r"..." or r#"..."#.
            let hashes = chars[i + 1..].iter().take_while(|c| **c == '#').count();
            let open = 2 + hashes;
            out.extend(std::iter::repeat_n(' ', open));
            i += open;
            while i < chars.len() {
                if chars[i] == '"'
                    && chars[i + 1..].iter().take_while(|c| **c == '#').count() >= hashes
                {
                    out.extend(std::iter::repeat_n(' ', 1 + hashes));
                    i += 1 + hashes;
                    break;
                }
                out.push(blank(chars[i]));
                i += 1;
            }
        } else if c == '"' {
            out.push(' ');
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                if chars[i] == '\\' {
                    out.push(' ');
                    i += 1;
                }
                if i < chars.len() {
                    out.push(blank(chars[i]));
                    i += 1;
                }
            }
            out.push(' ');
            i += 1;
        } else if c == '\'' && next == Some('\\') {
            // An escaped character literal: '\n', '\'', '\u{1F600}'.
            out.push_str("  ");
            i += 2;
            while i < chars.len() && chars[i] != '\'' {
                out.push(' ');
                i += 1;
            }
            out.push(' ');
            i += 1;
        } else if c == '\'' && chars.get(i + 2) == Some(&'\'') {
            // A plain character literal ('"'); anything else after ' is a lifetime or label.
            out.push_str("   ");
            i += 3;
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

/// The paths of a use tree starting at `at` (just after `crate::`), each as its segments
/// after `prefix`: `a::b`, `a::{b, c::d}`, `{self, a}`.
fn use_tree(chars: &[char], at: &mut usize, prefix: &[String]) -> Vec<Vec<String>> {
    let skip_space = |at: &mut usize| {
        while *at < chars.len() && chars[*at].is_whitespace() {
            *at += 1;
        }
    };
    skip_space(at);
    if chars.get(*at) == Some(&'{') {
        *at += 1;
        let mut paths = Vec::new();
        loop {
            skip_space(at);
            match chars.get(*at) {
                None => return paths,
                Some('}') => {
                    *at += 1;
                    return paths;
                }
                Some(',') => *at += 1,
                Some(_) => {
                    let before = *at;
                    paths.extend(use_tree(chars, at, prefix));
                    if *at == before {
                        // Something this reader does not understand: skip it.
                        *at += 1;
                    }
                    // Skip a rename (`as name`) up to the next item.
                    while *at < chars.len() && !matches!(chars[*at], ',' | '}') {
                        *at += 1;
                    }
                }
            }
        }
    }
    let start = *at;
    while *at < chars.len() && (chars[*at].is_alphanumeric() || chars[*at] == '_') {
        *at += 1;
    }
    let name: String = chars[start..*at].iter().collect();
    if name.is_empty() {
        if chars.get(*at) == Some(&'*') {
            *at += 1;
        }
        return vec![prefix.to_vec()];
    }
    if name == "self" {
        return vec![prefix.to_vec()];
    }
    let mut path = prefix.to_vec();
    path.push(name);
    if chars.get(*at) == Some(&':') && chars.get(*at + 1) == Some(&':') {
        *at += 2;
        return use_tree(chars, at, &path);
    }
    vec![path]
}

/// Every `crate::` path of one file (`file` relative to `src/`).
fn references(file: &str, text: &str) -> Vec<Reference> {
    let code = code_only(text);
    let chars: Vec<char> = code.chars().collect();
    let from = module_path(file);
    let mut found = Vec::new();
    let mut line = 1;
    let mut i = 0;
    while i < chars.len() {
        if chars[i] == '\n' {
            line += 1;
        }
        let is_crate = chars[i..].starts_with(&['c', 'r', 'a', 't', 'e', ':', ':'])
            && (i == 0 || !(chars[i - 1].is_alphanumeric() || chars[i - 1] == '_'));
        if !is_crate {
            i += 1;
            continue;
        }
        // `pub(in crate::x)` names a module for visibility; it uses nothing.
        let before: String = chars[i.saturating_sub(3)..i].iter().collect();
        let mut at = i + "crate::".len();
        let paths = use_tree(&chars, &mut at, &[]);
        if before != "in " {
            for to in paths.into_iter().filter(|p| !p.is_empty()) {
                found.push(Reference {
                    file: file.to_string(),
                    line,
                    from: from.clone(),
                    to,
                });
            }
        }
        // Count the lines the use tree spanned.
        line += chars[i..at].iter().filter(|c| **c == '\n').count();
        i = at.max(i + 1);
    }
    found
}

/// What is wrong with `files` (path relative to `src/`, text) against `layers`: upward
/// references, cycles between top-level modules, top-level modules missing from `layers`.
/// `modules` are the top-level modules (`src/<name>` and `src/<name>.rs`).
fn check(
    files: &[(String, String)],
    modules: &BTreeSet<String>,
    layers: &[(&str, usize)],
    exceptions: &[(&str, &str, &str)],
) -> Vec<String> {
    let mut problems = Vec::new();
    for module in modules {
        if layer_of(std::slice::from_ref(module), layers).is_none() {
            problems.push(format!(
                "top-level module `{module}` is missing from the layer table (src/layers.rs)"
            ));
        }
    }
    let excepted = |reference: &Reference| {
        exceptions.iter().any(|(from, to, _)| {
            let starts = |path: &[String], prefix: &str| {
                let prefix: Vec<&str> = prefix.split("::").collect();
                prefix.len() <= path.len() && prefix.iter().zip(path).all(|(a, b)| *a == b.as_str())
            };
            starts(&reference.from, from) && starts(&reference.to, to)
        })
    };
    // Top-level edges, with the first place each is made.
    let mut edges: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for (file, text) in files {
        for reference in references(file, text) {
            let (Some(from_top), Some(to_top)) = (reference.from.first(), reference.to.first())
            else {
                continue;
            };
            if !modules.contains(to_top) || excepted(&reference) {
                continue;
            }
            let place = format!("src/{}:{}", reference.file, reference.line);
            if from_top != to_top {
                edges
                    .entry(from_top.clone())
                    .or_default()
                    .entry(to_top.clone())
                    .or_insert_with(|| place.clone());
            }
            let (Some((_, from_layer)), Some((_, to_layer))) = (
                layer_of(&reference.from, layers),
                layer_of(&reference.to, layers),
            ) else {
                continue;
            };
            if to_layer > from_layer {
                problems.push(format!(
                    "{place}: upward edge {} ({}) -> crate::{} ({})",
                    reference.from.join("::"),
                    LAYER_NAMES.get(from_layer).unwrap_or(&"?"),
                    reference.to.join("::"),
                    LAYER_NAMES.get(to_layer).unwrap_or(&"?"),
                ));
            }
        }
    }
    for cycle in cycles(&edges) {
        let steps: Vec<String> = cycle
            .windows(2)
            .map(|pair| {
                let place = edges
                    .get(&pair[0])
                    .and_then(|to| to.get(&pair[1]))
                    .map_or("", String::as_str);
                format!("{} -> {} ({place})", pair[0], pair[1])
            })
            .collect();
        problems.push(format!(
            "cycle between top-level modules: {}; {}",
            cycle.join(" -> "),
            steps.join(", ")
        ));
    }
    problems
}

/// One cycle (first module repeated at the end) per strongly connected component of more than
/// one module, found by Tarjan's algorithm.
fn cycles(edges: &BTreeMap<String, BTreeMap<String, String>>) -> Vec<Vec<String>> {
    struct Tarjan<'e> {
        edges: &'e BTreeMap<String, BTreeMap<String, String>>,
        index: BTreeMap<String, usize>,
        low: BTreeMap<String, usize>,
        stack: Vec<String>,
        on_stack: BTreeSet<String>,
        components: Vec<Vec<String>>,
    }
    impl Tarjan<'_> {
        fn visit(&mut self, node: &str) {
            let index = self.index.len();
            self.index.insert(node.to_string(), index);
            self.low.insert(node.to_string(), index);
            self.stack.push(node.to_string());
            self.on_stack.insert(node.to_string());
            let next: Vec<String> = self
                .edges
                .get(node)
                .map(|to| to.keys().cloned().collect())
                .unwrap_or_default();
            for to in next {
                if !self.index.contains_key(&to) {
                    self.visit(&to);
                    let low = self.low[node].min(self.low[&to]);
                    self.low.insert(node.to_string(), low);
                } else if self.on_stack.contains(&to) {
                    let low = self.low[node].min(self.index[&to]);
                    self.low.insert(node.to_string(), low);
                }
            }
            if self.low[node] == self.index[node] {
                let mut component = Vec::new();
                while let Some(top) = self.stack.pop() {
                    self.on_stack.remove(&top);
                    let done = top == node;
                    component.push(top);
                    if done {
                        break;
                    }
                }
                if component.len() > 1 {
                    component.sort();
                    self.components.push(component);
                }
            }
        }
    }
    let mut tarjan = Tarjan {
        edges,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        components: Vec::new(),
    };
    let nodes: BTreeSet<&String> = edges
        .iter()
        .flat_map(|(from, to)| std::iter::once(from).chain(to.keys()))
        .collect();
    for node in nodes {
        if !tarjan.index.contains_key(node.as_str()) {
            tarjan.visit(node);
        }
    }
    // In each component, a path from its first module back to it (breadth-first).
    tarjan
        .components
        .into_iter()
        .map(|component| {
            let members: BTreeSet<&String> = component.iter().collect();
            let start = &component[0];
            let mut came_from: BTreeMap<&String, &String> = BTreeMap::new();
            let mut queue = std::collections::VecDeque::from([start]);
            let mut last = None;
            'search: while let Some(node) = queue.pop_front() {
                for to in edges.get(node).into_iter().flat_map(|to| to.keys()) {
                    if to == start {
                        last = Some(node);
                        break 'search;
                    }
                    if members.contains(to) && !came_from.contains_key(to) {
                        came_from.insert(to, node);
                        queue.push_back(to);
                    }
                }
            }
            let mut path = vec![start.clone()];
            let mut node = last;
            while let Some(current) = node {
                if current == start {
                    break;
                }
                path.push(current.clone());
                node = came_from.get(current).copied();
            }
            path.push(start.clone());
            let end = path.len() - 1;
            path[1..end].reverse();
            path
        })
        .collect()
}

/// Every `.rs` file under `dir`, as (path relative to `root`, text).
fn read_tree(root: &Path, dir: &Path, out: &mut Vec<(String, String)>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        panic!("cannot read {}", dir.display());
    };
    let mut paths: Vec<_> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    for path in paths {
        if path.is_dir() {
            read_tree(root, &path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let relative = path
                .strip_prefix(root)
                .map(|p| p.to_string_lossy().replace('\\', "/"))
                .unwrap_or_default();
            let text = std::fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
            out.push((relative, text));
        }
    }
}

/// The top-level modules: `src/<name>/` and `src/<name>.rs` (not lib.rs, main.rs).
fn top_level_modules(files: &[(String, String)]) -> BTreeSet<String> {
    files
        .iter()
        .filter(|(file, _)| file != "lib.rs" && file != "main.rs")
        .filter_map(|(file, _)| module_path(file).into_iter().next())
        .collect()
}

#[test]
fn layers_point_down_and_top_level_modules_form_no_cycle() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    read_tree(&root, &root, &mut files);
    // The library's modules; the binary uses the library from outside.
    files.retain(|(file, _)| file != "main.rs");
    let modules = top_level_modules(&files);
    assert!(
        modules.contains("config") && modules.contains("base"),
        "{modules:?}"
    );
    let problems = check(&files, &modules, LAYERS, KNOWN_EXCEPTIONS);
    assert!(
        problems.is_empty(),
        "the layering of ARCHITECTURE.md (\"Architecture invariants\") is broken:\n{}",
        problems.join("\n")
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(file, text)| (file.to_string(), text.to_string()))
            .collect()
    }

    fn run(list: &[(&str, &str)]) -> Vec<String> {
        let files = files(list);
        check(&files, &top_level_modules(&files), LAYERS, &[])
    }

    #[test]
    fn an_upward_edge_is_named_with_its_file_and_line() {
        let problems = run(&[
            (
                "base/mod.rs",
                "//! Base.\n\nuse crate::model::Status;\nuse crate::daemon::Thing;\n",
            ),
            ("model.rs", ""),
            ("daemon/mod.rs", "fn main() {}\n"),
        ]);
        assert_eq!(
            problems,
            ["src/base/mod.rs:4: upward edge base (base) -> crate::daemon::Thing (top)"]
        );
    }

    #[test]
    fn a_cycle_between_top_level_modules_is_named() {
        let problems = run(&[
            ("store/mod.rs", "use crate::notify::Notice;\n"),
            ("notify/mod.rs", "fn f() {}\n"),
            ("notify/outbox.rs", "\nfn g(s: &crate::store::Store) {}\n"),
        ]);
        assert_eq!(
            problems,
            [
                "cycle between top-level modules: notify -> store -> notify; notify -> store \
                 (src/notify/outbox.rs:2), store -> notify (src/store/mod.rs:1)"
            ]
        );
    }

    #[test]
    fn the_longest_prefix_gives_the_layer() {
        // store::policy is a pure core: it may not use the rest of the store.
        let problems = run(&[
            (
                "store/policy.rs",
                "use crate::store::Store;\nuse crate::config::Config;\n",
            ),
            ("store/mod.rs", "use crate::store::policy::Tier;\n"),
            ("config/mod.rs", ""),
        ]);
        assert_eq!(
            problems,
            [
                "src/store/policy.rs:1: upward edge store::policy (cores) -> crate::store::Store (edges)"
            ]
        );
    }

    #[test]
    fn use_trees_comments_and_strings() {
        let text = "//! Uses crate::daemon in a comment.\n\
                    use crate::{\n    model::{self, Status},\n    clock::UnixMillis as Ms,\n};\n\
                    const S: &str = \"crate::daemon::x\";\n\
                    const R: &str = r#\"crate::cli\"#;\n\
                    const Q: char = '\"';\n\
                    pub(in crate::config) fn f<'a>(x: &'a crate::store::Store) {}\n\
                    /* crate::web */\n";
        let found: Vec<(usize, String)> = references("config/mod.rs", text)
            .into_iter()
            .map(|r| (r.line, r.to.join("::")))
            .collect();
        assert_eq!(
            found,
            [
                (2, "model".to_string()),
                (2, "model::Status".to_string()),
                (2, "clock::UnixMillis".to_string()),
                (9, "store::Store".to_string()),
            ]
        );
    }

    #[test]
    fn a_module_missing_from_the_table_is_named() {
        let problems = run(&[
            ("gadgets/mod.rs", "use crate::model::Status;\n"),
            ("model.rs", ""),
        ]);
        assert_eq!(
            problems,
            ["top-level module `gadgets` is missing from the layer table (src/layers.rs)"]
        );
    }

    #[test]
    fn known_exceptions_are_not_reported() {
        let files = files(&[
            ("base/mod.rs", "use crate::daemon::Thing;\n"),
            ("daemon/mod.rs", ""),
        ]);
        let modules = top_level_modules(&files);
        let exceptions = [("base", "daemon::Thing", "test")];
        assert!(check(&files, &modules, LAYERS, &exceptions).is_empty());
    }
}
