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
use crate::run::explain;

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
    Ok((sql, Dialect { delimiter, quote, escape, header, skip_rows: skip_rows.max(0) as u64, text_columns, encoding }))
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
