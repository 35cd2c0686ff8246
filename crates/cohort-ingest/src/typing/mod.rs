//! The rule that keeps every value: a column of text is stored as a type only if every value it
//! holds reads back as the same value under that type (the same number, the same date, the same
//! truth value). A value that does not fit either keeps the whole column as text, or, when it is
//! plainly of another kind (`<0.5`, `CF`, `not done`) and such values are few, is set aside as a
//! null that the ingest report counts and shows. No value is ever rounded, truncated, re-centuried
//! or stripped of its leading zeros.
//!
//! Everything here is SQL over a text value `v`, so that DuckDB applies it to whole columns in the
//! same pass that writes the Parquet file. Integers, decimals, truth values and dates are read by
//! functions written in Rust ([`exact`], registered by [`install`]); times and timestamps by
//! patterns and DuckDB's casts:
//!
//! - [`ValueType::fits`]: whether `v` reads back as the same value under the type;
//! - [`ValueType::read`]: the typed value, for a `v` that fits;
//! - [`notation`]: whether a value that does not fit is a number or date written in a notation
//!   cohort does not read (`00123`, `1,234`, `1E5`, `05.03.23`): such values keep the column text,
//!   since setting them aside would lose a real value;
//! - [`guarded`]: the typed value, or a query error naming the column when a value does not fit;
//! - [`profile`] and [`decide`]: the whole-column figures and the choice they lead to.
//!
//! DuckDB's own conversions are not exact enough to trust alone: its CSV reader and `CAST` round
//! `6.6` to the integer `7`, read `000001` as `1` and `1_000` as `1000`, keep 17 significant digits
//! of a 20-digit decimal, drop the time of `2023-01-05 10:00` cast to a date, put `01.02.23` in the
//! year 23 and cut nanoseconds from timestamps. What is below admits only what reads back.

mod exact;
mod udf;

use cohort_store::name::{quote_ident, quote_literal};
use duckdb::Connection;
use serde::Serialize;

/// Share of a column's values that may be set aside as nulls for being of another kind (words
/// among numbers); beyond it the column is kept as text and nothing is lost.
pub const MAX_SET_ASIDE_SHARE: f64 = 0.05;

/// Examples of misfits kept in a report.
const EXAMPLES: usize = 5;

/// How numbers are written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Notation {
    /// `60,5` is sixty and a half (and `1.234` is not a number cohort reads).
    pub decimal_comma: bool,
}

/// A type a column of text can be stored as.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ValueType {
    /// Whole numbers (BIGINT), without leading zeros.
    Integer,
    /// Numbers with up to 15 significant digits (DOUBLE), which read back exactly.
    Decimal,
    /// Dates: ISO 8601 (`format` `None`) or a `strptime` format such as `%d.%m.%Y`.
    Date {
        /// The `strptime` format, `None` for ISO 8601.
        format: Option<String>,
    },
    /// Date and time: ISO 8601 (`format` `None`) or a `strptime` format; `zoned` for values
    /// with a UTC offset (stored as the instant they name).
    Timestamp {
        /// The `strptime` format, `None` for ISO 8601.
        format: Option<String>,
        /// Whether values carry a UTC offset.
        zoned: bool,
    },
    /// Times of day.
    Time,
    /// Truth values: `true`/`false`, `t`/`f`, `yes`/`no`, `y`/`n`, `1`/`0`, in any case.
    Boolean,
    /// Text, kept as given.
    Text,
}

impl ValueType {
    /// The type DuckDB's sniffer suggested, with the file's date and timestamp formats; `None`
    /// for a type stored as text.
    pub fn from_sniffed(sql_type: &str, date_format: Option<&str>, timestamp_format: Option<&str>) -> ValueType {
        match sql_type.to_ascii_uppercase().as_str() {
            "TINYINT" | "SMALLINT" | "INTEGER" | "BIGINT" | "HUGEINT" | "UTINYINT" | "USMALLINT" | "UINTEGER"
            | "UBIGINT" | "UHUGEINT" => ValueType::Integer,
            "FLOAT" | "DOUBLE" => ValueType::Decimal,
            t if t.starts_with("DECIMAL") => ValueType::Decimal,
            "DATE" => ValueType::Date { format: date_format.map(str::to_string) },
            "TIMESTAMP" | "TIMESTAMP_NS" | "TIMESTAMP_MS" | "TIMESTAMP_S" => {
                ValueType::Timestamp { format: timestamp_format.map(str::to_string), zoned: false }
            }
            "TIMESTAMP WITH TIME ZONE" | "TIMESTAMPTZ" => {
                ValueType::Timestamp { format: timestamp_format.map(str::to_string), zoned: true }
            }
            "TIME" => ValueType::Time,
            "BOOLEAN" => ValueType::Boolean,
            _ => ValueType::Text,
        }
    }

    /// The type of a `--type` override (`integer`, `decimal`, `date`, `timestamp`, `boolean`,
    /// `text`); dates and timestamps in the given format, or ISO 8601.
    pub fn from_override(name: &str, date_format: Option<&str>) -> Option<ValueType> {
        Some(match name.to_ascii_lowercase().as_str() {
            "integer" => ValueType::Integer,
            "decimal" => ValueType::Decimal,
            "date" => ValueType::Date { format: date_format.map(str::to_string) },
            "timestamp" => ValueType::Timestamp { format: None, zoned: false },
            "boolean" => ValueType::Boolean,
            "text" => ValueType::Text,
            _ => return None,
        })
    }

    /// The SQL type values are stored as.
    pub fn sql_type(&self) -> &'static str {
        match self {
            ValueType::Integer => "BIGINT",
            ValueType::Decimal => "DOUBLE",
            ValueType::Date { .. } => "DATE",
            ValueType::Timestamp { zoned: false, .. } => "TIMESTAMP",
            ValueType::Timestamp { zoned: true, .. } => "TIMESTAMPTZ",
            ValueType::Time => "TIME",
            ValueType::Boolean => "BOOLEAN",
            ValueType::Text => "VARCHAR",
        }
    }

    /// How reports name the type: `a decimal number`, `a date (%d.%m.%Y)`.
    pub fn describe(&self) -> String {
        match self {
            ValueType::Integer => "a whole number".into(),
            ValueType::Decimal => "a decimal number".into(),
            ValueType::Date { format: None } => "a date (YYYY-MM-DD)".into(),
            ValueType::Date { format: Some(f) } => format!("a date ({f})"),
            ValueType::Timestamp { format: None, .. } => "a date and time (ISO 8601)".into(),
            ValueType::Timestamp { format: Some(f), .. } => format!("a date and time ({f})"),
            ValueType::Time => "a time of day".into(),
            ValueType::Boolean => "true or false".into(),
            ValueType::Text => "text".into(),
        }
    }

    /// Whether the type is text.
    pub fn is_text(&self) -> bool {
        *self == ValueType::Text
    }

    /// The `strptime` format with day and month swapped, for a date or timestamp format that
    /// has both as numbers.
    fn swapped(&self) -> Option<ValueType> {
        let swap = |f: &str| -> Option<String> {
            day_and_month_could_swap(f).then(|| f.replace("%d", "\u{0}").replace("%m", "%d").replace('\u{0}', "%m"))
        };
        match self {
            ValueType::Date { format: Some(f) } => Some(ValueType::Date { format: Some(swap(f)?) }),
            ValueType::Timestamp { format: Some(f), zoned } => {
                Some(ValueType::Timestamp { format: Some(swap(f)?), zoned: *zoned })
            }
            _ => None,
        }
    }

    /// SQL: whether the non-null text `v` reads back as the same value under this type. `None`
    /// when no value of the column could: a format cohort does not trust (two-digit years).
    pub fn fits(&self, v: &str, notation: Notation) -> Option<String> {
        Some(match self {
            ValueType::Text => "true".into(),
            ValueType::Integer | ValueType::Decimal | ValueType::Date { .. } | ValueType::Boolean => {
                format!("({} IS NOT NULL)", self.exact(v, notation, None)?)
            }
            ValueType::Timestamp { format, zoned } => {
                let offset = if *zoned { "(Z|[+-][0-9]{2}(:?[0-9]{2})?)?" } else { "" };
                let pattern = match format {
                    None => format!(
                        "\\s*[0-9]{{4}}-[0-9]{{1,2}}-[0-9]{{1,2}}[ T][0-9]{{1,2}}:[0-9]{{2}}(:[0-9]{{2}}(\\.[0-9]{{1,6}})?)?{offset}\\s*"
                    ),
                    Some(f) => format!("\\s*{}{offset}\\s*", format_pattern(f)?),
                };
                format!(
                    "(regexp_full_match({v}, {}) AND {} IS NOT NULL)",
                    quote_literal(&pattern),
                    self.read(v, notation)
                )
            }
            ValueType::Time => format!(
                "(regexp_full_match({v}, '\\s*[0-9]{{1,2}}:[0-9]{{2}}(:[0-9]{{2}}(\\.[0-9]{{1,6}})?)?\\s*') AND TRY_CAST(trim({v}) AS TIME) IS NOT NULL)"
            ),
        })
    }

    /// SQL: for integers, decimals, truth values and dates, the call of the Rust function of [`udf`] that reads
    /// `v` exactly: null for text that writes no such value or, with `misfit_column`, a query
    /// error naming that column. `None` for other types, and for a date format cohort does not
    /// read ([`exact::DateFormat::parse`]).
    fn exact(&self, v: &str, notation: Notation, misfit_column: Option<usize>) -> Option<String> {
        let column = misfit_column.map_or(-1, |c| c as i64);
        Some(match self {
            ValueType::Integer => format!("cohort_integer({v}, {column})"),
            ValueType::Decimal => format!("cohort_decimal({v}, {column}, {})", notation.decimal_comma),
            ValueType::Boolean => format!("cohort_boolean({v}, {column})"),
            ValueType::Date { format } => {
                let format = format.as_deref().unwrap_or("%Y-%m-%d");
                exact::DateFormat::parse(format)?;
                format!("cohort_date({v}, {column}, {})", quote_literal(format))
            }
            _ => return None,
        })
    }

    /// SQL: the typed value of a `v` that [`fits`](Self::fits) (null for one that does not).
    pub fn read(&self, v: &str, notation: Notation) -> String {
        match self {
            ValueType::Text => v.to_string(),
            ValueType::Integer | ValueType::Decimal | ValueType::Date { .. } | ValueType::Boolean => {
                self.exact(v, notation, None).unwrap_or_else(|| "NULL".into())
            }
            ValueType::Timestamp { format: None, zoned } => {
                format!("TRY_CAST(trim({v}) AS {})", if *zoned { "TIMESTAMPTZ" } else { "TIMESTAMP" })
            }
            ValueType::Timestamp { format: Some(f), zoned: false } => {
                format!("CAST(try_strptime(trim({v}), {}) AS TIMESTAMP)", quote_literal(f))
            }
            ValueType::Timestamp { format: Some(f), zoned: true } => {
                format!("CAST(try_strptime(trim({v}), {}) AS TIMESTAMPTZ)", quote_literal(&format!("{f}%z")))
            }
            ValueType::Time => format!("TRY_CAST(trim({v}) AS TIME)"),
        }
    }
}

/// Makes the functions the expressions of this module call ([`udf`]) known to `conn`; call it
/// before using them on a connection (again is harmless).
pub fn install(conn: &Connection) -> duckdb::Result<()> {
    let known: i64 =
        conn.query_row("SELECT count(*) FROM duckdb_functions() WHERE function_name = 'cohort_integer'", [], |r| {
            r.get(0)
        })?;
    if known == 0 {
        udf::register(conn)?;
    }
    Ok(())
}

/// Whether `text` is a value of `ty`, judged in Rust without a query: exactly for numbers, truth
/// values and dates; for ISO timestamps, by their date and a time of day after it. For choosing
/// the columns worth measuring whole, never for storing a value.
pub fn looks_like(ty: &ValueType, notation: Notation, text: &str) -> bool {
    let t = text.as_bytes();
    match ty {
        ValueType::Integer => exact::integer(t).is_some(),
        ValueType::Decimal => exact::decimal(t, notation.decimal_comma).is_some(),
        ValueType::Boolean => exact::boolean(t).is_some(),
        ValueType::Date { format } => {
            exact::DateFormat::parse(format.as_deref().unwrap_or("%Y-%m-%d")).is_some_and(|f| f.days(t).is_some())
        }
        ValueType::Timestamp { .. } => {
            let t = t.trim_ascii();
            t.len() >= 16
                && matches!(t[10], b' ' | b'T')
                && t[13] == b':'
                && exact::DateFormat::parse("%Y-%m-%d").is_some_and(|f| f.days(&t[..10]).is_some())
        }
        ValueType::Time | ValueType::Text => false,
    }
}

/// Whether dates written in `format` could be read with day and month the other way round:
/// both are numbers, and the year does not come first (year-month-day is the one order written
/// with the year first).
pub fn day_and_month_could_swap(format: &str) -> bool {
    format.contains("%d") && format.contains("%m") && !format.trim_start().starts_with("%Y")
}

/// A regular expression for the values a `strptime` format reads, or `None` for a format whose
/// values cohort does not read as dates (two-digit years, whose century would be a guess).
fn format_pattern(format: &str) -> Option<String> {
    let mut out = String::new();
    let mut chars = format.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            if c.is_ascii_alphanumeric() || c == ' ' {
                out.push(c);
            } else {
                out.push('\\');
                out.push(c);
            }
            continue;
        }
        out.push_str(match chars.next()? {
            'd' | 'e' | 'm' | 'H' | 'I' | 'M' | 'S' => "[0-9]{1,2}",
            'Y' => "[0-9]{4}",
            'f' => "[0-9]{1,6}",
            'g' => "[0-9]{1,3}",
            'j' => "[0-9]{1,3}",
            'p' => "[AaPp][Mm]",
            'b' | 'h' | 'a' => "[A-Za-z]{3}",
            'B' | 'A' => "[A-Za-z]+",
            'z' => "(Z|[+-][0-9]{2}:?[0-9]{2})",
            '%' => "%",
            _ => return None,
        });
    }
    Some(out)
}

/// SQL: whether a value that does not fit is a number, date or time written in a notation cohort
/// does not read: digits with signs and separators only (`00123`, `1,234`, `1 234`, `1E5`,
/// `05.03.23`, `2023-01-05 10:00`). Such a value keeps its column as text. Anything else (`<0.5`,
/// `CF`, `n/a`, `50%`, `7 mg`) is of another kind, and may be set aside when few.
pub fn notation(v: &str) -> String {
    format!("regexp_full_match({v}, '\\s*[+-]?[0-9][0-9.,:/'' _+eETZ-]*\\s*')")
}

/// How a guarded conversion's error message starts; the column's position follows.
pub(crate) const MISFIT_TAG: &str = "cohort-misfit column ";

/// SQL: the query error that names a misfit in the column at position `index`.
pub fn misfit_error(index: usize) -> String {
    format!("error('{MISFIT_TAG}{index}')")
}

/// SQL: column `column` of a text reader as `ty`, or a query error naming the column's position
/// `index` when a value does not fit. Text stays as it is.
pub fn guarded(column: &str, index: usize, ty: &ValueType, notation: Notation) -> String {
    let v = quote_ident(column);
    if let Some(exact) = ty.exact(&v, notation, Some(index)) {
        return exact;
    }
    let Some(fits) = ty.fits(&v, notation).filter(|_| !ty.is_text()) else { return v };
    format!(
        "CASE WHEN {v} IS NULL THEN NULL WHEN {fits} THEN {} ELSE {} END",
        ty.read(&v, notation),
        misfit_error(index)
    )
}

/// SQL: column `column` as `ty`, with values that do not fit set aside as nulls.
pub fn lenient(column: &str, ty: &ValueType, notation: Notation) -> String {
    let v = quote_ident(column);
    if let Some(exact) = ty.exact(&v, notation, None) {
        return exact;
    }
    match ty.fits(&v, notation).filter(|_| !ty.is_text()) {
        Some(fits) => format!("CASE WHEN {fits} THEN {} END", ty.read(&v, notation)),
        None => v,
    }
}

/// The column position a guarded conversion's error names, if the error is one.
pub fn misfit_column(message: &str) -> Option<usize> {
    let start = message.find(MISFIT_TAG)? + MISFIT_TAG.len();
    message[start..].chars().take_while(char::is_ascii_digit).collect::<String>().parse().ok()
}

/// A column's whole-column figures for a candidate type.
#[derive(Debug, Clone, Default)]
pub struct Profile {
    /// Values present (not null).
    pub present: u64,
    /// Values that fit the candidate (for numbers, as decimals).
    pub fits: u64,
    /// For a number candidate: values that are whole numbers.
    pub whole: u64,
    /// For a date candidate with day and month: values that fit only with the two swapped, and
    /// values that fit both ways with day and month different.
    pub swapped_only: u64,
    /// See `swapped_only`: values that fit only as the candidate says.
    pub candidate_only: u64,
    /// Values that fit either way and whose day and month differ.
    pub either_way: u64,
    /// For a decimal-comma candidate: values with a comma, and those with exactly three digits
    /// after it (which could be thousands).
    pub commas: u64,
    /// See `commas`.
    pub commas_of_three: u64,
    /// Misfits that are numbers or dates in another notation, and examples.
    pub notation: u64,
    /// See `notation`.
    pub notation_examples: Vec<String>,
    /// Misfits of another kind, and examples.
    pub other_kind: u64,
    /// See `other_kind`.
    pub other_examples: Vec<String>,
}

/// A column to profile, and the type it might be.
#[derive(Debug, Clone)]
pub struct Candidate {
    /// The column.
    pub column: String,
    /// The type it might be.
    pub ty: ValueType,
    /// How its numbers are written.
    pub notation: Notation,
    /// Whether the order of day and month was given (`--date-format`), so the other order is
    /// not considered.
    pub day_month_given: bool,
}

/// The whole-column figures of each candidate column of what `from` reads (a table function or
/// subquery whose columns are text), in one scan.
pub fn profile(conn: &Connection, from: &str, candidates: &[Candidate]) -> duckdb::Result<Vec<Profile>> {
    if candidates.is_empty() {
        return Ok(Vec::new());
    }
    // Each value is classified once, in an inner projection of flags (`f` fits, `w` whole, `s`
    // fits with day and month swapped, `d` day differs from month, `c` has a comma, `t` has three
    // digits after it, `n` is a numeral in another notation); the outer query only adds flags up.
    // Written as aggregates over the predicates instead, each predicate ran once per aggregate
    // using it, and 100,000 values took seconds.
    // Per column: present, fits, whole, swapped_only, candidate_only, either_way, commas,
    // commas_of_three, notation, other_kind; then two lists of examples.
    const NUMBERS: usize = 10;
    let mut flags = Vec::new();
    let mut measures = Vec::new();
    for (i, Candidate { column, ty, notation: n, day_month_given }) in candidates.iter().enumerate() {
        let (v, n) = (quote_ident(column), *n);
        // A column of whole numbers with one decimal is a column of decimals: numbers are
        // measured as decimals, and `whole` says whether they all were integers.
        let measured = if *ty == ValueType::Integer { &ValueType::Decimal } else { ty };
        let fits = measured.fits(&v, n).unwrap_or_else(|| "false".into());
        let swapped = ty.swapped().filter(|_| !day_month_given).and_then(|s| s.fits(&v, n));
        let numeric = matches!(ty, ValueType::Integer | ValueType::Decimal);
        let comma = *ty == ValueType::Decimal && n.decimal_comma;
        let flag = |name: &str, condition: String| format!("coalesce({condition}, false) AS {name}{i}");
        flags.push(format!("{v} AS v{i}"));
        flags.push(flag("f", fits));
        flags.push(flag(
            "w",
            if numeric { ValueType::Integer.fits(&v, n).expect("integers have a pattern") } else { "false".into() },
        ));
        flags.push(flag("s", swapped.clone().unwrap_or_else(|| "false".into())));
        flags.push(flag(
            "d",
            if swapped.is_some() { format!("day({0}) <> month({0})", ty.read(&v, n)) } else { "false".into() },
        ));
        flags.push(flag("c", if comma { format!("contains({v}, ',')") } else { "false".into() }));
        flags.push(flag(
            "t",
            if comma { format!("regexp_matches({v}, ',[0-9]{{3}}([eE][+-]?[0-9]+)?\\s*$')") } else { "false".into() },
        ));
        flags.push(flag("n", notation(&v)));
        let count_if = |condition: String| {
            format!("coalesce(sum(CASE WHEN v{i} IS NOT NULL AND {condition} THEN 1 ELSE 0 END), 0)::BIGINT")
        };
        let misfit = format!("NOT f{i} AND NOT s{i}");
        measures.push(format!("count(v{i})"));
        measures.push(count_if(format!("f{i}")));
        measures.push(count_if(format!("f{i} AND w{i}")));
        measures.push(count_if(format!("s{i} AND NOT f{i}")));
        measures.push(count_if(format!("f{i} AND NOT s{i}")));
        measures.push(count_if(format!("f{i} AND s{i} AND d{i}")));
        measures.push(count_if(format!("c{i}")));
        measures.push(count_if(format!("t{i}")));
        measures.push(count_if(format!("{misfit} AND n{i}")));
        measures.push(count_if(format!("{misfit} AND NOT n{i}")));
        for which in [format!("{misfit} AND n{i}"), format!("{misfit} AND NOT n{i}")] {
            measures.push(format!(
                "coalesce(min(DISTINCT CASE WHEN v{i} IS NOT NULL AND {which} THEN v{i} END, {EXAMPLES}), [])::VARCHAR[]"
            ));
        }
    }
    let per = NUMBERS + 2;
    let sql = format!("SELECT {} FROM (SELECT {} FROM {from})", measures.join(", "), flags.join(", "));
    tracing::debug!(%sql, "profiling columns");
    conn.query_row(&sql, [], |r| {
        let list = |i: usize| -> duckdb::Result<Vec<String>> {
            Ok(match r.get::<_, duckdb::types::Value>(i)? {
                duckdb::types::Value::List(items) => items
                    .into_iter()
                    .filter_map(|v| match v {
                        duckdb::types::Value::Text(t) => Some(t),
                        _ => None,
                    })
                    .collect(),
                _ => Vec::new(),
            })
        };
        (0..candidates.len())
            .map(|c| {
                let at = |k: usize| r.get::<_, i64>(c * per + k).map(|n| n.max(0) as u64);
                Ok(Profile {
                    present: at(0)?,
                    fits: at(1)?,
                    whole: at(2)?,
                    swapped_only: at(3)?,
                    candidate_only: at(4)?,
                    either_way: at(5)?,
                    commas: at(6)?,
                    commas_of_three: at(7)?,
                    notation: at(8)?,
                    other_kind: at(9)?,
                    notation_examples: list(c * per + NUMBERS)?,
                    other_examples: list(c * per + NUMBERS + 1)?,
                })
            })
            .collect()
    })
}

/// What a column became, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    /// The type it is stored as.
    pub ty: ValueType,
    /// Values set aside as nulls (of another kind than the rest, and few).
    pub set_aside: u64,
    /// Examples: of the values set aside, or of those that kept the column as text.
    pub examples: Vec<String>,
    /// Why the column is text though a type was considered.
    pub kept_as_text: Option<String>,
    /// Values that do not fit the type considered (those set aside, or those that kept the
    /// column as text).
    pub misfits: u64,
    /// The type the column was measured as (a whole-number candidate with decimals is measured as
    /// decimals): what it would have been but for the values that kept it text.
    pub considered: ValueType,
}

impl Decision {
    fn text(reason: String, examples: Vec<String>, misfits: u64, considered: &ValueType) -> Decision {
        Decision {
            ty: ValueType::Text,
            set_aside: 0,
            examples,
            kept_as_text: Some(reason),
            misfits,
            considered: considered.clone(),
        }
    }
}

/// Chooses a column's type from its [`Profile`] under `candidate`.
///
/// The column takes the candidate (an integer candidate widened to decimals when its numbers are
/// not all whole; a date format with day and month swapped when only that reading fits) if every
/// value fits; if a few values (at most [`MAX_SET_ASIDE_SHARE`]) are of another kind, those are
/// set aside. It stays text when any value is a number or date in another notation, when day and
/// month cannot be told apart, when a decimal comma could be a thousands separator, or when too
/// many values are of another kind.
pub fn decide(candidate: &ValueType, p: &Profile) -> Decision {
    if p.present == 0 || candidate.is_text() {
        return Decision {
            ty: ValueType::Text,
            set_aside: 0,
            examples: Vec::new(),
            kept_as_text: None,
            misfits: 0,
            considered: candidate.clone(),
        };
    }
    let misfits = p.notation + p.other_kind;
    // What the values that fit make the column: whole numbers or decimals; dates in the order
    // the values show.
    let mut ty = match candidate {
        ValueType::Integer | ValueType::Decimal if p.whole == p.fits => ValueType::Integer,
        ValueType::Integer | ValueType::Decimal => ValueType::Decimal,
        other => other.clone(),
    };
    if let Some(swapped) = candidate.swapped()
        && p.swapped_only > 0
        && p.candidate_only == 0
    {
        ty = swapped;
    }
    if p.notation > 0 {
        return Decision::text(
            format!(
                "{} value(s) would change if read as {} (numbers with leading zeros or separators, codes, other \
                 date forms)",
                p.notation,
                ty.describe()
            ),
            p.notation_examples.clone(),
            misfits,
            &ty,
        );
    }
    // All three are zero when the order of day and month was given.
    if p.swapped_only > 0 && p.candidate_only > 0 {
        return Decision::text("dates are written both day-first and month-first".into(), Vec::new(), misfits, &ty);
    }
    if candidate.swapped().is_some() && p.swapped_only == 0 && p.candidate_only == 0 && p.either_way > 0 {
        return Decision::text(
            "day and month cannot be told apart (no day is after the 12th): give `--date-format`".into(),
            Vec::new(),
            misfits,
            &ty,
        );
    }
    if p.other_kind == 0 {
        return Decision {
            ty: ty.clone(),
            set_aside: 0,
            examples: Vec::new(),
            kept_as_text: None,
            misfits,
            considered: ty,
        };
    }
    if (p.other_kind as f64) <= MAX_SET_ASIDE_SHARE * p.present as f64 {
        return Decision {
            ty: ty.clone(),
            set_aside: p.other_kind,
            examples: p.other_examples.clone(),
            kept_as_text: None,
            misfits,
            considered: ty,
        };
    }
    Decision::text(
        format!("mixed types: {} of {} values are not {}", p.other_kind, p.present, ty.describe()),
        p.other_examples.clone(),
        misfits,
        &ty,
    )
}

/// Whether a column read with a decimal comma that nobody asked for could as well hold
/// thousands separators: every comma has exactly three digits after it (`1,234`).
pub fn comma_could_be_thousands(p: &Profile) -> bool {
    p.commas > 0 && p.commas == p.commas_of_three
}

/// The first value of `column` in what `from` reads (text, in file order) that does not fit
/// `ty`, with its row (1-based, header excluded). Runs on one thread, so rows keep file order.
pub fn first_misfit(
    conn: &Connection,
    from: &str,
    column: &str,
    ty: &ValueType,
    notation: Notation,
) -> duckdb::Result<Option<(u64, String)>> {
    let fits = ty.fits("value", notation).unwrap_or_else(|| "false".into());
    let threads: i64 = conn.query_row("SELECT current_setting('threads')::BIGINT", [], |r| r.get(0))?;
    conn.execute_batch("SET threads = 1")?;
    let found = conn.query_row(
        &format!(
            "SELECT row, value FROM (SELECT row_number() OVER () AS row, {} AS value FROM {from}) \
             WHERE value IS NOT NULL AND NOT ({fits}) ORDER BY row LIMIT 1",
            quote_ident(column)
        ),
        [],
        |r| Ok((r.get::<_, i64>(0)? as u64, r.get::<_, String>(1)?)),
    );
    conn.execute_batch(&format!("SET threads = {threads}"))?;
    match found {
        Ok(f) => Ok(Some(f)),
        Err(duckdb::Error::QueryReturnedNoRows) => Ok(None),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conn() -> Connection {
        let c = Connection::open_in_memory().unwrap();
        install(&c).unwrap();
        c
    }

    /// `(fits, read back as text)` for each value under `ty`.
    fn check(ty: &ValueType, notation: Notation, values: &[&str]) -> Vec<(bool, Option<String>)> {
        let c = conn();
        values
            .iter()
            .map(|value| {
                let v = quote_literal(value);
                let fits = ty.fits(&v, notation).unwrap_or_else(|| "false".into());
                c.query_row(&format!("SELECT {fits}, CAST({} AS VARCHAR)", ty.read(&v, notation)), [], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })
                .unwrap()
            })
            .collect()
    }

    fn fitting(ty: &ValueType, notation: Notation, values: &[&str]) -> Vec<bool> {
        check(ty, notation, values).into_iter().map(|(f, _)| f).collect()
    }

    #[test]
    fn integers_fit_only_when_nothing_would_change() {
        let values = [
            "0",
            "42",
            "-7",
            "+7",
            " 12 ",
            "9223372036854775807",
            "007",
            "6.6",
            "1e5",
            "1_000",
            "0x10",
            "-0",
            "9223372036854775808",
            "12345678901234567890123",
        ];
        assert_eq!(
            fitting(&ValueType::Integer, Notation::default(), &values),
            [true, true, true, true, true, true, false, false, false, false, false, true, false, false]
        );
    }

    #[test]
    fn decimals_fit_up_to_fifteen_significant_digits() {
        let values = [
            "0.25",
            "6.6",
            ".5",
            "5.",
            "-0.5",
            "1.5e+05",
            "1.2E-7",
            "2e-05",
            "1E5",
            "05.5",
            "1,5",
            "1_000.5",
            "inf",
            "nan",
            "0.123456789012345",
            "0.1234567890123456789",
            "0.30000000000000004",
            "-123.45678901234567",
            "1e400",
            "123456789012345000000",
            "0.00000000000000000000123",
        ];
        assert_eq!(
            fitting(&ValueType::Decimal, Notation::default(), &values),
            [
                true, true, true, true, true, true, true, true, false, false, false, false, false, false, true, false,
                true, true, false, true, true
            ]
        );
        let comma = Notation { decimal_comma: true };
        assert_eq!(
            fitting(&ValueType::Decimal, comma, &["60,5", "-0,25", "60.5", "1.234,5", "60"]),
            [true, true, false, false, true]
        );
        assert_eq!(check(&ValueType::Decimal, comma, &["60,5"])[0].1.as_deref(), Some("60.5"));
    }

    #[test]
    fn dates_and_times_fit_only_in_full() {
        let iso = ValueType::Date { format: None };
        assert_eq!(
            fitting(
                &iso,
                Notation::default(),
                &["2023-01-05", "2023-1-5", " 2023-01-05", "2023-01-05 10:00:00", "23-01-05", "2023-02-30", "20230105"]
            ),
            [true, true, true, false, false, false, false]
        );
        let dotted = ValueType::Date { format: Some("%d.%m.%Y".into()) };
        let checked = check(&dotted, Notation::default(), &["05.03.2023", "5.3.2023", "01.02.23", "31.02.2023"]);
        assert_eq!(checked.iter().map(|c| c.0).collect::<Vec<_>>(), [true, true, false, false]);
        assert_eq!(checked[0].1.as_deref(), Some("2023-03-05"));
        assert_eq!(
            ValueType::Date { format: Some("%y-%m-%d".into()) }.fits("v", Notation::default()),
            None,
            "two-digit years are not read"
        );
        let ts = ValueType::Timestamp { format: None, zoned: false };
        assert_eq!(
            fitting(
                &ts,
                Notation::default(),
                &[
                    "2023-01-05 10:00:00",
                    "2023-01-05T10:00",
                    "2023-01-05 10:00:00.123456",
                    "2023-01-05 10:00:00.1234567",
                    "2023-01-05T10:00:00+02:00"
                ]
            ),
            [true, true, true, false, false]
        );
        let zoned = ValueType::Timestamp { format: None, zoned: true };
        assert_eq!(
            fitting(&zoned, Notation::default(), &["2023-01-05T10:00:00+02:00", "2023-01-05T10:00:00Z"]),
            [true, true]
        );
        assert_eq!(
            fitting(&ValueType::Time, Notation::default(), &["10:30", "10:30:05.5", "25:00", "10:30:05.1234567"]),
            [true, true, false, false]
        );
        assert_eq!(
            fitting(&ValueType::Boolean, Notation::default(), &["Yes", "n", "TRUE", "0", "maybe"]),
            [true, true, true, true, false]
        );
    }

    #[test]
    fn misfits_in_another_notation_are_told_from_values_of_another_kind() {
        let c = conn();
        let is = |value: &str| -> bool {
            c.query_row(&format!("SELECT {}", notation(&quote_literal(value))), [], |r| r.get(0)).unwrap()
        };
        for v in ["000001", "1,234", "1 234", "1E5", "05.03.23", "2023-01-05 10:00", "-05", "1'234"] {
            assert!(is(v), "{v} is a number or date in another notation");
        }
        for v in ["<0.5", "CF", "n/a", "50%", "7 mg", "unknown", ">90"] {
            assert!(!is(v), "{v} is of another kind");
        }
    }

    #[test]
    fn guarded_conversion_names_the_column() {
        let c = conn();
        let sql = format!(
            "SELECT {} FROM (VALUES ('1'), ('6.6')) t(x)",
            guarded("x", 3, &ValueType::Integer, Notation::default())
        );
        let err = c.query_row(&sql, [], |r| r.get::<_, i64>(0)).unwrap_err();
        assert_eq!(misfit_column(&err.to_string()), Some(3), "{err}");
    }

    fn profile_of(values: &[&str], ty: &ValueType, notation: Notation) -> Profile {
        let c = conn();
        let rows = values.iter().map(|v| format!("({})", quote_literal(v))).collect::<Vec<_>>().join(", ");
        let candidate = Candidate { column: "x".into(), ty: ty.clone(), notation, day_month_given: false };
        profile(&c, &format!("(VALUES {rows}) t(x)"), &[candidate]).unwrap().remove(0)
    }

    #[test]
    fn a_lab_column_with_one_censored_value_stays_decimal() {
        let mut values: Vec<String> = (0..99).map(|i| ["0.25", "0.5", "6.6", "1.2", "3"][i % 5].to_string()).collect();
        values.push("<0.5".into());
        let values: Vec<&str> = values.iter().map(String::as_str).collect();
        let d = decide(&ValueType::Integer, &profile_of(&values, &ValueType::Integer, Notation::default()));
        assert_eq!((d.ty, d.set_aside, d.examples), (ValueType::Decimal, 1, vec!["<0.5".to_string()]));
    }

    #[test]
    fn leading_zeros_anywhere_keep_a_column_as_text() {
        let mut values: Vec<String> = (1..=200).map(|i| i.to_string()).collect();
        values.push("000001".into());
        let values: Vec<&str> = values.iter().map(String::as_str).collect();
        let d = decide(&ValueType::Integer, &profile_of(&values, &ValueType::Integer, Notation::default()));
        assert_eq!(d.ty, ValueType::Text);
        assert_eq!(d.examples, ["000001"]);
    }

    #[test]
    fn ambiguous_dates_and_commas_stay_text() {
        let dm = ValueType::Date { format: Some("%d/%m/%Y".into()) };
        let d = decide(&dm, &profile_of(&["01/02/2023", "03/04/2023"], &dm, Notation::default()));
        assert!(d.kept_as_text.unwrap().contains("day and month"));
        let d = decide(&dm, &profile_of(&["01/02/2023", "03/25/2023"], &dm, Notation::default()));
        assert_eq!(d.ty, ValueType::Date { format: Some("%m/%d/%Y".into()) }, "only month-first reads every value");
        let d = decide(&dm, &profile_of(&["13/02/2023", "03/25/2023"], &dm, Notation::default()));
        assert_eq!(d.ty, ValueType::Text, "day-first and month-first in one column");
        let comma = Notation { decimal_comma: true };
        assert!(comma_could_be_thousands(&profile_of(&["1,234", "2,500"], &ValueType::Decimal, comma)));
        let p = profile_of(&["1,234", "60,5"], &ValueType::Decimal, comma);
        assert!(!comma_could_be_thousands(&p));
        assert_eq!(decide(&ValueType::Decimal, &p).ty, ValueType::Decimal);
    }

    #[test]
    fn many_values_of_another_kind_keep_a_column_as_text() {
        let values: Vec<&str> = (0..100).map(|i| if i % 10 == 0 { "CF" } else { "5" }).collect();
        let d = decide(&ValueType::Integer, &profile_of(&values, &ValueType::Integer, Notation::default()));
        assert_eq!(d.ty, ValueType::Text);
        assert!(d.kept_as_text.unwrap().contains("10 of 100"));
    }

    #[test]
    fn the_first_misfit_is_found_with_its_row() {
        let c = conn();
        let rows: Vec<String> = (0..5000).map(|i| format!("('{i}')")).chain(["('60,5')".to_string()]).collect();
        let from = format!("(VALUES {}) t(x)", rows.join(", "));
        let found = first_misfit(&c, &from, "x", &ValueType::Decimal, Notation::default()).unwrap();
        assert_eq!(found, Some((5001, "60,5".to_string())));
    }
}
