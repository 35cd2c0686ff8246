//! Excel and OpenDocument workbooks (`.xlsx`, `.xlsm`, `.xls`, `.xlsb`, `.ods`), read with
//! calamine: every sheet with data becomes a table. Like an archive, a workbook is unpacked into
//! scratch space first (each sheet as a CSV file), then each sheet goes down the CSV path, so
//! sniffing, identifier rules and errors are the same as for any CSV.
//!
//! Title rows above the header are common in exported workbooks: the header is the first row, in
//! the first 30, that is as wide as the widest of them and holds only text.

use std::io::Write;
use std::path::{Path, PathBuf};

use calamine::{Data, Reader, Xlsx, open_workbook, open_workbook_auto};

use crate::error::{IngestError, Result};

/// Whether `path` names a workbook.
pub fn is_workbook(path: &Path) -> bool {
    path.extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .is_some_and(|e| matches!(e.as_str(), "xlsx" | "xlsm" | "xls" | "xlsb" | "ods"))
}

/// Rows looked at for the header.
const HEADER_SEARCH_ROWS: usize = 30;

/// Writes every sheet of `workbook` with data as `<into>/<table>.csv`; returns (file, sheet name).
/// A workbook of one sheet gives a table named after the file; several, one named after each sheet.
///
/// `.xlsx`/`.xlsm` sheets are streamed cell by cell, so a sheet of millions of rows never sits in
/// memory; the older formats (whose sheets are limited in size anyway) are read a sheet at a time.
pub fn unpack(workbook: &Path, into: &Path) -> Result<Vec<(PathBuf, String)>> {
    let invalid = |message: String| IngestError::Invalid {
        path: workbook.to_path_buf(),
        line: None,
        message,
        hint: Some("open it in a spreadsheet program and save it again, or export the sheets as CSV".into()),
    };
    let io = |e: std::io::Error| IngestError::Unreadable { path: workbook.to_path_buf(), source: e };
    let stem = workbook.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "sheet".into());
    let streamed =
        workbook.extension().is_some_and(|e| e.eq_ignore_ascii_case("xlsx") || e.eq_ignore_ascii_case("xlsm"));
    fs_err::create_dir_all(into).map_err(io)?;
    let mut out = Vec::new();
    if streamed {
        let mut book: Xlsx<_> =
            open_workbook(workbook).map_err(|e| invalid(format!("this workbook cannot be read: {e}")))?;
        let names = book.sheet_names();
        for sheet in &names {
            let table = if names.len() == 1 { stem.clone() } else { sheet.clone() };
            let file = into.join(format!("{}.csv", sanitize(&table)));
            let mut cells = book
                .worksheet_cells_reader(sheet)
                .map_err(|e| invalid(format!("sheet `{sheet}` cannot be read: {e}")))?;
            let rows = StreamedRows { cells: &mut cells, pending: None, next_row: 0, done: false };
            let rows = rows.map(|r| r.map_err(|e| invalid(format!("sheet `{sheet}` cannot be read: {e}"))));
            if write_sheet(rows, &file, workbook)? {
                out.push((file, sheet.clone()));
            }
        }
    } else {
        let mut book =
            open_workbook_auto(workbook).map_err(|e| invalid(format!("this workbook cannot be read: {e}")))?;
        let names = book.sheet_names();
        for sheet in &names {
            let range =
                book.worksheet_range(sheet).map_err(|e| invalid(format!("sheet `{sheet}` cannot be read: {e}")))?;
            let table = if names.len() == 1 { stem.clone() } else { sheet.clone() };
            let file = into.join(format!("{}.csv", sanitize(&table)));
            if write_sheet(range.rows().map(|r| Ok(r.to_vec())), &file, workbook)? {
                out.push((file, sheet.clone()));
            }
        }
    }
    Ok(out)
}

/// The rows of a streamed `.xlsx` sheet, gaps filled with empty cells.
struct StreamedRows<'r, 'a, R: std::io::Read + std::io::Seek> {
    cells: &'r mut calamine::XlsxCellReader<'a, R>,
    pending: Option<calamine::Cell<Data>>,
    next_row: u32,
    done: bool,
}

impl<R: std::io::Read + std::io::Seek> Iterator for StreamedRows<'_, '_, R> {
    type Item = std::result::Result<Vec<Data>, calamine::XlsxError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done && self.pending.is_none() {
            return None;
        }
        let row_index = self.next_row;
        self.next_row += 1;
        let mut row: Vec<Data> = Vec::new();
        loop {
            let cell = match self.pending.take() {
                Some(c) => c,
                None if self.done => break,
                None => match self.cells.next_cell() {
                    Ok(Some(c)) => {
                        let (r, col) = c.get_position();
                        calamine::Cell::new((r, col), Data::from(c.get_value().clone()))
                    }
                    Ok(None) => {
                        self.done = true;
                        break;
                    }
                    Err(e) => return Some(Err(e)),
                },
            };
            let (r, col) = cell.get_position();
            if r > row_index {
                self.pending = Some(cell);
                break;
            }
            let col = col as usize;
            if row.len() <= col {
                row.resize(col + 1, Data::Empty);
            }
            row[col] = cell.get_value().clone();
        }
        Some(Ok(row))
    }
}

/// Writes a sheet's rows from its header on as CSV to `file`; `false` (and no file) for a sheet
/// without data. Only the first rows, where the header is looked for, are held in memory.
fn write_sheet(mut rows: impl Iterator<Item = Result<Vec<Data>>>, file: &Path, workbook: &Path) -> Result<bool> {
    let io = |e: std::io::Error| IngestError::Unreadable { path: workbook.to_path_buf(), source: e };
    let mut head: Vec<Vec<Data>> = Vec::new();
    for row in rows.by_ref() {
        head.push(row?);
        if head.len() == HEADER_SEARCH_ROWS {
            break;
        }
    }
    let head_refs: Vec<&[Data]> = head.iter().map(|r| r.as_slice()).collect();
    let Some(header) = header_row(&head_refs) else { return Ok(false) };
    let width = head.iter().map(|r| filled_width(r)).max().unwrap_or(0);
    let mut csv = std::io::BufWriter::with_capacity(1 << 20, fs_err::File::create(file).map_err(io)?);
    let mut write = |row: &[Data]| -> Result<()> {
        if row.iter().all(|c| matches!(c, Data::Empty)) {
            return Ok(());
        }
        // A row wider than the header is written whole: the CSV reader then names its line,
        // rather than cells being dropped without a word.
        let n = width.max(filled_width(row));
        let line: Vec<String> = (0..n).map(|i| field(row.get(i).unwrap_or(&Data::Empty))).collect();
        writeln!(csv, "{}", line.join(",")).map_err(io)
    };
    for row in &head[header..] {
        write(row)?;
    }
    for row in rows {
        write(&row?)?;
    }
    csv.flush().map_err(io)?;
    Ok(true)
}

/// Cells up to the last one with a value.
fn filled_width(row: &[Data]) -> usize {
    row.iter().rposition(|c| !matches!(c, Data::Empty)).map_or(0, |i| i + 1)
}

/// The header's row index: the first row as wide as the widest of the first rows that holds only
/// text; `None` for a sheet without data.
fn header_row(rows: &[&[Data]]) -> Option<usize> {
    let filled = |row: &[Data]| row.iter().filter(|c| !matches!(c, Data::Empty)).count();
    let widest = rows.iter().take(HEADER_SEARCH_ROWS).map(|r| filled(r)).max()?;
    if widest == 0 {
        return None;
    }
    let text_only = |row: &[Data]| row.iter().all(|c| matches!(c, Data::Empty | Data::String(_)));
    rows.iter()
        .take(HEADER_SEARCH_ROWS)
        .position(|r| filled(r) == widest && text_only(r))
        .or_else(|| rows.iter().position(|r| filled(r) > 0))
}

/// A cell as a CSV field: numbers as written, dates and times in ISO 8601, errors as empty.
fn field(cell: &Data) -> String {
    let text = match cell {
        Data::Empty | Data::Error(_) => return String::new(),
        Data::Int(i) => return i.to_string(),
        Data::Float(f) if f.fract() == 0.0 && f.abs() < 1e15 => return format!("{}", *f as i64),
        Data::Float(f) => return f.to_string(),
        Data::Bool(b) => return b.to_string(),
        Data::DateTime(d) if d.is_datetime() => return excel_datetime(d.as_f64()),
        Data::DateTime(d) => d.as_f64().to_string(),
        Data::String(s) | Data::DateTimeIso(s) | Data::DurationIso(s) => s.clone(),
    };
    if text.contains([',', '"', '\n', '\r']) || text.starts_with(' ') || text.ends_with(' ') {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text
    }
}

/// An Excel serial date (days since 1899-12-30, with the day's fraction) in ISO 8601: a date when
/// it has no time of day, a timestamp otherwise.
fn excel_datetime(serial: f64) -> String {
    let days = serial.floor();
    let seconds = ((serial - days) * 86_400.0).round() as i64;
    let date = jiff::civil::date(1899, 12, 30).checked_add(jiff::Span::new().days(days as i64));
    match date {
        Ok(date) if seconds == 0 => date.to_string(),
        Ok(date) => {
            let time = jiff::civil::Time::midnight()
                .checked_add(jiff::Span::new().seconds(seconds.min(86_399)))
                .unwrap_or(jiff::civil::Time::midnight());
            format!("{date}T{}", time.strftime("%H:%M:%S"))
        }
        Err(_) => serial.to_string(),
    }
}

/// A file name from a sheet name (sheets may hold `/` and other characters files may not).
fn sanitize(name: &str) -> String {
    let clean: String =
        name.chars().map(|c| if c.is_alphanumeric() || c == '-' || c == '_' { c } else { '_' }).collect();
    if clean.is_empty() { "sheet".into() } else { clean }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn title_rows_are_skipped_to_the_header() {
        let title = vec![Data::String("Trial export, 2024".into()), Data::Empty, Data::Empty];
        let blank = vec![Data::Empty, Data::Empty, Data::Empty];
        let header = vec![Data::String("id".into()), Data::String("age".into()), Data::String("va".into())];
        let row = vec![Data::String("001".into()), Data::Int(71), Data::Float(55.5)];
        let rows: Vec<&[Data]> = vec![&title, &blank, &header, &row];
        assert_eq!(header_row(&rows), Some(2));
    }

    #[test]
    fn cells_become_csv_fields() {
        assert_eq!(field(&Data::Float(3.0)), "3");
        assert_eq!(field(&Data::Float(3.25)), "3.25");
        assert_eq!(field(&Data::String("a, \"b\"".into())), "\"a, \"\"b\"\"\"");
        assert_eq!(excel_datetime(45_292.0), "2024-01-01");
        assert_eq!(excel_datetime(45_292.5), "2024-01-01T12:00:00");
    }
}
