//! The per-participant summary of a registry version: one row per participant, with the
//! participant table's columns and what their visits come to (visits, last visit, median gap,
//! data in each domain, values present per visits column).
//!
//! Every figure of a bundle or of a registry cohort is a grouped query over it, so a figure
//! reads at most one row a participant however many visits there are, and a cohort is a `WHERE`
//! on it. It is computed once per version and profile and kept in `derived/registry/` under a
//! key of both (a version's tables never change), so a server that starts cold reads it from disk.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use cohort_store::name::{quote_ident, quote_literal};
use cohort_store::{ResolvedVersion, Session, Store};
use serde::{Deserialize, Serialize};

use crate::PublishError;
use crate::profile::Profile;

/// What a kept summary's metadata says it is; a summary of another format is computed again.
pub const FORMAT: u32 = 3;

/// The prefix of the summary's own columns; a participant table may not use it.
pub const PREFIX: &str = "__cohort_";

/// Visit rows of the participant (all, dated or not).
pub const ROWS: &str = "__cohort_rows";
/// Dated visits of the participant.
pub const VISITS: &str = "__cohort_visits";
/// The participant's last visit (a `DATE`).
pub const LAST: &str = "__cohort_last";
/// The median of the days between the participant's consecutive visits (two visits or more).
pub const GAP: &str = "__cohort_gap";
/// Whole years, 0 to 5, from enrolment to the last visit (the profile names an enrolment date).
pub const FOLLOWED: &str = "__cohort_followed";

/// A column of a summarised table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SummaryColumn {
    /// Its name in the table.
    pub name: String,
    /// Its SQL type.
    pub sql_type: String,
    /// For a visits column: the summary column counting its values per participant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub present: Option<String>,
    /// Its label in the source file, from the catalog.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// Its code list (code -> label), from the catalog.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub codes: Option<BTreeMap<String, String>>,
    /// Values present in the whole version: participants with one (participant table), or
    /// visit rows of counted participants with one (visits table).
    #[serde(default)]
    pub present_in_all: u64,
    /// Values of a coded column that its code list does not name (the first few): the code
    /// list may be out of date, or the values mislabelled.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub outside_codes: Vec<String>,
}

impl SummaryColumn {
    fn of(c: &cohort_store::ColumnInfo, present: Option<String>) -> SummaryColumn {
        SummaryColumn {
            name: c.name.clone(),
            sql_type: c.sql_type.clone(),
            present,
            label: c.label.clone(),
            codes: c.value_labels.clone(),
            present_in_all: 0,
            outside_codes: Vec::new(),
        }
    }
}

/// How many of a coded column's values outside its code list the summary keeps.
const OUTSIDE_CODES_KEPT: usize = 10;

/// Values of `column` (SQL type `sql_type`) in `relation` that `codes` does not name: the
/// first [`OUTSIDE_CODES_KEPT`], in order. Numbers compare as numbers (`1` names `1.0`).
fn outside_codes(
    conn: &duckdb::Connection,
    relation: &str,
    column: &str,
    sql_type: &str,
    codes: &BTreeMap<String, String>,
) -> Result<Vec<String>, PublishError> {
    let c = quote_ident(column);
    let numeric = cohort_store::model::is_numeric(sql_type) || sql_type.starts_with("DECIMAL");
    let (value, listed): (String, Vec<String>) = if numeric {
        (
            format!("CAST({c} AS DOUBLE)"),
            codes.keys().filter_map(|k| k.parse::<f64>().ok()).map(|v| format!("{v:?}")).collect(),
        )
    } else {
        (format!("CAST({c} AS VARCHAR)"), codes.keys().map(|k| quote_literal(k)).collect())
    };
    let not_listed =
        if listed.is_empty() { String::new() } else { format!("AND {value} NOT IN ({})", listed.join(", ")) };
    let sql = format!(
        "SELECT DISTINCT CAST({c} AS VARCHAR) AS v FROM {relation} WHERE {c} IS NOT NULL {not_listed} ORDER BY 1 LIMIT {OUTSIDE_CODES_KEPT}"
    );
    let mut stmt = conn.prepare(&sql).map_err(sql_err("code lists"))?;
    stmt.query_map([], |r| r.get(0))
        .map_err(sql_err("code lists"))?
        .collect::<duckdb::Result<Vec<String>>>()
        .map_err(sql_err("code lists"))
}

/// What a kept summary is of, and the figures of the whole version that need every row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SummaryMeta {
    /// [`FORMAT`].
    pub format: u32,
    /// The dataset it was first computed for (what `cohort gc` keeps it by).
    pub dataset: String,
    /// Its version.
    pub version: u32,
    /// Participants: distinct ids in the participant table (a row per participant here).
    pub participants: u64,
    /// Rows of the participant table beyond the first of their participant (each participant is
    /// counted once, by one of their rows).
    pub duplicate_rows: u64,
    /// Rows of the participant table without a participant id (not counted).
    pub rows_without_id: u64,
    /// Visit rows of the participants counted.
    #[serde(default)]
    pub visit_rows: u64,
    /// Visit rows whose participant is not in the participant table (not counted).
    pub visits_without_participant: u64,
    /// The latest date in the data (enrolment or visit), `YYYY-MM-DD`.
    pub latest_date: Option<String>,
    /// The participant table's columns.
    pub participant_columns: Vec<SummaryColumn>,
    /// The visits table's columns.
    pub visit_columns: Vec<SummaryColumn>,
    /// Each domain's summary column: whether the participant has a value in any of its columns.
    pub domains: BTreeMap<String, String>,
    /// Sites (`(missing)` for none) by participants, most first, then by name: what `Site N`
    /// labels are ranked by.
    pub sites: Vec<String>,
    /// The smallest and largest value of each numeric column of the participant table.
    pub ranges: BTreeMap<String, (f64, f64)>,
}

/// A kept per-participant summary.
#[derive(Debug, Clone)]
pub struct Summary {
    /// Its Parquet file.
    pub path: PathBuf,
    /// What it is.
    pub meta: SummaryMeta,
}

impl Summary {
    /// The summary as a SQL relation.
    pub fn relation(&self) -> String {
        format!("read_parquet({})", quote_literal(&self.path.to_string_lossy()))
    }
}

/// One summary computed at a time in a process: a second request for it waits and reads it.
static COMPUTING: Mutex<()> = Mutex::new(());

/// The summary of `version` under `profile`: read from `derived/registry/` if computed before,
/// or computed now and kept. Keeping it is an optimisation: a read-only store still answers
/// (the summary then goes to the store's scratch space for this process).
pub fn kept(store: &Store, version: &ResolvedVersion, profile: &Profile) -> Result<Summary, PublishError> {
    crate::check_profile(version, profile)?;
    let key = key(version, profile);
    let dir = store.layout().derived().join("registry");
    let (path, meta_path) = (dir.join(format!("{key}.parquet")), dir.join(format!("{key}.json")));
    if let Some(summary) = read(&path, &meta_path) {
        return Ok(summary);
    }
    let _one_at_a_time = COMPUTING.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(summary) = read(&path, &meta_path) {
        return Ok(summary);
    }
    let dir = match std::fs::create_dir_all(&dir) {
        Ok(()) => dir,
        Err(e) => {
            tracing::warn!("could not keep a registry summary in `{}`: {e}", dir.display());
            let scratch = store.layout().spill_dir().join("registry");
            std::fs::create_dir_all(&scratch).map_err(cohort_store::StoreError::from)?;
            scratch
        }
    };
    let (path, meta_path) = (dir.join(format!("{key}.parquet")), dir.join(format!("{key}.json")));
    let visit_rows = profile.visits.as_ref().and_then(|v| version.table(&v.table)).map_or(0, |t| t.rows);
    let buckets = visit_rows.div_ceil(visits_per_bucket(store.settings().memory_limit)).max(1);
    let meta = compute(store, version, profile, &path, buckets)?;
    let bytes = serde_json::to_vec_pretty(&meta).map_err(|e| cohort_store::StoreError::Inconsistent(e.to_string()))?;
    cohort_store::fsutil::write_atomic(&meta_path, &bytes).map_err(cohort_store::StoreError::from)?;
    Ok(Summary { path, meta })
}

fn read(path: &Path, meta_path: &Path) -> Option<Summary> {
    let meta: SummaryMeta = serde_json::from_slice(&std::fs::read(meta_path).ok()?).ok()?;
    (meta.format == FORMAT && path.is_file()).then(|| Summary { path: path.to_path_buf(), meta })
}

/// What the summary depends on: the profile's tables and the columns that shape it.
fn key(version: &ResolvedVersion, profile: &Profile) -> String {
    let table_hash = |name: &str| version.table(name).map_or("", |t| t.sha256.as_str());
    let visits = profile.visits.as_ref();
    let domains = visits.map(|v| serde_json::to_string(&v.domains).unwrap_or_default()).unwrap_or_default();
    let format = FORMAT.to_string();
    cohort_store::hash::sha256_parts([
        format.as_str(),
        profile.table.as_str(),
        table_hash(&profile.table),
        profile.participant.as_str(),
        profile.enrolled.as_deref().unwrap_or(""),
        profile.site.as_deref().unwrap_or(""),
        visits.map_or("", |v| v.table.as_str()),
        visits.map_or("", |v| table_hash(&v.table)),
        visits.map_or("", |v| v.participant.as_str()),
        visits.map_or("", |v| v.date.as_str()),
        domains.as_str(),
    ])
}

fn sql_err(what: &str) -> impl FnOnce(duckdb::Error) -> PublishError + '_ {
    move |e| PublishError::Query { what: format!("the registry summary ({what})"), message: e.to_string() }
}

/// Visit rows a bucket of the visits may hold for an engine whose memory cap is `memory_limit`:
/// a participant's dates are gathered in a list, and the lists of one bucket are held at once.
fn visits_per_bucket(memory_limit: u64) -> u64 {
    (memory_limit / 56).max(100_000)
}

/// Computes the summary of `version` under `profile` into the Parquet file `path` (written
/// whole, then renamed into place), the visits summarised in `buckets` buckets of participants
/// ([`kept`] picks as many as keep a bucket within the engine's memory); returns what it is.
pub fn compute(
    store: &Store,
    version: &ResolvedVersion,
    profile: &Profile,
    path: &Path,
    buckets: u64,
) -> Result<SummaryMeta, PublishError> {
    crate::check_profile(version, profile)?;
    let participants_table = version.table(&profile.table).expect("checked by check_profile");
    if let Some(c) = participants_table.columns.iter().find(|c| c.name.starts_with(PREFIX)) {
        return Err(PublishError::Query {
            what: "the registry summary".into(),
            message: format!(
                "column `{}` of `{}` starts with `{PREFIX}`, which the summary keeps for its own columns; rename it",
                c.name, profile.table
            ),
        });
    }
    let mut session = Session::new(store)?;
    session.mount(store, version, "src")?;
    let conn = session.connection();
    conn.execute_batch("SET preserve_insertion_order = false").map_err(sql_err("settings"))?;
    let t = format!("src.{}", quote_ident(&profile.table));
    let pid = quote_ident(&profile.participant);
    let (rows, with_id, participants): (i64, i64, i64) = conn
        .query_row(&format!("SELECT count(*), count({pid}), count(DISTINCT {pid}) FROM {t}"), [], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })
        .map_err(sql_err("participants"))?;
    // One row a participant: a participant with several rows is counted once, by one of them.
    let base = if with_id > participants {
        format!("SELECT DISTINCT ON ({pid}) * FROM {t} WHERE {pid} IS NOT NULL")
    } else {
        format!("SELECT * FROM {t} WHERE {pid} IS NOT NULL")
    };
    let mut participant_columns: Vec<SummaryColumn> =
        participants_table.columns.iter().map(|c| SummaryColumn::of(c, None)).collect();
    let tmp = path.with_extension(format!("{}.tmp", std::process::id()));
    let parts_dir = path.with_extension(format!("{}.parts", std::process::id()));
    let cleanup = || {
        let _ = std::fs::remove_file(&tmp);
        let _ = std::fs::remove_dir_all(&parts_dir);
    };
    let mut visit_columns = Vec::new();
    let mut domains = BTreeMap::new();
    let mut latest_visit: Option<String> = None;
    let mut visit_rows = 0u64;
    let select = match &profile.visits {
        None => format!("COPY ({base}) TO {} (FORMAT parquet)", quote_literal(&tmp.to_string_lossy())),
        Some(visits) => {
            let table = version.table(&visits.table).expect("checked by check_profile");
            visit_rows = table.rows;
            let v = format!("src.{}", quote_ident(&visits.table));
            let vpid = quote_ident(&visits.participant);
            let day = format!("CAST({} AS DATE)", quote_ident(&visits.date));
            let mut aggregates = vec![
                format!("count(*) AS {ROWS}"),
                format!("count({day}) AS {VISITS}"),
                format!("max({day}) AS {LAST}"),
                format!("list_sort(list({day}) FILTER (WHERE {day} IS NOT NULL)) AS __cohort_days"),
            ];
            let mut joined = vec![
                format!("coalesce(a.{ROWS}, 0) AS {ROWS}"),
                format!("coalesce(a.{VISITS}, 0) AS {VISITS}"),
                format!("a.{LAST}"),
                format!("a.{GAP}"),
            ];
            if let Some(e) = &profile.enrolled {
                let e = format!("CAST(p.{} AS DATE)", quote_ident(e));
                let years = (1..=5)
                    .rev()
                    .map(|y| format!("WHEN a.{LAST} >= {e} + INTERVAL {y} YEAR THEN {y}"))
                    .collect::<Vec<_>>()
                    .join(" ");
                joined.push(format!("CAST(CASE {years} ELSE 0 END AS TINYINT) AS {FOLLOWED}"));
            }
            for (i, (domain, columns)) in visits.domains.iter().enumerate() {
                let name = format!("{PREFIX}domain_{i}");
                let any = columns.iter().map(|c| format!("{} IS NOT NULL", quote_ident(c))).collect::<Vec<_>>();
                let any = if any.is_empty() { "false".to_string() } else { any.join(" OR ") };
                aggregates.push(format!("bool_or({any}) AS {name}"));
                joined.push(format!("coalesce(a.{name}, false) AS {name}"));
                domains.insert(domain.clone(), name);
            }
            for (i, c) in table.columns.iter().enumerate() {
                let name = format!("{PREFIX}present_{i}");
                aggregates.push(format!("count({}) AS {name}", quote_ident(&c.name)));
                joined.push(format!("coalesce(a.{name}, 0) AS {name}"));
                visit_columns.push(SummaryColumn::of(c, Some(name)));
            }
            // The visits are summarised a bucket of participants at a time, so that however
            // many there are, one bucket's dates fit in the engine's memory.
            std::fs::create_dir_all(&parts_dir).map_err(cohort_store::StoreError::from)?;
            let buckets = buckets.max(1);
            let mut parts = Vec::new();
            for bucket in 0..buckets {
                let part = parts_dir.join(format!("{bucket}.parquet"));
                let only =
                    if buckets > 1 { format!("WHERE hash({vpid}) % {buckets} = {bucket}") } else { String::new() };
                let sql = format!(
                    "COPY (SELECT * EXCLUDE (__cohort_days), \
                     list_median(list_transform(range(1, len(__cohort_days)), lambda i: __cohort_days[i + 1] - __cohort_days[i])) AS {GAP} \
                     FROM (SELECT {vpid} AS __cohort_id, {aggregates} FROM {v} {only} GROUP BY 1)) TO {file} (FORMAT parquet)",
                    aggregates = aggregates.join(", "),
                    file = quote_literal(&part.to_string_lossy()),
                );
                if let Err(e) = conn.execute_batch(&sql) {
                    cleanup();
                    return Err(sql_err("the visits")(e));
                }
                parts.push(quote_literal(&part.to_string_lossy()));
            }
            let parts = format!("read_parquet([{}])", parts.join(", "));
            latest_visit = conn
                .query_row(&format!("SELECT CAST(max({LAST}) AS VARCHAR) FROM {parts}"), [], |r| r.get(0))
                .map_err(sql_err("the latest visit"))?;
            format!(
                "COPY (SELECT p.*, {joined} FROM ({base}) p LEFT JOIN {parts} a ON a.__cohort_id = p.{pid}) TO {file} (FORMAT parquet)",
                joined = joined.join(", "),
                file = quote_literal(&tmp.to_string_lossy()),
            )
        }
    };
    if let Err(e) = conn.execute_batch(&select) {
        cleanup();
        return Err(sql_err("the participants")(e));
    }
    let s = format!("read_parquet({})", quote_literal(&tmp.to_string_lossy()));
    let counted: i64 = if profile.visits.is_some() {
        conn.query_row(&format!("SELECT coalesce(sum({ROWS}), 0) FROM {s}"), [], |r| r.get(0))
            .map_err(sql_err("the visits"))?
    } else {
        0
    };
    let latest_enrolment: Option<String> = match &profile.enrolled {
        Some(e) => conn
            .query_row(&format!("SELECT CAST(max(CAST({} AS DATE)) AS VARCHAR) FROM {t}", quote_ident(e)), [], |r| {
                r.get(0)
            })
            .map_err(sql_err("the latest enrolment"))?,
        None => None,
    };
    let sites = match &profile.site {
        Some(site) => {
            let sql = format!(
                "SELECT coalesce(CAST({} AS VARCHAR), '(missing)') AS site, count(*) AS n FROM {s} GROUP BY 1 ORDER BY 2 DESC, 1",
                quote_ident(site)
            );
            let mut stmt = conn.prepare(&sql).map_err(sql_err("sites"))?;
            stmt.query_map([], |r| r.get(0))
                .map_err(sql_err("sites"))?
                .collect::<duckdb::Result<Vec<String>>>()
                .map_err(sql_err("sites"))?
        }
        None => Vec::new(),
    };
    let numeric: Vec<&SummaryColumn> = participant_columns
        .iter()
        .filter(|c| cohort_store::model::is_numeric(&c.sql_type) || c.sql_type.starts_with("DECIMAL"))
        .collect();
    let mut ranges = BTreeMap::new();
    if !numeric.is_empty() {
        let aggregates = numeric
            .iter()
            .map(|c| format!("CAST(min({0}) AS DOUBLE), CAST(max({0}) AS DOUBLE)", quote_ident(&c.name)))
            .collect::<Vec<_>>()
            .join(", ");
        let values: Vec<Option<f64>> = conn
            .query_row(&format!("SELECT {aggregates} FROM {s}"), [], |r| {
                (0..numeric.len() * 2).map(|i| r.get(i)).collect()
            })
            .map_err(sql_err("ranges"))?;
        for (i, c) in numeric.iter().enumerate() {
            if let (Some(lo), Some(hi)) = (values[2 * i], values[2 * i + 1]) {
                ranges.insert(c.name.clone(), (lo, hi));
            }
        }
    }
    // Values present in the whole version, for the dictionary's completeness of all
    // participants beside a cohort's.
    let present: Vec<String> = participant_columns
        .iter()
        .map(|c| format!("count({})", quote_ident(&c.name)))
        .chain(visit_columns.iter().map(|c| format!("coalesce(sum({}), 0)", c.present.as_deref().unwrap_or("0"))))
        .map(|e| format!("CAST({e} AS BIGINT)"))
        .collect();
    if !present.is_empty() {
        let counts: Vec<i64> = conn
            .query_row(&format!("SELECT {} FROM {s}", present.join(", ")), [], |r| {
                (0..present.len()).map(|i| r.get(i)).collect()
            })
            .map_err(sql_err("completeness"))?;
        for (c, n) in participant_columns.iter_mut().chain(visit_columns.iter_mut()).zip(counts) {
            c.present_in_all = n.max(0) as u64;
        }
    }
    for c in participant_columns.iter_mut() {
        if let Some(codes) = &c.codes {
            c.outside_codes = outside_codes(conn, &s, &c.name, &c.sql_type, codes)?;
        }
    }
    if let Some(visits) = &profile.visits {
        let v = format!("src.{}", quote_ident(&visits.table));
        for c in visit_columns.iter_mut() {
            if let Some(codes) = &c.codes {
                c.outside_codes = outside_codes(conn, &v, &c.name, &c.sql_type, codes)?;
            }
        }
    }
    drop(session);
    let _ = std::fs::remove_dir_all(&parts_dir);
    std::fs::rename(&tmp, path).map_err(cohort_store::StoreError::from)?;
    Ok(SummaryMeta {
        format: FORMAT,
        dataset: version.dataset.to_string(),
        version: version.version,
        participants: participants.max(0) as u64,
        duplicate_rows: (with_id - participants).max(0) as u64,
        rows_without_id: (rows - with_id).max(0) as u64,
        visit_rows: counted.max(0) as u64,
        visits_without_participant: visit_rows.saturating_sub(counted.max(0) as u64),
        latest_date: [latest_enrolment, latest_visit].into_iter().flatten().max(),
        participant_columns,
        visit_columns,
        domains,
        sites,
        ranges,
    })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    #[test]
    fn values_a_code_list_does_not_name_are_found() {
        let conn = duckdb::Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "CREATE TABLE t AS SELECT * FROM (VALUES (1.0, 'a'), (2.0, 'b'), (9.0, 'z'), (NULL, NULL), (1.0, 'a')) v(n, s)",
        )
        .unwrap();
        let codes: BTreeMap<String, String> = [("1".into(), "yes".into()), ("2".into(), "no".into())].into();
        assert_eq!(super::outside_codes(&conn, "t", "n", "DOUBLE", &codes).unwrap(), ["9.0"]);
        let codes: BTreeMap<String, String> = [("a".into(), "A".into()), ("b".into(), "B".into())].into();
        assert_eq!(super::outside_codes(&conn, "t", "s", "VARCHAR", &codes).unwrap(), ["z"]);
        assert!(super::outside_codes(&conn, "t", "s", "VARCHAR", &BTreeMap::new()).unwrap().len() == 3);
    }
}
