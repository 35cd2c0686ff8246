//! Advisory file locks (`flock`) that serialise commits and keep readers off a catalog being
//! written.
//!
//! DuckDB lets many processes open a database read-only, or one process open it read-write, but
//! not both at once. Every catalog access therefore holds [`CatalogLock`]: shared while reading
//! (milliseconds), exclusive while committing. The heavy work of a write happens before the lock is
//! taken, so readers never wait for more than one commit.
//!
//! `flock` locks belong to an open file description, so two threads of one process exclude each
//! other exactly as two processes do, and the kernel releases a lock when its holder dies.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::Path;
use std::time::{Duration, Instant};

use crate::error::{Result, StoreError};

/// Whether a lock excludes everyone or only writers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockMode {
    /// Many holders at once; excludes exclusive holders.
    Shared,
    /// One holder; excludes everyone.
    Exclusive,
}

/// A held lock on the catalog; released on drop.
#[derive(Debug)]
pub struct CatalogLock {
    _catalog: File,
    _intent: Option<File>,
}

impl CatalogLock {
    /// Takes the lock at `path`, waiting up to `timeout` for other holders.
    ///
    /// `flock` is not fair: readers that keep overlapping would starve a writer forever. So a
    /// writer first takes `<path>.intent` exclusively (and keeps it), which stops new readers;
    /// readers hold `<path>.intent` shared only for the moment they take their own lock. A writer
    /// therefore waits only for the reads already running.
    pub fn acquire(path: &Path, mode: LockMode, timeout: Duration) -> Result<Self> {
        let deadline = Instant::now() + timeout;
        let intent_file = open_lock_file(&path.with_extension("intent"))?;
        let catalog_file = open_lock_file(path)?;
        wait_for(&intent_file, mode, deadline, timeout, path)?;
        wait_for(&catalog_file, mode, deadline, timeout, path)?;
        let intent = match mode {
            LockMode::Exclusive => Some(intent_file),
            LockMode::Shared => None, // dropping the file releases the shared intent lock
        };
        Ok(CatalogLock { _catalog: catalog_file, _intent: intent })
    }
}

fn open_lock_file(path: &Path) -> Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(|e| std::io::Error::new(e.kind(), format!("cannot open lock file `{}`: {e}", path.display())).into())
}

fn wait_for(file: &File, mode: LockMode, deadline: Instant, timeout: Duration, path: &Path) -> Result<()> {
    let mut pause = Duration::from_millis(1);
    loop {
        let attempt = match mode {
            LockMode::Shared => file.try_lock_shared(),
            LockMode::Exclusive => file.try_lock(),
        };
        match attempt {
            Ok(()) => return Ok(()),
            Err(TryLockError::WouldBlock) => {
                if Instant::now() >= deadline {
                    return Err(StoreError::Busy { waited: timeout });
                }
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(20));
            }
            Err(TryLockError::Error(e)) => {
                return Err(std::io::Error::new(e.kind(), format!("cannot lock `{}`: {e}", path.display())).into());
            }
        }
    }
}

/// An exclusive lock that marks a staging directory as alive; recovery never touches a staging
/// directory whose lock is held.
#[derive(Debug)]
pub struct LivenessLock {
    _file: File,
}

impl LivenessLock {
    /// Creates and locks `path`.
    pub fn hold(path: &Path) -> Result<Self> {
        let file = File::create(path)
            .map_err(|e| std::io::Error::new(e.kind(), format!("cannot create `{}`: {e}", path.display())))?;
        file.try_lock()
            .map_err(|e| std::io::Error::other(format!("cannot lock staging marker `{}`: {e}", path.display())))?;
        Ok(LivenessLock { _file: file })
    }

    /// Whether some live process holds the lock at `path`.
    pub fn is_held(path: &Path) -> bool {
        let Ok(file) = File::open(path) else { return false };
        matches!(file.try_lock(), Err(TryLockError::WouldBlock))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exclusive_excludes_shared_within_one_process() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("l");
        let _w = CatalogLock::acquire(&path, LockMode::Exclusive, Duration::from_secs(1)).unwrap();
        let err = CatalogLock::acquire(&path, LockMode::Shared, Duration::from_millis(50)).unwrap_err();
        assert!(matches!(err, StoreError::Busy { .. }));
    }

    #[test]
    fn shared_locks_coexist() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("l");
        let _a = CatalogLock::acquire(&path, LockMode::Shared, Duration::from_secs(1)).unwrap();
        let _b = CatalogLock::acquire(&path, LockMode::Shared, Duration::from_secs(1)).unwrap();
        assert!(CatalogLock::acquire(&path, LockMode::Exclusive, Duration::from_millis(20)).is_err());
    }

    #[test]
    fn a_waiting_writer_is_not_starved_by_overlapping_readers() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("l");
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        // Readers that always overlap: one of them holds the shared lock at every moment.
        let readers: Vec<_> = (0..4)
            .map(|_| {
                let (path, stop) = (path.clone(), stop.clone());
                std::thread::spawn(move || {
                    while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                        let _r = CatalogLock::acquire(&path, LockMode::Shared, Duration::from_secs(30)).unwrap();
                        std::thread::sleep(Duration::from_millis(5));
                    }
                })
            })
            .collect();
        std::thread::sleep(Duration::from_millis(50));
        for _ in 0..5 {
            let w = CatalogLock::acquire(&path, LockMode::Exclusive, Duration::from_secs(5));
            assert!(w.is_ok(), "the writer was starved");
        }
        stop.store(true, std::sync::atomic::Ordering::SeqCst);
        for r in readers {
            r.join().unwrap();
        }
    }

    #[test]
    fn liveness_is_visible_and_released_on_drop() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.lock");
        let held = LivenessLock::hold(&path).unwrap();
        assert!(LivenessLock::is_held(&path));
        drop(held);
        assert!(!LivenessLock::is_held(&path));
    }
}
