//! The aggregates of a bundle, computed in DuckDB over the per-participant summary of one dataset
//! version ([`crate::summary`]), a handful of grouped queries whatever the figures. Every count
//! goes through [`crate::suppress`]; nothing here returns a participant-level value.

use duckdb::Connection;
use serde::{Deserialize, Serialize};

use crate::PublishError;
use crate::groups::Counted;
pub use crate::groups::{Groups, Key, MISSING_VALUE, PAIR};
use crate::profile::Profile;
use crate::query_error as sql_err;
use crate::summary::{self, Summary};
use crate::suppress::{Counts, Table, single, suppress};

/// A numeric column, summarised.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NumericSummary {
    /// The column.
    pub column: String,
    /// Lower quartile; the quartiles are `None` when fewer than k participants have a value. How
    /// many have one is not published here: it would reveal, by subtraction from the
    /// participants, how many have none. The histogram's cells carry the counts, suppressed.
    pub q1: Option<f64>,
    /// Median.
    pub median: Option<f64>,
    /// Upper quartile.
    pub q3: Option<f64>,
    /// The id of its histogram in the bundle's tables (open-ended first and last bins, so no
    /// bin edge is an extreme value).
    pub histogram: Option<String>,
}

/// A column's completeness, for the dictionary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DictionaryEntry {
    /// The table.
    pub table: String,
    /// The column.
    pub column: String,
    /// Its label, from the profile.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// What its values are, in plain words (`text`, `whole number`, `number`, `date`, ...).
    pub kind: String,
    /// Its SQL type (the protected view only; a public bundle says `kind`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sql_type: Option<String>,
    /// Share of rows with a value, 0 to 1; `None` when the missing or present count is small.
    pub completeness: Option<f64>,
    /// Its clinical domain, from the profile.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    /// Whether the profile says every participant should have a value.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub required: bool,
    /// Its code list in a line (`1 = Male; 2 = Female`), from the source file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub codes: Option<String>,
    /// Completeness among all the version's participants (the protected view, beside the
    /// cohort's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completeness_all: Option<f64>,
    /// What may be wrong with it (the protected view): a required column without a value for
    /// some, values its code list does not name, a label unlike the source file's.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub concerns: Vec<String>,
}

/// What a column's values are, in plain words, from its SQL type.
pub fn plain_kind(sql_type: &str) -> &'static str {
    match sql_type {
        t if t.ends_with("[]") => "list",
        t if t.starts_with("STRUCT") => "group of fields",
        "BOOLEAN" => "yes/no",
        "TINYINT" | "SMALLINT" | "INTEGER" | "BIGINT" | "HUGEINT" | "UTINYINT" | "USMALLINT" | "UINTEGER"
        | "UBIGINT" => "whole number",
        t if t == "FLOAT" || t == "DOUBLE" || t.starts_with("DECIMAL") => "number",
        "DATE" => "date",
        t if t.starts_with("TIMESTAMP") => "date and time",
        "TIME" => "time of day",
        "VARCHAR" | "JSON" => "text",
        _ => "other",
    }
}

/// How figures are computed: for a public bundle (suppressed, coarsened as needed, rounded
/// quartiles, the profile's columns only) or for the protected registry view (exact).
pub struct Options<'a> {
    /// The suppression threshold (1: nothing suppressed).
    pub k: u64,
    /// How sites are named.
    pub sites: SiteLabels<'a>,
    /// A public bundle's rules apply.
    pub public: bool,
    /// The columns (categories or region) enrolment over time is broken down by (the protected
    /// view only): each is one more count of every participant, so only those asked for.
    pub enrolment_by: &'a [String],
}

/// The columns enrolment over time can be broken down by: the profile's categories and region.
pub fn enrolment_by_columns(profile: &Profile) -> Vec<String> {
    profile.categories.iter().chain(&profile.region).cloned().collect()
}

/// The id of the breakdown of enrolment by `period` and `column`.
pub fn enrolment_breakdown_id(period: &str, column: &str) -> String {
    format!("enrolment-by-{period}-by-{column}")
}

/// The column of an enrolment breakdown's id ([`enrolment_breakdown_id`]).
pub fn enrolment_breakdown_column(id: &str) -> Option<&str> {
    PERIODS.iter().find_map(|period| id.strip_prefix(&format!("enrolment-by-{period}-by-")))
}

/// The period the protected view counts enrolment by: the profile's, or months.
pub fn protected_period(profile: &Profile) -> &str {
    profile.enrolment_period.as_deref().unwrap_or("month")
}

/// Periods enrolment can be counted by, finest first.
pub const PERIODS: [&str; 3] = ["month", "quarter", "year"];

/// Bins a histogram can have, most first.
pub const BINS: [usize; 7] = [10, 8, 6, 5, 4, 3, 2];

/// The most of a table's participants a public bundle's automatic choice of period or bins lets
/// hide in suppressed cells.
pub const MAX_HIDDEN_SHARE: f64 = 0.25;

/// The share of `counts`' participants in cells that suppression under `k` hides.
pub fn hidden_share(counts: &Counts, k: u64) -> f64 {
    let total: u64 = counts.cells.iter().map(|c| c.1).sum();
    if total == 0 {
        return 0.0;
    }
    let table = suppress(counts.clone(), k);
    let listed: u64 = table.cells.iter().filter(|c| c.key != crate::SUPPRESSED_KEY).filter_map(|c| c.count).sum();
    (total - listed) as f64 / total as f64
}

/// What was chosen for a public bundle, and how much each table hides.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Choices {
    /// The enrolment period (`month`, `quarter`, `year`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enrolment_period: Option<String>,
    /// Bins of each histogram.
    #[serde(default)]
    pub bins: std::collections::BTreeMap<String, usize>,
    /// Quartiles are published for a measure with at least this many participants with a value.
    pub quartiles_min_participants: u64,
    /// Quartiles are rounded to a multiple of this (`None`: exact).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quartiles_round_to: Option<f64>,
}

/// The longitudinal summaries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Longitudinal {
    /// Visits in all; `None` when small.
    pub visits: Option<u64>,
    /// Person-years from enrolment to last visit; `None` when participants are few.
    pub person_years: Option<f64>,
    /// Each participant's median days between visits, summarised across participants.
    pub median_gap_days: NumericSummary,
    /// Table ids: visits per participant, active in the last 12 months, retention at years 1-5,
    /// data availability per domain.
    pub tables: Vec<String>,
}

/// Counts by two dimensions, for the protected view only: a public bundle's cells this fine would
/// mostly be too small to publish (and a running total would give hidden cells by subtraction).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Breakdown {
    /// Stable id (`enrolment-by-month-by-sex`, `site-recruitment-by-year`).
    pub id: String,
    /// For people.
    pub title: String,
    /// What the rows are (`month`, `site`).
    pub rows_are: String,
    /// What the columns are (`sex`, `year`).
    pub columns_are: String,
    /// What a count is (`participants`, `sites`).
    pub unit: String,
    /// The rows, in order.
    pub rows: Vec<String>,
    /// The columns, in order.
    pub columns: Vec<String>,
    /// `counts[row][column]`.
    pub counts: Vec<Vec<u64>>,
}

impl Breakdown {
    /// The breakdown of grouped `cells` keyed `row` [`PAIR`] `column`: rows in `row_order` (or
    /// by key), columns by key or by total (largest first); `(missing)` last either way.
    fn of(
        (id, title): (String, String),
        (rows_are, columns_are): (&str, &str),
        cells: &[(String, u64)],
        row_order: Option<&[String]>,
        columns_by_key: bool,
    ) -> Breakdown {
        use std::collections::{HashMap, HashSet};
        let pairs: Vec<(&str, &str, u64)> =
            cells.iter().filter_map(|(key, n)| key.split_once(PAIR).map(|(r, c)| (r, c, *n))).collect();
        // Rows and columns are found by name through maps: a registry may have thousands of sites.
        let mut rows: Vec<&str> = Vec::new();
        let mut seen_rows: HashSet<&str> = HashSet::new();
        let mut totals: HashMap<&str, u64> = HashMap::new();
        for (r, c, n) in &pairs {
            if seen_rows.insert(r) {
                rows.push(r);
            }
            *totals.entry(c).or_default() += n;
        }
        let missing_last = |k: &&str| (*k == MISSING_VALUE, k.to_string());
        match row_order {
            Some(order) => rows = order.iter().map(String::as_str).filter(|r| seen_rows.contains(r)).collect(),
            None => rows.sort_by_key(missing_last),
        }
        let mut columns: Vec<&str> = totals.keys().copied().collect();
        if columns_by_key {
            columns.sort_by_key(missing_last);
        } else {
            columns.sort_by(|a, b| {
                (*a == MISSING_VALUE).cmp(&(*b == MISSING_VALUE)).then(totals[b].cmp(&totals[a])).then_with(|| a.cmp(b))
            });
        }
        let row_at: HashMap<&str, usize> = rows.iter().enumerate().map(|(i, r)| (*r, i)).collect();
        let column_at: HashMap<&str, usize> = columns.iter().enumerate().map(|(j, c)| (*c, j)).collect();
        let mut counts = vec![vec![0; columns.len()]; rows.len()];
        for (r, c, n) in pairs {
            if let (Some(i), Some(j)) = (row_at.get(r), column_at.get(c)) {
                counts[*i][*j] += n;
            }
        }
        let (rows, columns) =
            (rows.into_iter().map(str::to_string).collect(), columns.into_iter().map(str::to_string).collect());
        Breakdown {
            id,
            title,
            rows_are: rows_are.into(),
            columns_are: columns_are.into(),
            unit: "participants".into(),
            rows,
            columns,
            counts,
        }
    }
}

/// The bands of participants a site has enrolled, for the sites by size.
pub const SITE_SIZE_BANDS: [(u64, u64, &str); 5] =
    [(1, 9, "1-9"), (10, 49, "10-49"), (50, 99, "50-99"), (100, 499, "100-499"), (500, u64::MAX, "500+")];

/// The bands of a participant's median time between visits: up to each of [`GAP_BAND_DAYS`],
/// beyond the last, and for a participant with fewer than two visits.
const GAP_BANDS: [&str; 7] =
    ["up to 1 month", "1-2 months", "2-3 months", "3-6 months", "6-12 months", "over 12 months", "fewer than 2 visits"];

/// The upper bounds, in days, of the first [`GAP_BANDS`].
const GAP_BAND_DAYS: [u32; 5] = [30, 61, 91, 183, 365];

/// What a bundle holds besides its header.
#[derive(Debug, Clone, Default)]
pub struct Figures {
    /// Participants; `None` when small.
    pub participants: Option<u64>,
    /// Every count table.
    pub tables: Vec<Table>,
    /// Numeric summaries.
    pub numeric: Vec<NumericSummary>,
    /// Longitudinal summaries, if the profile names a visits table.
    pub longitudinal: Option<Longitudinal>,
    /// The data dictionary with completeness.
    pub dictionary: Vec<DictionaryEntry>,
    /// The cutoff used (`YYYY-MM-DD`).
    pub cutoff: Option<String>,
    /// Periods, bins and quartile rules used.
    pub choices: Choices,
    /// Each table's share of participants in hidden cells, by table id.
    pub hidden: Vec<(String, f64)>,
    /// Counts by two dimensions (the protected view only).
    pub breakdowns: Vec<Breakdown>,
}

fn ident(name: &str) -> String {
    cohort_store::name::quote_ident(name)
}

/// How the sites of the per-site table are named.
pub enum SiteLabels<'a> {
    /// `Site 1`, `Site 2`, ... by rank in the table (a public bundle: never names).
    ByRank,
    /// Each site's own label (its name, or an anonymous one kept stable across cohorts); a site
    /// without one is shown by rank.
    Given(&'a std::collections::HashMap<String, String>),
}

/// What figures are computed over: a version's per-participant summary, and the condition on
/// it that chooses a cohort (none: every participant).
pub struct Source<'a> {
    /// The summary.
    pub summary: &'a Summary,
    /// A SQL condition on the summary's rows.
    pub condition: Option<&'a str>,
}

impl Source<'_> {
    /// `FROM` text: the summary, narrowed to the cohort.
    pub fn from(&self) -> String {
        self.from_with(None)
    }

    /// `FROM` text: the summary, narrowed to the cohort and to `also`.
    pub fn from_with(&self, also: Option<&str>) -> String {
        let conditions: Vec<&str> = self.condition.into_iter().chain(also).collect();
        if conditions.is_empty() {
            self.summary.relation()
        } else {
            format!("{} WHERE {}", self.summary.relation(), conditions.join(" AND "))
        }
    }
}

/// Computes every figure of a public bundle of `profile` over `source`: sites named by rank,
/// counts suppressed under `k`.
pub fn figures(conn: &Connection, profile: &Profile, k: u64, source: &Source<'_>) -> Result<Figures, PublishError> {
    figures_with(conn, profile, Options { k, sites: SiteLabels::ByRank, public: true, enrolment_by: &[] }, source)
}

/// Single-row aggregates gathered into one query: each a number, or quantiles of a list.
#[derive(Default)]
struct Scalars {
    inner: Vec<String>,
    outer: Vec<String>,
}

impl Scalars {
    /// An aggregate; its place in [`Scalars::run`]'s answer.
    fn add(&mut self, aggregate: String) -> usize {
        let i = self.inner.len();
        self.inner.push(format!("{aggregate} AS a{i}"));
        self.outer.push(format!("CAST(a{i} AS DOUBLE)"));
        self.outer.len() - 1
    }

    /// Quantiles `ps` of `expr` (a `DOUBLE`), sorted once; their places.
    fn quantiles(&mut self, expr: &str, ps: &[f64]) -> Vec<usize> {
        let i = self.inner.len();
        let list = ps.iter().map(|p| p.to_string()).collect::<Vec<_>>().join(", ");
        self.inner.push(format!("quantile_cont({expr}, [{list}]) AS a{i}"));
        (1..=ps.len())
            .map(|j| {
                self.outer.push(format!("a{i}[{j}]"));
                self.outer.len() - 1
            })
            .collect()
    }

    fn run(&self, conn: &Connection, from: &str) -> Result<Vec<Option<f64>>, PublishError> {
        let sql = format!("SELECT {} FROM (SELECT {} FROM {from})", self.outer.join(", "), self.inner.join(", "));
        conn.query_row(&sql, [], |r| (0..self.outer.len()).map(|i| r.get::<_, Option<f64>>(i)).collect())
            .map_err(sql_err("the figures"))
    }
}

/// A participant's band of median time between visits ([`GAP_BANDS`]).
fn gap_band() -> Key {
    let gap = summary::GAP;
    let mut case = format!("CASE WHEN {gap} IS NULL THEN {}", GAP_BAND_DAYS.len() + 1);
    for (i, upto) in GAP_BAND_DAYS.iter().enumerate() {
        case.push_str(&format!(" WHEN {gap} <= {upto} THEN {i}"));
    }
    case.push_str(&format!(" ELSE {} END", GAP_BAND_DAYS.len()));
    Key::coded(case, &GAP_BANDS)
}

/// The keys of the years-followed table, in order.
const YEARS_FOLLOWED: [&str; 8] = ["under 1", "1", "2", "3", "4", "5 or more", "(no visits)", "(no enrolment date)"];

/// A participant's whole years from enrolment (`enrolled`, a date expression) to the last visit.
fn years_followed_key(enrolled: &str) -> Key {
    let (last, followed) = (summary::LAST, summary::FOLLOWED);
    Key::coded(
        format!("CASE WHEN {enrolled} IS NULL THEN 7 WHEN {last} IS NULL THEN 6 ELSE least({followed}, 5) END"),
        &YEARS_FOLLOWED,
    )
}

/// The buckets of visits per participant, in order.
const VISIT_BUCKETS: [&str; 7] = ["0", "1", "2", "3-5", "6-10", "11-20", "21+"];

/// Histogram edges: `bins` equal bins between the 5th and 95th percentiles, rounded out.
fn edges(lo: Option<f64>, hi: Option<f64>, bins: usize) -> Vec<f64> {
    let (lo, hi) = (lo.unwrap_or(0.0).floor(), hi.unwrap_or(0.0).ceil());
    let width = ((hi - lo) / bins as f64).max(1.0).ceil();
    (0..=bins).map(|i| lo + width * i as f64).collect()
}

/// The bin (0: below the first edge, `bins + 1`: at or above the last) of `expr`, as text.
fn bin_of(expr: &str, edges: &[f64]) -> String {
    let mut cases = format!("CASE WHEN {expr} < {} THEN 0 ", edges[0]);
    for (i, edge) in edges.iter().enumerate().skip(1) {
        cases.push_str(&format!("WHEN {expr} < {edge} THEN {i} "));
    }
    cases.push_str(&format!("ELSE {} END", edges.len()));
    format!("CAST({cases} AS VARCHAR)")
}

/// Counts by whole number (`floor` of the values) binned by whole-number `edges`, as
/// [`bin_of`] numbers its bins: a value is below an edge exactly when its whole part is.
fn bin_whole_numbers(by_whole: &[(String, u64)], edges: &[f64]) -> Vec<(String, u64)> {
    let mut bins = vec![0u64; edges.len() + 1];
    for (value, n) in by_whole {
        let Ok(x) = value.parse::<f64>() else { continue };
        let bin = edges.iter().position(|edge| x < *edge).unwrap_or(edges.len());
        bins[bin] += n;
    }
    bins.into_iter().enumerate().filter(|(_, n)| *n > 0).map(|(i, n)| (i.to_string(), n)).collect()
}

/// A histogram's cells from its bins' counts: open-ended bins below and above, and a
/// `(missing)` bin, so that its cells partition the same participants as every other table.
fn histogram(column: &str, edges: &[f64], counted: &[(String, u64)], missing: u64) -> Counts {
    let bins = edges.len() - 1;
    let count_of = |bin: usize| counted.iter().find(|(b, _)| b == &bin.to_string()).map_or(0, |c| c.1);
    let mut cells = vec![(format!("< {}", edges[0]), count_of(0))];
    for i in 1..=bins {
        cells.push((format!("{} to < {}", edges[i - 1], edges[i]), count_of(i)));
    }
    cells.push((format!(">= {}", edges[bins]), count_of(bins + 1)));
    cells.push(("(missing)".into(), missing));
    Counts {
        id: format!("histogram-{column}"),
        title: format!("Distribution of {column}"),
        dimension: column.into(),
        cells,
    }
}

/// [`figures`] as `options` say.
pub fn figures_with(
    conn: &Connection,
    profile: &Profile,
    options: Options<'_>,
    source: &Source<'_>,
) -> Result<Figures, PublishError> {
    let Options { k, sites, public, enrolment_by } = options;
    let meta = &source.summary.meta;
    let from = source.from();
    let rule = profile.quartiles.clone().unwrap_or_default();
    let quartiles = if public {
        QuartileRule { min: rule.min_participants.max(k), round_to: Some(rule.round_to) }
    } else {
        QuartileRule { min: 1, round_to: None }
    };
    let mut out = Figures::default();
    out.choices.quartiles_min_participants = quartiles.min;
    out.choices.quartiles_round_to = quartiles.round_to;
    let cutoff = profile.cutoff.clone().or_else(|| meta.latest_date.clone());
    let enrolled = profile.enrolled.as_ref().map(|e| format!("CAST({} AS DATE)", ident(e)));
    // Dates before the cutoff, worked out here so that rows compare with constants.
    let before = |span: jiff::Span| -> Result<Option<String>, PublishError> {
        let Some(cutoff) = &cutoff else { return Ok(None) };
        let date: jiff::civil::Date = cutoff.parse().map_err(|_| PublishError::Query {
            what: "the cutoff".into(),
            message: format!("`{cutoff}` is not a date (YYYY-MM-DD)"),
        })?;
        let earlier = date
            .checked_sub(span)
            .map_err(|e| PublishError::Query { what: "the cutoff".into(), message: e.to_string() })?;
        Ok(Some(format!("DATE '{earlier}'")))
    };

    // Every single-row figure in one query, every count table in a second.
    let mut scalars = Scalars::default();
    let mut groups = Groups::default();
    let sql_type =
        |column: &str| meta.participant_columns.iter().find(|c| c.name == column).map_or("", |c| c.sql_type.as_str());
    let column_key = |column: &str| Key::column(column, sql_type(column));
    let participants_at = scalars.add("count(*)".into());
    // A measure's values by whole number, binned here once its quantiles are known (histogram
    // edges are whole numbers), when its range is narrow enough; the quantiles of a measure of
    // whole numbers come from the same counts, exactly, rather than from a sort.
    let by_whole: Vec<Option<usize>> = profile
        .numeric
        .iter()
        .map(|column| match meta.ranges.get(column) {
            Some((lo, hi)) if hi - lo <= 10_000.0 => Some(
                groups.add(Key::integer(format!("CAST(floor(CAST({} AS DOUBLE)) AS BIGINT)", ident(column))), None),
            ),
            _ => None,
        })
        .collect();
    let measures: Vec<Spread> = profile
        .numeric
        .iter()
        .zip(&by_whole)
        .map(|(column, whole)| match whole {
            Some(at) if plain_kind(sql_type(column)) == "whole number" => Spread::Counted { at: *at, unit: 1.0 },
            _ => {
                let n = scalars.add(format!("count({})", ident(column)));
                let expr = format!("CAST({} AS DOUBLE)", ident(column));
                Spread::Scalars { n, q: scalars.quantiles(&expr, &MEASURE_QUANTILES) }
            }
        })
        .collect();
    struct VisitScalars {
        rows: usize,
        gaps: Spread,
        person_days: Option<usize>,
        active: Option<usize>,
        domains: Vec<(String, usize)>,
    }
    let a_year_before = before(jiff::Span::new().months(12))?;
    let visit_scalars = profile.visits.as_ref().map(|_| {
        let rows = scalars.add(format!("sum({})", summary::ROWS));
        // A median of whole days is a whole or a half day: counted by half days, its
        // quartiles are exact.
        let gaps = Spread::Counted {
            at: groups.add(Key::integer(format!("CAST({} * 2 AS BIGINT)", summary::GAP)), None),
            unit: 0.5,
        };
        let last = summary::LAST;
        let person_days = enrolled.as_ref().map(|e| {
            scalars.add(format!("sum(greatest({last} - {e}, 0)) FILTER (WHERE {last} IS NOT NULL AND {e} IS NOT NULL)"))
        });
        let active = a_year_before.as_ref().map(|d| scalars.add(format!("count(*) FILTER (WHERE {last} > {d})")));
        let domains = meta
            .domains
            .iter()
            .map(|(domain, column)| (domain.clone(), scalars.add(format!("count(*) FILTER (WHERE {column})"))))
            .collect();
        VisitScalars { rows, gaps, person_days, active, domains }
    });
    let participant_present: Vec<usize> =
        meta.participant_columns.iter().map(|col| scalars.add(format!("count({})", ident(&col.name)))).collect();
    let visit_present: Vec<usize> = meta
        .visit_columns
        .iter()
        .map(|col| scalars.add(format!("sum({})", col.present.as_deref().unwrap_or("0"))))
        .collect();

    let categories: Vec<(String, usize)> =
        profile.categories.iter().map(|column| (column.clone(), groups.add(column_key(column), None))).collect();
    let region = profile.region.as_ref().map(|r| groups.add(column_key(r), None));
    let site = profile.site.as_ref().map(|s| groups.add(column_key(s), None));
    let periods: Vec<&str> = match (&profile.enrolment_period, public) {
        (Some(period), _) => vec![period.as_str()],
        (None, false) => vec!["month"],
        (None, true) => PERIODS.to_vec(),
    };
    let enrolment: Vec<(&str, usize)> = match &enrolled {
        Some(e) => periods.iter().map(|p| (*p, groups.add(Key::period(e, p), None))).collect(),
        None => Vec::new(),
    };
    let visit_buckets = profile.visits.as_ref().map(|_| {
        let v = summary::VISITS;
        groups.add(
            Key::coded(
                format!(
                    "CASE WHEN {v} <= 2 THEN {v} WHEN {v} <= 5 THEN 3 WHEN {v} <= 10 THEN 4 WHEN {v} <= 20 THEN 5 \
                     ELSE 6 END"
                ),
                &VISIT_BUCKETS,
            ),
            None,
        )
    });
    // Retention at years 1-5: participants by the years they were enrolled before the cutoff
    // and the years from enrolment to their last visit (both 0 to 5).
    let retention = match (&profile.visits, &enrolled) {
        (Some(_), Some(e)) if cutoff.is_some() => {
            let mut eligible = String::from("CASE");
            for year in (1..=5).rev() {
                let d = before(jiff::Span::new().years(year))?.expect("a cutoff");
                eligible.push_str(&format!(" WHEN {e} <= {d} THEN {year}"));
            }
            eligible.push_str(" ELSE 0 END");
            Some(groups.add_pair(Key::integer(eligible), Key::integer(summary::FOLLOWED)))
        }
        _ => None,
    };
    // The protected view's breakdowns, in the same scan: enrolment by period and each category
    // (and region), sites by region and by year of enrolment, time between visits, years
    // followed.
    let detail = !public;
    let by_period: Vec<(String, usize)> = match (&enrolled, detail) {
        (Some(e), true) => enrolment_by_columns(profile)
            .into_iter()
            .filter(|c| enrolment_by.contains(c))
            .map(|c| {
                let at = groups.add_pair(Key::period(e, periods[0]), column_key(&c));
                (c, at)
            })
            .collect(),
        _ => Vec::new(),
    };
    let site_region = match (&profile.site, &profile.region, detail) {
        (Some(s), Some(r), true) => Some(groups.add_pair(column_key(s), column_key(r))),
        _ => None,
    };
    let site_year = match (&profile.site, &enrolled, detail) {
        (Some(s), Some(e), true) => Some(groups.add_pair(column_key(s), Key::period(e, "year"))),
        _ => None,
    };
    let gap_bands = (detail && profile.visits.is_some()).then(|| groups.add(gap_band(), None));
    let years_followed = match (&profile.visits, &enrolled, detail) {
        (Some(_), Some(e), true) => Some(groups.add(years_followed_key(e), None)),
        _ => None,
    };
    let values = scalars.run(conn, &from)?;
    let counted = groups.run(conn, &source.summary.relation(), source.condition)?;
    let count = |i: usize| values[i].unwrap_or(0.0).max(0.0) as u64;
    let participants = count(participants_at);
    out.participants = single(participants, k);
    // Each measure's values and its quantiles (`MEASURE_QUANTILES`).
    let spreads: Vec<(u64, Vec<Option<f64>>)> =
        measures.iter().map(|m| m.resolve(&values, &counted, &MEASURE_QUANTILES)).collect();

    // Histograms: binned from the whole numbers, or counted by a third query.
    let mut histograms = Groups::default();
    // For each measure, each candidate histogram: its edges and its bins' counts.
    let mut candidates: Vec<Vec<(Vec<f64>, Counted)>> = Vec::new();
    let mut pending = Vec::new();
    for ((column, (n, q)), whole) in profile.numeric.iter().zip(&spreads).zip(&by_whole) {
        let n = *n;
        let bins: Vec<usize> = if single(n, k).is_none() || n == 0 {
            Vec::new()
        } else {
            match (profile.bins.get(column), public) {
                (Some(bins), _) => vec![*bins],
                (None, false) => vec![BINS[0]],
                (None, true) => BINS.to_vec(),
            }
        };
        let only = format!("{} IS NOT NULL", ident(column));
        let mut made = Vec::new();
        for bins in bins {
            let edges = edges(q[3], q[4], bins);
            match whole {
                Some(at) => {
                    let binned = bin_whole_numbers(&counted[*at], &edges);
                    made.push((edges, binned));
                }
                None => {
                    pending.push((
                        candidates.len(),
                        made.len(),
                        histograms.add(Key::text(bin_of(&ident(column), &edges)), Some(&only)),
                    ));
                    made.push((edges, Vec::new()));
                }
            }
        }
        candidates.push(made);
    }
    if !pending.is_empty() {
        let binned = histograms.run(conn, &source.summary.relation(), source.condition)?;
        for (measure, candidate, at) in pending {
            candidates[measure][candidate].1 = binned[at].clone();
        }
    }

    let mut hidden = Vec::new();
    let mut table = |counts: Counts| {
        hidden.push((counts.id.clone(), hidden_share(&counts, k)));
        out.tables.push(suppress(counts, k));
    };
    for (column, at) in &categories {
        table(Counts {
            id: format!("category-{column}"),
            title: format!("Participants by {column}"),
            dimension: column.clone(),
            cells: counted[*at].clone(),
        });
    }
    if let (Some(region), Some(at)) = (&profile.region, region) {
        table(Counts {
            id: "region".into(),
            title: "Participants by region".into(),
            dimension: region.clone(),
            cells: counted[at].clone(),
        });
    }
    // Each site's name as the reader sees it, in the order of the site table.
    let site_labels: Vec<(String, String)> = site
        .map(|at| {
            counted[at]
                .iter()
                .enumerate()
                .map(|(i, (name, _))| match &sites {
                    SiteLabels::Given(labels) if labels.contains_key(name) => (name.clone(), labels[name].clone()),
                    _ => (name.clone(), format!("Site {}", i + 1)),
                })
                .collect()
        })
        .unwrap_or_default();
    if let Some(at) = site {
        // Sites are published by rank, never by name: facility names identify places.
        let cells = counted[at].iter().zip(&site_labels).map(|((_, n), (_, label))| (label.clone(), *n)).collect();
        table(Counts { id: "site".into(), title: "Participants per site".into(), dimension: "site".into(), cells });
    }
    out.cutoff = cutoff.clone();
    if !enrolment.is_empty() {
        let made: Vec<Counts> = enrolment
            .iter()
            .map(|(period, at)| {
                let mut cells = counted[*at].clone();
                cells.sort_by(|a, b| a.0.cmp(&b.0));
                Counts {
                    id: format!("enrolment-by-{period}"),
                    title: format!("Enrolment by {period}"),
                    dimension: (*period).into(),
                    cells,
                }
            })
            .collect();
        let counts = finest(made, k);
        out.choices.enrolment_period = Some(counts.dimension.clone());
        table(counts);
    }
    for ((column, (n, q)), candidates) in profile.numeric.iter().zip(&spreads).zip(candidates) {
        let n = *n;
        if single(n, k).is_none() || n == 0 {
            out.numeric.push(NumericSummary {
                column: column.clone(),
                q1: None,
                median: None,
                q3: None,
                histogram: None,
            });
            continue;
        }
        let made: Vec<Counts> = candidates
            .iter()
            .map(|(edges, counted)| histogram(column, edges, counted, participants.saturating_sub(n)))
            .collect();
        let h = finest(made, k);
        out.choices.bins.insert(column.clone(), h.cells.len() - 3);
        out.numeric.push(NumericSummary {
            column: column.clone(),
            q1: quartiles.apply(n, q[0]),
            median: quartiles.apply(n, q[1]),
            q3: quartiles.apply(n, q[2]),
            histogram: Some(h.id.clone()),
        });
        table(h);
    }
    if let (Some(vs), Some(buckets)) = (&visit_scalars, visit_buckets) {
        let mut ids = Vec::new();
        let mut push = |counts: Counts, ids: &mut Vec<String>| {
            ids.push(counts.id.clone());
            table(counts);
        };
        let got = |key: &str, from: &[(String, u64)]| from.iter().find(|(k, _)| k == key).map_or(0, |c| c.1);
        let cells = VISIT_BUCKETS.iter().map(|b| (b.to_string(), got(b, &counted[buckets]))).collect();
        push(
            Counts {
                id: "visits-per-participant".into(),
                title: "Visits per participant".into(),
                dimension: "visits".into(),
                cells,
            },
            &mut ids,
        );
        if let Some(at) = gap_bands {
            let cells = GAP_BANDS.iter().map(|b| (b.to_string(), got(b, &counted[at]))).collect();
            push(
                Counts {
                    id: "time-between-visits".into(),
                    title: "Participants by their median time between visits".into(),
                    dimension: "median time between visits".into(),
                    cells,
                },
                &mut ids,
            );
        }
        if let Some(at) = years_followed {
            let cells = YEARS_FOLLOWED.iter().map(|b| (b.to_string(), got(b, &counted[at]))).collect();
            push(
                Counts {
                    id: "years-followed".into(),
                    title: "Participants by whole years from enrolment to their last visit".into(),
                    dimension: "years followed".into(),
                    cells,
                },
                &mut ids,
            );
        }
        // Quartiles only: a histogram's total would be the participants with two visits or
        // more, which the visits-per-participant table partitions differently.
        let (gaps, q) = vs.gaps.resolve(&values, &counted, &[0.25, 0.5, 0.75]);
        let median_gap_days = if single(gaps, k).is_none() || gaps == 0 {
            NumericSummary { column: "median_gap_days".into(), q1: None, median: None, q3: None, histogram: None }
        } else {
            NumericSummary {
                column: "median_gap_days".into(),
                q1: quartiles.apply(gaps, q[0]),
                median: quartiles.apply(gaps, q[1]),
                q3: quartiles.apply(gaps, q[2]),
                histogram: None,
            }
        };
        let person_years = match vs.person_days {
            Some(at) if single(participants, k).is_some() => values[at].map(|d| (d / 365.25 * 10.0).round() / 10.0),
            _ => None,
        };
        if let Some(active) = vs.active {
            let active = count(active);
            push(
                Counts {
                    id: "active".into(),
                    title: "Participants with a visit in the last 12 months".into(),
                    dimension: "status".into(),
                    cells: vec![("active".into(), active), ("not active".into(), participants.saturating_sub(active))],
                },
                &mut ids,
            );
        }
        let by_years: Vec<(u32, u32, u64)> = retention
            .map(|at| {
                counted[at]
                    .iter()
                    .filter_map(|(key, n)| {
                        let (e, f) = key.split_once(PAIR)?;
                        Some((e.parse().ok()?, f.parse().ok()?, *n))
                    })
                    .collect()
            })
            .unwrap_or_default();
        for year in (1..=5).filter(|_| retention.is_some()) {
            let eligible: u64 = by_years.iter().filter(|(e, _, _)| *e >= year).map(|c| c.2).sum();
            let retained: u64 = by_years.iter().filter(|(e, f, _)| *e >= year && *f >= year).map(|c| c.2).sum();
            push(
                Counts {
                    id: format!("retention-year-{year}"),
                    title: format!(
                        "Retention at year {year} (of those enrolled at least {year} years before the cutoff)"
                    ),
                    dimension: "status".into(),
                    cells: vec![
                        ("retained".into(), retained),
                        ("not retained".into(), eligible.saturating_sub(retained)),
                    ],
                },
                &mut ids,
            );
        }
        for (domain, at) in &vs.domains {
            let with = count(*at);
            push(
                Counts {
                    id: format!("availability-{domain}"),
                    title: format!("Participants with {domain} data"),
                    dimension: "availability".into(),
                    cells: vec![("with data".into(), with), ("without".into(), participants.saturating_sub(with))],
                },
                &mut ids,
            );
        }
        out.longitudinal =
            Some(Longitudinal { visits: single(count(vs.rows), k), person_years, median_gap_days, tables: ids });
    }
    out.hidden = hidden;
    if detail {
        out.breakdowns = breakdowns(
            profile,
            periods[0],
            &enrolment,
            &site_labels,
            &counted,
            BreakdownsAt { by_period: &by_period, site, site_region, site_year },
        );
    }

    // The dictionary: a column's completeness among the cohort's participants (participant
    // table) or their visits (visits table).
    let mut entry = |table: &str, col: &summary::SummaryColumn, present: u64, rows: u64, all_rows: u64| {
        // A public bundle lists the profile's columns alone: the others are not its subject.
        if public && !profile_columns(profile, table).iter().any(|c| c == &col.name) {
            return;
        }
        let shown = single(present, k).is_some() && single(rows - present.min(rows), k).is_some() && rows > 0;
        let share = |n: u64, of: u64| (n as f64 / of as f64 * 1000.0).round() / 1000.0;
        let given = if table == profile.table { profile.labels.get(&col.name).cloned() } else { None };
        let required = profile.required.contains(&col.name);
        let mut concerns = Vec::new();
        if !public {
            if required && present < rows {
                let n = rows - present;
                concerns.push(format!("required, but {n} {} no value", if n == 1 { "has" } else { "have" }));
            }
            if !col.outside_codes.is_empty() {
                let more = if col.outside_codes.len() >= 10 { ", ..." } else { "" };
                concerns.push(format!("values its code list does not name: {}{more}", col.outside_codes.join(", ")));
            }
            if let (Some(given), Some(source)) = (&given, &col.label)
                && !given.trim().eq_ignore_ascii_case(source.trim())
            {
                concerns.push(format!("labelled `{given}` here but `{source}` in its source file"));
            }
        }
        let codes = col
            .codes
            .as_ref()
            .filter(|c| !c.is_empty())
            .map(|c| c.iter().map(|(code, label)| format!("{code} = {label}")).collect::<Vec<_>>().join("; "));
        out.dictionary.push(DictionaryEntry {
            table: table.into(),
            column: col.name.clone(),
            label: given.or_else(|| col.label.clone()),
            kind: plain_kind(&col.sql_type).into(),
            sql_type: (!public).then(|| col.sql_type.clone()),
            completeness: shown.then(|| share(present, rows)),
            domain: profile.domain_of(table, &col.name).map(str::to_string),
            required,
            codes,
            completeness_all: (!public && all_rows > 0).then(|| share(col.present_in_all, all_rows)),
            concerns,
        });
    };
    for (col, at) in meta.participant_columns.iter().zip(&participant_present) {
        entry(&profile.table, col, count(*at), participants, meta.participants);
    }
    if let (Some(v), Some(vs)) = (&profile.visits, &visit_scalars) {
        let rows = count(vs.rows);
        let all_rows = meta.visit_rows;
        for (col, at) in meta.visit_columns.iter().zip(&visit_present) {
            entry(&v.table, col, count(*at), rows, all_rows);
        }
    }
    Ok(out)
}

/// Where the breakdowns' counts are in the grouped query's answer.
struct BreakdownsAt<'a> {
    /// Enrolment by period and each category (or region), by column.
    by_period: &'a [(String, usize)],
    /// Participants per site (for the sites' size bands).
    site: Option<usize>,
    /// By site and region.
    site_region: Option<usize>,
    /// By site and year of enrolment.
    site_year: Option<usize>,
}

/// The protected view's breakdowns, from the grouped counts; sites named by `site_labels`
/// (`(name, label)` in the site table's order).
fn breakdowns(
    profile: &Profile,
    period: &str,
    enrolment: &[(&str, usize)],
    site_labels: &[(String, String)],
    counted: &[Counted],
    at: BreakdownsAt<'_>,
) -> Vec<Breakdown> {
    let label = |c: &str| profile.labels.get(c).cloned().unwrap_or_else(|| c.to_string());
    let mut out = Vec::new();
    if let Some((_, at)) = enrolment.first() {
        let mut cells: Vec<(String, u64)> = counted[*at].iter().filter(|c| c.0 != MISSING_VALUE).cloned().collect();
        cells.sort();
        let mut running = 0;
        out.push(Breakdown {
            id: "enrolment-cumulative".into(),
            title: format!("Enrolment by {period}, and in all since the first"),
            rows_are: period.into(),
            columns_are: "enrolled".into(),
            unit: "participants".into(),
            rows: cells.iter().map(|c| c.0.clone()).collect(),
            columns: vec![format!("in the {period}"), "in all".into()],
            counts: cells
                .iter()
                .map(|(_, n)| {
                    running += n;
                    vec![*n, running]
                })
                .collect(),
        });
    }
    for (column, at) in at.by_period {
        out.push(Breakdown::of(
            (enrolment_breakdown_id(period, column), format!("Enrolment by {period} and {}", label(column))),
            (period, column),
            &counted[*at],
            None,
            false,
        ));
    }
    let names: std::collections::HashMap<&str, &str> =
        site_labels.iter().map(|(name, label)| (name.as_str(), label.as_str())).collect();
    let order: Vec<String> = site_labels.iter().map(|l| l.1.clone()).collect();
    let relabel = |cells: &[(String, u64)]| -> Vec<(String, u64)> {
        cells
            .iter()
            .filter_map(|(key, n)| {
                let (site, rest) = key.split_once(PAIR)?;
                Some((format!("{}{PAIR}{rest}", names.get(site).copied().unwrap_or(site)), *n))
            })
            .collect()
    };
    if let (Some(at), Some(region)) = (at.site_region, &profile.region) {
        out.push(Breakdown::of(
            ("sites-by-region".into(), format!("Participants per site and {}", label(region))),
            ("site", region),
            &relabel(&counted[at]),
            Some(&order),
            false,
        ));
    }
    if let Some(at) = at.site_year {
        out.push(Breakdown::of(
            ("site-recruitment-by-year".into(), "Recruitment per site by year of enrolment".into()),
            ("site", "year"),
            &relabel(&counted[at]),
            Some(&order),
            true,
        ));
    }
    if let Some(at) = at.site {
        let mut counts = vec![vec![0u64; 2]; SITE_SIZE_BANDS.len()];
        for (_, n) in counted[at].iter().filter(|c| c.0 != MISSING_VALUE) {
            if let Some(i) = SITE_SIZE_BANDS.iter().position(|(lo, hi, _)| (lo..=hi).contains(&n)) {
                counts[i][0] += 1;
                counts[i][1] += n;
            }
        }
        out.push(Breakdown {
            id: "site-size-bands".into(),
            title: "Sites by the participants they enrolled".into(),
            rows_are: "participants at the site".into(),
            columns_are: "count".into(),
            unit: "sites and participants".into(),
            rows: SITE_SIZE_BANDS.iter().map(|b| b.2.to_string()).collect(),
            columns: vec!["sites".into(), "participants".into()],
            counts,
        });
    }
    out
}

/// The quantiles of a measure the figures give ([`NumericSummary`]'s, then the 5th and 95th
/// percentiles that place a histogram's bins).
const MEASURE_QUANTILES: [f64; 5] = [0.25, 0.5, 0.75, 0.05, 0.95];

/// Where a measure's count and quantiles come from.
enum Spread {
    /// The single-row query: its count and quantiles (`quantile_cont`) there.
    Scalars { n: usize, q: Vec<usize> },
    /// A count table of its values as whole numbers of `unit` (its values are exactly such
    /// multiples): computed from the counts as `quantile_cont` does from the values.
    Counted { at: usize, unit: f64 },
}

impl Spread {
    /// The count of values and quantiles `ps`.
    fn resolve(&self, values: &[Option<f64>], counted: &[Counted], ps: &[f64]) -> (u64, Vec<Option<f64>>) {
        match self {
            Spread::Scalars { n, q } => {
                (values[*n].unwrap_or(0.0).max(0.0) as u64, q.iter().take(ps.len()).map(|i| values[*i]).collect())
            }
            Spread::Counted { at, unit } => {
                let mut by_value: Vec<(i64, u64)> =
                    counted[*at].iter().filter_map(|(v, n)| Some((v.parse::<i64>().ok()?, *n))).collect();
                by_value.sort_unstable();
                let n: u64 = by_value.iter().map(|c| c.1).sum();
                let at_rank = |rank: u64| {
                    let mut seen = 0;
                    for (value, count) in &by_value {
                        seen += count;
                        if rank < seen {
                            return *value as f64 * unit;
                        }
                    }
                    by_value.last().map_or(f64::NAN, |c| c.0 as f64 * unit)
                };
                let q = ps
                    .iter()
                    .map(|p| {
                        (n > 0).then(|| {
                            // As DuckDB's quantile_cont: linear between the order statistics
                            // around (n - 1) * p.
                            let h = (n - 1) as f64 * p;
                            let (lo, hi) = (h.floor(), h.ceil());
                            let (x_lo, x_hi) = (at_rank(lo as u64), at_rank(hi as u64));
                            if lo == hi { x_lo } else { x_lo + (h - lo) * (x_hi - x_lo) }
                        })
                    })
                    .collect();
                (n, q)
            }
        }
    }
}

/// Whether and how quartiles are published.
struct QuartileRule {
    /// Published for at least this many values.
    min: u64,
    /// Rounded to a multiple of this.
    round_to: Option<f64>,
}

impl QuartileRule {
    fn apply(&self, n: u64, x: Option<f64>) -> Option<f64> {
        if n < self.min {
            return None;
        }
        match self.round_to {
            Some(step) if step > 0.0 => x.map(|x| (x / step).round() * step),
            _ => x,
        }
    }
}

/// Of `candidates` (finest first), the first whose suppression under `k` hides at most
/// [`MAX_HIDDEN_SHARE`] of its participants, or the coarsest.
fn finest(candidates: Vec<Counts>, k: u64) -> Counts {
    let last = candidates.len() - 1;
    let chosen = candidates.iter().position(|c| hidden_share(c, k) <= MAX_HIDDEN_SHARE).unwrap_or(last);
    candidates.into_iter().nth(chosen).expect("at least one candidate")
}

/// The columns of `table` a profile publishes figures of.
fn profile_columns(profile: &Profile, table: &str) -> Vec<String> {
    let mut columns = Vec::new();
    if table == profile.table {
        columns.push(profile.participant.clone());
        columns.extend(profile.enrolled.iter().chain(&profile.site).chain(&profile.region).cloned());
        columns.extend(profile.categories.iter().chain(&profile.numeric).cloned());
    }
    if let Some(v) = profile.visits.as_ref().filter(|v| v.table == table) {
        columns.extend([v.participant.clone(), v.date.clone()]);
        columns.extend(v.domains.values().flatten().cloned());
    }
    columns
}
