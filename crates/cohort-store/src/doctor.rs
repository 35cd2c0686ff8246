//! `doctor`: checks every stored file against the catalog, and quarantines what is broken.

use std::collections::BTreeMap;
use std::path::PathBuf;

use fs_err as fs;
use jiff::Timestamp;
use serde::Serialize;

use crate::catalog;
use crate::duck;
use crate::error::Result;
use crate::hash::sha256_file;
use crate::inspect::read_footer;
use crate::model::VersionStatus;
use crate::progress::Progress;
use crate::store::{RecoveryReport, Store};

/// One thing wrong with a stored file.
#[derive(Debug, Clone, Serialize)]
pub struct Problem {
    /// The dataset.
    pub dataset: String,
    /// The version.
    pub version: u32,
    /// The file, relative to the store root.
    pub path: String,
    /// What is wrong: `missing`, `size`, `sha256`, `rows`, `unreadable`.
    pub kind: &'static str,
    /// Details (expected versus found).
    pub detail: String,
}

/// What `doctor` found and did.
#[derive(Debug, Clone, Serialize)]
pub struct DoctorReport {
    /// Files checked.
    pub files_checked: u64,
    /// Bytes read.
    pub bytes_checked: u64,
    /// Problems found in stored files.
    pub problems: Vec<Problem>,
    /// Whether `datasets.duckdb` matched the catalog.
    pub views_in_sync: bool,
    /// What recovery cleaned up before the check.
    pub recovery: RecoveryReport,
    /// Versions moved to quarantine by `--repair`: `(dataset, version, quarantine path)`.
    pub quarantined: Vec<(String, u32, PathBuf)>,
    /// Datasets whose current version moved because it was quarantined: `(dataset, new current)`.
    pub moved_current: Vec<(String, Option<u32>)>,
    /// Interrupted runs and shards kept for resuming: `(dataset, slot, bytes)`. Not a problem.
    pub resumable: Vec<(String, String, u64)>,
}

impl DoctorReport {
    /// Whether the store is healthy (after repairs, if any were made).
    pub fn healthy(&self) -> bool {
        (self.problems.is_empty() || !self.quarantined.is_empty()) && self.views_in_sync
    }
}

struct FileCheck {
    dataset_id: i64,
    dataset: String,
    version: u32,
    path: String,
    sha256: String,
    rows: u64,
    bytes: u64,
}

impl Store {
    /// Checks every file of every readable version: present, right size, right SHA-256, right row
    /// count. With `repair`, versions with broken files are quarantined and `datasets.duckdb` is
    /// rewritten.
    pub fn doctor(&self, repair: bool, progress: &dyn Progress) -> Result<DoctorReport> {
        let recovery = self.recover()?;
        let (checks, current) = self.read(|conn| {
            let mut checks = Vec::new();
            let mut current = BTreeMap::new();
            for d in catalog::list_datasets(conn)? {
                current.insert(d.name.to_string(), d.current_version);
                for v in catalog::versions(conn, d.id)?.into_iter().filter(|v| v.status == VersionStatus::Active) {
                    for t in catalog::tables(conn, d.id, v.version)? {
                        for f in t.files {
                            checks.push(FileCheck {
                                dataset_id: d.id,
                                dataset: d.name.to_string(),
                                version: v.version,
                                path: f.path,
                                sha256: f.sha256,
                                rows: f.rows,
                                bytes: f.bytes,
                            });
                        }
                    }
                }
            }
            Ok((checks, current))
        })?;

        progress.begin("checking files", Some(checks.iter().map(|c| c.bytes).sum()));
        let mut problems = Vec::new();
        let mut bytes_checked = 0;
        for c in &checks {
            let problem = |kind, detail: String| Problem {
                dataset: c.dataset.clone(),
                version: c.version,
                path: c.path.clone(),
                kind,
                detail,
            };
            let path = self.layout().resolve(&c.path);
            let Ok(meta) = std::fs::metadata(&path) else {
                problems.push(problem("missing", "the file does not exist".into()));
                progress.advance(c.bytes);
                continue;
            };
            if meta.len() != c.bytes {
                problems.push(problem("size", format!("expected {} bytes, found {}", c.bytes, meta.len())));
                progress.advance(c.bytes);
                continue;
            }
            match sha256_file(&path, |n| progress.advance(n)) {
                Ok((sha, n)) => {
                    bytes_checked += n;
                    if sha != c.sha256 {
                        problems.push(problem("sha256", format!("expected {}, found {sha}", c.sha256)));
                        continue;
                    }
                }
                Err(e) => {
                    problems.push(problem("unreadable", e.to_string()));
                    continue;
                }
            }
            match read_footer(&path) {
                Ok(f) if f.rows != c.rows => {
                    problems.push(problem("rows", format!("expected {} rows, found {}", c.rows, f.rows)))
                }
                Ok(_) => {}
                Err(e) => problems.push(problem("unreadable", e.to_string())),
            }
        }
        progress.finish();

        let views_in_sync = self.views_match(&current);
        let mut report = DoctorReport {
            files_checked: checks.len() as u64,
            bytes_checked,
            problems,
            views_in_sync,
            recovery,
            quarantined: Vec::new(),
            moved_current: Vec::new(),
            resumable: self.resumable_areas(),
        };
        if repair && (!report.problems.is_empty() || !views_in_sync) {
            self.quarantine(&checks, &mut report)?;
            report.views_in_sync = true;
        }
        Ok(report)
    }

    /// Whether `datasets.duckdb` lists exactly the catalog's datasets at their current versions,
    /// with views pointing into this store's directory.
    fn views_match(&self, current: &BTreeMap<String, Option<u32>>) -> bool {
        let Ok(conn) = duck::Hosted::attach(&self.layout().views_db(), true) else { return false };
        let root: Option<String> = conn.query_row("SELECT root FROM cohort_catalog.store", [], |r| r.get(0)).ok();
        if root.as_deref() != Some(&*self.root().to_string_lossy()) {
            return false;
        }
        let Ok(mut stmt) = conn.prepare("SELECT name, current_version FROM cohort_catalog.datasets ORDER BY name")
        else {
            return false;
        };
        let Ok(rows) = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, Option<i32>>(1)?))) else {
            return false;
        };
        let Ok(found) = rows.collect::<duckdb::Result<Vec<_>>>() else { return false };
        let found: BTreeMap<String, Option<u32>> = found.into_iter().map(|(n, v)| (n, v.map(|v| v as u32))).collect();
        &found == current
    }

    fn quarantine(&self, checks: &[FileCheck], report: &mut DoctorReport) -> Result<()> {
        let mut broken: Vec<(i64, String, u32)> = report
            .problems
            .iter()
            .filter_map(|p| {
                checks
                    .iter()
                    .find(|c| c.dataset == p.dataset && c.version == p.version)
                    .map(|c| (c.dataset_id, c.dataset.clone(), c.version))
            })
            .collect();
        broken.sort();
        broken.dedup();
        let stamp = Timestamp::now().strftime("%Y%m%dT%H%M%SZ").to_string();
        self.write(|conn| {
            for (id, name, version) in &broken {
                let from = self.layout().version_dir(*id, *version);
                let to = self.layout().quarantine().join(format!("{name}-v{version}-{stamp}"));
                fs::create_dir_all(self.layout().quarantine())?;
                if from.exists() {
                    fs::rename(&from, &to)?;
                }
                catalog::set_status(conn, *id, *version, VersionStatus::Quarantined)?;
                report.quarantined.push((name.clone(), *version, to));
            }
            // Only once every broken version is out can a dataset fall back to a healthy one.
            for (_, name, version) in &broken {
                let row = catalog::find_dataset(conn, name)?;
                if let Some(row) = row.filter(|r| r.current_version == Some(*version)) {
                    let fallback = catalog::versions(conn, row.id)?
                        .into_iter()
                        .find(|v| v.status == VersionStatus::Active)
                        .map(|v| v.version);
                    catalog::set_current(conn, row.id, fallback, Timestamp::now())?;
                    report.moved_current.push((name.clone(), fallback));
                }
            }
            Ok(())
        })?;
        self.rebuild_views()
    }
}
