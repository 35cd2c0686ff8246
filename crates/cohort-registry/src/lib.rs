/*!
The protected registry view: a registry dataset's figures for the cohort a researcher chooses
with filters, for analysts who may read its participants.

The registry's profile is its publish profile ([`cohort_publish::Profile`]), kept with the
dataset in the catalog (`cohort registry NAME --set-profile FILE`), so the dashboard opens with
no further set-up. [`filter`] reads the filters that choose a cohort; [`dashboard`] mounts the
version with the participant table (and its visits) narrowed to the cohort and computes every
figure with the functions that build public bundles, without suppression, so the protected and
public numbers agree by construction. A set of filters can be saved as a named cohort of the
dataset ([`cohort_store::SavedCohort`]), kept with who made it and the version it was made on.
*/
#![deny(missing_docs)]

mod cohort;
pub mod dashboard;
pub mod filter;
pub mod reference;

pub use dashboard::{Dashboard, EnrolmentBy, Facet, SiteNames};
pub use filter::{Filter, MISSING};

/// Why a registry view could not be computed.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// A filter cannot be read or does not fit the data.
    #[error("filter `{filter}`: {why}")]
    Filter {
        /// The filter as written.
        filter: String,
        /// Why, and what to write instead.
        why: String,
    },
    /// A filter names a column the participant table does not have.
    #[error("there is no column `{column}` in `{table}` to filter by (it has: {available})")]
    UnknownColumn {
        /// The column.
        column: String,
        /// The participant table.
        table: String,
        /// Its columns.
        available: String,
    },
    /// The dataset has no registry profile.
    #[error(
        "`{dataset}` has no registry profile yet: keep one with `cohort registry {dataset} --set-profile FILE` \
         (the publish profile's YAML)"
    )]
    NoProfile {
        /// The dataset.
        dataset: String,
    },
    /// The kept profile cannot be read.
    #[error("the registry profile kept for `{dataset}` is not valid: {why}")]
    BadProfile {
        /// The dataset.
        dataset: String,
        /// Why.
        why: String,
    },
    /// No saved cohort of that name.
    #[error("`{dataset}` has no saved cohort `{name}` (it has: {available})")]
    NoCohort {
        /// The dataset.
        dataset: String,
        /// The name asked for.
        name: String,
        /// The saved cohorts.
        available: String,
    },
    /// A name a cohort cannot have.
    #[error(
        "`{name}` cannot name a cohort: use lowercase letters, digits, `-` and `_` (at most 64, starting with a \
         letter or digit), as `dmd-over-10`"
    )]
    BadCohortName {
        /// The name given.
        name: String,
    },
    /// A figure could not be computed, or the profile does not fit the version.
    #[error(transparent)]
    Publish(#[from] cohort_publish::PublishError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] cohort_store::StoreError),
}

/// Checks a saved cohort's name: what a `NAME#COHORT` reference can carry.
pub fn check_cohort_name(name: &str) -> Result<(), RegistryError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if ok { Ok(()) } else { Err(RegistryError::BadCohortName { name: name.to_string() }) }
}

/// A registry failure as the store's errors say it, for the layers that run registry work inside
/// their own (the console's sandbox, exports, publishing): the store's own failures as they were,
/// the rest as errors in what was asked.
impl From<RegistryError> for cohort_store::StoreError {
    fn from(e: RegistryError) -> Self {
        match e {
            RegistryError::Store(e) | RegistryError::Publish(cohort_publish::PublishError::Store(e)) => e,
            other => cohort_store::StoreError::Sql { message: other.to_string() },
        }
    }
}

/// The registry profile kept for `dataset`, as kept and as read.
pub fn kept_profile(
    store: &cohort_store::Store,
    dataset: &cohort_store::DatasetName,
) -> Result<(cohort_store::KeptProfile, cohort_publish::Profile), RegistryError> {
    let kept =
        store.registry_profile(dataset)?.ok_or_else(|| RegistryError::NoProfile { dataset: dataset.to_string() })?;
    let profile = read_profile(dataset.as_str(), &kept.text)?;
    Ok((kept, profile))
}

/// The cohort called `name` among `saved`, the saved cohorts of `dataset`.
pub fn find_cohort<'a>(
    saved: &'a [cohort_store::SavedCohort],
    dataset: &str,
    name: &str,
) -> Result<&'a cohort_store::SavedCohort, RegistryError> {
    saved.iter().find(|c| c.name == name).ok_or_else(|| RegistryError::NoCohort {
        dataset: dataset.to_string(),
        name: name.to_string(),
        available: if saved.is_empty() {
            "none".into()
        } else {
            saved.iter().map(|c| c.name.as_str()).collect::<Vec<_>>().join(", ")
        },
    })
}

/// Reads a kept profile's YAML.
pub fn read_profile(dataset: &str, text: &str) -> Result<cohort_publish::Profile, RegistryError> {
    cohort_publish::Profile::parse(text).map_err(|why| RegistryError::BadProfile { dataset: dataset.to_string(), why })
}
