//! Long work the server does for a user (simulation runs), as tasks: queued, run one at a time on a
//! blocking thread, observable (progress events) and cancellable. A task belongs to the server,
//! not to a browser: closing the page does not stop it, and any page can watch it again.
//!
//! A run a task leaves unfinished (cancelled, or the server stopped) stays resumable in the store,
//! exactly as one started by `cohort simulate`.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use cohort_store::{CancelToken, Progress};
use jiff::Timestamp;
use serde::Serialize;
use tokio::sync::{Semaphore, watch};

/// Where a task is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskState {
    /// Waiting for the task before it to finish.
    Queued,
    /// Working.
    Running,
    /// Done; its dataset version is committed.
    Succeeded,
    /// Stopped by an error.
    Failed,
    /// Stopped by a user; a simulation can be resumed.
    Cancelled,
}

impl TaskState {
    /// Whether the task will change no more.
    pub fn is_finished(self) -> bool {
        matches!(self, TaskState::Succeeded | TaskState::Failed | TaskState::Cancelled)
    }
}

/// What a task is and how far it got: the body of every progress event.
#[derive(Debug, Clone, Serialize)]
pub struct TaskView {
    /// The task's number, from 1, for this server's life.
    pub id: u64,
    /// `simulate` or `resume`.
    pub kind: &'static str,
    /// The dataset the task writes.
    pub dataset: String,
    /// The account that started it: only it and admins see, follow or cancel the task.
    pub owner: String,
    /// Where it is.
    pub state: TaskState,
    /// What it is doing now (`simulating patients`).
    pub phase: String,
    /// Units done (patients).
    pub done: u64,
    /// Units in all, when known.
    pub total: Option<u64>,
    /// Units per second so far.
    pub rate: f64,
    /// When it was queued.
    pub created_at: Timestamp,
    /// When it ended.
    pub finished_at: Option<Timestamp>,
    /// The version it committed.
    pub version: Option<u32>,
    /// Why it failed.
    pub error: Option<String>,
}

/// One task: its published view, its cancel flag, and its progress counters.
pub struct Task {
    view: watch::Sender<TaskView>,
    cancel: CancelToken,
    done: AtomicU64,
    started: Mutex<Option<Instant>>,
}

impl Task {
    /// The task's current view.
    pub fn view(&self) -> TaskView {
        self.view.borrow().clone()
    }

    /// A receiver of every change to the view.
    pub fn subscribe(&self) -> watch::Receiver<TaskView> {
        self.view.subscribe()
    }

    /// Asks the task to stop at its next checkpoint of work.
    pub fn cancel(&self) {
        self.cancel.cancel();
    }

    /// The flag the work checks.
    pub fn cancel_token(&self) -> &CancelToken {
        &self.cancel
    }

    /// Marks the task running.
    pub fn start(&self) {
        *self.started.lock().expect("not poisoned") = Some(Instant::now());
        self.view.send_modify(|v| v.state = TaskState::Running);
    }

    /// Marks the task finished.
    pub fn finish(&self, outcome: Result<Option<u32>, (TaskState, String)>) {
        self.view.send_modify(|v| {
            v.finished_at = Some(Timestamp::now());
            match outcome {
                Ok(version) => {
                    v.state = TaskState::Succeeded;
                    v.version = version;
                    if let Some(total) = v.total {
                        v.done = total;
                    }
                }
                Err((state, error)) => {
                    v.state = state;
                    v.error = Some(error);
                }
            }
        });
    }

    fn publish(&self, done: u64) {
        let elapsed = self.started.lock().expect("not poisoned").map(|s| s.elapsed().as_secs_f64()).unwrap_or(0.0);
        self.view.send_modify(|v| {
            v.done = done;
            v.rate = if elapsed > 0.0 { done as f64 / elapsed } else { 0.0 };
        });
    }
}

impl Progress for Task {
    fn begin(&self, label: &str, total: Option<u64>) {
        self.done.store(0, Ordering::Relaxed);
        self.view.send_modify(|v| {
            v.phase = label.to_string();
            v.total = total;
            v.done = 0;
        });
    }

    fn set_position(&self, position: u64) {
        self.done.store(position, Ordering::Relaxed);
        self.publish(position);
    }

    fn advance(&self, delta: u64) {
        let done = self.done.fetch_add(delta, Ordering::Relaxed) + delta;
        self.publish(done);
    }

    fn finish(&self) {}
}

/// Every task of this server's life, and the queue that runs them one at a time.
pub struct Tasks {
    tasks: Mutex<BTreeMap<u64, Arc<Task>>>,
    next_id: AtomicU64,
    /// Simulations use every core: running two at once would only slow both.
    lane: Arc<Semaphore>,
}

impl Default for Tasks {
    fn default() -> Self {
        Tasks { tasks: Mutex::default(), next_id: AtomicU64::new(1), lane: Arc::new(Semaphore::new(1)) }
    }
}

impl Tasks {
    /// Registers a queued task for `dataset`, started by `owner`.
    pub fn create(&self, kind: &'static str, dataset: &str, owner: &str) -> Arc<Task> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let view = TaskView {
            id,
            kind,
            dataset: dataset.to_string(),
            owner: owner.to_string(),
            state: TaskState::Queued,
            phase: "queued".into(),
            done: 0,
            total: None,
            rate: 0.0,
            created_at: Timestamp::now(),
            finished_at: None,
            version: None,
            error: None,
        };
        let task = Arc::new(Task {
            view: watch::channel(view).0,
            cancel: CancelToken::default(),
            done: AtomicU64::new(0),
            started: Mutex::new(None),
        });
        self.tasks.lock().expect("not poisoned").insert(id, task.clone());
        task
    }

    /// The task numbered `id`.
    pub fn get(&self, id: u64) -> Option<Arc<Task>> {
        self.tasks.lock().expect("not poisoned").get(&id).cloned()
    }

    /// Every task, newest first.
    pub fn list(&self) -> Vec<TaskView> {
        self.tasks.lock().expect("not poisoned").values().rev().map(|t| t.view()).collect()
    }

    /// The unfinished task writing `dataset`, if there is one.
    pub fn active_for(&self, dataset: &str) -> Option<Arc<Task>> {
        self.tasks
            .lock()
            .expect("not poisoned")
            .values()
            .find(|t| {
                let v = t.view.borrow();
                v.dataset == dataset && !v.state.is_finished()
            })
            .cloned()
    }

    /// Runs `work` for `task` when the lane is free, on a blocking thread. `work` returns the
    /// committed version, or an error and whether it was a cancellation.
    pub fn spawn(
        &self,
        task: Arc<Task>,
        work: impl FnOnce(&Task) -> Result<Option<u32>, (TaskState, String)> + Send + 'static,
    ) {
        let lane = self.lane.clone();
        tokio::spawn(async move {
            let Ok(_permit) = lane.acquire_owned().await else { return };
            if task.cancel.is_cancelled() {
                task.finish(Err((TaskState::Cancelled, "cancelled before it started".into())));
                return;
            }
            task.start();
            let worker = task.clone();
            let outcome = tokio::task::spawn_blocking(move || work(&worker))
                .await
                .unwrap_or_else(|e| Err((TaskState::Failed, format!("the task's thread failed: {e}"))));
            task.finish(outcome);
        });
    }

    /// Cancels every unfinished task (the server is stopping).
    pub fn cancel_all(&self) {
        for task in self.tasks.lock().expect("not poisoned").values() {
            task.cancel();
        }
    }
}
