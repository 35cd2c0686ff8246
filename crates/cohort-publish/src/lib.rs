/*!
`cohort publish`: a dataset's public face, as a versioned bundle of aggregates that holds no
participant-level data and can be served anywhere (`cohort serve --public`).

A [`profile::Profile`] says which table holds the participants and what its columns mean;
[`compute`] asks DuckDB for counts by category, site and region, enrolment by month, numeric
summaries and histograms, longitudinal summaries (visits per participant, gaps, person-years,
retention, activity), data availability and column completeness. Every count passes through
[`suppress::suppress`], the one place small-cell suppression happens: no count from 1 to k-1
is published, and no hidden cell can be recovered from a table's total. A bundle carries the
SHA-256 of its contents, so a bundle edited by hand is refused when read.
*/
#![deny(missing_docs)]

pub mod compute;
pub mod groups;
pub mod profile;
pub mod summary;
pub mod suppress;

use std::path::{Path, PathBuf};

use cohort_store::{Session, Store, VersionRef};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub use compute::{Breakdown, Choices, DictionaryEntry, Longitudinal, NumericSummary};
pub use profile::{Profile, QuartilesProfile};
pub use suppress::{Cell, DEFAULT_K, SUPPRESSED_KEY, Table};

/// What a bundle file says it is.
pub const FORMAT: &str = "cohort-public-bundle/2";

/// Why publishing or reading a bundle failed.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// The profile cannot be read or parsed.
    #[error("the profile {} is not valid: {message}", path.display())]
    Profile {
        /// The file.
        path: PathBuf,
        /// Why (with the line, from the YAML parser).
        message: String,
    },
    /// The profile names a table or column the dataset does not have.
    #[error("the profile names {what} `{name}`, which `{dataset}` does not have (it has: {available})")]
    Missing {
        /// `table` or `column`.
        what: &'static str,
        /// The name.
        name: String,
        /// The dataset version.
        dataset: String,
        /// What it has.
        available: String,
    },
    /// A store error.
    #[error(transparent)]
    Store(#[from] cohort_store::StoreError),
    /// An aggregate could not be computed.
    #[error("computing {what} failed: {message}")]
    Query {
        /// Which figure.
        what: String,
        /// DuckDB's message.
        message: String,
    },
    /// A bundle file cannot be read.
    #[error("cannot read the bundle {}: {message}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        message: String,
    },
    /// k is below the floor without the profile saying why.
    #[error(
        "k = {k} is below the floor of {floor}: counts from {k} to {} would be published; a profile that \
         must publish so says `allow_k_below: {floor}` and why in `k_reason: ...` (recorded in the bundle)",
        floor - 1
    )]
    KBelowFloor {
        /// The k asked for.
        k: u64,
        /// [`DEFAULT_K`].
        floor: u64,
    },
    /// A bundle's contents do not match its checksum.
    #[error(
        "the bundle {} was changed after it was published (its checksum does not match its contents); \
         publish it again with `cohort publish`", path.display()
    )]
    Tampered {
        /// The file.
        path: PathBuf,
    },
}

/// A published bundle.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bundle {
    /// [`FORMAT`].
    pub format: String,
    /// The dataset.
    pub dataset: String,
    /// The dataset version it was computed from.
    pub version: u32,
    /// The saved cohort of the dataset it describes, when not all of it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cohort: Option<String>,
    /// When.
    pub published_at: Timestamp,
    /// The suppression threshold.
    pub k: u64,
    /// Why k is below [`DEFAULT_K`], the floor, when it is (from the profile's `k_reason`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub k_reason: Option<String>,
    /// The SHA-256 of the profile file.
    pub profile_sha256: String,
    /// The data cutoff used.
    pub cutoff: Option<String>,
    /// Participants (`None` when fewer than k).
    pub participants: Option<u64>,
    /// Every count table, suppressed.
    pub tables: Vec<Table>,
    /// Numeric summaries.
    pub numeric: Vec<NumericSummary>,
    /// Longitudinal summaries.
    pub longitudinal: Option<Longitudinal>,
    /// The profile's columns with their labels, kinds and completeness.
    pub dictionary: Vec<DictionaryEntry>,
    /// The enrolment period and histogram bins used, and when quartiles are published and how
    /// they are rounded.
    pub choices: Choices,
    /// Each table's share of participants in suppressed cells (what its listed cells leave out of
    /// its total), by table id.
    pub hidden_shares: std::collections::BTreeMap<String, f64>,
    /// The SHA-256 of this bundle serialised with an empty checksum.
    pub checksum: String,
}

impl Bundle {
    fn digest(&self) -> String {
        let mut unsigned = self.clone();
        unsigned.checksum = String::new();
        hex::encode(Sha256::digest(serde_json::to_vec(&unsigned).expect("a bundle serialises")))
    }

    /// The bundle as JSON, checksummed.
    pub fn to_json(&self) -> Vec<u8> {
        let mut signed = self.clone();
        signed.checksum = self.digest();
        let mut bytes = serde_json::to_vec_pretty(&signed).expect("a bundle serialises");
        bytes.push(b'\n');
        bytes
    }

    /// Reads a bundle, refusing one whose contents do not match its checksum.
    pub fn read(path: &Path) -> Result<Bundle, PublishError> {
        let bytes =
            std::fs::read(path).map_err(|e| PublishError::Read { path: path.into(), message: e.to_string() })?;
        let bundle: Bundle = serde_json::from_slice(&bytes)
            .map_err(|e| PublishError::Read { path: path.into(), message: format!("not a cohort bundle ({e})") })?;
        if bundle.format != FORMAT {
            return Err(PublishError::Read {
                path: path.into(),
                message: format!("its format is `{}`, this cohort reads `{FORMAT}`", bundle.format),
            });
        }
        if bundle.digest() != bundle.checksum {
            return Err(PublishError::Tampered { path: path.into() });
        }
        Ok(bundle)
    }

    /// The table with id `id`.
    pub fn table(&self, id: &str) -> Option<&Table> {
        self.tables.iter().find(|t| t.id == id)
    }
}

/// A DuckDB failure while computing `what`, as the error this crate gives.
pub(crate) fn query_error(what: &str) -> impl FnOnce(duckdb::Error) -> PublishError + '_ {
    move |e| PublishError::Query { what: what.to_string(), message: e.to_string() }
}

/// Checks that every table and column `profile` names is in `version`.
pub fn check_profile(version: &cohort_store::ResolvedVersion, profile: &Profile) -> Result<(), PublishError> {
    let dataset = version.label();
    let require_table = |name: &str| {
        version.table(name).ok_or_else(|| PublishError::Missing {
            what: "table",
            name: name.into(),
            dataset: dataset.clone(),
            available: version.tables.iter().map(|t| t.name.as_str()).collect::<Vec<_>>().join(", "),
        })
    };
    let require_columns = |table: &str, columns: &[&String]| -> Result<(), PublishError> {
        let info = require_table(table)?;
        for c in columns {
            if !info.columns.iter().any(|col| &col.name == *c) {
                return Err(PublishError::Missing {
                    what: "column",
                    name: format!("{table}.{c}"),
                    dataset: dataset.clone(),
                    available: info.columns.iter().map(|c| c.name.as_str()).collect::<Vec<_>>().join(", "),
                });
            }
        }
        Ok(())
    };
    let mut columns: Vec<&String> = vec![&profile.participant];
    columns.extend(profile.enrolled.iter().chain(&profile.site).chain(&profile.region));
    columns.extend(profile.categories.iter().chain(&profile.numeric).chain(&profile.filters));
    columns.extend(profile.labels.keys());
    require_columns(&profile.table, &columns)?;
    if let Some(v) = &profile.visits {
        let mut columns = vec![&v.participant, &v.date];
        columns.extend(v.domains.values().flatten());
        require_columns(&v.table, &columns)?;
    }
    // The dictionary's domains and required columns may be of either table.
    let in_either = |c: &String| {
        [Some(profile.table.as_str()), profile.visits.as_ref().map(|v| v.table.as_str())]
            .into_iter()
            .flatten()
            .filter_map(|t| version.table(t))
            .any(|t| t.columns.iter().any(|col| &col.name == c))
    };
    if let Some(c) = profile.domains.values().flatten().chain(&profile.required).find(|c| !in_either(c)) {
        let table = require_table(&profile.table)?;
        return Err(PublishError::Missing {
            what: "column",
            name: c.clone(),
            dataset: dataset.clone(),
            available: table.columns.iter().map(|c| c.name.as_str()).collect::<Vec<_>>().join(", "),
        });
    }
    Ok(())
}

/// Computes the bundle of `reference` under `profile` (whose file text is `profile_text`);
/// `k` overrides the profile's threshold.
pub fn publish(
    store: &Store,
    reference: &VersionRef,
    profile: &Profile,
    profile_text: &str,
    k: Option<u64>,
) -> Result<Bundle, PublishError> {
    publish_cohort(store, reference, profile, profile_text, k, None)
}

/// A cohort of a dataset to publish: its name, and its condition on the version's
/// per-participant summary (a registry's saved cohort, from the layer above).
pub struct CohortToPublish<'a> {
    /// Its name, recorded in the bundle.
    pub name: String,
    /// The cohort's SQL condition on the rows of a summary.
    pub condition: &'a dyn Fn(&cohort_store::ResolvedVersion, &summary::Summary) -> Result<String, PublishError>,
}

/// [`publish`] of a cohort of the dataset (`None`: all of it).
pub fn publish_cohort(
    store: &Store,
    reference: &VersionRef,
    profile: &Profile,
    profile_text: &str,
    k: Option<u64>,
    cohort: Option<CohortToPublish<'_>>,
) -> Result<Bundle, PublishError> {
    let version = store.resolve(reference)?;
    check_profile(&version, profile)?;
    let k = k.or(profile.k).unwrap_or(DEFAULT_K);
    let k_reason = profile.allowance_below_floor(k)?;
    let summary = summary::kept(store, &version, profile)?;
    let condition = cohort.as_ref().map(|c| (c.condition)(&version, &summary)).transpose()?;
    let session = Session::new(store)?;
    let source = compute::Source { summary: &summary, condition: condition.as_deref() };
    let figures = compute::figures(session.connection(), profile, k, &source)?;
    let mut bundle = Bundle {
        cohort: cohort.map(|c| c.name),
        format: FORMAT.into(),
        dataset: version.dataset.to_string(),
        version: version.version,
        published_at: Timestamp::now(),
        k,
        k_reason,
        profile_sha256: hex::encode(Sha256::digest(profile_text.as_bytes())),
        cutoff: figures.cutoff,
        participants: figures.participants,
        tables: figures.tables,
        numeric: figures.numeric,
        longitudinal: figures.longitudinal,
        dictionary: figures.dictionary,
        choices: figures.choices,
        hidden_shares: figures.hidden.into_iter().map(|(id, share)| (id, (share * 1000.0).round() / 1000.0)).collect(),
        checksum: String::new(),
    };
    bundle.checksum = bundle.digest();
    Ok(bundle)
}
