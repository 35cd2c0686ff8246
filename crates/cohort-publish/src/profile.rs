//! The publish profile: which table holds the participants and what its columns mean.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use crate::PublishError;

/// A publish profile (YAML). Unknown keys are refused, so a typo is not silently ignored.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// The table with one row per participant.
    pub table: String,
    /// Its participant id column.
    pub participant: String,
    /// The enrolment date column, for enrolment over time and retention.
    #[serde(default)]
    pub enrolled: Option<String>,
    /// The site column (counted per site).
    #[serde(default)]
    pub site: Option<String>,
    /// The region column (counted per region).
    #[serde(default)]
    pub region: Option<String>,
    /// Categorical columns to count participants by.
    #[serde(default)]
    pub categories: Vec<String>,
    /// Numeric columns to summarise (n, quartiles, a binned histogram).
    #[serde(default)]
    pub numeric: Vec<String>,
    /// The visits (or encounters) table, for longitudinal summaries.
    #[serde(default)]
    pub visits: Option<VisitsProfile>,
    /// Columns of the participant table a cohort is chosen by on the registry dashboard, in
    /// order; default: the site, region, categories, numeric columns and enrolment date.
    #[serde(default)]
    pub filters: Vec<String>,
    /// Clinical domains and the columns (of the participant or the visits table) that belong to
    /// them, for the data dictionary (`{Demographics: [sex, age], Diagnosis: [disease]}`); the
    /// visits table's `domains` count too.
    #[serde(default)]
    pub domains: BTreeMap<String, Vec<String>>,
    /// Columns (of the participant or the visits table) every participant should have a value
    /// of: the dictionary flags them, with how many lack one.
    #[serde(default)]
    pub required: Vec<String>,
    /// Labels of the participant table's columns, for people.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// The period enrolment is counted by: `month`, `quarter` or `year`; default (in a public
    /// bundle): the finest that keeps most participants in published cells.
    #[serde(default)]
    pub enrolment_period: Option<String>,
    /// Bins of a numeric column's histogram (`{age: 5}`); default (in a public bundle): the most,
    /// of 10, 8, 6, 5, 4, 3, 2, that keep most participants in published cells.
    #[serde(default)]
    pub bins: BTreeMap<String, usize>,
    /// When a public bundle publishes a measure's quartiles, and how exactly.
    #[serde(default)]
    pub quartiles: Option<QuartilesProfile>,
    /// The data cutoff (`YYYY-MM-DD`); default: the latest date in the data.
    #[serde(default)]
    pub cutoff: Option<String>,
    /// The suppression threshold: counts from 1 to k-1 are never published (default 11, which
    /// is also the floor).
    #[serde(default)]
    pub k: Option<u64>,
    /// Acknowledges publishing with k below this floor: must be 11 ([`crate::DEFAULT_K`]) to allow
    /// a lower k, and needs `k_reason`.
    #[serde(default)]
    pub allow_k_below: Option<u64>,
    /// Why this dataset may be published with k below the floor (an ethics approval, say); recorded
    /// in every bundle published so.
    #[serde(default)]
    pub k_reason: Option<String>,
}

impl Profile {
    /// The clinical domain of column `column` of `table`, for the dictionary: the profile's
    /// `domains` first, then the visits table's.
    pub fn domain_of(&self, table: &str, column: &str) -> Option<&str> {
        fn named<'a>(domains: &'a BTreeMap<String, Vec<String>>, column: &str) -> Option<&'a str> {
            domains.iter().find(|(_, columns)| columns.iter().any(|c| c == column)).map(|(d, _)| d.as_str())
        }
        let in_table = |t: &str| t == table;
        let of_the_profile = in_table(&self.table) || self.visits.as_ref().is_some_and(|v| in_table(&v.table));
        if of_the_profile && let Some(domain) = named(&self.domains, column) {
            return Some(domain);
        }
        self.visits.as_ref().filter(|v| in_table(&v.table)).and_then(|v| named(&v.domains, column))
    }

    /// The columns a cohort is chosen by: [`Profile::filters`], or by default the site, region,
    /// categories, numeric columns and enrolment date.
    pub fn filter_columns(&self) -> Vec<String> {
        if !self.filters.is_empty() {
            return self.filters.clone();
        }
        let mut columns: Vec<String> = Vec::new();
        for c in self.site.iter().chain(&self.region).chain(&self.categories).chain(&self.numeric).chain(&self.enrolled)
        {
            if !columns.contains(c) {
                columns.push(c.clone());
            }
        }
        columns
    }

    /// For a `k` below the floor, the profile's reason for allowing it (recorded in the bundle);
    /// an error when the profile does not allow it. `None` for a k at or above the floor.
    pub fn allowance_below_floor(&self, k: u64) -> Result<Option<String>, PublishError> {
        if k >= crate::DEFAULT_K {
            return Ok(None);
        }
        let reason = self.k_reason.as_deref().map(str::trim).filter(|r| !r.is_empty());
        match (self.allow_k_below, reason) {
            (Some(floor), Some(reason)) if floor == crate::DEFAULT_K && k >= 2 => Ok(Some(reason.to_string())),
            _ => Err(PublishError::KBelowFloor { k, floor: crate::DEFAULT_K }),
        }
    }
}

/// How a public bundle publishes quartiles: only for a measure with at least `min_participants`
/// values (and never fewer than k), rounded to a multiple of `round_to`, so that a quartile of a
/// small registry does not give a participant's exact value.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuartilesProfile {
    /// The fewest values a measure needs for its quartiles to be published (default 20).
    #[serde(default = "QuartilesProfile::default_min")]
    pub min_participants: u64,
    /// The rounding step (default 1: whole units).
    #[serde(default = "QuartilesProfile::default_round_to")]
    pub round_to: f64,
}

impl QuartilesProfile {
    fn default_min() -> u64 {
        20
    }

    fn default_round_to() -> f64 {
        1.0
    }
}

impl Default for QuartilesProfile {
    fn default() -> Self {
        QuartilesProfile { min_participants: Self::default_min(), round_to: Self::default_round_to() }
    }
}

/// The longitudinal part of a profile.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VisitsProfile {
    /// The table with one row per visit.
    pub table: String,
    /// Its participant id column.
    pub participant: String,
    /// Its visit date column.
    pub date: String,
    /// Clinical domains and the columns that hold them, for data availability.
    #[serde(default)]
    pub domains: BTreeMap<String, Vec<String>>,
}

impl Profile {
    /// Reads and parses `path`; errors name the file and the line.
    pub fn read(path: &Path) -> Result<(Profile, String), PublishError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| PublishError::Profile { path: path.into(), message: e.to_string() })?;
        let profile = Profile::parse(&text).map_err(|message| PublishError::Profile { path: path.into(), message })?;
        Ok((profile, text))
    }

    /// Parses a profile's YAML text; the error says why, with the line.
    pub fn parse(text: &str) -> Result<Profile, String> {
        let profile: Profile = serde_saphyr::from_str(text).map_err(|e| e.to_string())?;
        if profile.k == Some(0) || profile.k == Some(1) {
            return Err("k must be at least 2 (11 is the usual policy)".into());
        }
        if let Some(period) = &profile.enrolment_period
            && !crate::compute::PERIODS.contains(&period.as_str())
        {
            return Err(format!("enrolment_period `{period}` is not month, quarter or year"));
        }
        if let Some((column, bins)) = profile.bins.iter().find(|(_, b)| !(2..=50).contains(*b)) {
            return Err(format!("bins of `{column}`: {bins} is not between 2 and 50"));
        }
        if profile.quartiles.as_ref().is_some_and(|q| q.round_to.is_nan() || q.round_to <= 0.0) {
            return Err("quartiles.round_to must be above 0".into());
        }
        Ok(profile)
    }
}
