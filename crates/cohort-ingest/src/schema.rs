//! Corrections to what ingest infers: a column's type, role or label, from `--type`, `--role`
//! and `--label` on the command line or a small YAML file (`--schema`):
//!
//! ```yaml
//! columns:
//!   visits.va: { type: integer, role: measure, label: "Visual acuity (ETDRS letters)" }
//!   site: { role: category }          # every table with a column `site`
//! ```
//!
//! They are recorded with the version, and an ingest that gives none re-applies the ones the
//! dataset's current version was made with.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{IngestError, Result};

/// What to change about one column.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ColumnOverride {
    /// The type to store it as: `text`, `integer`, `decimal`, `date`, `timestamp` or `boolean`.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub value_type: Option<String>,
    /// Its role: `identifier`, `date`, `category`, `measure` or `text`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// Its human label.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
}

/// Overrides by `column` (any table) or `table.column`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SchemaOverrides {
    /// The columns to change.
    pub columns: BTreeMap<String, ColumnOverride>,
}

/// Roles a column can be given.
pub const ROLES: &[&str] = &["identifier", "date", "category", "measure", "text"];

/// Types a column can be given, with the SQL type each stands for.
pub const TYPES: &[(&str, &str)] = &[
    ("text", "VARCHAR"),
    ("integer", "BIGINT"),
    ("decimal", "DOUBLE"),
    ("date", "DATE"),
    ("timestamp", "TIMESTAMP"),
    ("boolean", "BOOLEAN"),
];

impl SchemaOverrides {
    /// Reads a YAML file of overrides; errors name the file and line.
    pub fn from_yaml_file(path: &Path) -> Result<Self> {
        let text =
            fs_err::read_to_string(path).map_err(|e| IngestError::Unreadable { path: path.into(), source: e })?;
        let parsed: SchemaOverrides = serde_saphyr::from_str(&text).map_err(|e| {
            let message = e.to_string();
            IngestError::Invalid {
                path: path.into(),
                line: line_of(&message),
                message: format!("not a schema file: {}", message.lines().next().unwrap_or_default()),
                hint: Some(
                    "write `columns:` with entries like `visits.va: { type: integer, role: measure, label: \"...\" }`"
                        .into(),
                ),
            }
        })?;
        parsed.check().map_err(|message| IngestError::Invalid {
            path: path.into(),
            line: None,
            message,
            hint: None,
        })?;
        Ok(parsed)
    }

    /// Adds `COLUMN=VALUE` settings from the command line (`what` is `type`, `role` or `label`).
    pub fn add_setting(&mut self, what: &str, setting: &str) -> std::result::Result<(), String> {
        let Some((column, value)) = setting.split_once('=') else {
            return Err(format!("`{setting}`: write COLUMN={} (or TABLE.COLUMN=...)", what.to_uppercase()));
        };
        let entry = self.columns.entry(column.trim().to_string()).or_default();
        let value = Some(value.trim().to_string());
        match what {
            "type" => entry.value_type = value,
            "role" => entry.role = value,
            _ => entry.label = value,
        }
        self.check()
    }

    /// Whether every type and role is one cohort knows.
    pub fn check(&self) -> std::result::Result<(), String> {
        for (column, o) in &self.columns {
            if let Some(t) = &o.value_type
                && sql_type(t).is_none()
            {
                let known: Vec<&str> = TYPES.iter().map(|(n, _)| *n).collect();
                return Err(format!("column `{column}`: unknown type `{t}` (types: {})", known.join(", ")));
            }
            if let Some(r) = &o.role
                && !ROLES.contains(&r.as_str())
            {
                return Err(format!("column `{column}`: unknown role `{r}` (roles: {})", ROLES.join(", ")));
            }
        }
        Ok(())
    }

    /// Whether there is nothing to override.
    pub fn is_empty(&self) -> bool {
        self.columns.is_empty()
    }

    /// The columns of `table` to be stored as text: these are read as text, since a cast
    /// afterwards would lose leading zeros.
    pub fn text_columns_for(&self, table: &str) -> Vec<String> {
        let prefix = format!("{table}.");
        self.columns
            .iter()
            .filter(|(_, o)| o.value_type.as_deref().and_then(sql_type) == Some("VARCHAR"))
            .filter_map(|(name, _)| match name.strip_prefix(&prefix) {
                Some(column) => Some(column.to_string()),
                None => (!name.contains('.')).then(|| name.clone()),
            })
            .collect()
    }

    /// The override for `column` of `table`: `table.column` wins over `column`.
    pub fn for_column(&self, table: &str, column: &str) -> Option<&ColumnOverride> {
        self.columns.get(&format!("{table}.{column}")).or_else(|| self.columns.get(column))
    }
}

/// The SQL type a type name stands for.
pub fn sql_type(name: &str) -> Option<&'static str> {
    TYPES.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, sql)| *sql)
}

fn line_of(message: &str) -> Option<u64> {
    let start = message.find("line ")? + 5;
    message[start..].chars().take_while(|c| c.is_ascii_digit()).collect::<String>().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_qualified_names_win() {
        let mut o = SchemaOverrides::default();
        o.add_setting("role", "site=category").unwrap();
        o.add_setting("role", "visits.site=text").unwrap();
        assert_eq!(o.for_column("visits", "site").unwrap().role.as_deref(), Some("text"));
        assert_eq!(o.for_column("patients", "site").unwrap().role.as_deref(), Some("category"));
        assert!(o.add_setting("type", "va=float128").unwrap_err().contains("unknown type"));
        assert!(o.add_setting("role", "va").unwrap_err().contains("COLUMN=ROLE"));
    }

    #[test]
    fn text_columns_are_those_of_the_table_or_of_any_table() {
        let mut o = SchemaOverrides::default();
        for setting in ["code=text", "visits.site=text", "patients.zip=text", "va=integer"] {
            o.add_setting("type", setting).unwrap();
        }
        assert_eq!(o.text_columns_for("visits"), ["code", "site"]);
        assert_eq!(o.text_columns_for("patients"), ["code", "zip"]);
    }
}
