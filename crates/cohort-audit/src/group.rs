//! Group commit for a server: many requests' records, one write and one sync.

use std::sync::Arc;
use std::sync::mpsc;

use futures_channel::oneshot;

use crate::error::AuditError;
use crate::log::AuditLog;
use crate::record::Entry;

struct Job {
    entry: Entry,
    done: oneshot::Sender<Result<u64, AuditError>>,
}

/// Writes records from many tasks through one thread. While one write is syncing, the records
/// that arrive queue up and go to disk together in the next, so a busy server pays one
/// `fdatasync` per batch, not per request, and an idle one answers in one sync.
#[derive(Clone)]
pub struct GroupWriter {
    jobs: mpsc::Sender<Job>,
    log: Arc<AuditLog>,
}

impl std::fmt::Debug for GroupWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GroupWriter").field("log", &self.log.path()).finish()
    }
}

/// Records in one write at most, so that one batch cannot hold up its first caller for long.
const MAX_BATCH: usize = 4096;

impl GroupWriter {
    /// Starts the writing thread for `log`; it stops when every clone of the writer is dropped.
    pub fn start(log: Arc<AuditLog>) -> Self {
        let (jobs, queue) = mpsc::channel::<Job>();
        let writer_log = log.clone();
        std::thread::Builder::new()
            .name("audit-writer".into())
            .spawn(move || {
                while let Ok(first) = queue.recv() {
                    let mut batch = vec![first];
                    while batch.len() < MAX_BATCH {
                        match queue.try_recv() {
                            Ok(job) => batch.push(job),
                            Err(_) => break,
                        }
                    }
                    let (entries, waiting): (Vec<Entry>, Vec<_>) = batch.into_iter().map(|j| (j.entry, j.done)).unzip();
                    match writer_log.append(&entries) {
                        Ok(seqs) => {
                            for (done, seq) in waiting.into_iter().zip(seqs) {
                                let _ = done.send(Ok(seq));
                            }
                        }
                        Err(e) => {
                            tracing::error!(error = %e, "audit records could not be written");
                            for done in waiting {
                                let _ = done.send(Err(e.clone()));
                            }
                        }
                    }
                }
            })
            .expect("a thread starts");
        GroupWriter { jobs, log }
    }

    /// Writes `entry`; returns its number once it is on disk.
    pub async fn write(&self, entry: Entry) -> Result<u64, AuditError> {
        let (done, written) = oneshot::channel();
        self.jobs.send(Job { entry, done }).map_err(|_| AuditError::Closed)?;
        written.await.map_err(|_| AuditError::Closed)?
    }

    /// The log written to.
    pub fn log(&self) -> &Arc<AuditLog> {
        &self.log
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{Actor, Outcome};

    #[test]
    fn concurrent_writers_get_distinct_numbers_in_one_intact_chain() {
        let dir = tempfile::tempdir().unwrap();
        let writer = GroupWriter::start(Arc::new(AuditLog::new(dir.path())));
        let threads: Vec<_> = (0..8)
            .map(|t| {
                let writer = writer.clone();
                std::thread::spawn(move || {
                    (0..50)
                        .map(|i| {
                            let entry = Entry::new(
                                Actor { user: format!("u{t}"), role: "viewer".into(), via: "session".into() },
                                "page",
                                Outcome::Served,
                            )
                            .asked(format!("{i}"));
                            futures_executor::block_on(writer.write(entry)).unwrap()
                        })
                        .collect::<Vec<u64>>()
                })
            })
            .collect();
        let mut seqs: Vec<u64> = threads.into_iter().flat_map(|t| t.join().unwrap()).collect();
        seqs.sort_unstable();
        assert_eq!(seqs, (1..=400).collect::<Vec<_>>());
        let v = writer.log().verify(None).unwrap();
        assert!(v.is_intact(), "{:?}", v.problems);
        assert_eq!(v.entries, 400);
    }
}
