//! Every aggregate of a simulation run's results page, computed in one session.

use cohort_store::name::quote_ident;
use cohort_store::{ResolvedVersion, Session, Store, StoreError};
use jiff::civil::Date;
use serde::Serialize;

use crate::burden::{IntervalBin, PerPatient, PerYear, intervals, per_patient, per_year};
use crate::discontinuation::{IncidencePoint, StopCount, cumulative_incidence, stop_counts};
use crate::flow::{FlowRow, FollowUpRow, cohort_flow, cohort_flow_by_follow_up};
use crate::planning::{Activity, KeyFigures, clinic_activity, key_figures};
use crate::query_rows;
use crate::scan::{Scan, scan_run};
use crate::vision::{HistogramBin, VisionPoint, vision_distributions, vision_over_time};

/// The run's headline figures.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    /// Patients enrolled.
    pub patients: i64,
    /// Visits recorded.
    pub visits: i64,
    /// Injections given.
    pub injections: i64,
    /// Mean baseline vision.
    pub mean_baseline_vision: Option<f64>,
    /// Mean last measured vision.
    pub mean_final_vision: Option<f64>,
    /// Patients who stopped treatment at least once.
    pub discontinued: i64,
    /// Patients who died.
    pub died: i64,
    /// Restarts of treatment after a recurrence.
    pub retreatments: i64,
}

/// Everything the results page of one run draws.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunResults {
    /// Headline figures.
    pub summary: Summary,
    /// Categories by calendar month.
    pub flow: Vec<FlowRow>,
    /// Categories by month of follow-up.
    pub flow_by_follow_up: Vec<FollowUpRow>,
    /// Mean vision by month of follow-up.
    pub vision: Vec<VisionPoint>,
    /// Baseline, final and change in vision.
    pub vision_distributions: Vec<HistogramBin>,
    /// Stops by type.
    pub stops: Vec<StopCount>,
    /// Cumulative incidence of first stops by type.
    pub incidence: Vec<IncidencePoint>,
    /// Injections and visits per patient.
    pub per_patient: Vec<PerPatient>,
    /// Injections and visits per year of follow-up.
    pub per_year: Vec<PerYear>,
    /// Intervals between treatment visits.
    pub intervals: Vec<IntervalBin>,
    /// Clinic activity by week and month, and its steady state.
    pub activity: Activity,
    /// Figures for setting runs side by side.
    pub key_figures: KeyFigures,
}

/// Computes every aggregate of `run`, mounted in `session` as `dataset`, which started on `start`
/// and simulated `horizon_day` days.
pub fn run_results(
    store: &Store,
    run: &ResolvedVersion,
    session: &Session,
    dataset: &str,
    start: Date,
    horizon_day: i64,
) -> Result<RunResults, StoreError> {
    let ds = quote_ident(dataset);
    let summary = query_rows(
        session,
        &format!(
            "SELECT count(*), (SELECT count(*) FROM {ds}.visits), coalesce(sum(total_injections), 0)::BIGINT, \
             avg(baseline_vision), avg(final_vision), count(*) FILTER (WHERE discontinued), \
             count(*) FILTER (WHERE died), coalesce(sum(retreatment_count), 0)::BIGINT FROM {ds}.patients"
        ),
        |r| {
            Ok(Summary {
                patients: r.get(0)?,
                visits: r.get(1)?,
                injections: r.get(2)?,
                mean_baseline_vision: r.get(3)?,
                mean_final_vision: r.get(4)?,
                discontinued: r.get(5)?,
                died: r.get(6)?,
                retreatments: r.get(7)?,
            })
        },
    )?
    .into_iter()
    .next()
    .expect("an aggregate query returns one row");
    // Each part is timed: the results page of a big run waits for all of them.
    fn timed<T>(what: &str, part: impl FnOnce() -> Result<T, StoreError>) -> Result<T, StoreError> {
        let started = std::time::Instant::now();
        let value = part()?;
        tracing::debug!(part = what, seconds = started.elapsed().as_secs_f64(), "run results");
        Ok(value)
    }
    let (vision_distributions, per_patient) = (
        timed("vision_distributions", || vision_distributions(session, dataset))?,
        timed("per_patient", || per_patient(session, dataset))?,
    );
    if let Some(scan) = timed("scan", || scan_run(store, run, start, horizon_day))? {
        let Scan { flows, vision, stops, incidence, per_year, intervals, activity, key_figures } = scan;
        return Ok(RunResults {
            summary,
            flow: flows.calendar,
            flow_by_follow_up: flows.follow_up,
            vision,
            vision_distributions,
            stops,
            incidence,
            per_patient,
            per_year,
            intervals,
            activity,
            key_figures,
        });
    }
    Ok(RunResults {
        summary,
        flow: timed("flow", || cohort_flow(session, dataset))?,
        flow_by_follow_up: timed("flow_by_follow_up", || cohort_flow_by_follow_up(session, dataset, horizon_day))?,
        vision: timed("vision", || vision_over_time(session, dataset))?,
        vision_distributions,
        stops: timed("stops", || stop_counts(session, dataset))?,
        incidence: timed("incidence", || cumulative_incidence(session, dataset, horizon_day))?,
        per_patient,
        per_year: timed("per_year", || per_year(session, dataset, horizon_day))?,
        intervals: timed("intervals", || intervals(session, dataset))?,
        activity: timed("activity", || clinic_activity(session, dataset, start, horizon_day))?,
        key_figures: timed("key_figures", || key_figures(session, dataset, horizon_day))?,
    })
}

/// Where a run's results are kept once computed, by the version's content hash.
fn kept_path(store: &Store, content_hash: &str) -> std::path::PathBuf {
    store.layout().derived().join("results").join(format!("{content_hash}.json"))
}

/// The results of `run` (a committed version whose content hash is `content_hash`) as JSON: read
/// from the store when a run or an earlier request computed them, or computed now (one pass over
/// its files, see [`run_results`]) and kept. A version never changes under its content hash, so
/// what is kept never goes stale; a kept file that cannot be read is computed again.
pub fn kept_run_results(
    store: &Store,
    run: &ResolvedVersion,
    content_hash: &str,
    start: Date,
    horizon_day: i64,
) -> Result<serde_json::Value, StoreError> {
    let path = kept_path(store, content_hash);
    if let Some(kept) = std::fs::read(&path).ok().and_then(|bytes| serde_json::from_slice(&bytes).ok()) {
        return Ok(kept);
    }
    let mut session = Session::new(store)?;
    session.mount(store, run, "run")?;
    let results = run_results(store, run, &session, "run", start, horizon_day)?;
    let value = serde_json::to_value(&results).map_err(|e| StoreError::Inconsistent(e.to_string()))?;
    let bytes = serde_json::to_vec(&value).map_err(|e| StoreError::Inconsistent(e.to_string()))?;
    // Keeping them is an optimisation: a read-only store still answers.
    let kept = path
        .parent()
        .map_or(Ok(()), std::fs::create_dir_all)
        .and_then(|_| cohort_store::fsutil::write_atomic(&path, &bytes));
    if let Err(e) = kept {
        tracing::warn!("could not keep the results of `{}` at `{}`: {e}", run.label(), path.display());
    }
    Ok(value)
}

/// Computes the results of run `name@version`, just committed, and keeps them with the store, so
/// that its first view is as fast as the next. `window` reads a run's first day and horizon from
/// its provenance (`cohort_sim::job::run_window`). A failure only costs the first view the time:
/// it is logged, not returned.
pub fn keep_results_of(
    store: &Store,
    name: &cohort_store::DatasetName,
    version: u32,
    window: impl Fn(&serde_json::Value) -> Option<(Date, i64)>,
) {
    let kept = (|| -> Result<(), StoreError> {
        let detail = store.detail(&cohort_store::VersionRef::parse(&format!("{name}@{version}"))?)?;
        let Some(info) = detail.versions.iter().find(|v| v.version == version) else { return Ok(()) };
        let Some((start, horizon_day)) = window(&info.provenance) else { return Ok(()) };
        kept_run_results(store, &detail.shown, &info.content_hash, start, horizon_day)?;
        Ok(())
    })();
    if let Err(e) = kept {
        tracing::warn!("could not compute the results of `{name}@{version}` ahead of its first view: {e}");
    }
}
