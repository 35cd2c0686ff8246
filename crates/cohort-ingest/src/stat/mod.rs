//! SPSS (`.sav`, `.zsav`, `.por`), Stata (`.dta`) and SAS (`.sas7bdat`, `.xpt`) files, read with
//! ReadStat, the C library behind pyreadstat and R's haven.
//!
//! ReadStat calls back once per value, row by row. Values go into column buffers that are written
//! as Parquet row groups of [`BATCH_ROWS`], so memory stays flat however big the file is. What
//! these formats carry beyond values is kept: each variable's label, its value labels (a code
//! list, plus a `<column>_label` column holding the labelled value), and its user-declared missing
//! codes (SPSS missing values, Stata `.a`-`.z`, SAS `.A`-`.Z`), which become nulls with each code's
//! count recorded. Dates and timestamps are recognised by their display format, as haven does.

mod ffi;

use std::collections::BTreeMap;
use std::ffi::{CStr, c_char, c_int, c_void};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::sync::Arc;

use arrow::array::{ArrayRef, Date32Array, Float64Array, Int64Array, StringArray, TimestampMicrosecondArray};
use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use arrow::record_batch::RecordBatch;
use cohort_store::name::{quote_ident, quote_literal};
use cohort_store::roles::is_identifier_name;
use cohort_store::{CancelToken, ColumnNotes, MissingCodes, Progress};
use parquet::arrow::ArrowWriter;
use serde::Serialize;

use crate::error::{IngestError, Result};

/// Rows buffered before they are written as a row group.
const BATCH_ROWS: usize = 65_536;

/// Which statistical format, by extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StatFormat {
    /// SPSS system file (`.sav`, or compressed `.zsav`).
    Spss,
    /// SPSS portable file (`.por`).
    SpssPortable,
    /// Stata (`.dta`).
    Stata,
    /// SAS data set (`.sas7bdat`).
    Sas,
    /// SAS transport file (`.xpt`).
    SasTransport,
}

impl StatFormat {
    /// The format an extension (lower case, no dot) names.
    pub fn from_extension(ext: &str) -> Option<Self> {
        Some(match ext {
            "sav" | "zsav" => StatFormat::Spss,
            "por" => StatFormat::SpssPortable,
            "dta" => StatFormat::Stata,
            "sas7bdat" => StatFormat::Sas,
            "xpt" | "xport" => StatFormat::SasTransport,
            _ => return None,
        })
    }

    fn noun(self) -> &'static str {
        match self {
            StatFormat::Spss => "SPSS file",
            StatFormat::SpssPortable => "SPSS portable file",
            StatFormat::Stata => "Stata file",
            StatFormat::Sas => "SAS data set",
            StatFormat::SasTransport => "SAS transport file",
        }
    }
}

/// What a statistical file held besides its values.
#[derive(Debug, Clone, Serialize)]
pub struct StatTable {
    /// Rows read.
    pub rows: u64,
    /// The file's own label, if it has one.
    pub file_label: Option<String>,
    /// Each variable, in order.
    pub columns: Vec<StatColumn>,
}

/// One variable of a statistical file.
#[derive(Debug, Clone, Serialize)]
pub struct StatColumn {
    /// Its name.
    pub name: String,
    /// The display format the file gives it (`F8.2`, `%td`, `DATE9`...).
    pub format: String,
    /// What it was read as.
    pub kind: ValueKind,
    /// Label, value labels and missing codes.
    pub notes: ColumnNotes,
}

/// How a variable's values are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ValueKind {
    /// Text.
    Text,
    /// A number kept as text because the name says identifier (as for CSV).
    IdentifierText,
    /// A whole number.
    Integer,
    /// A floating-point number.
    Float,
    /// A calendar date.
    Date,
    /// A date and time (no time zone).
    Timestamp,
}

/// Units and epochs of date values in each format.
#[derive(Debug, Clone, Copy)]
enum Temporal {
    /// Seconds since 1582-10-14 (SPSS).
    SpssSeconds,
    /// Days since 1960-01-01 (Stata `%td`, SAS dates).
    Days1960,
    /// Seconds since 1960-01-01 (SAS datetimes).
    Seconds1960,
    /// Milliseconds since 1960-01-01 (Stata `%tc`).
    Millis1960,
}

const DAYS_1960_TO_1970: i64 = 3_653;
const DAYS_1582_TO_1970: i64 = 141_428;

impl Temporal {
    /// Microseconds since 1970-01-01.
    fn unix_micros(self, v: f64) -> i64 {
        let (seconds, offset_days) = match self {
            Temporal::SpssSeconds => (v, DAYS_1582_TO_1970),
            Temporal::Days1960 => (v * 86_400.0, DAYS_1960_TO_1970),
            Temporal::Seconds1960 => (v, DAYS_1960_TO_1970),
            Temporal::Millis1960 => (v / 1_000.0, DAYS_1960_TO_1970),
        };
        ((seconds - (offset_days * 86_400) as f64) * 1e6).round() as i64
    }

    fn unix_days(self, v: f64) -> i32 {
        self.unix_micros(v).div_euclid(86_400_000_000) as i32
    }
}

/// What a display format says about a numeric variable: a date, a timestamp or neither.
fn temporal_of(format: StatFormat, display: &str) -> Option<(ValueKind, Temporal)> {
    let upper = display.to_ascii_uppercase();
    let name: String = upper.trim_start_matches('%').chars().take_while(|c| c.is_ascii_alphabetic()).collect();
    match format {
        StatFormat::Spss | StatFormat::SpssPortable => match name.as_str() {
            "DATE" | "ADATE" | "EDATE" | "JDATE" | "SDATE" | "MOYR" | "QYR" | "WKYR" => {
                Some((ValueKind::Date, Temporal::SpssSeconds))
            }
            "DATETIME" | "YMDHMS" => Some((ValueKind::Timestamp, Temporal::SpssSeconds)),
            _ => None,
        },
        StatFormat::Stata => {
            let lower = display.to_ascii_lowercase();
            if lower.starts_with("%td") || lower.starts_with("%d") {
                Some((ValueKind::Date, Temporal::Days1960))
            } else if lower.starts_with("%tc") {
                Some((ValueKind::Timestamp, Temporal::Millis1960))
            } else {
                None
            }
        }
        StatFormat::Sas | StatFormat::SasTransport => match name.as_str() {
            "DATE" | "DDMMYY" | "MMDDYY" | "YYMMDD" | "DDMMYYD" | "MMDDYYD" | "YYMMDDD" | "DDMMYYS" | "MMDDYYS"
            | "YYMMDDS" | "DDMMYYN" | "MMDDYYN" | "YYMMDDN" | "E8601DA" | "B8601DA" | "IS8601DA" | "WEEKDATE"
            | "WORDDATE" | "MONYY" | "NLDATE" | "MINGUO" | "JULIAN" | "YYQ" => {
                Some((ValueKind::Date, Temporal::Days1960))
            }
            "DATETIME" | "E8601DT" | "B8601DT" | "IS8601DT" | "DATEAMPM" | "MDYAMPM" | "NLDATM" => {
                Some((ValueKind::Timestamp, Temporal::Seconds1960))
            }
            _ => None,
        },
    }
}

/// One column's values awaiting the next row group.
enum Buffer {
    Text(Vec<Option<String>>),
    Integer(Vec<Option<i64>>),
    Float(Vec<Option<f64>>),
    Date(Vec<Option<i32>>),
    Timestamp(Vec<Option<i64>>),
}

impl Buffer {
    fn for_kind(kind: ValueKind) -> Self {
        match kind {
            ValueKind::Text | ValueKind::IdentifierText => Buffer::Text(Vec::new()),
            ValueKind::Integer => Buffer::Integer(Vec::new()),
            ValueKind::Float => Buffer::Float(Vec::new()),
            ValueKind::Date => Buffer::Date(Vec::new()),
            ValueKind::Timestamp => Buffer::Timestamp(Vec::new()),
        }
    }

    fn len(&self) -> usize {
        match self {
            Buffer::Text(v) => v.len(),
            Buffer::Integer(v) => v.len(),
            Buffer::Float(v) => v.len(),
            Buffer::Date(v) => v.len(),
            Buffer::Timestamp(v) => v.len(),
        }
    }

    fn push_null(&mut self) {
        match self {
            Buffer::Text(v) => v.push(None),
            Buffer::Integer(v) => v.push(None),
            Buffer::Float(v) => v.push(None),
            Buffer::Date(v) => v.push(None),
            Buffer::Timestamp(v) => v.push(None),
        }
    }

    fn take(&mut self) -> ArrayRef {
        match self {
            Buffer::Text(v) => Arc::new(StringArray::from(std::mem::take(v))),
            Buffer::Integer(v) => Arc::new(Int64Array::from(std::mem::take(v))),
            Buffer::Float(v) => Arc::new(Float64Array::from(std::mem::take(v))),
            Buffer::Date(v) => Arc::new(Date32Array::from(std::mem::take(v))),
            Buffer::Timestamp(v) => Arc::new(TimestampMicrosecondArray::from(std::mem::take(v))),
        }
    }
}

fn arrow_type(kind: ValueKind) -> DataType {
    match kind {
        ValueKind::Text | ValueKind::IdentifierText => DataType::Utf8,
        ValueKind::Integer => DataType::Int64,
        ValueKind::Float => DataType::Float64,
        ValueKind::Date => DataType::Date32,
        ValueKind::Timestamp => DataType::Timestamp(TimeUnit::Microsecond, None),
    }
}

/// Everything the callbacks share.
struct Context<'a> {
    api: &'static ffi::Api,
    format: StatFormat,
    /// The file being read: errors name it.
    source: &'a Path,
    /// The Parquet file being written.
    out: &'a Path,
    progress: &'a dyn Progress,
    cancel: &'a CancelToken,
    expected_rows: Option<u64>,
    file_label: Option<String>,
    columns: Vec<StatColumn>,
    temporal: Vec<Option<Temporal>>,
    /// Value-label set name of each column.
    label_sets: Vec<Option<String>>,
    /// Value labels by set name, as (code, label).
    sets: BTreeMap<String, Vec<(String, String)>>,
    buffers: Vec<Buffer>,
    writer: Option<ArrowWriter<std::fs::File>>,
    schema: Option<arrow::datatypes::SchemaRef>,
    rows: u64,
    last_progress: f64,
    messages: Vec<String>,
    failure: Option<IngestError>,
}

/// Reads `path` into the Parquet file `out`, returning what the file said about its variables.
pub fn read_to_parquet(
    path: &Path,
    format: StatFormat,
    out: &Path,
    progress: &dyn Progress,
    cancel: &CancelToken,
) -> Result<StatTable> {
    let api = ffi::api().map_err(|why| IngestError::Invalid {
        path: path.to_path_buf(),
        line: None,
        message: format!("reading a {} needs the ReadStat library: {why}", format.noun()),
        hint: Some(
            "install it (Debian/Ubuntu: `apt-get install libreadstat1`; macOS: `brew install readstat`), or set \
             COHORT_READSTAT_LIB to the library's path; or export the file as CSV"
                .into(),
        ),
    })?;
    let c_path = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).map_err(|_| IngestError::Invalid {
        path: path.to_path_buf(),
        line: None,
        message: "the path contains a NUL byte".into(),
        hint: None,
    })?;
    let mut ctx = Context {
        api,
        format,
        source: path,
        out,
        progress,
        cancel,
        expected_rows: None,
        file_label: None,
        columns: Vec::new(),
        temporal: Vec::new(),
        label_sets: Vec::new(),
        sets: BTreeMap::new(),
        buffers: Vec::new(),
        writer: None,
        schema: None,
        rows: 0,
        last_progress: 0.0,
        messages: Vec::new(),
        failure: None,
    };
    progress.begin(&format!("reading {}", path.file_name().unwrap_or_default().to_string_lossy()), Some(1_000));
    // SAFETY: the parser lives until `parser_free` below; `ctx` outlives the parse, and the
    // handlers only reach it through the pointer passed here.
    let status = unsafe {
        let parser = (api.parser_init)();
        (api.set_metadata_handler)(parser, on_metadata);
        (api.set_variable_handler)(parser, on_variable);
        (api.set_value_handler)(parser, on_value);
        (api.set_value_label_handler)(parser, on_value_label);
        (api.set_error_handler)(parser, on_error);
        (api.set_progress_handler)(parser, on_progress);
        let parse = match format {
            StatFormat::Spss => api.parse_sav,
            StatFormat::SpssPortable => api.parse_por,
            StatFormat::Stata => api.parse_dta,
            StatFormat::Sas => api.parse_sas7bdat,
            StatFormat::SasTransport => api.parse_xport,
        };
        let status = parse(parser, c_path.as_ptr(), &mut ctx as *mut Context as *mut c_void);
        (api.parser_free)(parser);
        status
    };
    progress.finish();
    if let Some(failure) = ctx.failure.take() {
        return Err(failure);
    }
    if cancel.is_cancelled() {
        return Err(IngestError::Cancelled);
    }
    if status != 0 {
        // SAFETY: readstat_error_message returns a static string for any code.
        let reason = unsafe { c_text((api.error_message)(status)) }.unwrap_or_else(|| format!("error {status}"));
        let detail = ctx.messages.last().map(|m| format!(": {}", m.trim())).unwrap_or_default();
        return Err(IngestError::Invalid {
            path: path.to_path_buf(),
            line: None,
            message: format!("this {} cannot be read at record {} ({reason}{detail})", format.noun(), ctx.rows + 1),
            hint: Some(
                "check that the file was copied completely; open and save it again in the program that wrote it".into(),
            ),
        });
    }
    let truncated = match (format, ctx.expected_rows) {
        // Transport files are a sequence of 80-byte records and say nothing of their row count.
        (StatFormat::SasTransport, _) => std::fs::metadata(path).is_ok_and(|m| m.len() % 80 != 0),
        (_, Some(expected)) => ctx.rows < expected,
        _ => false,
    };
    if truncated {
        let expected = ctx.expected_rows.map(|n| format!(" of {n}")).unwrap_or_default();
        return Err(IngestError::Invalid {
            path: path.to_path_buf(),
            line: None,
            message: format!("this {} ends early, at record {}{expected}", format.noun(), ctx.rows + 1),
            hint: Some("the file is incomplete: copy it again from where it was written".into()),
        });
    }
    if ctx.columns.is_empty() {
        return Err(IngestError::Invalid {
            path: path.to_path_buf(),
            line: None,
            message: format!("this {} has no variables", format.noun()),
            hint: None,
        });
    }
    ctx.flush()?;
    if ctx.writer.is_none() {
        ctx.start_writer()?;
    }
    let writer = ctx.writer.take().expect("writer started");
    writer.close().map_err(|e| write_error(path, e))?;
    // Value labels arrive after the values in some formats, so they are attached at the end.
    for (column, set) in ctx.columns.iter_mut().zip(&ctx.label_sets) {
        if let Some(labels) = set.as_ref().and_then(|s| ctx.sets.get(s))
            && !labels.is_empty()
            && matches!(
                column.kind,
                ValueKind::Text | ValueKind::IdentifierText | ValueKind::Integer | ValueKind::Float
            )
        {
            column.notes.value_labels = Some(labels.iter().cloned().collect());
        }
    }
    Ok(StatTable { rows: ctx.rows, file_label: ctx.file_label, columns: ctx.columns })
}

/// The `SELECT` over the Parquet file written by [`read_to_parquet`] that adds, after each column
/// with value labels, a `<column>_label` column with the label of its value.
pub fn select_with_labels(parquet: &Path, table: &StatTable) -> String {
    let mut projection = Vec::new();
    let names: std::collections::HashSet<&str> = table.columns.iter().map(|c| c.name.as_str()).collect();
    for c in &table.columns {
        projection.push(quote_ident(&c.name));
        let Some(labels) = &c.notes.value_labels else { continue };
        let companion = label_column_name(&c.name, &names);
        let numeric = matches!(c.kind, ValueKind::Integer | ValueKind::Float);
        let arms: Vec<String> = labels
            .iter()
            .filter_map(|(code, label)| {
                let literal = if numeric {
                    code.parse::<f64>().ok().filter(|v| v.is_finite()).map(|_| code.clone())?
                } else {
                    quote_literal(code)
                };
                Some(format!("WHEN {} THEN {}", literal, quote_literal(label)))
            })
            .collect();
        if arms.is_empty() {
            continue;
        }
        projection.push(format!("CASE {} {} END AS {}", quote_ident(&c.name), arms.join(" "), quote_ident(&companion)));
    }
    format!("SELECT {} FROM read_parquet({})", projection.join(", "), quote_literal(&parquet.to_string_lossy()))
}

/// `<column>_label`, or with more underscores if the file already has a column of that name.
pub fn label_column_name(column: &str, taken: &std::collections::HashSet<&str>) -> String {
    let mut name = format!("{column}_label");
    while taken.contains(name.as_str()) {
        name.insert(column.len(), '_');
    }
    name
}

impl Context<'_> {
    fn start_writer(&mut self) -> Result<()> {
        let fields: Vec<Field> = self.columns.iter().map(|c| Field::new(&c.name, arrow_type(c.kind), true)).collect();
        let file = std::fs::File::create(self.out).map_err(|e| write_error(self.source, e))?;
        let props = parquet::file::properties::WriterProperties::builder()
            .set_compression(parquet::basic::Compression::UNCOMPRESSED)
            .build();
        let schema = Arc::new(Schema::new(fields));
        self.writer =
            Some(ArrowWriter::try_new(file, schema.clone(), Some(props)).map_err(|e| write_error(self.source, e))?);
        self.schema = Some(schema);
        Ok(())
    }

    fn flush(&mut self) -> Result<()> {
        if self.buffers.first().is_none_or(|b| b.len() == 0) {
            return Ok(());
        }
        if self.writer.is_none() {
            self.start_writer()?;
        }
        let arrays: Vec<ArrayRef> = self.buffers.iter_mut().map(Buffer::take).collect();
        let schema = self.schema.clone().expect("schema set with the writer");
        let batch = RecordBatch::try_new(schema, arrays).map_err(|e| write_error(self.source, e))?;
        self.writer.as_mut().expect("writer started").write(&batch).map_err(|e| write_error(self.source, e))
    }

    fn value(
        &mut self,
        obs: c_int,
        variable: *mut ffi::readstat_variable_t,
        value: ffi::readstat_value_t,
    ) -> Result<()> {
        let api = self.api;
        // SAFETY: `variable` is valid for the duration of the callback.
        let index = unsafe { (api.variable_get_index)(variable) } as usize;
        let Some(buffer) = self.buffers.get_mut(index) else { return Ok(()) };
        // SAFETY: as above; `value` is a plain struct passed by value.
        let (system_missing, tagged, defined) = unsafe {
            (
                (api.value_is_system_missing)(value) != 0,
                (api.value_is_tagged_missing)(value) != 0,
                (api.value_is_defined_missing)(value, variable) != 0,
            )
        };
        if system_missing || tagged || defined {
            buffer.push_null();
            if tagged || defined {
                let code = value_code(api, value);
                let missing = self.columns[index].notes.missing.get_or_insert_with(MissingCodes::default);
                *missing.found.entry(code).or_default() += 1;
            }
        } else {
            let kind = self.columns[index].kind;
            match buffer {
                Buffer::Text(v) => {
                    let text = match kind {
                        ValueKind::IdentifierText => Some(value_code(api, value)),
                        // SAFETY: string values point into ReadStat's buffer for this callback.
                        _ => unsafe { c_text((api.string_value)(value)) },
                    };
                    v.push(text.filter(|t| !t.trim().is_empty()));
                }
                // SAFETY (all below): reading a numeric value of a numeric variable.
                Buffer::Integer(v) => v.push(Some(unsafe { (api.int32_value)(value) } as i64)),
                Buffer::Float(v) => v.push(Some(unsafe { (api.double_value)(value) })),
                Buffer::Date(v) => {
                    let t = self.temporal[index].expect("date columns have a unit");
                    v.push(Some(t.unix_days(unsafe { (api.double_value)(value) })))
                }
                Buffer::Timestamp(v) => {
                    let t = self.temporal[index].expect("timestamp columns have a unit");
                    v.push(Some(t.unix_micros(unsafe { (api.double_value)(value) })))
                }
            }
        }
        if index + 1 == self.columns.len() {
            self.rows = obs as u64 + 1;
            if self.buffers[0].len() >= BATCH_ROWS {
                self.flush()?;
            }
            if self.rows.is_multiple_of(4_096) && self.cancel.is_cancelled() {
                return Err(IngestError::Cancelled);
            }
        }
        Ok(())
    }
}

/// A value as the text of a code: `3`, `2.5`, `M`, or `.a` for a tagged missing value.
fn value_code(api: &ffi::Api, value: ffi::readstat_value_t) -> String {
    // SAFETY: accessors of a value passed by value; strings are copied at once.
    unsafe {
        if (api.value_is_tagged_missing)(value) != 0 {
            return format!(".{}", (api.value_tag)(value) as u8 as char);
        }
        match (api.value_type)(value) {
            ffi::TYPE_STRING | ffi::TYPE_STRING_REF => c_text((api.string_value)(value)).unwrap_or_default(),
            ffi::TYPE_INT8 | ffi::TYPE_INT16 | ffi::TYPE_INT32 => (api.int32_value)(value).to_string(),
            _ => number_code((api.double_value)(value)),
        }
    }
}

fn number_code(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 { format!("{}", v as i64) } else { format!("{v}") }
}

/// # Safety
/// `p` is null or points to a NUL-terminated string.
unsafe fn c_text(p: *const c_char) -> Option<String> {
    if p.is_null() {
        return None;
    }
    // SAFETY: per the function's contract.
    let s = unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned();
    Some(s)
}

fn write_error(path: &Path, e: impl std::fmt::Display) -> IngestError {
    let message = e.to_string();
    if cohort_store::error::is_disk_full_message(&message) {
        return IngestError::DiskFull { path: path.to_path_buf() };
    }
    IngestError::Invalid {
        path: path.to_path_buf(),
        line: None,
        message: format!("writing the converted table failed: {message}"),
        hint: None,
    }
}

/// Runs a callback body, turning a panic or an error into an abort of the parse.
fn guarded(ctx: *mut c_void, body: impl FnOnce(&mut Context) -> Result<()>) -> c_int {
    // SAFETY: `ctx` is the `Context` passed to the parse, alive and not otherwise borrowed
    // while ReadStat runs a callback.
    let ctx = unsafe { &mut *(ctx as *mut Context) };
    if ctx.failure.is_some() {
        return ffi::HANDLER_ABORT;
    }
    match catch_unwind(AssertUnwindSafe(|| body(ctx))) {
        Ok(Ok(())) => ffi::HANDLER_OK,
        Ok(Err(e)) => {
            ctx.failure = Some(e);
            ffi::HANDLER_ABORT
        }
        Err(_) => {
            ctx.failure = Some(IngestError::Invalid {
                path: ctx.source.to_path_buf(),
                line: None,
                message: "reading the file failed unexpectedly".into(),
                hint: None,
            });
            ffi::HANDLER_ABORT
        }
    }
}

unsafe extern "C" fn on_metadata(metadata: *mut ffi::readstat_metadata_t, ctx: *mut c_void) -> c_int {
    guarded(ctx, |ctx| {
        // SAFETY: `metadata` is valid during the callback.
        unsafe {
            let rows = (ctx.api.get_row_count)(metadata);
            ctx.expected_rows = (rows >= 0).then_some(rows as u64);
            ctx.file_label = c_text((ctx.api.get_file_label)(metadata)).filter(|l| !l.trim().is_empty());
        }
        Ok(())
    })
}

unsafe extern "C" fn on_variable(
    _index: c_int,
    variable: *mut ffi::readstat_variable_t,
    val_labels: *const c_char,
    ctx: *mut c_void,
) -> c_int {
    guarded(ctx, |ctx| {
        let api = ctx.api;
        // SAFETY: `variable` and `val_labels` are valid during the callback.
        let (name, label, display, var_type, label_set, missing) = unsafe {
            let mut missing = Vec::new();
            for i in 0..(api.variable_get_missing_ranges_count)(variable) {
                let lo = value_code(api, (api.variable_get_missing_range_lo)(variable, i));
                let hi = value_code(api, (api.variable_get_missing_range_hi)(variable, i));
                missing.push(if lo == hi { lo } else { format!("{lo} thru {hi}") });
            }
            (
                c_text((api.variable_get_name)(variable)).unwrap_or_default(),
                c_text((api.variable_get_label)(variable)).filter(|l| !l.trim().is_empty()),
                c_text((api.variable_get_format)(variable)).unwrap_or_default(),
                (api.variable_get_type)(variable),
                c_text(val_labels).filter(|s| !s.is_empty()),
                missing,
            )
        };
        let temporal = temporal_of(ctx.format, &display);
        let kind = match (var_type, temporal) {
            (ffi::TYPE_STRING | ffi::TYPE_STRING_REF, _) => ValueKind::Text,
            (_, Some((kind, _))) => kind,
            _ if is_identifier_name(&name) => ValueKind::IdentifierText,
            (ffi::TYPE_INT8 | ffi::TYPE_INT16 | ffi::TYPE_INT32, _) => ValueKind::Integer,
            _ => ValueKind::Float,
        };
        let notes = ColumnNotes {
            label,
            missing: (!missing.is_empty()).then(|| MissingCodes { declared: missing, found: BTreeMap::new() }),
            ..ColumnNotes::default()
        };
        ctx.columns.push(StatColumn { name, format: display, kind, notes });
        ctx.temporal.push(temporal.map(|(_, t)| t));
        ctx.label_sets.push(label_set);
        ctx.buffers.push(Buffer::for_kind(kind));
        Ok(())
    })
}

unsafe extern "C" fn on_value(
    obs: c_int,
    variable: *mut ffi::readstat_variable_t,
    value: ffi::readstat_value_t,
    ctx: *mut c_void,
) -> c_int {
    guarded(ctx, |ctx| ctx.value(obs, variable, value))
}

unsafe extern "C" fn on_value_label(
    set: *const c_char,
    value: ffi::readstat_value_t,
    label: *const c_char,
    ctx: *mut c_void,
) -> c_int {
    guarded(ctx, |ctx| {
        // SAFETY: both strings are valid during the callback.
        let (set, label) = unsafe { (c_text(set).unwrap_or_default(), c_text(label).unwrap_or_default()) };
        let code = value_code(ctx.api, value);
        ctx.sets.entry(set).or_default().push((code, label));
        Ok(())
    })
}

unsafe extern "C" fn on_error(message: *const c_char, ctx: *mut c_void) {
    // SAFETY: as in `guarded`; the message is valid during the callback.
    let ctx = unsafe { &mut *(ctx as *mut Context) };
    if let Some(m) = unsafe { c_text(message) } {
        ctx.messages.push(m);
    }
}

unsafe extern "C" fn on_progress(fraction: f64, ctx: *mut c_void) -> c_int {
    guarded(ctx, |ctx| {
        if ctx.cancel.is_cancelled() {
            return Err(IngestError::Cancelled);
        }
        let step = ((fraction - ctx.last_progress) * 1_000.0).max(0.0) as u64;
        if step > 0 {
            ctx.progress.advance(step);
            ctx.last_progress += step as f64 / 1_000.0;
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_from_each_epoch() {
        // 2024-01-01 is 19,723 days after 1970-01-01.
        assert_eq!(Temporal::Days1960.unix_days(23_376.0), 19_723);
        assert_eq!(Temporal::SpssSeconds.unix_days((19_723 + DAYS_1582_TO_1970) as f64 * 86_400.0), 19_723);
        assert_eq!(
            Temporal::Millis1960.unix_micros(((19_723 + DAYS_1960_TO_1970) * 86_400_000) as f64 + 1_500.0),
            19_723 * 86_400_000_000 + 1_500_000
        );
    }

    #[test]
    fn display_formats() {
        assert!(matches!(temporal_of(StatFormat::Spss, "DATE11"), Some((ValueKind::Date, _))));
        assert!(matches!(temporal_of(StatFormat::Spss, "DATETIME20"), Some((ValueKind::Timestamp, _))));
        assert!(temporal_of(StatFormat::Spss, "F8.2").is_none());
        assert!(matches!(temporal_of(StatFormat::Stata, "%tdCCYY-NN-DD"), Some((ValueKind::Date, _))));
        assert!(matches!(temporal_of(StatFormat::Stata, "%tc"), Some((ValueKind::Timestamp, _))));
        assert!(temporal_of(StatFormat::Stata, "%9.0g").is_none());
        assert!(matches!(temporal_of(StatFormat::Sas, "YYMMDD10"), Some((ValueKind::Date, _))));
        assert!(matches!(temporal_of(StatFormat::Sas, "DATETIME"), Some((ValueKind::Timestamp, _))));
    }

    #[test]
    fn companion_label_names_avoid_existing_columns() {
        let taken: std::collections::HashSet<&str> = ["sex", "sex_label"].into_iter().collect();
        assert_eq!(label_column_name("sex", &taken), "sex__label");
        assert_eq!(label_column_name("arm", &taken), "arm_label");
    }
}
