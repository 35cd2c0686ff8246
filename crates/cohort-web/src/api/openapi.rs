//! `GET /api/v1/openapi.json`: an OpenAPI 3.1 description of every route, written out here so that
//! it reads as documentation; a test checks that it and the router agree.

use axum::Json;
use serde_json::{Value, json};

/// Every route: `(method, path, summary)`. The router in [`super::routes`] must have
/// exactly these.
pub const ROUTES: &[(&str, &str, &str)] = &[
    ("get", "/openapi.json", "This description."),
    ("get", "/status", "The store's size, the server's memory against its limit, and recent changes."),
    ("get", "/datasets", "Every dataset, most recently changed first."),
    ("get", "/datasets/{name}", "A dataset (`NAME` or `NAME@N`): tables, columns with their dictionary, versions."),
    (
        "get",
        "/datasets/{name}/tables/{table}/rows",
        "A page of a table: `offset`, `limit` (at most 1000), `sort`, `order` (asc|desc), and \
         `filter.COLUMN` (`>5`, `<=3`, `=2`, `!=x`, or text to look for).",
    ),
    (
        "get",
        "/datasets/{name}/tables/{table}/dictionary",
        "A table's data dictionary: type, role, label, completeness %, distinct values, range.",
    ),
    (
        "get",
        "/datasets/{name}/tables/{table}/columns/{column}",
        "A column's summary chart data: a histogram, counts per month, or the most frequent values \
         (identifiers: only counts).",
    ),
    (
        "get",
        "/datasets/{name}/tables/{table}/download",
        "The whole table (with the same filters and sort as rows) as `format=csv`, `format=parquet` or `format=xlsx`.",
    ),
    (
        "get",
        "/datasets/{name}/export",
        "The dataset de-identified under export profile `profile=NAME` (one of the store's `export-profiles/`; \
         `full`, as stored, needs the admin role), as a ZIP of `format=csv` or `format=parquet` files with the profile; \
         `cohort=NAME` exports a registry's saved cohort (its participants and their visits).",
    ),
    ("post", "/datasets/{name}/rollback", "Make version `{\"version\": N}` current again."),
    (
        "post",
        "/datasets/{name}/analyses",
        "Run an analysis plan on the dataset: `analysis` ({\"type\": describe|compare|correlate|linear|logistic|\
         survival|cox, ...variables}), optional `version`, `table`, `filters` ([{column, op, value}]), `alpha`, \
         `unified`, `cohort` (a registry's saved cohort: its participants' rows only). \
         Answers the result with the plan as run, the version and its content hash, rows used and dropped, the \
         methods and warnings; the same plan on the same version gives the same bytes.",
    ),
    ("get", "/datasets/{name}/analyses", "The analyses run on the dataset, newest first (`limit`, default 50)."),
    (
        "post",
        "/datasets/{name}/ask",
        "A question in words (`question`, optional `version`, `table`, or `unified: true` for the one-row-per-participant \
         view) understood as a plan, with how each word was read, or a question back with choices when it could be \
         read two ways. Runs nothing; no SQL is made from it.",
    ),
    (
        "get",
        "/datasets/{name}/registry",
        "A registry's figures for a cohort: repeated `filter` (`sex=F`, `diagnosis=DMD,BMD`, `sex!=F`, `age=10..20`, \
         `has:DOMAIN`), a saved `cohort`, and `site` to compare one site with all others. Counts by category, region, \
         site and month, measures, visits, time between visits, years followed, retention, availability, \
         `breakdowns` (enrolment cumulative and by each category and region; sites by region, size band and year), \
         the dictionary by domain (completeness in the cohort and in all, required columns, codes, concerns), and \
         each filter column's values under the other filters. Site names only for admins and analysts granted them.",
    ),
    (
        "get",
        "/datasets/{name}/registry/cohorts",
        "The registry's saved cohorts: name, filters, made by, made on version.",
    ),
    (
        "post",
        "/datasets/{name}/registry/cohorts",
        "Save `{\"name\", \"filters\": [...]}` as a named cohort of the registry (replacing one of that name).",
    ),
    ("delete", "/datasets/{name}/registry/cohorts/{cohort}", "Remove a saved cohort."),
    (
        "get",
        "/datasets/{name}/registry/tables/{id}",
        "One summary table or breakdown of the cohort (same parameters as the registry view) as CSV; `numeric` and \
         `dictionary` too, and `dashboard` for the whole view as one JSON file. Audited.",
    ),
    ("get", "/protocols", "The built-in treatment protocols with their YAML."),
    (
        "post",
        "/simulations",
        "Start a run: `protocol` or `protocol_yaml`, `patients` or `per_week`, `years`, `seed`, `start`, \
         `name`. Answers 202 with the task.",
    ),
    ("post", "/simulations/estimate", "Rows, disk and time a run would take, and its dataset name."),
    ("get", "/simulations/interrupted", "Runs that stopped before finishing and can be resumed."),
    ("post", "/simulations/{name}/resume", "Finish an interrupted run. Answers 202 with the task."),
    (
        "get",
        "/simulations/{name}/results",
        "Every aggregate of a run's results page: cohort flow, vision, discontinuation, burden.",
    ),
    ("get", "/simulations/{name}/patients/{id}", "One patient's timeline."),
    ("post", "/uploads", "Start an upload; answers 201 with its id and the largest file it accepts."),
    (
        "put",
        "/uploads/{id}/files/{file}",
        "One file of the upload, as the raw request body (any format `cohort ingest` reads), streamed to disk; 413 past \
         the limit.",
    ),
    (
        "post",
        "/uploads/{id}/ingest",
        "Ingest the upload's files as one version of `{\"name\": ...}` (one table per file); answers the ingest report.",
    ),
    (
        "post",
        "/query",
        "Run one read-only SELECT (`sql`, `offset`, `limit` up to 1000) over the store, with a 30 s limit; \
         it cannot read files, attach, install or change settings. Recorded in the history.",
    ),
    ("get", "/query/history", "The console's runs, newest first (`limit`, default 100)."),
    (
        "get",
        "/query/download",
        "A console query's whole result as a file: `sql`, and `format=csv` (default), `format=parquet` or `format=xlsx`.",
    ),
    ("get", "/me", "Who the request runs as: account, role, how it proved it, dataset grants."),
    ("get", "/users", "Every account with its role, grants and API tokens (never secrets). Admins."),
    (
        "get",
        "/audit",
        "Audit log entries, newest first: `user`, `dataset`, `since` (date or timestamp), `action`, `limit` \
         (default 200). Admins.",
    ),
    ("get", "/audit/verify", "Checks the audit log's hash chain and head. Admins."),
    ("get", "/tasks", "Every task of this server's life, newest first."),
    ("get", "/tasks/{id}", "One task."),
    ("get", "/tasks/{id}/events", "Server-sent `progress` events with the task's state until it ends."),
    ("post", "/tasks/{id}/cancel", "Stop a task; a simulation stays resumable."),
];

/// The OpenAPI document.
pub fn openapi() -> Value {
    let error = json!({
        "description": "An error",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    });
    let mut paths = serde_json::Map::new();
    for (method, path, summary) in ROUTES {
        let parameters: Vec<Value> = path
            .split('/')
            .filter_map(|segment| segment.strip_prefix('{')?.strip_suffix('}'))
            .map(|name| json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}}))
            .collect();
        let ok = if path.ends_with("/events") {
            json!({"description": "A stream of server-sent events", "content": {"text/event-stream": {}}})
        } else if path.ends_with("/download") {
            json!({"description": "The file", "content": {
                "text/csv": {},
                "application/vnd.apache.parquet": {},
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": {}
            }})
        } else if path.ends_with("/export") {
            json!({"description": "A ZIP of the de-identified tables", "content": {"application/zip": {}}})
        } else {
            json!({"description": "OK", "content": {"application/json": {}}})
        };
        let rule = crate::access::policy::policy(
            &method.to_uppercase().parse().expect("a method"),
            Some(&format!("/api/v1{path}")),
        );
        let role = match rule.need {
            crate::access::policy::Need::Anyone => "public",
            crate::access::policy::Need::Role(r) => r.as_str(),
        };
        let entry = paths.entry(path.to_string()).or_insert_with(|| json!({}));
        entry[*method] = json!({
            "summary": summary,
            "parameters": parameters,
            "x-cohort-role": role,
            "x-cohort-audited": rule.audit.is_some(),
            "security": [{"session": []}, {"token": []}],
            "responses": {"200": ok, "400": error, "401": error, "403": error, "404": error}
        });
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "cohort",
            "version": cohort_store::VERSION,
            "description": "The JSON API of `cohort serve`. Simulation results are aggregates only."
        },
        "servers": [{"url": "/api/v1"}],
        "paths": paths,
        "components": {
          "securitySchemes": {
            "token": {"type": "http", "scheme": "bearer", "description": "An API token from `cohort user token add`"},
            "session": {"type": "apiKey", "in": "cookie", "name": "cohort_session",
                        "description": "A browser session from /login; state-changing requests also need X-CSRF-Token"}
          },
          "schemas": {"Error": {
            "type": "object",
            "properties": {"error": {"type": "object", "required": ["code", "message"], "properties": {
                "code": {"type": "string", "description": "Stable, for scripts"},
                "message": {"type": "string"},
                "hint": {"type": "string"}
            }}}
        }}}
    })
}

/// `GET /api/v1/openapi.json`.
pub async fn document() -> Json<Value> {
    Json(openapi())
}
