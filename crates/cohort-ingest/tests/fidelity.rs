//! "Never change a value": every value ingested reads back as the value given, or the ingest
//! report says it was set aside. Generated CSV files and workbooks with the awkward values
//! researchers' files hold (censored lab values, leading zeros late in the file, decimal commas,
//! codes like `1E5`, long numbers, dates of every form, two-digit years, nanoseconds, ...) and
//! random files (a property test) are ingested; every stored value is read back as text and
//! compared with its source by an oracle written apart from the implementation.

use std::path::{Path, PathBuf};

use cohort_ingest::{IngestOptions, IngestReport, IngestRequest, TableReport, ingest};
use cohort_store::{CancelToken, DatasetName, NoProgress, Settings, Store, VersionRef, table_source};
use jiff::civil::{Date, DateTime};
use proptest::prelude::*;
use rand::{RngExt, SeedableRng};
use rand_pcg::Pcg64Mcg;

/// What a source cell means.
#[derive(Clone, Debug, PartialEq)]
enum Truth {
    /// Written as one of the null strings.
    Missing,
    /// A number, as written (with a decimal point, or a comma in a decimal-comma file).
    Number(String),
    Date(Date),
    DateTime(DateTime),
    Bool(bool),
    /// Text: kept as written, or (when plainly of another kind than its column) set aside.
    Text,
}

#[derive(Clone, Debug)]
struct Cell {
    raw: String,
    truth: Truth,
}

#[derive(Clone, Debug)]
struct Column {
    name: String,
    cells: Vec<Cell>,
}

/// The kinds of column generated.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    Integers,
    Decimals,
    /// Decimals with a few `<0.5`, `CF`, `n/a`.
    LabWithCensored,
    /// Doubles as Python and pandas print them (up to 17 digits).
    LongDecimals,
    /// `1.5e-05`, `2e+03`.
    Exponents,
    /// Whole numbers, and codes with leading zeros near the end.
    LeadingZerosLate,
    /// `1E5`, `2E7`, `3A4`.
    CodesWithE,
    /// `1,234` among small numbers.
    Thousands,
    /// `+5`, `-0`, ` 7`.
    Signs,
    /// 20 to 25 digits.
    LongIntegers,
    /// ISO dates, one with a time of day.
    IsoDates,
    DayFirst,
    /// Day first, but no day after the 12th.
    DayFirstAmbiguous,
    MonthFirst,
    Dotted,
    /// `25/04/45`.
    TwoDigitYears,
    /// ISO timestamps, some with nanoseconds.
    Timestamps,
    Booleans,
    Words,
    /// Numbers and words half and half.
    HalfWords,
    /// `60,5` (only in files separated by `;`).
    DecimalComma,
    /// Values made of digits, signs, separators and letters at random.
    Random,
}

const KINDS: [Kind; 22] = [
    Kind::Integers,
    Kind::Decimals,
    Kind::LabWithCensored,
    Kind::LongDecimals,
    Kind::Exponents,
    Kind::LeadingZerosLate,
    Kind::CodesWithE,
    Kind::Thousands,
    Kind::Signs,
    Kind::LongIntegers,
    Kind::IsoDates,
    Kind::DayFirst,
    Kind::DayFirstAmbiguous,
    Kind::MonthFirst,
    Kind::Dotted,
    Kind::TwoDigitYears,
    Kind::Timestamps,
    Kind::Booleans,
    Kind::Words,
    Kind::HalfWords,
    Kind::DecimalComma,
    Kind::Random,
];

const WORDS: [&str; 12] =
    ["alpha", "beta, gamma", "said \"no\"", "n/a", "CF", "<0.5", "not done", "50%", "7 mg", "?", "unknown", "x"];

fn number(raw: String) -> Cell {
    Cell { truth: Truth::Number(raw.clone()), raw }
}

fn text(raw: impl Into<String>) -> Cell {
    Cell { raw: raw.into(), truth: Truth::Text }
}

fn date(rng: &mut Pcg64Mcg, max_day: i8) -> Date {
    let year = rng.random_range(1930..2030);
    let month = rng.random_range(1..=12);
    Date::new(year, month, rng.random_range(1..=max_day)).expect("a valid day")
}

/// A column of `rows` cells of `kind`; about one cell in twenty is missing.
fn column(kind: Kind, name: &str, rows: usize, rng: &mut Pcg64Mcg) -> Column {
    let mut cells = Vec::with_capacity(rows);
    for row in 0..rows {
        if rng.random_range(0..20) == 0 {
            let raw = ["", "NA", "NULL"][rng.random_range(0..3)];
            cells.push(Cell { raw: raw.into(), truth: Truth::Missing });
            continue;
        }
        let late = row + 3 >= rows;
        let cell = match kind {
            Kind::Integers => number(rng.random_range(-1_000_000i64..1_000_000).to_string()),
            Kind::Decimals => {
                let places = rng.random_range(1..4usize);
                number(format!("{:.places$}", rng.random_range(-500.0..500.0f64)))
            }
            Kind::LabWithCensored if rng.random_range(0..60) == 0 => {
                text(["<0.5", "CF", "n/a", "<5"][rng.random_range(0..4)])
            }
            Kind::LabWithCensored => number(format!("{:.2}", rng.random_range(0.0..20.0f64))),
            Kind::LongDecimals => number(format!("{}", rng.random::<f64>() * 10f64.powi(rng.random_range(-3..6)))),
            Kind::Exponents => {
                let e = format!("{:e}", rng.random_range(1.0..10.0f64).trunc() * 10f64.powi(rng.random_range(-12..12)));
                // As R and Python write them: `1e+05`, `1.5e-07`.
                let (m, x) = e.split_once('e').expect("exponent form");
                let x: i32 = x.parse().expect("an exponent");
                number(format!("{m}e{}{:02}", if x < 0 { '-' } else { '+' }, x.abs()))
            }
            Kind::LeadingZerosLate if late => text(format!("{:06}", rng.random_range(0..1000))),
            Kind::LeadingZerosLate => number(rng.random_range(1000..999_999).to_string()),
            Kind::CodesWithE if rng.random_bool(0.8) => {
                text(format!("{}E{}", rng.random_range(1..99), rng.random_range(1..20)))
            }
            Kind::CodesWithE => text(format!("{}A{}", rng.random_range(1..99), rng.random_range(1..20))),
            Kind::Thousands if rng.random_bool(0.3) => {
                text(format!("{},{:03}", rng.random_range(1..99), rng.random_range(0..1000)))
            }
            Kind::Thousands => number(rng.random_range(0..999).to_string()),
            Kind::Signs => {
                let n = rng.random_range(0..100);
                number(match rng.random_range(0..4) {
                    0 => format!("+{n}"),
                    1 => format!(" {n}"),
                    2 => "-0".to_string(),
                    _ => n.to_string(),
                })
            }
            Kind::LongIntegers => {
                let digits = rng.random_range(20..26);
                let mut s = rng.random_range(1..10).to_string();
                for _ in 1..digits {
                    s.push(char::from(b'0' + rng.random_range(0..10u8)));
                }
                number(s)
            }
            Kind::IsoDates if row == 1 => Cell {
                raw: "2023-01-05 10:00".into(),
                truth: Truth::DateTime(jiff::civil::date(2023, 1, 5).at(10, 0, 0, 0)),
            },
            Kind::IsoDates => {
                let d = date(rng, 28);
                Cell { raw: d.to_string(), truth: Truth::Date(d) }
            }
            Kind::DayFirst | Kind::DayFirstAmbiguous | Kind::MonthFirst | Kind::Dotted | Kind::TwoDigitYears => {
                let max_day = if kind == Kind::DayFirstAmbiguous { 12 } else { 28 };
                let mut d = date(rng, max_day);
                if row == 0 && kind != Kind::DayFirstAmbiguous {
                    d = jiff::civil::date(2020, 3, 25);
                }
                let raw = match kind {
                    Kind::MonthFirst => d.strftime("%m/%d/%Y").to_string(),
                    Kind::Dotted => d.strftime("%d.%m.%Y").to_string(),
                    Kind::TwoDigitYears => d.strftime("%d/%m/%y").to_string(),
                    _ => d.strftime("%d/%m/%Y").to_string(),
                };
                Cell { raw, truth: Truth::Date(d) }
            }
            Kind::Timestamps => {
                let nanos = if rng.random_bool(0.2) {
                    rng.random_range(0..999_999_999)
                } else {
                    rng.random_range(0..1000) * 1000
                };
                let t =
                    date(rng, 28).at(rng.random_range(0..24), rng.random_range(0..60), rng.random_range(0..60), nanos);
                let raw = if nanos % 1000 == 0 {
                    t.strftime("%Y-%m-%d %H:%M:%S%.6f").to_string()
                } else {
                    t.strftime("%Y-%m-%d %H:%M:%S%.9f").to_string()
                };
                Cell { raw, truth: Truth::DateTime(t) }
            }
            Kind::Booleans => {
                let b = rng.random_bool(0.5);
                let spelled = [("yes", "no"), ("Y", "N"), ("true", "false"), ("TRUE", "FALSE"), ("T", "F")]
                    [rng.random_range(0..5)];
                Cell { raw: if b { spelled.0 } else { spelled.1 }.into(), truth: Truth::Bool(b) }
            }
            Kind::Words => text(WORDS[rng.random_range(0..WORDS.len())]),
            Kind::HalfWords if rng.random_bool(0.5) => text(WORDS[rng.random_range(0..WORDS.len())]),
            Kind::HalfWords => number(rng.random_range(0..100).to_string()),
            Kind::DecimalComma => number(format!("{},{}", rng.random_range(40..120), rng.random_range(0..10))),
            Kind::Random => {
                const ALPHABET: &[u8] = b"0123456789000.,-+eE/: aZ%<";
                let len = rng.random_range(1..9);
                let raw: String = (0..len).map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())])).collect();
                // Whatever it is, the oracle decides whether it is a number; anything else is text.
                match canonical(&raw).filter(|_| is_plain_number(&raw, false)) {
                    Some(_) => number(raw),
                    None => text(raw),
                }
            }
        };
        cells.push(cell);
    }
    Column { name: name.into(), cells }
}

/// Whether `raw` is a number as this oracle accepts it as one stored as a number: digits with at
/// most one decimal point (or comma), an optional sign and exponent, no leading zeros, no
/// surrounding text.
fn is_plain_number(raw: &str, comma: bool) -> bool {
    let s = raw.trim();
    let s = s.strip_prefix(['+', '-']).unwrap_or(s);
    let (mantissa, exponent) = match s.find(['e', 'E']) {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    };
    let point = if comma { ',' } else { '.' };
    let (int, frac) = mantissa.split_once(point).unwrap_or((mantissa, ""));
    let digits = |t: &str| t.chars().all(|c| c.is_ascii_digit());
    let exponent_ok = exponent.is_none_or(|e| {
        let e = e.strip_prefix(['+', '-']).unwrap_or(e);
        !e.is_empty() && digits(e)
    });
    !(int.is_empty() && frac.is_empty())
        && digits(int)
        && digits(frac)
        && exponent_ok
        && !(int.len() > 1 && int.starts_with('0'))
}

/// A number as (negative, significant digits, power of ten of the first), so that two spellings
/// of one number compare equal; `None` if `s` is not a number.
fn canonical(s: &str) -> Option<(bool, String, i64)> {
    let s = s.trim();
    let (negative, rest) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let (mantissa, exponent) = match rest.find(['e', 'E']) {
        Some(i) => (&rest[..i], rest[i + 1..].parse::<i64>().ok()?),
        None => (rest, 0),
    };
    let mantissa = mantissa.replace(',', ".");
    let (int, frac) = mantissa.split_once('.').unwrap_or((&mantissa, ""));
    if (int.is_empty() && frac.is_empty()) || !int.chars().chain(frac.chars()).all(|c| c.is_ascii_digit()) {
        return None;
    }
    let digits = format!("{int}{frac}");
    let leading = digits.len() - digits.trim_start_matches('0').len();
    let significant = digits.trim_matches('0');
    if significant.is_empty() {
        return Some((false, "0".into(), 0));
    }
    Some((negative, significant.to_string(), exponent + int.len() as i64 - leading as i64))
}

/// Whether a value that was set aside could be: text that is not a number or date written in
/// some notation (digits, signs and separators only).
fn may_be_set_aside(cell: &Cell) -> bool {
    cell.truth == Truth::Text
        && !cell.raw.trim().is_empty()
        && !cell.raw.trim().chars().all(|c| c.is_ascii_digit() || " +-.,:/'_eETZ".contains(c))
}

const NULL_STRINGS: [&str; 3] = ["", "NA", "NULL"];

/// Writes `columns` as delimited text, quoting where needed.
fn write_csv(path: &Path, columns: &[Column], delimiter: char) {
    let quote = |s: &str| {
        if s.contains(delimiter) || s.contains('"') || s.contains('\n') {
            format!("\"{}\"", s.replace('"', "\"\""))
        } else {
            s.to_string()
        }
    };
    let d = delimiter.to_string();
    let mut out = columns.iter().map(|c| quote(&c.name)).collect::<Vec<_>>().join(&d);
    out.push('\n');
    for row in 0..columns[0].cells.len() {
        out.push_str(&columns.iter().map(|c| quote(&c.cells[row].raw)).collect::<Vec<_>>().join(&d));
        out.push('\n');
    }
    std::fs::write(path, out).unwrap();
}

/// Ingests `files` as dataset `name` of a store in `dir`.
fn ingest_into(dir: &Path, name: &str, files: Vec<PathBuf>, options: IngestOptions) -> (Store, IngestReport) {
    let store = Store::init(&dir.join("store"), Settings::default()).unwrap();
    let request = IngestRequest {
        name: DatasetName::new(name).unwrap(),
        files,
        description: None,
        tags: None,
        created_by: "fidelity test".into(),
        options,
    };
    let report = ingest(&store, &request, &NoProgress, &CancelToken::new()).unwrap_or_else(|e| panic!("ingest: {e}"));
    (store, report)
}

/// Every stored column of `table`: (name, SQL type, values as text in row order).
fn stored(store: &Store, dataset: &str, table: &str) -> Vec<(String, String, Vec<Option<String>>)> {
    let version = store.resolve(&VersionRef::parse(dataset).unwrap()).unwrap();
    let source = table_source(store, version.table(table).expect("the table is stored"));
    let conn = duckdb::Connection::open_in_memory().unwrap();
    conn.execute_batch("SET threads = 1").unwrap();
    let mut stmt = conn.prepare(&format!("DESCRIBE SELECT * FROM {source}")).unwrap();
    let columns: Vec<(String, String)> =
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).unwrap().collect::<Result<_, _>>().unwrap();
    columns
        .into_iter()
        .map(|(name, ty)| {
            let q = format!("\"{}\"", name.replace('"', "\"\""));
            let mut stmt = conn.prepare(&format!("SELECT CAST({q} AS VARCHAR) FROM {source}")).unwrap();
            let values =
                stmt.query_map([], |r| r.get::<_, Option<String>>(0)).unwrap().collect::<Result<_, _>>().unwrap();
            (name, ty, values)
        })
        .collect()
}

/// Compares every stored value of a table with its source; returns what differs unannounced.
fn differences(
    columns: &[Column],
    stored: &[(String, String, Vec<Option<String>>)],
    report: &TableReport,
) -> Vec<String> {
    let mut problems = Vec::new();
    for column in columns {
        let Some((_, ty, values)) = stored.iter().find(|(n, ..)| *n == column.name) else {
            problems.push(format!("column `{}` is not stored", column.name));
            continue;
        };
        let announced = report.coerced.iter().find(|c| c.column == column.name && !c.kept_as_text);
        let mut set_aside = 0u64;
        let say = |row: usize, cell: &Cell, v: &Option<String>, why: &str| {
            format!("`{}` ({ty}) row {}: {:?} stored as {:?}: {why}", column.name, row + 1, cell.raw, v)
        };
        for (row, (cell, v)) in column.cells.iter().zip(values).enumerate() {
            let Some(v) = v else {
                if cell.truth == Truth::Missing {
                    continue;
                }
                set_aside += 1;
                if !may_be_set_aside(cell) {
                    problems.push(say(row, cell, &None, "a value was lost"));
                } else if announced.is_none_or(|a| a.examples.len() < 5 && !a.examples.contains(&cell.raw)) {
                    problems.push(say(row, cell, &None, "set aside without the report naming it"));
                }
                continue;
            };
            let ok = match (&cell.truth, ty.as_str()) {
                (Truth::Missing, _) => false,
                (_, "VARCHAR") => *v == cell.raw,
                (Truth::Number(raw), "BIGINT" | "DOUBLE") => {
                    let comma = raw.contains(',');
                    is_plain_number(raw, comma) && canonical(raw).is_some() && canonical(raw) == canonical(v)
                }
                (Truth::Date(d), "DATE") => v.parse::<Date>().ok() == Some(*d),
                (Truth::DateTime(t), "TIMESTAMP") => v.replace(' ', "T").parse::<DateTime>().ok() == Some(*t),
                (Truth::Bool(b), "BOOLEAN") => *v == b.to_string(),
                _ => false,
            };
            if !ok {
                problems.push(say(row, cell, &Some(v.clone()), "the stored value is not the source value"));
            }
        }
        let reported = announced.map_or(0, |a| a.values);
        if reported != set_aside {
            problems.push(format!("`{}`: {set_aside} value(s) set aside, the report says {reported}", column.name));
        }
    }
    problems
}

/// Generates a table of `kinds`, writes it as `name.csv` (`;`-separated when asked, as decimal
/// commas need) and returns its columns.
fn table(
    dir: &Path,
    name: &str,
    kinds: &[Kind],
    rows: usize,
    semicolon: bool,
    rng: &mut Pcg64Mcg,
) -> (PathBuf, Vec<Column>) {
    let mut columns: Vec<Column> =
        vec![Column { name: "patient_id".into(), cells: (0..rows).map(|i| text(format!("P{i:05}"))).collect() }];
    for (i, kind) in kinds.iter().enumerate() {
        let kind = if *kind == Kind::DecimalComma && !semicolon { Kind::Decimals } else { *kind };
        columns.push(column(kind, &format!("{kind:?}_{i}").to_lowercase(), rows, rng));
    }
    let path = dir.join(format!("{name}.csv"));
    write_csv(&path, &columns, if semicolon { ';' } else { ',' });
    (path, columns)
}

fn options() -> IngestOptions {
    IngestOptions { null_strings: NULL_STRINGS.iter().map(|s| s.to_string()).collect(), ..IngestOptions::default() }
}

/// Ingests the generated tables as one dataset and checks every value of every table.
fn check_tables(dir: &Path, tables: Vec<(PathBuf, Vec<Column>)>) -> Vec<String> {
    let files: Vec<PathBuf> = tables.iter().map(|(p, _)| p.clone()).collect();
    let (store, report) = ingest_into(dir, "corpus", files, options());
    let mut problems = Vec::new();
    for (path, columns) in &tables {
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        let t = report.tables.iter().find(|t| t.table == name).expect("a report per table");
        for p in differences(columns, &stored(&store, "corpus", &name), t) {
            problems.push(format!("{name}: {p}"));
        }
    }
    problems
}

#[test]
fn every_kind_of_awkward_column_keeps_its_values() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = Pcg64Mcg::seed_from_u64(15);
    let mut tables = Vec::new();
    // Each kind alone (so that types are decided for it, not for its neighbours), then mixed.
    for (i, kind) in KINDS.iter().enumerate() {
        let rows = [3, 25, 150, 400][i % 4];
        let semicolon = *kind == Kind::DecimalComma;
        tables.push(table(dir.path(), &format!("alone_{i:02}"), &[*kind], rows, semicolon, &mut rng));
    }
    for i in 0..12 {
        let kinds: Vec<Kind> = (0..6).map(|_| KINDS[rng.random_range(0..KINDS.len())]).collect();
        tables.push(table(
            dir.path(),
            &format!("mixed_{i:02}"),
            &kinds,
            rng.random_range(1..300),
            i % 3 == 0,
            &mut rng,
        ));
    }
    let problems = check_tables(dir.path(), tables);
    assert!(problems.is_empty(), "{} difference(s):\n{}", problems.len(), problems.join("\n"));
}

#[test]
fn the_issue_s_lab_file_keeps_its_decimals_and_reports_the_censored_value() {
    let dir = tempfile::tempdir().unwrap();
    let mut csv = String::from("patient_id,crp\n");
    for i in 0..99 {
        csv.push_str(&format!("P{i:03},{}\n", ["0.25", "0.5", "6.6", "1.2", "3"][i % 5]));
    }
    csv.push_str("P099,<0.5\n");
    std::fs::write(dir.path().join("lab.csv"), csv).unwrap();
    let (store, report) = ingest_into(dir.path(), "lab", vec![dir.path().join("lab.csv")], IngestOptions::default());
    let columns = stored(&store, "lab", "lab");
    let (_, ty, values) = &columns[1];
    assert_eq!(ty, "DOUBLE");
    assert_eq!(values[..3], [Some("0.25".to_string()), Some("0.5".to_string()), Some("6.6".to_string())]);
    let c = &report.tables[0].coerced;
    assert_eq!((c.len(), c[0].values, c[0].examples.as_slice()), (1, 1, ["<0.5".to_string()].as_slice()), "{c:?}");
}

#[test]
fn values_past_the_first_hundred_thousand_rows_decide_types_too() {
    let dir = tempfile::tempdir().unwrap();
    let rows = 100_010;
    let mut csv = String::from("subject,dose,crp,visit\n");
    for i in 0..rows {
        let late = i >= 100_005;
        let subject = if late { format!("{:06}", i - 100_000) } else { (i + 1).to_string() };
        let dose = if i == rows - 1 { "6.6".to_string() } else { (i % 7).to_string() };
        let crp = if i == rows - 2 { "not done".to_string() } else { format!("{}.{}", i % 50, i % 10) };
        csv.push_str(&format!("{subject},{dose},{crp},{}\n", i % 12));
    }
    std::fs::write(dir.path().join("late.csv"), csv).unwrap();
    let (store, report) = ingest_into(dir.path(), "late", vec![dir.path().join("late.csv")], IngestOptions::default());
    let columns = stored(&store, "late", "late");
    let by_name = |n: &str| columns.iter().find(|c| c.0 == n).unwrap();
    let (_, ty, subject) = by_name("subject");
    assert_eq!(
        (ty.as_str(), subject[rows - 1].as_deref()),
        ("VARCHAR", Some("000009")),
        "leading zeros after row 100,000"
    );
    assert_eq!(subject[0].as_deref(), Some("1"));
    let (_, ty, dose) = by_name("dose");
    assert_eq!((ty.as_str(), dose[rows - 1].as_deref()), ("DOUBLE", Some("6.6")), "a late decimal is not rounded");
    let (_, ty, crp) = by_name("crp");
    assert_eq!((ty.as_str(), crp[rows - 2].as_deref(), crp[rows - 1].as_deref()), ("DOUBLE", None, Some("9.9")));
    let coerced = &report.tables[0].coerced;
    let crp_note = coerced.iter().find(|c| c.column == "crp").expect("the word is reported");
    assert_eq!((crp_note.values, crp_note.examples.as_slice()), (1, ["not done".to_string()].as_slice()));
    let subject_note = coerced.iter().find(|c| c.column == "subject").expect("why the column is text");
    assert!(subject_note.kept_as_text && subject_note.examples.contains(&"000005".to_string()), "{subject_note:?}");
}

/// One surprise at a time, far past what DuckDB's sniffer samples, in a file with nothing else to
/// measure again: only the guarded conversion can see it.
#[test]
fn a_single_late_value_is_caught_by_the_conversion_itself() {
    let dir = tempfile::tempdir().unwrap();
    let rows = 200_000;
    let write = |name: &str, late: &str, usual: &dyn Fn(usize) -> String| {
        let mut csv = String::from("visit,value\n");
        for i in 0..rows {
            let value = if i == 150_000 { late.to_string() } else { usual(i) };
            csv.push_str(&format!("{},{value}\n", i % 9));
        }
        let path = dir.path().join(format!("{name}.csv"));
        std::fs::write(&path, csv).unwrap();
        path
    };
    /// (file, the late value, the usual value of row i, the type expected, the late value stored)
    type Case<'a> = (&'a str, &'a str, &'a dyn Fn(usize) -> String, &'a str, Option<&'a str>);
    let cases: [Case; 4] = [
        ("zeros", "000123", &|i| (i + 1000).to_string(), "VARCHAR", Some("000123")),
        ("decimal", "6.6", &|i| (i % 50).to_string(), "DOUBLE", Some("6.6")),
        ("huge", "12345678901234567890123", &|i| (i % 50).to_string(), "VARCHAR", Some("12345678901234567890123")),
        ("word", "not done", &|i| format!("{}.{}", i % 50, i % 7), "DOUBLE", None),
    ];
    for (name, late, usual, ty, stored_as) in cases {
        let file = write(name, late, usual);
        let other = tempfile::tempdir().unwrap();
        let (store, report) = ingest_into(other.path(), name, vec![file], IngestOptions::default());
        let columns = stored(&store, name, name);
        let (_, stored_ty, values) = &columns[1];
        assert_eq!(
            (stored_ty.as_str(), values[150_000].as_deref()),
            (ty, stored_as),
            "{name}: {:?}",
            report.tables[0].coerced
        );
        let next = values[150_001].as_deref().unwrap();
        assert_eq!(canonical(next), canonical(&usual(150_001)), "{name}: the next value is the number written");
    }
}

/// A workbook cell.
enum Sheet {
    Number(f64),
    Text(String),
    Date(Date),
    Bool(bool),
}

#[test]
fn workbooks_keep_their_values() {
    use rust_xlsxwriter::{ExcelDateTime, Format, Workbook};
    let dir = tempfile::tempdir().unwrap();
    let mut rng = Pcg64Mcg::seed_from_u64(5);
    let rows = 200;
    // (name, cell maker)
    type Maker = Box<dyn Fn(usize, &mut Pcg64Mcg) -> Sheet>;
    let makers: Vec<(&str, Maker)> = vec![
        ("hba1c", Box::new(|_, r: &mut Pcg64Mcg| Sheet::Number((r.random_range(40..120) as f64) / 10.0))),
        ("float_noise", Box::new(|_, r: &mut Pcg64Mcg| Sheet::Number(r.random::<f64>() * 3.0 + 0.1 + 0.2))),
        ("counts", Box::new(|_, r: &mut Pcg64Mcg| Sheet::Number(r.random_range(0..50) as f64))),
        (
            "crp",
            Box::new(|i, r: &mut Pcg64Mcg| {
                if i == 150 { Sheet::Text("<0.5".into()) } else { Sheet::Number(r.random_range(1..400) as f64 / 100.0) }
            }),
        ),
        (
            "study_no",
            Box::new(
                |i, _: &mut Pcg64Mcg| {
                    if i > 190 { Sheet::Text(format!("{:05}", i)) } else { Sheet::Number(i as f64 + 100.0) }
                },
            ),
        ),
        ("specimen", Box::new(|i, _: &mut Pcg64Mcg| Sheet::Text(format!("{}E{}", i % 9 + 1, i % 7 + 1)))),
        ("seen", Box::new(|_, r: &mut Pcg64Mcg| Sheet::Date(date(r, 28)))),
        ("smoker", Box::new(|_, r: &mut Pcg64Mcg| Sheet::Bool(r.random_bool(0.3)))),
        ("comment", Box::new(|_, r: &mut Pcg64Mcg| Sheet::Text(WORDS[r.random_range(0..WORDS.len())].into()))),
    ];
    let cells: Vec<Vec<Sheet>> =
        makers.iter().map(|(_, make)| (0..rows).map(|i| make(i, &mut rng)).collect()).collect();
    let mut book = Workbook::new();
    let sheet = book.add_worksheet();
    let date_format = Format::new().set_num_format("yyyy-mm-dd");
    for (c, (name, _)) in makers.iter().enumerate() {
        sheet.write_string(0, c as u16, *name).unwrap();
        for (r, cell) in cells[c].iter().enumerate() {
            let (r, c) = (r as u32 + 1, c as u16);
            match cell {
                Sheet::Number(n) => sheet.write_number(r, c, *n).map(|_| ()),
                Sheet::Text(t) => sheet.write_string(r, c, t).map(|_| ()),
                Sheet::Date(d) => {
                    let x = ExcelDateTime::from_ymd(d.year() as u16, d.month() as u8, d.day() as u8).unwrap();
                    sheet.write_datetime_with_format(r, c, &x, &date_format).map(|_| ())
                }
                Sheet::Bool(b) => sheet.write_boolean(r, c, *b).map(|_| ()),
            }
            .unwrap();
        }
    }
    let path = dir.path().join("labs.xlsx");
    book.save(&path).unwrap();
    let (store, report) = ingest_into(dir.path(), "labs", vec![path], IngestOptions::default());
    let stored = stored(&store, "labs", "labs");
    // The workbook's cells as the oracle's columns: numbers as Rust prints an f64 (its shortest
    // exact form), which a text column may hold as it likes but a number column must equal.
    let columns: Vec<Column> = makers
        .iter()
        .zip(&cells)
        .map(|((name, _), cells)| Column {
            name: name.to_string(),
            cells: cells
                .iter()
                .map(|c| match c {
                    Sheet::Number(n) => {
                        number(if n.fract() == 0.0 { format!("{}", *n as i64) } else { format!("{n}") })
                    }
                    Sheet::Text(t) => text(t.clone()),
                    Sheet::Date(d) => Cell { raw: d.to_string(), truth: Truth::Date(*d) },
                    Sheet::Bool(b) => Cell { raw: b.to_string(), truth: Truth::Bool(*b) },
                })
                .collect(),
        })
        .collect();
    let problems = differences(&columns, &stored, &report.tables[0]);
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    let ty = |n: &str| stored.iter().find(|c| c.0 == n).unwrap().1.clone();
    assert_eq!(
        ["hba1c", "float_noise", "counts", "crp", "study_no", "specimen", "seen", "smoker"].map(ty),
        ["DOUBLE", "DOUBLE", "BIGINT", "DOUBLE", "VARCHAR", "VARCHAR", "DATE", "BOOLEAN"]
    );
}

#[test]
fn a_european_export_reads_decimal_commas_and_day_first_dates() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("gewicht.csv");
    std::fs::write(&file, "patient_id;datum;gewicht_kg\nP1;05.03.2023;60,5\nP2;25.12.2023;72,25\nP3;01.01.2024;80\n")
        .unwrap();
    let (store, report) = ingest_into(dir.path(), "eu", vec![file.clone()], IngestOptions::default());
    let columns = stored(&store, "eu", "gewicht");
    assert_eq!(columns[1].1, "DATE");
    assert_eq!(columns[1].2[0].as_deref(), Some("2023-03-05"));
    assert_eq!((columns[2].1.as_str(), columns[2].2[0].as_deref()), ("DOUBLE", Some("60.5")));
    assert_eq!(report.tables[0].dialect.as_ref().unwrap().decimal_comma_columns, ["gewicht_kg"]);

    // `--type` that does not fit names the column, the row and the value, and says what to do.
    let other = tempfile::tempdir().unwrap();
    let store = Store::init(&other.path().join("store"), Settings::default()).unwrap();
    let mut options = IngestOptions::default();
    options.schema.add_setting("type", "gewicht_kg=integer").unwrap();
    let request = IngestRequest {
        name: DatasetName::new("eu").unwrap(),
        files: vec![file.clone()],
        description: None,
        tags: None,
        created_by: "test".into(),
        options,
    };
    let err = ingest(&store, &request, &NoProgress, &CancelToken::new()).unwrap_err();
    let message = err.to_string();
    assert!(message.contains("gewicht_kg") && message.contains("row 1") && message.contains("60,5"), "{message}");
    assert!(err.hint().unwrap().contains("--decimal-comma"), "{:?}", err.hint());
    assert!(store.list().unwrap().is_empty(), "nothing is stored");

    // Said outright, a decimal comma is read in a comma-free file whose values could be thousands.
    let thousands = dir.path().join("counts.csv");
    std::fs::write(&thousands, "patient_id;cells\nP1;1,234\nP2;2,500\n").unwrap();
    let (store, report) = ingest_into(other.path(), "counts", vec![thousands.clone()], IngestOptions::default());
    assert_eq!(stored(&store, "counts", "counts")[1].1, "VARCHAR", "`1,234` could be thousands");
    assert!(report.tables[0].coerced[0].reason.as_deref().unwrap().contains("--decimal-comma"));
    let third = tempfile::tempdir().unwrap();
    let (store, _) = ingest_into(
        third.path(),
        "counts",
        vec![thousands],
        IngestOptions { decimal_comma: true, ..IngestOptions::default() },
    );
    assert_eq!(stored(&store, "counts", "counts")[1].2[0].as_deref(), Some("1.234"));
}

fn kind_strategy() -> impl Strategy<Value = Kind> {
    (0..KINDS.len()).prop_map(|i| KINDS[i])
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Random tables of random kinds and sizes: every value reads back, or is reported.
    #[test]
    fn random_files_keep_every_value(
        seed in any::<u64>(),
        kinds in prop::collection::vec(kind_strategy(), 1..7),
        rows in 1usize..200,
        semicolon in any::<bool>(),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let mut rng = Pcg64Mcg::seed_from_u64(seed);
        let t = table(dir.path(), "random", &kinds, rows, semicolon, &mut rng);
        let problems = check_tables(dir.path(), vec![t]);
        prop_assert!(problems.is_empty(), "{}", problems.join("\n"));
    }
}

/// Found by `random_files_keep_every_value`: with the null strings given, DuckDB's sniffer chose
/// `'` as the quote of a semicolon file that never uses it, and `"said ""no"""` kept its quotes.
#[test]
fn a_quote_the_file_never_uses_gives_way_to_the_one_it_does() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = Pcg64Mcg::seed_from_u64(345103538299050242);
    let kinds = [Kind::Integers, Kind::IsoDates, Kind::Words, Kind::DayFirst];
    let t = table(dir.path(), "random", &kinds, 29, true, &mut rng);
    let text = std::fs::read_to_string(&t.0).unwrap();
    assert!(text.contains(r#";"said ""no""";"#), "the file quotes with doubled double quotes");
    let problems = check_tables(dir.path(), vec![t]);
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
