//! A registry's figures for one cohort: what the dashboard page, `cohort registry NAME --json`
//! and `GET /api/v1/datasets/{name}/registry` all show.

use cohort_publish::compute::{self, Groups, SiteLabels, Source};
use cohort_publish::summary;
use cohort_publish::{Breakdown, DictionaryEntry, Longitudinal, NumericSummary, Profile, Table};
use cohort_store::name::quote_ident;
use cohort_store::{ResolvedVersion, Session, Store, StoreError};
use serde::Serialize;

use crate::RegistryError;
use crate::cohort::{Cohort, Over};

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
    /// Where its figures are in the queries that compute them.
    #[serde(skip)]
    at: usize,
    /// The figures' count table that is its checklist (no filter narrows it).
    #[serde(skip)]
    reuses: Option<String>,
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
    /// Counts by two dimensions: enrolment over time (cumulative, and by the categories or
    /// region asked for), sites by region, size band and year of enrolment.
    pub breakdowns: Vec<Breakdown>,
    /// What enrolment over time can be broken down by (`by`): each column with its breakdown's
    /// id, and whether it was asked for (and so is in `breakdowns`).
    pub enrolment_by: Vec<EnrolmentBy>,
    /// The profile's tables' columns with their completeness in the cohort.
    pub dictionary: Vec<DictionaryEntry>,
    /// What the cohort can be narrowed by next.
    pub facets: Vec<Facet>,
    /// Rows the figures leave out, and why (a participant counted once, visits of nobody in
    /// the participant table).
    pub left_out: Vec<String>,
}

/// A column enrolment over time can be broken down by.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EnrolmentBy {
    /// The column (a category, or the region).
    pub column: String,
    /// Its label, from the profile.
    pub label: Option<String>,
    /// The id of its breakdown.
    pub breakdown: String,
    /// Whether it was asked for.
    pub shown: bool,
}

/// The columns `by` asks enrolment over time to be broken down by (`all`: every one the
/// profile allows); an error names the ones it allows.
pub fn enrolment_by(profile: &Profile, by: &[String]) -> Result<Vec<String>, RegistryError> {
    let allowed = compute::enrolment_by_columns(profile);
    if by.iter().any(|b| b == "all") {
        return Ok(allowed);
    }
    match by.iter().find(|b| !allowed.contains(b)) {
        Some(wrong) => Err(RegistryError::Filter {
            filter: format!("by={wrong}"),
            why: if allowed.is_empty() {
                "the profile names no category or region to break enrolment down by".into()
            } else {
                format!("enrolment is broken down by a category or the region: {}, or `all`", allowed.join(", "))
            },
        }),
        None => Ok(by.to_vec()),
    }
}

/// What a summary leaves out of the figures, said in words.
pub fn left_out(meta: &summary::SummaryMeta, profile: &Profile) -> Vec<String> {
    let mut said = Vec::new();
    let n = |x: u64| if x == 1 { "1 row".to_string() } else { format!("{x} rows") };
    if meta.duplicate_rows > 0 {
        said.push(format!(
            "{} of `{}` repeat a participant already counted; each participant is counted once",
            n(meta.duplicate_rows),
            profile.table
        ));
    }
    if meta.rows_without_id > 0 {
        said.push(format!(
            "{} of `{}` have no `{}` and are not counted",
            n(meta.rows_without_id),
            profile.table,
            profile.participant
        ));
    }
    if let (Some(v), true) = (&profile.visits, meta.visits_without_participant > 0) {
        said.push(format!(
            "{} of `{}` name a participant who is not in `{}` and are not counted",
            n(meta.visits_without_participant),
            v.table,
            profile.table
        ));
    }
    said
}

/// Computes the figures of the cohort `filters` choose in `version` of a registry under
/// `profile`, with sites named as `sites` says: over the version's per-participant summary
/// (computed the first time and kept), a handful of grouped queries.
pub fn compute(
    store: &Store,
    version: &ResolvedVersion,
    profile: &Profile,
    filters: &[String],
    sites: SiteNames,
    by: &[String],
) -> Result<Dashboard, RegistryError> {
    let session = Session::new(store)?;
    compute_on(session.connection(), store, version, profile, filters, sites, by)
}

/// [`compute`] on an engine of the caller's (one kept warm between requests: it reads Parquet
/// and creates nothing; its thread count is put back as it was).
pub fn compute_on(
    conn: &duckdb::Connection,
    store: &Store,
    version: &ResolvedVersion,
    profile: &Profile,
    filters: &[String],
    sites: SiteNames,
    by: &[String],
) -> Result<Dashboard, RegistryError> {
    let by = enrolment_by(profile, by)?;
    let summary = summary::kept(store, version, profile)?;
    let meta = &summary.meta;
    let participants_table = version.table(&profile.table).expect("checked by summary::kept");
    let cohort = Cohort::new(version, profile, filters, sites, &meta.sites, Over::Summary(meta))?;
    let condition = cohort.condition(None);
    let source = Source { summary: &summary, condition: condition.as_deref() };
    // A summary's queries hold little in memory (a row a participant, grouped by few values), so
    // they use every core even when the engine's share of the memory cap allows it fewer.
    let sql = |what: &'static str| move |e: duckdb::Error| StoreError::duckdb(what, e);
    let threads: i64 = conn
        .query_row("SELECT current_setting('threads')::BIGINT", [], |r| r.get(0))
        .map_err(sql("reading the engine's threads"))?;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as i64;
    conn.execute_batch(&format!("SET threads = {}", cores.max(threads))).map_err(sql("setting threads"))?;
    let computed = figures_and_facets(conn, &source, &cohort, participants_table, profile, filters, &by);
    conn.execute_batch(&format!("SET threads = {threads}")).map_err(sql("setting threads"))?;
    let (figures, facets) = computed?;
    Ok(Dashboard {
        dataset: version.dataset.to_string(),
        version: version.version,
        filters: filters.to_vec(),
        registry_participants: meta.participants,
        participants: figures.participants.unwrap_or(0),
        cutoff: figures.cutoff,
        tables: figures.tables,
        numeric: figures.numeric,
        longitudinal: figures.longitudinal,
        breakdowns: figures.breakdowns,
        enrolment_by: match &profile.enrolled {
            Some(_) => compute::enrolment_by_columns(profile)
                .into_iter()
                .map(|column| EnrolmentBy {
                    label: profile.labels.get(&column).cloned(),
                    breakdown: compute::enrolment_breakdown_id(compute::protected_period(profile), &column),
                    shown: by.contains(&column),
                    column,
                })
                .collect(),
            None => Vec::new(),
        },
        dictionary: figures.dictionary,
        facets,
        left_out: left_out(meta, profile),
    })
}

fn figures_and_facets(
    conn: &duckdb::Connection,
    source: &Source<'_>,
    cohort: &Cohort,
    participants_table: &cohort_store::TableInfo,
    profile: &Profile,
    filters: &[String],
    by: &[String],
) -> Result<(compute::Figures, Vec<Facet>), RegistryError> {
    let labels = &cohort.labels;
    let figures = compute::figures_with(
        conn,
        profile,
        compute::Options { k: 1, sites: SiteLabels::Given(labels), public: false, enrolment_by: by },
        source,
    )?;
    // (A second connection running these beside the figures gained nothing on two cores.)
    let mut facets = facets(conn, source.summary, cohort, participants_table, profile, filters)?;
    // A checklist no filter narrows is the cohort's own count table.
    for facet in &mut facets {
        if let Some(table) = facet.reuses.as_ref().and_then(|id| figures.tables.iter().find(|t| &t.id == id)) {
            facet.options = table
                .cells
                .iter()
                .filter_map(|c| Some(FacetOption { value: c.key.clone(), participants: c.count? }))
                .filter(|o| o.participants > 0)
                .collect();
        }
    }
    Ok((figures, facets))
}

/// Each filter column's values (or range) under the other filters; a checklist no filter is on
/// is left for the figures' own count table of it (`Facet::reuses`).
fn facets(
    conn: &duckdb::Connection,
    summary: &summary::Summary,
    cohort: &Cohort,
    participants_table: &cohort_store::TableInfo,
    profile: &Profile,
    filters: &[String],
) -> Result<Vec<Facet>, RegistryError> {
    let labels = &cohort.labels;
    let mut categories = Groups::default();
    let mut ranges = Vec::new();
    let mut facets = Vec::new();
    for column in profile.filter_columns() {
        let info = participants_table.columns.iter().find(|c| c.name == column).expect("checked by check_profile");
        let sql_type = info.sql_type.as_str();
        let others = cohort.condition(Some(&column));
        let applied = cohort
            .filters
            .iter()
            .zip(filters)
            .find(|(f, _)| f.column() == Some(column.as_str()))
            .map(|(_, text)| text.clone());
        let label = profile.labels.get(&column).cloned();
        let is_date = sql_type == "DATE" || sql_type.starts_with("TIMESTAMP");
        let is_number = cohort_store::model::is_numeric(sql_type) || sql_type.starts_with("DECIMAL");
        let counted_table = if Some(&column) == profile.site.as_ref() {
            Some("site".to_string())
        } else if Some(&column) == profile.region.as_ref() {
            Some("region".to_string())
        } else {
            profile.categories.contains(&column).then(|| format!("category-{column}"))
        };
        let categorical = !(is_date || is_number) || counted_table.is_some();
        let facet = |kind, at, reuses| Facet {
            column: column.clone(),
            label: label.clone(),
            kind,
            options: Vec::new(),
            from: None,
            to: None,
            applied: applied.clone(),
            at,
            reuses,
        };
        let facet = if categorical {
            let unfiltered = applied.is_none() && others == cohort.condition(None);
            match counted_table.filter(|_| unfiltered) {
                Some(table) => facet("category", usize::MAX, Some(table)),
                None => {
                    let only = others.as_deref().unwrap_or("true");
                    facet("category", categories.add(compute::Key::column(&column, sql_type), Some(only)), None)
                }
            }
        } else {
            let c = quote_ident(&column);
            let value = if is_date { format!("CAST({c} AS DATE)") } else { c };
            let only = others.clone().unwrap_or_else(|| "true".into());
            ranges.push(format!("CAST(min({value}) FILTER (WHERE {only}) AS VARCHAR)"));
            ranges.push(format!("CAST(max({value}) FILTER (WHERE {only}) AS VARCHAR)"));
            facet(if is_date { "date" } else { "number" }, ranges.len() - 2, None)
        };
        facets.push(facet);
    }
    let counted = categories.run(conn, &summary.relation(), None)?;
    let bounds: Vec<Option<String>> = if ranges.is_empty() {
        Vec::new()
    } else {
        conn.query_row(&format!("SELECT {} FROM {}", ranges.join(", "), summary.relation()), [], |r| {
            (0..ranges.len()).map(|i| r.get(i)).collect()
        })
        .map_err(|e| StoreError::duckdb("computing the filters' ranges", e))?
    };
    for facet in &mut facets {
        if facet.kind != "category" {
            facet.from = bounds[facet.at].clone();
            facet.to = bounds[facet.at + 1].clone();
        } else if facet.at != usize::MAX {
            facet.options = counted[facet.at]
                .iter()
                .map(|(value, n)| FacetOption {
                    value: labels.get(value).cloned().unwrap_or_else(|| value.clone()),
                    participants: *n,
                })
                .collect();
        }
    }
    Ok(facets)
}
