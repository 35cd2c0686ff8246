//! A legacy simulation run as `patients` and `visits` tables, named as `cohort simulate` names
//! them where the meaning is the same, and its stored aggregates checked against those tables.

use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::legacy::Simulation;
use crate::table::Row;

/// The columns `visits` starts with (the visit's own fields follow by name).
pub const VISIT_COLUMNS: [&str; 12] = [
    "patient_id",
    "visit_number",
    "day",
    "date",
    "days_since_enrolment",
    "phase",
    "disease_state",
    "vision",
    "injected",
    "cumulative_injections",
    "is_discontinuation_visit",
    "discontinuation_type",
];

/// The columns of `patients`, in order.
pub const PATIENT_COLUMNS: [&str; 13] = [
    "patient_id",
    "enrolment_day",
    "enrolment_date",
    "baseline_vision",
    "final_vision",
    "final_disease_state",
    "total_visits",
    "total_injections",
    "discontinued",
    "discontinuation_day",
    "discontinuation_type",
    "discontinuation_visits",
    "retreatment_count",
];

/// The `visits` and `patients` rows of a run.
pub struct Tables {
    /// One row per visit, in patient order then visit order.
    pub visits: Vec<Row>,
    /// One row per patient.
    pub patients: Vec<Row>,
}

fn day_number(date: &str) -> Option<i64> {
    let date: jiff::civil::Date = date.get(..10)?.parse().ok()?;
    Some(i64::from(date.since(jiff::civil::date(1970, 1, 1)).ok()?.get_days()))
}

/// Derives the tables. A visit's `time` (days) becomes `day`; with only dates, `day` counts from
/// the run's first date. Added: `patient_id`, `visit_number`, `days_since_enrolment`, `injected`
/// (its actions include an injection) and `cumulative_injections`.
pub fn tables(run: &Simulation) -> Tables {
    let first_date = run
        .histories
        .values()
        .flat_map(|v| v.as_array().into_iter().flatten())
        .filter_map(|v| v.get("date").and_then(Value::as_str).and_then(day_number))
        .min();
    let mut visits = Vec::new();
    let mut patients = Vec::new();
    for (patient_id, history) in &run.histories {
        let history = history.as_array().map(Vec::as_slice).unwrap_or_default();
        let mut injections = 0i64;
        let mut enrolment_day = None;
        let mut summary = PatientSummary::default();
        for (i, visit) in history.iter().enumerate() {
            let Some(visit) = visit.as_object() else { continue };
            let day = visit.get("time").and_then(Value::as_f64).map(|t| t.round() as i64).or_else(|| {
                let d = visit.get("date").and_then(Value::as_str).and_then(day_number)?;
                Some(d - first_date?)
            });
            let enrolled = *enrolment_day.get_or_insert(day);
            let injected = visit
                .get("actions")
                .and_then(Value::as_array)
                .is_some_and(|a| a.iter().any(|x| x.as_str() == Some("injection")));
            injections += i64::from(injected);
            let mut fields = Map::new();
            fields.insert("patient_id".into(), json!(patient_id));
            fields.insert("visit_number".into(), json!(i + 1));
            fields.insert("day".into(), json!(day));
            fields.insert("days_since_enrolment".into(), json!(day.zip(enrolled).map(|(d, e)| d - e)));
            fields.insert("injected".into(), json!(injected));
            fields.insert("cumulative_injections".into(), json!(injections));
            for (k, v) in visit {
                if !matches!(k.as_str(), "time" | "patient_id" | "visit_number") {
                    fields.entry(k.clone()).or_insert_with(|| v.clone());
                }
            }
            summary.see(visit, day, injected, i == 0);
            visits.push(Row { original: Some(Value::Object(visit.clone()).to_string()), fields });
        }
        let mut fields = Map::new();
        fields.insert("patient_id".into(), json!(patient_id));
        fields.insert("enrolment_day".into(), json!(enrolment_day.flatten()));
        summary.into_fields(&mut fields, history.len());
        patients.push(Row { original: None, fields });
    }
    Tables { visits, patients }
}

#[derive(Default)]
struct PatientSummary {
    enrolment_date: Option<Value>,
    baseline_vision: Option<Value>,
    final_vision: Option<Value>,
    final_disease_state: Option<Value>,
    injections: i64,
    discontinuation_visits: i64,
    discontinuation_day: Option<i64>,
    discontinuation_type: Option<Value>,
    retreatments: i64,
}

impl PatientSummary {
    fn see(&mut self, visit: &Map<String, Value>, day: Option<i64>, injected: bool, first: bool) {
        let get = |k: &str| visit.get(k).filter(|v| !v.is_null()).cloned();
        if first {
            self.enrolment_date = get("date");
            self.baseline_vision = get("baseline_vision").or_else(|| get("vision"));
        }
        if let Some(v) = get("vision") {
            self.final_vision = Some(v);
        }
        if let Some(v) = get("disease_state") {
            self.final_disease_state = Some(v);
        }
        self.injections += i64::from(injected);
        if visit.get("is_discontinuation_visit").and_then(Value::as_bool) == Some(true) {
            self.discontinuation_visits += 1;
            if self.discontinuation_day.is_none() {
                self.discontinuation_day = day;
                self.discontinuation_type = get("discontinuation_type");
            }
        }
        if visit.get("is_retreatment_visit").and_then(Value::as_bool) == Some(true) {
            self.retreatments += 1;
        }
    }

    fn into_fields(self, out: &mut Map<String, Value>, visits: usize) {
        out.insert("enrolment_date".into(), self.enrolment_date.unwrap_or(Value::Null));
        out.insert("baseline_vision".into(), self.baseline_vision.unwrap_or(Value::Null));
        out.insert("final_vision".into(), self.final_vision.unwrap_or(Value::Null));
        out.insert("final_disease_state".into(), self.final_disease_state.unwrap_or(Value::Null));
        out.insert("total_visits".into(), json!(visits));
        out.insert("total_injections".into(), json!(self.injections));
        out.insert("discontinued".into(), json!(self.discontinuation_visits > 0));
        out.insert("discontinuation_day".into(), json!(self.discontinuation_day));
        out.insert("discontinuation_type".into(), self.discontinuation_type.unwrap_or(Value::Null));
        out.insert("discontinuation_visits".into(), json!(self.discontinuation_visits));
        out.insert("retreatment_count".into(), json!(self.retreatments));
    }
}

/// One stored aggregate compared with what the tables give.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq)]
pub struct Check {
    /// The aggregate's key in the legacy file (`total_injections`, `discontinuation_counts.Planned`).
    pub aggregate: String,
    /// Its stored value.
    pub stored: Value,
    /// What the tables give.
    pub derived: Value,
    /// Whether they agree (numbers to a relative 1e-6).
    pub agrees: bool,
}

/// The SQL that derives each checkable aggregate from the tables (`patients` and `visits` are the
/// SQL that reads each), with the aggregate's place in the legacy file. `discontinuation_counts` is checked per type.
pub fn check_queries(
    document: &Map<String, Value>,
    visit_columns: &[String],
    patients: &str,
    visits: &str,
) -> Vec<(String, Value, String)> {
    let mut out = Vec::new();
    let mut add = |key: &str, sql: String| {
        if let Some(v) = document.get(key).filter(|v| v.is_number()) {
            out.push((key.to_string(), v.clone(), sql));
        }
    };
    add("patient_count", format!("SELECT count(*) FROM {patients}"));
    add("total_injections", format!("SELECT sum(total_injections) FROM {patients}"));
    add("mean_injections", format!("SELECT avg(total_injections) FROM {patients}"));
    add("total_discontinuations", format!("SELECT sum(discontinuation_visits) FROM {patients}"));
    add("unique_discontinued_patients", format!("SELECT count(*) FILTER (WHERE discontinued) FROM {patients}"));
    add("retreatments", format!("SELECT sum(retreatment_count) FROM {patients}"));
    let has = |c: &str| visit_columns.iter().any(|v| v == c);
    if let Some(Value::Object(counts)) = document.get("discontinuation_counts")
        && has("discontinuation_type")
        && has("is_discontinuation_visit")
    {
        for (kind, stored) in counts {
            // Types are compared without regard to case, spaces or underscores ("Not Renewed" and
            // "not_renewed").
            let norm = kind.to_lowercase().replace([' ', '_', '-'], "");
            out.push((
                format!("discontinuation_counts.{kind}"),
                stored.clone(),
                format!(
                    "SELECT count(*) FROM {visits} WHERE TRY_CAST(is_discontinuation_visit AS BOOLEAN) AND \
                     replace(replace(replace(lower(discontinuation_type::VARCHAR), ' ', ''), '_', ''), '-', '') = {}",
                    cohort_store::name::quote_literal(&norm)
                ),
            ));
        }
    }
    out
}

/// Whether a stored and a derived value agree.
pub fn agrees(stored: &Value, derived: &Value) -> bool {
    match (stored.as_f64(), derived.as_f64()) {
        (Some(a), Some(b)) => (a - b).abs() <= 1e-6 * a.abs().max(b.abs()).max(1.0),
        _ => stored == derived,
    }
}

/// The run as the legacy app stored it, from its document, its patients and the visits' original
/// JSON.
pub fn document(
    mut document: Map<String, Value>,
    patients: Vec<String>,
    visits: impl IntoIterator<Item = (String, Value)>,
) -> Value {
    let mut histories: Map<String, Value> = patients.into_iter().map(|p| (p, Value::Array(Vec::new()))).collect();
    for (patient, visit) in visits {
        match histories.entry(patient).or_insert_with(|| Value::Array(Vec::new())) {
            Value::Array(list) => list.push(visit),
            _ => unreachable!("inserted as a list"),
        }
    }
    document.insert("patient_histories".into(), Value::Object(histories));
    Value::Object(document)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn visits_get_days_counts_and_injections() {
        let run = Simulation {
            document: Map::new(),
            histories: serde_json::from_value(json!({
                "P1": [
                    {"date": "2023-01-10", "actions": ["vision_test", "injection"], "vision": 60, "baseline_vision": 58},
                    {"date": "2023-02-07", "actions": ["injection"], "vision": 64, "is_discontinuation_visit": true,
                     "discontinuation_type": "Planned"}
                ],
                "P2": [{"date": "2023-01-03", "actions": ["vision_test"], "vision": 70}]
            }))
            .unwrap(),
        };
        let t = tables(&run);
        assert_eq!(t.visits.len(), 3);
        assert_eq!(t.visits[0].fields["day"], 7);
        assert_eq!(t.visits[1].fields["days_since_enrolment"], 28);
        assert_eq!(t.visits[1].fields["cumulative_injections"], 2);
        let p1 = &t.patients[0].fields;
        assert_eq!((p1["baseline_vision"].clone(), p1["final_vision"].clone()), (json!(58), json!(64)));
        assert_eq!((p1["discontinued"].clone(), p1["discontinuation_type"].clone()), (json!(true), json!("Planned")));
        assert!(agrees(&json!(2), &json!(2.0000000001)) && !agrees(&json!(2), &json!(3)));
    }
}
