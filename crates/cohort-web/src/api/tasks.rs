//! Tasks: list, one task, its progress as server-sent events, and cancelling it.

use std::convert::Infallible;
use std::time::Duration;

use axum::Json;
use axum::extract::{Path, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use futures::Stream;

use crate::error::ApiError;
use crate::state::AppState;
use crate::tasks::{Task, TaskView};

/// `GET /api/v1/tasks`: every task of this server's life, newest first.
pub async fn list(State(state): State<AppState>) -> Json<Vec<TaskView>> {
    Json(state.tasks.list())
}

fn find(state: &AppState, id: &str) -> Result<std::sync::Arc<Task>, ApiError> {
    let number: u64 = id.parse().map_err(|_| ApiError::invalid(format!("a task id is a whole number, not `{id}`")))?;
    state.tasks.get(number).ok_or_else(|| {
        ApiError::not_found("task_not_found", format!("there is no task {number} (tasks last as long as the server)"))
    })
}

/// `GET /api/v1/tasks/{id}`.
pub async fn get(State(state): State<AppState>, Path(id): Path<String>) -> Result<Json<TaskView>, ApiError> {
    Ok(Json(find(&state, &id)?.view()))
}

/// `GET /api/v1/tasks/{id}/events`: server-sent events, one `progress` event with the task's view
/// now and after every change (coalesced, at most 10 a second), ending with the finished state.
pub async fn events(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let task = find(&state, &id)?;
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
pub async fn cancel(State(state): State<AppState>, Path(id): Path<String>) -> Result<Json<TaskView>, ApiError> {
    let task = find(&state, &id)?;
    task.cancel();
    Ok(Json(task.view()))
}
