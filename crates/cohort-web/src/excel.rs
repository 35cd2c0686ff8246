//! Downloads as Excel workbooks: one sheet of a query's rows, each value in the cell type Excel
//! has for it, so that a date sorts and filters as a date and a number sums as a number.
//!
//! Excel cannot hold everything a table can: a number is a 64-bit float, a date falls between
//! 1900 and 9999 and has no time zone. A value Excel would change is written as its exact text
//! instead, so the workbook never shows a value the table does not hold.

use duckdb::Connection;
use rust_xlsxwriter::{ExcelDateTime, Format, Workbook, Worksheet, XlsxError};

use cohort_store::StoreError;
use cohort_store::name::quote_ident;

use crate::error::ApiError;

/// Rows a worksheet holds, the header included.
pub const MAX_ROWS: u64 = 1_048_576;

/// How a column's values become cells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cell {
    /// FLOAT and DOUBLE, and integers of up to 32 bits: every value is exactly an Excel number.
    Number,
    /// BIGINT, HUGEINT, DECIMAL: a number when Excel holds it exactly, else its text.
    ExactNumber,
    Boolean,
    Date,
    /// TIMESTAMP without a time zone.
    DateTime,
    Time,
    /// Everything else, TIMESTAMP WITH TIME ZONE included (Excel has no time zones).
    Text,
}

impl Cell {
    fn of(sql_type: &str) -> Cell {
        match sql_type {
            "FLOAT" | "DOUBLE" | "TINYINT" | "SMALLINT" | "INTEGER" | "UTINYINT" | "USMALLINT" | "UINTEGER" => {
                Cell::Number
            }
            "BOOLEAN" => Cell::Boolean,
            "DATE" => Cell::Date,
            "TIMESTAMP" | "TIMESTAMP_S" | "TIMESTAMP_MS" | "TIMESTAMP_NS" => Cell::DateTime,
            "TIME" => Cell::Time,
            t if cohort_store::model::is_numeric(t) => Cell::ExactNumber,
            _ => Cell::Text,
        }
    }

    /// What the select reads for the column: what DuckDB hands over as a Rust value directly.
    fn projection(self, ident: &str) -> String {
        match self {
            Cell::Number => format!("CAST({ident} AS DOUBLE)"),
            Cell::Boolean => ident.to_string(),
            _ => format!("CAST({ident} AS VARCHAR)"),
        }
    }

    /// Column width in characters: a date in a default-width column shows as `#####`.
    fn width(self) -> Option<f64> {
        match self {
            Cell::Date => Some(11.0),
            Cell::DateTime => Some(20.0),
            Cell::Time => Some(10.0),
            _ => None,
        }
    }
}

/// Writes the rows of `select`, whose columns are `columns` (name and DuckDB type), to `path` as
/// a workbook of one sheet, and returns how many rows it wrote. The workbook is written in constant-memory mode (row by row to a
/// temporary file), so a big result costs disk, not memory. `what` names the rows in an error
/// (`` `visits` ``, `the query's result`).
pub fn write(
    conn: &Connection,
    select: &str,
    columns: &[(String, String)],
    what: &str,
    path: &std::path::Path,
) -> Result<u64, ApiError> {
    let rows: i64 =
        conn.query_row(&format!("SELECT count(*) FROM ({select})"), [], |r| r.get(0)).map_err(StoreError::sql)?;
    if rows as u64 >= MAX_ROWS {
        return Err(ApiError::invalid(format!(
            "that is {rows} rows of {what}; an Excel sheet holds at most {} (download CSV or Parquet, or filter first)",
            MAX_ROWS - 1
        )));
    }
    let excel = |e: XlsxError| ApiError::internal(format!("writing the Excel file: {e}"));
    let cells: Vec<Cell> = columns.iter().map(|(_, t)| Cell::of(t)).collect();
    let projection: Vec<String> =
        columns.iter().zip(&cells).map(|((name, _), cell)| cell.projection(&quote_ident(name))).collect();
    let formats = Formats::new();
    let mut workbook = Workbook::new();
    let sheet = workbook.add_worksheet_with_constant_memory().map_err(excel)?;
    for (i, ((name, _), cell)) in columns.iter().zip(&cells).enumerate() {
        if let Some(width) = cell.width() {
            sheet.set_column_width(i as u16, width.max(name.len() as f64)).map_err(excel)?;
        }
        sheet.write_string(0, i as u16, name).map_err(excel)?;
    }
    let mut stmt =
        conn.prepare(&format!("SELECT {} FROM ({select})", projection.join(", "))).map_err(StoreError::sql)?;
    let mut result = stmt.query([]).map_err(StoreError::sql)?;
    let mut r = 1u32;
    while let Some(row) = result.next().map_err(StoreError::sql)? {
        for (i, cell) in cells.iter().enumerate() {
            let col = i as u16;
            match cell {
                Cell::Number => {
                    if let Some(v) = row.get::<_, Option<f64>>(i).map_err(StoreError::sql)? {
                        sheet.write_number(r, col, v).map_err(excel)?;
                    }
                }
                Cell::Boolean => {
                    if let Some(v) = row.get::<_, Option<bool>>(i).map_err(StoreError::sql)? {
                        sheet.write_boolean(r, col, v).map_err(excel)?;
                    }
                }
                _ => {
                    if let Some(text) = row.get::<_, Option<String>>(i).map_err(StoreError::sql)? {
                        write_text_value(sheet, r, col, *cell, &text, &formats).map_err(excel)?;
                    }
                }
            }
        }
        r += 1;
    }
    workbook.save(path).map_err(excel)?;
    Ok(u64::from(r - 1))
}

/// The number formats a sheet's dates and times are shown in (ISO 8601, as everywhere else).
struct Formats {
    date: Format,
    datetime: Format,
    datetime_ms: Format,
    time: Format,
}

impl Formats {
    fn new() -> Formats {
        Formats {
            date: Format::new().set_num_format("yyyy-mm-dd"),
            datetime: Format::new().set_num_format("yyyy-mm-dd hh:mm:ss"),
            datetime_ms: Format::new().set_num_format("yyyy-mm-dd hh:mm:ss.000"),
            time: Format::new().set_num_format("hh:mm:ss"),
        }
    }
}

/// Writes a value DuckDB gave as text (`cell` says what it is) as the Excel cell that holds it
/// exactly, or as its text when none does.
fn write_text_value(
    sheet: &mut Worksheet,
    row: u32,
    col: u16,
    cell: Cell,
    text: &str,
    formats: &Formats,
) -> Result<(), XlsxError> {
    match cell {
        Cell::ExactNumber => {
            if let Some(v) = exact_number(text) {
                sheet.write_number(row, col, v)?;
                return Ok(());
            }
        }
        Cell::Date => {
            if let Some(date) = excel_date(text) {
                sheet.write_datetime_with_format(row, col, &date, &formats.date)?;
                return Ok(());
            }
        }
        Cell::DateTime => {
            if let Some((datetime, fraction)) = excel_datetime(text) {
                let format = if fraction { &formats.datetime_ms } else { &formats.datetime };
                sheet.write_datetime_with_format(row, col, &datetime, format)?;
                return Ok(());
            }
        }
        Cell::Time => {
            if let Some(time) = excel_time(text) {
                sheet.write_datetime_with_format(row, col, &time, &formats.time)?;
                return Ok(());
            }
        }
        Cell::Number | Cell::Boolean | Cell::Text => {}
    }
    sheet.write_string(row, col, text)?;
    Ok(())
}

/// `text` (DuckDB's text of a BIGINT, HUGEINT or DECIMAL) as a float, if the float is exactly
/// that number: `12.50` is, `12345678901234567891` and `0.1000000000000000000001` are not.
fn exact_number(text: &str) -> Option<f64> {
    let value: f64 = text.parse().ok()?;
    (value.is_finite() && canonical(text) == canonical(&value.to_string())).then_some(value)
}

/// A decimal's text without what does not change its value (`+`, trailing zeros of a fraction,
/// a bare point, the sign of zero).
fn canonical(text: &str) -> String {
    let text = text.strip_prefix('+').unwrap_or(text);
    let (sign, digits) = match text.strip_prefix('-') {
        Some(rest) => ("-", rest),
        None => ("", text),
    };
    let digits = if digits.contains('.') { digits.trim_end_matches('0').trim_end_matches('.') } else { digits };
    let digits = digits.trim_start_matches('0');
    let digits = if digits.is_empty() || digits.starts_with('.') { format!("0{digits}") } else { digits.to_string() };
    if digits == "0" { digits } else { format!("{sign}{digits}") }
}

/// A DATE's text (`2024-03-01`) as an Excel date; `None` outside Excel's years (1900-9999) or for
/// `infinity`.
fn excel_date(text: &str) -> Option<ExcelDateTime> {
    let date: jiff::civil::Date = text.parse().ok()?;
    ExcelDateTime::from_ymd(u16::try_from(date.year()).ok()?, date.month() as u8, date.day() as u8).ok()
}

/// A TIMESTAMP's text (`2024-03-01 10:20:30.5`) as an Excel date and time, and whether it has a
/// fraction of a second. Excel keeps milliseconds: a finer fraction is written as text.
fn excel_datetime(text: &str) -> Option<(ExcelDateTime, bool)> {
    let at: jiff::civil::DateTime = text.parse().ok()?;
    let nanos = at.subsec_nanosecond();
    if nanos % 1_000_000 != 0 {
        return None;
    }
    let date = ExcelDateTime::from_ymd(u16::try_from(at.year()).ok()?, at.month() as u8, at.day() as u8).ok()?;
    let datetime =
        date.and_hms_milli(at.hour() as u16, at.minute() as u8, at.second() as u8, (nanos / 1_000_000) as u16).ok()?;
    Some((datetime, nanos != 0))
}

/// A TIME's text (`10:20:30`) as an Excel time of day (whole seconds; finer is written as text).
fn excel_time(text: &str) -> Option<ExcelDateTime> {
    let time: jiff::civil::Time = text.parse().ok()?;
    if time.subsec_nanosecond() != 0 {
        return None;
    }
    ExcelDateTime::from_hms(time.hour() as u16, time.minute() as u8, time.second()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_numbers_only_when_excel_holds_them_exactly() {
        assert_eq!(exact_number("12.50"), Some(12.5));
        assert_eq!(exact_number("-0.10"), Some(-0.1));
        assert_eq!(exact_number("0.000"), Some(0.0));
        assert_eq!(exact_number("9007199254740993"), None, "2^53 + 1 is not a float");
        assert_eq!(exact_number("9007199254740992"), Some(9007199254740992.0));
        assert_eq!(exact_number("12345678901234567891"), None);
        assert_eq!(exact_number("0.1000000000000000000001"), None);
    }

    #[test]
    fn dates_outside_excel_stay_text() {
        assert!(excel_date("2024-02-29").is_some());
        assert!(excel_date("1850-06-01").is_none(), "Excel's dates start in 1900");
        assert!(excel_date("infinity").is_none());
        assert_eq!(excel_datetime("2024-03-01 10:20:30").map(|(_, f)| f), Some(false));
        assert_eq!(excel_datetime("2024-03-01 10:20:30.25").map(|(_, f)| f), Some(true));
        assert!(excel_datetime("2024-03-01 10:20:30.123456").is_none(), "microseconds would be lost");
        assert!(excel_time("23:59:59").is_some());
        assert!(excel_time("23:59:59.5").is_none());
    }
}
