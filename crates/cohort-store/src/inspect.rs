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
use parquet::basic::{ConvertedType, LogicalType, Repetition, TimeUnit, Type as PhysicalType};
use parquet::file::metadata::{ParquetMetaData, ParquetMetaDataReader};
use parquet::schema::types::Type;

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

impl Footer {
    /// The type DuckDB gives each column of the file, read from its Parquet schema as DuckDB's
    /// reader maps it, without asking DuckDB: `None` when a column has a type outside the common
    /// ones mapped here (then ask DuckDB). `keywords` are DuckDB's keywords, lower case (a
    /// struct's field named like one is quoted).
    pub fn duckdb_types(&self, keywords: &std::collections::HashSet<String>) -> Option<Vec<String>> {
        let root = self.metadata.file_metadata().schema_descr().root_schema();
        root.get_fields().iter().map(|field| duckdb_type(field, keywords)).collect()
    }
}

/// DuckDB's name for the type of the Parquet column `t` (see [`Footer::duckdb_types`]).
fn duckdb_type(t: &Type, keywords: &std::collections::HashSet<String>) -> Option<String> {
    let info = t.get_basic_info();
    if info.has_repetition() && info.repetition() == Repetition::REPEATED {
        return None;
    }
    let logical = info.logical_type_ref();
    if !t.is_group() {
        let name = match (t.get_physical_type(), logical) {
            (_, Some(LogicalType::Decimal(d))) if (1..=38).contains(&d.precision) => {
                return Some(format!("DECIMAL({},{})", d.precision, d.scale));
            }
            // Writers that set only the older converted type (DuckDB, for small integers).
            (PhysicalType::INT32 | PhysicalType::INT64, None) if info.converted_type() != ConvertedType::NONE => {
                match info.converted_type() {
                    ConvertedType::INT_8 => "TINYINT",
                    ConvertedType::INT_16 => "SMALLINT",
                    ConvertedType::INT_32 => "INTEGER",
                    ConvertedType::INT_64 => "BIGINT",
                    ConvertedType::UINT_8 => "UTINYINT",
                    ConvertedType::UINT_16 => "USMALLINT",
                    ConvertedType::UINT_32 => "UINTEGER",
                    ConvertedType::UINT_64 => "UBIGINT",
                    ConvertedType::DATE => "DATE",
                    _ => return None,
                }
            }
            (PhysicalType::BYTE_ARRAY, None) if info.converted_type() == ConvertedType::UTF8 => "VARCHAR",
            (PhysicalType::BYTE_ARRAY, None) if info.converted_type() == ConvertedType::JSON => "JSON",
            (_, None) if info.converted_type() != ConvertedType::NONE => return None,
            (PhysicalType::BOOLEAN, None) => "BOOLEAN",
            (PhysicalType::INT32, None) => "INTEGER",
            (PhysicalType::INT64, None) => "BIGINT",
            (PhysicalType::FLOAT, None) => "FLOAT",
            (PhysicalType::DOUBLE, None) => "DOUBLE",
            (PhysicalType::BYTE_ARRAY, None) => "BLOB",
            (PhysicalType::INT32 | PhysicalType::INT64, Some(LogicalType::Integer(i))) => {
                match (i.bit_width, i.is_signed) {
                    (8, true) => "TINYINT",
                    (16, true) => "SMALLINT",
                    (32, true) => "INTEGER",
                    (64, true) => "BIGINT",
                    (8, false) => "UTINYINT",
                    (16, false) => "USMALLINT",
                    (32, false) => "UINTEGER",
                    (64, false) => "UBIGINT",
                    _ => return None,
                }
            }
            (PhysicalType::INT32, Some(LogicalType::Date)) => "DATE",
            (PhysicalType::INT64, Some(LogicalType::Timestamp(ts))) if ts.unit == TimeUnit::MICROS => {
                if ts.is_adjusted_to_u_t_c { "TIMESTAMP WITH TIME ZONE" } else { "TIMESTAMP" }
            }
            (PhysicalType::INT64, Some(LogicalType::Time(time)))
                if time.unit == TimeUnit::MICROS && !time.is_adjusted_to_u_t_c =>
            {
                "TIME"
            }
            (PhysicalType::BYTE_ARRAY, Some(LogicalType::String)) => "VARCHAR",
            (PhysicalType::BYTE_ARRAY, Some(LogicalType::Json)) => "JSON",
            (PhysicalType::FIXED_LEN_BYTE_ARRAY, Some(LogicalType::Uuid)) => "UUID",
            _ => return None,
        };
        return Some(name.to_string());
    }
    let list =
        logical == Some(&LogicalType::List) || (logical.is_none() && info.converted_type() == ConvertedType::LIST);
    match logical {
        // Three levels: `optional group x (LIST) { repeated group list { element } }`.
        _ if list => match t.get_fields() {
            [repeated] if repeated.is_group() && repeated.get_basic_info().repetition() == Repetition::REPEATED => {
                match repeated.get_fields() {
                    [element] => Some(format!("{}[]", duckdb_type(element, keywords)?)),
                    _ => None,
                }
            }
            _ => None,
        },
        None if info.converted_type() == ConvertedType::NONE && !t.get_fields().is_empty() => {
            let fields: Option<Vec<String>> = t
                .get_fields()
                .iter()
                .map(|f| Some(format!("{} {}", sql_identifier(f.name(), keywords), duckdb_type(f, keywords)?)))
                .collect();
            Some(format!("STRUCT({})", fields?.join(", ")))
        }
        _ => None,
    }
}

/// A name as DuckDB prints it in a type: bare when it is a plain identifier that is no keyword,
/// else in double quotes.
fn sql_identifier(name: &str, keywords: &std::collections::HashSet<String>) -> String {
    let plain =
        name.chars().enumerate().all(|(i, c)| c.is_ascii_alphabetic() || c == '_' || (i > 0 && c.is_ascii_digit()));
    let after_dot_literal = name.len() > 1 && name.starts_with('_') && name.as_bytes()[1].is_ascii_digit();
    if plain && !name.is_empty() && !after_dot_literal && !keywords.contains(&name.to_lowercase()) {
        name.to_string()
    } else {
        format!("\"{}\"", name.replace('"', "\"\""))
    }
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

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use arrow::array::{
        Date32Array, Int64Array, ListArray, RecordBatch, StringArray, StructArray, TimestampMicrosecondArray,
    };
    use arrow::buffer::OffsetBuffer;
    use arrow::datatypes::{Field, Fields, TimeUnit};
    use parquet::arrow::ArrowWriter;

    use super::*;
    use crate::name::quote_literal;

    fn describe(conn: &duckdb::Connection, path: &Path) -> Vec<String> {
        let sql = format!(
            "SELECT column_type FROM (DESCRIBE SELECT * FROM read_parquet({}))",
            quote_literal(&path.to_string_lossy())
        );
        conn.prepare(&sql).unwrap().query_map([], |r| r.get(0)).unwrap().collect::<duckdb::Result<_>>().unwrap()
    }

    /// The types read from a footer are those DuckDB itself gives, for files DuckDB wrote (every
    /// type it writes) and files arrow-rs wrote; the common ones are always read, the rest are
    /// left to DuckDB.
    #[test]
    fn types_from_the_footer_are_the_types_duckdb_gives() {
        let dir = tempfile::tempdir().unwrap();
        let conn = duckdb::Connection::open_in_memory().unwrap();
        let keywords: HashSet<String> = conn
            .prepare("SELECT lower(keyword_name) FROM duckdb_keywords()")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<duckdb::Result<_>>()
            .unwrap();
        let always = [
            "true",
            "1::TINYINT",
            "1::SMALLINT",
            "1::INTEGER",
            "1::BIGINT",
            "1::UTINYINT",
            "1::USMALLINT",
            "1::UINTEGER",
            "1::UBIGINT",
            "1.5::FLOAT",
            "1.5::DOUBLE",
            "1.5::DECIMAL(9,2)",
            "1.5::DECIMAL(18,4)",
            "1.5::DECIMAL(30,5)",
            "'x'",
            "'x'::BLOB",
            "DATE '2024-01-01'",
            "TIME '08:00:00'",
            "TIMESTAMP '2024-01-01 08:00:00'",
            "TIMESTAMPTZ '2024-01-01 08:00:00+00'",
            "uuid()",
            "'{}'::JSON",
            "[1, 2]",
            "[[1], [2]]",
            "['a']",
            "[{a: DATE '2024-01-01', b: [1.5]}]",
            "{'On': 1, 'select': 2, 'Name': 3, 'a b': 4, '_1': 5, 'x_1': 6, 'City': 7, 'date': 8, 'ä': 9, 'x\"y': 10}",
            "{'visit': {'on': DATE '2024-01-01', 'va': 70, 'eyes': ['L', 'R']}}",
        ];
        let sometimes = [
            "'a'::ENUM('a', 'b')",
            "INTERVAL 1 DAY",
            "1::HUGEINT",
            "1::UHUGEINT",
            "TIMESTAMP_MS '2024-01-01'",
            "TIMESTAMP_NS '2024-01-01'",
            "TIMESTAMP_S '2024-01-01'",
            "MAP {'a': 1}",
            "TIMETZ '08:00:00+01'",
            "[1, 2]::INTEGER[2]",
            "1::BIT",
            "union_value(k := 1)",
            "1::VARINT",
        ];
        let mut read = 0;
        let mut wrong = Vec::new();
        for (i, value) in always.iter().chain(&sometimes).enumerate() {
            let path = dir.path().join(format!("{i}.parquet"));
            let copy =
                format!("COPY (SELECT {value} AS c) TO {} (FORMAT parquet)", quote_literal(&path.to_string_lossy()));
            if conn.execute_batch(&copy).is_err() {
                continue; // a type DuckDB does not write to Parquet
            }
            let from_footer = read_footer(&path).unwrap().duckdb_types(&keywords);
            match from_footer {
                Some(types) if types == describe(&conn, &path) => read += 1,
                Some(types) => wrong.push(format!("{value}: {types:?}, DuckDB says {:?}", describe(&conn, &path))),
                None if i < always.len() => wrong.push(format!("{value}: a common type is left to DuckDB")),
                None => {}
            }
        }
        assert_eq!(wrong, Vec::<String>::new());
        assert!(read >= always.len());

        // What arrow-rs writes (migrated legacy tables, statistical files).
        let visit =
            Fields::from(vec![Field::new("on", DataType::Date32, true), Field::new("va", DataType::Int64, true)]);
        let visits = StructArray::new(
            visit.clone(),
            vec![
                Arc::new(Date32Array::from(vec![Some(19_000), None])),
                Arc::new(Int64Array::from(vec![Some(70), Some(71)])),
            ],
            None,
        );
        let list = ListArray::new(
            Arc::new(Field::new("item", DataType::Struct(visit), true)),
            OffsetBuffer::from_lengths([2]),
            Arc::new(visits),
            None,
        );
        let batch = RecordBatch::try_from_iter([
            ("id", Arc::new(Int64Array::from(vec![1])) as ArrayRef),
            ("name", Arc::new(StringArray::from(vec!["x"])) as ArrayRef),
            ("seen", Arc::new(TimestampMicrosecondArray::from(vec![1]).with_timezone("UTC")) as ArrayRef),
            ("local", Arc::new(TimestampMicrosecondArray::from(vec![1])) as ArrayRef),
            ("visits", Arc::new(list) as ArrayRef),
        ])
        .unwrap();
        assert!(matches!(batch.schema().field(2).data_type(), DataType::Timestamp(TimeUnit::Microsecond, Some(_))));
        let path = dir.path().join("arrow.parquet");
        let mut writer = ArrowWriter::try_new(std::fs::File::create(&path).unwrap(), batch.schema(), None).unwrap();
        writer.write(&batch).unwrap();
        writer.close().unwrap();
        let types = read_footer(&path).unwrap().duckdb_types(&keywords).expect("common types");
        assert_eq!(types, describe(&conn, &path));
        assert_eq!(types[4], "STRUCT(\"on\" DATE, va BIGINT)[]");
    }
}
