//! Recognising a file's format from its name (and, for binary formats, its first bytes).

use std::io::Read;
use std::path::Path;

use serde::Serialize;

use crate::error::{IngestError, Result};

/// The formats the supported-list in messages names.
pub const SUPPORTED: &str = "CSV/TSV (.csv, .tsv, .tab, .txt), JSON arrays and newline-delimited JSON (.json, .ndjson, .jsonl), each optionally \
     .gz, Excel and OpenDocument workbooks (.xlsx, .xlsm, .xls, .xlsb, .ods; a table per sheet), SPSS (.sav, .zsav, \
     .por), Stata (.dta), SAS (.sas7bdat, .xpt), Parquet (.parquet, .pq), and ZIP archives of these";

/// A source format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// Delimited text; `tab` says the delimiter is known to be a tab.
    Csv {
        /// Whether the extension says tab-separated.
        tab: bool,
    },
    /// Apache Parquet.
    Parquet,
    /// A JSON array of objects, or one object per line (NDJSON); nested objects and arrays become
    /// struct and list columns.
    Json,
    /// An SPSS, Stata or SAS file, read with ReadStat (labels, value labels and missing codes kept).
    Stat(crate::stat::StatFormat),
}

/// The format of `path` and the table name its file name suggests (the stem without extensions).
pub fn detect(path: &Path) -> Result<(Format, String)> {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let lower = name.to_ascii_lowercase();
    let without_gz = lower.strip_suffix(".gz").unwrap_or(&lower);
    let (stem, ext) = match without_gz.rsplit_once('.') {
        Some((s, e)) => (&name[..s.len()], Some(e)),
        None => (name.as_str(), None),
    };
    let format = match ext {
        Some("csv") | Some("txt") => Format::Csv { tab: false },
        Some("tsv") | Some("tab") => Format::Csv { tab: true },
        Some("parquet") | Some("pq") if without_gz.len() == lower.len() => Format::Parquet,
        Some("json") | Some("ndjson") | Some("jsonl") => Format::Json,
        Some(e) if without_gz.len() == lower.len() && crate::stat::StatFormat::from_extension(e).is_some() => {
            Format::Stat(crate::stat::StatFormat::from_extension(e).expect("checked"))
        }
        _ => {
            return Err(IngestError::UnknownFormat {
                path: path.to_path_buf(),
                extension: lower.rsplit_once('.').map(|(_, e)| e.to_string()),
            });
        }
    };
    if format == Format::Parquet {
        let mut magic = [0u8; 4];
        let mut f =
            fs_err::File::open(path).map_err(|e| IngestError::Unreadable { path: path.to_path_buf(), source: e })?;
        if f.read_exact(&mut magic).is_err() || &magic != b"PAR1" {
            return Err(IngestError::Invalid {
                path: path.to_path_buf(),
                line: None,
                message: "this is not a Parquet file (it does not start with `PAR1`)".into(),
                hint: Some("check that the file was fully written, or give it its real extension".into()),
            });
        }
    }
    Ok((format, stem.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn by_extension() {
        assert_eq!(detect(Path::new("/x/Visits.CSV")).unwrap(), (Format::Csv { tab: false }, "Visits".to_string()));
        assert_eq!(detect(Path::new("labs.tsv.gz")).unwrap(), (Format::Csv { tab: true }, "labs".to_string()));
        assert_eq!(detect(Path::new("events.ndjson.gz")).unwrap(), (Format::Json, "events".to_string()));
        assert!(matches!(detect(Path::new("notes.docx")), Err(IngestError::UnknownFormat { .. })));
        assert!(matches!(detect(Path::new("README")), Err(IngestError::UnknownFormat { extension: None, .. })));
    }
}
