//! A cohort of a registry version as SQL: its filters checked and turned into conditions over the
//! version's tables, and the views that narrow the participant table (and its visits) to it.

use std::collections::HashMap;

use cohort_publish::Profile;
use cohort_store::name::quote_ident;
use cohort_store::{ResolvedVersion, StoreError};
use duckdb::Connection;

use crate::RegistryError;
use crate::dashboard::SiteNames;
use crate::filter::{self, Filter};

/// A cohort over the version mounted in schema `src` of a connection.
pub(crate) struct Cohort {
    /// Each site's name (and `(missing)`) and how the reader is shown it.
    pub labels: HashMap<String, String>,
    /// The filters, site labels turned back into names.
    pub filters: Vec<Filter>,
    /// Each filter's SQL condition on a participant row.
    pub conditions: Vec<String>,
    /// The participant table, qualified.
    pub participants: String,
    /// The visits table, qualified, if the profile has one.
    pub visits: Option<String>,
}

impl Cohort {
    /// Reads `filters` against `version` (mounted as `src`) under `profile`. Sites are labelled
    /// `Site N` by size in the whole version (largest first), so a label is the same site in
    /// every cohort; a filter may name a site by its label whoever wrote it.
    pub fn new(
        conn: &Connection,
        src: &str,
        version: &ResolvedVersion,
        profile: &Profile,
        filters: &[String],
        sites: SiteNames,
    ) -> Result<Cohort, RegistryError> {
        cohort_publish::check_profile(version, profile)?;
        let parsed = filter::parse_all(filters)?;
        let table = version.table(&profile.table).expect("checked by check_profile");
        let participants = format!("{}.{}", quote_ident(src), quote_ident(&profile.table));
        let visits = profile.visits.as_ref().map(|v| format!("{}.{}", quote_ident(src), quote_ident(&v.table)));
        let pid = quote_ident(&profile.participant);
        let mut labels = HashMap::new();
        let mut anonymous: HashMap<String, String> = HashMap::new();
        if let Some(site) = &profile.site {
            let sql = format!(
                "SELECT coalesce(CAST({s} AS VARCHAR), '{missing}'), count(DISTINCT {pid}) FROM {participants} \
                 GROUP BY 1 ORDER BY 2 DESC, 1",
                s = quote_ident(site),
                missing = filter::MISSING
            );
            let fail = |e| StoreError::duckdb("reading the registry's sites", e);
            let mut stmt = conn.prepare(&sql).map_err(fail)?;
            let names: Vec<String> =
                stmt.query_map([], |r| r.get(0)).map_err(fail)?.collect::<duckdb::Result<_>>().map_err(fail)?;
            let mut rank = 0;
            for name in names {
                let label = if name == filter::MISSING {
                    name.clone()
                } else {
                    rank += 1;
                    format!("Site {rank}")
                };
                anonymous.insert(label.clone(), name.clone());
                labels.insert(name.clone(), if sites == SiteNames::Shown { name } else { label });
            }
        }
        let filters: Vec<Filter> = parsed
            .into_iter()
            .map(|f| match f {
                Filter::OneOf { column, values, negate } if Some(&column) == profile.site.as_ref() => {
                    let values = values
                        .into_iter()
                        .map(|v| if labels.contains_key(&v) { v } else { anonymous.get(&v).cloned().unwrap_or(v) })
                        .collect();
                    Filter::OneOf { column, values, negate }
                }
                other => other,
            })
            .collect();
        let conditions =
            filters.iter().map(|f| f.condition(table, profile, visits.as_deref())).collect::<Result<_, _>>()?;
        Ok(Cohort { labels, filters, conditions, participants, visits })
    }

    /// `WHERE` with every filter's condition but those on column `skip` (empty with none).
    pub fn where_clause(&self, skip: Option<&str>) -> String {
        let kept: Vec<&str> = self
            .filters
            .iter()
            .zip(&self.conditions)
            .filter(|(f, _)| skip.is_none() || f.column() != skip)
            .map(|(_, c)| c.as_str())
            .collect();
        if kept.is_empty() { String::new() } else { format!("WHERE {}", kept.join(" AND ")) }
    }

    /// SQL that makes schema `target`'s participant table the cohort and its visits table theirs
    /// (`CREATE OR REPLACE VIEW`: the schema exists).
    pub fn views(&self, target: &str, profile: &Profile) -> String {
        let target = quote_ident(target);
        let p = format!("{target}.{}", quote_ident(&profile.table));
        let mut sql =
            format!("CREATE OR REPLACE VIEW {p} AS SELECT * FROM {} {};\n", self.participants, self.where_clause(None));
        if let (Some(v), Some(vt)) = (&profile.visits, &self.visits) {
            sql.push_str(&format!(
                "CREATE OR REPLACE VIEW {target}.{name} AS SELECT * FROM {vt} WHERE {vpid} IN (SELECT {pid} FROM {p});\n",
                name = quote_ident(&v.table),
                vpid = quote_ident(&v.participant),
                pid = quote_ident(&profile.participant),
            ));
        }
        sql
    }
}
