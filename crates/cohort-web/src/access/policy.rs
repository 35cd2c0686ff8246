//! Who may call each route, and which calls the audit log records: one table for the whole
//! app, so a new route is denied to all but admins until it is placed here (and the crawler
//! test, which visits every route in the OpenAPI document and the page list, notices).

use axum::http::Method;
use cohort_auth::Role;

/// What a route needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// Anyone, logged in or not (the login page, assets).
    Anyone,
    /// At least this role.
    Role(Role),
}

/// A route's rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// Who may call it.
    pub need: Need,
    /// The audit action, for participant-level reads and every change; `None`: not recorded.
    pub audit: Option<&'static str>,
}

const fn open() -> Policy {
    Policy { need: Need::Anyone, audit: None }
}

const fn role(role: Role) -> Policy {
    Policy { need: Need::Role(role), audit: None }
}

const fn audited(role: Role, action: &'static str) -> Policy {
    Policy { need: Need::Role(role), audit: Some(action) }
}

/// The rule for `method` on the route pattern `route` (axum's matched path, such as
/// `/api/v1/datasets/{name}`); `None` when no route matched (a 404 follows).
pub fn policy(method: &Method, route: Option<&str>) -> Policy {
    use Role::{Admin, Analyst, Viewer};
    let Some(route) = route else { return open() };
    let get = method == Method::GET || method == Method::HEAD;
    match (get, route) {
        // Their handlers record them: only they know the name tried and how it went.
        (_, "/login") | (false, "/logout") => open(),
        (true, "/assets/{file}") => open(),

        // Aggregates and metadata without values.
        (true, "/") | (true, "/compare") | (true, "/simulations/{name}") => role(Viewer),
        (true, "/api/v1/openapi.json")
        | (true, "/api/v1/status")
        | (true, "/api/v1/me")
        | (true, "/api/v1/datasets")
        | (true, "/api/v1/protocols")
        | (true, "/api/v1/simulations/{name}/results") => role(Viewer),

        // Participant-level: values, rows, queries, timelines, downloads.
        (true, "/datasets/{name}") => audited(Analyst, "dataset.page"),
        (true, "/datasets/{name}/analyze") => audited(Analyst, "analyze.page"),
        (true, "/query") => audited(Analyst, "query.page"),
        (true, "/api/v1/datasets/{name}") => audited(Analyst, "dataset.detail"),
        (true, "/api/v1/datasets/{name}/tables/{table}/rows") => audited(Analyst, "dataset.rows"),
        (true, "/api/v1/datasets/{name}/tables/{table}/dictionary") => audited(Analyst, "dataset.dictionary"),
        (true, "/api/v1/datasets/{name}/tables/{table}/columns/{column}") => audited(Analyst, "dataset.column"),
        (true, "/api/v1/datasets/{name}/tables/{table}/download") => audited(Analyst, "table.download"),
        // De-identified under a named profile; the handler refuses `full` to all but admins.
        (true, "/api/v1/datasets/{name}/export") => audited(Analyst, "dataset.export"),
        (false, "/api/v1/query") => audited(Analyst, "query"),
        (true, "/api/v1/query/history") => audited(Analyst, "query.history"),
        (true, "/api/v1/query/download") => audited(Analyst, "query.download"),
        (true, "/api/v1/simulations/{name}/patients/{id}") => audited(Analyst, "simulation.patient"),
        // Statistics read participant-level rows, though only aggregates leave.
        (false, "/api/v1/datasets/{name}/analyses") => audited(Analyst, "dataset.analysis"),
        (true, "/api/v1/datasets/{name}/analyses") => audited(Analyst, "dataset.analyses"),
        // A registry's figures of a cohort: aggregates, but of any cohort an analyst chooses.
        (true, "/api/v1/datasets/{name}/registry") => audited(Analyst, "registry.view"),
        (true, "/datasets/{name}/registry") => audited(Analyst, "registry.page"),
        (true, "/api/v1/datasets/{name}/registry/tables/{id}") => audited(Analyst, "registry.download"),
        (true, "/api/v1/datasets/{name}/registry/cohorts") => role(Analyst),
        (false, "/api/v1/datasets/{name}/registry/cohorts") => audited(Analyst, "registry.cohort.save"),
        (false, "/api/v1/datasets/{name}/registry/cohorts/{cohort}") => audited(Analyst, "registry.cohort.remove"),
        // Reads the dictionary (ranges, code lists) to match words to columns.
        (false, "/api/v1/datasets/{name}/ask") => audited(Analyst, "dataset.ask"),

        // Simulations: synthetic data, run by analysts.
        (true, "/simulate") | (true, "/api/v1/simulations/interrupted") => role(Analyst),
        (true, "/api/v1/tasks") | (true, "/api/v1/tasks/{id}") | (true, "/api/v1/tasks/{id}/events") => role(Analyst),
        (false, "/api/v1/simulations/estimate") => role(Analyst),
        (false, "/api/v1/simulations") => audited(Analyst, "simulation.start"),
        (false, "/api/v1/simulations/{name}/resume") => audited(Analyst, "simulation.resume"),
        (false, "/api/v1/tasks/{id}/cancel") => audited(Analyst, "task.cancel"),

        // Administration.
        (true, "/upload") => role(Admin),
        (false, "/api/v1/uploads") => audited(Admin, "upload.create"),
        (false, "/api/v1/uploads/{id}/files/{file}") => audited(Admin, "upload.file"),
        (false, "/api/v1/uploads/{id}/ingest") => audited(Admin, "upload.ingest"),
        (false, "/api/v1/datasets/{name}/rollback") => audited(Admin, "dataset.rollback"),
        (true, "/admin/users") | (true, "/api/v1/users") => audited(Admin, "users.read"),
        (true, "/admin/audit") | (true, "/api/v1/audit") => audited(Admin, "audit.read"),
        (true, "/api/v1/audit/verify") => audited(Admin, "audit.verify"),

        // Anything not placed above: admins only, and recorded.
        _ => audited(Admin, "unclassified"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_routes_are_admin_only_and_audited() {
        let p = policy(&Method::GET, Some("/api/v1/something-new"));
        assert_eq!(p, Policy { need: Need::Role(Role::Admin), audit: Some("unclassified") });
        assert_eq!(policy(&Method::DELETE, Some("/api/v1/datasets/{name}")).need, Need::Role(Role::Admin));
        assert_eq!(policy(&Method::GET, None), Policy { need: Need::Anyone, audit: None });
    }
}
