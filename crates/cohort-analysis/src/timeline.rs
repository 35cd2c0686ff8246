//! One patient's course in a simulation run: the patient's row and every visit, for the patient
//! finder. It reads a single patient through the Parquet statistics on `patient_id`, so it stays
//! fast on a run of millions.

use cohort_store::name::quote_ident;
use cohort_store::{Session, StoreError};
use serde::Serialize;

use crate::query_rows;

/// One patient of a run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PatientSummary {
    /// The patient's number.
    pub patient_id: i64,
    /// Enrolment date.
    pub enrolment_date: String,
    /// Age at enrolment.
    pub age: f64,
    /// `F` or `M`.
    pub sex: String,
    /// Vision at enrolment (letters).
    pub baseline_vision: f64,
    /// Last measured vision.
    pub final_vision: f64,
    /// Injections given.
    pub total_injections: i64,
    /// Whether treatment stopped (last stop).
    pub discontinuation_type: Option<String>,
    /// Times treatment restarted.
    pub retreatment_count: i64,
    /// Whether the patient died.
    pub died: bool,
}

/// One visit of a patient.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TimelineVisit {
    /// Visit number, from 1.
    pub visit_number: i64,
    /// Visit date.
    pub date: String,
    /// Days since enrolment.
    pub days_since_enrolment: i64,
    /// `loading`, `maintenance`, `monitoring` or `retreatment_loading`.
    pub phase: String,
    /// Disease state at the visit.
    pub disease_state: String,
    /// Measured vision.
    pub vision: f64,
    /// Whether an injection was given.
    pub injected: bool,
    /// Why treatment stopped here, if it did.
    pub discontinuation_type: Option<String>,
    /// Whether the visit belongs to a retreatment.
    pub is_retreatment_visit: bool,
}

/// A patient and their visits.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Timeline {
    /// The patient.
    pub patient: PatientSummary,
    /// The visits, in order.
    pub visits: Vec<TimelineVisit>,
}

/// Patient `patient_id` of the run mounted as `dataset`, or `None` when the run has no such
/// patient.
pub fn patient_timeline(session: &Session, dataset: &str, patient_id: i64) -> Result<Option<Timeline>, StoreError> {
    let ds = quote_ident(dataset);
    let patients = query_rows(
        session,
        &format!(
            "SELECT patient_id, strftime(enrolment_date, '%Y-%m-%d'), age, sex, baseline_vision, final_vision, \
             total_injections::BIGINT, discontinuation_type, retreatment_count::BIGINT, died \
             FROM {ds}.patients WHERE patient_id = {patient_id}"
        ),
        |r| {
            Ok(PatientSummary {
                patient_id: r.get(0)?,
                enrolment_date: r.get(1)?,
                age: r.get(2)?,
                sex: r.get(3)?,
                baseline_vision: r.get(4)?,
                final_vision: r.get(5)?,
                total_injections: r.get(6)?,
                discontinuation_type: r.get(7)?,
                retreatment_count: r.get(8)?,
                died: r.get(9)?,
            })
        },
    )?;
    let Some(patient) = patients.into_iter().next() else { return Ok(None) };
    let visits = query_rows(
        session,
        &format!(
            "SELECT visit_number::BIGINT, strftime(date, '%Y-%m-%d'), days_since_enrolment::BIGINT, phase, disease_state, vision, \
             injected, discontinuation_type, is_retreatment_visit \
             FROM {ds}.visits WHERE patient_id = {patient_id} ORDER BY visit_number"
        ),
        |r| {
            Ok(TimelineVisit {
                visit_number: r.get(0)?,
                date: r.get(1)?,
                days_since_enrolment: r.get(2)?,
                phase: r.get(3)?,
                disease_state: r.get(4)?,
                vision: r.get(5)?,
                injected: r.get(6)?,
                discontinuation_type: r.get(7)?,
                is_retreatment_visit: r.get(8)?,
            })
        },
    )?;
    Ok(Some(Timeline { patient, visits }))
}
