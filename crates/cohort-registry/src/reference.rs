//! Saved cohorts named in SQL: `"registry#dmd-over-10".participants` reads the participants of
//! saved cohort `dmd-over-10` of `registry` (its current version; `"registry@3#dmd-over-10"` for
//! version 3), and its visits table holds theirs; the other tables are the version's.

use cohort_store::name::quote_ident;
use cohort_store::{Session, Store, VersionRef};

use crate::RegistryError;
use crate::cohort::{Cohort, Over};
use crate::dashboard::SiteNames;

/// The `NAME#COHORT` (or `NAME@N#COHORT`) references in `sql`, each once, as written.
pub fn cohort_references(sql: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut current = String::new();
    for c in sql.chars().chain(std::iter::once(' ')) {
        if c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '@' | '#') {
            current.push(c);
        } else {
            let one_mark = current.matches('#').count() == 1 && !current.starts_with('#') && !current.ends_with('#');
            if one_mark && !found.contains(&current) {
                found.push(current.clone());
            }
            current.clear();
        }
    }
    found
}

/// Mounts every saved cohort `sql` names as a schema of that name (see the module), for the
/// datasets `may_read` allows (others are left out, as if they did not exist). Returns the
/// references mounted.
pub fn mount_cohorts(
    session: &mut Session,
    store: &Store,
    sql: &str,
    may_read: &dyn Fn(&str) -> bool,
) -> Result<Vec<String>, RegistryError> {
    let mut mounted = Vec::new();
    for reference in cohort_references(sql) {
        let (dataset, name) = reference.split_once('#').expect("a reference has a #");
        let Ok(target) = VersionRef::parse(dataset) else { continue };
        if !may_read(target.dataset.as_str()) {
            continue;
        }
        let version = store.resolve(&target)?;
        session.mount(store, &version, &reference)?;
        narrow_to_cohort(session, store, &version, name, &reference)?;
        mounted.push(reference);
    }
    Ok(mounted)
}

/// Narrows the version mounted in schema `target` of `session` to the saved cohort `name` of
/// its dataset: the participant table to the cohort, the visits table to theirs.
pub fn narrow_to_cohort(
    session: &mut Session,
    store: &Store,
    version: &cohort_store::ResolvedVersion,
    name: &str,
    target: &str,
) -> Result<(), RegistryError> {
    let (_, profile) = crate::kept_profile(store, &version.dataset)?;
    let saved = store.saved_cohorts(&version.dataset)?;
    let cohort = crate::find_cohort(&saved, version.dataset.as_str(), name)?;
    let src = format!("_cohort_source_{target}");
    session.mount(store, version, &src)?;
    // A filter may name a site by its label, which the summary's ranking of sites gives.
    let sites = if Cohort::filters_sites(&profile, &cohort.filters)? {
        cohort_publish::summary::kept(store, version, &profile)?.meta.sites
    } else {
        Vec::new()
    };
    let narrowed = Cohort::new(version, &profile, &cohort.filters, SiteNames::Shown, &sites, Over::Tables(&src))?;
    session.connection().execute_batch(&narrowed.views(target, &profile)).map_err(|e| {
        cohort_store::StoreError::duckdb(format!("narrowing {} to cohort `{name}`", quote_ident(target)), e)
    })?;
    Ok(())
}

/// The condition that chooses saved cohort `name` of `version`'s dataset among the rows of
/// `summary` (the version's per-participant summary under `profile`): how a saved cohort is
/// published.
pub fn saved_cohort_condition(
    store: &Store,
    version: &cohort_store::ResolvedVersion,
    name: &str,
    profile: &cohort_publish::Profile,
    summary: &cohort_publish::summary::Summary,
) -> Result<String, RegistryError> {
    let saved = store.saved_cohorts(&version.dataset)?;
    let cohort = crate::find_cohort(&saved, version.dataset.as_str(), name)?;
    condition_of(version, profile, cohort, summary)
}

fn condition_of(
    version: &cohort_store::ResolvedVersion,
    profile: &cohort_publish::Profile,
    cohort: &cohort_store::SavedCohort,
    summary: &cohort_publish::summary::Summary,
) -> Result<String, RegistryError> {
    let meta = &summary.meta;
    let chosen = Cohort::new(version, profile, &cohort.filters, SiteNames::Shown, &meta.sites, Over::Summary(meta))?;
    Ok(chosen.condition(None).unwrap_or_else(|| "true".into()))
}

/// A saved cohort as the participants it holds in one version: what an analysis narrows its
/// rows to.
#[derive(Debug, Clone)]
pub struct CohortMembers {
    /// The cohort's name.
    pub name: String,
    /// Its filters, as saved.
    pub filters: Vec<String>,
    /// The version it was made on.
    pub made_on_version: u32,
    /// A `SELECT` of the participant ids it holds (one column).
    pub ids: String,
    /// The participant table and its id column.
    pub participants: (String, String),
    /// The visits table and its participant column, if the profile has one.
    pub visits: Option<(String, String)>,
}

impl CohortMembers {
    /// The column of table `table` that names its participant, if the cohort narrows that table.
    pub fn participant_column(&self, table: &str) -> Option<&str> {
        [Some(&self.participants), self.visits.as_ref()]
            .into_iter()
            .flatten()
            .find(|(t, _)| t == table)
            .map(|(_, column)| column.as_str())
    }

    /// The rows of `relation` (SQL) whose `column` is a participant of the cohort, as a
    /// relation.
    pub fn narrow(&self, relation: &str, column: &str) -> String {
        format!("(SELECT * FROM {relation} WHERE {} IN ({}))", quote_ident(column), self.ids)
    }
}

/// Saved cohort `name` of `version`'s dataset as its participants in `version`: the ids its
/// filters choose in the version's per-participant summary (computed and kept if it is not yet).
pub fn cohort_members(
    store: &Store,
    version: &cohort_store::ResolvedVersion,
    name: &str,
) -> Result<CohortMembers, RegistryError> {
    let (_, profile) = crate::kept_profile(store, &version.dataset)?;
    let saved = store.saved_cohorts(&version.dataset)?;
    let cohort = crate::find_cohort(&saved, version.dataset.as_str(), name)?;
    let summary = cohort_publish::summary::kept(store, version, &profile)?;
    let condition = condition_of(version, &profile, cohort, &summary)?;
    Ok(CohortMembers {
        name: name.to_string(),
        filters: cohort.filters.clone(),
        made_on_version: cohort.version,
        ids: format!("SELECT {} FROM {} WHERE {condition}", quote_ident(&profile.participant), summary.relation()),
        participants: (profile.table.clone(), profile.participant.clone()),
        visits: profile.visits.as_ref().map(|v| (v.table.clone(), v.participant.clone())),
    })
}

#[cfg(test)]
mod tests {
    use super::cohort_references;

    #[test]
    fn references_are_found_as_written() {
        let sql = r#"SELECT * FROM "reg#dmd-10".participants p JOIN "reg@2#x_1".visits v ON 1 WHERE a = '#'"#;
        assert_eq!(cohort_references(sql), ["reg#dmd-10", "reg@2#x_1"]);
    }
}
