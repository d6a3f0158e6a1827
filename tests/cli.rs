//! The command line itself: help, version, usage errors.

use crate::support::cmap;

#[test]
fn help_lists_every_command() {
    let run = cmap(&["--help"], None);
    run.code(0);
    for command in ["check", "map", "fmt", "test", "import", "export"] {
        assert!(
            run.stdout.contains(command),
            "{command} missing from --help:\n{}",
            run.stdout
        );
    }
}

#[test]
fn unknown_commands_and_flags_are_usage_errors() {
    cmap(&["frobnicate"], None).code(2);
    cmap(&["check", "--no-such-flag"], None).code(2);
}

#[test]
fn version() {
    let run = cmap(&["--version"], None);
    run.code(0);
    assert!(run.stdout.starts_with("cmap "), "{}", run.stdout);
}
