//! The rows an analysis uses: the plan's filters applied where the data is, only the columns it
//! names read, each as numbers or as categories, and every row left out counted with its reason.

use std::collections::BTreeMap;

use cohort_store::name::{quote_ident, quote_literal, similar_names};
use cohort_store::{Session, TableInfo};
use serde::Serialize;

use super::AnalyzeError;
use super::plan::Filter;

/// A column as the analysis reads it.
#[derive(Debug, Clone)]
pub enum Values {
    /// Numbers (booleans as 0 and 1); NaN is missing.
    Numbers(Vec<f64>),
    /// Categories: each row's level (None is missing).
    Categories(Vec<Option<String>>),
}

/// One column read.
#[derive(Debug, Clone)]
pub struct Column {
    /// Its name.
    pub name: String,
    /// Its type in the store (`DOUBLE`, `VARCHAR`, `BOOLEAN`, ...).
    pub sql_type: String,
    /// Its label, from the source, when it has one.
    pub label: Option<String>,
    /// Its values, one per row kept by the filters.
    pub values: Values,
}

impl Column {
    /// Whether row `i` has a value.
    pub fn present(&self, i: usize) -> bool {
        match &self.values {
            Values::Numbers(v) => v[i].is_finite(),
            Values::Categories(v) => v[i].is_some(),
        }
    }

    /// The column as numbers, or an error that says why it is not one.
    pub fn numbers(&self, role: &str) -> Result<&[f64], AnalyzeError> {
        match &self.values {
            Values::Numbers(v) => Ok(v),
            Values::Categories(_) => Err(AnalyzeError::Plan(format!(
                "{role} `{}` is {} (categories), but a number is needed: choose a numeric column{}",
                self.name,
                self.sql_type,
                if self.sql_type == "VARCHAR" {
                    ", or ingest again with `--type COLUMN=decimal` if it should be numbers"
                } else {
                    ""
                }
            ))),
        }
    }

    /// The levels of row `i` as text (numbers are written as they print, booleans as
    /// `true`/`false`).
    pub fn level(&self, i: usize) -> Option<String> {
        match &self.values {
            Values::Numbers(v) if self.sql_type == "BOOLEAN" => v[i].is_finite().then(|| (v[i] != 0.0).to_string()),
            Values::Numbers(v) => v[i].is_finite().then(|| format_number(v[i])),
            Values::Categories(v) => v[i].clone(),
        }
    }
}

/// A number as a category level: whole numbers without a decimal point.
pub fn format_number(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 { format!("{}", v as i64) } else { format!("{v}") }
}

/// How many rows were read, kept and left out.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RowCounts {
    /// Rows in the table.
    pub table: u64,
    /// Rows the filters kept.
    pub after_filters: u64,
    /// Rows the analysis used (complete cases of its variables).
    pub used: u64,
    /// Rows left out for a missing value, by column (a row missing two values counts for both).
    pub missing: BTreeMap<String, u64>,
}

/// The rows the filters keep, with the columns named.
pub struct Frame {
    /// Columns in the order asked.
    pub columns: Vec<Column>,
    /// Rows kept by the filters.
    pub rows: usize,
    /// Rows in the table.
    pub table_rows: u64,
}

const NUMERIC: [&str; 12] = [
    "TINYINT",
    "SMALLINT",
    "INTEGER",
    "BIGINT",
    "HUGEINT",
    "UTINYINT",
    "USMALLINT",
    "UINTEGER",
    "UBIGINT",
    "FLOAT",
    "DOUBLE",
    "BOOLEAN",
];

/// Whether a column of this DuckDB type is read as numbers (booleans as 0 and 1).
pub fn is_numeric(sql_type: &str) -> bool {
    NUMERIC.contains(&sql_type) || sql_type.starts_with("DECIMAL")
}

/// Reads `names` from `table` for the rows `filters` keep. A coded column (one with value labels)
/// is read as categories, by its labels.
pub fn load(
    session: &Session,
    source: &str,
    table: &TableInfo,
    names: &[&str],
    filters: &[Filter],
) -> Result<Frame, AnalyzeError> {
    let column_info = |name: &str| {
        table.columns.iter().find(|c| c.name == name).ok_or_else(|| {
            let known: Vec<String> = table.columns.iter().map(|c| c.name.clone()).collect();
            let similar = similar_names(name, &known);
            AnalyzeError::Plan(format!(
                "table `{}` has no column `{name}`{}",
                table.name,
                if similar.is_empty() && known.len() <= 12 {
                    format!("; its columns are {}", known.join(", "))
                } else if similar.is_empty() {
                    " (`cohort dictionary` lists the columns)".to_string()
                } else {
                    format!(
                        "; did you mean {}?",
                        similar.iter().map(|s| format!("`{s}`")).collect::<Vec<_>>().join(" or ")
                    )
                }
            ))
        })
    };
    let mut select = Vec::new();
    let mut columns = Vec::new();
    for name in names {
        let info = column_info(name)?;
        let numeric = is_numeric(&info.sql_type) && info.value_labels.is_none();
        let cast = if numeric { "DOUBLE" } else { "VARCHAR" };
        select.push(format!("CAST({} AS {cast})", quote_ident(name)));
        columns.push(Column {
            name: name.to_string(),
            sql_type: info.sql_type.clone(),
            label: info.label.clone(),
            values: if numeric { Values::Numbers(Vec::new()) } else { Values::Categories(Vec::new()) },
        });
    }
    let mut conditions = Vec::new();
    for f in filters {
        let info = column_info(&f.column)?;
        conditions.push(condition(f, is_numeric(&info.sql_type))?);
    }
    let sql = format!(
        "SELECT {} FROM {source}{}",
        if select.is_empty() { "1".to_string() } else { select.join(", ") },
        if conditions.is_empty() { String::new() } else { format!(" WHERE {}", conditions.join(" AND ")) }
    );
    let mut stmt = session.connection().prepare(&sql).map_err(|e| AnalyzeError::Query(e.to_string()))?;
    let mut rows = stmt.query([]).map_err(|e| AnalyzeError::Query(e.to_string()))?;
    let mut n = 0;
    while let Some(row) = rows.next().map_err(|e| AnalyzeError::Query(e.to_string()))? {
        for (i, c) in columns.iter_mut().enumerate() {
            match &mut c.values {
                Values::Numbers(v) => v.push(
                    row.get::<_, Option<f64>>(i).map_err(|e| AnalyzeError::Query(e.to_string()))?.unwrap_or(f64::NAN),
                ),
                Values::Categories(v) => {
                    v.push(row.get::<_, Option<String>>(i).map_err(|e| AnalyzeError::Query(e.to_string()))?)
                }
            }
        }
        n += 1;
    }
    // Coded columns read by their labels, so tables and levels say "female", not 2.
    for c in &mut columns {
        let Some(labels) = column_info(&c.name)?.value_labels.as_ref() else { continue };
        if let Values::Categories(v) = &mut c.values {
            for level in v.iter_mut().flatten() {
                if let Some(label) = labels.get(level.as_str()) {
                    *level = label.clone();
                }
            }
        }
    }
    Ok(Frame { columns, rows: n, table_rows: table.rows })
}

impl Frame {
    /// The column called `name` (it was asked for).
    pub fn column(&self, name: &str) -> &Column {
        self.columns.iter().find(|c| c.name == name).expect("the plan's columns were read")
    }

    /// The rows where every one of `names` has a value, and the counts of those left out.
    pub fn complete(&self, names: &[&str]) -> (Vec<usize>, RowCounts) {
        let columns: Vec<&Column> = names.iter().map(|n| self.column(n)).collect();
        let mut missing: BTreeMap<String, u64> = BTreeMap::new();
        let mut used = Vec::with_capacity(self.rows);
        for i in 0..self.rows {
            let mut complete = true;
            for c in &columns {
                if !c.present(i) {
                    complete = false;
                    *missing.entry(c.name.clone()).or_default() += 1;
                }
            }
            if complete {
                used.push(i);
            }
        }
        let counts =
            RowCounts { table: self.table_rows, after_filters: self.rows as u64, used: used.len() as u64, missing };
        (used, counts)
    }
}

/// The SQL condition of one filter: the column quoted, values as literals, never SQL text.
fn condition(f: &Filter, numeric: bool) -> Result<String, AnalyzeError> {
    let column = quote_ident(&f.column);
    let literal = |v: &serde_json::Value| -> Result<String, AnalyzeError> {
        match v {
            serde_json::Value::Number(n) => {
                let x = n.as_f64().filter(|x| x.is_finite()).ok_or_else(|| bad(f, "is not a finite number"))?;
                Ok(format!("{x:?}"))
            }
            serde_json::Value::String(s) if numeric => {
                let x: f64 = s.trim().parse().map_err(|_| bad(f, "is text, but the column holds numbers"))?;
                Ok(format!("{x:?}"))
            }
            serde_json::Value::String(s) => Ok(quote_literal(s)),
            serde_json::Value::Bool(b) => Ok(if *b { "TRUE" } else { "FALSE" }.into()),
            _ => Err(bad(f, "must be a number, text or true/false")),
        }
    };
    let value = || f.value.as_ref().ok_or_else(|| bad(f, "is missing"));
    let op = f.op.trim().to_ascii_lowercase();
    Ok(match op.as_str() {
        "=" | "==" | "!=" | "<>" | "<" | "<=" | ">" | ">=" => {
            let sql_op = match op.as_str() {
                "==" => "=",
                "<>" => "!=",
                other => other,
            };
            format!("{column} {sql_op} {}", literal(value()?)?)
        }
        "in" | "not in" => {
            let items = value()?.as_array().ok_or_else(|| bad(f, "must be a list"))?;
            if items.is_empty() {
                return Err(bad(f, "is an empty list"));
            }
            let items: Vec<String> = items.iter().map(literal).collect::<Result<_, _>>()?;
            format!("{column} {} ({})", op.to_uppercase(), items.join(", "))
        }
        "is null" => format!("{column} IS NULL"),
        "not null" | "is not null" => format!("{column} IS NOT NULL"),
        other => {
            return Err(AnalyzeError::Plan(format!(
                "filter on `{}`: unknown operator `{other}`; use =, !=, <, <=, >, >=, in, not in, is null or not null",
                f.column
            )));
        }
    })
}

fn bad(f: &Filter, what: &str) -> AnalyzeError {
    AnalyzeError::Plan(format!("filter on `{}` ({}): the value {what}", f.column, f.op))
}
