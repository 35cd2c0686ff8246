//! Rows of JSON objects to one Parquet table, typed by DuckDB's JSON reader across all rows.
//!
//! Every value either fits its column or is set apart, so that converting valid JSON cannot
//! fail, whatever mix of shapes the rows have. For each top-level field, the column keeps the kind
//! most of its values have, and so on inside: at each place in nested objects and lists, the kind
//! most values there have, and one spelling of keys that differ only in case (DuckDB's names
//! ignore case). A value that does not fit — a word in a number column, a list where the others
//! have an object, an address whose `city` is an object where the others have text — goes whole,
//! as JSON text, to a companion column `<field>__json`, so no value is dropped or silently turned
//! into text. Numbers are written as the file wrote them: a place whose numbers are all whole
//! and fit 64 bits becomes `BIGINT`; elsewhere a number that a double cannot hold exactly (a
//! 25-digit accession, a decimal with 19 significant digits) is set apart in the same way rather
//! than rounded. Column names are made unique ignoring case, and absent fields are written as nulls,
//! so DuckDB sees records of one shape and never reads the row itself as a `MAP` (which made rows
//! of many shapes fail with a binder error). Should DuckDB still refuse, the rows are written
//! again with every value as JSON text ([`Written::as_text`]), which cannot fail.

use std::collections::{BTreeMap, HashSet};
use std::io::Write;
use std::path::Path;

use cohort_store::name::{quote_ident, quote_literal};
use duckdb::Connection;
use serde_json::{Map, Value};

/// The column holding each row's original JSON, from which the source can be written back.
pub const ORIGINAL_JSON: &str = "_original_json";

/// The suffix of the column holding values of a field that do not fit its column.
pub const MIXED_SUFFIX: &str = "__json";

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Bool,
    Number,
    String,
    List,
    Object,
}

const KINDS: [Kind; 5] = [Kind::Bool, Kind::Number, Kind::String, Kind::List, Kind::Object];

fn kind(v: &Value) -> Option<Kind> {
    match v {
        Value::Null => None,
        Value::Bool(_) => Some(Kind::Bool),
        Value::Number(_) => Some(Kind::Number),
        Value::String(_) => Some(Kind::String),
        Value::Array(_) => Some(Kind::List),
        Value::Object(_) => Some(Kind::Object),
    }
}

/// A row to write: its fields, and its original JSON text if it was read from one.
pub struct Row {
    /// Columns by name.
    pub fields: Map<String, Value>,
    /// The JSON the row was read from.
    pub original: Option<String>,
}

/// The kinds seen at one place of a field's values, over all rows.
#[derive(Default)]
struct Seen {
    counts: [u64; KINDS.len()],
    /// Numbers that are not integers fitting 64 bits: if any, the place is typed `DOUBLE`.
    not_whole: u64,
    /// Inside objects: by key.
    fields: BTreeMap<String, Seen>,
    /// Inside lists: their items.
    items: Option<Box<Seen>>,
}

impl Seen {
    fn observe(&mut self, v: &Value) {
        let Some(k) = kind(v) else { return };
        self.counts[k as usize] += 1;
        match v {
            Value::Number(n) if n.as_i64().is_none() => self.not_whole += 1,
            Value::Array(items) => {
                let seen = self.items.get_or_insert_with(Default::default);
                for item in items {
                    seen.observe(item);
                }
            }
            Value::Object(o) => {
                for (key, value) in o {
                    match self.fields.get_mut(key) {
                        Some(seen) => seen.observe(value),
                        None => {
                            let mut seen = Seen::default();
                            seen.observe(value);
                            self.fields.insert(key.clone(), seen);
                        }
                    }
                }
            }
            _ => {}
        }
    }

    /// What the column keeps here: the most common kind (text on a tie, which holds the most).
    fn keep(&self) -> Keep {
        let Some(best) = KINDS
            .iter()
            .filter(|k| self.counts[**k as usize] > 0)
            .max_by_key(|k| (self.counts[**k as usize], **k == Kind::String))
        else {
            return Keep::Nothing;
        };
        match best {
            Kind::List => Keep::List(Box::new(self.items.as_ref().map_or(Keep::Nothing, |i| i.keep()))),
            Kind::Object => {
                // Of keys equal but for case, the most common spelling (the first on a tie).
                let mut spelling: BTreeMap<String, (&str, u64)> = BTreeMap::new();
                for (key, seen) in &self.fields {
                    let n: u64 = seen.counts.iter().sum::<u64>().max(1);
                    let slot = spelling.entry(key.to_lowercase()).or_insert((key.as_str(), n));
                    if n > slot.1 {
                        *slot = (key.as_str(), n);
                    }
                }
                Keep::Object(
                    spelling.into_values().map(|(key, _)| (key.to_string(), self.fields[key].keep())).collect(),
                )
            }
            Kind::Number if self.not_whole == 0 => Keep::Whole,
            scalar => Keep::Scalar(*scalar),
        }
    }
}

/// The shape a column keeps.
#[derive(Debug, PartialEq)]
enum Keep {
    /// Only nulls were seen here.
    Nothing,
    /// Numbers, all integers that fit 64 bits (DuckDB types the place `BIGINT`).
    Whole,
    /// A scalar; for numbers, typed `DOUBLE`, so only those a double holds exactly fit.
    Scalar(Kind),
    List(Box<Keep>),
    Object(BTreeMap<String, Keep>),
}

/// Whether `v` fits the shape `keep` everywhere (nulls fit anything).
fn fits(v: &Value, keep: &Keep) -> bool {
    match (v, keep) {
        (Value::Null, _) => true,
        (Value::Array(items), Keep::List(inner)) => items.iter().all(|i| fits(i, inner)),
        (Value::Object(o), Keep::Object(fields)) => o.iter().all(|(k, v)| fields.get(k).is_some_and(|f| fits(v, f))),
        (Value::Number(n), Keep::Whole) => n.as_i64().is_some(),
        (Value::Number(n), Keep::Scalar(Kind::Number)) => double_holds(n),
        (v, Keep::Scalar(k)) => kind(v) == Some(*k),
        _ => false,
    }
}

/// Whether a double holds `n` exactly as written: its shortest decimal form has the same
/// significant digits and scale as the text (`1.50` is held; `0.1234567890123456789` is not).
/// Relies on serde_json's `arbitrary_precision`, which keeps a number's text.
fn double_holds(n: &serde_json::Number) -> bool {
    let Some(f) = n.as_f64().filter(|f| f.is_finite()) else { return false };
    decimal_digits(&n.to_string()) == decimal_digits(&format!("{f:e}"))
}

/// A decimal number's text as (negative, significant digits, exponent) with the value
/// `0.DIGITS x 10^exponent`; zero is `(false, "", 0)`. `None` if it is not a decimal number.
fn decimal_digits(text: &str) -> Option<(bool, String, i64)> {
    let (negative, text) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    let (mantissa, exponent) = match text.find(['e', 'E']) {
        Some(at) => (&text[..at], text[at + 1..].parse::<i64>().ok()?),
        None => (text, 0),
    };
    let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    if !(whole.bytes().chain(fraction.bytes()).all(|b| b.is_ascii_digit())) {
        return None;
    }
    let digits = format!("{whole}{fraction}");
    let leading_zeros = digits.len() - digits.trim_start_matches('0').len();
    let significant = digits.trim_start_matches('0').trim_end_matches('0');
    if significant.is_empty() {
        return Some((false, String::new(), 0));
    }
    let point = whole.len() as i64 - leading_zeros as i64 + exponent;
    Some((negative, significant.to_string(), point))
}

/// How one field is written: the column of values that fit, the column of those that do not.
struct FieldPlan {
    field: String,
    keep: Keep,
    typed: Option<String>,
    mixed: Option<String>,
}

/// Gives each wanted column name a name unique ignoring case (DuckDB's rule), never
/// [`ORIGINAL_JSON`]: the first keeps it, later ones get `_2`, `_3`, ...; an empty name is `_`.
struct Names(HashSet<String>);

impl Names {
    fn new() -> Self {
        Names(HashSet::from([ORIGINAL_JSON.to_string()]))
    }

    fn take(&mut self, wanted: &str) -> String {
        let wanted = if wanted.is_empty() { "_" } else { wanted };
        let mut name = wanted.to_string();
        let mut n = 1;
        while !self.0.insert(name.to_lowercase()) {
            n += 1;
            name = format!("{wanted}_{n}");
        }
        name
    }
}

fn plan(rows: &[Row]) -> Vec<FieldPlan> {
    let mut seen: BTreeMap<&str, (Seen, u64)> = BTreeMap::new();
    for r in rows {
        for (k, v) in &r.fields {
            let (s, n) = seen.entry(k).or_default();
            s.observe(v);
            *n += 1;
        }
    }
    let mut plans: Vec<(FieldPlan, u64, bool, bool)> = seen
        .into_iter()
        .map(|(field, (seen, n))| {
            let keep = seen.keep();
            let (mut any_fit, mut any_misfit) = (false, false);
            for v in rows.iter().filter_map(|r| r.fields.get(field)).filter(|v| !v.is_null()) {
                if fits(v, &keep) {
                    any_fit = true;
                } else {
                    any_misfit = true;
                }
                if any_fit && any_misfit {
                    break;
                }
            }
            (FieldPlan { field: field.to_string(), keep, typed: None, mixed: None }, n, any_fit, any_misfit)
        })
        .collect();
    // Of names equal but for case, the field most rows have keeps its own.
    let mut order: Vec<usize> = (0..plans.len()).collect();
    order.sort_by_key(|i| std::cmp::Reverse(plans[*i].1));
    let mut names = Names::new();
    for i in order {
        let (f, _, any_fit, any_misfit) = &mut plans[i];
        // A field that is null throughout still gets its column.
        f.typed = (*any_fit || !*any_misfit).then(|| names.take(&f.field));
        f.mixed = any_misfit.then(|| names.take(&format!("{}{MIXED_SUFFIX}", f.field)));
    }
    plans.into_iter().map(|(f, ..)| f).collect()
}

/// What [`write`] made of the rows.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Written {
    /// Rows written.
    pub rows: u64,
    /// Fields with values that do not fit their column, with how many went to `<field>__json`.
    pub mixed: BTreeMap<String, u64>,
    /// Of those, the numbers set apart because a double cannot hold them exactly.
    pub digits: BTreeMap<String, u64>,
    /// Fields stored under another column name than their own (it differs from another field's
    /// only in case, is empty, or is [`ORIGINAL_JSON`]): field to column.
    pub renamed: BTreeMap<String, String>,
    /// Why DuckDB could not type the rows, when every value was written as JSON text instead.
    pub as_text: Option<String>,
}

/// Writes `rows` to the Parquet file `target`, through the NDJSON file `scratch`. Of `leading`,
/// the columns every row has (and that hold no value of another kind) come first, in that order;
/// the rest follow by name, and [`ORIGINAL_JSON`] last.
///
/// It fails only when files cannot be written; errors never name `scratch`.
pub fn write(
    conn: &Connection,
    rows: &[Row],
    leading: &[&str],
    scratch: &Path,
    target: &Path,
) -> Result<Written, String> {
    if rows.is_empty() {
        // Nothing to type: the leading columns, as text (a run whose patients have no visits).
        // DuckDB cannot read records from an empty file without being told the columns.
        let result = write_empty(conn, leading, scratch, target).map(|_| Written::default());
        let _ = fs_err::remove_file(scratch);
        return result;
    }
    let fields = plan(rows);
    let mut written = Written { rows: rows.len() as u64, ..Written::default() };
    for f in &fields {
        if let Some(t) = &f.typed
            && *t != f.field
        {
            written.renamed.insert(f.field.clone(), t.clone());
        }
    }
    let has_original = rows.iter().any(|r| r.original.is_some());
    let typed = write_typed(conn, rows, &fields, leading, has_original, scratch, target, &mut written);
    let result = match typed {
        Ok(()) => Ok(written),
        Err(why) => {
            tracing::warn!(%why, "DuckDB could not type the rows; writing every value as JSON text");
            let why = why.replace(&scratch.to_string_lossy().into_owned(), "the rows");
            write_text(conn, rows, has_original, scratch, target).map(|renamed| Written {
                rows: rows.len() as u64,
                mixed: BTreeMap::new(),
                digits: BTreeMap::new(),
                renamed,
                as_text: Some(why),
            })
        }
    };
    let _ = fs_err::remove_file(scratch);
    result
}

fn scratch_writer(scratch: &Path) -> Result<std::io::BufWriter<fs_err::File>, String> {
    let file = fs_err::File::create(scratch).map_err(|e| format!("writing scratch space: {e}"))?;
    Ok(std::io::BufWriter::with_capacity(1 << 20, file))
}

/// A value of one NDJSON line.
enum Cell<'a> {
    Null,
    Value(&'a Value),
    Text(String),
}

/// Writes one NDJSON line: `{"column": value, ...}` with the columns in the order given.
fn write_line<'a>(out: &mut impl Write, cells: impl Iterator<Item = (&'a str, Cell<'a>)>) -> Result<(), String> {
    let mut line = Vec::with_capacity(256);
    line.push(b'{');
    for (i, (name, cell)) in cells.enumerate() {
        if i > 0 {
            line.push(b',');
        }
        serde_json::to_writer(&mut line, name).expect("writing to memory");
        line.push(b':');
        match cell {
            Cell::Null => line.extend_from_slice(b"null"),
            Cell::Value(v) => serde_json::to_writer(&mut line, v).expect("writing to memory"),
            Cell::Text(t) => serde_json::to_writer(&mut line, &t).expect("writing to memory"),
        }
    }
    line.extend_from_slice(b"}\n");
    out.write_all(&line).map_err(|e| format!("writing scratch space: {e}"))
}

#[allow(clippy::too_many_arguments)]
fn write_typed(
    conn: &Connection,
    rows: &[Row],
    fields: &[FieldPlan],
    leading: &[&str],
    has_original: bool,
    scratch: &Path,
    target: &Path,
    written: &mut Written,
) -> Result<(), String> {
    let mut out = scratch_writer(scratch)?;
    for r in rows {
        let mut cells = Vec::with_capacity(fields.len() + 1);
        for f in fields {
            let value = r.fields.get(&f.field).filter(|v| !v.is_null());
            let misfit = value.filter(|v| !fits(v, &f.keep));
            if let Some(v) = misfit {
                *written.mixed.entry(f.field.clone()).or_default() += 1;
                if v.is_number() && matches!(f.keep, Keep::Whole | Keep::Scalar(Kind::Number)) {
                    *written.digits.entry(f.field.clone()).or_default() += 1;
                }
            }
            if let Some(t) = &f.typed {
                cells.push((t.as_str(), value.filter(|_| misfit.is_none()).map_or(Cell::Null, Cell::Value)));
            }
            if let Some(m) = &f.mixed {
                cells.push((m.as_str(), misfit.map_or(Cell::Null, |v| Cell::Text(v.to_string()))));
            }
        }
        if has_original {
            cells.push((ORIGINAL_JSON, r.original.clone().map_or(Cell::Null, Cell::Text)));
        }
        write_line(&mut out, cells.into_iter())?;
    }
    out.flush().map_err(|e| format!("writing scratch space: {e}"))?;
    drop(out);
    // Identifiers first, when every row has one that fits; the original JSON last.
    let mut first: Vec<String> = Vec::new();
    for l in leading {
        let Some(f) = fields.iter().find(|f| f.field == *l) else { continue };
        let Some(column) = &f.typed else { continue };
        if f.mixed.is_none() && !first.contains(&quote_ident(column)) && rows.iter().all(|r| r.fields.contains_key(*l))
        {
            first.push(quote_ident(column));
        }
    }
    let last: Vec<String> = if has_original { vec![ORIGINAL_JSON.to_string()] } else { Vec::new() };
    let excluded: Vec<String> = first.iter().chain(&last).cloned().collect();
    let mut columns = first.clone();
    let total = fields.iter().map(|f| f.typed.iter().count() + f.mixed.iter().count()).sum::<usize>() + last.len();
    if total > excluded.len() || total == 0 {
        columns.push(if excluded.is_empty() { "*".into() } else { format!("* EXCLUDE ({})", excluded.join(", ")) });
    }
    columns.extend(last);
    let columns = columns.join(", ");
    // Every row, not a sample, decides the types. Records all have every column, so the row is
    // never taken for a map; nor is an object with more keys than DuckDB's default limit of 200
    // when the row itself has that many columns.
    let sql = format!(
        "COPY (SELECT {columns} FROM read_json({}, format = 'newline_delimited', records = true, \
         sample_size = -1, map_inference_threshold = {})) TO {} (FORMAT parquet, COMPRESSION zstd)",
        quote_literal(&scratch.to_string_lossy()),
        (total + 1).max(200),
        quote_literal(&target.to_string_lossy())
    );
    conn.execute_batch(&sql).map_err(|e| e.to_string())
}

/// Every value as JSON text in `<field>__json`, with the column types given, so nothing is
/// inferred and nothing can be refused. Returns the fields stored under another name.
fn write_text(
    conn: &Connection,
    rows: &[Row],
    has_original: bool,
    scratch: &Path,
    target: &Path,
) -> Result<BTreeMap<String, String>, String> {
    let mut fields: Vec<&str> = rows.iter().flat_map(|r| r.fields.keys().map(String::as_str)).collect();
    fields.sort_unstable();
    fields.dedup();
    let mut names = Names::new();
    let columns: Vec<String> = fields.iter().map(|f| names.take(&format!("{f}{MIXED_SUFFIX}"))).collect();
    let renamed = fields
        .iter()
        .zip(&columns)
        .filter(|(f, c)| **c != format!("{f}{MIXED_SUFFIX}"))
        .map(|(f, c)| (f.to_string(), c.clone()))
        .collect();
    let mut out = scratch_writer(scratch)?;
    for r in rows {
        let cells = fields.iter().zip(&columns).map(|(f, c)| {
            (c.as_str(), r.fields.get(*f).filter(|v| !v.is_null()).map_or(Cell::Null, |v| Cell::Text(v.to_string())))
        });
        let original = has_original.then(|| (ORIGINAL_JSON, r.original.clone().map_or(Cell::Null, Cell::Text)));
        write_line(&mut out, cells.chain(original))?;
    }
    out.flush().map_err(|e| format!("writing scratch space: {e}"))?;
    drop(out);
    let mut types: Vec<String> = columns.iter().map(|c| format!("{}: 'VARCHAR'", quote_literal(c))).collect();
    if has_original {
        types.push(format!("{}: 'VARCHAR'", quote_literal(ORIGINAL_JSON)));
    }
    copy_as_text(conn, scratch, &types, target).map_err(|e| {
        format!("converting to Parquet: {}", e.to_string().replace(&scratch.to_string_lossy().into_owned(), "the rows"))
    })?;
    Ok(renamed)
}

/// An empty table whose columns are `leading` and [`ORIGINAL_JSON`], as text, so that whatever
/// reads the table finds its columns.
fn write_empty(conn: &Connection, leading: &[&str], scratch: &Path, target: &Path) -> Result<(), String> {
    fs_err::write(scratch, b"").map_err(|e| format!("writing scratch space: {e}"))?;
    let mut names = Names::new();
    let types: Vec<String> = leading
        .iter()
        .map(|c| names.take(c))
        .chain([ORIGINAL_JSON.to_string()])
        .map(|c| format!("{}: 'VARCHAR'", quote_literal(&c)))
        .collect();
    copy_as_text(conn, scratch, &types, target).map_err(|e| format!("writing an empty table: {e}"))
}

/// The NDJSON file `scratch` to the Parquet file `target` with the columns `types` gives (each
/// `'name': 'VARCHAR'`): nothing inferred, so nothing refused.
fn copy_as_text(conn: &Connection, scratch: &Path, types: &[String], target: &Path) -> duckdb::Result<()> {
    conn.execute_batch(&format!(
        "COPY (SELECT * FROM read_json({}, format = 'newline_delimited', records = true, columns = {{{}}})) \
         TO {} (FORMAT parquet, COMPRESSION zstd)",
        quote_literal(&scratch.to_string_lossy()),
        types.join(", "),
        quote_literal(&target.to_string_lossy())
    ))
}

/// Writes JSON documents kept whole to the Parquet file `target`: columns `file` and `json`, the
/// text exactly as it was in the file, in the order given.
pub fn write_documents(conn: &Connection, documents: &[(String, String)], target: &Path) -> Result<(), String> {
    static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let table = format!("_cohort_documents_{}", N.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
    let run = || -> duckdb::Result<()> {
        conn.execute_batch(&format!("CREATE TEMP TABLE {table} (n BIGINT, file VARCHAR, json VARCHAR)"))?;
        let mut insert = conn.prepare(&format!("INSERT INTO {table} VALUES (?, ?, ?)"))?;
        for (n, (file, text)) in documents.iter().enumerate() {
            insert.execute(duckdb::params![n as i64, file, text])?;
        }
        conn.execute_batch(&format!(
            "COPY (SELECT file, json FROM {table} ORDER BY n) TO {} (FORMAT parquet, COMPRESSION zstd)",
            quote_literal(&target.to_string_lossy())
        ))
    };
    let result = run().map_err(|e| format!("writing the documents: {e}"));
    let _ = conn.execute_batch(&format!("DROP TABLE IF EXISTS {table}"));
    result
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn rows(values: &[Value]) -> Vec<Row> {
        values.iter().map(|v| Row { original: Some(v.to_string()), fields: v.as_object().unwrap().clone() }).collect()
    }

    fn field<'a>(plans: &'a [FieldPlan], name: &str) -> &'a FieldPlan {
        plans.iter().find(|f| f.field == name).unwrap()
    }

    #[test]
    fn the_common_kind_keeps_the_column() {
        let plans =
            plan(&rows(&[json!({"v": 1, "w": "a"}), json!({"v": "high", "w": "b"}), json!({"v": 2.5, "w": null})]));
        assert_eq!(field(&plans, "v").keep, Keep::Scalar(Kind::Number));
        assert_eq!(field(&plans, "v").mixed.as_deref(), Some("v__json"));
        assert_eq!(field(&plans, "w").mixed, None);
    }

    #[test]
    fn numbers_a_double_cannot_hold_are_set_apart_not_rounded() {
        let parse = |text: &str| -> Vec<Row> {
            let rows: Vec<Value> = serde_json::from_str(text).unwrap();
            rows.iter().map(|v| Row { original: None, fields: v.as_object().unwrap().clone() }).collect()
        };
        // Whole numbers that fit 64 bits stay whole, however many digits they have.
        let whole = parse(r#"[{"id": 9007199254740993}, {"id": 42}]"#);
        let plans = plan(&whole);
        assert_eq!((&field(&plans, "id").keep, &field(&plans, "id").mixed), (&Keep::Whole, &None));
        // Beside a fraction the column is DOUBLE: 2^53 + 1, 25 digits and 19 significant digits
        // would be rounded, so they go to the JSON column; 1.50 and 1e-7 are held exactly.
        let rows = parse(
            r#"[{"v": 1.50}, {"v": 9007199254740993}, {"v": 1234567890123456789012345},
                {"v": 0.1234567890123456789}, {"v": 1e-7}, {"v": -0.0}, {"v": 4503599627370496}]"#,
        );
        let plans = plan(&rows);
        let v = field(&plans, "v");
        assert_eq!((&v.keep, v.mixed.as_deref()), (&Keep::Scalar(Kind::Number), Some("v__json")));
        let fit: Vec<bool> = rows.iter().map(|r| fits(&r.fields["v"], &v.keep)).collect();
        assert_eq!(fit, [true, false, false, false, true, true, true]);
    }

    #[test]
    fn decimal_digits_normalise_spelling_not_value() {
        assert_eq!(decimal_digits("1.50"), decimal_digits("1.5e0"));
        assert_eq!(decimal_digits("150"), decimal_digits("1.5E2"));
        assert_eq!(decimal_digits("0.00120"), Some((false, "12".into(), -2)));
        assert_eq!(decimal_digits("-0.0"), Some((false, String::new(), 0)));
        assert_ne!(decimal_digits("-1.5"), decimal_digits("1.5"));
        assert_eq!(decimal_digits("1.5x"), None);
    }

    #[test]
    fn nested_conflicts_set_the_whole_value_apart() {
        let values = [
            json!({"a": {"city": "Bern", "zip": 3000}}),
            json!({"a": {"city": "Basel", "zip": "4000"}}),
            json!({"a": {"city": "Zug", "zip": 6300}}),
            json!({"a": {"city": {"name": "Chur"}}}),
            json!({"a": {"City": "Sion"}}),
            json!({"a": {"city": "Thun", "lines": ["x", 1]}}),
            json!({"a": {"city": "Aarau", "lines": ["y"]}}),
        ];
        let plans = plan(&rows(&values));
        let a = field(&plans, "a");
        let fit: Vec<bool> = values.iter().map(|v| fits(&v["a"], &a.keep)).collect();
        assert_eq!(fit, [true, false, true, false, false, false, true]);
        assert_eq!((a.typed.as_deref(), a.mixed.as_deref()), (Some("a"), Some("a__json")));
    }

    /// Rows DuckDB's reader refused before: fields that each appear in few rows (it read the row
    /// as a map: a binder error naming the scratch file), keys equal but for case inside an
    /// object (a duplicate struct field), an empty key, a field called `_original_json`.
    #[test]
    fn rows_of_any_shape_convert() {
        let dir = tempfile::tempdir().unwrap();
        let conn = Connection::open_in_memory().unwrap();
        let sparse: Vec<Value> =
            (0..15).map(|i| Value::Object((0..5).map(|j| (format!("f{i}_{j}"), json!(j))).collect())).collect();
        let odd = vec![
            json!({"id": 1, "a": {"city": "Bern"}, "": "empty", "_original_json": "mine"}),
            json!({"id": 2, "a": {"City": "Sion"}}),
            json!({"id": 3, "a": {"city": "Zug"}, "wide": Value::Object((0..250).map(|j| (format!("w{j}"), json!(j))).collect())}),
        ];
        for (n, values) in [sparse, odd].into_iter().enumerate() {
            let target = dir.path().join(format!("{n}.parquet"));
            let written = write(&conn, &rows(&values), &["id"], &dir.path().join("scratch.ndjson"), &target).unwrap();
            assert_eq!(written.as_text, None, "typed, not set down as text");
            let path = quote_literal(&target.to_string_lossy());
            let count: i64 =
                conn.query_row(&format!("SELECT count(*) FROM read_parquet({path})"), [], |r| r.get(0)).unwrap();
            assert_eq!(count as usize, values.len());
            let originals: Vec<String> = conn
                .prepare(&format!("SELECT {ORIGINAL_JSON} FROM read_parquet({path})"))
                .unwrap()
                .query_map([], |r| r.get(0))
                .unwrap()
                .collect::<duckdb::Result<_>>()
                .unwrap();
            let back: Vec<Value> = originals.iter().map(|o| serde_json::from_str(o).unwrap()).collect();
            assert_eq!(back, values);
        }
        assert!(!dir.path().join("scratch.ndjson").exists(), "the scratch file is removed");
        let a: String = conn
            .query_row(
                &format!("SELECT a__json FROM read_parquet('{}/1.parquet') WHERE id = 2", dir.path().display()),
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(a, r#"{"City":"Sion"}"#);
    }

    /// The way out should DuckDB refuse typed rows: every value as JSON text, nothing inferred.
    #[test]
    fn every_value_as_text_is_written_as_given() {
        let dir = tempfile::tempdir().unwrap();
        let conn = Connection::open_in_memory().unwrap();
        let target = dir.path().join("text.parquet");
        let values = [json!({"id": 1, "ID": "x", "a": {"b": [1, "2"]}}), json!({"id": "two", "c": null})];
        let renamed = write_text(&conn, &rows(&values), true, &dir.path().join("s.ndjson"), &target).unwrap();
        assert_eq!(renamed, BTreeMap::from([("id".to_string(), "id__json_2".to_string())]));
        type Texts = (Option<String>, Option<String>, Option<String>, String);
        let got: Vec<Texts> = conn
            .prepare(&format!(
                "SELECT ID__json, id__json_2, a__json, {ORIGINAL_JSON} FROM read_parquet({})",
                quote_literal(&target.to_string_lossy())
            ))
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .unwrap()
            .collect::<duckdb::Result<_>>()
            .unwrap();
        assert_eq!(
            got[0],
            (Some("\"x\"".into()), Some("1".into()), Some(r#"{"b":[1,"2"]}"#.into()), values[0].to_string())
        );
        assert_eq!(got[1].1.as_deref(), Some("\"two\""));
    }

    #[test]
    fn no_rows_make_an_empty_table_with_the_leading_columns() {
        let dir = tempfile::tempdir().unwrap();
        let conn = Connection::open_in_memory().unwrap();
        let target = dir.path().join("empty.parquet");
        write(&conn, &[], &["patient_id", "day"], &dir.path().join("s.ndjson"), &target).unwrap();
        let columns: Vec<String> = conn
            .prepare(&format!(
                "SELECT name FROM parquet_schema({}) WHERE num_children IS NULL",
                quote_literal(&target.to_string_lossy())
            ))
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<duckdb::Result<_>>()
            .unwrap();
        assert_eq!(columns, ["patient_id", "day", ORIGINAL_JSON]);
    }

    #[test]
    fn column_names_are_unique_ignoring_case() {
        let plans = plan(&rows(&[
            json!({"Name": 1, "name": "x", "": 2, "_original_json": 3, "n": 1, "n__JSON": 2}),
            json!({"n": "one", "name": "y"}),
        ]));
        assert_eq!(field(&plans, "name").typed.as_deref(), Some("name"), "the field more rows have");
        assert_eq!(field(&plans, "Name").typed.as_deref(), Some("Name_2"));
        assert_eq!(field(&plans, "").typed.as_deref(), Some("_"));
        assert_eq!(field(&plans, "_original_json").typed.as_deref(), Some("_original_json_2"));
        assert_eq!(field(&plans, "n").mixed.as_deref(), Some("n__json"));
        assert_eq!(field(&plans, "n__JSON").typed.as_deref(), Some("n__JSON_2"));
    }
}
