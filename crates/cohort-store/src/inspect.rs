//! Reading what a Parquet file holds from its footer alone: rows, Arrow schema, and per-column
//! null counts, minimum and maximum from row-group statistics. Nothing is scanned, so inspecting a
//! multi-gigabyte table costs a few reads.

use std::path::Path;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, make_comparator};
use arrow::compute::SortOptions;
use arrow::datatypes::{DataType, Schema};
use arrow::util::display::{ArrayFormatter, FormatOptions};
use parquet::arrow::arrow_reader::statistics::StatisticsConverter;
use parquet::arrow::parquet_to_arrow_schema;
use parquet::file::metadata::{ParquetMetaData, ParquetMetaDataReader};

use crate::error::{Result, StoreError};

/// The footer of one Parquet file.
pub struct Footer {
    /// Rows in the file.
    pub rows: u64,
    /// Its schema as Arrow sees it.
    pub schema: Arc<Schema>,
    metadata: ParquetMetaData,
}

/// Reads the footer of `path`.
pub fn read_footer(path: &Path) -> Result<Footer> {
    let parquet_err = |source| StoreError::Parquet { path: path.to_path_buf(), source };
    let file = fs_err::File::open(path)?.into_file();
    let metadata = ParquetMetaDataReader::new().parse_and_finish(&file).map_err(parquet_err)?;
    let file_meta = metadata.file_metadata();
    let schema =
        parquet_to_arrow_schema(file_meta.schema_descr(), file_meta.key_value_metadata()).map_err(parquet_err)?;
    Ok(Footer { rows: file_meta.num_rows().max(0) as u64, schema: Arc::new(schema), metadata })
}

/// The schema as stored in the catalog: `{"fields": [{"name", "type", "nullable"}]}`.
pub fn schema_json(schema: &Schema) -> serde_json::Value {
    let fields: Vec<_> = schema
        .fields()
        .iter()
        .map(|f| serde_json::json!({"name": f.name(), "type": f.data_type().to_string(), "nullable": f.is_nullable()}))
        .collect();
    serde_json::json!({ "fields": fields })
}

/// Null count, min and max of one column across several files.
#[derive(Debug, Default, Clone)]
pub struct ColumnStats {
    /// Nulls, if every file recorded them.
    pub null_count: Option<u64>,
    /// Smallest value, formatted.
    pub min: Option<String>,
    /// Largest value, formatted.
    pub max: Option<String>,
}

/// Column statistics of a table made of `footers` (all with the same schema).
pub fn column_stats(footers: &[Footer]) -> Vec<ColumnStats> {
    let Some(first) = footers.first() else { return Vec::new() };
    first
        .schema
        .fields()
        .iter()
        .map(|field| {
            if field.data_type().is_nested() {
                return ColumnStats::default();
            }
            let mut nulls = Some(0u64);
            let mut mins: Vec<ArrayRef> = Vec::new();
            let mut maxes: Vec<ArrayRef> = Vec::new();
            for footer in footers {
                let parquet_schema = footer.metadata.file_metadata().schema_descr();
                let Ok(conv) = StatisticsConverter::try_new(field.name(), &footer.schema, parquet_schema) else {
                    return ColumnStats::default();
                };
                let groups = footer.metadata.row_groups();
                match conv.row_group_null_counts(groups.iter()) {
                    Ok(counts) if counts.null_count() == 0 => {
                        nulls = nulls.map(|n| n + counts.values().iter().sum::<u64>());
                    }
                    _ => nulls = None,
                }
                if let (Ok(lo), Ok(hi)) = (conv.row_group_mins(groups.iter()), conv.row_group_maxes(groups.iter())) {
                    mins.push(lo);
                    maxes.push(hi);
                }
            }
            ColumnStats {
                null_count: nulls,
                min: extreme(&mins, std::cmp::Ordering::Less),
                max: extreme(&maxes, std::cmp::Ordering::Greater),
            }
        })
        .collect()
}

/// The smallest (`Less`) or largest (`Greater`) non-null value among `arrays`, formatted.
fn extreme(arrays: &[ArrayRef], want: std::cmp::Ordering) -> Option<String> {
    let refs: Vec<&dyn Array> = arrays.iter().map(|a| a.as_ref()).collect();
    if refs.is_empty() || matches!(refs[0].data_type(), DataType::Null) {
        return None;
    }
    let all = arrow::compute::concat(&refs).ok()?;
    let cmp = make_comparator(all.as_ref(), all.as_ref(), SortOptions::default()).ok()?;
    let mut best: Option<usize> = None;
    for i in 0..all.len() {
        if all.is_null(i) {
            continue;
        }
        best = match best {
            Some(b) if cmp(i, b) != want => Some(b),
            _ => Some(i),
        };
    }
    let formatter = ArrayFormatter::try_new(all.as_ref(), &FormatOptions::default()).ok()?;
    best.map(|i| formatter.value(i).to_string())
}
