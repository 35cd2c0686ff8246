//! `/datasets/{name}/registry`: the registry dashboard for analysts. The cohort is chosen with a
//! form of the profile's filter columns (checklists with counts under the other filters, ranges,
//! domains), and every figure follows it; the participant count stays in view. The same figures
//! as `GET /api/v1/datasets/{name}/registry`, drawn by the public dashboard's sections.

use askama::Template;
use axum::extract::{Extension, Path, Query, State};
use cohort_auth::Principal;
use cohort_publish::{Bundle, Table};
use cohort_registry::{Dashboard, Filter};

use crate::api::registry::{CohortOrigin, RegistryQuery, compute_view};
use crate::pages::{PageResult, render, script_json, thousands};
use crate::public::view::{Sections, share};
use crate::state::AppState;

/// A value of a checklist.
struct OptionView {
    value: String,
    count: String,
    checked: bool,
}

/// A filter column on the form.
struct FacetView {
    column: String,
    label: String,
    kind: &'static str,
    options: Vec<OptionView>,
    from: String,
    to: String,
    min: String,
    max: String,
}

/// A line of the site comparison: a key of a table, at the site and at the others.
struct CompareRow {
    key: String,
    at_site: String,
    at_share: String,
    others: String,
    others_share: String,
}

/// A table of the site comparison.
struct CompareTable {
    title: String,
    rows: Vec<CompareRow>,
}

/// A breakdown (counts by two dimensions), ready to print.
struct BreakdownView {
    id: String,
    title: String,
    rows_are: String,
    columns: Vec<String>,
    /// Each row's counts, with their level (0 to 100, of the largest count) when `heat`.
    rows: Vec<(String, Vec<(String, u8)>)>,
    /// Whether the cells are shaded by their count (a heat table).
    heat: bool,
}

impl BreakdownView {
    fn of(b: &cohort_publish::Breakdown) -> BreakdownView {
        // Sites by year is read as a heat table: the basic plotly bundle has no heatmap, and a
        // table of shaded counts is as readable and can be read aloud.
        let heat = b.id == "site-recruitment-by-year";
        let most = b.counts.iter().flatten().copied().max().unwrap_or(0).max(1);
        BreakdownView {
            id: b.id.clone(),
            title: b.title.clone(),
            rows_are: b.rows_are.clone(),
            columns: b.columns.clone(),
            rows: b
                .rows
                .iter()
                .zip(&b.counts)
                .map(|(r, counts)| {
                    let cells = counts.iter().map(|n| (thousands(*n), (n * 100 / most) as u8)).collect();
                    (r.clone(), cells)
                })
                .collect(),
            heat,
        }
    }
}

#[derive(Template)]
#[template(path = "registry.html")]
struct RegistryPage {
    name: String,
    reference: String,
    version: u32,
    participants: String,
    registry_participants: String,
    left_out: Vec<String>,
    origin: Option<CohortOrigin>,
    filters: Vec<String>,
    filters_json: String,
    /// Filters the form cannot show (negations, from the address), kept as hidden fields.
    kept: Vec<String>,
    facets: Vec<FacetView>,
    domains: Vec<(String, bool)>,
    sites: Vec<String>,
    site: String,
    site_names: &'static str,
    query: String,
    downloads: Vec<(String, String)>,
    saved: Vec<(String, String, u32)>,
    comparison: Vec<CompareTable>,
    /// The store's export profiles, for a saved cohort's participant-level lists.
    export_profiles: Vec<String>,
    d: Sections,
    view_json: String,
    /// The table of the enrolment breakdown shown (the others' are made from the data when
    /// chosen).
    enrolment_table: Option<BreakdownView>,
    /// What the enrolment chart can show: the `by` value, the breakdown's id, its title, and
    /// whether it is the one shown.
    enrolment_choices: Vec<(String, String, String, bool)>,
    /// The id of the enrolment breakdown shown.
    enrolment_shown: String,
    /// Sites by size band, by region, by year of enrolment.
    site_breakdowns: Vec<BreakdownView>,
    breakdowns_json: String,
}

/// The figures of a cohort as a bundle, for the dashboard's sections and charts (nothing is
/// suppressed: k is 1).
fn as_bundle(d: &Dashboard) -> Bundle {
    Bundle {
        format: cohort_publish::FORMAT.into(),
        dataset: d.dataset.clone(),
        version: d.version,
        cohort: None,
        published_at: jiff::Timestamp::now(),
        k: 1,
        k_reason: None,
        profile_sha256: String::new(),
        cutoff: d.cutoff.clone(),
        participants: Some(d.participants),
        tables: d.tables.clone(),
        numeric: d.numeric.clone(),
        longitudinal: d.longitudinal.clone(),
        dictionary: d.dictionary.clone(),
        choices: Default::default(),
        hidden_shares: Default::default(),
        checksum: String::new(),
    }
}

fn compare(at: &Table, others: &Table) -> CompareTable {
    let count = |t: &Table, key: &str| t.cells.iter().find(|c| c.key == key).and_then(|c| c.count);
    let mut keys: Vec<&str> = at.cells.iter().map(|c| c.key.as_str()).collect();
    for c in &others.cells {
        if !keys.contains(&c.key.as_str()) {
            keys.push(&c.key);
        }
    }
    CompareTable {
        title: at.title.clone(),
        rows: keys
            .into_iter()
            .map(|key| {
                let (a, o) = (count(at, key), count(others, key));
                CompareRow {
                    key: key.to_string(),
                    at_site: thousands(a.unwrap_or(0)),
                    at_share: share(a.or(Some(0)), at.total),
                    others: thousands(o.unwrap_or(0)),
                    others_share: share(o.or(Some(0)), others.total),
                }
            })
            .collect(),
    }
}

/// `GET /datasets/{name}/registry`.
pub(crate) async fn page(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(reference): Path<String>,
    Query(pairs): Query<Vec<(String, String)>>,
) -> PageResult {
    let query = RegistryQuery::from_pairs(&pairs)?;
    let app = state.clone();
    let asked = query.clone();
    let name = reference.clone();
    let (version, view) =
        state.engines.run_warm(&state.store, move |conn| compute_view(conn, &app, &who, &name, &asked)).await?;
    let d = &view.registry;
    let effective: Vec<Filter> = d.filters.iter().filter_map(|f| Filter::parse(f).ok()).collect();
    let profile_domains: Vec<String> =
        d.tables.iter().filter_map(|t| t.id.strip_prefix("availability-").map(str::to_string)).collect();
    let facets = d
        .facets
        .iter()
        .map(|f| {
            let applied = effective.iter().find(|e| e.column() == Some(f.column.as_str()));
            let chosen: Vec<&String> = match applied {
                Some(Filter::OneOf { values, negate: false, .. }) => values.iter().collect(),
                _ => Vec::new(),
            };
            let (from, to) = match applied {
                Some(Filter::Between { from, to, .. }) => {
                    (from.clone().unwrap_or_default(), to.clone().unwrap_or_default())
                }
                _ => (String::new(), String::new()),
            };
            let mut options: Vec<OptionView> = f
                .options
                .iter()
                .map(|o| OptionView {
                    value: o.value.clone(),
                    count: thousands(o.participants),
                    checked: chosen.contains(&&o.value),
                })
                .collect();
            // A chosen value nobody has under the other filters stays on the form, checked, so
            // that applying the form again does not drop it unseen.
            for value in chosen.iter().filter(|v| !f.options.iter().any(|o| &o.value == **v)) {
                options.push(OptionView { value: (*value).clone(), count: "0".into(), checked: true });
            }
            FacetView {
                column: f.column.clone(),
                label: f.label.clone().unwrap_or_else(|| f.column.clone()),
                kind: f.kind,
                options,
                from,
                to,
                min: f.from.clone().unwrap_or_default(),
                max: f.to.clone().unwrap_or_default(),
            }
        })
        .collect();
    let shown_by_form = |f: &Filter| match f {
        Filter::OneOf { negate: false, column, .. } | Filter::Between { column, .. } => {
            d.facets.iter().any(|facet| &facet.column == column)
        }
        Filter::Has { domain } => profile_domains.contains(domain),
        Filter::OneOf { negate: true, .. } => false,
    };
    let kept: Vec<String> =
        d.filters.iter().zip(&effective).filter(|(_, f)| !shown_by_form(f)).map(|(t, _)| t.clone()).collect();
    let domains = profile_domains
        .iter()
        .map(|domain| (domain.clone(), effective.iter().any(|f| matches!(f, Filter::Has { domain: d } if d == domain))))
        .collect();
    // The sites to compare, as this reader names them.
    let sites: Vec<String> = d
        .tables
        .iter()
        .find(|t| t.id == "site")
        .map(|t| t.cells.iter().map(|c| c.key.clone()).filter(|k| k != cohort_registry::MISSING).collect())
        .unwrap_or_default();
    let mut links: Vec<(&str, &str)> = d.filters.iter().map(|f| ("filter", f.as_str())).collect();
    if let Some(site) = &query.site {
        links.push(("site", site));
    }
    links.extend(query.by.iter().map(|b| ("by", b.as_str())));
    let query_string = serde_urlencoded::to_string(&links).expect("pairs of text encode");
    let mut downloads: Vec<(String, String)> = d.tables.iter().map(|t| (t.id.clone(), t.title.clone())).collect();
    downloads.extend(d.breakdowns.iter().map(|b| (b.id.clone(), b.title.clone())));
    // A breakdown of enrolment not computed for the page is computed for its download.
    downloads.extend(
        d.enrolment_by.iter().filter(|e| !e.shown).map(|e| {
            (e.breakdown.clone(), format!("Enrolment over time by {}", e.label.as_deref().unwrap_or(&e.column)))
        }),
    );
    let chosen = query.by.iter().find(|b| d.enrolment_by.iter().any(|e| &e.column == *b && e.shown));
    let enrolment_shown = match chosen {
        Some(column) => d.enrolment_by.iter().find(|e| &e.column == column).map(|e| e.breakdown.clone()),
        None => Some("enrolment-cumulative".to_string()),
    }
    .unwrap_or_default();
    let cumulative = d.breakdowns.iter().find(|b| b.id == "enrolment-cumulative");
    let enrolment_choices: Vec<(String, String, String, bool)> = cumulative
        .map(|b| (String::new(), b.id.clone(), b.title.clone()))
        .into_iter()
        .chain(d.enrolment_by.iter().map(|e| {
            let title = format!("Enrolment by {}", e.label.as_deref().unwrap_or(&e.column));
            (e.column.clone(), e.breakdown.clone(), title)
        }))
        .map(|(by, id, title)| {
            let shown = id == enrolment_shown;
            (by, id, title, shown)
        })
        .collect();
    downloads.push(("numeric".into(), "Measures (quartiles)".into()));
    downloads.push(("dictionary".into(), "Data dictionary with completeness".into()));
    let comparison = match &view.comparison {
        Some(c) => c
            .at_site
            .tables
            .iter()
            .filter(|t| t.id != "site")
            .filter_map(|t| c.others.tables.iter().find(|o| o.id == t.id).map(|o| compare(t, o)))
            .collect(),
        None => Vec::new(),
    };
    let bundle = as_bundle(d);
    let mut export_profiles: Vec<String> = std::fs::read_dir(state.store.layout().export_profiles_dir())
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .filter_map(|e| e.file_name().to_str().and_then(|n| n.strip_suffix(".yaml")).map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    export_profiles.sort();
    let page = RegistryPage {
        export_profiles,
        name: version.dataset.to_string(),
        reference,
        version: version.version,
        participants: thousands(d.participants),
        registry_participants: thousands(d.registry_participants),
        left_out: d.left_out.clone(),
        origin: view.cohort.clone(),
        filters: d.filters.clone(),
        filters_json: script_json(&serde_json::json!(d.filters)),
        kept,
        facets,
        domains,
        sites,
        site: query.site.clone().unwrap_or_default(),
        site_names: view.site_names,
        query: query_string,
        downloads,
        saved: view.saved.iter().map(|c| (c.name.clone(), c.filters.join(" · "), c.version)).collect(),
        comparison,
        d: Sections::of(&bundle),
        view_json: script_json(&serde_json::to_value(&bundle).expect("a bundle serialises")),
        enrolment_table: d.breakdowns.iter().find(|b| b.id == enrolment_shown).map(BreakdownView::of),
        enrolment_choices: if cumulative.is_some() { enrolment_choices } else { Vec::new() },
        enrolment_shown,
        site_breakdowns: d.breakdowns.iter().filter(|b| b.id.starts_with("site")).map(BreakdownView::of).collect(),
        breakdowns_json: script_json(&serde_json::to_value(&d.breakdowns).expect("breakdowns serialise")),
    };
    Ok(render(&page))
}
