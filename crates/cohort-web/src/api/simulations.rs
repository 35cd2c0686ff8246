//! Simulations: protocols, estimates, starting and resuming runs (as tasks), interrupted runs, and
//! a run's results (aggregates only) and patient timelines.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Extension, Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use cohort_analysis::timeline::{Timeline, patient_timeline};
use cohort_auth::Principal;
use cohort_sim::job::{
    JobError, Provenance, check_name_free_for_simulation, interrupted_run, resume_in_store, run_in_store,
};
use cohort_sim::population::Recruitment;
use cohort_sim::protocol::{BUILTINS, Protocol, builtin};
use cohort_sim::run::{Estimate, Execution, RunError, RunParams, RunSpec, Shard, estimate};
use cohort_store::{DatasetKind, DatasetName, Session, Store, StoreError, VersionRef};
use serde::{Deserialize, Serialize};

use crate::error::{ApiError, blocking};
use crate::state::AppState;
use crate::tasks::{Task, TaskState, TaskView};

/// The most patients a run started from the web may have (the CLI allows more).
pub const MAX_WEB_PATIENTS: u64 = 10_000_000;

/// Patients per parallel chunk of a web run.
const CHUNK_PATIENTS: usize = 2_000;

/// A built-in protocol.
#[derive(Debug, Clone, Serialize)]
pub struct ProtocolInfo {
    /// Its name.
    pub name: String,
    /// What it is.
    pub description: String,
    /// Its canonical SHA-256.
    pub sha256: String,
    /// Its YAML text.
    pub yaml: String,
}

/// `GET /api/v1/protocols`: the built-in protocols, with their parameters.
pub async fn protocols() -> Result<Json<Vec<ProtocolInfo>>, ApiError> {
    Ok(Json(builtin_protocols()?))
}

/// The built-in protocols.
pub fn builtin_protocols() -> Result<Vec<ProtocolInfo>, ApiError> {
    BUILTINS
        .iter()
        .map(|b| {
            let p = b.load().map_err(|e| ApiError::internal(e.to_string()))?;
            Ok(ProtocolInfo {
                name: p.name.clone(),
                description: p.description.clone(),
                sha256: p.canonical_sha256(),
                yaml: b.yaml.into(),
            })
        })
        .collect()
}

/// What to simulate, as a form or script sends it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimulationRequest {
    /// A built-in protocol's name.
    pub protocol: Option<String>,
    /// Or a whole protocol file's text.
    pub protocol_yaml: Option<String>,
    /// Patients recruited over the horizon (fixed-total mode).
    pub patients: Option<u64>,
    /// Or patients per week (constant-rate mode).
    pub per_week: Option<f64>,
    /// Years simulated (default 5).
    pub years: Option<f64>,
    /// Seed (default 42).
    pub seed: Option<u64>,
    /// First day, `YYYY-MM-DD` (default 2024-01-01).
    pub start: Option<String>,
    /// Dataset name (default: from protocol, patients, years and seed).
    pub name: Option<String>,
}

/// A request checked and turned into what the engine takes.
struct Checked {
    protocol: Protocol,
    protocol_yaml: String,
    protocol_source: String,
    params: RunParams,
    name: DatasetName,
}

fn check(request: &SimulationRequest) -> Result<Checked, ApiError> {
    let (protocol, protocol_yaml, protocol_source) = match (&request.protocol, &request.protocol_yaml) {
        (Some(name), None) => {
            let b = builtin(name).ok_or_else(|| {
                let names: Vec<&str> = BUILTINS.iter().map(|b| b.name).collect();
                ApiError::invalid(format!("no built-in protocol `{name}` (there are {})", names.join(", ")))
            })?;
            (b.load().map_err(|e| ApiError::internal(e.to_string()))?, b.yaml.to_string(), name.clone())
        }
        (None, Some(yaml)) => {
            let p = Protocol::from_yaml("the protocol sent", yaml)
                .map_err(|e| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_protocol", e.to_string()))?;
            (p, yaml.clone(), "uploaded".to_string())
        }
        _ => return Err(ApiError::invalid("give either `protocol` (a built-in name) or `protocol_yaml`, not both")),
    };
    let recruitment = match (request.patients, request.per_week) {
        (Some(n), None) if (1..=MAX_WEB_PATIENTS).contains(&n) => Recruitment::FixedTotal { patients: n },
        (Some(n), None) => {
            return Err(ApiError::invalid(format!("patients must be 1 to {MAX_WEB_PATIENTS}, not {n}")).with_hint(
                "ask for fewer patients here; an analyst can run larger cohorts on the server's command line",
            ));
        }
        (None, Some(rate)) if rate > 0.0 && rate <= 100_000.0 => Recruitment::ConstantRate { per_week: rate },
        (None, Some(rate)) => {
            return Err(ApiError::invalid(format!("per_week must be more than 0 and at most 100000, not {rate}")));
        }
        _ => return Err(ApiError::invalid("give either `patients` or `per_week`")),
    };
    let years = request.years.unwrap_or(5.0);
    if !(years > 0.0 && years <= 50.0) {
        return Err(ApiError::invalid(format!("years must be more than 0 and at most 50, not {years}")));
    }
    let start: jiff::civil::Date = request
        .start
        .as_deref()
        .unwrap_or("2024-01-01")
        .parse()
        .map_err(|_| ApiError::invalid("start must be a date like 2024-01-01"))?;
    let seed = request.seed.unwrap_or(42);
    let name = match request.name.as_deref().filter(|n| !n.trim().is_empty()) {
        Some(n) => DatasetName::new(n.trim())?,
        None => {
            let who = match recruitment {
                Recruitment::FixedTotal { patients } => format!("{patients}p"),
                Recruitment::ConstantRate { per_week } => format!("{per_week}pw"),
            };
            DatasetName::new(&format!("{}-{who}-{years}y-seed{seed}", protocol.name).replace('.', "_"))?
        }
    };
    Ok(Checked {
        protocol,
        protocol_yaml,
        protocol_source,
        params: RunParams { recruitment, years, seed, start },
        name,
    })
}

/// The estimate of a run, and the name it would get.
#[derive(Debug, Clone, Serialize)]
pub struct EstimateResponse {
    /// The dataset the run would write.
    pub dataset: String,
    /// Rows, disk and time.
    pub estimate: Estimate,
}

/// `POST /api/v1/simulations/estimate`: what a run would take, without running it.
pub async fn estimate_run(Json(request): Json<SimulationRequest>) -> Result<Json<EstimateResponse>, ApiError> {
    let checked = check(&request)?;
    let threads = threads();
    blocking(move || {
        let e = estimate(&checked.protocol, &checked.params, threads, 2_000);
        Ok(Json(EstimateResponse { dataset: checked.name.to_string(), estimate: e }))
    })
    .await
}

fn threads() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
}

/// `POST /api/v1/simulations`: starts a run in the background; answers 202 with its task.
pub async fn start(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Json(request): Json<SimulationRequest>,
) -> Result<(StatusCode, Json<TaskView>), ApiError> {
    let checked = check(&request)?;
    if !who.may_see(checked.name.as_str()) {
        // One answer whether or not a dataset of that name exists: grants do not reveal names.
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "outside_grant",
            format!("`{}` is not among the datasets granted to `{}`", checked.name, who.user),
        )
        .with_hint("name the run after a dataset granted to you, or ask an admin to grant the name"));
    }
    let store = state.store.clone();
    let name = checked.name.clone();
    blocking(move || {
        check_name_free_for_simulation(&store, &name)?;
        if interrupted_run(&store, &name).map_err(job_error)?.is_some() {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "interrupted_run_exists",
                format!("an interrupted run holds `{name}`: resume it, or choose another name"),
            ));
        }
        Ok(())
    })
    .await?;
    let task = claim(&state, "simulate", &checked.name, &who)?;
    let store = state.store.clone();
    state.tasks.spawn(task.clone(), move |task: &Task| {
        let run = RunSpec {
            protocol: &checked.protocol,
            protocol_yaml: &checked.protocol_yaml,
            params: &checked.params,
            shard: Shard::ALL,
        };
        let provenance = Provenance {
            protocol_source: checked.protocol_source.clone(),
            sources: Vec::new(),
            created_by: "web".into(),
            via: "cohort serve".into(),
        };
        let exec = Execution {
            threads: threads(),
            chunk_patients: CHUNK_PATIENTS,
            progress: task,
            cancel: task.cancel_token(),
        };
        finish(&store, &checked.name, run_in_store(&store, &checked.name, run, exec, provenance))
    });
    Ok((StatusCode::ACCEPTED, Json(task.view())))
}

/// Registers a task of `who` for `name`, refusing when one is already writing it (whose number
/// only its owner and admins are told).
fn claim(state: &AppState, kind: &'static str, name: &DatasetName, who: &Principal) -> Result<Arc<Task>, ApiError> {
    if let Some(existing) = state.tasks.active_for(name.as_str()) {
        let view = existing.view();
        let which = if crate::api::tasks::may_see_task(who, &view) {
            format!("task {}", view.id)
        } else {
            "another task".to_string()
        };
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "task_running",
            format!("{which} is already writing `{name}`"),
        ));
    }
    Ok(state.tasks.create(kind, name.as_str(), &who.user))
}

fn finish(
    store: &Store,
    name: &DatasetName,
    outcome: Result<cohort_sim::job::JobOutcome, JobError>,
) -> Result<Option<u32>, (TaskState, String)> {
    match outcome {
        Ok(o) => {
            let version = o.commit.map(|c| c.version());
            if let Some(version) = version {
                cohort_analysis::results::keep_results_of(store, name, version, cohort_sim::job::run_window);
            }
            Ok(version)
        }
        Err(JobError::Run(RunError::Cancelled)) | Err(JobError::Store(StoreError::Cancelled)) => {
            Err((TaskState::Cancelled, "cancelled; the run can be resumed".into()))
        }
        Err(e) => Err((TaskState::Failed, e.to_string())),
    }
}

fn job_error(e: JobError) -> ApiError {
    match e {
        JobError::Store(e) => e.into(),
        JobError::NothingToResume(_) => ApiError::not_found("no_interrupted_run", e.to_string()),
        other => ApiError::internal(other.to_string()),
    }
}

/// A run that stopped before finishing and can be resumed.
#[derive(Debug, Clone, Serialize)]
pub struct InterruptedRun {
    /// The dataset it writes.
    pub dataset: String,
    /// Patients simulated so far.
    pub patients_done: u64,
    /// Its parameters.
    pub params: RunParams,
    /// Whether a task of this server is working on it now.
    pub running: bool,
}

/// `GET /api/v1/simulations/interrupted`: runs that can be resumed, of the datasets `who` may see.
pub async fn interrupted(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
) -> Result<Json<Vec<InterruptedRun>>, ApiError> {
    Ok(Json(interrupted_runs(&state, &who).await?))
}

/// Runs that can be resumed (started here or by `cohort simulate`), of the datasets `who` may see.
pub async fn interrupted_runs(state: &AppState, who: &Principal) -> Result<Vec<InterruptedRun>, ApiError> {
    let store = state.store.clone();
    let runs = blocking(move || {
        let mut runs = Vec::new();
        for (dataset, slot, _) in store.resumable_areas() {
            if slot != cohort_sim::job::RUN_SLOT {
                continue;
            }
            let Ok(name) = DatasetName::new(&dataset) else { continue };
            // A run being written right now holds its staging area; skip what cannot be opened.
            if let Ok(Some(c)) = interrupted_run(&store, &name) {
                runs.push(InterruptedRun { dataset, patients_done: c.patients, params: c.params, running: false });
            }
        }
        Ok(runs)
    })
    .await?;
    Ok(runs
        .into_iter()
        .filter(|r| who.may_see(&r.dataset))
        .map(|mut r| {
            r.running = state.tasks.active_for(&r.dataset).is_some();
            r
        })
        .collect())
}

/// `POST /api/v1/simulations/{name}/resume`: finishes an interrupted run in the background.
pub async fn resume(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(name): Path<String>,
) -> Result<(StatusCode, Json<TaskView>), ApiError> {
    // The access guard has checked the name against the grants, as for any route naming one.
    let name = DatasetName::new(&name)?;
    let task = claim(&state, "resume", &name, &who)?;
    let store = state.store.clone();
    state.tasks.spawn(task.clone(), move |task: &Task| {
        let exec = Execution {
            threads: threads(),
            chunk_patients: CHUNK_PATIENTS,
            progress: task,
            cancel: task.cancel_token(),
        };
        finish(&store, &name, resume_in_store(&store, &name, exec, "web".into(), "cohort serve".into()))
    });
    Ok((StatusCode::ACCEPTED, Json(task.view())))
}

/// A simulation version resolved for analysis: its mount name, horizon and cache key.
struct RunVersion {
    version: cohort_store::ResolvedVersion,
    start: jiff::civil::Date,
    horizon_day: i64,
    content_hash: String,
    /// The validation report kept in the version's provenance (null if none).
    validation: serde_json::Value,
    /// The protocol's name.
    protocol: String,
}

fn resolve_run(state: &AppState, reference: &VersionRef) -> Result<RunVersion, ApiError> {
    let detail = state.detail(reference)?;
    if detail.summary.kind != DatasetKind::Simulation {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "not_a_simulation",
            format!("`{reference}` is a dataset of kind {}, not a simulation run", detail.summary.kind),
        ));
    }
    let shown = detail.shown_info().ok_or_else(|| {
        ApiError::internal(format!("version {} of `{reference}` is missing from its list", detail.shown.version))
    })?;
    let (start, horizon_day) = cohort_sim::job::run_window(&shown.provenance).ok_or_else(|| {
        ApiError::internal(format!("version {} of `{reference}` does not record its start and years", shown.version))
    })?;
    Ok(RunVersion {
        start,
        horizon_day,
        content_hash: shown.content_hash.clone(),
        version: detail.shown.clone(),
        validation: shown.provenance.get("validation").cloned().unwrap_or(serde_json::Value::Null),
        protocol: shown.provenance["protocol"].as_str().unwrap_or_default().to_string(),
    })
}

/// `GET /api/v1/simulations/{name}/results`: every aggregate of the results page (computed once
/// per version, then served from memory).
pub async fn results(State(state): State<AppState>, Path(name): Path<String>) -> Result<Response, ApiError> {
    let results = run_results_cached(&state, &name).await?;
    // Serialised from the cached value, not from a copy of it.
    let body = serde_json::to_vec(&*results).map_err(|e| ApiError::internal(e.to_string()))?;
    Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
}
/// The results of run `reference`, from the cache or computed now.
pub async fn run_results_cached(state: &AppState, reference: &str) -> Result<Arc<serde_json::Value>, ApiError> {
    let reference = VersionRef::parse(reference)?;
    let store = state.store.clone();
    let app = state.clone();
    state
        .engines
        .run(move || {
            let run = resolve_run(&app, &reference)?;
            let key = format!("results:{}", run.content_hash);
            if let Some(hit) = app.results.get(&key) {
                return Ok(hit);
            }
            // Kept with the store when the run was committed (or by an earlier request).
            let mut value = cohort_analysis::results::kept_run_results(
                &store,
                &run.version,
                &run.content_hash,
                run.start,
                run.horizon_day,
            )?;
            value["dataset"] = run.version.dataset.to_string().into();
            value["version"] = run.version.version.into();
            value["horizon_day"] = run.horizon_day.into();
            // The protocol's evidence, as kept with the run when it was committed (none for runs
            // made before runs kept it).
            value["validation"] = run.validation.clone();
            value["protocol"] = run.protocol.clone().into();
            let value = Arc::new(value);
            app.results.keep(key, value.clone());
            Ok(value)
        })
        .await
}

/// `GET /api/v1/simulations/{name}/patients/{id}`: one patient's timeline.
pub async fn patient(
    State(state): State<AppState>,
    Path((name, patient_id)): Path<(String, String)>,
) -> Result<(axum::Extension<crate::access::Served>, Json<Timeline>), ApiError> {
    let patient_id: i64 = patient_id
        .parse()
        .map_err(|_| ApiError::invalid(format!("a patient id is a whole number, not `{patient_id}`")))?;
    let reference = VersionRef::parse(&name)?;
    let store = state.store.clone();
    let app = state.clone();
    state
        .engines
        .run(move || {
            let run = resolve_run(&app, &reference)?;
            let mut session = Session::new(&store)?;
            session.mount(&store, &run.version, "run")?;
            let timeline = patient_timeline(&session, "run", patient_id)?.ok_or_else(|| {
                ApiError::not_found("patient_not_found", format!("`{reference}` has no patient {patient_id}"))
            })?;
            let served = crate::access::Served::version(&run.version, Some(timeline.visits.len() as u64));
            Ok((axum::Extension(served), Json(timeline)))
        })
        .await
}
