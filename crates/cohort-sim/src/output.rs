//! The `patients` and `visits` tables as Arrow record batches.

use std::sync::{Arc, LazyLock};

use arrow::array::{ArrayRef, BooleanArray, Date32Array, Float64Array, Int32Array, Int64Array, StringArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;

use crate::engine::{Patient, Visit};

/// Schema of the `patients` table.
pub static PATIENTS: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        Field::new("patient_id", DataType::Int64, false),
        Field::new("enrolment_day", DataType::Int32, false),
        Field::new("enrolment_date", DataType::Date32, false),
        Field::new("age", DataType::Float64, false),
        Field::new("sex", DataType::Utf8, false),
        Field::new("baseline_vision", DataType::Float64, false),
        Field::new("final_vision", DataType::Float64, false),
        Field::new("final_disease_state", DataType::Utf8, false),
        Field::new("total_visits", DataType::Int32, false),
        Field::new("total_injections", DataType::Int32, false),
        Field::new("discontinued", DataType::Boolean, false),
        Field::new("discontinuation_day", DataType::Int32, true),
        Field::new("discontinuation_type", DataType::Utf8, true),
        Field::new("pre_discontinuation_vision", DataType::Float64, true),
        Field::new("retreatment_count", DataType::Int32, false),
        Field::new("died", DataType::Boolean, false),
    ]))
});

/// Schema of the `visits` table.
pub static VISITS: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        Field::new("patient_id", DataType::Int64, false),
        Field::new("visit_number", DataType::Int32, false),
        Field::new("day", DataType::Int32, false),
        Field::new("date", DataType::Date32, false),
        Field::new("days_since_enrolment", DataType::Int32, false),
        Field::new("interval_days", DataType::Int32, true),
        Field::new("phase", DataType::Utf8, false),
        Field::new("disease_state", DataType::Utf8, false),
        Field::new("vision", DataType::Float64, false),
        Field::new("vision_actual", DataType::Float64, false),
        Field::new("injected", DataType::Boolean, false),
        Field::new("cumulative_injections", DataType::Int32, false),
        Field::new("next_interval_days", DataType::Int32, true),
        Field::new("is_discontinuation_visit", DataType::Boolean, false),
        Field::new("discontinuation_type", DataType::Utf8, true),
        Field::new("is_retreatment_visit", DataType::Boolean, false),
        Field::new("treatment_state", DataType::Utf8, false),
    ]))
});

fn col(array: impl arrow::array::Array + 'static) -> ArrayRef {
    Arc::new(array)
}

/// `patients` rows; `start_epoch_day` is the simulation start as days since 1970-01-01.
pub fn patients_batch(patients: &[Patient], start_epoch_day: i32) -> RecordBatch {
    let columns = vec![
        col(Int64Array::from_iter_values(patients.iter().map(|p| p.patient_id))),
        col(Int32Array::from_iter_values(patients.iter().map(|p| p.enrolment_day))),
        col(Date32Array::from_iter_values(patients.iter().map(|p| start_epoch_day + p.enrolment_day))),
        col(Float64Array::from_iter_values(patients.iter().map(|p| p.age))),
        col(StringArray::from_iter_values(patients.iter().map(|p| if p.female { "F" } else { "M" }))),
        col(Float64Array::from_iter_values(patients.iter().map(|p| p.baseline_vision))),
        col(Float64Array::from_iter_values(patients.iter().map(|p| p.final_vision))),
        col(StringArray::from_iter_values(patients.iter().map(|p| p.final_disease_state.as_str()))),
        col(Int32Array::from_iter_values(patients.iter().map(|p| p.total_visits))),
        col(Int32Array::from_iter_values(patients.iter().map(|p| p.total_injections))),
        col(BooleanArray::from_iter(patients.iter().map(|p| Some(p.discontinuation.is_some())))),
        col(Int32Array::from_iter(patients.iter().map(|p| p.discontinuation.map(|d| d.0)))),
        col(StringArray::from_iter(patients.iter().map(|p| p.discontinuation.map(|d| d.1.as_str())))),
        col(Float64Array::from_iter(patients.iter().map(|p| p.discontinuation.map(|d| d.2)))),
        col(Int32Array::from_iter_values(patients.iter().map(|p| p.retreatment_count))),
        col(BooleanArray::from_iter(patients.iter().map(|p| Some(p.died)))),
    ];
    RecordBatch::try_new(PATIENTS.clone(), columns).expect("columns match the schema")
}

/// `visits` rows; `start_epoch_day` is the simulation start as days since 1970-01-01.
pub fn visits_batch(visits: &[Visit], start_epoch_day: i32) -> RecordBatch {
    let columns = vec![
        col(Int64Array::from_iter_values(visits.iter().map(|v| v.patient_id))),
        col(Int32Array::from_iter_values(visits.iter().map(|v| v.visit_number))),
        col(Int32Array::from_iter_values(visits.iter().map(|v| v.day))),
        col(Date32Array::from_iter_values(visits.iter().map(|v| start_epoch_day + v.day))),
        col(Int32Array::from_iter_values(visits.iter().map(|v| v.days_since_enrolment))),
        col(Int32Array::from_iter(visits.iter().map(|v| v.interval_days))),
        col(StringArray::from_iter_values(visits.iter().map(|v| v.phase.as_str()))),
        col(StringArray::from_iter_values(visits.iter().map(|v| v.disease_state.as_str()))),
        col(Float64Array::from_iter_values(visits.iter().map(|v| v.vision))),
        col(Float64Array::from_iter_values(visits.iter().map(|v| v.vision_actual))),
        col(BooleanArray::from_iter(visits.iter().map(|v| Some(v.injected)))),
        col(Int32Array::from_iter_values(visits.iter().map(|v| v.cumulative_injections))),
        col(Int32Array::from_iter(visits.iter().map(|v| v.next_interval_days))),
        col(BooleanArray::from_iter(visits.iter().map(|v| Some(v.discontinuation.is_some())))),
        col(StringArray::from_iter(visits.iter().map(|v| v.discontinuation.map(|d| d.as_str())))),
        col(BooleanArray::from_iter(visits.iter().map(|v| Some(v.is_retreatment_visit)))),
        col(StringArray::from_iter_values(visits.iter().map(|v| v.treatment_state))),
    ];
    RecordBatch::try_new(VISITS.clone(), columns).expect("columns match the schema")
}
