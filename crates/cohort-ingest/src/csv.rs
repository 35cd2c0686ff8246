//! Delimited text: DuckDB's CSV sniffer finds the dialect (delimiter, quoting, header) and suggests
//! a type per column; every column is then read as text and converted by cohort under the rule of
//! [`crate::typing`], over the whole column, so that no value changes without the report saying so.
//! Identifier-like columns and codes with leading zeros stay text.

use std::collections::BTreeMap;
use std::path::Path;

use cohort_store::name::{quote_ident, quote_literal};
use cohort_store::roles::is_identifier_name;
use cohort_store::{CancelToken, Progress};
use duckdb::Connection;
use serde::Serialize;

use crate::IngestOptions;
use crate::error::{IngestError, Result};
use crate::run::{copy_sql, describe, explain, run_with_progress};
use crate::typing::{self, Candidate, Decision, Notation, ValueType};

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
    /// Whether numbers were read with a decimal comma throughout (`--decimal-comma`).
    pub decimal_comma: bool,
    /// Columns whose numbers were found to use a decimal comma (`60,5`), in a file whose fields
    /// are not separated by commas.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub decimal_comma_columns: Vec<String>,
}

/// A column that held values of another kind than most of its values: those were set aside as
/// nulls (counted here, with examples), or the column was kept as text.
#[derive(Debug, Clone, Serialize)]
pub struct Coerced {
    /// The column.
    pub column: String,
    /// The SQL type most of its values have.
    pub to_type: String,
    /// Values set aside as nulls; when kept as text, the values that are not of the type.
    pub values: u64,
    /// Up to five of them.
    pub examples: Vec<String>,
    /// Whether the column was kept as text instead, and nothing set aside.
    pub kept_as_text: bool,
    /// Why it was kept as text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// A column of a delimited file, and the type it is to be stored as.
#[derive(Debug, Clone)]
struct ColumnPlan {
    name: String,
    ty: ValueType,
    notation: Notation,
    /// Given with `--type`: a value that does not fit is an error.
    forced: bool,
    /// Values that do not fit become nulls (the report counts them).
    set_aside: bool,
}

/// How to read a delimited file: its text reader and each column's type.
pub struct CsvPlan {
    /// `read_csv(...)` with every column as text.
    reader: String,
    /// The dialect found.
    pub dialect: Dialect,
    columns: Vec<ColumnPlan>,
}

impl CsvPlan {
    /// The `SELECT` that converts every column to its type, failing on a value that does not fit.
    fn select(&self) -> String {
        let columns: Vec<String> = self
            .columns
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let expr = if c.set_aside {
                    typing::lenient(&c.name, &c.ty, c.notation)
                } else {
                    typing::guarded(&c.name, i, &c.ty, c.notation)
                };
                format!("{expr} AS {}", quote_ident(&c.name))
            })
            .collect();
        format!("SELECT {} FROM {}", columns.join(", "), self.reader)
    }
}

/// Converts the delimited file `path` to the Parquet file `target` under the rule of
/// [`crate::typing`]: the sniffer's types are tried in one guarded pass; if a value does not fit,
/// the columns concerned are measured whole and decided again. `forced` gives the `--type`
/// overrides of this table's columns. Returns the dialect and what was set aside or kept as text.
#[allow(clippy::too_many_arguments)]
pub fn convert(
    conn: &Connection,
    path: &Path,
    tab: bool,
    options: &IngestOptions,
    forced: &dyn Fn(&str) -> Option<ValueType>,
    target: &Path,
    progress: &dyn Progress,
    cancel: &CancelToken,
) -> Result<(Dialect, Vec<Coerced>)> {
    typing::install(conn).map_err(|e| explain(path, &e.to_string()))?;
    let started = std::time::Instant::now();
    let mut plan = plan(conn, path, tab, options, forced)?;
    tracing::debug!(seconds = started.elapsed().as_secs_f64(), "sniffed the dialect");
    let len = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    let mut coerced = Vec::new();
    let mut measured = false;
    loop {
        let started = std::time::Instant::now();
        let copy = copy_sql(&plan.select(), target);
        tracing::debug!(sql = %copy, "converting");
        let copied = run_with_progress(conn, &copy, path, len, progress, cancel);
        tracing::info!(seconds = started.elapsed().as_secs_f64(), ok = copied.is_ok(), "converted with types");
        let failed = match copied {
            Ok(()) => break,
            Err(IngestError::Invalid { message, .. }) if typing::misfit_column(&message).is_some() => {
                typing::misfit_column(&message).expect("checked")
            }
            Err(e) => return Err(e),
        };
        let column = &plan.columns[failed];
        if column.forced {
            return Err(forced_misfit(conn, path, &plan.reader, column, options.decimal_comma));
        }
        if measured {
            return Err(explain(
                path,
                &format!("column `{}`: a value does not fit the type it was measured to have", column.name),
            ));
        }
        // A value the sniffer's sample did not show: measure every inferred column whole.
        coerced.extend(redecide(conn, path, &mut plan, options)?);
        measured = true;
    }
    if !measured && options.date_format.is_none() {
        let ambiguous = ambiguous_day_month(conn, target, &plan.columns).map_err(|e| explain(path, &e.to_string()))?;
        if !ambiguous.is_empty() {
            for c in plan.columns.iter_mut().filter(|c| ambiguous.contains(&c.name)) {
                coerced.push(Coerced {
                    column: c.name.clone(),
                    to_type: c.ty.sql_type().into(),
                    values: 0,
                    examples: Vec::new(),
                    kept_as_text: true,
                    reason: Some(AMBIGUOUS_DAY_MONTH.into()),
                });
                c.ty = ValueType::Text;
            }
            run_with_progress(conn, &copy_sql(&plan.select(), target), path, len, progress, cancel)?;
        }
    }
    let keep_text: Vec<String> = plan
        .columns
        .iter()
        .filter(|c| {
            c.forced
                || options.text_columns.contains(&c.name)
                || plan.dialect.text_columns.contains_key(&c.name)
                || coerced.iter().any(|k| k.column == c.name)
        })
        .map(|c| c.name.clone())
        .collect();
    let started = std::time::Instant::now();
    let refined = refine_text_columns(conn, target, &plan.dialect, &|c| keep_text.iter().any(|k| k == c))
        .map_err(|e| explain(path, &e.to_string()))?;
    tracing::info!(seconds = started.elapsed().as_secs_f64(), "looked for typed values in text columns");
    let mut dialect = plan.dialect;
    for (column, comma) in &refined.decimal_comma {
        if *comma {
            dialect.decimal_comma_columns.push(column.clone());
        }
    }
    coerced.extend(refined.coerced);
    Ok((dialect, coerced))
}

const AMBIGUOUS_DAY_MONTH: &str =
    "day and month cannot be told apart (no day is after the 12th): give `--date-format`, such as `%d/%m/%Y`";

/// Measures every inferred, non-text column of `plan` over the whole file and decides its type.
fn redecide(conn: &Connection, path: &Path, plan: &mut CsvPlan, options: &IngestOptions) -> Result<Vec<Coerced>> {
    let candidates: Vec<Candidate> = plan
        .columns
        .iter()
        .filter(|c| !c.forced && !c.ty.is_text())
        .map(|c| Candidate {
            column: c.name.clone(),
            ty: c.ty.clone(),
            notation: c.notation,
            day_month_given: options.date_format.is_some(),
        })
        .collect();
    let started = std::time::Instant::now();
    let profiles = typing::profile(conn, &plan.reader, &candidates).map_err(|e| explain(path, &e.to_string()))?;
    tracing::info!(seconds = started.elapsed().as_secs_f64(), columns = candidates.len(), "measured whole columns");
    let mut coerced = Vec::new();
    for (candidate, profile) in candidates.iter().zip(profiles) {
        let decision = typing::decide(&candidate.ty, &profile);
        let c = plan.columns.iter_mut().find(|c| c.name == candidate.column).expect("a column of the plan");
        if let Some(report) = coerced_report(&candidate.column, &decision) {
            coerced.push(report);
        }
        c.set_aside = decision.set_aside > 0;
        c.ty = decision.ty;
    }
    Ok(coerced)
}

/// What the report says of a decision, if anything: values set aside, or the column kept as text.
fn coerced_report(column: &str, d: &Decision) -> Option<Coerced> {
    if let Some(reason) = &d.kept_as_text {
        return Some(Coerced {
            column: column.to_string(),
            to_type: d.considered.sql_type().into(),
            values: d.misfits,
            examples: d.examples.clone(),
            kept_as_text: true,
            reason: Some(reason.clone()),
        });
    }
    (d.set_aside > 0).then(|| Coerced {
        column: column.to_string(),
        to_type: d.ty.sql_type().into(),
        values: d.set_aside,
        examples: d.examples.clone(),
        kept_as_text: false,
        reason: None,
    })
}

/// The error for a value that does not fit the type `--type` gave its column: the column, the
/// row and the value.
fn forced_misfit(
    conn: &Connection,
    path: &Path,
    reader: &str,
    column: &ColumnPlan,
    decimal_comma: bool,
) -> IngestError {
    let found = typing::first_misfit(conn, reader, &column.name, &column.ty, column.notation);
    let (row, value) = match found {
        Ok(Some(found)) => found,
        Ok(None) => (0, String::new()),
        Err(e) => return explain(path, &e.to_string()),
    };
    let comma_number = typing::ValueType::Decimal.fits(&quote_literal(&value), Notation { decimal_comma: true });
    let has_comma = value.contains(',') && comma_number.is_some();
    let hint = if has_comma && !decimal_comma && matches!(column.ty, ValueType::Decimal | ValueType::Integer) {
        "it is written with a decimal comma: pass `--decimal-comma`".to_string()
    } else {
        format!("correct the value, or store the column as text with `--type {}=text`", column.name)
    };
    IngestError::Invalid {
        path: path.to_path_buf(),
        line: None,
        message: format!(
            "column `{}`, row {row}: `{value}` is not {} (`--type` asked for it)",
            column.name,
            column.ty.describe()
        ),
        hint: Some(hint),
    }
}

/// Date and timestamp columns of `target` read with a sniffed format with day and month as
/// numbers, in which no day is after the 12th while some day and month differ: either order
/// would read every value.
fn ambiguous_day_month(conn: &Connection, target: &Path, columns: &[ColumnPlan]) -> duckdb::Result<Vec<String>> {
    let dated: Vec<&ColumnPlan> = columns
        .iter()
        .filter(|c| !c.forced)
        .filter(|c| match &c.ty {
            ValueType::Date { format: Some(f) } | ValueType::Timestamp { format: Some(f), .. } => {
                typing::day_and_month_could_swap(f)
            }
            _ => false,
        })
        .collect();
    if dated.is_empty() {
        return Ok(Vec::new());
    }
    let measures: Vec<String> = dated
        .iter()
        .map(|c| {
            let q = quote_ident(&c.name);
            format!("coalesce(max(day({q})) <= 12 AND bool_or(day({q}) <> month({q})), false)")
        })
        .collect();
    let flags: Vec<bool> = conn.query_row(
        &format!("SELECT {} FROM read_parquet({})", measures.join(", "), quote_literal(&target.to_string_lossy())),
        [],
        |r| (0..dated.len()).map(|i| r.get(i)).collect(),
    )?;
    Ok(dated.into_iter().zip(flags).filter(|(_, a)| *a).map(|(c, _)| c.name.clone()).collect())
}

/// Rows of a table looked at first, to rule out columns that are plainly text.
const REFINE_SAMPLE_ROWS: u64 = 100_000;

/// Values looked at first at most: a wide table's first look takes fewer rows.
const SAMPLE_CELLS: u64 = 2_000_000;

/// What [`refine_text_columns`] changed.
#[derive(Default)]
struct Refined {
    coerced: Vec<Coerced>,
    /// Columns given a number type, and whether with a decimal comma.
    decimal_comma: Vec<(String, bool)>,
}

/// Text columns of the Parquet file `target` whose every value is a number, a date or a date and
/// time (the sniffer keeps a column as text for a single value that is not, or for a leading
/// `+`), or all but a few values of another kind, which are set aside. Numbers with a decimal
/// comma are recognised in files whose delimiter is not a comma. `keep` names columns to leave as
/// text. Rewrites `target` when a column changes.
fn refine_text_columns(
    conn: &Connection,
    target: &Path,
    dialect: &Dialect,
    keep: &dyn Fn(&str) -> bool,
) -> duckdb::Result<Refined> {
    let source = format!("read_parquet({})", quote_literal(&target.to_string_lossy()));
    let text: Vec<String> = describe(conn, &format!("SELECT * FROM {source}"))?
        .into_iter()
        .filter(|(name, ty)| ty == "VARCHAR" && !is_identifier_name(name) && !keep(name))
        .map(|(name, _)| name)
        .collect();
    if text.is_empty() {
        return Ok(Refined::default());
    }
    let point = Notation { decimal_comma: dialect.decimal_comma };
    let mut kinds = vec![
        (ValueType::Decimal, point),
        (ValueType::Date { format: None }, point),
        (ValueType::Timestamp { format: None, zoned: false }, point),
    ];
    if !dialect.decimal_comma && dialect.delimiter != "," {
        kinds.insert(1, (ValueType::Decimal, Notation { decimal_comma: true }));
    }
    // A first look at the start of the table rules out most text columns (names, notes) cheaply:
    // a column is a candidate when at least half its values there are of one kind. The look is
    // taken in Rust: as a query, thousands of measures over a wide table took seconds.
    let sample_rows = (SAMPLE_CELLS / text.len() as u64).clamp(1_000, REFINE_SAMPLE_ROWS);
    let projection: Vec<String> = text.iter().map(|c| quote_ident(c)).collect();
    let mut stmt = conn.prepare(&format!("SELECT {} FROM {source} LIMIT {sample_rows}", projection.join(", ")))?;
    let per = kinds.len() + 1;
    let mut sample = vec![0i64; text.len() * per];
    let mut rows = stmt.query([])?;
    while let Some(row) = rows.next()? {
        for i in 0..text.len() {
            let Some(value) = row.get::<_, Option<String>>(i)? else { continue };
            sample[per * i] += 1;
            for (k, (ty, n)) in kinds.iter().enumerate() {
                if typing::looks_like(ty, *n, &value) {
                    sample[per * i + 1 + k] += 1;
                }
            }
        }
    }
    let candidates: Vec<Candidate> = text
        .iter()
        .enumerate()
        .filter_map(|(i, c)| {
            let present = sample[per * i];
            let best = (0..kinds.len()).max_by_key(|k| (sample[per * i + 1 + k], std::cmp::Reverse(*k)))?;
            (present > 0 && sample[per * i + 1 + best] as f64 >= 0.5 * present as f64).then(|| Candidate {
                column: c.clone(),
                ty: kinds[best].0.clone(),
                notation: kinds[best].1,
                day_month_given: false,
            })
        })
        .collect();
    if candidates.is_empty() {
        return Ok(Refined::default());
    }
    let profiles = typing::profile(conn, &source, &candidates)?;
    let mut refined = Refined::default();
    let mut casts = Vec::new();
    for (candidate, profile) in candidates.iter().zip(&profiles) {
        let mut decision = typing::decide(&candidate.ty, profile);
        let comma_guessed = candidate.notation.decimal_comma && !dialect.decimal_comma;
        if comma_guessed && !decision.ty.is_text() && typing::comma_could_be_thousands(profile) {
            decision = Decision {
                ty: ValueType::Text,
                set_aside: 0,
                examples: Vec::new(),
                misfits: 0,
                considered: decision.considered.clone(),
                kept_as_text: Some(
                    "every comma has three digits after it, so it could separate thousands: give `--decimal-comma` \
                     if it is a decimal comma"
                        .into(),
                ),
            };
        }
        // A column of text that merely could have been something else is not news; one whose
        // values were mostly of a type is.
        if decision.kept_as_text.is_some() && profile.fits < profile.present / 2 {
            continue;
        }
        if let Some(report) = coerced_report(&candidate.column, &decision) {
            refined.coerced.push(report);
        }
        if decision.ty.is_text() {
            continue;
        }
        if matches!(decision.ty, ValueType::Decimal | ValueType::Integer) {
            refined.decimal_comma.push((candidate.column.clone(), comma_guessed && profile.commas > 0));
        }
        casts.push(format!(
            "{} AS {}",
            typing::lenient(&candidate.column, &decision.ty, candidate.notation),
            quote_ident(&candidate.column)
        ));
    }
    if casts.is_empty() {
        return Ok(refined);
    }
    let rewritten = target.with_extension("refined.parquet");
    conn.execute_batch(&copy_sql(&format!("SELECT * REPLACE ({}) FROM {source}", casts.join(", ")), &rewritten))?;
    std::fs::rename(&rewritten, target).map_err(|e| duckdb::Error::ToSqlConversionFailure(Box::new(e)))?;
    Ok(refined)
}

/// Delimiters tried when the sniffer's answer looks wrong.
const DELIMITER_CANDIDATES: [char; 4] = [',', '\t', ';', '|'];

struct Sniffed {
    delimiter: String,
    quote: String,
    escape: String,
    comment: String,
    header: bool,
    skip_rows: i64,
    columns: Vec<SniffedColumn>,
    date_format: Option<String>,
    timestamp_format: Option<String>,
}

fn sniff(conn: &Connection, file: &str, options: &str) -> duckdb::Result<Sniffed> {
    let sql = format!(
        "SELECT Delimiter, Quote, Escape, HasHeader, SkipRows::BIGINT, to_json(Columns)::VARCHAR, DateFormat, \
         TimestampFormat, Comment FROM sniff_csv({file}, {options})"
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
            date_format: r.get(6)?,
            timestamp_format: r.get(7)?,
            comment: r.get(8)?,
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

/// Fields in a header line from which a file counts as wide.
const WIDE_FIELDS: usize = 200;

/// Whether `path` is a wide file (a header of at least [`WIDE_FIELDS`] fields separated by
/// `delimiter`) whose start quotes, if at all, with double quotes doubled inside quoted fields:
/// no backslash before a quote and no field starting with a single quote.
fn plain_wide_file(path: &Path, delimiter: char) -> bool {
    use std::io::Read;
    if path.extension().is_some_and(|e| e == "gz") {
        return false;
    }
    let mut start = Vec::new();
    let read = std::fs::File::open(path).and_then(|f| f.take(1 << 20).read_to_end(&mut start));
    if read.is_err() {
        return false;
    }
    let header = start.split(|b| *b == b'\n').next().unwrap_or_default();
    let fields = header.iter().filter(|b| **b as char == delimiter).count() + 1;
    let single_quoted = start.windows(2).any(|w| w[0] as char == delimiter && w[1] == b'\'');
    fields >= WIDE_FIELDS && !start.windows(2).any(|w| w == b"\\\"") && !single_quoted
}

/// Whether the first megabyte of `path` has a field starting with `quote`: at the start of a
/// line or right after `delimiter`. (Compressed files: not known, so no.)
fn quotes_fields_with(path: &Path, delimiter: &str, quote: u8) -> bool {
    use std::io::Read;
    if path.extension().is_some_and(|e| e == "gz") {
        return false;
    }
    let mut start = Vec::new();
    if std::fs::File::open(path).and_then(|f| f.take(1 << 20).read_to_end(&mut start)).is_err() {
        return false;
    }
    let delimiter = delimiter.as_bytes();
    start.first() == Some(&quote)
        || start.windows(2).any(|w| w[0] == b'\n' && w[1] == quote)
        || (delimiter.len() == 1 && start.windows(2).any(|w| w[0] == delimiter[0] && w[1] == quote))
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

/// Sniffs the dialect of `path` and plans its reading: a `read_csv(...)` of every column as text,
/// and the type each column is to have (`forced` gives those of `--type`).
fn plan(
    conn: &Connection,
    path: &Path,
    tab: bool,
    options: &IngestOptions,
    forced: &dyn Fn(&str) -> Option<ValueType>,
) -> Result<CsvPlan> {
    let file = quote_literal(&path.to_string_lossy());
    let nulls = options.null_strings.iter().map(|s| quote_literal(s)).collect::<Vec<_>>().join(", ");
    // Options that hold for every read of this file; the dialect is added once it is known.
    let encoding = options.encoding.clone().unwrap_or_else(|| detect_encoding(path).to_string());
    let mut base = format!("nullstr = [{nulls}], encoding = {}", quote_literal(&encoding));
    if options.decimal_comma {
        base.push_str(", decimal_separator = ','");
    }
    if let Some(f) = &options.date_format {
        base.push_str(&format!(", dateformat = {}", quote_literal(f)));
    }
    if let Some(h) = options.header {
        base.push_str(&format!(", header = {h}"));
    }
    if let Some(n) = options.skip_rows {
        base.push_str(&format!(", skip = {n}"));
    }
    let forced_delimiter = options.delimiter.or(tab.then_some('\t'));
    let first_line_delimiter = forced_delimiter.or_else(|| delimiter_of_first_line(path));
    let sniff_options = match (forced_delimiter, first_line_delimiter) {
        // Trying every quote and escape character against thousands of columns is most of the
        // sniffer's time on a wide file (2.7 s of 2.8 for 2,000 columns): the usual ones are
        // given instead, where the file shows no sign of others.
        (_, Some(d)) if plain_wide_file(path, d) => {
            format!("{base}, delim = {}, quote = '\"', escape = '\"'", quote_literal(&d.to_string()))
        }
        (Some(d), _) => format!("{base}, delim = {}", quote_literal(&d.to_string())),
        (None, _) => base.clone(),
    };

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
    let Sniffed {
        delimiter,
        mut quote,
        mut escape,
        comment,
        header,
        skip_rows,
        columns,
        date_format,
        timestamp_format,
    } = sniffed;
    // Where both read the sample alike, the sniffer can settle on a quote the file never uses
    // (`'`, with null strings given) over the `"` it does use, and a field written
    // `"said ""no"""` would keep its quotes. A quote no field starts with gives way to `"`
    // when fields start with that.
    if quote != "\""
        && !quote.bytes().next().is_some_and(|q| quotes_fields_with(path, &delimiter, q))
        && quotes_fields_with(path, &delimiter, b'"')
    {
        quote = "\"".into();
        escape = "\"".into();
    }
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
    for (option, value) in [("quote", &quote), ("escape", &escape), ("comment", &comment)] {
        if value != "(empty)" {
            dialect_sql.push_str(&format!(", {option} = {}", quote_literal(value)));
        }
    }

    let date_format = options.date_format.clone().or(date_format);
    let notation = Notation { decimal_comma: options.decimal_comma };
    let mut text_columns = BTreeMap::new();
    let mut planned = Vec::with_capacity(columns.len());
    for c in &columns {
        let sniffed = ValueType::from_sniffed(&c.r#type, date_format.as_deref(), timestamp_format.as_deref());
        let (ty, is_forced) = match forced(&c.name) {
            Some(ty) => (ty, true),
            None if options.text_columns.iter().any(|t| t == &c.name) => {
                if !sniffed.is_text() {
                    text_columns.insert(c.name.clone(), "requested with --text-columns".to_string());
                }
                (ValueType::Text, false)
            }
            None if is_identifier_name(&c.name) => {
                if !sniffed.is_text() {
                    text_columns.insert(c.name.clone(), "identifier-like name".to_string());
                }
                (ValueType::Text, false)
            }
            None => (sniffed, false),
        };
        // A format whose values cohort does not read as they are (two-digit years) keeps text.
        let ty = match ty.fits("v", notation) {
            None => {
                text_columns.insert(
                    c.name.clone(),
                    "two-digit years: the century would be a guess; give `--date-format` with `%Y` if the file has four"
                        .to_string(),
                );
                ValueType::Text
            }
            Some(_) => ty,
        };
        planned.push(ColumnPlan { name: c.name.clone(), ty, notation, forced: is_forced, set_aside: false });
    }
    Ok(CsvPlan {
        // Every column as text, named as the sniffer found them, and no detection: binding a
        // `read_csv` that detects runs the sniffer again, which on a file of 2,000 columns takes
        // seconds each time the reader is planned.
        reader: format!(
            "read_csv({file}, auto_detect = false, {dialect_sql}, columns = {{{}}})",
            columns.iter().map(|c| format!("{}: 'VARCHAR'", quote_literal(&c.name))).collect::<Vec<_>>().join(", ")
        ),
        dialect: Dialect {
            delimiter,
            quote,
            escape,
            header,
            skip_rows: skip_rows.max(0) as u64,
            text_columns,
            encoding,
            decimal_comma: options.decimal_comma,
            decimal_comma_columns: Vec::new(),
        },
        columns: planned,
    })
}

#[derive(serde::Deserialize)]
struct SniffedColumn {
    name: String,
    r#type: String,
}
