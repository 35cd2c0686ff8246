/*!
De-identified exports: what `cohort export --profile NAME` applies to a dataset before any row
leaves the store.

An [`ExportProfile`] (YAML) names, for every column of each exported table, one rule: keep it,
drop it (direct identifiers), replace it by a keyed hash (ids), shift it by the participant's
date offset, truncate it to a three-digit ZIP, cap it at age 90, or scrub it as free text.
[`plan`] checks the profile against a dataset version and writes one `SELECT` per table;
[`prepare`] fills the table of pseudonyms and offsets those `SELECT`s join, from a [`Key`] kept
per profile in the store, so exports under one profile stay linkable with each other and with
nothing else. The rules are applied by DuckDB while it writes the files: no transformed copy is
kept anywhere.
*/
#![deny(missing_docs)]

pub mod profile;
pub mod text;

use std::collections::BTreeSet;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use cohort_store::{ResolvedVersion, Session, Store, StoreError, TableInfo, table_source};
use duckdb::Connection;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

pub use profile::{ExportProfile, Rule, TableRules};

/// The name of the profile that exports everything as it is, for approved users only.
pub const FULL: &str = "full";

/// The smallest and largest date offset, in days.
pub const SHIFT_DAYS: (i32, i32) = (30, 365);

/// Why a de-identified export cannot be made.
#[derive(Debug, thiserror::Error)]
pub enum DeidError {
    /// The profile cannot be read or parsed.
    #[error("the export profile {} is not valid: {message}", path.display())]
    Profile {
        /// The file.
        path: PathBuf,
        /// Why (with the line, from the YAML parser).
        message: String,
    },
    /// No profile has that name, and no file that path.
    #[error(
        "there is no export profile `{spec}`: give a path to a YAML file, or put `{spec}.yaml` in {} \
         (there: {}; `full` exports as stored)", dir.display(), listed(known)
    )]
    NotFound {
        /// What was asked for.
        spec: String,
        /// Where named profiles live.
        dir: PathBuf,
        /// The profiles there.
        known: Vec<String>,
    },
    /// The profile does not fit the dataset.
    #[error("the export profile {} does not fit `{dataset}`: {message}", path.display())]
    Mismatch {
        /// The file.
        path: PathBuf,
        /// The dataset version.
        dataset: String,
        /// What is wrong and what to do.
        message: String,
    },
    /// The profile's key cannot be read or made.
    #[error("cannot read or create the key {}: {source}", path.display())]
    Key {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A query failed.
    #[error("preparing the pseudonyms failed: {0}")]
    Sql(#[from] duckdb::Error),
    /// The store could not be read.
    #[error(transparent)]
    Store(#[from] cohort_store::StoreError),
}

/// Where a profile comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProfileSource {
    /// [`FULL`]: every table and column as it is.
    Full,
    /// A YAML file; `name` (its stem) names its key.
    File {
        /// The profile's name.
        name: String,
        /// The file.
        path: PathBuf,
    },
}

/// Finds the profile `spec`: [`FULL`], a path to a YAML file, or the name of one in
/// `profiles_dir` (the store's `export-profiles/`).
pub fn locate(profiles_dir: &Path, spec: &str) -> Result<ProfileSource, DeidError> {
    if spec == FULL {
        return Ok(ProfileSource::Full);
    }
    let is_path = spec.contains('/') || spec.ends_with(".yaml") || spec.ends_with(".yml");
    let path = if is_path { PathBuf::from(spec) } else { profiles_dir.join(format!("{spec}.yaml")) };
    if !path.is_file() {
        let mut known: Vec<String> = std::fs::read_dir(profiles_dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| e.file_name().to_str()?.strip_suffix(".yaml").map(String::from))
            .collect();
        known.sort();
        return Err(DeidError::NotFound { spec: spec.into(), dir: profiles_dir.into(), known });
    }
    let name = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| spec.into());
    Ok(ProfileSource::File { name, path })
}

fn listed(names: &[String]) -> String {
    if names.is_empty() { "none".into() } else { names.join(", ") }
}

/// The secret behind a profile's pseudonyms and date offsets. Without it, a pseudonym cannot be
/// turned back into an id, nor an offset guessed.
pub struct Key([u8; 32]);

impl Key {
    /// The key of profile `name`, kept in `dir` (created, readable by the owner only, the first
    /// time).
    pub fn for_profile(dir: &Path, name: &str) -> Result<Key, DeidError> {
        let path = dir.join(format!("{name}.key"));
        let failed = |source| DeidError::Key { path: path.clone(), source };
        if !path.exists() {
            std::fs::create_dir_all(dir).map_err(failed)?;
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(failed)?;
            let mut secret = [0u8; 32];
            getrandom::fill(&mut secret).expect("the operating system's random source works");
            // Written whole under another name and then linked: a key is never seen half-written,
            // and of two processes creating it at once, the first link wins and both use it.
            let tmp = dir.join(format!(".{name}.key.{}", std::process::id()));
            let mut file =
                std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&tmp).map_err(failed)?;
            file.write_all(hex::encode(secret).as_bytes()).and_then(|_| file.sync_all()).map_err(failed)?;
            let linked = std::fs::hard_link(&tmp, &path);
            let _ = std::fs::remove_file(&tmp);
            match linked {
                Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => return Err(failed(e)),
                _ => {}
            }
        }
        let text = std::fs::read_to_string(&path).map_err(failed)?;
        let bytes = hex::decode(text.trim()).ok().filter(|b| b.len() == 32).ok_or_else(|| {
            failed(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "not a 64-digit hex key; restore it from a backup",
            ))
        })?;
        Ok(Key(bytes.try_into().expect("32 bytes")))
    }

    /// A key from known bytes (tests, and tools that keep keys elsewhere).
    pub fn from_bytes(bytes: [u8; 32]) -> Key {
        Key(bytes)
    }

    fn mac(&self, purpose: &str, value: &str) -> [u8; 32] {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&self.0).expect("HMAC takes any key length");
        mac.update(purpose.as_bytes());
        mac.update(&[0]);
        mac.update(value.as_bytes());
        mac.finalize().into_bytes().into()
    }

    /// The pseudonym of `value`: 16 hex digits of its keyed hash.
    pub fn pseudonym(&self, value: &str) -> String {
        hex::encode(&self.mac("id", value)[..8])
    }

    /// The date offset of participant `id`, in days, from [`SHIFT_DAYS`].
    pub fn shift_days(&self, id: &str) -> i32 {
        let mac = self.mac("shift", id);
        let n = u64::from_le_bytes(mac[..8].try_into().expect("8 bytes"));
        let span = (SHIFT_DAYS.1 - SHIFT_DAYS.0 + 1) as u64;
        SHIFT_DAYS.0 + (n % span) as i32
    }
}

/// One table's export: its `SELECT` over the version mounted as schema `d`.
#[derive(Debug, Clone)]
pub struct TablePlan {
    /// The table.
    pub table: String,
    /// Its rows.
    pub rows: u64,
    /// Its bytes of Parquet (the scale of a copy's progress).
    pub bytes: u64,
    /// The `SELECT` that writes it.
    pub select: String,
}

/// A checked export: one `SELECT` per table, and what the profile left out.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The tables to write.
    pub tables: Vec<TablePlan>,
    /// Tables of the version the profile does not name (not exported).
    pub left_out: Vec<String>,
    /// The (table, column) pairs, quoted, whose values [`prepare`] makes pseudonyms for.
    ids: Vec<(String, String)>,
}

fn ident(name: &str) -> String {
    cohort_store::name::quote_ident(name)
}

fn is_date(sql_type: &str) -> bool {
    sql_type == "DATE" || sql_type.starts_with("TIMESTAMP")
}

/// Checks `profile` (read from `path`) against `version` and writes each table's `SELECT`;
/// `only` restricts the export to one table. Every column of an exported table must have
/// exactly one rule.
pub fn plan(
    version: &ResolvedVersion,
    profile: &ExportProfile,
    path: &Path,
    only: Option<&str>,
) -> Result<Plan, DeidError> {
    let mismatch = |message: String| DeidError::Mismatch { path: path.into(), dataset: version.label(), message };
    let names = |tables: &[TableInfo]| tables.iter().map(|t| t.name.as_str()).collect::<Vec<_>>().join(", ");
    for table in profile.tables.keys() {
        if version.table(table).is_none() {
            return Err(mismatch(format!(
                "it names the table `{table}`, which the dataset does not have (it has: {})",
                names(&version.tables)
            )));
        }
    }
    if let Some(only) = only
        && !profile.tables.contains_key(only)
    {
        return Err(mismatch(format!(
            "it says nothing about the table `{only}`, so that table cannot be exported under it"
        )));
    }
    let mut out = Plan { tables: Vec::new(), left_out: Vec::new(), ids: Vec::new() };
    for info in &version.tables {
        let Some(rules) = profile.tables.get(&info.name) else {
            if only.is_none() {
                out.left_out.push(info.name.clone());
            }
            continue;
        };
        if only.is_some_and(|o| o != info.name) {
            continue;
        }
        out.tables.push(table_plan(info, rules, &mut out.ids).map_err(mismatch)?);
    }
    Ok(out)
}

fn table_plan(info: &TableInfo, rules: &TableRules, ids: &mut Vec<(String, String)>) -> Result<TablePlan, String> {
    let table = &info.name;
    let named = rules.named();
    let mut seen: BTreeSet<&str> = BTreeSet::new();
    for (column, rule) in &named {
        if !info.columns.iter().any(|c| c.name == *column) {
            let have = info.columns.iter().map(|c| c.name.as_str()).collect::<Vec<_>>().join(", ");
            return Err(format!(
                "`{}` names the column `{table}.{column}`, which does not exist (the table has: {have})",
                rule.key()
            ));
        }
        if !seen.insert(column) {
            let rules: Vec<&str> = named.iter().filter(|(c, _)| c == column).map(|(_, r)| r.key()).collect();
            return Err(format!(
                "the column `{table}.{column}` is named under more than one rule ({}); give it one",
                rules.join(" and ")
            ));
        }
    }
    let unnamed: Vec<&str> = info.columns.iter().map(|c| c.name.as_str()).filter(|c| !seen.contains(c)).collect();
    if !unnamed.is_empty() {
        return Err(format!(
            "it does not say what to do with {} of `{table}`: add {} to `keep`, `drop`, `hash`, `dates`, `zip3`, `age` or `free_text` (nothing is exported by default)",
            unnamed.iter().map(|c| format!("`{c}`")).collect::<Vec<_>>().join(", "),
            if unnamed.len() == 1 { "it" } else { "each" }
        ));
    }
    let t = format!("d.{}", ident(table));
    let mut joins = Vec::new();
    // Every id gets an offset, but only the participant's (joined as `p`) shifts a row's dates.
    if let Some(p) = &rules.participant {
        joins.push(format!("LEFT JOIN deid_ids AS p ON p.value = CAST(t.{} AS VARCHAR)", ident(p)));
        ids.push((t.clone(), ident(p)));
    }
    let mut select = Vec::new();
    for column in &info.columns {
        let rule = named.iter().find(|(c, _)| *c == column.name).expect("every column is named").1;
        let c = format!("t.{}", ident(&column.name));
        let alias = ident(&column.name);
        let sql_type = column.sql_type.as_str();
        let expr = match rule {
            Rule::Drop => None,
            Rule::Keep => Some(c),
            Rule::Participant => Some("p.pseudonym".into()),
            Rule::Hash => {
                let j = format!("h{}", joins.len());
                joins.push(format!("LEFT JOIN deid_ids AS {j} ON {j}.value = CAST({c} AS VARCHAR)"));
                ids.push((t.clone(), ident(&column.name)));
                Some(format!("{j}.pseudonym"))
            }
            Rule::ShiftDate => {
                if rules.participant.is_none() {
                    return Err(format!(
                        "`dates` names `{table}.{}`, but `{table}` has no `participant` column to shift it by; name the participant column, or drop the date",
                        column.name
                    ));
                }
                if sql_type == "DATE" {
                    Some(format!("{c} - p.shift"))
                } else if is_date(sql_type) {
                    Some(format!("{c} - to_days(p.shift)"))
                } else {
                    return Err(format!(
                        "`dates` names `{table}.{}`, which holds {sql_type}, not dates; ingest it as a date, or drop it",
                        column.name
                    ));
                }
            }
            Rule::Zip3 => Some(text::zip3_sql(&c, cohort_store::model::is_numeric(sql_type))),
            Rule::Age => {
                if !cohort_store::model::is_numeric(sql_type) {
                    return Err(format!(
                        "`age` names `{table}.{}`, which holds {sql_type}, not a number of years",
                        column.name
                    ));
                }
                Some(format!("CASE WHEN {c} > 89 THEN 90 ELSE {c} END"))
            }
            Rule::FreeText => Some(text::scrub_sql(&format!("CAST({c} AS VARCHAR)"))),
        };
        if let Some(expr) = expr {
            select.push(format!("{expr} AS {alias}"));
        }
    }
    if select.is_empty() {
        return Err(format!("every column of `{table}` is dropped; leave the table out of the profile instead"));
    }
    Ok(TablePlan {
        table: table.clone(),
        rows: info.rows,
        bytes: info.bytes,
        select: format!("SELECT {} FROM {t} AS t {}", select.join(", "), joins.join(" ")),
    })
}

/// Fills `deid_ids` on `conn` (where the version is mounted as schema `d`) with the pseudonym
/// and date offset of every id the plan's `SELECT`s look up; returns how many ids there are.
pub fn prepare(conn: &Connection, plan: &Plan, key: &Key) -> Result<u64, DeidError> {
    // In the session's own in-memory database: it goes when the session does.
    conn.execute_batch("CREATE OR REPLACE TABLE deid_ids (value VARCHAR, pseudonym VARCHAR, shift INTEGER)")?;
    if plan.ids.is_empty() {
        return Ok(0);
    }
    let distinct = plan
        .ids
        .iter()
        // Each id once (the joins would repeat a row per duplicate), even from a single column.
        .map(|(t, c)| format!("SELECT DISTINCT CAST({c} AS VARCHAR) AS v FROM {t} WHERE {c} IS NOT NULL"))
        .collect::<Vec<_>>()
        .join(" UNION ");
    let mut stmt = conn.prepare(&distinct)?;
    let values: Vec<String> = stmt.query_map([], |r| r.get(0))?.collect::<Result<_, _>>()?;
    let mut appender = conn.appender("deid_ids")?;
    for value in &values {
        appender.append_row(duckdb::params![value, key.pseudonym(value), key.shift_days(value)])?;
    }
    appender.flush()?;
    Ok(values.len() as u64)
}

/// An export ready to write: each table's `SELECT`, over the session that runs them.
pub struct Export {
    /// The engine with the version mounted and, for a profile, its pseudonyms in place.
    pub session: Session,
    /// The tables to write.
    pub tables: Vec<TablePlan>,
    /// Tables of the version the profile does not name (not exported).
    pub left_out: Vec<String>,
    /// What the audit log says of the profile: `profile NAME (sha256 ...)` or `profile full`.
    pub profile: String,
    /// The profile's text, to ship with the files; `None` for [`FULL`].
    pub profile_text: Option<String>,
}

/// Prepares the export of `version` (or of its table `only`) under `source`: [`FULL`] selects
/// every column as stored; a profile file is read, checked with [`plan`] and its pseudonyms
/// filled with [`prepare`] under the profile's key in the store.
pub fn prepare_export(
    store: &Store,
    version: &ResolvedVersion,
    source: &ProfileSource,
    only: Option<&str>,
) -> Result<Export, DeidError> {
    prepare_narrowed_export(store, version, source, only, None)
}

/// Changes the version's tables, mounted in schema `d` of a session, before they are exported
/// (a registry's saved cohort narrows its participant and visits tables).
pub type Narrow<'a> = &'a dyn Fn(&mut Session) -> Result<(), DeidError>;

/// [`prepare_export`] of the tables as `narrow` leaves them in schema `d` (row counts are then
/// counted again).
pub fn prepare_narrowed_export(
    store: &Store,
    version: &ResolvedVersion,
    source: &ProfileSource,
    only: Option<&str>,
    narrow: Option<Narrow<'_>>,
) -> Result<Export, DeidError> {
    if let Some(table) = only
        && version.table(table).is_none()
    {
        return Err(StoreError::TableNotFound {
            dataset: version.label(),
            table: table.into(),
            available: version.tables.iter().map(|t| t.name.clone()).collect(),
        }
        .into());
    }
    let mut session = Session::new(store)?;
    if let Some(narrow) = narrow {
        session.mount(store, version, "d")?;
        narrow(&mut session)?;
    }
    let mut export = match source {
        ProfileSource::Full => {
            let tables = version
                .tables
                .iter()
                .filter(|t| only.is_none_or(|o| o == t.name))
                .map(|t| TablePlan {
                    table: t.name.clone(),
                    rows: t.rows,
                    bytes: t.bytes,
                    select: match narrow {
                        Some(_) => format!("SELECT * FROM d.{}", ident(&t.name)),
                        None => format!("SELECT * FROM {}", table_source(store, t)),
                    },
                })
                .collect();
            Export {
                session,
                tables,
                left_out: Vec::new(),
                profile: "profile full (as stored)".into(),
                profile_text: None,
            }
        }
        ProfileSource::File { name, path } => {
            let (profile, text) = ExportProfile::read(path)?;
            let plan = plan(version, &profile, path, only)?;
            if narrow.is_none() {
                session.mount(store, version, "d")?;
            }
            prepare(session.connection(), &plan, &Key::for_profile(&store.layout().export_keys_dir(), name)?)?;
            let digest = cohort_store::hash::sha256_parts([text.as_str()]);
            Export {
                session,
                tables: plan.tables,
                left_out: plan.left_out,
                profile: format!("profile {name} (sha256 {})", &digest[..16]),
                profile_text: Some(text),
            }
        }
    };
    if narrow.is_some() {
        for t in &mut export.tables {
            let rows: i64 = export
                .session
                .connection()
                .query_row(&format!("SELECT count(*) FROM ({})", t.select), [], |r| r.get(0))
                .map_err(|e| StoreError::duckdb("counting the rows to export", e))?;
            t.rows = rows.max(0) as u64;
        }
    }
    Ok(export)
}
