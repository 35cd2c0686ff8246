//! A cohort of a registry version as SQL: its filters checked and turned into conditions over the
//! version's tables, and the views that narrow the participant table (and its visits) to it.

use std::collections::HashMap;

use cohort_publish::Profile;
use cohort_publish::summary::SummaryMeta;
use cohort_store::ResolvedVersion;
use cohort_store::name::quote_ident;

use crate::RegistryError;
use crate::dashboard::SiteNames;
use crate::filter::{self, Filter};

/// What a cohort's conditions are written over.
pub(crate) enum Over<'a> {
    /// The version's tables, mounted in this schema (`has:` reads its visits table).
    Tables(&'a str),
    /// The version's per-participant summary (`has:` reads its domain flags).
    Summary(&'a SummaryMeta),
}

/// A cohort of a registry version.
pub(crate) struct Cohort {
    /// Each site's name (and `(missing)`) and how the reader is shown it.
    pub labels: HashMap<String, String>,
    /// The filters, site labels turned back into names.
    pub filters: Vec<Filter>,
    /// Each filter's SQL condition on a participant row.
    pub conditions: Vec<String>,
    /// The participant table, qualified (over tables).
    pub participants: String,
    /// The visits table, qualified, if the profile has one (over tables).
    pub visits: Option<String>,
}

impl Cohort {
    /// Reads `filters` against `version` under `profile`, as conditions `over` its tables or its
    /// summary. Sites are labelled `Site N` by their rank in `sites` (the summary's: by size in
    /// the whole version, largest first), so a label is the same site in every cohort; a filter
    /// may name a site by its label whoever wrote it.
    pub fn new(
        version: &ResolvedVersion,
        profile: &Profile,
        filters: &[String],
        names: SiteNames,
        sites: &[String],
        over: Over<'_>,
    ) -> Result<Cohort, RegistryError> {
        cohort_publish::check_profile(version, profile)?;
        let parsed = filter::parse_all(filters)?;
        let table = version.table(&profile.table).expect("checked by check_profile");
        let src = match over {
            Over::Tables(src) => src,
            Over::Summary(_) => "src",
        };
        let participants = format!("{}.{}", quote_ident(src), quote_ident(&profile.table));
        let visits = profile.visits.as_ref().map(|v| format!("{}.{}", quote_ident(src), quote_ident(&v.table)));
        let mut labels = HashMap::new();
        let mut anonymous: HashMap<String, String> = HashMap::new();
        let mut rank = 0;
        for name in sites {
            let label = if name == filter::MISSING {
                name.clone()
            } else {
                rank += 1;
                format!("Site {rank}")
            };
            anonymous.insert(label.clone(), name.clone());
            labels.insert(name.clone(), if names == SiteNames::Shown { name.clone() } else { label });
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
        let has = match over {
            Over::Tables(_) => filter::Has::Visits(visits.as_deref()),
            Over::Summary(meta) => filter::Has::Summary(&meta.domains),
        };
        let conditions = filters.iter().map(|f| f.condition(table, profile, &has)).collect::<Result<_, _>>()?;
        Ok(Cohort { labels, filters, conditions, participants, visits })
    }

    /// Whether a filter is on the profile's site column (its labels then need the sites' ranks).
    pub fn filters_sites(profile: &Profile, filters: &[String]) -> Result<bool, RegistryError> {
        let parsed = filter::parse_all(filters)?;
        Ok(profile.site.is_some() && parsed.iter().any(|f| f.column() == profile.site.as_deref()))
    }

    /// Every filter's condition but those on column `skip`, joined by `AND` (`None`: none).
    pub fn condition(&self, skip: Option<&str>) -> Option<String> {
        let kept: Vec<&str> = self
            .filters
            .iter()
            .zip(&self.conditions)
            .filter(|(f, _)| skip.is_none() || f.column() != skip)
            .map(|(_, c)| c.as_str())
            .collect();
        (!kept.is_empty()).then(|| kept.join(" AND "))
    }

    /// `WHERE` with every filter's condition (empty with none).
    fn where_clause(&self) -> String {
        self.condition(None).map_or(String::new(), |c| format!("WHERE {c}"))
    }

    /// SQL that makes schema `target`'s participant table the cohort and its visits table theirs
    /// (`CREATE OR REPLACE VIEW`: the schema exists).
    pub fn views(&self, target: &str, profile: &Profile) -> String {
        let target = quote_ident(target);
        let p = format!("{target}.{}", quote_ident(&profile.table));
        let mut sql =
            format!("CREATE OR REPLACE VIEW {p} AS SELECT * FROM {} {};\n", self.participants, self.where_clause());
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
