//! `lookout config schema`: the JSON Schema editors use, checked by an independent validator
//! (Python `jsonschema`, draft-07, over `tomllib`) against what `config init` writes and what
//! `config check` accepts or refuses, so the schema, the template and the reader cannot drift.

use std::path::Path;
use std::process::Command;

use crate::common::*;

/// Runs tests/support/validate_config.py on `files`: (all valid, its output).
fn validate(schema: &Path, files: &[&Path]) -> (bool, String) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/validate_config.py");
    let out = Command::new("python3")
        .arg(script)
        .arg(schema)
        .args(files)
        .output()
        .expect("python3 runs");
    let output = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(
        out.status.code().is_some_and(|code| code <= 1),
        "the validator failed to run: {output}"
    );
    (out.status.success(), output)
}

fn write_schema(dir: &Path) -> std::path::PathBuf {
    let out = run(&["config", "schema"], dir);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let schema: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("config schema prints JSON");
    assert_eq!(schema["$schema"], "http://json-schema.org/draft-07/schema#");
    let path = dir.join("lookout.schema.json");
    std::fs::write(&path, &out.stdout).unwrap();
    path
}

/// The preset names, from the message of an unknown one (so a new preset is covered too).
fn presets(dir: &Path) -> Vec<String> {
    let out = run(&["config", "init", "--preset", "no-such-preset"], dir);
    let message = text(&out.stderr);
    let list = message
        .split("available presets: ")
        .nth(1)
        .unwrap_or_else(|| panic!("no preset list in {message}"));
    let names: Vec<String> = list
        .split(", \"")
        .filter_map(|part| part.trim_start_matches('"').split('"').next())
        .map(str::to_string)
        .collect();
    assert!(names.len() >= 3, "{names:?} from {message}");
    names
}

#[test]
fn every_preset_template_validates_against_the_schema() {
    let _machine = crate::common::machine::shared();
    let dir = tempfile::tempdir().unwrap();
    let schema = write_schema(dir.path());
    let mut files = Vec::new();
    for preset in presets(dir.path()) {
        let path = dir.path().join(format!("{preset}.toml"));
        let out = run(
            &[
                "config",
                "init",
                "--preset",
                &preset,
                path.to_str().unwrap(),
            ],
            dir.path(),
        );
        assert!(out.status.success(), "{preset}: {}", text(&out.stderr));
        files.push(path);
    }
    let refs: Vec<&Path> = files.iter().map(|p| p.as_path()).collect();
    let (valid, output) = validate(&schema, &refs);
    assert!(valid, "{output}");
    assert_eq!(output.matches("ok ").count(), files.len(), "{output}");
}

/// What `config check` refuses for a wrong key or type, the schema refuses too (it is not
/// vacuous), and what it accepts at the extremes, the schema accepts.
#[test]
fn the_schema_refuses_what_config_check_refuses() {
    let _machine = crate::common::machine::shared();
    let dir = tempfile::tempdir().unwrap();
    let schema = write_schema(dir.path());
    let cases: &[(&str, &str, &str)] = &[
        (
            "typo",
            "[server]\nlistn = \"127.0.0.1:1\"\n",
            "server: Additional",
        ),
        ("type", "[storage]\nmax_size = true\n", "storage.max_size"),
        (
            "range",
            "[server]\nmax_connections = 3\n",
            "server.max_connections",
        ),
        (
            "check-type",
            "[[check]]\nname = \"a\"\ntype = \"htp\"\nurl = \"http://127.0.0.1/\"\n",
            "check.0",
        ),
        (
            "key-of-another-type",
            "[[check]]\nname = \"a\"\ntype = \"tcp\"\nhost = \"127.0.0.1\"\nport = 80\nexpect_status = [200]\n",
            "check.0",
        ),
        (
            "no-name",
            "[[notifier]]\ntype = \"webhook\"\nurl = \"http://127.0.0.1/\"\n",
            "notifier.0",
        ),
        (
            "section",
            "[alerts.flaping]\nenabled = false\n",
            "alerts: Additional",
        ),
    ];
    for (name, config, blamed) in cases {
        let path = dir.path().join(format!("{name}.toml"));
        std::fs::write(&path, config).unwrap();
        let check = run(&["config", "check", path.to_str().unwrap()], dir.path());
        assert_eq!(check.status.code(), Some(2), "config check accepts {name}");
        let (valid, output) = validate(&schema, &[&path]);
        assert!(!valid, "the schema accepts {name}: {config}");
        assert!(output.contains(&format!(": {blamed}")), "{name}: {output}");
    }
    let extremes = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds/config/extremes.toml");
    let check = run(&["config", "check", extremes.to_str().unwrap()], dir.path());
    if check.status.success() {
        let (valid, output) = validate(&schema, &[&extremes]);
        assert!(
            valid,
            "config check accepts extremes.toml, the schema does not: {output}"
        );
    }
}

/// The editors' own engine: taplo (what "Even Better TOML" runs) reads the `#:schema` line of
/// a config, accepts a preset's template and points at a typo's line. `.ci/run` installs it
/// (LOOKOUT_TAPLO); elsewhere it must be on the PATH.
#[test]
fn taplo_checks_a_config_against_the_schema_named_in_its_first_line() {
    let _machine = crate::common::machine::shared();
    let dir = tempfile::tempdir().unwrap();
    write_schema(dir.path());
    let taplo = std::env::var("LOOKOUT_TAPLO").unwrap_or_else(|_| "taplo".to_string());
    let check = |name: &str, body: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, format!("#:schema ./lookout.schema.json\n{body}")).unwrap();
        let out = Command::new(&taplo)
            .args(["check", "--no-auto-config"])
            .arg(&path)
            .current_dir(dir.path())
            .output()
            .unwrap_or_else(|error| panic!("taplo ({taplo}) does not run: {error}"));
        (
            out.status.success(),
            format!("{}{}", text(&out.stdout), text(&out.stderr)),
        )
    };
    let out = run(&["config", "init", "--preset", "vedfolnir"], dir.path());
    assert!(out.status.success());
    let (valid, output) = check("vedfolnir.toml", &text(&out.stdout));
    assert!(valid, "{output}");
    let (valid, output) = check(
        "typo.toml",
        "[server]\nlisten = \"127.0.0.1:9898\"\nlistn = \"x\"\n",
    );
    assert!(!valid, "{output}");
    assert!(
        output.contains("typo.toml:4:1") && output.contains("listn"),
        "{output}"
    );
}
