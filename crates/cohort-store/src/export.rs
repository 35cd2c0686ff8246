//! Writing query results and tables out as CSV, JSON or Parquet, through DuckDB's `COPY`, which
//! streams under the memory limit. Files are written next to their destination and renamed into
//! place, so a failed export never leaves a truncated file where the user expects a whole one.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use duckdb::Connection;
use fs_err as fs;

use crate::duck::{RunError, watch_interruptible};
use crate::error::{Result, StoreError};
use crate::fsutil;
use crate::name::quote_literal;
use crate::progress::{CancelToken, Progress};

/// A file format for results.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFormat {
    /// Comma-separated, with a header row; nulls are empty fields.
    Csv,
    /// One JSON object per line.
    Json,
    /// Parquet, zstd-compressed.
    Parquet,
}

impl OutputFormat {
    /// The usual file extension.
    pub fn extension(self) -> &'static str {
        match self {
            OutputFormat::Csv => "csv",
            OutputFormat::Json => "json",
            OutputFormat::Parquet => "parquet",
        }
    }

    fn copy_options(self) -> &'static str {
        match self {
            OutputFormat::Csv => "FORMAT csv, HEADER true",
            OutputFormat::Json => "FORMAT json",
            OutputFormat::Parquet => "FORMAT parquet, COMPRESSION zstd",
        }
    }
}

impl FromStr for OutputFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "csv" => Ok(OutputFormat::Csv),
            "json" | "ndjson" => Ok(OutputFormat::Json),
            "parquet" => Ok(OutputFormat::Parquet),
            other => Err(format!("unknown format `{other}` (use csv, json or parquet)")),
        }
    }
}

impl fmt::Display for OutputFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.extension())
    }
}

/// Where results go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    /// Standard output.
    Stdout,
    /// A file, replaced atomically.
    File(PathBuf),
}

/// How a copy reports progress and notices cancellation.
pub struct Watch<'a> {
    /// Where progress goes (positions are out of `total`).
    pub progress: &'a dyn Progress,
    /// The scale of progress positions (bytes of the source, say).
    pub total: u64,
    /// Stops the copy; a file destination is then left untouched.
    pub cancel: &'a CancelToken,
}

/// Runs `select` and writes its rows to `dest` as `format`; returns how many rows it wrote.
pub fn copy_select(
    conn: &Connection,
    select: &str,
    format: OutputFormat,
    dest: &Destination,
    watch: &Watch<'_>,
) -> Result<u64> {
    match dest {
        Destination::Stdout => copy_to(conn, select, format, Path::new("/dev/stdout"), watch),
        Destination::File(path) => {
            let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "export".into());
            let dir = match path.parent() {
                Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
                _ => PathBuf::from("."),
            };
            if !dir.is_dir() {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    format!("cannot write `{}`: directory `{}` does not exist", path.display(), dir.display()),
                )
                .into());
            }
            let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
            let written = copy_to(conn, select, format, &tmp, watch).and_then(|rows| {
                fsutil::sync_file(&tmp)?;
                Ok(rows)
            });
            let rows = match written {
                Ok(rows) => rows,
                Err(e) => {
                    let _ = fs::remove_file(&tmp);
                    return Err(e);
                }
            };
            fs::rename(&tmp, path)?;
            fsutil::sync_dir(&dir)?;
            Ok(rows)
        }
    }
}

fn copy_to(conn: &Connection, select: &str, format: OutputFormat, path: &Path, watch: &Watch<'_>) -> Result<u64> {
    let sql = format!("COPY ({select}) TO {} ({})", quote_literal(&path.to_string_lossy()), format.copy_options());
    watch.progress.begin(&format!("writing {format}"), Some(watch.total));
    // COPY answers with the number of rows it wrote.
    let count = || conn.query_row(&sql, [], |r| r.get::<_, i64>(0)).map(|n| n.max(0) as u64);
    let result = watch_interruptible(conn, watch.total, watch.progress, watch.cancel, count);
    watch.progress.finish();
    result.map_err(|e| match e {
        RunError::Cancelled => StoreError::Cancelled,
        RunError::Failed(e) if crate::error::is_disk_full_message(&e.to_string()) => {
            StoreError::duckdb(format!("writing {format}"), e)
        }
        RunError::Failed(e) => StoreError::sql(e),
    })
}
