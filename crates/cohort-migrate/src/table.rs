//! Rows of JSON objects to one Parquet table, typed across all rows and written with arrow-rs.
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
//! than rounded. Column names are made unique ignoring case, and absent fields are written as nulls.
//!
//! Text becomes a date or a timestamp only when every text value at its place is written in ISO
//! 8601 ([`Temporal`]): `2024-03-01` is a `DATE`; `2024-03-01T08:00:00Z` (or with an offset) a
//! `TIMESTAMP WITH TIME ZONE`; `2024-03-01 08:00:00` a `TIMESTAMP`. Anything else stays text as
//! written: `01-02-2024` could be the first of February or the second of January, and guessing
//! (as DuckDB's JSON reader does) would change a value without saying so. Should writing the
//! typed table still fail, the rows are written again with every value as JSON text
//! ([`Written::as_text`]), which cannot fail on any JSON.
//!
//! The table is built in Rust rather than by DuckDB's JSON reader: converting a legacy cohort's
//! three small tables through DuckDB cost three statements and a scratch file each, most of
//! `cohort migrate`'s time for thousands of files.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanArray, Date32Array, Float64Array, Int64Array, ListArray, RecordBatch, StringArray, StructArray,
    TimestampMicrosecondArray,
};
use arrow::buffer::{NullBuffer, OffsetBuffer};
use arrow::datatypes::{DataType, Field, Fields, Schema, SchemaRef, TimeUnit};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;
use serde_json::{Map, Value};

/// The column holding each row's original JSON, from which the source can be written back.
pub const ORIGINAL_JSON: &str = "_original_json";

/// The suffix of the column holding values of a field that do not fit its column.
pub const MIXED_SUFFIX: &str = "__json";

/// Rows per Parquet row group (DuckDB's own size, so large legacy runs read as they did).
const ROW_GROUP_ROWS: usize = 122_880;

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

/// A text value that is a date or a point in time written in ISO 8601, and its value as Parquet
/// stores it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Temporal {
    /// `YYYY-MM-DD`: days since 1970-01-01.
    Date(i32),
    /// `YYYY-MM-DD[T ]HH:MM:SS[.ffffff]` followed by `Z` or `±HH:MM`: microseconds since the
    /// epoch, in UTC.
    Instant(i64),
    /// The same without an offset: microseconds since 1970-01-01 00:00:00 of the wall clock.
    Local(i64),
}

impl Temporal {
    /// Reads `text` strictly: a valid calendar date and time, at most six digits of seconds'
    /// fractions (what a microsecond holds), nothing before or after. `None` for anything else.
    pub fn parse(text: &str) -> Option<Temporal> {
        let b = text.as_bytes();
        if !(10..=32).contains(&b.len()) || b[4] != b'-' || b[7] != b'-' {
            return None;
        }
        let digits = |from: usize, to: usize| -> Option<i32> {
            let part = b.get(from..to)?;
            part.iter().all(u8::is_ascii_digit).then(|| part.iter().fold(0i32, |n, d| n * 10 + i32::from(d - b'0')))
        };
        let date = jiff::civil::Date::new(digits(0, 4)? as i16, digits(5, 7)? as i8, digits(8, 10)? as i8).ok()?;
        let epoch = jiff::civil::date(1970, 1, 1);
        if b.len() == 10 {
            return Some(Temporal::Date(date.since(epoch).ok()?.get_days()));
        }
        if !(b[10] == b'T' || b[10] == b' ') || b.get(13) != Some(&b':') || b.get(16) != Some(&b':') {
            return None;
        }
        let (hour, minute, second) = (digits(11, 13)?, digits(14, 16)?, digits(17, 19)?);
        let mut at = 19;
        let mut micros = 0i32;
        if b.get(at) == Some(&b'.') {
            let start = at + 1;
            let end = start + b[start..].iter().take_while(|c| c.is_ascii_digit()).count();
            if end == start || end - start > 6 {
                return None;
            }
            micros = digits(start, end)? * 10i32.pow(6 - (end - start) as u32);
            at = end;
        }
        jiff::civil::Time::new(hour as i8, minute as i8, second as i8, 0).ok()?;
        let day = i64::from(date.since(epoch).ok()?.get_days());
        let wall = (day * 86_400 + i64::from((hour * 60 + minute) * 60 + second)) * 1_000_000 + i64::from(micros);
        let since_epoch = |offset_seconds: i32| Some(wall - i64::from(offset_seconds) * 1_000_000);
        match &b[at..] {
            [] => Some(Temporal::Local(since_epoch(0)?)),
            [b'Z'] => Some(Temporal::Instant(since_epoch(0)?)),
            [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
                let hours = i32::from(h1.checked_sub(b'0')?) * 10 + i32::from(h2.checked_sub(b'0')?);
                let minutes = i32::from(m1.checked_sub(b'0')?) * 10 + i32::from(m2.checked_sub(b'0')?);
                if ![h1, h2, m1, m2].iter().all(|c| c.is_ascii_digit()) || hours > 23 || minutes > 59 {
                    return None;
                }
                let offset = (hours * 60 + minutes) * 60 * if *sign == b'-' { -1 } else { 1 };
                Some(Temporal::Instant(since_epoch(offset)?))
            }
            _ => None,
        }
    }

    fn shape(self) -> Keep {
        match self {
            Temporal::Date(_) => Keep::Date,
            Temporal::Instant(_) => Keep::Timestamp { utc: true },
            Temporal::Local(_) => Keep::Timestamp { utc: false },
        }
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
    /// Numbers a double holds that are not integers fitting 64 bits: if any, the place is typed
    /// `DOUBLE`.
    not_whole: u64,
    /// Of the text values, those that are an ISO date, instant or local date-time.
    dates: u64,
    instants: u64,
    locals: u64,
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
            // A number that no column type holds (neither 64 bits nor a double) is set apart
            // whatever the place becomes, so it does not make the place `DOUBLE`.
            Value::Number(n) if n.as_i64().is_none() && double_holds(n) => self.not_whole += 1,
            Value::String(s) => match Temporal::parse(s) {
                Some(Temporal::Date(_)) => self.dates += 1,
                Some(Temporal::Instant(_)) => self.instants += 1,
                Some(Temporal::Local(_)) => self.locals += 1,
                None => {}
            },
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
            // An empty key cannot name a struct's field (DuckDB reads such a struct as an unnamed
            // row): objects with one are set apart whole.
            Kind::Object if self.fields.keys().all(String::is_empty) => Keep::EmptyObject,
            Kind::Object => {
                // Of keys equal but for case, the most common spelling (the first on a tie).
                let mut spelling: BTreeMap<String, (&str, u64)> = BTreeMap::new();
                for (key, seen) in self.fields.iter().filter(|(key, _)| !key.is_empty()) {
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
            Kind::String => {
                let texts = self.counts[Kind::String as usize];
                match (self.dates, self.instants, self.locals) {
                    (n, _, _) if n == texts => Keep::Date,
                    (_, n, _) if n == texts => Keep::Timestamp { utc: true },
                    (_, _, n) if n == texts => Keep::Timestamp { utc: false },
                    _ => Keep::Scalar(Kind::String),
                }
            }
            scalar => Keep::Scalar(*scalar),
        }
    }
}

/// The shape a column keeps.
#[derive(Debug, PartialEq)]
enum Keep {
    /// Only nulls were seen here (written as text, all null).
    Nothing,
    /// Numbers, all integers that fit 64 bits: `BIGINT`.
    Whole,
    /// A scalar; for numbers, `DOUBLE`, so only those a double holds exactly fit.
    Scalar(Kind),
    /// ISO dates: `DATE`.
    Date,
    /// ISO date-times: `TIMESTAMP WITH TIME ZONE` when each has an offset, else `TIMESTAMP`.
    Timestamp {
        utc: bool,
    },
    List(Box<Keep>),
    Object(BTreeMap<String, Keep>),
    /// Objects that never have a key, kept as their text `{}` (Parquet has no empty structs).
    EmptyObject,
}

impl Keep {
    fn data_type(&self) -> DataType {
        match self {
            Keep::Nothing | Keep::Scalar(Kind::String) | Keep::EmptyObject => DataType::Utf8,
            Keep::Whole => DataType::Int64,
            Keep::Scalar(Kind::Number) => DataType::Float64,
            Keep::Scalar(Kind::Bool) => DataType::Boolean,
            Keep::Scalar(Kind::List | Kind::Object) => unreachable!("lists and objects have their own shapes"),
            Keep::Date => DataType::Date32,
            Keep::Timestamp { utc } => DataType::Timestamp(TimeUnit::Microsecond, utc.then(|| "UTC".into())),
            Keep::List(item) => DataType::List(Arc::new(Field::new("item", item.data_type(), true))),
            Keep::Object(fields) => DataType::Struct(Self::struct_fields(fields)),
        }
    }

    fn struct_fields(fields: &BTreeMap<String, Keep>) -> Fields {
        fields.iter().map(|(name, keep)| Field::new(name, keep.data_type(), true)).collect()
    }

    /// The column of `values` (each fits this shape; `None` or JSON null is a null).
    fn array(&self, values: &[Option<&Value>]) -> ArrayRef {
        fn present<'v>(v: &Option<&'v Value>) -> Option<&'v Value> {
            v.filter(|v| !v.is_null())
        }
        match self {
            Keep::Nothing => arrow::array::new_null_array(&DataType::Utf8, values.len()),
            Keep::Whole => Arc::new(values.iter().map(|v| present(v).and_then(Value::as_i64)).collect::<Int64Array>()),
            Keep::Scalar(Kind::Number) => {
                Arc::new(values.iter().map(|v| present(v).and_then(Value::as_f64)).collect::<Float64Array>())
            }
            Keep::Scalar(Kind::Bool) => {
                Arc::new(values.iter().map(|v| present(v).and_then(Value::as_bool)).collect::<BooleanArray>())
            }
            Keep::Scalar(_) => {
                Arc::new(values.iter().map(|v| present(v).and_then(Value::as_str)).collect::<StringArray>())
            }
            Keep::EmptyObject => Arc::new(values.iter().map(|v| present(v).map(|_| "{}")).collect::<StringArray>()),
            Keep::Date => Arc::new(
                values
                    .iter()
                    .map(|v| match present(v).and_then(Value::as_str).and_then(Temporal::parse) {
                        Some(Temporal::Date(days)) => Some(days),
                        _ => None,
                    })
                    .collect::<Date32Array>(),
            ),
            Keep::Timestamp { utc } => {
                let micros = values
                    .iter()
                    .map(|v| match present(v).and_then(Value::as_str).and_then(Temporal::parse) {
                        Some(Temporal::Instant(m) | Temporal::Local(m)) => Some(m),
                        _ => None,
                    })
                    .collect::<TimestampMicrosecondArray>();
                Arc::new(if *utc { micros.with_timezone("UTC") } else { micros })
            }
            Keep::List(item) => {
                let mut lengths = Vec::with_capacity(values.len());
                let mut items: Vec<Option<&Value>> = Vec::new();
                for v in values {
                    let list = present(v).and_then(Value::as_array);
                    lengths.push(list.map_or(0, Vec::len));
                    items.extend(list.into_iter().flatten().map(Some));
                }
                let nulls = NullBuffer::from_iter(values.iter().map(|v| present(v).is_some()));
                let field = Arc::new(Field::new("item", item.data_type(), true));
                Arc::new(ListArray::new(field, OffsetBuffer::from_lengths(lengths), item.array(&items), Some(nulls)))
            }
            Keep::Object(fields) => {
                let objects: Vec<Option<&Map<String, Value>>> =
                    values.iter().map(|v| present(v).and_then(Value::as_object)).collect();
                let children = fields
                    .iter()
                    .map(|(name, keep)| {
                        let column: Vec<Option<&Value>> = objects.iter().map(|o| o.and_then(|o| o.get(name))).collect();
                        keep.array(&column)
                    })
                    .collect();
                let nulls = NullBuffer::from_iter(objects.iter().map(Option::is_some));
                Arc::new(StructArray::new(Self::struct_fields(fields), children, Some(nulls)))
            }
        }
    }
}

/// Whether `v` fits the shape `keep` everywhere (nulls fit anything).
fn fits(v: &Value, keep: &Keep) -> bool {
    match (v, keep) {
        (Value::Null, _) => true,
        (Value::Array(items), Keep::List(inner)) => items.iter().all(|i| fits(i, inner)),
        (Value::Object(o), Keep::Object(fields)) => o.iter().all(|(k, v)| fields.get(k).is_some_and(|f| fits(v, f))),
        (Value::Object(o), Keep::EmptyObject) => o.is_empty(),
        (Value::Number(n), Keep::Whole) => n.as_i64().is_some(),
        (Value::Number(n), Keep::Scalar(Kind::Number)) => double_holds(n),
        (Value::String(s), Keep::Date | Keep::Timestamp { .. }) => {
            Temporal::parse(s).is_some_and(|t| t.shape() == *keep)
        }
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
    /// Why the rows could not be written typed, when every value was written as JSON text instead.
    pub as_text: Option<String>,
}

/// One column of the table.
struct Column<'a> {
    name: String,
    data_type: DataType,
    source: Source<'a>,
}

/// Where a column's values come from.
enum Source<'a> {
    /// A field's values that fit its shape (`all_fit`: no value of it is set apart).
    Typed { field: &'a str, keep: &'a Keep, all_fit: bool },
    /// A field's values that do not fit its shape, as JSON text.
    Misfits { field: &'a str, keep: &'a Keep },
    /// Every value of a field as JSON text.
    Text(&'a str),
    /// The row's original JSON.
    Original,
    /// Nothing: a column of a table without rows.
    Empty,
}

impl Source<'_> {
    fn array(&self, rows: &[Row]) -> ArrayRef {
        let text = |field: &str, keep: Option<&Keep>| -> ArrayRef {
            let values = rows.iter().map(|r| {
                r.fields
                    .get(field)
                    .filter(|v| !v.is_null() && keep.is_none_or(|keep| !fits(v, keep)))
                    .map(Value::to_string)
            });
            Arc::new(values.collect::<StringArray>())
        };
        match self {
            Source::Typed { field, keep, all_fit } => {
                let values: Vec<Option<&Value>> =
                    rows.iter().map(|r| r.fields.get(*field).filter(|v| *all_fit || fits(v, keep))).collect();
                keep.array(&values)
            }
            Source::Misfits { field, keep } => text(field, Some(keep)),
            Source::Text(field) => text(field, None),
            Source::Original => Arc::new(rows.iter().map(|r| r.original.as_deref()).collect::<StringArray>()),
            Source::Empty => arrow::array::new_null_array(&DataType::Utf8, rows.len()),
        }
    }
}

/// Writes `rows` to the Parquet file `target`. Of `leading`, the columns every row has (and that
/// hold no value of another kind) come first, in that order; the rest follow by name, and
/// [`ORIGINAL_JSON`] last.
///
/// It fails only when the file cannot be written.
pub fn write(rows: &[Row], leading: &[&str], target: &Path) -> Result<Written, String> {
    if rows.is_empty() {
        // Nothing to type: the leading columns, as text (a run whose patients have no visits),
        // so that whatever reads the table finds its columns.
        let mut names = Names::new();
        let columns = leading
            .iter()
            .map(|c| names.take(c))
            .chain([ORIGINAL_JSON.to_string()])
            .map(|name| Column { name, data_type: DataType::Utf8, source: Source::Empty })
            .collect();
        return write_columns(rows, columns, target).map(|_| Written::default());
    }
    let fields = plan(rows);
    let mut written = Written { rows: rows.len() as u64, ..Written::default() };
    for f in &fields {
        if let Some(t) = &f.typed
            && *t != f.field
        {
            written.renamed.insert(f.field.clone(), t.clone());
        }
        if f.mixed.is_none() {
            continue;
        }
        for v in rows.iter().filter_map(|r| r.fields.get(&f.field)).filter(|v| !v.is_null() && !fits(v, &f.keep)) {
            *written.mixed.entry(f.field.clone()).or_default() += 1;
            if v.is_number() && matches!(f.keep, Keep::Whole | Keep::Scalar(Kind::Number)) {
                *written.digits.entry(f.field.clone()).or_default() += 1;
            }
        }
    }
    let has_original = rows.iter().any(|r| r.original.is_some());
    match write_columns(rows, typed_columns(rows, &fields, leading, has_original), target) {
        Ok(()) => Ok(written),
        Err(why) => {
            tracing::warn!(%why, "the rows could not be written typed; writing every value as JSON text");
            let renamed = write_text(rows, has_original, target)?;
            Ok(Written { rows: rows.len() as u64, renamed, as_text: Some(why), ..Written::default() })
        }
    }
}

/// The columns of typed rows: identifiers first, when every row has one that fits; then each
/// field's column and the column of its values that do not fit, by field name; the original
/// JSON last.
fn typed_columns<'a>(rows: &[Row], fields: &'a [FieldPlan], leading: &[&str], has_original: bool) -> Vec<Column<'a>> {
    let mut first: Vec<&FieldPlan> = Vec::new();
    for l in leading {
        let Some(f) = fields.iter().find(|f| f.field == *l) else { continue };
        if f.typed.is_some()
            && f.mixed.is_none()
            && !first.iter().any(|g| g.field == f.field)
            && rows.iter().all(|r| r.fields.contains_key(*l))
        {
            first.push(f);
        }
    }
    let rest: Vec<&FieldPlan> = fields.iter().filter(|f| !first.iter().any(|g| g.field == f.field)).collect();
    let mut columns = Vec::new();
    for f in first.into_iter().chain(rest) {
        if let Some(name) = &f.typed {
            let source = Source::Typed { field: &f.field, keep: &f.keep, all_fit: f.mixed.is_none() };
            columns.push(Column { name: name.clone(), data_type: f.keep.data_type(), source });
        }
        if let Some(name) = &f.mixed {
            let source = Source::Misfits { field: &f.field, keep: &f.keep };
            columns.push(Column { name: name.clone(), data_type: DataType::Utf8, source });
        }
    }
    if has_original {
        columns.push(Column { name: ORIGINAL_JSON.into(), data_type: DataType::Utf8, source: Source::Original });
    }
    columns
}

/// Every value as JSON text in `<field>__json`, so nothing is typed and nothing can be refused.
/// Returns the fields stored under another name.
fn write_text(rows: &[Row], has_original: bool, target: &Path) -> Result<BTreeMap<String, String>, String> {
    let mut fields: Vec<&str> = rows.iter().flat_map(|r| r.fields.keys().map(String::as_str)).collect();
    fields.sort_unstable();
    fields.dedup();
    let mut names = Names::new();
    let mut renamed = BTreeMap::new();
    let mut columns = Vec::new();
    for field in fields {
        let name = names.take(&format!("{field}{MIXED_SUFFIX}"));
        if name != format!("{field}{MIXED_SUFFIX}") {
            renamed.insert(field.to_string(), name.clone());
        }
        columns.push(Column { name, data_type: DataType::Utf8, source: Source::Text(field) });
    }
    if has_original {
        columns.push(Column { name: ORIGINAL_JSON.into(), data_type: DataType::Utf8, source: Source::Original });
    }
    write_columns(rows, columns, target).map_err(|e| format!("converting to Parquet: {e}"))?;
    Ok(renamed)
}

/// Writes `rows` as `columns` to the Parquet file `target`, a row group at a time.
fn write_columns(rows: &[Row], columns: Vec<Column<'_>>, target: &Path) -> Result<(), String> {
    let fields: Vec<Field> = columns.iter().map(|c| Field::new(&c.name, c.data_type.clone(), true)).collect();
    let schema: SchemaRef = Arc::new(Schema::new(fields));
    let properties = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::default()))
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
        .build();
    let file = fs_err::File::create(target).map_err(|e| e.to_string())?;
    let mut writer = ArrowWriter::try_new(file, schema.clone(), Some(properties)).map_err(|e| e.to_string())?;
    for chunk in rows.chunks(ROW_GROUP_ROWS) {
        let arrays = columns.iter().map(|c| c.source.array(chunk)).collect();
        let batch = RecordBatch::try_new(schema.clone(), arrays).map_err(|e| e.to_string())?;
        writer.write(&batch).map_err(|e| e.to_string())?;
    }
    writer.close().map_err(|e| e.to_string())?;
    Ok(())
}

/// Writes JSON documents kept whole to the Parquet file `target`: columns `file` and `json`, the
/// text exactly as it was in the file, in the order given.
pub fn write_documents(documents: &[(String, String)], target: &Path) -> Result<(), String> {
    let schema =
        Arc::new(Schema::new(vec![Field::new("file", DataType::Utf8, true), Field::new("json", DataType::Utf8, true)]));
    let files: StringArray = documents.iter().map(|(f, _)| Some(f.as_str())).collect();
    let texts: StringArray = documents.iter().map(|(_, t)| Some(t.as_str())).collect();
    let write = || -> Result<(), Box<dyn std::error::Error>> {
        let batch = RecordBatch::try_new(schema.clone(), vec![Arc::new(files), Arc::new(texts)])?;
        let properties = WriterProperties::builder().set_compression(Compression::ZSTD(ZstdLevel::default())).build();
        let mut writer = ArrowWriter::try_new(fs_err::File::create(target)?, schema.clone(), Some(properties))?;
        writer.write(&batch)?;
        writer.close()?;
        Ok(())
    };
    write().map_err(|e| format!("writing the documents: {e}"))
}

#[cfg(test)]
mod tests {
    use cohort_store::name::quote_literal;
    use duckdb::Connection;
    use serde_json::json;

    use super::*;

    /// Rows through [`write`], read back by DuckDB: each column's type, and each row's values as
    /// DuckDB renders them as JSON (`to_json`).
    fn through_duckdb(values: &[Value], leading: &[&str]) -> (Written, Vec<(String, String)>, Vec<Value>) {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("t.parquet");
        let written = write(&rows(values), leading, &target).unwrap();
        let conn = Connection::open_in_memory().unwrap();
        let source = format!("read_parquet({})", quote_literal(&target.to_string_lossy()));
        let types = conn
            .prepare(&format!("SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM {source})"))
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<duckdb::Result<_>>()
            .unwrap();
        let back: Vec<String> = conn
            .prepare(&format!("SELECT to_json(t)::VARCHAR FROM {source} t"))
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<duckdb::Result<_>>()
            .unwrap();
        (written, types, back.iter().map(|b| serde_json::from_str(b).unwrap()).collect())
    }

    #[test]
    fn iso_dates_and_times_are_typed_and_other_spellings_stay_text() {
        let values = [
            json!({"id": 1, "born": "1961-02-28", "seen": "2024-03-01T08:00:00Z", "local": "2024-03-01 08:00:00.25",
                   "eu": "01-02-2024", "time": "08:00:00", "uuid": "1b4e28ba-2fa1-11d2-883f-0016d3cca427",
                   "visits": [{"on": "2024-03-02", "va": 71}], "none": null, "empty": {}, "lists": [], "odd": {"": 1}}),
            json!({"id": 2, "born": "2000-02-29", "seen": "2024-03-01T09:30:00.123456-05:30", "local": "2024-03-01T23:59:59",
                   "eu": "13-02-2024", "time": "09:00:00", "uuid": "1b4e28ba-2fa1-11d2-883f-0016d3cca428",
                   "visits": [], "none": null, "empty": {}, "lists": [], "odd": {"": 2}}),
        ];
        let (written, types, back) = through_duckdb(&values, &["id"]);
        assert_eq!(written.mixed, BTreeMap::from([("odd".to_string(), 2)]), "only the object with an empty key");
        let types: BTreeMap<&str, &str> = types.iter().map(|(c, t)| (c.as_str(), t.as_str())).collect();
        assert_eq!(types["id"], "BIGINT");
        assert_eq!(types["born"], "DATE");
        assert_eq!(types["seen"], "TIMESTAMP WITH TIME ZONE");
        assert_eq!(types["local"], "TIMESTAMP");
        assert_eq!(types["visits"], "STRUCT(\"on\" DATE, va BIGINT)[]");
        for text in ["eu", "time", "uuid", "none", "empty"] {
            assert_eq!(types[text], "VARCHAR", "{text} stays text");
        }
        assert_eq!(types["lists"], "VARCHAR[]");
        // DuckDB reads the same instants as its own cast of the text does.
        let conn = Connection::open_in_memory().unwrap();
        for (row, v) in back.iter().zip(&values) {
            let expected: String = conn
                .query_row(
                    &format!(
                        "SELECT to_json({{born: {}::DATE, local: {}::TIMESTAMP, seen_utc: epoch_us({}::TIMESTAMPTZ)}})::VARCHAR",
                        quote_literal(v["born"].as_str().unwrap()),
                        quote_literal(v["local"].as_str().unwrap()),
                        quote_literal(v["seen"].as_str().unwrap())
                    ),
                    [],
                    |r| r.get(0),
                )
                .unwrap();
            let expected: Value = serde_json::from_str(&expected).unwrap();
            assert_eq!(row["born"], expected["born"]);
            assert_eq!(row["local"], expected["local"]);
            let seen: i64 = conn
                .query_row(
                    &format!("SELECT epoch_us({}::TIMESTAMPTZ)", quote_literal(row["seen"].as_str().unwrap())),
                    [],
                    |r| r.get(0),
                )
                .unwrap();
            assert_eq!(json!(seen), expected["seen_utc"]);
            for text in ["eu", "time", "uuid"] {
                assert_eq!(row[text], v[text], "{text} as written");
            }
            assert_eq!(row["empty"], json!("{}"));
            assert_eq!((&row["odd"], &row["odd__json"]), (&Value::Null, &json!(v["odd"].to_string())));
        }
        assert_eq!(back[0]["visits"], json!([{"on": "2024-03-02", "va": 71}]));
    }

    #[test]
    fn a_text_that_is_not_an_iso_date_sets_itself_apart_from_dates() {
        let values: Vec<Value> = (1..=9)
            .map(|d| json!({"on": format!("2024-01-0{d}")}))
            .chain([json!({"on": "2024-02-30"}), json!({"on": "2024-01-01T08:00:00"})])
            .collect();
        let plans = plan(&rows(&values));
        assert_eq!(field(&plans, "on").keep, Keep::Scalar(Kind::String), "one text that is no date keeps text");
        let values: Vec<Value> =
            (1..=9).map(|d| json!({"on": format!("2024-01-0{d}")})).chain([json!({"on": 7})]).collect();
        let (written, types, back) = through_duckdb(&values, &[]);
        assert_eq!(types[0], ("on".to_string(), "DATE".to_string()));
        assert_eq!(written.mixed["on"], 1);
        assert_eq!((&back[9]["on"], &back[9]["on__json"]), (&Value::Null, &json!("7")));
    }

    #[test]
    fn temporal_text_is_read_strictly() {
        let days = |s: &str| match Temporal::parse(s) {
            Some(Temporal::Date(d)) => Some(d),
            _ => None,
        };
        assert_eq!(days("1970-01-01"), Some(0));
        assert_eq!(days("1969-12-31"), Some(-1));
        assert_eq!(days("2000-03-01"), Some(11_017));
        for not in ["2024-13-01", "2024-02-30", "2024-1-01", " 2024-01-01", "2024-01-01 ", "24-01-01", "2024/01/01"] {
            assert_eq!(Temporal::parse(not), None, "{not}");
        }
        assert_eq!(Temporal::parse("1970-01-01T00:00:01Z"), Some(Temporal::Instant(1_000_000)));
        assert_eq!(Temporal::parse("1970-01-01T01:00:00+01:00"), Some(Temporal::Instant(0)));
        assert_eq!(Temporal::parse("1970-01-01 00:00:00.5"), Some(Temporal::Local(500_000)));
        assert_eq!(Temporal::parse("1969-12-31T23:00:00-01:00"), Some(Temporal::Instant(0)));
        for not in
            ["2024-01-01T25:00:00Z", "2024-01-01T08:00Z", "2024-01-01T08:00:00.1234567Z", "2024-01-01T08:00:00+1:00"]
        {
            assert_eq!(Temporal::parse(not), None, "{not}");
        }
    }

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
            let written = write(&rows(&values), &["id"], &target).unwrap();
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
        let renamed = write_text(&rows(&values), true, &target).unwrap();
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
        write(&[], &["patient_id", "day"], &target).unwrap();
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
