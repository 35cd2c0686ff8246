//! The catalog: what datasets, versions, tables, files and columns exist.
//!
//! All catalog SQL lives here. Timestamps are stored as UTC `TIMESTAMP`s; JSON values (tags,
//! sources, provenance, schemas) as `VARCHAR` holding JSON, so that the catalog opens in any DuckDB
//! without extensions. The format evolves through [`MIGRATIONS`], recorded in `schema_migrations`.

use duckdb::{Connection, OptionalExt, params};
use jiff::Timestamp;

use crate::error::{Result, StoreError};
use crate::model::{
    ColumnInfo, DatasetKind, DatasetSummary, FileInfo, ImportRecord, KeptProfile, RelationshipDecision, SavedCohort,
    SourceFile, TableInfo, VersionInfo, VersionStatus,
};
use crate::name::DatasetName;

/// Catalog migrations, applied in order; each runs once, in its own transaction.
pub const MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "datasets, versions, tables, files and columns",
        r#"
    CREATE TABLE datasets (
        id              BIGINT PRIMARY KEY,
        name            VARCHAR NOT NULL UNIQUE,
        kind            VARCHAR NOT NULL,
        description     VARCHAR,
        tags            VARCHAR NOT NULL DEFAULT '[]',
        current_version INTEGER,
        created_at      TIMESTAMP NOT NULL,
        updated_at      TIMESTAMP NOT NULL
    );
    CREATE TABLE versions (
        dataset_id   BIGINT NOT NULL,
        version      INTEGER NOT NULL,
        created_at   TIMESTAMP NOT NULL,
        created_by   VARCHAR NOT NULL,
        source_files VARCHAR NOT NULL,
        content_hash VARCHAR NOT NULL,
        provenance   VARCHAR NOT NULL,
        status       VARCHAR NOT NULL,
        row_count    BIGINT NOT NULL,
        bytes        BIGINT NOT NULL,
        path         VARCHAR NOT NULL,
        PRIMARY KEY (dataset_id, version)
    );
    CREATE TABLE dataset_tables (
        dataset_id   BIGINT NOT NULL,
        version      INTEGER NOT NULL,
        name         VARCHAR NOT NULL,
        row_count    BIGINT NOT NULL,
        bytes        BIGINT NOT NULL,
        sha256       VARCHAR NOT NULL,
        path         VARCHAR NOT NULL,
        arrow_schema VARCHAR NOT NULL,
        PRIMARY KEY (dataset_id, version, name)
    );
    CREATE TABLE table_files (
        dataset_id BIGINT NOT NULL,
        version    INTEGER NOT NULL,
        table_name VARCHAR NOT NULL,
        part       INTEGER NOT NULL,
        path       VARCHAR NOT NULL,
        sha256     VARCHAR NOT NULL,
        row_count  BIGINT NOT NULL,
        bytes      BIGINT NOT NULL,
        PRIMARY KEY (dataset_id, version, table_name, part)
    );
    CREATE TABLE table_columns (
        dataset_id BIGINT NOT NULL,
        version    INTEGER NOT NULL,
        table_name VARCHAR NOT NULL,
        ordinal    INTEGER NOT NULL,
        name       VARCHAR NOT NULL,
        sql_type   VARCHAR NOT NULL,
        arrow_type VARCHAR NOT NULL,
        nullable   BOOLEAN NOT NULL,
        role       VARCHAR,
        label      VARCHAR,
        null_count BIGINT,
        min_value  VARCHAR,
        max_value  VARCHAR,
        PRIMARY KEY (dataset_id, version, table_name, ordinal)
    );
    "#,
    ),
    (
        2,
        "column code lists and missing codes; relationship decisions",
        r#"
    ALTER TABLE table_columns ADD COLUMN value_labels VARCHAR;
    ALTER TABLE table_columns ADD COLUMN missing_codes VARCHAR;
    CREATE TABLE relationship_decisions (
        dataset_id    BIGINT NOT NULL,
        child_table   VARCHAR NOT NULL,
        child_column  VARCHAR NOT NULL,
        parent_table  VARCHAR NOT NULL,
        parent_column VARCHAR NOT NULL,
        decision      VARCHAR NOT NULL,
        decided_by    VARCHAR NOT NULL,
        decided_at    TIMESTAMP NOT NULL,
        PRIMARY KEY (dataset_id, child_table, child_column, parent_table, parent_column)
    );
    "#,
    ),
    (
        3,
        "import journal",
        r#"
    CREATE TABLE import_journal (
        source_sha256 VARCHAR NOT NULL,
        source        VARCHAR NOT NULL,
        shape         VARCHAR NOT NULL,
        outcome       VARCHAR NOT NULL,
        dataset       VARCHAR,
        version       INTEGER,
        detail        VARCHAR,
        recorded_by   VARCHAR NOT NULL,
        recorded_at   TIMESTAMP NOT NULL
    );
    "#,
    ),
    (
        4,
        "datasets whose views datasets.duckdb has yet to catch up with",
        r#"
    CREATE TABLE views_pending (
        seq     BIGINT NOT NULL,
        dataset VARCHAR NOT NULL
    );
    "#,
    ),
    (
        5,
        "registry profiles and saved cohorts",
        r#"
    CREATE TABLE registry_profiles (
        dataset_id BIGINT NOT NULL,
        seq        BIGINT NOT NULL,
        version    INTEGER NOT NULL,
        profile    VARCHAR NOT NULL,
        set_by     VARCHAR NOT NULL,
        set_at     TIMESTAMP NOT NULL,
        PRIMARY KEY (dataset_id, seq)
    );
    CREATE TABLE saved_cohorts (
        dataset_id BIGINT NOT NULL,
        name       VARCHAR NOT NULL,
        filters    VARCHAR NOT NULL,
        version    INTEGER NOT NULL,
        made_by    VARCHAR NOT NULL,
        made_at    TIMESTAMP NOT NULL,
        PRIMARY KEY (dataset_id, name)
    );
    "#,
    ),
];

/// The newest catalog format this build writes.
pub fn latest_schema_version() -> i64 {
    MIGRATIONS.last().map(|m| m.0).unwrap_or(0)
}

fn db(context: &'static str) -> impl Fn(duckdb::Error) -> StoreError {
    move |e| StoreError::duckdb(context, e)
}

fn micros(t: Timestamp) -> i64 {
    t.as_microsecond()
}

fn ts(us: i64) -> Timestamp {
    Timestamp::from_microsecond(us).unwrap_or(Timestamp::UNIX_EPOCH)
}

/// The catalog format version of an open catalog (0 for an empty database).
pub fn schema_version(conn: &Connection) -> Result<i64> {
    let exists: bool = conn
        .query_row(
            "SELECT count(*) > 0 FROM duckdb_tables()
             WHERE table_name = 'schema_migrations' AND schema_name = 'main' AND database_name = current_database()",
            [],
            |r| r.get(0),
        )
        .map_err(db("reading the catalog format"))?;
    if !exists {
        return Ok(0);
    }
    conn.query_row("SELECT coalesce(max(version), 0) FROM schema_migrations", [], |r| r.get(0))
        .map_err(db("reading the catalog format"))
}

/// Applies every pending migration. Needs a read-write connection under the exclusive lock.
pub fn migrate(conn: &Connection) -> Result<()> {
    let current = schema_version(conn)?;
    if current > latest_schema_version() {
        return Err(StoreError::NewerCatalog { found: current, supported: latest_schema_version() });
    }
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
            version INTEGER PRIMARY KEY, description VARCHAR NOT NULL, applied_at TIMESTAMP NOT NULL)",
    )
    .map_err(db("creating schema_migrations"))?;
    for (version, description, sql) in MIGRATIONS.iter().filter(|m| m.0 > current) {
        let run = || -> duckdb::Result<()> {
            conn.execute_batch("BEGIN TRANSACTION")?;
            conn.execute_batch(sql)?;
            conn.execute(
                "INSERT INTO schema_migrations VALUES (?, ?, make_timestamp(?))",
                params![version, description, micros(Timestamp::now())],
            )?;
            conn.execute_batch("COMMIT")
        };
        if let Err(e) = run() {
            let _ = conn.execute_batch("ROLLBACK");
            return Err(StoreError::duckdb(format!("applying catalog migration {version} ({description})"), e));
        }
    }
    Ok(())
}

/// A dataset's catalog row.
#[derive(Debug, Clone)]
pub struct DatasetRow {
    /// Internal id.
    pub id: i64,
    /// Name.
    pub name: String,
    /// Current version.
    pub current_version: Option<u32>,
}

const SUMMARY_SQL: &str = r#"
    SELECT d.id, d.name, d.kind, d.description, d.tags, d.current_version,
           epoch_us(d.created_at), epoch_us(d.updated_at),
           (SELECT count(*) FROM versions v WHERE v.dataset_id = d.id),
           (SELECT count(*) FROM dataset_tables t WHERE t.dataset_id = d.id AND t.version = d.current_version),
           coalesce(cv.row_count, 0), coalesce(cv.bytes, 0)
    FROM datasets d
    LEFT JOIN versions cv ON cv.dataset_id = d.id AND cv.version = d.current_version
"#;

fn summary_from_row(r: &duckdb::Row<'_>) -> duckdb::Result<DatasetSummary> {
    let name: String = r.get(1)?;
    let kind: String = r.get(2)?;
    let tags: String = r.get(4)?;
    Ok(DatasetSummary {
        id: r.get(0)?,
        name: DatasetName::from_catalog(name),
        kind: kind.parse().unwrap_or(DatasetKind::Upload),
        description: r.get(3)?,
        tags: serde_json::from_str(&tags).unwrap_or_default(),
        current_version: r.get::<_, Option<i32>>(5)?.map(|v| v as u32),
        created_at: ts(r.get(6)?),
        updated_at: ts(r.get(7)?),
        versions: r.get::<_, i64>(8)? as u32,
        tables: r.get::<_, i64>(9)? as u32,
        rows: r.get::<_, i64>(10)? as u64,
        bytes: r.get::<_, i64>(11)? as u64,
    })
}

/// Every dataset, by name.
pub fn list_datasets(conn: &Connection) -> Result<Vec<DatasetSummary>> {
    let mut stmt = conn.prepare(&format!("{SUMMARY_SQL} ORDER BY d.name")).map_err(db("listing datasets"))?;
    let rows = stmt.query_map([], summary_from_row).map_err(db("listing datasets"))?;
    rows.collect::<duckdb::Result<Vec<_>>>().map_err(db("listing datasets"))
}

/// One dataset's summary.
pub fn dataset_summary(conn: &Connection, id: i64) -> Result<DatasetSummary> {
    query_row_cached(conn, &format!("{SUMMARY_SQL} WHERE d.id = ?"), [id], summary_from_row)
        .map_err(db("reading a dataset"))
}

/// Finds a dataset by name.
pub fn find_dataset(conn: &Connection, name: &str) -> Result<Option<DatasetRow>> {
    query_row_cached(conn, "SELECT id, name, current_version FROM datasets WHERE name = ?", [name], |r| {
        Ok(DatasetRow {
            id: r.get(0)?,
            name: r.get(1)?,
            current_version: r.get::<_, Option<i32>>(2)?.map(|v| v as u32),
        })
    })
    .optional()
    .map_err(db("looking up a dataset"))
}

/// Every dataset name (for "did you mean" hints).
pub fn dataset_names(conn: &Connection) -> Result<Vec<String>> {
    let mut stmt = conn.prepare("SELECT name FROM datasets ORDER BY name").map_err(db("listing names"))?;
    let rows = stmt.query_map([], |r| r.get(0)).map_err(db("listing names"))?;
    rows.collect::<duckdb::Result<Vec<String>>>().map_err(db("listing names"))
}

/// Every version number of a dataset with its status (what checking a reference needs, without
/// reading each version's provenance).
pub fn version_statuses(conn: &Connection, dataset_id: i64) -> Result<Vec<(u32, VersionStatus)>> {
    let ctx = "listing versions";
    let mut stmt = conn.prepare_cached("SELECT version, status FROM versions WHERE dataset_id = ?").map_err(db(ctx))?;
    let rows = stmt
        .query_map([dataset_id], |r| Ok((r.get::<_, i32>(0)? as u32, VersionStatus::parse(&r.get::<_, String>(1)?))))
        .map_err(db(ctx))?;
    rows.collect::<duckdb::Result<_>>().map_err(db(ctx))
}

/// A dataset found by name: its row, its kind, and every version's number, status and content
/// hash (what resolving a reference to it, or committing to it, needs).
#[derive(Debug, Clone)]
pub struct NamedDataset {
    /// Its row.
    pub row: DatasetRow,
    /// Its kind.
    pub kind: DatasetKind,
    /// `(version, status, content hash)` of each version, in no particular order.
    pub versions: Vec<(u32, VersionStatus, String)>,
}

impl NamedDataset {
    /// `(version, status)` of each version.
    pub fn statuses(&self) -> Vec<(u32, VersionStatus)> {
        self.versions.iter().map(|(v, s, _)| (*v, *s)).collect()
    }
}

/// The datasets among `names` that exist, by name, in one query however many there are (a batch
/// of commits, or of references to resolve).
pub fn datasets_named(conn: &Connection, names: &[&str]) -> Result<std::collections::HashMap<String, NamedDataset>> {
    let ctx = "looking up datasets";
    let mut out: std::collections::HashMap<String, NamedDataset> = Default::default();
    if names.is_empty() {
        return Ok(out);
    }
    let mut stmt = conn
        .prepare(&format!(
            "SELECT d.id, d.name, d.current_version, d.kind, v.version, v.status, v.content_hash
             FROM datasets d LEFT JOIN versions v ON v.dataset_id = d.id WHERE d.name IN ({})",
            sql_list(names)
        ))
        .map_err(db(ctx))?;
    let rows = stmt
        .query_map([], |r| {
            let kind: String = r.get(3)?;
            Ok((
                DatasetRow {
                    id: r.get(0)?,
                    name: r.get(1)?,
                    current_version: r.get::<_, Option<i32>>(2)?.map(|v| v as u32),
                },
                kind.parse().unwrap_or(DatasetKind::Upload),
                r.get::<_, Option<i32>>(4)?.map(|v| v as u32),
                r.get::<_, Option<String>>(5)?,
                r.get::<_, Option<String>>(6)?,
            ))
        })
        .map_err(db(ctx))?;
    for row in rows {
        let (row, kind, version, status, hash) = row.map_err(db(ctx))?;
        let entry = out.entry(row.name.clone()).or_insert_with(|| NamedDataset { row, kind, versions: Vec::new() });
        if let (Some(v), Some(s), Some(h)) = (version, status, hash) {
            entry.versions.push((v, VersionStatus::parse(&s), h));
        }
    }
    Ok(out)
}

/// `names` as a list of SQL string literals, for `IN (...)` or `[...]` (never empty: an empty
/// list is `NULL`, which matches nothing).
fn sql_list(names: &[&str]) -> String {
    if names.is_empty() {
        return "NULL".into();
    }
    names.iter().map(|n| crate::name::quote_literal(n)).collect::<Vec<_>>().join(", ")
}

/// Every version of a dataset, newest first.
pub fn versions(conn: &Connection, dataset_id: i64) -> Result<Vec<VersionInfo>> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT v.version, epoch_us(v.created_at), v.created_by, v.source_files, v.content_hash, v.provenance,
                    v.status, v.row_count, v.bytes, v.path, d.current_version = v.version
             FROM versions v JOIN datasets d ON d.id = v.dataset_id
             WHERE v.dataset_id = ? ORDER BY v.version DESC",
        )
        .map_err(db("listing versions"))?;
    let rows = stmt
        .query_map([dataset_id], |r| {
            let sources: String = r.get(3)?;
            let provenance: String = r.get(5)?;
            let status: String = r.get(6)?;
            Ok(VersionInfo {
                version: r.get::<_, i32>(0)? as u32,
                created_at: ts(r.get(1)?),
                created_by: r.get(2)?,
                sources: serde_json::from_str(&sources).unwrap_or_default(),
                content_hash: r.get(4)?,
                provenance: serde_json::from_str(&provenance).unwrap_or(serde_json::Value::Null),
                status: VersionStatus::parse(&status),
                rows: r.get::<_, i64>(7)? as u64,
                bytes: r.get::<_, i64>(8)? as u64,
                path: r.get(9)?,
                is_current: r.get::<_, Option<bool>>(10)?.unwrap_or(false),
            })
        })
        .map_err(db("listing versions"))?;
    rows.collect::<duckdb::Result<Vec<_>>>().map_err(db("listing versions"))
}

/// For `datasets.duckdb`: the summaries, versions (newest first) and current tables' files (in
/// part order) of the datasets named `names`, or of every dataset when `names` is `None`, in three
/// queries however many datasets there are (a query each per dataset cost milliseconds apiece).
pub fn views_rows(conn: &Connection, names: Option<&[&str]>) -> Result<ViewsRows> {
    let ctx = "reading the catalog for datasets.duckdb";
    let filter = |column: &str| match names {
        Some(names) => format!("WHERE {column} IN ({})", sql_list(names)),
        None => String::new(),
    };
    let mut stmt = conn.prepare(&format!("{SUMMARY_SQL} {} ORDER BY d.name", filter("d.name"))).map_err(db(ctx))?;
    let summaries =
        stmt.query_map([], summary_from_row).map_err(db(ctx))?.collect::<duckdb::Result<Vec<_>>>().map_err(db(ctx))?;
    let mut stmt = conn
        .prepare(&format!(
            "SELECT d.name, v.version, epoch_us(v.created_at), v.created_by, v.status, v.row_count, v.content_hash,
                    v.provenance
             FROM versions v JOIN datasets d ON d.id = v.dataset_id {} ORDER BY d.name, v.version DESC",
            filter("d.name")
        ))
        .map_err(db(ctx))?;
    let versions = stmt
        .query_map([], |r| {
            let status: String = r.get(4)?;
            Ok(ViewsVersion {
                dataset: r.get(0)?,
                version: r.get::<_, i32>(1)? as u32,
                created_at: ts(r.get(2)?),
                created_by: r.get(3)?,
                status: VersionStatus::parse(&status),
                rows: r.get::<_, i64>(5)? as u64,
                content_hash: r.get(6)?,
                provenance: r.get(7)?,
            })
        })
        .map_err(db(ctx))?
        .collect::<duckdb::Result<Vec<_>>>()
        .map_err(db(ctx))?;
    let mut stmt = conn
        .prepare(&format!(
            "SELECT d.name, f.table_name, list(f.path ORDER BY f.part)
             FROM table_files f JOIN datasets d ON d.id = f.dataset_id AND f.version = d.current_version {}
             GROUP BY d.name, f.table_name ORDER BY d.name, f.table_name",
            filter("d.name")
        ))
        .map_err(db(ctx))?;
    let tables = stmt
        .query_map([], |r| {
            let paths: duckdb::types::Value = r.get(2)?;
            let paths = match paths {
                duckdb::types::Value::List(items) => items
                    .into_iter()
                    .filter_map(|v| match v {
                        duckdb::types::Value::Text(t) => Some(t),
                        _ => None,
                    })
                    .collect(),
                _ => Vec::new(),
            };
            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, paths))
        })
        .map_err(db(ctx))?
        .collect::<duckdb::Result<Vec<_>>>()
        .map_err(db(ctx))?;
    Ok(ViewsRows { summaries, versions, tables })
}

/// What [`views_rows`] reads.
#[derive(Debug, Default)]
pub struct ViewsRows {
    /// The datasets.
    pub summaries: Vec<DatasetSummary>,
    /// Their versions, by dataset name and newest first.
    pub versions: Vec<ViewsVersion>,
    /// `(dataset, table, file paths)` of each table of each current version.
    pub tables: Vec<(String, String, Vec<String>)>,
}

/// One version, as `datasets.duckdb` lists it.
#[derive(Debug)]
pub struct ViewsVersion {
    /// The dataset's name.
    pub dataset: String,
    /// The version.
    pub version: u32,
    /// When it was made.
    pub created_at: Timestamp,
    /// Who made it.
    pub created_by: String,
    /// Its status.
    pub status: VersionStatus,
    /// Its rows.
    pub rows: u64,
    /// Its content hash.
    pub content_hash: String,
    /// Its provenance, as JSON text.
    pub provenance: String,
}

/// A version's tables, with their files and columns, in name order.
pub fn tables(conn: &Connection, dataset_id: i64, version: u32) -> Result<Vec<TableInfo>> {
    Ok(tables_of(conn, &[(dataset_id, version)])?.remove(&(dataset_id, version)).unwrap_or_default())
}

/// [`tables`] of many versions at once, by `(dataset_id, version)`: three queries however many
/// versions (a batch of new versions is verified from the store in one read).
pub fn tables_of(
    conn: &Connection,
    versions: &[(i64, u32)],
) -> Result<std::collections::HashMap<(i64, u32), Vec<TableInfo>>> {
    let ctx = "reading versions' tables";
    let mut out: std::collections::HashMap<(i64, u32), Vec<TableInfo>> = Default::default();
    if versions.is_empty() {
        return Ok(out);
    }
    let filter = match versions {
        [(id, v)] => format!("dataset_id = {id} AND version = {v}"),
        many => {
            let list: Vec<String> = many.iter().map(|(id, v)| format!("({id}, {v})")).collect();
            format!("(dataset_id, version) IN ({})", list.join(", "))
        }
    };
    let mut stmt = conn
        .prepare(&format!(
            "SELECT dataset_id, version, name, row_count, bytes, sha256, path, arrow_schema FROM dataset_tables
             WHERE {filter} ORDER BY dataset_id, version, name"
        ))
        .map_err(db(ctx))?;
    let rows = stmt
        .query_map([], |r| {
            let schema: String = r.get(7)?;
            Ok((
                (r.get::<_, i64>(0)?, r.get::<_, i32>(1)? as u32),
                TableInfo {
                    name: r.get(2)?,
                    rows: r.get::<_, i64>(3)? as u64,
                    bytes: r.get::<_, i64>(4)? as u64,
                    sha256: r.get(5)?,
                    path: r.get(6)?,
                    arrow_schema: serde_json::from_str(&schema).unwrap_or(serde_json::Value::Null),
                    files: Vec::new(),
                    columns: Vec::new(),
                },
            ))
        })
        .map_err(db(ctx))?;
    for row in rows {
        let (key, table) = row.map_err(db(ctx))?;
        out.entry(key).or_default().push(table);
    }
    let mut files = conn
        .prepare(&format!(
            "SELECT dataset_id, version, table_name, path, sha256, row_count, bytes FROM table_files
             WHERE {filter} ORDER BY dataset_id, version, table_name, part"
        ))
        .map_err(db(ctx))?;
    let file_rows = files
        .query_map([], |r| {
            Ok((
                (r.get::<_, i64>(0)?, r.get::<_, i32>(1)? as u32),
                r.get::<_, String>(2)?,
                FileInfo {
                    path: r.get(3)?,
                    sha256: r.get(4)?,
                    rows: r.get::<_, i64>(5)? as u64,
                    bytes: r.get::<_, i64>(6)? as u64,
                },
            ))
        })
        .map_err(db(ctx))?;
    for row in file_rows {
        let (key, table, file) = row.map_err(db(ctx))?;
        if let Some(t) = out.get_mut(&key).and_then(|ts| ts.iter_mut().find(|t| t.name == table)) {
            t.files.push(file);
        }
    }
    let mut columns = conn
        .prepare(&format!(
            "SELECT dataset_id, version, table_name, ordinal, name, sql_type, arrow_type, nullable, role, label,
                    null_count, min_value, max_value, value_labels, missing_codes
             FROM table_columns WHERE {filter} ORDER BY dataset_id, version, table_name, ordinal"
        ))
        .map_err(db(ctx))?;
    let column_rows = columns
        .query_map([], |r| {
            Ok((
                (r.get::<_, i64>(0)?, r.get::<_, i32>(1)? as u32),
                r.get::<_, String>(2)?,
                ColumnInfo {
                    ordinal: r.get::<_, i32>(3)? as u32,
                    name: r.get(4)?,
                    sql_type: r.get(5)?,
                    arrow_type: r.get(6)?,
                    nullable: r.get(7)?,
                    role: r.get(8)?,
                    label: r.get(9)?,
                    null_count: r.get::<_, Option<i64>>(10)?.map(|n| n as u64),
                    min: r.get(11)?,
                    max: r.get(12)?,
                    value_labels: r.get::<_, Option<String>>(13)?.and_then(|j| serde_json::from_str(&j).ok()),
                    missing: r.get::<_, Option<String>>(14)?.and_then(|j| serde_json::from_str(&j).ok()),
                },
            ))
        })
        .map_err(db(ctx))?;
    for row in column_rows {
        let (key, table, column) = row.map_err(db(ctx))?;
        if let Some(t) = out.get_mut(&key).and_then(|ts| ts.iter_mut().find(|t| t.name == table)) {
            t.columns.push(column);
        }
    }
    Ok(out)
}

/// Every version directory the catalog knows, with its status: `(dataset_id, version, status)`.
pub fn version_dirs(conn: &Connection) -> Result<Vec<(i64, u32, VersionStatus)>> {
    let mut stmt = conn.prepare("SELECT dataset_id, version, status FROM versions").map_err(db("listing versions"))?;
    let rows = stmt
        .query_map([], |r| {
            let status: String = r.get(2)?;
            Ok((r.get(0)?, r.get::<_, i32>(1)? as u32, VersionStatus::parse(&status)))
        })
        .map_err(db("listing versions"))?;
    rows.collect::<duckdb::Result<Vec<_>>>().map_err(db("listing versions"))
}

/// `(dataset, version, content hash)` of every active version, in one query.
pub fn active_content_hashes(conn: &Connection) -> Result<Vec<(String, u32, String)>> {
    let ctx = "listing versions' content";
    let mut stmt = conn
        .prepare(
            "SELECT d.name, v.version, v.content_hash FROM versions v JOIN datasets d ON d.id = v.dataset_id
             WHERE v.status = 'active'",
        )
        .map_err(db(ctx))?;
    let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get::<_, i32>(1)? as u32, r.get(2)?))).map_err(db(ctx))?;
    rows.collect::<duckdb::Result<Vec<_>>>().map_err(db(ctx))
}

/// The next free dataset id (ids are never reused: datasets rows are never deleted).
pub fn next_dataset_id(conn: &Connection) -> Result<i64> {
    query_row_cached(conn, "SELECT coalesce(max(id), 0) + 1 FROM datasets", [], |r| r.get(0))
        .map_err(db("allocating a dataset id"))
}

/// A new version, ready to be written to the catalog.
#[derive(Debug)]
pub struct NewVersion<'a> {
    /// Dataset id.
    pub dataset_id: i64,
    /// Version number.
    pub version: u32,
    /// Who or what made it.
    pub created_by: &'a str,
    /// Source files.
    pub sources: &'a [SourceFile],
    /// Content hash.
    pub content_hash: &'a str,
    /// Provenance JSON.
    pub provenance: &'a serde_json::Value,
    /// Total rows.
    pub rows: u64,
    /// Total bytes.
    pub bytes: u64,
    /// Directory relative to the root.
    pub path: &'a str,
    /// Tables, with files and columns.
    pub tables: &'a [TableInfo],
}

/// Updates a dataset's description and tags (when given).
pub fn update_dataset_info(
    conn: &Connection,
    id: i64,
    description: Option<&str>,
    tags: Option<&[String]>,
) -> Result<()> {
    if let Some(d) = description {
        conn.execute("UPDATE datasets SET description = ? WHERE id = ?", params![d, id])
            .map_err(db("updating a description"))?;
    }
    if let Some(t) = tags {
        conn.execute(
            "UPDATE datasets SET tags = ? WHERE id = ?",
            params![serde_json::to_string(t).expect("tags serialise"), id],
        )
        .map_err(db("updating tags"))?;
    }
    Ok(())
}

/// `query_row` on the connection's statement cache: parsing and planning a catalog query cost
/// milliseconds, and a batch commit asks the same few questions of every version.
fn query_row_cached<T>(
    conn: &Connection,
    sql: &str,
    params: impl duckdb::Params,
    f: impl FnOnce(&duckdb::Row<'_>) -> duckdb::Result<T>,
) -> duckdb::Result<T> {
    conn.prepare_cached(sql)?.query_row(params, f)
}

/// A dataset a batch of commits creates, with the version it ends at.
#[derive(Debug)]
pub struct NewDataset<'a> {
    /// Internal id.
    pub id: i64,
    /// Name.
    pub name: &'a str,
    /// Kind.
    pub kind: DatasetKind,
    /// Description.
    pub description: Option<&'a str>,
    /// Tags.
    pub tags: &'a [String],
    /// Its current version once the batch is in.
    pub current_version: u32,
}

/// A change a batch of commits makes to a dataset that existed before it.
#[derive(Debug)]
pub struct DatasetChange<'a> {
    /// Internal id.
    pub id: i64,
    /// A new description, if given.
    pub description: Option<&'a str>,
    /// New tags, if given.
    pub tags: Option<&'a [String]>,
    /// Its current version once the batch is in.
    pub current_version: u32,
}

/// Everything a batch of commits writes to the catalog.
#[derive(Debug, Default)]
pub struct CommitRecords<'a> {
    /// Datasets it creates.
    pub datasets: Vec<NewDataset<'a>>,
    /// Datasets it adds versions to.
    pub changes: Vec<DatasetChange<'a>>,
    /// The versions, with their tables, files and columns.
    pub versions: Vec<NewVersion<'a>>,
    /// Import journal entries.
    pub imports: Vec<ImportRecord>,
    /// Every dataset whose views `datasets.duckdb` must update.
    pub touched: Vec<&'a str>,
}

fn timestamp(t: Timestamp) -> duckdb::types::Value {
    duckdb::types::Value::Timestamp(duckdb::types::TimeUnit::Microsecond, micros(t))
}

/// Writes a batch of commits in one transaction, each catalog table through one appender: an
/// INSERT per row cost about a millisecond each (a version of three tables made over a dozen),
/// and a transaction per version its own write-ahead log flush.
pub fn record_commits(conn: &Connection, records: &CommitRecords<'_>, now: Timestamp) -> Result<()> {
    let ctx = "recording new versions";
    transaction(conn, |c| {
        let mut datasets = c.appender("datasets").map_err(db(ctx))?;
        for d in &records.datasets {
            datasets
                .append_row(params![
                    d.id,
                    d.name,
                    d.kind.as_str(),
                    d.description,
                    serde_json::to_string(d.tags).expect("tags serialise"),
                    d.current_version,
                    timestamp(now),
                    timestamp(now)
                ])
                .map_err(db(ctx))?;
        }
        datasets.flush().map_err(db(ctx))?;
        drop(datasets);
        for change in &records.changes {
            update_dataset_info(c, change.id, change.description, change.tags)?;
            set_current(c, change.id, Some(change.current_version), now)?;
        }
        let mut versions = c.appender("versions").map_err(db(ctx))?;
        let mut tables = c.appender("dataset_tables").map_err(db(ctx))?;
        let mut files = c.appender("table_files").map_err(db(ctx))?;
        let mut columns = c.appender("table_columns").map_err(db(ctx))?;
        for v in &records.versions {
            versions
                .append_row(params![
                    v.dataset_id,
                    v.version,
                    timestamp(now),
                    v.created_by,
                    serde_json::to_string(v.sources).expect("sources serialise"),
                    v.content_hash,
                    v.provenance.to_string(),
                    "active",
                    v.rows as i64,
                    v.bytes as i64,
                    v.path
                ])
                .map_err(db(ctx))?;
            for t in v.tables {
                tables
                    .append_row(params![
                        v.dataset_id,
                        v.version,
                        t.name,
                        t.rows as i64,
                        t.bytes as i64,
                        t.sha256,
                        t.path,
                        t.arrow_schema.to_string()
                    ])
                    .map_err(db(ctx))?;
                for (part, f) in t.files.iter().enumerate() {
                    files
                        .append_row(params![
                            v.dataset_id,
                            v.version,
                            t.name,
                            part as i32,
                            f.path,
                            f.sha256,
                            f.rows as i64,
                            f.bytes as i64
                        ])
                        .map_err(db(ctx))?;
                }
                for col in &t.columns {
                    columns
                        .append_row(params![
                            v.dataset_id,
                            v.version,
                            t.name,
                            col.ordinal,
                            col.name,
                            col.sql_type,
                            col.arrow_type,
                            col.nullable,
                            col.role,
                            col.label,
                            col.null_count.map(|n| n as i64),
                            col.min,
                            col.max,
                            col.value_labels.as_ref().map(|v| serde_json::to_string(v).expect("labels serialise")),
                            col.missing.as_ref().map(|v| serde_json::to_string(v).expect("missing codes serialise"))
                        ])
                        .map_err(db(ctx))?;
                }
            }
        }
        for appender in [&mut versions, &mut tables, &mut files, &mut columns] {
            appender.flush().map_err(db(ctx))?;
        }
        drop((versions, tables, files, columns));
        append_imports(c, &records.imports)?;
        mark_views_stale(c, &records.touched)
    })
}

/// Points a dataset at a version (or at none).
pub fn set_current(conn: &Connection, dataset_id: i64, version: Option<u32>, now: Timestamp) -> Result<()> {
    conn.execute(
        "UPDATE datasets SET current_version = ?, updated_at = make_timestamp(?) WHERE id = ?",
        params![version, micros(now), dataset_id],
    )
    .map_err(db("moving the current version"))?;
    Ok(())
}

/// Sets a version's status.
pub fn set_status(conn: &Connection, dataset_id: i64, version: u32, status: VersionStatus) -> Result<()> {
    conn.execute(
        "UPDATE versions SET status = ? WHERE dataset_id = ? AND version = ?",
        params![status.as_str(), dataset_id, version],
    )
    .map_err(db("changing a version's status"))?;
    Ok(())
}

/// Records, in the caller's transaction, that `datasets.duckdb` must catch up with the datasets
/// `names` (a commit, rollback or expiry changed them): see [`crate::Store::sync_views`].
pub fn mark_views_stale(conn: &Connection, names: &[&str]) -> Result<()> {
    if names.is_empty() {
        return Ok(());
    }
    conn.execute_batch(&format!(
        "INSERT INTO views_pending SELECT (SELECT coalesce(max(seq), 0) + 1 FROM views_pending), unnest([{}])",
        sql_list(names)
    ))
    .map_err(db("recording the views to update"))
}

/// The datasets `datasets.duckdb` has yet to catch up with, and the newest mark among them (to
/// clear exactly those once done: a commit meanwhile adds a newer one). `None` when none waits.
pub fn views_pending(conn: &Connection) -> Result<Option<(i64, Vec<String>)>> {
    let ctx = "reading the views to update";
    let mut stmt = conn
        .prepare("SELECT DISTINCT dataset, max(seq) OVER () FROM views_pending ORDER BY dataset")
        .map_err(db(ctx))?;
    let rows = stmt
        .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))
        .map_err(db(ctx))?
        .collect::<duckdb::Result<Vec<_>>>()
        .map_err(db(ctx))?;
    let upto = rows.first().map(|(_, seq)| *seq);
    Ok(upto.map(|upto| (upto, rows.into_iter().map(|(name, _)| name).collect())))
}

/// Forgets the marks up to `upto`, once `datasets.duckdb` holds what they asked for.
pub fn clear_views_pending(conn: &Connection, upto: i64) -> Result<()> {
    conn.execute("DELETE FROM views_pending WHERE seq <= ?", params![upto])
        .map(|_| ())
        .map_err(db("clearing the views updated"))
}

/// Whether any dataset waits for `datasets.duckdb` to catch up. The catalog must be of format 4
/// or later (the table's; [`migrate`] adds it).
pub fn any_views_pending(conn: &Connection) -> Result<bool> {
    conn.query_row("SELECT count(*) > 0 FROM views_pending", [], |r| r.get(0))
        .map_err(db("reading the views to update"))
}

/// Runs `f` in a catalog transaction, rolling back if it fails.
pub fn transaction<T>(conn: &Connection, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
    conn.execute_batch("BEGIN TRANSACTION").map_err(db("starting a catalog transaction"))?;
    match f(conn) {
        Ok(v) => {
            conn.execute_batch("COMMIT").map_err(db("committing the catalog transaction"))?;
            Ok(v)
        }
        Err(e) => {
            let _ = conn.execute_batch("ROLLBACK");
            Err(e)
        }
    }
}

/// What users decided about a dataset's relationships, oldest first.
pub fn relationship_decisions(conn: &Connection, dataset_id: i64) -> Result<Vec<RelationshipDecision>> {
    let ctx = "reading relationship decisions";
    let mut stmt = conn
        .prepare(
            "SELECT child_table, child_column, parent_table, parent_column, decision, decided_by, epoch_us(decided_at)
             FROM relationship_decisions WHERE dataset_id = ? ORDER BY decided_at",
        )
        .map_err(db(ctx))?;
    let rows = stmt
        .query_map([dataset_id], |r| {
            Ok(RelationshipDecision {
                child_table: r.get(0)?,
                child_column: r.get(1)?,
                parent_table: r.get(2)?,
                parent_column: r.get(3)?,
                holds: r.get::<_, String>(4)? == "holds",
                decided_by: r.get(5)?,
                decided_at: ts(r.get(6)?),
            })
        })
        .map_err(db(ctx))?;
    rows.collect::<duckdb::Result<_>>().map_err(db(ctx))
}

/// Records (or replaces) a decision about one relationship.
pub fn record_relationship_decision(conn: &Connection, dataset_id: i64, d: &RelationshipDecision) -> Result<()> {
    conn.execute(
        "INSERT OR REPLACE INTO relationship_decisions VALUES (?, ?, ?, ?, ?, ?, ?, make_timestamp(?))",
        params![
            dataset_id,
            d.child_table,
            d.child_column,
            d.parent_table,
            d.parent_column,
            if d.holds { "holds" } else { "rejected" },
            d.decided_by,
            micros(d.decided_at)
        ],
    )
    .map_err(db("recording a relationship decision"))?;
    Ok(())
}

/// The registry profile kept last for a dataset, if any.
pub fn registry_profile(conn: &Connection, dataset_id: i64) -> Result<Option<KeptProfile>> {
    conn.query_row(
        "SELECT profile, version, set_by, epoch_us(set_at) FROM registry_profiles WHERE dataset_id = ?
         ORDER BY seq DESC LIMIT 1",
        [dataset_id],
        |r| {
            Ok(KeptProfile {
                text: r.get(0)?,
                version: r.get::<_, i32>(1)? as u32,
                set_by: r.get(2)?,
                set_at: ts(r.get(3)?),
            })
        },
    )
    .optional()
    .map_err(db("reading the registry profile"))
}

/// Keeps `profile` as the dataset's registry profile (earlier ones stay, as history).
pub fn keep_registry_profile(conn: &Connection, dataset_id: i64, profile: &KeptProfile) -> Result<()> {
    conn.execute(
        "INSERT INTO registry_profiles SELECT ?, coalesce(max(seq), 0) + 1, ?, ?, ?, make_timestamp(?)
         FROM registry_profiles WHERE dataset_id = ?",
        params![dataset_id, profile.version, profile.text, profile.set_by, micros(profile.set_at), dataset_id],
    )
    .map_err(db("keeping the registry profile"))?;
    Ok(())
}

/// The cohorts saved of a dataset, by name.
pub fn saved_cohorts(conn: &Connection, dataset_id: i64) -> Result<Vec<SavedCohort>> {
    let ctx = "reading saved cohorts";
    let mut stmt = conn
        .prepare(
            "SELECT name, filters, version, made_by, epoch_us(made_at) FROM saved_cohorts WHERE dataset_id = ?
             ORDER BY name",
        )
        .map_err(db(ctx))?;
    let rows = stmt
        .query_map([dataset_id], |r| {
            let filters: String = r.get(1)?;
            Ok(SavedCohort {
                name: r.get(0)?,
                filters: serde_json::from_str(&filters).unwrap_or_default(),
                version: r.get::<_, i32>(2)? as u32,
                made_by: r.get(3)?,
                made_at: ts(r.get(4)?),
            })
        })
        .map_err(db(ctx))?;
    rows.collect::<duckdb::Result<_>>().map_err(db(ctx))
}

/// Saves `cohort` (replacing one of the same name), or removes the one named so (`None`).
pub fn save_cohort(conn: &Connection, dataset_id: i64, name: &str, cohort: Option<&SavedCohort>) -> Result<()> {
    let ctx = "saving a cohort";
    conn.execute("DELETE FROM saved_cohorts WHERE dataset_id = ? AND name = ?", params![dataset_id, name])
        .map_err(db(ctx))?;
    if let Some(c) = cohort {
        let filters = serde_json::to_string(&c.filters).expect("filters serialise");
        conn.execute(
            "INSERT INTO saved_cohorts VALUES (?, ?, ?, ?, ?, make_timestamp(?))",
            params![dataset_id, c.name, filters, c.version, c.made_by, micros(c.made_at)],
        )
        .map_err(db(ctx))?;
    }
    Ok(())
}

/// Appends entries to the import journal, in the caller's transaction.
pub fn append_imports(conn: &Connection, entries: &[ImportRecord]) -> Result<()> {
    let ctx = "recording imports";
    let mut journal = conn.appender("import_journal").map_err(db(ctx))?;
    for r in entries {
        journal
            .append_row(params![
                r.source_sha256,
                r.source,
                r.shape,
                r.outcome,
                r.dataset,
                r.version,
                r.detail,
                r.recorded_by,
                timestamp(r.recorded_at)
            ])
            .map_err(db(ctx))?;
    }
    journal.flush().map_err(db(ctx))
}

/// The import journal, oldest entry first.
pub fn imports(conn: &Connection) -> Result<Vec<ImportRecord>> {
    let ctx = "reading the import journal";
    let mut stmt = conn
        .prepare(
            "SELECT source_sha256, source, shape, outcome, dataset, version, detail, recorded_by, epoch_us(recorded_at)
             FROM import_journal ORDER BY recorded_at, rowid",
        )
        .map_err(db(ctx))?;
    let rows = stmt
        .query_map([], |r| {
            Ok(ImportRecord {
                source_sha256: r.get(0)?,
                source: r.get(1)?,
                shape: r.get(2)?,
                outcome: r.get(3)?,
                dataset: r.get(4)?,
                version: r.get(5)?,
                detail: r.get(6)?,
                recorded_by: r.get(7)?,
                recorded_at: ts(r.get(8)?),
            })
        })
        .map_err(db(ctx))?;
    rows.collect::<duckdb::Result<_>>().map_err(db(ctx))
}
