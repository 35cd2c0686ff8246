//! The catalog's records, as the rest of the program sees them.

use std::fmt;
use std::str::FromStr;

use jiff::Timestamp;
use serde::Serialize;

use crate::name::DatasetName;

/// What produced a dataset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DatasetKind {
    /// Files a user ingested.
    Upload,
    /// Output of `cohort simulate`.
    Simulation,
    /// A synthetic-patient cohort (from `cohort migrate`).
    Cohort,
    /// A frozen copy of another dataset.
    Snapshot,
}

impl DatasetKind {
    /// The kind's name in the catalog.
    pub fn as_str(self) -> &'static str {
        match self {
            DatasetKind::Upload => "upload",
            DatasetKind::Simulation => "simulation",
            DatasetKind::Cohort => "cohort",
            DatasetKind::Snapshot => "snapshot",
        }
    }
}

impl fmt::Display for DatasetKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for DatasetKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s {
            "upload" => DatasetKind::Upload,
            "simulation" => DatasetKind::Simulation,
            "cohort" => DatasetKind::Cohort,
            "snapshot" => DatasetKind::Snapshot,
            other => return Err(format!("unknown dataset kind `{other}`")),
        })
    }
}

/// Whether a version's files can be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum VersionStatus {
    /// Committed and readable.
    Active,
    /// Removed by `cohort gc --keep`.
    Deleted,
    /// Moved aside by `cohort doctor --repair` because a file was damaged.
    Quarantined,
}

impl VersionStatus {
    /// The status's name in the catalog.
    pub fn as_str(self) -> &'static str {
        match self {
            VersionStatus::Active => "active",
            VersionStatus::Deleted => "deleted",
            VersionStatus::Quarantined => "quarantined",
        }
    }

    pub(crate) fn parse(s: &str) -> Self {
        match s {
            "deleted" => VersionStatus::Deleted,
            "quarantined" => VersionStatus::Quarantined,
            _ => VersionStatus::Active,
        }
    }
}

/// A source file a version was made from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct SourceFile {
    /// The path as the user gave it (made absolute).
    pub path: String,
    /// SHA-256 of its bytes, hex.
    pub sha256: String,
    /// Its size in bytes.
    pub bytes: u64,
    /// The table it became, if it maps to one table.
    pub table: Option<String>,
}

/// One row of `cohort list`.
#[derive(Debug, Clone, Serialize)]
pub struct DatasetSummary {
    /// Internal id (names the dataset's directory).
    pub id: i64,
    /// The dataset's name.
    pub name: DatasetName,
    /// What produced it.
    pub kind: DatasetKind,
    /// Free text.
    pub description: Option<String>,
    /// Labels.
    pub tags: Vec<String>,
    /// The version queries see, if any is readable.
    pub current_version: Option<u32>,
    /// Number of versions ever made.
    pub versions: u32,
    /// Tables in the current version.
    pub tables: u32,
    /// Rows in the current version, all tables together.
    pub rows: u64,
    /// Bytes of Parquet in the current version.
    pub bytes: u64,
    /// When the dataset was created.
    pub created_at: Timestamp,
    /// When its current pointer last changed.
    pub updated_at: Timestamp,
}

/// One version of a dataset.
#[derive(Debug, Clone, Serialize)]
pub struct VersionInfo {
    /// Version number, from 1.
    pub version: u32,
    /// When it was committed.
    pub created_at: Timestamp,
    /// Who or what made it.
    pub created_by: String,
    /// The files it was made from.
    pub sources: Vec<SourceFile>,
    /// Hash of its content (tables and file hashes); equal content, equal hash.
    pub content_hash: String,
    /// How it was made (tool, options, and producer-specific metadata).
    pub provenance: serde_json::Value,
    /// Whether it can be read.
    pub status: VersionStatus,
    /// Rows, all tables together.
    pub rows: u64,
    /// Bytes of Parquet.
    pub bytes: u64,
    /// Its directory, relative to the store root.
    pub path: String,
    /// Whether it is the dataset's current version.
    pub is_current: bool,
}

/// One Parquet file of a table.
#[derive(Debug, Clone, Serialize)]
pub struct FileInfo {
    /// Path relative to the store root.
    pub path: String,
    /// SHA-256 of the file, hex.
    pub sha256: String,
    /// Rows in the file.
    pub rows: u64,
    /// Size in bytes.
    pub bytes: u64,
}

/// One column of a table.
#[derive(Debug, Clone, Serialize)]
pub struct ColumnInfo {
    /// Position, from 0.
    pub ordinal: u32,
    /// Column name.
    pub name: String,
    /// Type as DuckDB SQL shows it (e.g. `BIGINT`, `DATE`).
    pub sql_type: String,
    /// Type as Arrow names it (e.g. `Int64`, `Date32`).
    pub arrow_type: String,
    /// Whether the schema allows nulls.
    pub nullable: bool,
    /// What the column is for (`identifier`, `date`, `measure`, `text`, ...), when known.
    pub role: Option<String>,
    /// Human label (from the source format, when it has one).
    pub label: Option<String>,
    /// Number of nulls (unknown for nested columns).
    pub null_count: Option<u64>,
    /// Smallest value, as text.
    pub min: Option<String>,
    /// Largest value, as text.
    pub max: Option<String>,
    /// The code list of a coded column: code -> label (SPSS/Stata/SAS value labels).
    pub value_labels: Option<std::collections::BTreeMap<String, String>>,
    /// The source's user-declared missing codes, which were stored as nulls.
    pub missing: Option<MissingCodes>,
}

/// User-declared missing codes of a column (SPSS missing values, Stata `.a`-`.z`, SAS `.A`-`.Z`):
/// stored as nulls, with what was declared and how often each code occurred.
#[derive(Debug, Clone, Default, PartialEq, Serialize, serde::Deserialize)]
pub struct MissingCodes {
    /// The declared codes and ranges (`-99`, `900 thru 999`).
    pub declared: Vec<String>,
    /// Each code found in the data, with its count.
    pub found: std::collections::BTreeMap<String, u64>,
}

/// What a producer knows about a column beyond its values, given to
/// [`crate::Staging::annotate`]: its label, its role when not the inferred one, its code list and
/// missing codes.
#[derive(Debug, Clone, Default, PartialEq, Serialize, serde::Deserialize)]
pub struct ColumnNotes {
    /// Human label.
    pub label: Option<String>,
    /// Role, overriding the one inferred from name and type.
    pub role: Option<String>,
    /// Code -> label.
    pub value_labels: Option<std::collections::BTreeMap<String, String>>,
    /// Missing codes stored as nulls.
    pub missing: Option<MissingCodes>,
}

impl ColumnNotes {
    /// Whether there is nothing to note.
    pub fn is_empty(&self) -> bool {
        self == &ColumnNotes::default()
    }
}

/// One table of a version.
#[derive(Debug, Clone, Serialize)]
pub struct TableInfo {
    /// Table name.
    pub name: String,
    /// Rows.
    pub rows: u64,
    /// Bytes of Parquet.
    pub bytes: u64,
    /// SHA-256 over the SHA-256 of its files, in order.
    pub sha256: String,
    /// Its directory, relative to the store root.
    pub path: String,
    /// Its Arrow schema as JSON (`{"fields": [{"name", "type", "nullable"}]}`).
    pub arrow_schema: serde_json::Value,
    /// Its Parquet files, in order.
    pub files: Vec<FileInfo>,
    /// Its columns, in order.
    pub columns: Vec<ColumnInfo>,
}

/// A dataset version resolved to its tables and files, ready to read.
#[derive(Debug, Clone, Serialize)]
pub struct ResolvedVersion {
    /// The dataset.
    pub dataset: DatasetName,
    /// Internal id.
    pub dataset_id: i64,
    /// Which version.
    pub version: u32,
    /// Whether it is the current version.
    pub is_current: bool,
    /// Its tables.
    pub tables: Vec<TableInfo>,
}

impl ResolvedVersion {
    /// `NAME@N`: the version pinned, as the audit log and the console report it.
    pub fn label(&self) -> String {
        format!("{}@{}", self.dataset, self.version)
    }

    /// The table called `name`.
    pub fn table(&self, name: &str) -> Option<&TableInfo> {
        self.tables.iter().find(|t| t.name == name)
    }
}

/// Everything `cohort show` prints about a dataset.
#[derive(Debug, Clone, Serialize)]
pub struct DatasetDetail {
    /// The dataset's summary line.
    pub summary: DatasetSummary,
    /// Every version, newest first.
    pub versions: Vec<VersionInfo>,
    /// The version shown (the current one unless another was asked for).
    pub shown: ResolvedVersion,
}

impl DatasetDetail {
    /// The catalog record (provenance, sources, content hash) of the version shown.
    pub fn shown_info(&self) -> Option<&VersionInfo> {
        self.versions.iter().find(|v| v.version == self.shown.version)
    }
}

/// What a commit did.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum CommitOutcome {
    /// A new version was made and is now current.
    Created {
        /// The dataset.
        dataset: DatasetName,
        /// The new version.
        version: u32,
        /// Whether the dataset itself is new.
        new_dataset: bool,
        /// Rows, all tables together.
        rows: u64,
        /// Bytes of Parquet.
        bytes: u64,
        /// The content hash.
        content_hash: String,
    },
    /// The content equals the current version's; nothing was changed.
    Unchanged {
        /// The dataset.
        dataset: DatasetName,
        /// The current version, which already holds this content.
        version: u32,
        /// The content hash.
        content_hash: String,
    },
}

impl CommitOutcome {
    /// The version that now holds the content.
    pub fn version(&self) -> u32 {
        match self {
            CommitOutcome::Created { version, .. } | CommitOutcome::Unchanged { version, .. } => *version,
        }
    }
}

/// A column that identifies the rows of its table: unique and never missing.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct KeyCandidate {
    /// The table.
    pub table: String,
    /// The column.
    pub column: String,
    /// How sure the detection is, 0 to 1 (a name such as `<table>_id` or `id` gives 1).
    pub confidence: f64,
}

/// A column of one table that refers to the key of another.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct Relationship {
    /// The referring table.
    pub child_table: String,
    /// The referring column.
    pub child_column: String,
    /// The referred-to table.
    pub parent_table: String,
    /// Its key column.
    pub parent_column: String,
    /// Share of the child's rows with a value whose value is in the parent's key.
    pub coverage: f64,
    /// How sure the detection is, 0 to 1 (coverage weighed by how well the names match).
    pub confidence: f64,
    /// Why it was proposed (`same name`, `<table>_<key> pattern`, or `confirmed by a user`).
    pub reason: String,
}

/// What a user said about a relationship with `cohort relate`; it holds for every version of the
/// dataset that has those columns.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct RelationshipDecision {
    /// The referring table.
    pub child_table: String,
    /// The referring column.
    pub child_column: String,
    /// The referred-to table.
    pub parent_table: String,
    /// Its key column.
    pub parent_column: String,
    /// `true`: the relationship holds (added or confirmed); `false`: it does not (rejected).
    pub holds: bool,
    /// Who decided.
    pub decided_by: String,
    /// When.
    pub decided_at: Timestamp,
}

/// A registry profile kept with a dataset (`cohort registry --set-profile`): its YAML text, and
/// the version it was set on. The last one kept applies to every later version.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct KeptProfile {
    /// The profile, as YAML.
    pub text: String,
    /// The version current when it was set.
    pub version: u32,
    /// Who set it.
    pub set_by: String,
    /// When.
    pub set_at: Timestamp,
}

/// A named cohort of a dataset: the filters that select its participants, and the version it was
/// made on (the same filters select other participants in a later version).
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct SavedCohort {
    /// Its name, unique in the dataset.
    pub name: String,
    /// Its filters, each as written (`sex=F`, `age=10..`, `has:imaging`).
    pub filters: Vec<String>,
    /// The version it was made on.
    pub version: u32,
    /// Who made it.
    pub made_by: String,
    /// When.
    pub made_at: Timestamp,
}

/// An entry of the store's import journal: what became of one source a producer (such as
/// `cohort migrate`) brought in. Entries that record a new version are written in the same catalog
/// transaction as the version, so after a crash a source is either imported and journaled, or
/// neither.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct ImportRecord {
    /// SHA-256 of the source's content (for a folder, of its files' paths and hashes).
    pub source_sha256: String,
    /// Where it was read from.
    pub source: String,
    /// What the producer recognised it as.
    pub shape: String,
    /// What became of it (`migrated`, `failed`, ...).
    pub outcome: String,
    /// The dataset it went into, if any (filled in by the commit).
    pub dataset: Option<String>,
    /// The version it became, if any (filled in by the commit).
    pub version: Option<u32>,
    /// Why, for anything but success.
    pub detail: Option<String>,
    /// Who ran the import.
    pub recorded_by: String,
    /// When.
    pub recorded_at: Timestamp,
}

/// Whether a DuckDB SQL type is a number.
pub fn is_numeric(sql_type: &str) -> bool {
    matches!(
        sql_type,
        "TINYINT"
            | "SMALLINT"
            | "INTEGER"
            | "BIGINT"
            | "HUGEINT"
            | "UTINYINT"
            | "USMALLINT"
            | "UINTEGER"
            | "UBIGINT"
            | "UHUGEINT"
            | "FLOAT"
            | "DOUBLE"
    ) || sql_type.starts_with("DECIMAL")
}
