//! Bad input: a clear error naming the file (and line), a non-zero exit, and the store exactly as
//! it was.

use crate::util::Env;

/// A store with one dataset in it, and its tree before the bad command.
fn store_with_data() -> (Env, std::collections::BTreeMap<String, String>) {
    let env = Env::new();
    let csv = env.write("good.csv", "patient_id,age\n001,70\n");
    env.ok(&["ingest", csv.to_str().unwrap(), "--name", "good"]);
    let before = env.tree();
    (env, before)
}

fn assert_rejected(env: &Env, before: &std::collections::BTreeMap<String, String>, args: &[&str], needles: &[&str]) {
    let r = env.fails(args, 1);
    for n in needles {
        assert!(r.stderr.contains(n), "stderr should mention {n:?}:\n{}", r.stderr);
    }
    assert!(r.stderr.starts_with("error: "), "{}", r.stderr);
    assert_eq!(&env.tree(), before, "the store changed after a failed `cohort {args:?}`");
}

#[test]
fn unknown_format() {
    let (env, before) = store_with_data();
    let f = env.write("notes.xyz", "not a table");
    assert_rejected(
        &env,
        &before,
        &["ingest", f.to_str().unwrap(), "--name", "x"],
        &["notes.xyz", "unknown format `.xyz`", "hint:"],
    );
    // A document alone is no dataset: documents are attached to the tables they describe.
    let doc = env.write("notes.docx", "not a table");
    assert_rejected(&env, &before, &["ingest", doc.to_str().unwrap(), "--name", "x"], &["no table to load"]);
}

#[test]
fn missing_file_and_directory() {
    let (env, before) = store_with_data();
    let missing = env.path("nope.csv");
    assert_rejected(
        &env,
        &before,
        &["ingest", missing.to_str().unwrap(), "--name", "x"],
        &["nope.csv", "does not exist"],
    );
    let dir = env.path("folder.csv");
    std::fs::create_dir(&dir).unwrap();
    assert_rejected(&env, &before, &["ingest", dir.to_str().unwrap(), "--name", "x"], &["folder.csv", "is not a file"]);
}

#[test]
fn empty_file() {
    let (env, before) = store_with_data();
    let f = env.write("empty.csv", "");
    assert_rejected(&env, &before, &["ingest", f.to_str().unwrap(), "--name", "x"], &["empty.csv", "is empty"]);
}

#[test]
fn ragged_rows_name_the_line() {
    let (env, before) = store_with_data();
    let f = env.write("ragged.csv", "a,b,c\n1,2,3\n4,5,6\n7,8,9,10\n11,12,13\n");
    assert_rejected(
        &env,
        &before,
        &["ingest", f.to_str().unwrap(), "--name", "x"],
        &["ragged.csv", "line 4", "fields"],
    );
}

/// Text that is not UTF-8 where it was declared (or detected) to be is refused, naming the line.
#[test]
fn invalid_utf8_names_the_line() {
    let (env, before) = store_with_data();
    let f = env.write("latin1.csv", b"name,city\nanna,Berlin\nzoe,caf\xe9\n".as_slice());
    assert_rejected(
        &env,
        &before,
        &["ingest", f.to_str().unwrap(), "--name", "x", "--encoding", "utf-8"],
        &["latin1.csv", "UTF-8", "line 3", "--encoding"],
    );
}

/// Latin-1 and UTF-16 (with its byte-order mark) are detected and read as what they are.
#[test]
fn latin1_and_utf16_text_are_detected() {
    let env = Env::new();
    let latin1 = env.write("latin1.csv", b"name,city\nanna,Berlin\nzoe,caf\xe9\n".as_slice());
    let text = "name,city\nJos\u{e9},Z\u{fc}rich\n";
    let utf16: Vec<u8> = [0xFF, 0xFE].into_iter().chain(text.encode_utf16().flat_map(u16::to_le_bytes)).collect();
    let utf16 = env.write("utf16.csv", utf16);
    let report = env.json(&["ingest", latin1.to_str().unwrap(), utf16.to_str().unwrap(), "--name", "enc"]);
    let encodings: Vec<&str> =
        report["tables"].as_array().unwrap().iter().map(|t| t["dialect"]["encoding"].as_str().unwrap()).collect();
    assert_eq!(encodings, ["latin-1", "utf-16"]);
    assert_eq!(env.scalar("SELECT city FROM enc.latin1 WHERE name = 'zoe'"), "caf\u{e9}");
    assert_eq!(env.scalar("SELECT city FROM enc.utf16"), "Z\u{fc}rich");
}

#[test]
fn bad_names_are_refused() {
    let (env, before) = store_with_data();
    let f = env.write("ok.csv", "a\n1\n");
    for name in ["a/b", "..", "../escape", "x@2", "main"] {
        assert_rejected(
            &env,
            &before,
            &["ingest", f.to_str().unwrap(), "--name", name],
            &["invalid dataset name", name],
        );
    }
}

#[test]
fn a_failure_in_a_second_file_commits_neither() {
    let (env, before) = store_with_data();
    let a = env.write("fine.csv", "a\n1\n");
    let b = env.write("broken.csv", "a,b\n1,2\n3,4,5\n");
    let r = env.fails(&["ingest", a.to_str().unwrap(), b.to_str().unwrap(), "--name", "pair"], 1);
    assert!(r.stderr.contains("broken.csv") && r.stderr.contains("line 3"), "{}", r.stderr);
    assert!(r.stderr.contains("--skip 2"), "a skipped preamble is offered, never taken silently:\n{}", r.stderr);
    assert_eq!(env.tree(), before);
}

#[test]
fn a_file_that_changes_while_being_read() {
    let (env, before) = store_with_data();
    let f = env.write("growing.csv", "a,b\n1,2\n3,4\n");
    let go = env.path("go");
    let child = env
        .cmd()
        .args(["ingest", f.to_str().unwrap(), "--name", "growing"])
        .env("COHORT_FAILPOINT", format!("ingest.after_hash:wait={}", go.display()))
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let reached = go.with_extension("reached");
    crate::util::wait_until("reaching the failpoint", || reached.exists());
    // Another program appends while cohort reads.
    std::fs::write(&f, "a,b\n1,2\n3,4\n5,6\n").unwrap();
    std::fs::write(&go, "").unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("growing.csv") && stderr.contains("changed while it was being read"), "{stderr}");
    assert_eq!(env.tree(), before);
}

#[test]
fn unknown_dataset_suggests_similar_names() {
    let (env, _) = store_with_data();
    let r = env.fails(&["show", "goood"], 1);
    assert!(r.stderr.contains("no dataset named `goood`") && r.stderr.contains("did you mean `good`?"), "{}", r.stderr);
    let r = env.ok(&["list"]);
    assert!(r.stdout.contains("good"));
}

#[test]
fn not_a_store() {
    let env = Env::new();
    let r = env.fails(&["list"], 1);
    assert!(r.stderr.contains("no cohort store at") && r.stderr.contains("cohort --store"), "{}", r.stderr);
    assert!(!env.store().exists(), "a read command must not create a store");
}

/// A full disk: the store lives on a 12 MB tmpfs (in a private mount namespace) and the ingest
/// needs more than that.
#[test]
fn a_full_disk_changes_nothing() {
    let env = Env::new();
    let big = env.path("big.csv");
    // About 70 MB of text whose Parquet cannot fit in what the filesystem has left.
    crate::util::write_random_csv(&big, 1_000_000);
    let small = env.write("small.csv", "patient_id,age\n001,70\n");
    let mnt = env.path("mnt");
    std::fs::create_dir(&mnt).unwrap();
    let store = mnt.join("store");
    let script = format!(
        r#"set -u
mount -t tmpfs -o size=12m tmpfs "{mnt}" || exit 99
"{bin}" --store "{store}" ingest "{small}" --name small >/dev/null || exit 98
snapshot() {{ (cd "{store}" && find . -path ./tmp -prune -o -type f ! -name catalog.lock -print0 | sort -z | xargs -0 sha256sum); }}
snapshot > "{dir}/before.txt"
"{bin}" --store "{store}" ingest "{big}" --name big 2> "{dir}/err.txt"
echo $? > "{dir}/code.txt"
snapshot > "{dir}/after.txt"
"{bin}" --store "{store}" doctor > "{dir}/doctor.txt" 2>&1; echo $? >> "{dir}/doctor.txt"
"{bin}" --store "{store}" query "SELECT count(*) FROM small.small" --format csv > "{dir}/query.txt" 2>&1
exit 0
"#,
        mnt = mnt.display(),
        bin = crate::util::BIN,
        store = store.display(),
        small = small.display(),
        big = big.display(),
        dir = env.dir.path().display(),
    );
    let out = std::process::Command::new("unshare").args(["-rm", "sh", "-c", &script]).output().unwrap();
    assert!(out.status.success(), "could not set up a small filesystem (unshare/mount): {out:?}");
    let read = |n: &str| std::fs::read_to_string(env.path(n)).unwrap();
    let err = read("err.txt");
    assert_eq!(read("code.txt").trim(), "4", "a full disk exits 4:\n{err}");
    assert!(err.contains("disk is full") && err.contains("big.csv") && err.contains("nothing was changed"), "{err}");
    assert_eq!(read("before.txt"), read("after.txt"), "the store changed after a full disk");
    assert!(read("doctor.txt").trim_end().ends_with('0'), "{}", read("doctor.txt"));
    assert_eq!(read("query.txt"), "count_star()\n1\n");
}

#[test]
fn a_title_above_the_table_needs_skip() {
    let (env, before) = store_with_data();
    let f = env.write("report.csv", "Monthly report\n\npatient_id,age\n001,70\n002,81\n");
    let r = env.fails(&["ingest", f.to_str().unwrap(), "--name", "report"], 1);
    assert!(r.stderr.contains("report.csv") && r.stderr.contains("--skip 2"), "{}", r.stderr);
    assert_eq!(env.tree(), before);
    env.ok(&["ingest", f.to_str().unwrap(), "--name", "report", "--skip", "2"]);
    assert_eq!(env.query_csv("SELECT * FROM report.report"), "patient_id,age\n001,70\n002,81\n");
}

#[test]
fn files_over_the_size_limit_are_refused_before_any_work() {
    let env = Env::new();
    let small = env.write("small.csv", "a\n1\n");
    let big = env.write("big.csv", format!("a\n{}", "12345\n".repeat(200)));
    env.ok(&["ingest", small.to_str().unwrap(), "--name", "keep"]);
    let before = env.tree();
    let r = env
        .fails(&["ingest", small.to_str().unwrap(), big.to_str().unwrap(), "--name", "x", "--max-file-size", "1KB"], 1);
    assert!(r.stderr.contains("big.csv") && r.stderr.contains("--max-file-size"), "{}", r.stderr);
    assert_eq!(env.tree(), before);
    let r = env.fails(&["ingest", small.to_str().unwrap(), "--name", "x", "--max-file-size", "lots"], 2);
    assert!(r.stderr.contains("--max-file-size"), "{}", r.stderr);
}

#[test]
fn an_ingest_id_is_its_time_and_content_hash() {
    let env = Env::new();
    let file = env.write("a.csv", "a\n1\n");
    let first = env.json(&["ingest", file.to_str().unwrap(), "--name", "x"]);
    let again = env.json(&["ingest", file.to_str().unwrap(), "--name", "x"]);
    let (id1, id2) = (first["upload_id"].as_str().unwrap(), again["upload_id"].as_str().unwrap());
    let (when, hash) = id1.split_once('-').unwrap();
    assert_eq!(when.len(), 16, "{id1}");
    assert!(when.ends_with('Z') && when.contains('T'), "{id1}");
    assert!(first["outcome"]["content_hash"].as_str().unwrap().starts_with(hash), "{first}");
    assert_eq!(id2.split_once('-').unwrap().1, hash, "the same file is recognised by its content hash");
    assert_eq!(again["outcome"]["outcome"], "unchanged");
}
