//! `--help` teaches: every command is listed with a line of purpose, exit codes and examples are
//! documented, and global flags stand apart from a command's own.

use crate::util::Env;

#[test]
fn help_lists_commands_exit_codes_and_examples() {
    let env = Env::new();
    let help = env.ok(&["--help"]).stdout;
    for needle in [
        "persistent, versioned home",
        "init",
        "ingest",
        "list",
        "show",
        "query",
        "export",
        "versions",
        "rollback",
        "gc",
        "doctor",
        "Exit codes: 0 success; 1 error; 2 usage error; 3",
        "COHORT_HOME",
        "Examples:",
    ] {
        assert!(help.contains(needle), "`cohort --help` lacks {needle:?}:\n{help}");
    }
    let ingest = env.ok(&["ingest", "--help"]).stdout;
    let global = ingest.find("Global options:").expect("global options have their own heading");
    assert!(ingest.find("--skip").unwrap() < global && ingest.find("--memory-limit").unwrap() > global, "{ingest}");
}

#[test]
fn usage_errors_exit_2_and_bad_sizes_are_explained() {
    let env = Env::new();
    env.fails(&["ingest"], 2);
    env.fails(&["no-such-command"], 2);
    let r = env.fails(&["--memory-limit", "lots", "list"], 1);
    assert!(r.stderr.contains("invalid --memory-limit") && r.stderr.contains("`lots` is not a size"), "{}", r.stderr);
    let r = env.fails(&["--memory-limit", "100MB", "list"], 1);
    assert!(r.stderr.contains("at least 200 MB"), "{}", r.stderr);
}
