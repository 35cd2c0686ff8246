//! Numbers read straight from a version's Parquet files, row groups in parallel. Without filters,
//! an analysis of stored numeric columns needs no query engine between the files and its vectors,
//! and this read takes a fraction of the time of a query's. It declines (`Ok(None)`) whatever it
//! does not read exactly as DuckDB's `CAST(column AS DOUBLE)` would (decimals, dates, text,
//! nested columns) or cannot decompress, and [`super::frame::load`] queries those; tests check
//! that both reads agree.

use std::fs::File;

use arrow::array::{Array, AsArray};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Float64Type};
use cohort_store::{Store, TableInfo};
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::{ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReaderBuilder};
use parquet::basic::Compression;
use rayon::prelude::*;

use super::AnalyzeError;

/// The columns `names` of `table` as doubles, nulls as NaN, rows in file order; `None` if a
/// column is not stored as a plain number (integers, floats, booleans) in every file.
pub fn numbers(store: &Store, table: &TableInfo, names: &[&str]) -> Result<Option<Vec<Vec<f64>>>, AnalyzeError> {
    let failed = |path: &str, e: &dyn std::fmt::Display| AnalyzeError::Query(format!("reading `{path}`: {e}"));
    // Each file's footer once, and the work: one task per row group.
    let mut files = Vec::with_capacity(table.files.len());
    let mut tasks = Vec::new();
    for (f, info) in table.files.iter().enumerate() {
        let path = store.layout().resolve(&info.path);
        let file = File::open(&path).map_err(|e| failed(&info.path, &e))?;
        let metadata =
            ArrowReaderMetadata::load(&file, ArrowReaderOptions::new()).map_err(|e| failed(&info.path, &e))?;
        let schema = metadata.schema();
        let mut roots = Vec::with_capacity(names.len());
        for name in names {
            let Ok(index) = schema.index_of(name) else { return Ok(None) };
            if !plain_number(schema.field(index).data_type()) {
                return Ok(None);
            }
            roots.push(index);
        }
        let descriptor = metadata.metadata().file_metadata().schema_descr();
        let leaves: Vec<usize> =
            (0..descriptor.num_columns()).filter(|l| roots.contains(&descriptor.get_column_root_idx(*l))).collect();
        for (g, group) in metadata.metadata().row_groups().iter().enumerate() {
            // This build reads what the store writes; other codecs (a file ingested as it came)
            // are DuckDB's to read.
            if leaves
                .iter()
                .any(|l| !matches!(group.column(*l).compression(), Compression::UNCOMPRESSED | Compression::ZSTD(_)))
            {
                return Ok(None);
            }
            tasks.push((f, g, group.num_rows() as usize));
        }
        files.push((path, metadata, roots));
    }
    let total: usize = tasks.iter().map(|t| t.2).sum();
    if total as u64 != table.rows {
        return Err(AnalyzeError::Query(format!(
            "table `{}` should have {} rows but its files hold {total}: run `cohort verify`",
            table.name, table.rows
        )));
    }
    // Zeroed vectors come from the allocator as untouched pages; each task fills its own rows.
    let mut columns: Vec<Vec<f64>> = names.iter().map(|_| vec![0.0; total]).collect();
    let mut slices: Vec<Vec<&mut [f64]>> = tasks.iter().map(|_| Vec::with_capacity(names.len())).collect();
    for column in &mut columns {
        let mut rest = column.as_mut_slice();
        for (task, slice) in tasks.iter().zip(&mut slices) {
            let (head, tail) = rest.split_at_mut(task.2);
            slice.push(head);
            rest = tail;
        }
    }
    tasks.par_iter().zip(slices).try_for_each(|(&(f, g, _), mut out)| {
        let (path, metadata, roots) = &files[f];
        let shown = path.display().to_string();
        let file = File::open(path).map_err(|e| failed(&shown, &e))?;
        let builder = ParquetRecordBatchReaderBuilder::new_with_metadata(file, metadata.clone());
        let mask = ProjectionMask::roots(builder.parquet_schema(), roots.iter().copied());
        let reader = builder
            .with_projection(mask)
            .with_row_groups(vec![g])
            .with_batch_size(64 * 1024)
            .build()
            .map_err(|e| failed(&shown, &e))?;
        let mut at = 0;
        for batch in reader {
            let batch = batch.map_err(|e| failed(&shown, &e))?;
            let len = batch.num_rows();
            for (name, slice) in names.iter().zip(&mut out) {
                let array = batch.column(batch.schema().index_of(name).map_err(|e| failed(&shown, &e))?);
                let doubles = cast(array, &DataType::Float64).map_err(|e| failed(&shown, &e))?;
                let doubles = doubles.as_primitive::<Float64Type>();
                let target = &mut slice[at..at + len];
                if doubles.null_count() == 0 {
                    target.copy_from_slice(doubles.values());
                } else {
                    for (cell, v) in target.iter_mut().zip(doubles.iter()) {
                        *cell = v.unwrap_or(f64::NAN);
                    }
                }
            }
            at += len;
        }
        Ok::<_, AnalyzeError>(())
    })?;
    Ok(Some(columns))
}

/// Types whose conversion to a double is the one DuckDB makes: exact, or rounded to nearest.
fn plain_number(t: &DataType) -> bool {
    t.is_integer() || matches!(t, DataType::Float32 | DataType::Float64 | DataType::Boolean)
}
