//! The part of ReadStat's C API that reading needs, loaded from the shared library at first use.
//!
//! Loading at run time rather than linking means cohort builds and runs without ReadStat; only
//! reading an SPSS, Stata or SAS file needs it, and then the error says how to install it.
//! Declarations follow `readstat.h` of ReadStat 1.1 (Debian's `libreadstat-dev`).

#![allow(non_camel_case_types)]

use std::ffi::{c_char, c_double, c_int, c_void};
use std::sync::OnceLock;

/// `readstat_value_t`, passed by value: a union, the type, the tag and two flag bits.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct readstat_value_t {
    pub v: ValueUnion,
    pub type_: c_int,
    pub tag: c_char,
    pub flags: u8,
    _padding: [u8; 2],
}

/// The union inside `readstat_value_t`; its members decide how the value is passed in registers.
#[repr(C)]
#[derive(Clone, Copy)]
pub union ValueUnion {
    pub float_value: f32,
    pub double_value: c_double,
    pub i8_value: i8,
    pub i16_value: i16,
    pub i32_value: i32,
    pub string_value: *const c_char,
}

/// Opaque `readstat_parser_t`.
pub enum readstat_parser_t {}
/// Opaque `readstat_metadata_t`.
pub enum readstat_metadata_t {}
/// Opaque `readstat_variable_t`.
pub enum readstat_variable_t {}

pub const TYPE_STRING: c_int = 0;
pub const TYPE_INT8: c_int = 1;
pub const TYPE_INT16: c_int = 2;
pub const TYPE_INT32: c_int = 3;
pub const TYPE_STRING_REF: c_int = 6;

pub const HANDLER_OK: c_int = 0;
pub const HANDLER_ABORT: c_int = 1;

pub type MetadataHandler = unsafe extern "C" fn(*mut readstat_metadata_t, *mut c_void) -> c_int;
pub type VariableHandler = unsafe extern "C" fn(c_int, *mut readstat_variable_t, *const c_char, *mut c_void) -> c_int;
pub type ValueHandler = unsafe extern "C" fn(c_int, *mut readstat_variable_t, readstat_value_t, *mut c_void) -> c_int;
pub type ValueLabelHandler = unsafe extern "C" fn(*const c_char, readstat_value_t, *const c_char, *mut c_void) -> c_int;
pub type ErrorHandler = unsafe extern "C" fn(*const c_char, *mut c_void);
pub type ProgressHandler = unsafe extern "C" fn(c_double, *mut c_void) -> c_int;
pub type ParseFn = unsafe extern "C" fn(*mut readstat_parser_t, *const c_char, *mut c_void) -> c_int;

/// The functions used, resolved from the library.
pub struct Api {
    _library: libloading::Library,
    pub parser_init: unsafe extern "C" fn() -> *mut readstat_parser_t,
    pub parser_free: unsafe extern "C" fn(*mut readstat_parser_t),
    pub set_metadata_handler: unsafe extern "C" fn(*mut readstat_parser_t, MetadataHandler) -> c_int,
    pub set_variable_handler: unsafe extern "C" fn(*mut readstat_parser_t, VariableHandler) -> c_int,
    pub set_value_handler: unsafe extern "C" fn(*mut readstat_parser_t, ValueHandler) -> c_int,
    pub set_value_label_handler: unsafe extern "C" fn(*mut readstat_parser_t, ValueLabelHandler) -> c_int,
    pub set_error_handler: unsafe extern "C" fn(*mut readstat_parser_t, ErrorHandler) -> c_int,
    pub set_progress_handler: unsafe extern "C" fn(*mut readstat_parser_t, ProgressHandler) -> c_int,
    pub error_message: unsafe extern "C" fn(c_int) -> *const c_char,
    pub get_row_count: unsafe extern "C" fn(*mut readstat_metadata_t) -> c_int,
    pub get_file_label: unsafe extern "C" fn(*mut readstat_metadata_t) -> *const c_char,
    pub variable_get_index: unsafe extern "C" fn(*const readstat_variable_t) -> c_int,
    pub variable_get_name: unsafe extern "C" fn(*const readstat_variable_t) -> *const c_char,
    pub variable_get_label: unsafe extern "C" fn(*const readstat_variable_t) -> *const c_char,
    pub variable_get_format: unsafe extern "C" fn(*const readstat_variable_t) -> *const c_char,
    pub variable_get_type: unsafe extern "C" fn(*const readstat_variable_t) -> c_int,
    pub variable_get_missing_ranges_count: unsafe extern "C" fn(*const readstat_variable_t) -> c_int,
    pub variable_get_missing_range_lo: unsafe extern "C" fn(*const readstat_variable_t, c_int) -> readstat_value_t,
    pub variable_get_missing_range_hi: unsafe extern "C" fn(*const readstat_variable_t, c_int) -> readstat_value_t,
    pub value_is_system_missing: unsafe extern "C" fn(readstat_value_t) -> c_int,
    pub value_is_tagged_missing: unsafe extern "C" fn(readstat_value_t) -> c_int,
    pub value_is_defined_missing: unsafe extern "C" fn(readstat_value_t, *mut readstat_variable_t) -> c_int,
    pub value_tag: unsafe extern "C" fn(readstat_value_t) -> c_char,
    pub value_type: unsafe extern "C" fn(readstat_value_t) -> c_int,
    pub double_value: unsafe extern "C" fn(readstat_value_t) -> c_double,
    pub int32_value: unsafe extern "C" fn(readstat_value_t) -> i32,
    pub string_value: unsafe extern "C" fn(readstat_value_t) -> *const c_char,
    pub parse_sav: ParseFn,
    pub parse_dta: ParseFn,
    pub parse_por: ParseFn,
    pub parse_sas7bdat: ParseFn,
    pub parse_xport: ParseFn,
}

/// Library file names tried, in order (`COHORT_READSTAT_LIB` first when set).
const LIBRARY_NAMES: &[&str] =
    &["libreadstat.so.1", "libreadstat.so", "libreadstat.1.dylib", "libreadstat.dylib", "readstat.dll"];

/// ReadStat's functions, or why they are not available.
pub fn api() -> Result<&'static Api, &'static str> {
    static API: OnceLock<Result<Api, String>> = OnceLock::new();
    API.get_or_init(load).as_ref().map_err(|e| e.as_str())
}

fn load() -> Result<Api, String> {
    let mut names: Vec<String> = LIBRARY_NAMES.iter().map(|s| s.to_string()).collect();
    if let Ok(explicit) = std::env::var("COHORT_READSTAT_LIB") {
        names.insert(0, explicit);
    }
    let mut last_error = String::new();
    for name in &names {
        // SAFETY: loading ReadStat runs no initialisers beyond the C runtime's.
        match unsafe { libloading::Library::new(name) } {
            Ok(library) => return resolve(library).map_err(|e| format!("`{name}` is not a usable ReadStat: {e}")),
            Err(e) => last_error = e.to_string(),
        }
    }
    Err(format!("the ReadStat library was not found ({last_error})"))
}

fn resolve(library: libloading::Library) -> Result<Api, libloading::Error> {
    macro_rules! sym {
        ($name:literal) => {
            // SAFETY: the declared type matches readstat.h for this symbol.
            *unsafe { library.get(concat!($name, "\0").as_bytes())? }
        };
    }
    Ok(Api {
        parser_init: sym!("readstat_parser_init"),
        parser_free: sym!("readstat_parser_free"),
        set_metadata_handler: sym!("readstat_set_metadata_handler"),
        set_variable_handler: sym!("readstat_set_variable_handler"),
        set_value_handler: sym!("readstat_set_value_handler"),
        set_value_label_handler: sym!("readstat_set_value_label_handler"),
        set_error_handler: sym!("readstat_set_error_handler"),
        set_progress_handler: sym!("readstat_set_progress_handler"),
        error_message: sym!("readstat_error_message"),
        get_row_count: sym!("readstat_get_row_count"),
        get_file_label: sym!("readstat_get_file_label"),
        variable_get_index: sym!("readstat_variable_get_index"),
        variable_get_name: sym!("readstat_variable_get_name"),
        variable_get_label: sym!("readstat_variable_get_label"),
        variable_get_format: sym!("readstat_variable_get_format"),
        variable_get_type: sym!("readstat_variable_get_type"),
        variable_get_missing_ranges_count: sym!("readstat_variable_get_missing_ranges_count"),
        variable_get_missing_range_lo: sym!("readstat_variable_get_missing_range_lo"),
        variable_get_missing_range_hi: sym!("readstat_variable_get_missing_range_hi"),
        value_is_system_missing: sym!("readstat_value_is_system_missing"),
        value_is_tagged_missing: sym!("readstat_value_is_tagged_missing"),
        value_is_defined_missing: sym!("readstat_value_is_defined_missing"),
        value_tag: sym!("readstat_value_tag"),
        value_type: sym!("readstat_value_type"),
        double_value: sym!("readstat_double_value"),
        int32_value: sym!("readstat_int32_value"),
        string_value: sym!("readstat_string_value"),
        parse_sav: sym!("readstat_parse_sav"),
        parse_dta: sym!("readstat_parse_dta"),
        parse_por: sym!("readstat_parse_por"),
        parse_sas7bdat: sym!("readstat_parse_sas7bdat"),
        parse_xport: sym!("readstat_parse_xport"),
        _library: library,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn value_layout_matches_readstat_h() {
        // gcc on x86-64 and aarch64 Linux: sizeof(readstat_value_t) == 16, type at 8, tag at 12.
        assert_eq!(std::mem::size_of::<readstat_value_t>(), 16);
        assert_eq!(std::mem::offset_of!(readstat_value_t, type_), 8);
        assert_eq!(std::mem::offset_of!(readstat_value_t, tag), 12);
    }
}
