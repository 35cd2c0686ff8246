//! A bundle as the dashboard shows it: the figures grouped by what a reader asks (how many, since
//! when, who, where, for how long, with what data), each table also drawn as a chart from the
//! same bundle. A hidden count is shown as hidden, never as a number.

use askama::Template;
use cohort_publish::{Bundle, NumericSummary, Table};

use crate::pages::{script_json, thousands};

/// One row of a count table.
pub(crate) struct RowView {
    pub key: String,
    pub count: String,
    pub share: String,
}

/// A count table, ready to print.
pub(crate) struct TableView {
    pub id: String,
    pub title: String,
    pub dimension: String,
    pub rows: Vec<RowView>,
    pub total: String,
    /// Whether cells were suppressed (counted together, unnamed).
    pub suppressed: bool,
}

/// A numeric column's summary.
pub(crate) struct NumericView {
    pub column: String,
    pub q1: String,
    pub median: String,
    pub q3: String,
    pub histogram: Option<TableView>,
}

/// Retention at one year.
pub(crate) struct RetentionRow {
    pub year: String,
    pub eligible: String,
    pub retained: String,
    pub share: String,
}

/// Data availability of one domain.
pub(crate) struct AvailabilityRow {
    pub domain: String,
    pub with: String,
    pub share: String,
}

/// One dictionary line.
pub(crate) struct ColumnView {
    pub table: String,
    pub column: String,
    pub label: String,
    pub kind: String,
    /// The SQL type, on the protected view only.
    pub sql_type: String,
    pub completeness: String,
    /// Among all participants, on the protected view only.
    pub completeness_all: String,
    pub required: bool,
    pub codes: String,
    pub concerns: Vec<String>,
}

/// The dictionary's columns of one clinical domain.
pub(crate) struct DomainView {
    /// The domain (`Other columns` for those the profile puts in none).
    pub domain: String,
    pub columns: Vec<ColumnView>,
    /// Columns of it with a concern.
    pub concerns: usize,
}

/// A key figure; `people` when it counts participants or visits (and so passed suppression).
pub(crate) struct Figure {
    pub label: &'static str,
    pub value: String,
    pub people: bool,
}

/// The dashboard of one bundle.
#[derive(Template)]
#[template(path = "public_dataset.html")]
pub(super) struct Dashboard {
    pub dataset: String,
    pub version: u32,
    /// The saved cohort of the dataset the bundle describes, when not all of it.
    pub cohort: Option<String>,
    pub published: String,
    pub cutoff: String,
    pub k: u64,
    pub k_reason: Option<String>,
    pub d: Sections,
    pub bundle_json: String,
}

/// The figures of a bundle (a public one, or a registry cohort's unsuppressed one) grouped as
/// the dashboards show them: `templates/dashboard_sections.html`.
pub(crate) struct Sections {
    pub figures: Vec<Figure>,
    pub enrolment: Option<TableView>,
    pub categories: Vec<TableView>,
    pub numeric: Vec<NumericView>,
    pub places: Vec<TableView>,
    pub follow_up: Vec<TableView>,
    pub median_gap: Option<NumericView>,
    pub retention: Vec<RetentionRow>,
    pub availability: Vec<AvailabilityRow>,
    pub other: Vec<TableView>,
    /// The dictionary, by clinical domain (the profile's domains in order, then the others).
    pub dictionary: Vec<DomainView>,
    /// Whether the dictionary has the protected view's details (completeness among all,
    /// concerns).
    pub protected: bool,
}

/// The domain of the dictionary's columns no profile domain names.
const OTHER_COLUMNS: &str = "Other columns";

const HIDDEN: &str = "hidden";

fn count(n: Option<u64>) -> String {
    n.map_or_else(|| HIDDEN.into(), thousands)
}

pub(crate) fn share(part: Option<u64>, whole: Option<u64>) -> String {
    match (part, whole) {
        (Some(p), Some(w)) if w > 0 => format!("{:.1}%", p as f64 * 100.0 / w as f64),
        _ => String::new(),
    }
}

fn number(x: Option<f64>) -> String {
    match x {
        Some(x) if x.fract() == 0.0 => format!("{x:.0}"),
        Some(x) => format!("{x:.1}"),
        None => HIDDEN.into(),
    }
}

fn cell(table: &Table, key: &str) -> Option<u64> {
    table.cells.iter().find(|c| c.key == key).and_then(|c| c.count)
}

impl TableView {
    fn of(table: &Table) -> TableView {
        TableView {
            id: table.id.clone(),
            title: table.title.clone(),
            dimension: table.dimension.clone(),
            rows: table
                .cells
                .iter()
                .map(|c| RowView { key: c.key.clone(), count: count(c.count), share: share(c.count, table.total) })
                .collect(),
            total: count(table.total),
            suppressed: table.has_suppressed(),
        }
    }
}

impl NumericView {
    fn of(summary: &NumericSummary, bundle: &Bundle) -> NumericView {
        NumericView {
            column: summary.column.clone(),
            q1: number(summary.q1),
            median: number(summary.median),
            q3: number(summary.q3),
            histogram: summary.histogram.as_deref().and_then(|id| bundle.table(id)).map(TableView::of),
        }
    }
}

impl Dashboard {
    pub(super) fn of(bundle: &Bundle) -> Dashboard {
        let bundle_value = serde_json::to_value(bundle).expect("a bundle serialises");
        Dashboard {
            dataset: bundle.dataset.clone(),
            version: bundle.version,
            cohort: bundle.cohort.clone(),
            published: bundle.published_at.strftime("%Y-%m-%d").to_string(),
            cutoff: bundle.cutoff.clone().unwrap_or_else(|| "none".into()),
            k: bundle.k,
            k_reason: bundle.k_reason.clone(),
            d: Sections::of(bundle),
            bundle_json: script_json(&bundle_value),
        }
    }
}

impl Sections {
    pub(crate) fn of(bundle: &Bundle) -> Sections {
        let mut placed: Vec<&str> = Vec::new();
        let mut take = |id: &str| -> Option<&Table> {
            let table = bundle.table(id)?;
            placed.push(&table.id);
            Some(table)
        };
        let enrolment = ["enrolment-by-month", "enrolment-by-quarter", "enrolment-by-year"]
            .iter()
            .find_map(|id| take(id))
            .map(TableView::of);
        let categories: Vec<TableView> = bundle
            .tables
            .iter()
            .filter(|t| t.id.starts_with("category-"))
            .filter_map(|t| take(&t.id))
            .map(TableView::of)
            .collect();
        let numeric: Vec<NumericView> = bundle
            .numeric
            .iter()
            .map(|n| {
                if let Some(id) = &n.histogram {
                    take(id);
                }
                NumericView::of(n, bundle)
            })
            .collect();
        let places: Vec<TableView> = ["region", "site"].iter().filter_map(|id| take(id)).map(TableView::of).collect();
        let follow_up: Vec<TableView> = ["visits-per-participant", "time-between-visits", "years-followed", "active"]
            .iter()
            .filter_map(|id| take(id))
            .map(TableView::of)
            .collect();
        let retention: Vec<RetentionRow> = (1..=5)
            .filter_map(|year| {
                let table = take(&format!("retention-year-{year}"))?;
                let retained = cell(table, "retained");
                Some(RetentionRow {
                    year: year.to_string(),
                    eligible: count(table.total),
                    retained: count(retained),
                    share: share(retained, table.total),
                })
            })
            .collect();
        let availability: Vec<AvailabilityRow> = bundle
            .tables
            .iter()
            .filter_map(|t| Some((t.id.strip_prefix("availability-")?, t)))
            .filter_map(|(domain, t)| {
                let table = take(&t.id)?;
                let with = cell(table, "with data");
                Some(AvailabilityRow { domain: domain.into(), with: count(with), share: share(with, table.total) })
            })
            .collect();
        let other = bundle.tables.iter().filter(|t| !placed.contains(&t.id.as_str())).map(TableView::of).collect();

        let figure = |label, value, people| Figure { label, value, people };
        let mut figures = vec![figure("Participants", count(bundle.participants), true)];
        if let Some(l) = &bundle.longitudinal {
            figures.push(figure("Visits", count(l.visits), true));
            figures.push(figure("Person-years of follow-up", number(l.person_years), false));
        }
        if let Some(active) = bundle.table("active") {
            figures.push(figure("Active (a visit in the last 12 months)", count(cell(active, "active")), true));
        }
        if let Some(sites) = bundle.table("site") {
            let n = sites.cells.iter().filter(|c| c.key != "(missing)").count();
            figures.push(figure("Sites", thousands(n as u64), false));
        }
        Sections {
            figures,
            enrolment,
            categories,
            numeric,
            places,
            follow_up,
            median_gap: bundle.longitudinal.as_ref().map(|l| NumericView::of(&l.median_gap_days, bundle)),
            retention,
            availability,
            other,
            dictionary: by_domain(&bundle.dictionary),
            protected: bundle.dictionary.iter().any(|d| d.completeness_all.is_some()),
        }
    }
}

/// The dictionary's columns grouped by domain: domains in name order, then the columns in none.
fn by_domain(dictionary: &[cohort_publish::DictionaryEntry]) -> Vec<DomainView> {
    let percent = |c: Option<f64>| c.map_or_else(|| HIDDEN.into(), |c| format!("{:.1}%", c * 100.0));
    let mut groups: std::collections::BTreeMap<(bool, String), Vec<ColumnView>> = Default::default();
    for d in dictionary {
        let key = match &d.domain {
            Some(domain) => (false, domain.clone()),
            None => (true, OTHER_COLUMNS.to_string()),
        };
        groups.entry(key).or_default().push(ColumnView {
            table: d.table.clone(),
            column: d.column.clone(),
            label: d.label.clone().unwrap_or_default(),
            kind: d.kind.clone(),
            sql_type: d.sql_type.clone().unwrap_or_default(),
            completeness: percent(d.completeness),
            completeness_all: d.completeness_all.map_or_else(String::new, |c| format!("{:.1}%", c * 100.0)),
            required: d.required,
            codes: d.codes.clone().unwrap_or_default(),
            concerns: d.concerns.clone(),
        });
    }
    groups
        .into_iter()
        .map(|((_, domain), columns)| DomainView {
            concerns: columns.iter().filter(|c| !c.concerns.is_empty()).count(),
            domain,
            columns,
        })
        .collect()
}
