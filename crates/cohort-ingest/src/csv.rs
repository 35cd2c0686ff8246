//! Delimited text through DuckDB's CSV sniffer (delimiter, quoting, header, types, dates), with
//! identifier-like columns and codes with leading zeros kept as text.

use std::collections::BTreeMap;
use std::path::Path;

use cohort_store::name::{quote_ident, quote_literal};
use cohort_store::roles::is_identifier_name;
use duckdb::Connection;
use serde::Serialize;

use crate::IngestOptions;
use crate::error::{IngestError, Result};
use crate::run::{copy_sql, describe, explain};

/// Rows of the file examined for leading zeros in numeric-looking columns.
const LEADING_ZERO_SAMPLE_ROWS: usize = 100_000;

/// The dialect the sniffer found, recorded in provenance.
#[derive(Debug, Clone, Serialize)]
pub struct Dialect {
    /// Field delimiter.
    pub delimiter: String,
    /// Quote character.
    pub quote: String,
    /// Escape character.
    pub escape: String,
    /// Whether the first row is a header.
    pub header: bool,
    /// Lines skipped before the data.
    pub skip_rows: u64,
    /// Columns forced to text, with the reason.
    pub text_columns: BTreeMap<String, String>,
    /// The character encoding read (`utf-8`, `utf-16` or `latin-1`).
    pub encoding: String,
    /// The type the sniffer chose for each column.
    #[serde(skip)]
    pub sniffed_types: BTreeMap<String, String>,
}

/// A column that held values of another type than most of its values: those were stored as
/// nulls, or, when too many, the column was kept as text.
#[derive(Debug, Clone, Serialize)]
pub struct Coerced {
    /// The column.
    pub column: String,
    /// The type most of its values have.
    pub to_type: String,
    /// Values that are not of that type.
    pub values: u64,
    /// Up to five of them.
    pub examples: Vec<String>,
    /// Whether the column was kept as text instead (more than [`MAX_COERCED_SHARE`] of its
    /// values were not of the type).
    pub kept_as_text: bool,
}

/// Share of a column's values that may be set to null for not fitting its type; beyond it, the
/// column is kept as text and nothing is lost.
pub const MAX_COERCED_SHARE: f64 = 0.05;

/// `TRY_CAST` of a text column read by `read_csv`. DuckDB 2.0 pushes a `TRY_CAST` of a bare
/// column into the CSV reader as a strict conversion, which then fails on the very values it
/// should turn into nulls; wrapping the column in `nullif` keeps the cast where it is written.
fn try_cast_text(column: &str, to_type: &str) -> String {
    format!("TRY_CAST(nullif({column}, chr(0)) AS {to_type})")
}

/// Rows of a table looked at first, to rule out columns that are plainly text.
const REFINE_SAMPLE_ROWS: u64 = 100_000;

/// Values a text column needs before it is looked at as a mostly-typed column.
const MIN_VALUES_TO_REFINE: i64 = 20;

/// Text columns of the Parquet file `target` whose values are nearly all whole numbers, numbers
/// or dates (the sniffer keeps a column as text for a single value that is not): at least
/// 1 - [`MAX_COERCED_SHARE`] of the values fit, and the rest become nulls, with their count and
/// examples returned. `keep` names columns to leave as text (identifiers, leading zeros, asked
/// for). Rewrites `target` when a column changes.
pub fn refine_text_columns(
    conn: &Connection,
    target: &Path,
    keep: &dyn Fn(&str) -> bool,
) -> duckdb::Result<Vec<Coerced>> {
    let source = format!("read_parquet({})", quote_literal(&target.to_string_lossy()));
    let text: Vec<String> = describe(conn, &format!("SELECT * FROM {source}"))?
        .into_iter()
        .filter(|(name, ty)| ty == "VARCHAR" && !is_identifier_name(name) && !keep(name))
        .map(|(name, _)| name)
        .collect();
    if text.is_empty() {
        return Ok(Vec::new());
    }
    const TYPES: [&str; 3] = ["BIGINT", "DOUBLE", "DATE"];
    let count_fits = |columns: &[String], from: &str| -> duckdb::Result<Vec<i64>> {
        let mut measures = Vec::new();
        for c in columns {
            let q = quote_ident(c);
            measures.push(format!("count({q})"));
            measures.extend(TYPES.iter().map(|t| format!("count(TRY_CAST({q} AS {t}))")));
        }
        conn.query_row(&format!("SELECT {} FROM {from}", measures.join(", ")), [], |r| {
            (0..measures.len()).map(|i| r.get::<_, i64>(i)).collect()
        })
    };
    // A first look at the start of the table rules out most text columns (names, notes) cheaply;
    // only the rest are counted over the whole table.
    let sample = count_fits(&text, &format!("(SELECT * FROM {source} LIMIT {REFINE_SAMPLE_ROWS})"))?;
    let text: Vec<String> = text
        .into_iter()
        .enumerate()
        .filter(|(i, _)| {
            let present = sample[4 * i];
            present > 0 && sample[4 * i + 1..4 * i + 4].iter().any(|n| *n as f64 >= 0.5 * present as f64)
        })
        .map(|(_, c)| c)
        .collect();
    if text.is_empty() {
        return Ok(Vec::new());
    }
    let counts = count_fits(&text, &source)?;
    let mut chosen = Vec::new();
    for (i, c) in text.iter().enumerate() {
        let present = counts[4 * i];
        if present < MIN_VALUES_TO_REFINE {
            continue;
        }
        let fits = |n: i64| n < present && n as f64 >= (1.0 - MAX_COERCED_SHARE) * present as f64;
        if let Some(t) = TYPES.iter().zip(&counts[4 * i + 1..4 * i + 4]).find(|(_, n)| fits(**n)).map(|(t, _)| t) {
            chosen.push((c.clone(), t.to_string()));
        }
    }
    if chosen.is_empty() {
        return Ok(Vec::new());
    }
    let coerced = misfits(conn, &source, &chosen)?
        .into_iter()
        .zip(&chosen)
        .map(|((_, values, examples), (column, to_type))| Coerced {
            column: column.clone(),
            to_type: to_type.clone(),
            values: values.max(0) as u64,
            examples,
            kept_as_text: false,
        })
        .collect();
    let casts: Vec<String> =
        chosen.iter().map(|(c, t)| format!("{} AS {}", try_cast_text(&quote_ident(c), t), quote_ident(c))).collect();
    let rewritten = target.with_extension("refined.parquet");
    conn.execute_batch(&copy_sql(&format!("SELECT * REPLACE ({}) FROM {source}", casts.join(", ")), &rewritten))?;
    std::fs::rename(&rewritten, target).map_err(|e| duckdb::Error::ToSqlConversionFailure(Box::new(e)))?;
    Ok(coerced)
}

/// For each `(column, type)` of what `from` reads: the values present, those that are not of the
/// type, and up to five of these, in one scan.
fn misfits(
    conn: &Connection,
    from: &str,
    columns: &[(String, String)],
) -> duckdb::Result<Vec<(i64, i64, Vec<String>)>> {
    let mut measures = Vec::new();
    for (c, t) in columns {
        let q = quote_ident(c);
        let misfit = format!("{q} IS NOT NULL AND {} IS NULL", try_cast_text(&q, t));
        measures.push(format!("count({q})"));
        measures.push(format!("count(*) FILTER (WHERE {misfit})"));
        measures.push(format!(
            "coalesce(list_slice(list(DISTINCT {q} ORDER BY {q}) FILTER (WHERE {misfit}), 1, 5), [])::VARCHAR[]"
        ));
    }
    conn.query_row(&format!("SELECT {} FROM {from}", measures.join(", ")), [], |r| {
        (0..columns.len())
            .map(|i| {
                let examples = match r.get::<_, duckdb::types::Value>(3 * i + 2)? {
                    duckdb::types::Value::List(items) => items
                        .into_iter()
                        .filter_map(|v| match v {
                            duckdb::types::Value::Text(t) => Some(t),
                            _ => None,
                        })
                        .collect(),
                    _ => Vec::new(),
                };
                Ok((r.get(3 * i)?, r.get(3 * i + 1)?, examples))
            })
            .collect()
    })
}

/// After a typed read of `typed_reader` failed on a value that does not fit its column's type:
/// finds the columns with such values, reads them as text, and turns the misfits into nulls (or,
/// past [`MAX_COERCED_SHARE`], keeps the column as text). Returns the `SELECT`, the dialect and
/// what was coerced.
pub fn coerce_mixed(
    conn: &Connection,
    path: &Path,
    tab: bool,
    options: &IngestOptions,
    typed_reader: &str,
    sniffed: &Dialect,
) -> Result<(String, Dialect, Vec<Coerced>)> {
    static SCAN: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = SCAN.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let (errors, scans) = (format!("cohort_rejects_{n}"), format!("cohort_reject_scans_{n}"));
    let scan = format!(
        "{}, store_rejects = true, ignore_errors = true, rejects_table = {}, rejects_scan = {})",
        typed_reader.strip_suffix(')').unwrap_or(typed_reader),
        quote_literal(&errors),
        quote_literal(&scans)
    );
    // Counting every column makes the reader convert every value (a bare count(*) would not).
    conn.execute_batch(&format!("SELECT count(COLUMNS(*)) FROM {scan}")).map_err(|e| explain(path, &e.to_string()))?;
    let mut stmt = conn
        .prepare(&format!(
            "SELECT DISTINCT column_name FROM {} WHERE error_type = 'CAST' ORDER BY 1",
            quote_ident(&errors)
        ))
        .map_err(|e| explain(path, &e.to_string()))?;
    let failing: Vec<String> = stmt
        .query_map([], |r| r.get::<_, String>(0))
        .and_then(|rows| rows.collect())
        .map_err(|e| explain(path, &e.to_string()))?;
    let _ = conn.execute_batch(&format!(
        "DROP TABLE IF EXISTS {}; DROP TABLE IF EXISTS {}",
        quote_ident(&errors),
        quote_ident(&scans)
    ));
    let failing: Vec<(String, String)> =
        failing.into_iter().filter_map(|c| sniffed.sniffed_types.get(&c).map(|t| (c, t.clone()))).collect();
    if failing.is_empty() {
        return Err(explain(path, "Conversion Error: a value does not fit its column's type"));
    }
    let mut text_options = options.clone();
    text_options.text_columns.extend(failing.iter().map(|(c, _)| c.clone()));
    let (reader, mut dialect) = reader_sql(conn, path, tab, &text_options)?;
    let figures = misfits(conn, &reader, &failing).map_err(|e| explain(path, &e.to_string()))?;
    let mut coerced = Vec::new();
    let mut casts = Vec::new();
    for ((column, to_type), (present, misfit_count, examples)) in failing.into_iter().zip(figures) {
        let kept_as_text = present == 0 || misfit_count as f64 > MAX_COERCED_SHARE * present as f64;
        if kept_as_text {
            let reason = format!("mixed types: {misfit_count} of {present} values are not {to_type}");
            dialect.text_columns.insert(column.clone(), reason);
        } else {
            casts.push(format!("{} AS {}", try_cast_text(&quote_ident(&column), &to_type), quote_ident(&column)));
            dialect.text_columns.remove(&column);
        }
        coerced.push(Coerced { column, to_type, values: misfit_count.max(0) as u64, examples, kept_as_text });
    }
    let select = if casts.is_empty() {
        format!("SELECT * FROM {reader}")
    } else {
        format!("SELECT * REPLACE ({}) FROM {reader}", casts.join(", "))
    };
    Ok((select, dialect, coerced))
}

/// Delimiters tried when the sniffer's answer looks wrong.
const DELIMITER_CANDIDATES: [char; 4] = [',', '\t', ';', '|'];

struct Sniffed {
    delimiter: String,
    quote: String,
    escape: String,
    header: bool,
    skip_rows: i64,
    columns: Vec<SniffedColumn>,
}

fn sniff(conn: &Connection, file: &str, options: &str) -> duckdb::Result<Sniffed> {
    let sql = format!(
        "SELECT Delimiter, Quote, Escape, HasHeader, SkipRows::BIGINT, to_json(Columns)::VARCHAR FROM sniff_csv({file}, {options})"
    );
    conn.query_row(&sql, [], |r| {
        let columns: String = r.get(5)?;
        Ok(Sniffed {
            delimiter: r.get(0)?,
            quote: r.get(1)?,
            escape: r.get(2)?,
            header: r.get(3)?,
            skip_rows: r.get(4)?,
            columns: serde_json::from_str(&columns).unwrap_or_default(),
        })
    })
}

/// The delimiter the first line of `path` most likely uses, if it has any of the candidates.
fn delimiter_of_first_line(path: &Path) -> Option<char> {
    use std::io::BufRead;
    if path.extension().is_some_and(|e| e == "gz") {
        return None;
    }
    let mut line = Vec::new();
    std::io::BufReader::new(std::fs::File::open(path).ok()?).read_until(b'\n', &mut line).ok()?;
    DELIMITER_CANDIDATES
        .iter()
        .map(|d| (line.iter().filter(|b| **b as char == *d).count(), *d))
        .filter(|(n, _)| *n > 0)
        .max()
        .map(|(_, d)| d)
}

/// Reads the whole file strictly with `delimiter` and a header, every column as text, so that a
/// malformed row is reported with its line number. `None` if the file reads cleanly.
fn pinpoint(conn: &Connection, path: &Path, file: &str, options: &str, delimiter: char) -> Option<IngestError> {
    let sql = format!(
        "SELECT count(*) FROM read_csv({file}, {options}, delim = {}, header = true, all_varchar = true, auto_detect = false, \
         columns = {{{}}})",
        quote_literal(&delimiter.to_string()),
        header_columns(path, delimiter)?
    );
    conn.query_row(&sql, [], |r| r.get::<_, i64>(0)).err().map(|e| explain(path, &e.to_string()))
}

/// `'a': 'VARCHAR', 'b': 'VARCHAR'` from the first line of `path`.
fn header_columns(path: &Path, delimiter: char) -> Option<String> {
    use std::io::BufRead;
    let mut line = String::new();
    std::io::BufReader::new(std::fs::File::open(path).ok()?).read_line(&mut line).ok()?;
    let names: Vec<String> = line
        .trim_end_matches(['\r', '\n'])
        .trim_start_matches('\u{feff}')
        .split(delimiter)
        .enumerate()
        .map(|(i, n)| {
            let n = n.trim().trim_matches('"');
            let n = if n.is_empty() { format!("column{i}") } else { n.to_string() };
            format!("{}: 'VARCHAR'", quote_literal(&n))
        })
        .collect();
    Some(names.join(", "))
}

/// Bytes looked at to tell the encoding.
const ENCODING_SAMPLE: usize = 8 * 1024 * 1024;

/// The encoding of `path` from its first bytes: UTF-16 by its byte-order mark, UTF-8 when they
/// are valid UTF-8 (a character cut by the sample's end does not count), Latin-1 otherwise.
/// Compressed files are taken as UTF-8 (`--encoding` says otherwise).
pub fn detect_encoding(path: &Path) -> &'static str {
    use std::io::Read;
    if path.extension().is_some_and(|e| e.eq_ignore_ascii_case("gz")) {
        return "utf-8";
    }
    let mut sample = Vec::with_capacity(64 * 1024);
    let read = std::fs::File::open(path).and_then(|f| f.take(ENCODING_SAMPLE as u64).read_to_end(&mut sample));
    if read.is_err() {
        return "utf-8";
    }
    if sample.starts_with(&[0xFF, 0xFE]) || sample.starts_with(&[0xFE, 0xFF]) {
        return "utf-16";
    }
    match std::str::from_utf8(&sample) {
        Err(e) if e.error_len().is_some() => "latin-1",
        _ => "utf-8",
    }
}

/// Builds the `read_csv(...)` call that reads `path` faithfully, sniffing its dialect first.
pub fn reader_sql(conn: &Connection, path: &Path, tab: bool, options: &IngestOptions) -> Result<(String, Dialect)> {
    let file = quote_literal(&path.to_string_lossy());
    let nulls = options.null_strings.iter().map(|s| quote_literal(s)).collect::<Vec<_>>().join(", ");
    // Options that hold for every read of this file; the dialect is added once it is known.
    let encoding = options.encoding.clone().unwrap_or_else(|| detect_encoding(path).to_string());
    let mut base = format!("nullstr = [{nulls}], encoding = {}", quote_literal(&encoding));
    if let Some(h) = options.header {
        base.push_str(&format!(", header = {h}"));
    }
    if let Some(n) = options.skip_rows {
        base.push_str(&format!(", skip = {n}"));
    }
    let forced_delimiter = options.delimiter.or(tab.then_some('\t'));
    let sniff_options = match forced_delimiter {
        Some(d) => format!("{base}, delim = {}", quote_literal(&d.to_string())),
        None => base.clone(),
    };
    let first_line_delimiter = forced_delimiter.or_else(|| delimiter_of_first_line(path));

    let sniffed = match sniff(conn, &file, &sniff_options) {
        Ok(s) => s,
        Err(e) => {
            // The sniffer's own message is generic; a strict read names the offending line.
            if let Some(d) = first_line_delimiter
                && let Some(err) = pinpoint(conn, path, &file, &base, d)
            {
                return Err(err);
            }
            return Err(explain(path, &e.to_string()));
        }
    };
    // One column while the header line is full of another delimiter: the sniffer gave up on the
    // real dialect (typically because a row has extra fields). Say which row, or retry with it.
    let sniffed = match first_line_delimiter {
        Some(d) if sniffed.columns.len() == 1 && sniffed.delimiter != d.to_string() => {
            if let Some(err) = pinpoint(conn, path, &file, &base, d) {
                return Err(err);
            }
            sniff(conn, &file, &format!("{base}, delim = {}", quote_literal(&d.to_string())))
                .map_err(|e| explain(path, &e.to_string()))?
        }
        _ => sniffed,
    };
    let Sniffed { delimiter, quote, escape, header, skip_rows, columns } = sniffed;
    if skip_rows > 0 && options.skip_rows.is_none() {
        // The sniffer drops leading lines that do not fit the rest. A title above the header is
        // one reason; a malformed row near the top is another, and rows are never lost silently.
        let hint = Some(format!(
            "if the first {skip_rows} line(s) are a title above the table, pass `--skip {skip_rows}`; otherwise fix the file"
        ));
        let pinpointed = first_line_delimiter.and_then(|d| pinpoint(conn, path, &file, &base, d));
        return Err(match pinpointed {
            Some(IngestError::Invalid { path, line, message, .. }) => {
                IngestError::Invalid { path, line, message, hint }
            }
            _ => IngestError::Invalid {
                path: path.to_path_buf(),
                line: Some(skip_rows as u64 + 1),
                message: format!("the first {skip_rows} line(s) do not fit the table that starts here"),
                hint,
            },
        });
    }

    // The sniffer says "(empty)" when the sample had no quoting; leave those to DuckDB's defaults.
    let mut dialect_sql = format!(
        "nullstr = [{nulls}], encoding = {}, delim = {}, header = {header}, skip = {skip_rows}",
        quote_literal(&encoding),
        quote_literal(&delimiter)
    );
    for (option, value) in [("quote", &quote), ("escape", &escape)] {
        if value != "(empty)" {
            dialect_sql.push_str(&format!(", {option} = {}", quote_literal(value)));
        }
    }

    let mut text_columns = BTreeMap::new();
    for c in &columns {
        if is_text_type(&c.r#type) {
            continue;
        }
        if options.text_columns.iter().any(|t| t == &c.name) {
            text_columns.insert(c.name.clone(), "requested with --text-columns".to_string());
        } else if is_identifier_name(&c.name) {
            text_columns.insert(c.name.clone(), "identifier-like name".to_string());
        }
    }
    let integer_candidates: Vec<&SniffedColumn> =
        columns.iter().filter(|c| is_integer_type(&c.r#type) && !text_columns.contains_key(&c.name)).collect();
    if !integer_candidates.is_empty() {
        let checks = integer_candidates
            .iter()
            .map(|c| format!("coalesce(bool_or(regexp_matches({}, '^\\s*[+-]?0[0-9]')), false)", quote_ident(&c.name)))
            .collect::<Vec<_>>()
            .join(", ");
        let sample = format!(
            "SELECT {checks} FROM (SELECT * FROM read_csv({file}, {dialect_sql}, all_varchar = true) LIMIT {LEADING_ZERO_SAMPLE_ROWS})"
        );
        let flags: Vec<bool> = conn
            .query_row(&sample, [], |r| (0..integer_candidates.len()).map(|i| r.get::<_, bool>(i)).collect())
            .map_err(|e| explain(path, &e.to_string()))?;
        for (c, leading_zero) in integer_candidates.iter().zip(flags) {
            if leading_zero {
                text_columns.insert(c.name.clone(), "values with leading zeros".to_string());
            }
        }
    }

    let mut sql = format!("read_csv({file}, {dialect_sql}");
    if !text_columns.is_empty() {
        let types =
            text_columns.keys().map(|n| format!("{}: 'VARCHAR'", quote_literal(n))).collect::<Vec<_>>().join(", ");
        sql.push_str(&format!(", types = {{{types}}}"));
    }
    sql.push(')');
    let sniffed_types = columns.iter().map(|c| (c.name.clone(), c.r#type.clone())).collect();
    Ok((
        sql,
        Dialect {
            delimiter,
            quote,
            escape,
            header,
            skip_rows: skip_rows.max(0) as u64,
            text_columns,
            encoding,
            sniffed_types,
        },
    ))
}

#[derive(serde::Deserialize)]
struct SniffedColumn {
    name: String,
    r#type: String,
}

fn is_text_type(t: &str) -> bool {
    t.eq_ignore_ascii_case("VARCHAR")
}

fn is_integer_type(t: &str) -> bool {
    matches!(
        t.to_ascii_uppercase().as_str(),
        "TINYINT" | "SMALLINT" | "INTEGER" | "BIGINT" | "HUGEINT" | "UTINYINT" | "USMALLINT" | "UINTEGER" | "UBIGINT"
    )
}
