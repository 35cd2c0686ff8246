//! The rows an analysis uses: the plan's filters applied where the data is, only the columns it
//! names read, each as numbers or as categories, and every row left out counted with its reason.

use std::collections::BTreeMap;

use cohort_store::name::{quote_ident, quote_literal, similar_names};
use cohort_store::{Session, Store, TableInfo};
use duckdb::arrow::array::{Array, AsArray};
use duckdb::arrow::compute::cast;
use duckdb::arrow::datatypes::{DataType, Float64Type, UInt32Type};
use serde::Serialize;

use super::AnalyzeError;
use super::plan::Filter;

/// Most levels a category is read with as an ENUM; beyond, as text.
const MAX_ENUM_LEVELS: usize = 10_000;

/// A category code that means "missing".
pub const MISSING: u32 = u32::MAX;

/// A column as the analysis reads it.
#[derive(Debug, Clone)]
pub enum Values {
    /// Numbers (booleans as 0 and 1); NaN is missing.
    Numbers(Vec<f64>),
    /// Categories: the levels, sorted, and each row's code into them ([`MISSING`] when absent).
    Categories {
        /// The distinct values, sorted.
        levels: Vec<String>,
        /// Per row: its level's position, or [`MISSING`].
        codes: Vec<u32>,
    },
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

/// The levels a column takes on some rows, and each of those rows' level.
pub struct Levels {
    /// The levels present, in order (numbers numerically, text as text, false before true).
    pub names: Vec<String>,
    /// Per row asked for: its level's position in `names` ([`MISSING`] when absent).
    pub codes: Vec<u32>,
}

impl Column {
    /// Whether row `i` has a value.
    pub fn present(&self, i: usize) -> bool {
        match &self.values {
            Values::Numbers(v) => v[i].is_finite(),
            Values::Categories { codes, .. } => codes[i] != MISSING,
        }
    }

    /// The column as numbers, or an error that says why it is not one.
    pub fn numbers(&self, role: &str) -> Result<&[f64], AnalyzeError> {
        match &self.values {
            Values::Numbers(v) => Ok(v),
            Values::Categories { .. } => Err(AnalyzeError::Plan(format!(
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

    /// The levels on `rows`, and each row's: categories as they are, numbers (a code, a count)
    /// as they print. More than `limit` levels is an error naming the column and the limit.
    pub fn levels(&self, rows: &[u32], limit: usize) -> Result<Levels, AnalyzeError> {
        let too_many = |n: usize| {
            AnalyzeError::Plan(format!(
                "`{}` has {n}{} distinct values among the rows used; as groups or categories it may have at most \
                 {limit}: choose a categorical column (or filter to fewer values)",
                self.name,
                if n > limit { "+" } else { "" }
            ))
        };
        match &self.values {
            Values::Categories { levels, codes } => {
                // Only the levels these rows have, renumbered in order.
                let mut used = vec![false; levels.len()];
                for r in rows {
                    let c = codes[*r as usize];
                    if c != MISSING {
                        used[c as usize] = true;
                    }
                }
                let mut renumber = vec![MISSING; levels.len()];
                let mut names = Vec::new();
                for (c, level) in levels.iter().enumerate().filter(|(c, _)| used[*c]) {
                    renumber[c] = names.len() as u32;
                    names.push(level.clone());
                }
                if names.len() > limit {
                    return Err(too_many(names.len()));
                }
                let codes = rows
                    .iter()
                    .map(|r| match codes[*r as usize] {
                        MISSING => MISSING,
                        c => renumber[c as usize],
                    })
                    .collect();
                Ok(Levels { names, codes })
            }
            Values::Numbers(v) => {
                // Distinct values kept sorted as they are met, stopping past the limit; then each
                // row's code. Group and event columns have a few levels, met in random order: while
                // there are at most 16, a value is looked up among all of them at once (no branch
                // to mispredict; NaN fills the unused places and equals nothing).
                let mut distinct: Vec<f64> = Vec::new();
                let mut few = [f64::NAN; 16];
                for r in rows {
                    let x = v[*r as usize];
                    if !x.is_finite() {
                        continue;
                    }
                    if distinct.len() <= 16 && few.iter().fold(false, |hit, d| hit | (*d == x)) {
                        continue;
                    }
                    let x = if x == 0.0 { 0.0 } else { x };
                    if let Err(at) = distinct.binary_search_by(|d| d.total_cmp(&x)) {
                        if distinct.len() == limit {
                            return Err(too_many(limit + 1));
                        }
                        distinct.insert(at, x);
                        if distinct.len() <= 16 {
                            few[distinct.len() - 1] = x;
                        }
                    }
                }
                let names = distinct
                    .iter()
                    .map(|x| if self.sql_type == "BOOLEAN" { (*x != 0.0).to_string() } else { format_number(*x) })
                    .collect();
                let code = |x: f64| -> u32 {
                    if !x.is_finite() {
                        MISSING
                    } else if distinct.len() <= 16 {
                        // A value's position is the count of levels below it: no branch to mispredict
                        // when the values come in random order (and -0.0 counts as 0.0).
                        distinct.iter().map(|d| u32::from(*d < x)).sum()
                    } else {
                        let x = if x == 0.0 { 0.0 } else { x };
                        distinct.binary_search_by(|d| d.total_cmp(&x)).map_or(MISSING, |p| p as u32)
                    }
                };
                let codes = rows.iter().map(|r| code(v[*r as usize])).collect();
                Ok(Levels { names, codes })
            }
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

/// Whether a column of this DuckDB type is read as numbers (booleans as 0 and 1).
pub fn is_numeric(sql_type: &str) -> bool {
    cohort_store::model::is_numeric(sql_type) || sql_type == "BOOLEAN"
}

/// Whether an analysis reads a column as numbers: a numeric type without a code list (a coded
/// column is read by its labels, as categories).
pub fn reads_as_number(sql_type: &str, coded: bool) -> bool {
    is_numeric(sql_type) && !coded
}

/// Bytes of working memory an analysis takes per value it reads: the value, the rows kept, and
/// the copies a sort or a rank makes (measured: 740 MB for three 10 M-row columns).
const WORKING_BYTES_PER_VALUE: u64 = 24;

/// Reads `names` from `table` for the rows `filters` keep. A coded column (one with value labels)
/// is read as categories, by its labels. Refuses, before reading, rows that would take more than
/// `memory_limit` bytes to analyse. `stored` is the store when `table` is one of its tables (not
/// a view built for the analysis): numbers without filters are then read from its files directly.
pub fn load(
    session: &Session,
    stored: Option<&Store>,
    source: &str,
    table: &TableInfo,
    names: &[&str],
    filters: &[Filter],
    memory_limit: u64,
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
        let numeric = reads_as_number(&info.sql_type, info.value_labels.is_some());
        select.push(if numeric {
            format!("CAST({} AS DOUBLE)", quote_ident(name))
        } else {
            as_text(name, &info.sql_type)
        });
        columns.push(Column {
            name: name.to_string(),
            sql_type: info.sql_type.clone(),
            label: info.label.clone(),
            values: if numeric {
                Values::Numbers(Vec::new())
            } else {
                Values::Categories { levels: Vec::new(), codes: Vec::new() }
            },
        });
    }
    let mut conditions = Vec::new();
    for f in filters {
        let info = column_info(&f.column)?;
        conditions.push(condition(f, is_numeric(&info.sql_type))?);
    }
    let filtered = if conditions.is_empty() { String::new() } else { format!(" WHERE {}", conditions.join(" AND ")) };
    // The rows are read into memory, outside DuckDB's budget: refuse what would pass the cap,
    // counting the rows the filters keep only when the whole table would be too many.
    let needed = |rows: u64| rows.saturating_mul(names.len().max(1) as u64).saturating_mul(WORKING_BYTES_PER_VALUE);
    if needed(table.rows) > memory_limit {
        let kept: i64 = session
            .connection()
            .query_row(&format!("SELECT count(*) FROM {source}{filtered}"), [], |r| r.get(0))
            .map_err(|e| AnalyzeError::Query(e.to_string()))?;
        if needed(kept as u64) > memory_limit {
            return Err(AnalyzeError::TooBig(format!(
                "{kept} rows of {} column(s) need about {} MB of memory, more than the {} MB this analysis may use: \
                 filter to fewer rows, or raise --memory-limit (the server's share per analysis is its cap over \
                 --engine-slots)",
                names.len(),
                needed(kept as u64) / 1_000_000,
                memory_limit / 1_000_000
            )));
        }
    }
    let all_numbers = columns.iter().all(|c| matches!(c.values, Values::Numbers(_)));
    if let Some(store) = stored.filter(|_| filters.is_empty() && all_numbers && !columns.is_empty())
        && let Some(read) = super::direct::numbers(store, table, names)?
    {
        for (column, values) in columns.iter_mut().zip(read) {
            column.values = Values::Numbers(values);
        }
        return Ok(Frame { columns, rows: table.rows as usize, table_rows: table.rows });
    }
    // Categories come back as codes into their levels (an ENUM, which Arrow carries as a
    // dictionary), so ten million rows are not ten million strings; a column with more distinct
    // values than an ENUM should hold is read as text and coded here.
    for (i, c) in columns.iter_mut().enumerate() {
        if let Values::Categories { levels, .. } = &mut c.values {
            let text = as_text(&c.name, &c.sql_type);
            let present: Vec<String> = conditions.iter().cloned().chain([format!("{text} IS NOT NULL")]).collect();
            let sql = format!(
                "SELECT DISTINCT {text} FROM {source} WHERE {} LIMIT {}",
                present.join(" AND "),
                MAX_ENUM_LEVELS + 1
            );
            let distinct: Vec<String> = crate::query_rows(session, &sql, |r| r.get::<_, String>(0))
                .map_err(|e| AnalyzeError::Query(e.to_string()))?;
            if distinct.len() <= MAX_ENUM_LEVELS && !distinct.is_empty() {
                let mut sorted = distinct;
                sorted.sort_unstable();
                let members: Vec<String> = sorted.iter().map(|l| quote_literal(l)).collect();
                select[i] = format!("CAST({text} AS ENUM({}))", members.join(", "));
                *levels = sorted;
            }
        }
    }
    let sql = format!(
        "SELECT {} FROM {source}{filtered}",
        if select.is_empty() { "1".to_string() } else { select.join(", ") }
    );
    let query = |e: duckdb::Error| AnalyzeError::Query(e.to_string());
    let mut stmt = session.connection().prepare(&sql).map_err(query)?;
    let mut numbers: Vec<Vec<f64>> = vec![Vec::new(); columns.len()];
    let mut interned: Vec<(std::collections::HashMap<String, u32>, Vec<u32>)> = vec![Default::default(); columns.len()];
    let mut enum_codes: Vec<Vec<u32>> = vec![Vec::new(); columns.len()];
    if filtered.is_empty() {
        // Every row comes back: room for them all at once, not a copy each time a vector doubles.
        let rows = table.rows as usize;
        for (i, c) in columns.iter().enumerate() {
            match &c.values {
                Values::Numbers(_) => numbers[i].reserve_exact(rows),
                Values::Categories { levels, .. } if !levels.is_empty() => enum_codes[i].reserve_exact(rows),
                Values::Categories { .. } => interned[i].1.reserve_exact(rows),
            }
        }
    }
    let mut n = 0;
    for batch in stmt.stream_arrow([]).map_err(query)? {
        let batch = batch.map_err(query)?;
        n += batch.num_rows();
        for (i, c) in columns.iter().enumerate() {
            let array = batch.column(i);
            match &c.values {
                Values::Numbers(_) => {
                    let doubles = array.as_primitive_opt::<Float64Type>().ok_or_else(|| {
                        AnalyzeError::Query(format!("`{}` came back as {}, not numbers", c.name, array.data_type()))
                    })?;
                    if doubles.null_count() == 0 {
                        numbers[i].extend_from_slice(doubles.values());
                    } else {
                        numbers[i].extend(doubles.iter().map(|v| v.unwrap_or(f64::NAN)));
                    }
                }
                Values::Categories { levels, .. } if !levels.is_empty() => {
                    let dictionary =
                        cast(array, &DataType::Dictionary(Box::new(DataType::UInt32), Box::new(DataType::Utf8)))
                            .map_err(|e| AnalyzeError::Query(e.to_string()))?;
                    let dictionary = dictionary.as_dictionary::<UInt32Type>();
                    // The batch's dictionary, mapped onto the sorted levels.
                    let to_level: Vec<u32> = dictionary
                        .values()
                        .as_string::<i32>()
                        .iter()
                        .map(|v| {
                            v.and_then(|v| levels.binary_search_by(|l| l.as_str().cmp(v)).ok())
                                .map_or(MISSING, |p| p as u32)
                        })
                        .collect();
                    enum_codes[i].extend(dictionary.keys().iter().map(|k| k.map_or(MISSING, |k| to_level[k as usize])));
                }
                Values::Categories { .. } => {
                    let text = cast(array, &DataType::Utf8).map_err(|e| AnalyzeError::Query(e.to_string()))?;
                    let (index, codes) = &mut interned[i];
                    for value in text.as_string::<i32>().iter() {
                        codes.push(match value {
                            None => MISSING,
                            Some(v) => match index.get(v) {
                                Some(code) => *code,
                                None => {
                                    let code = index.len() as u32;
                                    index.insert(v.to_string(), code);
                                    code
                                }
                            },
                        });
                    }
                }
            }
        }
    }
    for (i, c) in columns.iter_mut().enumerate() {
        match &mut c.values {
            Values::Numbers(v) => *v = std::mem::take(&mut numbers[i]),
            Values::Categories { levels, codes } if !levels.is_empty() => *codes = std::mem::take(&mut enum_codes[i]),
            Values::Categories { levels, codes } => {
                let (index, first_seen) = std::mem::take(&mut interned[i]);
                // Codes in sorted order of the levels, so that every answer lists them the same way.
                let mut by_name: Vec<(String, u32)> = index.into_iter().collect();
                by_name.sort_unstable();
                let mut renumber = vec![0u32; by_name.len()];
                for (sorted, (_, seen)) in by_name.iter().enumerate() {
                    renumber[*seen as usize] = sorted as u32;
                }
                *levels = by_name.into_iter().map(|(name, _)| name).collect();
                *codes =
                    first_seen.into_iter().map(|c| if c == MISSING { MISSING } else { renumber[c as usize] }).collect();
            }
        }
    }
    // Coded columns read by their labels, so tables and levels say "female", not 2.
    for c in &mut columns {
        let Some(labels) = column_info(&c.name)?.value_labels.as_ref() else { continue };
        if let Values::Categories { levels, codes } = &mut c.values {
            let labelled: Vec<String> =
                levels.iter().map(|l| labels.get(l).cloned().unwrap_or_else(|| l.clone())).collect();
            let mut order: Vec<usize> = (0..labelled.len()).collect();
            order.sort_by(|a, b| labelled[*a].cmp(&labelled[*b]));
            let mut renumber = vec![0u32; order.len()];
            for (sorted, old) in order.iter().enumerate() {
                renumber[*old] = sorted as u32;
            }
            *levels = order.iter().map(|o| labelled[*o].clone()).collect();
            for code in codes.iter_mut().filter(|c| **c != MISSING) {
                *code = renumber[*code as usize];
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
    pub fn complete(&self, names: &[&str]) -> (Vec<u32>, RowCounts) {
        let columns: Vec<&Column> = names.iter().map(|n| self.column(n)).collect();
        let absent = |c: &Column| match &c.values {
            Values::Numbers(v) => v.iter().filter(|x| !x.is_finite()).count(),
            Values::Categories { codes, .. } => codes.iter().filter(|c| **c == MISSING).count(),
        };
        if columns.iter().all(|c| absent(c) == 0) {
            // The usual case, a column at a time rather than a row at a time.
            let used: Vec<u32> = (0..self.rows as u32).collect();
            let rows = self.rows as u64;
            return (
                used,
                RowCounts { table: self.table_rows, after_filters: rows, used: rows, missing: BTreeMap::new() },
            );
        }
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
                used.push(i as u32);
            }
        }
        let counts =
            RowCounts { table: self.table_rows, after_filters: self.rows as u64, used: used.len() as u64, missing };
        (used, counts)
    }
}

/// A column as text: whole numbers of a decimal type without their ".0", as code lists write their
/// codes (an SPSS status 2.0 is code "2"), so that codes find their labels.
fn as_text(name: &str, sql_type: &str) -> String {
    let column = quote_ident(name);
    if matches!(sql_type, "DOUBLE" | "FLOAT") || sql_type.starts_with("DECIMAL") {
        format!(
            "CASE WHEN {column} = trunc({column}) THEN CAST(CAST({column} AS HUGEINT) AS VARCHAR) \
             ELSE CAST({column} AS VARCHAR) END"
        )
    } else {
        format!("CAST({column} AS VARCHAR)")
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
