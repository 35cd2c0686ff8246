//! Tasks: list, one task, its progress as server-sent events, and cancelling it.

use std::convert::Infallible;
use std::time::Duration;

use axum::Json;
use axum::extract::{Extension, Path, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use cohort_auth::{Principal, Role};
use futures::Stream;

use crate::error::ApiError;
use crate::state::AppState;
use crate::tasks::{Task, TaskView};

/// Whether `who` may see, follow and cancel the task `view`: its owner and admins.
pub fn may_see_task(who: &Principal, view: &TaskView) -> bool {
    who.has(Role::Admin) || view.owner == who.user
}

/// `GET /api/v1/tasks`: the tasks of this server's life that `who` started (every task, for an
/// admin), newest first.
pub async fn list(State(state): State<AppState>, Extension(who): Extension<Principal>) -> Json<Vec<TaskView>> {
    Json(state.tasks.list().into_iter().filter(|v| may_see_task(&who, v)).collect())
}

/// Task `id`, if `who` may see it; another's task reads exactly like one that does not exist.
fn find(state: &AppState, id: &str, who: &Principal) -> Result<std::sync::Arc<Task>, ApiError> {
    let number: u64 = id.parse().map_err(|_| ApiError::invalid(format!("a task id is a whole number, not `{id}`")))?;
    state.tasks.get(number).filter(|t| may_see_task(who, &t.view())).ok_or_else(|| {
        ApiError::not_found("task_not_found", format!("there is no task {number} (tasks last as long as the server)"))
    })
}

/// `GET /api/v1/tasks/{id}`.
pub async fn get(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Json<TaskView>, ApiError> {
    Ok(Json(find(&state, &id, &who)?.view()))
}

/// `GET /api/v1/tasks/{id}/events`: server-sent events, one `progress` event with the task's view
/// now and after every change (coalesced, at most 10 a second), ending with the finished state.
pub async fn events(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let task = find(&state, &id, &who)?;
    let receiver = task.subscribe();
    let stream = futures::stream::unfold((receiver, true, false), |(mut rx, first, ended)| async move {
        if ended {
            return None;
        }
        if !first {
            tokio::time::sleep(Duration::from_millis(100)).await;
            if rx.changed().await.is_err() {
                return None;
            }
        }
        let view = rx.borrow_and_update().clone();
        let event = Event::default().event("progress").json_data(&view).unwrap_or_else(|_| Event::default());
        Some((Ok(event), (rx, false, view.state.is_finished())))
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}

/// `POST /api/v1/tasks/{id}/cancel`: asks the task to stop; a simulation stops at its next
/// chunk and stays resumable.
pub async fn cancel(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Json<TaskView>, ApiError> {
    let task = find(&state, &id, &who)?;
    task.cancel();
    Ok(Json(task.view()))
}
