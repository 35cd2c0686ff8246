//! What a careful user meets around the edges: a closed pipe (`cohort query ... | head`), the
//! store's scratch space after a command, and a damaged file.

use std::io::Read;
use std::os::unix::process::ExitStatusExt;
use std::process::Stdio;

use crate::util::{Env, write_visits_csv};

/// A store with an ingested dataset, a small simulation and an account, so that every command
/// that prints has something to print.
fn store_with_everything() -> Env {
    let env = Env::new();
    let visits = env.path("visits.csv");
    write_visits_csv(&visits, 20_000, 1);
    env.ok(&["ingest", visits.to_str().unwrap(), "--name", "trial"]);
    env.ok(&["simulate", "--patients", "200", "--years", "1", "--name", "run"]);
    let add = env.exec_with_stdin(
        &["user", "add", "admin", "--role", "admin", "--password-stdin"],
        &format!("{}\n", "plum violin harbour"),
    );
    assert_eq!(add.code, 0, "{}", add.stderr);
    env
}

/// The commands that print, with their arguments. `query` and `export` print megabytes, more than
/// a pipe holds; the others print a little, which a pipe closed before they start still refuses.
fn printing_commands() -> Vec<Vec<&'static str>> {
    vec![
        vec!["--help"],
        vec!["ingest", "--help"],
        vec!["--version"],
        vec!["list"],
        vec!["--json", "list"],
        vec!["show", "trial"],
        vec!["--json", "show", "trial"],
        vec!["versions", "trial"],
        vec!["dictionary", "trial"],
        vec!["dictionary", "trial", "--csv"],
        vec!["relate", "trial"],
        vec!["query", "SELECT * FROM trial.visits"],
        vec!["query", "SELECT * FROM trial.visits", "--format", "csv"],
        vec!["query", "SELECT * FROM trial.visits", "--format", "json"],
        vec!["export", "trial", "--format", "csv"],
        vec!["protocol", "list"],
        vec!["protocol", "show", "aflibercept-tae"],
        vec!["doctor"],
        vec!["gc", "--dry-run"],
        vec!["user", "list"],
        vec!["user", "token", "list"],
        vec!["audit", "show"],
        vec!["audit", "verify"],
        vec!["--json", "migrate", "--dry-run", "/nonexistent-legacy-folder-for-the-test"],
    ]
}

#[test]
fn every_command_that_prints_ends_quietly_on_a_closed_pipe() {
    let env = store_with_everything();
    for args in printing_commands() {
        // The reading end is closed before the command writes anything: its first write fails.
        let mut child = env.cmd().args(&args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
        drop(child.stdout.take());
        let mut stderr = String::new();
        child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
        let status = child.wait().unwrap();
        assert!(
            !stderr.contains("panicked") && !stderr.contains("RUST_BACKTRACE"),
            "cohort {args:?} panicked:\n{stderr}"
        );
        let quiet = status.signal() == Some(libc_sigpipe()) || status.code().is_some_and(|c| c == 0 || c == 1);
        assert!(quiet, "cohort {args:?} ended with {status:?}:\n{stderr}");
    }
}

#[test]
fn a_pipe_into_head_ends_the_command_with_the_shell_s_status_for_it() {
    let env = store_with_everything();
    let cohort = crate::util::BIN;
    let store = env.store();
    for command in ["query 'SELECT * FROM trial.visits'", "export trial --format csv", "show trial", "--help"] {
        let script = format!(
            "'{cohort}' --store '{}' {command} | head -c 1 >/dev/null; echo \"status ${{PIPESTATUS[0]}}\" >&2",
            store.display()
        );
        let out = std::process::Command::new("bash").args(["-c", &script]).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("panicked"), "{command}: {stderr}");
        let status = stderr.lines().find_map(|l| l.strip_prefix("status ")).unwrap_or("?").to_string();
        // 141 is 128 + SIGPIPE: how a shell reports a writer its reader has gone away from; a
        // command that finished writing first (short output) ends with 0.
        assert!(status == "141" || status == "0", "{command}: status {status}, stderr:\n{stderr}");
    }
}

/// SIGPIPE's number on Linux.
fn libc_sigpipe() -> i32 {
    13
}

#[test]
fn commands_leave_no_empty_scratch_folder_in_the_store() {
    let env = Env::new();
    let csv = env.write("eyes.csv", "eye_id,iop\n001,14.5\n002,21\n");
    let legacy = env.write("records.json", "[{\"id\": 1, \"kind\": \"x\"}]");
    env.ok(&["ingest", csv.to_str().unwrap(), "--name", "eyes"]);
    env.ok(&["query", "SELECT count(*) FROM eyes.eyes"]);
    env.ok(&["export", "eyes", "--format", "csv"]);
    env.ok(&["migrate", "--dry-run", legacy.to_str().unwrap()]);
    env.ok(&["migrate", "--no-backup", legacy.to_str().unwrap()]);
    env.ok(&["dictionary", "eyes"]);
    let tmp = env.store().join("tmp");
    let left: Vec<String> = std::fs::read_dir(&tmp)
        .map(|d| d.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "left in the store's tmp/: {left:?}");
}

#[test]
fn a_damaged_parquet_file_is_named_and_said_to_be_damaged() {
    let env = Env::new();
    let csv = env.write("eyes.csv", "eye_id,iop\n001,14.5\n002,21\n");
    env.ok(&["ingest", csv.to_str().unwrap(), "--name", "eyes"]);
    let good = env.path("good.parquet");
    env.ok(&["query", "SELECT range AS i, 'row ' || range AS s FROM range(50000)", "--output", good.to_str().unwrap()]);
    let bytes = std::fs::read(&good).unwrap();
    let before = env.tree();
    // Cut in half (a copy that broke off), its footer's length garbled, and its metadata garbled.
    let truncated = env.write("truncated.parquet", &bytes[..bytes.len() / 2]);
    let mut footer = bytes.clone();
    let n = footer.len();
    footer[n - 8..n - 4].copy_from_slice(&u32::MAX.to_le_bytes());
    let footer = env.write("footer.parquet", &footer);
    let mut metadata = bytes.clone();
    let length = u32::from_le_bytes(metadata[n - 8..n - 4].try_into().unwrap()) as usize;
    for b in &mut metadata[n - 8 - length..n - 8 - length / 2] {
        *b = 0xFF;
    }
    let metadata = env.write("metadata.parquet", &metadata);
    for file in [truncated, footer, metadata] {
        let r = env.fails(&["ingest", file.to_str().unwrap(), "--name", "broken"], 1);
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        assert!(r.stderr.contains(&name), "{name}: {}", r.stderr);
        assert!(r.stderr.contains("not a readable Parquet file: it is damaged or incomplete"), "{name}: {}", r.stderr);
        assert!(r.stderr.contains("hint:"), "{name}: {}", r.stderr);
        assert_eq!(env.tree(), before, "a failed ingest of {name} changed the store");
    }
}
