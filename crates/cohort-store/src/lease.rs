//! Leases: a reader's claim on the files of a version it has resolved, so that `gc` does not
//! remove them between the moment a query, an export or a page looks a version up in the catalog
//! and the moment it has finished reading its files.
//!
//! A reader holds a shared `flock` on `leases/<dataset id>-v<version>` while it reads. `gc`
//! removes a version's folder only while it holds that lock exclusively, and takes it without
//! waiting: a version in use is left for a later `gc`. A reader that resolved a version just
//! before `gc` removed it finds, once it holds the lease, that the folder is gone, and is told the
//! version was removed rather than reading missing files.

use std::fs::{File, OpenOptions, TryLockError};

use crate::error::{Result, StoreError};
use crate::layout::Layout;
use crate::model::ResolvedVersion;
use crate::store::Store;

/// A held lease on one version's files; released on drop.
#[derive(Debug)]
pub struct Lease {
    _file: File,
}

fn lease_file(layout: &Layout, dataset_id: i64, version: u32) -> Result<File> {
    let dir = layout.leases();
    std::fs::create_dir_all(&dir)?;
    Ok(OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(dir.join(format!("{dataset_id}-v{version}")))?)
}

impl Store {
    /// Leases `version`'s files for reading: until the lease is dropped, `gc` leaves them alone.
    /// Fails with [`StoreError::VersionUnavailable`] when `gc` removed the version after it was
    /// resolved (resolve it again for the current one).
    pub fn lease(&self, version: &ResolvedVersion) -> Result<Lease> {
        let file = lease_file(self.layout(), version.dataset_id, version.version)?;
        // Waits only while a gc is removing this very version.
        file.lock_shared()?;
        if !self.layout().version_dir(version.dataset_id, version.version).is_dir() {
            return Err(StoreError::VersionUnavailable {
                dataset: version.dataset.to_string(),
                version: version.version,
                status: "removed by gc".into(),
            });
        }
        Ok(Lease { _file: file })
    }
}

/// For `gc`: the version's lease held exclusively, or `None` when a reader holds it.
pub(crate) fn try_exclusive(layout: &Layout, dataset_id: i64, version: u32) -> Result<Option<Lease>> {
    let file = lease_file(layout, dataset_id, version)?;
    match file.try_lock() {
        Ok(()) => Ok(Some(Lease { _file: file })),
        Err(TryLockError::WouldBlock) => Ok(None),
        Err(TryLockError::Error(e)) => Err(e.into()),
    }
}
