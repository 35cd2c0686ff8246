//! The exact readings of [`super::exact`] as DuckDB scalar functions, so that a conversion reads
//! and checks every value in the same pass that writes the Parquet file:
//!
//! - `cohort_integer(text, column)` → BIGINT
//! - `cohort_decimal(text, column, comma)` → DOUBLE
//! - `cohort_boolean(text, column)` → BOOLEAN
//! - `cohort_date(text, column, format)` → DATE
//!
//! Each returns the value the text writes, or, for text that writes no such value, null when
//! `column` is negative and otherwise an error naming the column (see [`super::misfit_column`]).
//! Null text gives null. In Rust, the check and the conversion cost about what DuckDB's own
//! `TRY_CAST` does, where the same checks in SQL (regular expressions, a cast back to text)
//! doubled the time of an ingest.

use duckdb::core::{DataChunkHandle, LogicalTypeHandle, LogicalTypeId};
use duckdb::ffi::{duckdb_string_t, duckdb_string_t_data, duckdb_string_t_length};
use duckdb::vscalar::{ScalarFunctionSignature, VScalar};
use duckdb::vtab::arrow::WritableVector;

use super::exact;

/// Registers the functions on `conn` (for this connection only).
pub fn register(conn: &duckdb::Connection) -> duckdb::Result<()> {
    conn.register_scalar_function::<IntegerFn>("cohort_integer")?;
    conn.register_scalar_function::<DecimalFn>("cohort_decimal")?;
    conn.register_scalar_function::<BooleanFn>("cohort_boolean")?;
    conn.register_scalar_function::<DateFn>("cohort_date")
}

type Failure = Box<dyn std::error::Error>;

/// The bytes of a string of a DuckDB vector. Short strings live inside the `duckdb_string_t`
/// itself, so the bytes borrow it (a copy of it would dangle once dropped).
fn bytes_of(s: &duckdb_string_t) -> &[u8] {
    // SAFETY: `s` is an element of a live VARCHAR vector; its data is inline in `s` or on a heap
    // DuckDB keeps for the vector's life, `length` bytes either way.
    unsafe {
        let length = duckdb_string_t_length(*s) as usize;
        let data = duckdb_string_t_data(std::ptr::from_ref(s).cast_mut()).cast::<u8>();
        std::slice::from_raw_parts(data, length)
    }
}

/// The error that stops a guarded conversion at a value that does not fit.
fn misfit(column: i64) -> Failure {
    format!("{}{column}", super::MISFIT_TAG).into()
}

/// Applies `read` to every row of the text in column 0, with the misfit column in column 1,
/// writing values of type `T` to `output`.
fn each_row<T: Copy + Default>(
    input: &DataChunkHandle,
    output: &mut dyn WritableVector,
    mut read: impl FnMut(&[u8], usize) -> Option<T>,
) -> Result<(), Failure> {
    let rows = input.len();
    let text = input.flat_vector(0);
    let columns = input.flat_vector(1);
    // SAFETY: DuckDB hands scalar functions flattened vectors of `rows` rows of the declared
    // types (VARCHAR, BIGINT), live for this call; nothing is kept past it.
    let (strings, columns) =
        unsafe { (text.as_slice_with_len::<duckdb_string_t>(rows), columns.as_slice_with_len::<i64>(rows)) };
    let mut out = output.flat_vector();
    let mut nulls = Vec::new();
    {
        // SAFETY: the output vector has room for `rows` values of the declared return type.
        let values = unsafe { out.as_mut_slice_with_len::<T>(rows) };
        for row in 0..rows {
            if text.row_is_null(row as u64) {
                nulls.push(row);
                continue;
            }
            match read(bytes_of(&strings[row]), row) {
                Some(v) => values[row] = v,
                None if columns[row] >= 0 => return Err(misfit(columns[row])),
                None => {
                    values[row] = T::default();
                    nulls.push(row);
                }
            }
        }
    }
    for row in nulls {
        out.set_null(row);
    }
    Ok(())
}

struct IntegerFn;

impl VScalar for IntegerFn {
    type State = ();

    fn invoke(_: &(), input: &mut DataChunkHandle, output: &mut dyn WritableVector) -> Result<(), Failure> {
        each_row(input, output, |text, _| exact::integer(text))
    }

    fn signatures() -> Vec<ScalarFunctionSignature> {
        vec![ScalarFunctionSignature::exact(
            vec![LogicalTypeId::Varchar.into(), LogicalTypeId::Bigint.into()],
            LogicalTypeHandle::from(LogicalTypeId::Bigint),
        )]
    }
}

struct BooleanFn;

impl VScalar for BooleanFn {
    type State = ();

    fn invoke(_: &(), input: &mut DataChunkHandle, output: &mut dyn WritableVector) -> Result<(), Failure> {
        each_row(input, output, |text, _| exact::boolean(text))
    }

    fn signatures() -> Vec<ScalarFunctionSignature> {
        vec![ScalarFunctionSignature::exact(
            vec![LogicalTypeId::Varchar.into(), LogicalTypeId::Bigint.into()],
            LogicalTypeHandle::from(LogicalTypeId::Boolean),
        )]
    }
}

struct DecimalFn;

impl VScalar for DecimalFn {
    type State = ();

    fn invoke(_: &(), input: &mut DataChunkHandle, output: &mut dyn WritableVector) -> Result<(), Failure> {
        let comma = input.flat_vector(2);
        // SAFETY: as in `each_row`: a flattened BOOLEAN vector of `len` rows.
        let comma: Vec<bool> = unsafe { comma.as_slice_with_len::<bool>(input.len()) }.to_vec();
        each_row(input, output, |text, row| exact::decimal(text, comma[row]))
    }

    fn signatures() -> Vec<ScalarFunctionSignature> {
        vec![ScalarFunctionSignature::exact(
            vec![LogicalTypeId::Varchar.into(), LogicalTypeId::Bigint.into(), LogicalTypeId::Boolean.into()],
            LogicalTypeHandle::from(LogicalTypeId::Double),
        )]
    }
}

struct DateFn;

impl VScalar for DateFn {
    type State = ();

    fn invoke(_: &(), input: &mut DataChunkHandle, output: &mut dyn WritableVector) -> Result<(), Failure> {
        let rows = input.len();
        if rows == 0 {
            return Ok(());
        }
        let formats = input.flat_vector(2);
        // SAFETY: as in `each_row`: a flattened VARCHAR vector of `rows` rows.
        let formats = unsafe { formats.as_slice_with_len::<duckdb_string_t>(rows) };
        let format_at = |row: usize| bytes_of(&formats[row]);
        let parse = |f: &[u8]| std::str::from_utf8(f).ok().and_then(exact::DateFormat::parse);
        // The format is a constant in every query cohort writes: parsed once, and again only
        // for a row whose format differs.
        let (first, first_format) = (format_at(0), parse(format_at(0)));
        each_row(input, output, |text, row| {
            let f = format_at(row);
            if f == first { first_format.as_ref()?.days(text) } else { parse(f)?.days(text) }
        })
    }

    fn signatures() -> Vec<ScalarFunctionSignature> {
        vec![ScalarFunctionSignature::exact(
            vec![LogicalTypeId::Varchar.into(), LogicalTypeId::Bigint.into(), LogicalTypeId::Varchar.into()],
            LogicalTypeHandle::from(LogicalTypeId::Date),
        )]
    }
}
