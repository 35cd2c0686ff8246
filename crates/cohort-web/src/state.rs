//! What every request handler shares: the store, the task queue, and the caches.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use std::os::unix::fs::MetadataExt;
use std::time::{Duration, Instant};

use cohort_store::{DatasetDetail, DatasetSummary, Store, StoreError, VersionRef};

use crate::tasks::Tasks;

/// The server's shared state; cloning it is cheap.
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

/// The state behind an [`AppState`].
pub struct Inner {
    /// The store served, with the settings each engine runs under (its share of the cap).
    pub store: Store,
    /// The engine slots that share the process's memory cap.
    pub engines: crate::engines::EngineSlots,
    /// Simulation runs started from the web.
    pub tasks: Tasks,
    /// Runs' results, by version content hash: stored versions never change, so entries never go
    /// stale (a new version has a new hash).
    pub results: ContentCache<String, Arc<serde_json::Value>>,
    /// Tables' data dictionaries, by table content hash.
    pub dictionaries: ContentCache<String, Arc<Vec<cohort_analysis::dictionary::DictionaryEntry>>>,
    /// Rows matching a filter, by table content hash and WHERE clause: paging through a table
    /// counts it once, not on every page.
    pub row_counts: ContentCache<(String, String), u64>,
    /// Pages of rows by (table content hash, WHERE, ORDER BY, offset, limit): a version never
    /// changes, so a page read once is the page (see `api::datasets::table_rows`).
    pub row_pages: ContentCache<RowPageKey, Arc<Vec<Row>>>,
    /// Every row of selections readers page through (see [`Selections`]).
    pub selections: Selections,
    /// Registry views, by everything they are computed from (the version's table hashes, the
    /// profile, the filters, the saved cohorts and how sites are named).
    pub registry_views: ContentCache<String, Arc<crate::api::registry::RegistryView>>,
    /// Columns' summaries, by table content hash and column.
    pub column_summaries: ContentCache<(String, String), crate::api::datasets::ColumnSummary>,
    /// When the server started.
    pub started: jiff::Timestamp,
    /// The largest file an upload accepts, in bytes.
    pub max_upload_bytes: u64,
    /// Accounts, sessions and the audit log.
    pub access: crate::access::Access,
    /// The catalog's answers, kept while the catalog files are unchanged.
    catalog: Mutex<CatalogCache>,
    /// Rendered pages that depend only on an immutable version (a run's results), by key.
    pages: Mutex<HashMap<String, axum::body::Bytes>>,
}

/// Rendered pages kept at most; past it the cache starts again (pages of runs nobody looks at
/// again should not stay in memory).
const MAX_CACHED_PAGES: usize = 64;

/// What identifies a state of the catalog: size, modification time and inode of the files a
/// change to it rewrites (the catalog, its write-ahead log, and `datasets.duckdb`, which every
/// commit, rollback and gc replaces).
pub(crate) type Stamp = Vec<(u64, i64, i64, u64)>;

#[derive(Default)]
struct CatalogCache {
    stamp: Stamp,
    list: Option<Arc<Vec<DatasetSummary>>>,
    details: HashMap<String, Arc<DatasetDetail>>,
    size: Option<(Instant, u64)>,
}

/// How long the store's size on disk is reused (it changes without the catalog: staging, tmp).
const SIZE_TTL: Duration = Duration::from_secs(5);

impl AppState {
    /// State over `store`.
    pub fn new(store: Store) -> Self {
        Self::with_upload_limit(store, crate::api::uploads::MAX_FILE_BYTES)
    }

    /// State over `store` whose uploads accept files of at most `max_upload_bytes`.
    pub fn with_upload_limit(store: Store, max_upload_bytes: u64) -> Self {
        Self::with_config(store, max_upload_bytes, crate::access::AccessConfig::default())
    }

    /// State over `store` with upload limit and access settings.
    pub fn with_config(store: Store, max_upload_bytes: u64, access: crate::access::AccessConfig) -> Self {
        Self::with_engines(store, max_upload_bytes, access, None)
    }

    /// State over `store` whose memory cap (`store.settings().memory_limit`, the process's) is
    /// shared by `engine_slots` engines (`None`: as many as it holds; `Some(0)`: no sharing).
    pub fn with_engines(
        store: Store,
        max_upload_bytes: u64,
        access: crate::access::AccessConfig,
        engine_slots: Option<usize>,
    ) -> Self {
        let layout = store.layout();
        let access = crate::access::Access::new(&layout.access_dir(), &layout.audit_dir(), access);
        let (engines, engine_settings) = crate::engines::EngineSlots::for_cap(store.settings(), engine_slots);
        AppState(Arc::new(Inner {
            access,
            // The server keeps `datasets.duckdb` in the background (see `server::keep_views`).
            store: store.with_settings(cohort_store::Settings { views_in_background: true, ..engine_settings }),
            engines,
            tasks: Tasks::default(),
            results: ContentCache::new(256),
            dictionaries: ContentCache::new(1_000),
            row_counts: ContentCache::new(10_000),
            row_pages: ContentCache::new(MAX_CACHED_ROW_PAGES),
            selections: Selections::for_cap(store.settings().memory_limit),
            column_summaries: ContentCache::new(10_000),
            registry_views: ContentCache::new(256),
            started: jiff::Timestamp::now(),
            max_upload_bytes,
            catalog: Mutex::default(),
            pages: Mutex::default(),
        }))
    }

    /// A rendered page kept under `key`.
    pub fn cached_page(&self, key: &str) -> Option<axum::body::Bytes> {
        self.pages.lock().expect("not poisoned").get(key).cloned()
    }

    /// Keeps a rendered page under `key`.
    pub fn keep_page(&self, key: String, page: axum::body::Bytes) {
        let mut pages = self.pages.lock().expect("not poisoned");
        if pages.len() >= MAX_CACHED_PAGES {
            pages.clear();
        }
        pages.insert(key, page);
    }

    /// What identifies the state of the catalog and `datasets.duckdb` on disk: it changes with
    /// every change to either.
    pub(crate) fn stamp(&self) -> Stamp {
        let layout = self.store.layout();
        let wal = layout.catalog().with_extension("duckdb.wal");
        [layout.catalog(), wal, layout.views_db()]
            .iter()
            .map(|p| match std::fs::metadata(p) {
                Ok(m) => (m.len(), m.mtime(), m.mtime_nsec(), m.ino()),
                Err(_) => (0, 0, 0, 0),
            })
            .collect()
    }

    /// The cache, emptied first if the catalog changed since it was filled.
    fn catalog_cache(&self) -> std::sync::MutexGuard<'_, CatalogCache> {
        let stamp = self.stamp();
        let mut cache = self.catalog.lock().expect("not poisoned");
        if cache.stamp != stamp {
            *cache = CatalogCache { stamp, size: cache.size, ..CatalogCache::default() };
        }
        cache
    }

    /// Every dataset (blocking: reads the catalog when it changed).
    pub fn datasets(&self) -> Result<Arc<Vec<DatasetSummary>>, StoreError> {
        if let Some(list) = &self.catalog_cache().list {
            return Ok(list.clone());
        }
        let list = Arc::new(self.store.list()?);
        self.catalog_cache().list = Some(list.clone());
        Ok(list)
    }

    /// The detail of `reference` (blocking: reads the catalog when it changed).
    pub fn detail(&self, reference: &VersionRef) -> Result<Arc<DatasetDetail>, StoreError> {
        let key = reference.to_string();
        if let Some(detail) = self.catalog_cache().details.get(&key) {
            return Ok(detail.clone());
        }
        let detail = Arc::new(self.store.detail(reference)?);
        self.catalog_cache().details.insert(key, detail.clone());
        Ok(detail)
    }

    /// The version `reference` names, from the cache while the catalog is unchanged (blocking).
    pub fn resolve(&self, reference: &VersionRef) -> Result<cohort_store::ResolvedVersion, StoreError> {
        Ok(self.detail(reference)?.shown.clone())
    }

    /// Bytes the store takes on disk, measured at most every few seconds (blocking).
    pub fn store_bytes(&self) -> u64 {
        if let Some((at, bytes)) = self.catalog_cache().size
            && at.elapsed() < SIZE_TTL
        {
            return bytes;
        }
        let bytes = cohort_store::fsutil::tree_size(self.store.root());
        self.catalog_cache().size = Some((Instant::now(), bytes));
        bytes
    }
}

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

/// A row of a table as JSON text, as DuckDB's `to_json` wrote it (kept as text: a fifth of the
/// memory of a parsed value, and written out as it is).
pub type Row = Box<serde_json::value::RawValue>;

/// A page of rows: (table content hash, WHERE, ORDER BY, offset, limit).
pub type RowPageKey = (String, String, String, u64, u64);

/// A selection of a table's rows: (table content hash, WHERE, ORDER BY).
pub type SelectionKey = (String, String, String);

/// Rows of a selection decoded whole at most.
pub const MAX_DECODED_ROWS: u64 = 200_000;

/// Every row of the selections (a table, filtered and sorted) that readers page through, in
/// order, so that any page of one is a slice rather than a query. A page nobody read before
/// costs a DuckDB query of a few milliseconds of CPU, which bounds a server that pages through
/// a table at a few hundred pages a second; a selection is decoded whole, once, in the
/// background, when a second page of it is asked for (a reader is paging), if it has at most
/// [`MAX_DECODED_ROWS`] rows and a quarter of the budget in JSON. The budget is a sixteenth of
/// the server's memory cap, at most 128 MB: past it the cache starts again.
pub struct Selections {
    inner: Mutex<SelectionsInner>,
    budget: usize,
}

#[derive(Default)]
struct SelectionsInner {
    decoded: HashMap<SelectionKey, Arc<Vec<Row>>>,
    bytes: usize,
    /// Selections a page was read of, and whether they are being decoded (or were refused).
    paged: HashMap<SelectionKey, bool>,
}

impl Selections {
    /// Decoded selections for a server whose memory cap is `memory_limit` bytes.
    pub fn for_cap(memory_limit: u64) -> Self {
        let budget = (memory_limit / 16).min(128 * 1024 * 1024) as usize;
        Selections { inner: Mutex::default(), budget }
    }

    /// The JSON text one selection may take to be kept.
    pub fn max_bytes(&self) -> usize {
        self.budget / 4
    }

    /// The rows of `key`, if it is decoded.
    pub fn rows(&self, key: &SelectionKey) -> Option<Arc<Vec<Row>>> {
        self.inner.lock().expect("not poisoned").decoded.get(key).cloned()
    }

    /// Notes that a page of `key` was read by a query; true when this asks for the selection to
    /// be decoded now (the second page, and not asked before).
    pub fn paged(&self, key: &SelectionKey) -> bool {
        let mut inner = self.inner.lock().expect("not poisoned");
        if inner.paged.len() >= 10_000 {
            inner.paged.retain(|_, decoding| *decoding);
        }
        match inner.paged.get_mut(key) {
            None => {
                inner.paged.insert(key.clone(), false);
                false
            }
            Some(decoding) if !*decoding => {
                *decoding = true;
                true
            }
            Some(_) => false,
        }
    }

    /// Keeps the rows of `key` (`bytes` of JSON).
    pub fn keep(&self, key: SelectionKey, rows: Arc<Vec<Row>>, bytes: usize) {
        let mut inner = self.inner.lock().expect("not poisoned");
        if inner.bytes + bytes > self.budget {
            // Starting again: what was dropped may be decoded again when paged.
            inner.decoded.clear();
            inner.paged.clear();
            inner.bytes = 0;
        }
        inner.bytes += bytes;
        inner.decoded.insert(key, rows);
    }

    /// Selections decoded now (for tests).
    pub fn decoded(&self) -> usize {
        self.inner.lock().expect("not poisoned").decoded.len()
    }
}

/// Pages of rows kept at most; each is at most [`MAX_CACHED_ROW_PAGE_BYTES`] of JSON, so the
/// cache holds at most about 64 MB.
pub const MAX_CACHED_ROW_PAGES: usize = 256;

/// A page of rows larger than this (as JSON text) is not kept: a wide table's pages would crowd
/// out many narrow ones.
pub const MAX_CACHED_ROW_PAGE_BYTES: usize = 256 * 1024;

/// What is computed from content that never changes under its hash (a version's files, a
/// table's), kept by a key that includes the hash: an entry can never go stale. Bounded: when
/// full it starts again empty, which costs a recomputation, never a wrong answer.
pub struct ContentCache<K, V> {
    entries: Mutex<HashMap<K, V>>,
    capacity: usize,
}

impl<K: std::hash::Hash + Eq, V: Clone> ContentCache<K, V> {
    /// An empty cache of at most `capacity` entries.
    pub fn new(capacity: usize) -> Self {
        ContentCache { entries: Mutex::default(), capacity }
    }

    /// The value kept for `key`.
    pub fn get(&self, key: &K) -> Option<V> {
        self.entries.lock().expect("not poisoned").get(key).cloned()
    }

    /// How many entries it holds.
    pub fn len(&self) -> usize {
        self.entries.lock().expect("not poisoned").len()
    }

    /// Whether it holds nothing.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Keeps `value` for `key`.
    pub fn keep(&self, key: K, value: V) {
        let mut entries = self.entries.lock().expect("not poisoned");
        if entries.len() >= self.capacity {
            entries.clear();
        }
        entries.insert(key, value);
    }
}
