//! A registry's figures for one cohort: what the dashboard page, `cohort registry NAME --json`
//! and `GET /api/v1/datasets/{name}/registry` all show.

use cohort_publish::compute::{self, SiteLabels};
use cohort_publish::{DictionaryEntry, Longitudinal, NumericSummary, Profile, Table};
use cohort_store::name::quote_ident;
use cohort_store::{ResolvedVersion, Session, Store, StoreError};
use serde::Serialize;

use crate::RegistryError;
use crate::cohort::Cohort;
use crate::filter;

/// How sites are named to the reader.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SiteNames {
    /// By their names (admins, and analysts granted them).
    Shown,
    /// As `Site 1`, `Site 2`, ...: by size in the whole registry version, largest first, so a
    /// site keeps its label whatever the cohort.
    Anonymous,
}

/// What a cohort can be narrowed by next: a filter column, with its values (or range) among the
/// participants the *other* filters keep, so that choosing one updates the others' counts.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Facet {
    /// The column.
    pub column: String,
    /// Its label, from the profile.
    pub label: Option<String>,
    /// `category`, `number` or `date`.
    pub kind: &'static str,
    /// For a category: each value with its participants, largest first.
    pub options: Vec<FacetOption>,
    /// For a number or date: the smallest and largest value.
    pub from: Option<String>,
    /// See `from`.
    pub to: Option<String>,
    /// The filter applied to it now, as written.
    pub applied: Option<String>,
}

/// A value of a category facet.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FacetOption {
    /// The value (a site's label when names are not shown; `(missing)` for none).
    pub value: String,
    /// Participants with it.
    pub participants: u64,
}

/// Every figure of one cohort of a registry version.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Dashboard {
    /// The dataset.
    pub dataset: String,
    /// The version computed on.
    pub version: u32,
    /// The filters that chose the cohort, as written.
    pub filters: Vec<String>,
    /// Participants in the registry version.
    pub registry_participants: u64,
    /// Participants in the cohort.
    pub participants: u64,
    /// The data cutoff used for activity and retention.
    pub cutoff: Option<String>,
    /// Counts by category, region, site, enrolment month, histograms, longitudinal tables: the
    /// public bundle's tables, unsuppressed.
    pub tables: Vec<Table>,
    /// Numeric summaries.
    pub numeric: Vec<NumericSummary>,
    /// Longitudinal summaries.
    pub longitudinal: Option<Longitudinal>,
    /// The profile's tables' columns with their completeness in the cohort.
    pub dictionary: Vec<DictionaryEntry>,
    /// What the cohort can be narrowed by next.
    pub facets: Vec<Facet>,
}

/// Computes the figures of the cohort `filters` choose in `version` of a registry under
/// `profile`, with sites named as `sites` says.
pub fn compute(
    store: &Store,
    version: &ResolvedVersion,
    profile: &Profile,
    filters: &[String],
    sites: SiteNames,
) -> Result<Dashboard, RegistryError> {
    cohort_publish::check_profile(version, profile)?;
    let participants_table = version.table(&profile.table).expect("checked by check_profile");
    let mut session = Session::new(store)?;
    session.mount(store, version, "src")?;
    let conn = session.connection();
    let cohort = Cohort::new(conn, "src", version, profile, filters, sites)?;
    let (t, visits) = (&cohort.participants, &cohort.visits);
    let pid = quote_ident(&profile.participant);
    let labels = &cohort.labels;
    let parsed = &cohort.filters;
    let where_all = |skip: Option<&str>| cohort.where_clause(skip);
    let sql = |what: &str| {
        let what = what.to_string();
        move |e: duckdb::Error| StoreError::duckdb(format!("computing {what}"), e)
    };
    // Schema `d`, where the figures are computed: the cohort, and its participants' visits.
    let mut mount = String::from("CREATE SCHEMA d;\n");
    mount.push_str(&cohort.views("d", profile));
    conn.execute_batch(&mount).map_err(sql("the cohort"))?;
    // The registry's cutoff, not the cohort's: activity and retention mean the same for every
    // cohort.
    let mut profile = profile.clone();
    if profile.cutoff.is_none() {
        let mut dates = Vec::new();
        if let Some(e) = &profile.enrolled {
            dates.push(format!("SELECT max(CAST({} AS DATE)) AS d FROM {t}", quote_ident(e)));
        }
        if let (Some(v), Some(vt)) = (&profile.visits, &visits) {
            dates.push(format!("SELECT max(CAST({} AS DATE)) AS d FROM {vt}", quote_ident(&v.date)));
        }
        if !dates.is_empty() {
            profile.cutoff = conn
                .query_row(&format!("SELECT CAST(max(d) AS VARCHAR) FROM ({})", dates.join(" UNION ALL ")), [], |r| {
                    r.get(0)
                })
                .map_err(sql("the cutoff"))?;
        }
    }
    let profile = &profile;
    let figures = compute::figures_with(
        conn,
        profile,
        compute::Options { k: 1, sites: SiteLabels::Given(labels), public: false },
    )?;
    let registry_participants: i64 = conn
        .query_row(&format!("SELECT count(DISTINCT {pid}) FROM {t}"), [], |r| r.get(0))
        .map_err(sql("participants"))?;
    let cohort_participants: i64 = conn
        .query_row(&format!("SELECT count(DISTINCT {pid}) FROM d.{}", quote_ident(&profile.table)), [], |r| r.get(0))
        .map_err(sql("participants"))?;

    let mut facets = Vec::new();
    for column in profile.filter_columns() {
        let info = participants_table.columns.iter().find(|c| c.name == column).expect("checked by check_profile");
        let sql_type = info.sql_type.as_str();
        let c = quote_ident(&column);
        let others = where_all(Some(&column));
        let applied =
            parsed.iter().zip(filters).find(|(f, _)| f.column() == Some(column.as_str())).map(|(_, text)| text.clone());
        let label = profile.labels.get(&column).cloned();
        let is_date = sql_type == "DATE" || sql_type.starts_with("TIMESTAMP");
        let is_number = cohort_store::model::is_numeric(sql_type) || sql_type.starts_with("DECIMAL");
        let categorical = !(is_date || is_number)
            || Some(&column) == profile.site.as_ref()
            || Some(&column) == profile.region.as_ref()
            || profile.categories.contains(&column);
        if categorical {
            let mut stmt = conn
                .prepare(&format!(
                    "SELECT coalesce(CAST({c} AS VARCHAR), '{missing}'), count(DISTINCT {pid}) FROM {t} {others} \
                     GROUP BY 1 ORDER BY 2 DESC, 1",
                    missing = filter::MISSING
                ))
                .map_err(sql(&column))?;
            let options = stmt
                .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))
                .map_err(sql(&column))?
                .map(|r| {
                    r.map(|(value, n)| FacetOption {
                        value: labels.get(&value).cloned().unwrap_or(value),
                        participants: n.max(0) as u64,
                    })
                })
                .collect::<duckdb::Result<Vec<_>>>()
                .map_err(sql(&column))?;
            facets.push(Facet { column, label, kind: "category", options, from: None, to: None, applied });
        } else {
            let value = if is_date { format!("CAST({c} AS DATE)") } else { c };
            let (from, to): (Option<String>, Option<String>) = conn
                .query_row(
                    &format!("SELECT CAST(min({value}) AS VARCHAR), CAST(max({value}) AS VARCHAR) FROM {t} {others}"),
                    [],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .map_err(sql(&column))?;
            let kind = if is_date { "date" } else { "number" };
            facets.push(Facet { column, label, kind, options: Vec::new(), from, to, applied });
        }
    }
    Ok(Dashboard {
        dataset: version.dataset.to_string(),
        version: version.version,
        filters: filters.to_vec(),
        registry_participants: registry_participants.max(0) as u64,
        participants: cohort_participants.max(0) as u64,
        cutoff: figures.cutoff,
        tables: figures.tables,
        numeric: figures.numeric,
        longitudinal: figures.longitudinal,
        dictionary: figures.dictionary,
        facets,
    })
}
