//! Running the binary on a temporary store, and looking at the store from outside.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_cohort");

/// `rel` under this crate's folder, found when the test runs: a test binary can be reused from a
/// build of another checkout with the same sources (cargo's artifacts do not depend on where the
/// workspace is), and a path fixed at build time would then read that checkout's files.
pub fn in_crate(rel: &str) -> String {
    let dir = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").to_string());
    format!("{dir}/{rel}")
}

/// A temporary directory with a store in `store/` and room for input files.
pub struct Env {
    pub dir: tempfile::TempDir,
}

/// A finished run of the binary.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl From<Output> for Run {
    fn from(o: Output) -> Self {
        Run {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

impl Env {
    pub fn new() -> Env {
        Env { dir: tempfile::tempdir().expect("temp dir") }
    }

    pub fn store(&self) -> PathBuf {
        self.dir.path().join("store")
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn write(&self, name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        let p = self.path(name);
        std::fs::write(&p, contents).expect("write input");
        p
    }

    /// A command for the binary on this store, with a clean environment for cohort's variables.
    pub fn cmd(&self) -> Command {
        let mut c = Command::new(BIN);
        c.arg("--store").arg(self.store());
        for var in ["COHORT_HOME", "COHORT_FAILPOINT", "COHORT_MEMORY_LIMIT", "COHORT_THREADS", "RUST_LOG"] {
            c.env_remove(var);
        }
        c
    }

    /// Runs a Python script with the test directory as its argument, to write fixtures with real
    /// libraries (pandas, openpyxl, zipfile; `scripts/test` installs them).
    /// The JSON file `name` of the test directory (what a fixture script wrote).
    pub fn json_file(&self, name: &str) -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(self.path(name)).expect("the file exists")).expect("JSON")
    }

    /// `cohort dictionary DATASET` of a dataset's table (its only one when `table` is `None`), by
    /// column.
    pub fn dictionary(
        &self,
        dataset: &str,
        table: Option<&str>,
    ) -> std::collections::BTreeMap<String, serde_json::Value> {
        let d = self.json(&["dictionary", dataset]);
        let entries = match table {
            Some(t) => &d[t],
            None => d.as_object().expect("tables").values().next().expect("a table"),
        };
        entries
            .as_array()
            .expect("entries")
            .iter()
            .map(|e| (e["column"].as_str().expect("a name").to_string(), e.clone()))
            .collect()
    }

    pub fn python_fixtures(&self, script: &str) {
        let out = Command::new("python3")
            .args(["-c", script, self.dir.path().to_str().expect("a UTF-8 temp path")])
            .output()
            .expect("python3 runs");
        assert!(
            out.status.success(),
            "writing fixtures failed (run ./scripts/test, which installs the Python packages):\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Runs with `args` and returns what happened.
    pub fn exec(&self, args: &[&str]) -> Run {
        self.cmd().args(args).output().expect("run cohort").into()
    }

    /// Runs with `args`, giving it `input` on standard input (a password, say).
    pub fn exec_with_stdin(&self, args: &[&str], input: &str) -> Run {
        let mut child = self
            .cmd()
            .args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("cohort runs");
        child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
        child.wait_with_output().unwrap().into()
    }

    /// Runs with `args` and requires success.
    pub fn ok(&self, args: &[&str]) -> Run {
        let r = self.exec(args);
        assert_eq!(r.code, 0, "cohort {args:?} failed:\n{}\n{}", r.stdout, r.stderr);
        r
    }

    /// Runs with `args` and requires failure with exit code `code`.
    pub fn fails(&self, args: &[&str], code: i32) -> Run {
        let r = self.exec(args);
        assert_eq!(r.code, code, "cohort {args:?} should exit {code}:\n{}\n{}", r.stdout, r.stderr);
        r
    }

    /// Runs with `--json` and parses standard output.
    pub fn json(&self, args: &[&str]) -> serde_json::Value {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        let r = self.ok(&all);
        serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("bad JSON from {args:?}: {e}\n{}", r.stdout))
    }

    /// Runs SQL and returns the CSV result.
    pub fn query_csv(&self, sql: &str) -> String {
        self.ok(&["query", sql, "--format", "csv"]).stdout
    }

    /// A single value from SQL.
    pub fn scalar(&self, sql: &str) -> String {
        let csv = self.query_csv(sql);
        csv.lines().nth(1).unwrap_or_default().to_string()
    }

    /// Every file and directory in the store (except lock and spill files) with a hash of its
    /// content, to prove a failed command changed nothing.
    pub fn tree(&self) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        walk(&self.store(), &self.store(), &mut out);
        out
    }
}

fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, String>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for e in entries.flatten() {
        let p = e.path();
        let rel = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
        if rel == "tmp" || rel == "catalog.lock" || rel == "catalog.intent" {
            continue;
        }
        if p.is_dir() {
            out.insert(rel, "dir".into());
            walk(root, &p, out);
        } else {
            let (hash, _) = cohort_store::hash::sha256_file(&p, |_| {}).expect("hash");
            out.insert(rel, hash);
        }
    }
}

/// A small deterministic pseudo-random generator, so test data is the same on every run.
pub struct Lcg(pub u64);

impl Lcg {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        self.0 >> 33
    }
}

/// Writes a patient-visit CSV of `rows` rows; `salt` makes different files with the same shape.
pub fn write_visits_csv(path: &Path, rows: u64, salt: u64) -> u64 {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    writeln!(f, "patient_id,visit_date,visual_acuity,injected,site,notes").unwrap();
    let mut r = Lcg(salt.wrapping_add(7));
    for i in 0..rows {
        let day = 1 + r.next() % 28;
        let month = 1 + r.next() % 12;
        writeln!(
            f,
            "{:06},2024-{month:02}-{day:02},{},{},S{:02},visit {} of patient {}",
            i / 8,
            40 + r.next() % 45,
            r.next().is_multiple_of(2),
            r.next() % 20,
            i % 8,
            salt
        )
        .unwrap();
    }
    f.flush().unwrap();
    std::fs::metadata(path).unwrap().len()
}

/// Writes a CSV of random hexadecimal tokens that compresses poorly: `rows` rows of ~70 bytes.
pub fn write_random_csv(path: &Path, rows: u64) {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    writeln!(f, "token_a,token_b,n").unwrap();
    let mut r = Lcg(99);
    for i in 0..rows {
        writeln!(f, "{:016x}{:016x},{:016x}{:016x},{i}", r.next(), r.next(), r.next(), r.next()).unwrap();
    }
    f.flush().unwrap();
}

/// Waits until `ready` holds, failing the test after a minute with "`what` never happened".
pub fn wait_until(what: &str, ready: impl Fn() -> bool) {
    let start = std::time::Instant::now();
    while !ready() {
        assert!(start.elapsed().as_secs() < 60, "{what} never happened");
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
}

/// Waits until `ready` holds, then sends the child SIGINT, as Ctrl-C would, and returns how it
/// ended.
pub fn interrupt_when(child: std::process::Child, what: &str, ready: impl Fn() -> bool) -> Output {
    wait_until(what, ready);
    std::thread::sleep(std::time::Duration::from_millis(100));
    let sent = Command::new("kill").args(["-INT", &child.id().to_string()]).status().expect("kill runs");
    assert!(sent.success(), "could not interrupt the child");
    child.wait_with_output().expect("the child ends")
}

/// Whether `dir` exists and has anything in it.
pub fn has_entries(dir: &Path) -> bool {
    std::fs::read_dir(dir).map(|mut d| d.next().is_some()).unwrap_or(false)
}

/// A fixture file fetched by `scripts/test` from a package registry (into `COHORT_TEST_FIXTURES`,
/// default `~/.cache/cohort/fixtures`).
pub fn fixture(name: &str) -> std::path::PathBuf {
    let dir = std::env::var_os("COHORT_TEST_FIXTURES").map(std::path::PathBuf::from).unwrap_or_else(|| {
        std::path::PathBuf::from(std::env::var_os("HOME").expect("HOME is set")).join(".cache/cohort/fixtures")
    });
    let path = dir.join(name);
    assert!(path.is_file(), "fixture {} is missing: run ./scripts/test, which fetches it", path.display());
    path
}
