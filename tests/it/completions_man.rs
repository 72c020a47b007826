//! `lookout completions SHELL` and `lookout man [DIR]`: the scripts load in their shell and
//! complete real commands; the man pages render cleanly with groff and name every command.
//! (bash and groff/man-db are part of the machine; .ci/run installs them when missing.)

use std::collections::BTreeSet;
use std::process::Command;

use crate::common::*;

fn generate(args: &[&str]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let output = run(args, dir.path());
    assert!(
        output.status.success(),
        "{args:?}: {}",
        text(&output.stderr)
    );
    text(&output.stdout)
}

/// What bash's completion function offers for the words typed (the last may be partial).
fn bash_complete(script: &str, words: &[&str]) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lookout.bash");
    std::fs::write(&path, script).unwrap();
    let quoted: Vec<String> = words.iter().map(|w| format!("'{w}'")).collect();
    let program = format!(
        "source '{}' && COMP_WORDS=({}) && COMP_CWORD={} && COMP_LINE='{}' && COMP_POINT=${{#COMP_LINE}} && \
         _lookout lookout '{}' '{}' && printf '%s\\n' \"${{COMPREPLY[@]}}\"",
        path.display(),
        quoted.join(" "),
        words.len() - 1,
        words.join(" "),
        words[words.len() - 1],
        words[words.len() - 2],
    );
    let output = Command::new("bash")
        .args(["--norc", "--noprofile", "-c", &program])
        .output()
        .expect("bash");
    assert!(output.status.success(), "bash: {}", text(&output.stderr));
    text(&output.stdout)
        .lines()
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
        .collect()
}

#[test]
fn the_bash_completion_is_valid_and_completes_commands_and_options() {
    let _machine = crate::common::machine::shared();
    let script = generate(&["completions", "bash"]);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lookout.bash");
    std::fs::write(&path, &script).unwrap();
    let syntax = Command::new("bash").arg("-n").arg(&path).output().unwrap();
    assert!(syntax.status.success(), "{}", text(&syntax.stderr));

    assert_eq!(bash_complete(&script, &["lookout", "mai"]), ["maintenance"]);
    assert_eq!(
        bash_complete(&script, &["lookout", "maintenance", "st"]),
        ["start", "stop", "status"]
    );
    let options = bash_complete(&script, &["lookout", "alerts", "list", "--"]);
    assert!(options.contains(&"--json".to_string()), "{options:?}");
    assert!(options.contains(&"--quiet".to_string()), "{options:?}");
    // After `completions`: the shells (and the global options, which bash offers anywhere).
    let shells: Vec<String> = bash_complete(&script, &["lookout", "completions", ""])
        .into_iter()
        .filter(|w| !w.starts_with('-'))
        .collect();
    assert_eq!(shells, ["bash", "elvish", "fish", "powershell", "zsh"]);
}

#[test]
fn every_shell_gets_a_script_naming_the_commands() {
    let _machine = crate::common::machine::shared();
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let script = generate(&["completions", shell]);
        for command in ["maintenance", "silence", "export", "completions"] {
            assert!(script.contains(command), "{shell}: no {command}");
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let output = run(&["completions", "tcsh"], dir.path());
    assert_eq!(output.status.code(), Some(2));
    assert!(
        text(&output.stderr).contains("possible values"),
        "{}",
        text(&output.stderr)
    );
}

/// The subcommands as `lookout --help` lists them.
fn subcommands() -> Vec<String> {
    let help = generate(&["--help"]);
    let section = &help[help.find("Commands:").unwrap()..help.find("Options:").unwrap()];
    section
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().next())
        .filter(|name| *name != "help")
        .map(str::to_string)
        .collect()
}

/// groff's rendering of `page` as text; fails on any groff warning (-ww).
fn render(page: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("page.1");
    std::fs::write(&path, page).unwrap();
    let output = Command::new("groff")
        .args(["-man", "-Tutf8", "-ww", "-P-c"])
        .arg(&path)
        .output()
        .expect("groff (groff-base) is installed");
    assert!(output.status.success(), "groff: {}", text(&output.stderr));
    assert_eq!(text(&output.stderr), "", "groff warnings");
    // Bold and underline come out as overstrikes with -P-c off; strip them.
    let mut plain = String::new();
    for c in text(&output.stdout).chars() {
        if c == '\u{8}' {
            plain.pop();
        } else {
            plain.push(c);
        }
    }
    plain
}

#[test]
fn the_man_page_renders_with_every_section_and_every_command() {
    let _machine = crate::common::machine::shared();
    let page = generate(&["man"]);
    let shown = render(&page);
    for section in [
        "NAME",
        "SYNOPSIS",
        "DESCRIPTION",
        "OPTIONS",
        "SUBCOMMANDS",
        "EXIT STATUS",
        "ENVIRONMENT",
        "FILES",
    ] {
        assert!(
            shown.lines().any(|l| l.trim_end() == section),
            "no {section} section in\n{shown}"
        );
    }
    let commands = subcommands();
    assert!(commands.len() >= 13, "{commands:?}");
    for command in &commands {
        assert!(
            shown.contains(&format!("lookout-{command}(1)")),
            "lookout-{command}(1) missing"
        );
    }
    assert!(shown.contains("--quiet"));

    // man(1) reads it too.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lookout.1");
    std::fs::write(&path, &page).unwrap();
    let output = Command::new("man")
        .arg("-l")
        .arg(&path)
        .env("MANPAGER", "cat")
        .env("MANWIDTH", "100")
        .output()
        .expect("man (man-db) is installed");
    assert!(output.status.success(), "man: {}", text(&output.stderr));
    // man justifies lines by widening spaces: compare with single spaces.
    let shown = text(&output.stdout)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    assert!(shown.contains("Nagios plugin codes"), "{shown}");
}

#[test]
fn man_dir_writes_one_page_per_command() {
    let _machine = crate::common::machine::shared();
    let dir = tempfile::tempdir().unwrap();
    let output = run(&["man", "pages"], dir.path());
    assert!(output.status.success(), "{}", text(&output.stderr));
    let written: BTreeSet<String> = std::fs::read_dir(dir.path().join("pages"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    let mut expected = vec!["lookout.1".to_string()];
    for command in subcommands() {
        expected.push(format!("lookout-{command}.1"));
    }
    for leaf in [
        "lookout-alerts-list.1",
        "lookout-maintenance-start.1",
        "lookout-config-check.1",
        "lookout-export-grafana.1",
    ] {
        expected.push(leaf.to_string());
    }
    for name in &expected {
        assert!(written.contains(name), "{name} not written: {written:?}");
    }
    assert!(
        text(&output.stdout).contains(&format!("wrote {} man pages", written.len())),
        "{}",
        text(&output.stdout)
    );
    // Every page renders without a warning, and the leaf pages describe their options.
    for name in &written {
        let shown = render(&std::fs::read_to_string(dir.path().join("pages").join(name)).unwrap());
        assert!(shown.contains("SYNOPSIS"), "{name}");
    }
    let list =
        render(&std::fs::read_to_string(dir.path().join("pages/lookout-alerts-list.1")).unwrap());
    assert!(list.contains("--json"), "{list}");
}
