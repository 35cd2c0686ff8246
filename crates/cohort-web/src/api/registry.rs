//! `/api/v1/datasets/{name}/registry...`: a registry's figures for a cohort chosen by filters,
//! one site against all others, saved cohorts, and each summary table as CSV. The page
//! `/datasets/{name}/registry` shows the same figures.
//!
//! A cohort is chosen with repeated `filter` parameters (`filter=diagnosis%3DDMD&filter=age%3D10..`,
//! the syntax of `cohort registry --filter`), from a saved `cohort`, or both. Site names reach
//! admins and analysts granted them for the dataset (`cohort user site-names`); everyone else
//! sees `Site N` labels, and filters by them.

use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::extract::{Extension, Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use cohort_auth::Principal;
use cohort_registry::{Dashboard, SiteNames};
use cohort_store::{DatasetName, ResolvedVersion, SavedCohort, VersionRef};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::access::Served;
use crate::error::ApiError;
use crate::state::AppState;

/// What a registry request asks for, from its query string.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RegistryQuery {
    /// Filters, as written.
    pub filters: Vec<String>,
    /// A saved cohort to start from.
    pub cohort: Option<String>,
    /// A site (name or label) to compare with all the others.
    pub site: Option<String>,
    /// The columns enrolment over time is broken down by (`all`: each it can be).
    pub by: Vec<String>,
}

impl RegistryQuery {
    /// Reads `filter` (repeatable), `cohort` and `site`; the page's form fields `f.COLUMN`
    /// (checked values), `from.COLUMN` / `to.COLUMN` (a range) and `has` (domains) become
    /// filters too.
    pub fn from_pairs(pairs: &[(String, String)]) -> Result<RegistryQuery, ApiError> {
        let mut query = RegistryQuery::default();
        let mut checked: Vec<(String, Vec<String>)> = Vec::new();
        let mut ranges: Vec<(String, Option<String>, Option<String>)> = Vec::new();
        for (key, value) in pairs {
            let value = value.trim();
            if value.is_empty() {
                continue;
            }
            if let Some(column) = key.strip_prefix("f.") {
                match checked.iter_mut().find(|(c, _)| c == column) {
                    Some((_, values)) => values.push(value.to_string()),
                    None => checked.push((column.to_string(), vec![value.to_string()])),
                }
                continue;
            }
            let range = |ranges: &mut Vec<(String, Option<String>, Option<String>)>, column: &str| {
                if !ranges.iter().any(|(c, ..)| c == column) {
                    ranges.push((column.to_string(), None, None));
                }
                ranges.len() - 1 - ranges.iter().rev().position(|(c, ..)| c == column).expect("just added")
            };
            if let Some(column) = key.strip_prefix("from.") {
                let i = range(&mut ranges, column);
                ranges[i].1 = Some(value.to_string());
                continue;
            }
            if let Some(column) = key.strip_prefix("to.") {
                let i = range(&mut ranges, column);
                ranges[i].2 = Some(value.to_string());
                continue;
            }
            match key.as_str() {
                "filter" => query.filters.push(value.to_string()),
                "has" => query.filters.push(format!("has:{value}")),
                "cohort" => query.cohort = Some(value.to_string()),
                "site" => query.site = Some(value.to_string()),
                "by" => query.by.push(value.to_string()),
                other => {
                    return Err(ApiError::invalid(format!(
                        "unknown parameter `{other}` (use filter, cohort, site, by, f.COLUMN, from.COLUMN, to.COLUMN, has)"
                    )));
                }
            }
        }
        for (column, values) in checked {
            query.filters.push(format!("{column}={}", values.join(",")));
        }
        for (column, from, to) in ranges {
            query.filters.push(format!("{column}={}..{}", from.unwrap_or_default(), to.unwrap_or_default()));
        }
        Ok(query)
    }
}

/// A saved cohort's origin, as shown beside its figures.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CohortOrigin {
    /// Its name.
    pub name: String,
    /// Its filters.
    pub filters: Vec<String>,
    /// Who made it.
    pub made_by: String,
    /// The version it was made on.
    pub made_on_version: u32,
    /// The version these figures are computed on.
    pub computed_on_version: u32,
}

/// One site against all the others.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Comparison {
    /// The site, as the reader names it.
    pub site: String,
    /// The cohort at that site.
    pub at_site: Dashboard,
    /// The cohort at every other site.
    pub others: Dashboard,
}

/// What `GET /api/v1/datasets/{name}/registry` answers.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RegistryView {
    /// The saved cohort the filters started from.
    pub cohort: Option<CohortOrigin>,
    /// `shown` or `anonymous`: how sites are named to this reader.
    pub site_names: &'static str,
    /// The cohort's figures.
    pub registry: Dashboard,
    /// One site against all others, when `site` was given.
    pub comparison: Option<Comparison>,
    /// The dataset's saved cohorts.
    pub saved: Vec<SavedCohort>,
}

/// Computes the registry view of `reference` for `who` on engine `conn` (blocking: runs DuckDB).
pub fn compute_view(
    conn: &duckdb::Connection,
    state: &AppState,
    who: &Principal,
    reference: &str,
    query: &RegistryQuery,
) -> Result<(ResolvedVersion, Arc<RegistryView>), ApiError> {
    let version = state.resolve(&VersionRef::parse(reference)?)?;
    let dataset = version.dataset.clone();
    let (kept, profile) = cohort_registry::kept_profile(&state.store, &dataset)?;
    let names = if who.may_see_site_names(dataset.as_str()) { SiteNames::Shown } else { SiteNames::Anonymous };
    let saved = state.store.saved_cohorts(&dataset)?;
    let mut filters = Vec::new();
    let mut origin = None;
    if let Some(name) = &query.cohort {
        let found = cohort_registry::find_cohort(&saved, dataset.as_str(), name)?;
        filters.extend(found.filters.iter().cloned());
        origin = Some(CohortOrigin {
            name: found.name.clone(),
            filters: found.filters.clone(),
            made_by: found.made_by.clone(),
            made_on_version: found.version,
            computed_on_version: version.version,
        });
    }
    filters.extend(query.filters.iter().cloned());
    let key = serde_json::to_string(&json!([
        version.dataset.as_str(),
        version.version,
        version.tables.iter().map(|t| &t.sha256).collect::<Vec<_>>(),
        kept.text,
        filters,
        query.site,
        query.by,
        names == SiteNames::Shown,
        saved,
        origin,
    ]))
    .expect("a key serialises");
    if let Some(view) = state.registry_views.get(&key) {
        return Ok((version, view));
    }
    let compute = |filters: &[String]| {
        cohort_registry::dashboard::compute_on(conn, &state.store, &version, &profile, filters, names, &query.by)
            .map_err(ApiError::from)
    };
    let registry = compute(&filters)?;
    let comparison = match (&query.site, &profile.site) {
        (Some(site), Some(column)) => {
            let with = |op: &str| {
                let mut f = filters.clone();
                f.push(format!("{column}{op}{site}"));
                f
            };
            Some(Comparison { site: site.clone(), at_site: compute(&with("="))?, others: compute(&with("!="))? })
        }
        (Some(_), None) => return Err(ApiError::invalid("the registry's profile names no site column to compare by")),
        (None, _) => None,
    };
    let view = Arc::new(RegistryView {
        cohort: origin,
        site_names: if names == SiteNames::Shown { "shown" } else { "anonymous" },
        registry,
        comparison,
        saved,
    });
    state.registry_views.keep(key, view.clone());
    Ok((version, view))
}

fn served(version: &ResolvedVersion, query: &RegistryQuery) -> Served {
    let mut asked = query.filters.join(" ");
    if let Some(c) = &query.cohort {
        asked = format!("cohort {c} {asked}");
    }
    if let Some(s) = &query.site {
        asked = format!("{asked} site {s}");
    }
    Served { rows: None, datasets: vec![version.label()], asked: Some(asked.trim().to_string()) }
}

/// `GET /api/v1/datasets/{name}/registry`.
pub async fn view(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(name): Path<String>,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Result<(Extension<Served>, Json<Value>), ApiError> {
    let query = RegistryQuery::from_pairs(&pairs)?;
    let app = state.clone();
    let (version, view, query) = state
        .engines
        .run_warm(&state.store, move |conn| {
            let (version, view) = compute_view(conn, &app, &who, &name, &query)?;
            Ok((version, view, query))
        })
        .await?;
    let served = served(&version, &query);
    Ok((Extension(served), Json(serde_json::to_value(&*view).expect("a view serialises"))))
}

/// `GET /api/v1/datasets/{name}/registry/cohorts`.
pub async fn cohorts(State(state): State<AppState>, Path(name): Path<String>) -> Result<Json<Value>, ApiError> {
    let dataset = DatasetName::new(&name)?;
    let store = state.store.clone();
    let saved = crate::error::blocking(move || Ok(store.saved_cohorts(&dataset)?)).await?;
    Ok(Json(json!({ "dataset": name, "cohorts": saved })))
}

/// A cohort to save.
#[derive(Debug, Deserialize)]
pub struct SaveCohort {
    /// Its name: lowercase letters, digits, `-`, `_`.
    pub name: String,
    /// Its filters.
    pub filters: Vec<String>,
}

/// `POST /api/v1/datasets/{name}/registry/cohorts`: saves a cohort (replacing one of that name),
/// once its filters are checked against the current version.
pub async fn save(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(name): Path<String>,
    Json(request): Json<SaveCohort>,
) -> Result<(StatusCode, Extension<Served>, Json<Value>), ApiError> {
    cohort_registry::check_cohort_name(&request.name)?;
    let app = state.clone();
    let (version, participants) = state
        .engines
        .run_warm(&state.store, move |conn| {
            let query = RegistryQuery { filters: request.filters.clone(), ..Default::default() };
            let (version, view) = compute_view(conn, &app, &who, &name, &query)?;
            let cohort = SavedCohort {
                name: request.name.clone(),
                filters: request.filters,
                version: version.version,
                made_by: format!("web:{}", who.user),
                made_at: jiff::Timestamp::now(),
            };
            app.store.save_cohort(&version.dataset, &cohort)?;
            Ok((version, (request.name, view.registry.participants)))
        })
        .await?;
    let served =
        Served { rows: None, datasets: vec![version.label()], asked: Some(format!("save cohort {}", participants.0)) };
    Ok((
        StatusCode::CREATED,
        Extension(served),
        Json(json!({"name": participants.0, "participants": participants.1, "version": version.version})),
    ))
}

/// `DELETE /api/v1/datasets/{name}/registry/cohorts/{cohort}`.
pub async fn remove(
    State(state): State<AppState>,
    Path((name, cohort)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let dataset = DatasetName::new(&name)?;
    let store = state.store.clone();
    let existed = crate::error::blocking(move || Ok(store.remove_cohort(&dataset, &cohort)?)).await?;
    Ok(if existed { StatusCode::NO_CONTENT } else { StatusCode::NOT_FOUND })
}

/// `GET /api/v1/datasets/{name}/registry/tables/{id}`: one summary table of the cohort as CSV
/// (`key,participants`), the numeric summaries (`numeric`), or the dictionary (`dictionary`);
/// `GET .../registry/tables/dashboard` is the whole view as one JSON file.
pub async fn download(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path((name, id)): Path<(String, String)>,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Result<(Extension<Served>, Response), ApiError> {
    let mut query = RegistryQuery::from_pairs(&pairs)?;
    // A breakdown of enrolment is computed when asked for: its download asks for it.
    if let Some(column) = cohort_publish::compute::enrolment_breakdown_column(&id)
        && !query.by.iter().any(|b| b == column || b == "all")
    {
        query.by.push(column.to_string());
    }
    let app = state.clone();
    let asked = query.clone();
    let (version, view) =
        state.engines.run_warm(&state.store, move |conn| compute_view(conn, &app, &who, &name, &query)).await?;
    let d = &view.registry;
    let stem = format!("{}-v{}-{id}", d.dataset, d.version);
    let (body, file, kind) = if id == "dashboard" {
        let text = serde_json::to_vec_pretty(&*view).expect("a view serialises");
        (text, format!("{stem}.json"), "application/json")
    } else {
        let mut csv = String::new();
        let line = |cells: &[String]| cells.iter().map(|c| csv_cell(c)).collect::<Vec<_>>().join(",") + "\n";
        if id == "numeric" {
            csv.push_str("measure,lower_quartile,median,upper_quartile\n");
            let n = |x: Option<f64>| x.map(|x| x.to_string()).unwrap_or_default();
            for s in &d.numeric {
                csv.push_str(&line(&[s.column.clone(), n(s.q1), n(s.median), n(s.q3)]));
            }
        } else if id == "dictionary" {
            csv.push_str(
                "table,column,domain,label,kind,sql_type,required,codes,completeness,completeness_all,concerns\n",
            );
            let share = |x: Option<f64>| x.map(|c| c.to_string()).unwrap_or_default();
            for e in &d.dictionary {
                let cells = [
                    e.table.clone(),
                    e.column.clone(),
                    e.domain.clone().unwrap_or_default(),
                    e.label.clone().unwrap_or_default(),
                    e.kind.clone(),
                    e.sql_type.clone().unwrap_or_default(),
                    if e.required { "yes".into() } else { String::new() },
                    e.codes.clone().unwrap_or_default(),
                    share(e.completeness),
                    share(e.completeness_all),
                    e.concerns.join("; "),
                ];
                csv.push_str(&line(&cells));
            }
        } else if let Some(b) = d.breakdowns.iter().find(|b| b.id == id) {
            let mut header = vec![b.rows_are.clone()];
            header.extend(b.columns.iter().cloned());
            csv.push_str(&line(&header));
            for (row, counts) in b.rows.iter().zip(&b.counts) {
                let mut cells = vec![row.clone()];
                cells.extend(counts.iter().map(|n| n.to_string()));
                csv.push_str(&line(&cells));
            }
        } else {
            let table = d.tables.iter().find(|t| t.id == id).ok_or_else(|| {
                let ids: Vec<&str> =
                    d.tables.iter().map(|t| t.id.as_str()).chain(d.breakdowns.iter().map(|b| b.id.as_str())).collect();
                ApiError::not_found(
                    "no_such_table",
                    format!(
                        "the registry has no summary table `{id}` (it has: {}, numeric, dictionary, dashboard)",
                        ids.join(", ")
                    ),
                )
            })?;
            csv.push_str(&format!("{},participants\n", csv_cell(&table.dimension)));
            for c in &table.cells {
                csv.push_str(&line(&[c.key.clone(), c.count.map(|n| n.to_string()).unwrap_or_default()]));
            }
        }
        (csv.into_bytes(), format!("{stem}.csv"), "text/csv; charset=utf-8")
    };
    let mut response = Response::new(Body::from(body));
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{file}\"")) {
        response.headers_mut().insert(header::CONTENT_DISPOSITION, v);
    }
    let mut served = served(&version, &asked);
    served.asked = Some(format!("{id} {}", served.asked.unwrap_or_default()).trim().to_string());
    Ok((Extension(served), response.into_response()))
}

/// A CSV cell, quoted when it must be (and a leading `=`, `+`, `-`, `@` kept from spreadsheets'
/// formulas by a `'`).
fn csv_cell(text: &str) -> String {
    let text = if text.starts_with(['=', '+', '@']) || (text.starts_with('-') && text.parse::<f64>().is_err()) {
        format!("'{text}")
    } else {
        text.to_string()
    };
    if text.contains([',', '"', '\n', '\r']) { format!("\"{}\"", text.replace('"', "\"\"")) } else { text }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_fields_become_filters() {
        let pairs: Vec<(String, String)> = [
            ("f.diagnosis", "DMD"),
            ("f.diagnosis", "BMD"),
            ("from.age", "10"),
            ("to.age", ""),
            ("has", "imaging"),
            ("filter", "sex!=F"),
            ("cohort", "x"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let q = RegistryQuery::from_pairs(&pairs).unwrap();
        assert_eq!(q.filters, ["has:imaging", "sex!=F", "diagnosis=DMD,BMD", "age=10.."]);
        assert_eq!(q.cohort.as_deref(), Some("x"));
        assert!(RegistryQuery::from_pairs(&[("nope".into(), "1".into())]).is_err());
        assert_eq!(csv_cell("=1+1"), "'=1+1");
        assert_eq!(csv_cell("a,b"), "\"a,b\"");
        assert_eq!(csv_cell("-3"), "-3");
    }
}
