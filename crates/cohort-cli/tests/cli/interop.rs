//! Acceptance 4: the store's Parquet files and views database are read correctly by pyarrow,
//! pandas and Python's `duckdb` package (installed by `scripts/test`).

use crate::roundtrip::PEOPLE_CSV;
use crate::util::Env;

#[test]
fn python_tools_read_the_store() {
    let env = Env::new();
    let csv = env.write("people.csv", PEOPLE_CSV);
    env.ok(&["ingest", csv.to_str().unwrap(), "--name", "rt"]);
    let show = env.ok(&["--json", "show", "rt"]).stdout;
    let show_path = env.write("show.json", show);
    let script = crate::util::in_crate("tests/interop/check_store.py");
    let script = script.as_str();
    let out = std::process::Command::new("python3")
        .args([script, env.store().to_str().unwrap(), show_path.to_str().unwrap(), csv.to_str().unwrap()])
        .output()
        .expect("python3 runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("ModuleNotFoundError"),
        "Python packages are missing: run ./scripts/test, which installs scripts/requirements-test.txt\n{stderr}"
    );
    assert!(out.status.success(), "{stderr}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("interop ok"));
}
