//! Dataset and table names, and references to a dataset version (`NAME`, `NAME@N`, `NAME.TABLE`).
//!
//! Names become directory-independent identifiers in SQL (`"<dataset>"."<table>"`), so they are
//! restricted to a portable alphabet; `/`, `..`, `@` and `.` can never appear in one.

use std::fmt;

use crate::error::{Result, StoreError};

const MAX_LEN: usize = 64;

/// Schemas DuckDB itself owns; a dataset may not shadow them.
const RESERVED: &[&str] = &["main", "temp", "system", "information_schema", "pg_catalog", "memory"];

fn validate(what: &'static str, name: &str) -> Result<()> {
    let invalid = |reason: &str| StoreError::InvalidName { what, name: name.to_string(), reason: reason.to_string() };
    if name.is_empty() {
        return Err(invalid("it is empty"));
    }
    if name.len() > MAX_LEN {
        return Err(invalid("it is longer than 64 characters"));
    }
    if name.contains('/') || name.contains('\\') || name.contains("..") {
        return Err(invalid("it contains a path separator or `..`"));
    }
    if let Some(c) = name.chars().find(|c| !(c.is_ascii_alphanumeric() || *c == '_' || *c == '-')) {
        return Err(invalid(&format!("`{c}` is not allowed")));
    }
    if !name.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        return Err(invalid("it must start with a letter or digit"));
    }
    if RESERVED.contains(&name.to_ascii_lowercase().as_str()) {
        return Err(invalid("it is reserved by DuckDB"));
    }
    Ok(())
}

/// A validated dataset name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct DatasetName(String);

impl DatasetName {
    /// Validates `name` as a dataset name.
    pub fn new(name: &str) -> Result<Self> {
        validate("dataset name", name)?;
        Ok(DatasetName(name.to_string()))
    }

    /// A name read back from the catalog, which only ever stores validated names.
    pub(crate) fn from_catalog(name: String) -> Self {
        DatasetName(name)
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for DatasetName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A validated table name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct TableName(String);

impl TableName {
    /// Validates `name` as a table name.
    pub fn new(name: &str) -> Result<Self> {
        validate("table name", name)?;
        Ok(TableName(name.to_string()))
    }

    /// Derives a table name from a file name: the stem, lower-cased, with runs of other characters
    /// replaced by `_` (`"Lab Results (2023).csv"` becomes `lab_results_2023`).
    pub fn from_file_stem(stem: &str) -> Result<Self> {
        let mut out = String::new();
        for c in stem.chars() {
            if c.is_ascii_alphanumeric() || c == '-' {
                out.push(c.to_ascii_lowercase());
            } else if !out.ends_with('_') {
                out.push('_');
            }
        }
        let trimmed = out.trim_matches(|c| c == '_' || c == '-');
        let mut name: String = trimmed.chars().take(MAX_LEN).collect();
        if name.is_empty() {
            name = "data".to_string();
        }
        if RESERVED.contains(&name.as_str()) {
            name.push_str("_table");
        }
        Self::new(&name)
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TableName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A reference to a dataset version: `NAME` (the current version) or `NAME@N`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct VersionRef {
    /// The dataset.
    pub dataset: DatasetName,
    /// A specific version, or `None` for the current one.
    pub version: Option<u32>,
}

impl VersionRef {
    /// Parses `NAME` or `NAME@N`.
    pub fn parse(text: &str) -> Result<Self> {
        match text.split_once('@') {
            None => Ok(VersionRef { dataset: DatasetName::new(text)?, version: None }),
            Some((name, version)) => {
                let dataset = DatasetName::new(name)?;
                let version =
                    version.parse::<u32>().ok().filter(|v| *v > 0).ok_or_else(|| StoreError::InvalidName {
                        what: "version reference",
                        name: text.to_string(),
                        reason: format!("`{version}` is not a version number (versions start at 1)"),
                    })?;
                Ok(VersionRef { dataset, version: Some(version) })
            }
        }
    }
}

impl fmt::Display for VersionRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.version {
            Some(v) => write!(f, "{}@{v}", self.dataset),
            None => write!(f, "{}", self.dataset),
        }
    }
}

/// A reference to one table, or all tables, of a dataset version: `NAME[@N][.TABLE]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableRef {
    /// The dataset version.
    pub version: VersionRef,
    /// One table, or `None` for every table.
    pub table: Option<TableName>,
}

impl TableRef {
    /// Parses `NAME`, `NAME@N`, `NAME.TABLE` or `NAME@N.TABLE`.
    pub fn parse(text: &str) -> Result<Self> {
        let (version, table) = match text.split_once('.') {
            Some((v, t)) => (v, Some(TableName::new(t)?)),
            None => (text, None),
        };
        Ok(TableRef { version: VersionRef::parse(version)?, table })
    }
}

/// Quotes an SQL identifier for DuckDB.
pub fn quote_ident(ident: &str) -> String {
    format!("\"{}\"", ident.replace('"', "\"\""))
}

/// Quotes an SQL string literal for DuckDB (used for file paths, which cannot be bound parameters
/// in `COPY` statements).
pub fn quote_literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// Up to three of `names` within a small edit distance of `name` (ignoring ASCII case), or
/// starting with it, closest first: the "did you mean" of every error that names something.
pub fn similar_names(name: &str, names: &[String]) -> Vec<String> {
    let lower = name.to_ascii_lowercase();
    let mut scored: Vec<(usize, &String)> = names
        .iter()
        .map(|n| (edit_distance(&lower, &n.to_ascii_lowercase()), n))
        .filter(|(d, n)| *d <= 2.max(name.len() / 3) || n.to_ascii_lowercase().starts_with(&lower))
        .collect();
    scored.sort();
    scored.into_iter().take(3).map(|(_, n)| n.clone()).collect()
}

/// Levenshtein distance between `a` and `b`, in characters.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dataset_names_reject_paths_and_symbols() {
        for bad in ["", "a/b", "..", "../x", "a..b", "x@1", "a.b", "-x", "_x", "main", "é", &"x".repeat(65)] {
            assert!(DatasetName::new(bad).is_err(), "{bad:?} should be rejected");
        }
        for good in ["trial", "Trial-2024", "a_b-c", "1st", &"x".repeat(64)] {
            assert!(DatasetName::new(good).is_ok(), "{good:?} should be accepted");
        }
    }

    #[test]
    fn table_names_from_file_stems() {
        assert_eq!(TableName::from_file_stem("Lab Results (2023)").unwrap().as_str(), "lab_results_2023");
        assert_eq!(TableName::from_file_stem("visits").unwrap().as_str(), "visits");
        assert_eq!(TableName::from_file_stem("___").unwrap().as_str(), "data");
        assert_eq!(TableName::from_file_stem("main").unwrap().as_str(), "main_table");
    }

    #[test]
    fn version_and_table_refs() {
        let r = TableRef::parse("trial@3.visits").unwrap();
        assert_eq!(r.version.dataset.as_str(), "trial");
        assert_eq!(r.version.version, Some(3));
        assert_eq!(r.table.unwrap().as_str(), "visits");
        assert_eq!(VersionRef::parse("trial").unwrap().version, None);
        assert!(VersionRef::parse("trial@0").is_err());
        assert!(VersionRef::parse("trial@x").is_err());
        assert_eq!(VersionRef::parse("trial@2").unwrap().to_string(), "trial@2");
    }

    #[test]
    fn quoting() {
        assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
        assert_eq!(quote_literal("it's"), "'it''s'");
    }
}
