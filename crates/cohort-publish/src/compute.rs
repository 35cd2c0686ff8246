//! The aggregates of a bundle, computed in DuckDB over one dataset version. Every count goes
//! through [`crate::suppress`]; nothing here returns a participant-level value.

use duckdb::Connection;
use serde::{Deserialize, Serialize};

use crate::PublishError;
use crate::profile::Profile;
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
}

fn ident(name: &str) -> String {
    cohort_store::name::quote_ident(name)
}

fn sql_err(what: &str) -> impl FnOnce(duckdb::Error) -> PublishError + '_ {
    move |e| PublishError::Query { what: what.to_string(), message: e.to_string() }
}

fn pairs(conn: &Connection, what: &str, sql: &str) -> Result<Vec<(String, u64)>, PublishError> {
    let mut stmt = conn.prepare(sql).map_err(sql_err(what))?;
    let rows = stmt
        .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?.max(0) as u64)))
        .map_err(sql_err(what))?;
    rows.collect::<Result<Vec<_>, _>>().map_err(sql_err(what))
}

fn scalar<T: duckdb::types::FromSql>(conn: &Connection, what: &str, sql: &str) -> Result<T, PublishError> {
    conn.query_row(sql, [], |r| r.get(0)).map_err(sql_err(what))
}

/// How the sites of the per-site table are named.
pub enum SiteLabels<'a> {
    /// `Site 1`, `Site 2`, ... by rank in the table (a public bundle: never names).
    ByRank,
    /// Each site's own label (its name, or an anonymous one kept stable across cohorts); a site
    /// without one is shown by rank.
    Given(&'a std::collections::HashMap<String, String>),
}

/// Computes every figure of a public bundle of `profile` over the tables mounted in schema `d`
/// of `conn`: sites named by rank, counts suppressed under `k`.
pub fn figures(conn: &Connection, profile: &Profile, k: u64) -> Result<Figures, PublishError> {
    figures_with(conn, profile, Options { k, sites: SiteLabels::ByRank, public: true })
}

/// [`figures`] as `options` say.
pub fn figures_with(conn: &Connection, profile: &Profile, options: Options<'_>) -> Result<Figures, PublishError> {
    let Options { k, sites, public } = options;
    let rule = profile.quartiles.clone().unwrap_or_default();
    let quartiles = if public {
        QuartileRule { min: rule.min_participants.max(k), round_to: Some(rule.round_to) }
    } else {
        QuartileRule { min: 1, round_to: None }
    };
    let t = format!("d.{}", ident(&profile.table));
    let pid = ident(&profile.participant);
    let mut out = Figures::default();
    out.choices.quartiles_min_participants = quartiles.min;
    out.choices.quartiles_round_to = quartiles.round_to;
    let participants: i64 = scalar(conn, "participants", &format!("SELECT count(DISTINCT {pid}) FROM {t}"))?;
    let participants = participants.max(0) as u64;
    out.participants = single(participants, k);
    let mut hidden = Vec::new();
    let mut table = |counts: Counts| {
        hidden.push((counts.id.clone(), hidden_share(&counts, k)));
        out.tables.push(suppress(counts, k));
    };

    let by = |column: &str| {
        format!(
            "SELECT coalesce(CAST({c} AS VARCHAR), '(missing)'), count(DISTINCT {pid}) FROM {t} GROUP BY 1 ORDER BY 2 DESC, 1",
            c = ident(column)
        )
    };
    for column in &profile.categories {
        let cells = pairs(conn, column, &by(column))?;
        table(Counts {
            id: format!("category-{column}"),
            title: format!("Participants by {column}"),
            dimension: column.clone(),
            cells,
        });
    }
    if let Some(region) = &profile.region {
        let cells = pairs(conn, region, &by(region))?;
        table(Counts { id: "region".into(), title: "Participants by region".into(), dimension: region.clone(), cells });
    }
    if let Some(site) = &profile.site {
        // Sites are published by rank, never by name: facility names identify places.
        let cells = pairs(conn, site, &by(site))?
            .into_iter()
            .enumerate()
            .map(|(i, (name, n))| match &sites {
                SiteLabels::Given(labels) if labels.contains_key(&name) => (labels[&name].clone(), n),
                _ => (format!("Site {}", i + 1), n),
            })
            .collect();
        table(Counts { id: "site".into(), title: "Participants per site".into(), dimension: "site".into(), cells });
    }
    let cutoff: Option<String> = match (&profile.cutoff, &profile.enrolled, &profile.visits) {
        (Some(c), _, _) => Some(c.clone()),
        (None, enrolled, visits) => {
            let mut dates = Vec::new();
            if let Some(e) = enrolled {
                dates.push(format!("SELECT max(CAST({} AS DATE)) AS d FROM {t}", ident(e)));
            }
            if let Some(v) = visits {
                dates.push(format!("SELECT max(CAST({} AS DATE)) AS d FROM d.{}", ident(&v.date), ident(&v.table)));
            }
            if dates.is_empty() {
                None
            } else {
                scalar::<Option<String>>(
                    conn,
                    "the cutoff",
                    &format!("SELECT CAST(max(d) AS VARCHAR) FROM ({})", dates.join(" UNION ALL ")),
                )?
            }
        }
    };
    out.cutoff = cutoff.clone();
    if let Some(enrolled) = &profile.enrolled {
        let counts_by = |period: &str| -> Result<Counts, PublishError> {
            let e = format!("CAST({} AS DATE)", ident(enrolled));
            let key = match period {
                "quarter" => format!("strftime({e}, '%Y') || '-Q' || quarter({e})"),
                "year" => format!("strftime({e}, '%Y')"),
                _ => format!("strftime({e}, '%Y-%m')"),
            };
            let sql =
                format!("SELECT coalesce({key}, '(missing)'), count(DISTINCT {pid}) FROM {t} GROUP BY 1 ORDER BY 1");
            let cells = pairs(conn, enrolled, &sql)?;
            Ok(Counts {
                id: format!("enrolment-by-{period}"),
                title: format!("Enrolment by {period}"),
                dimension: period.into(),
                cells,
            })
        };
        let counts = match (&profile.enrolment_period, public) {
            (Some(period), _) => counts_by(period)?,
            (None, false) => counts_by("month")?,
            (None, true) => finest(&PERIODS, |p| counts_by(p), k)?,
        };
        out.choices.enrolment_period = Some(counts.dimension.clone());
        table(counts);
    }
    for column in &profile.numeric {
        let asked = profile.bins.get(column).copied();
        let (summary, histogram) = match (asked, public) {
            (Some(bins), _) => numeric(conn, &t, column, &ident(column), k, Some(bins), &quartiles)?,
            (None, false) => numeric(conn, &t, column, &ident(column), k, Some(BINS[0]), &quartiles)?,
            (None, true) => {
                // The most bins that keep most participants in published cells.
                let mut chosen = None;
                for bins in BINS {
                    let (summary, histogram) = numeric(conn, &t, column, &ident(column), k, Some(bins), &quartiles)?;
                    let share = histogram.as_ref().map_or(0.0, |h| hidden_share(h, k));
                    chosen = Some((summary, histogram));
                    if share <= MAX_HIDDEN_SHARE {
                        break;
                    }
                }
                chosen.expect("at least one candidate")
            }
        };
        if let Some(h) = histogram {
            out.choices.bins.insert(column.clone(), h.cells.len() - 3);
            table(h);
        }
        out.numeric.push(summary);
    }
    if let Some(visits) = &profile.visits {
        let (longitudinal, tables) =
            longitudinal(conn, profile, visits, participants, cutoff.as_deref(), k, &quartiles)?;
        for counts in tables {
            table(counts);
        }
        out.longitudinal = Some(longitudinal);
    }
    out.hidden = hidden;
    let mut dictionary_tables = vec![profile.table.clone()];
    dictionary_tables.extend(profile.visits.iter().map(|v| v.table.clone()));
    for name in dictionary_tables {
        // A public bundle lists the profile's columns alone: the others are not its subject.
        let shown = |column: &str| !public || profile_columns(profile, &name).iter().any(|c| c == column);
        out.dictionary.extend(dictionary(conn, &name, k, profile, public)?.into_iter().filter(|e| shown(&e.column)));
    }
    Ok(out)
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

/// Of `candidates` (finest first), the counts of the finest whose suppression under `k` hides at
/// most [`MAX_HIDDEN_SHARE`] of its participants, or of the coarsest.
fn finest(
    candidates: &[&str],
    counts: impl Fn(&str) -> Result<Counts, PublishError>,
    k: u64,
) -> Result<Counts, PublishError> {
    let mut last = None;
    for c in candidates {
        let made = counts(c)?;
        if hidden_share(&made, k) <= MAX_HIDDEN_SHARE {
            return Ok(made);
        }
        last = Some(made);
    }
    Ok(last.expect("at least one candidate"))
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

/// A numeric summary of `expr` over `from`, and (with `histogram`) its histogram: ten equal bins
/// between the 5th and 95th percentiles, rounded, open-ended bins below and above, and a
/// `(missing)` bin, so that its cells partition the same participants as every other table.
fn numeric(
    conn: &Connection,
    from: &str,
    column: &str,
    expr: &str,
    k: u64,
    histogram: Option<usize>,
    quartiles: &QuartileRule,
) -> Result<(NumericSummary, Option<Counts>), PublishError> {
    let sql = format!(
        "SELECT count(*), count({expr}), quantile_cont({expr}::DOUBLE, 0.25), median({expr}::DOUBLE), \
         quantile_cont({expr}::DOUBLE, 0.75), quantile_cont({expr}::DOUBLE, 0.05), quantile_cont({expr}::DOUBLE, 0.95) FROM {from}"
    );
    let (rows, n, [q1, median, q3, lo, hi]) = conn
        .query_row(&sql, [], |r| {
            let quantiles = [r.get::<_, Option<f64>>(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?];
            Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?, quantiles))
        })
        .map_err(sql_err(column))?;
    let n = n.max(0) as u64;
    if single(n, k).is_none() || n == 0 {
        return Ok((NumericSummary { column: column.into(), q1: None, median: None, q3: None, histogram: None }, None));
    }
    let (q1, median, q3) = (quartiles.apply(n, q1), quartiles.apply(n, median), quartiles.apply(n, q3));
    let Some(bins) = histogram else {
        return Ok((NumericSummary { column: column.into(), q1, median, q3, histogram: None }, None));
    };
    let id = format!("histogram-{column}");
    let (lo, hi) = (lo.unwrap_or(0.0).floor(), hi.unwrap_or(0.0).ceil());
    let width = ((hi - lo) / bins as f64).max(1.0).ceil();
    let edges: Vec<f64> = (0..=bins).map(|i| lo + width * i as f64).collect();
    let mut cases = format!("CASE WHEN {expr} < {lo} THEN 0 ");
    for (i, edge) in edges.iter().enumerate().skip(1) {
        cases.push_str(&format!("WHEN {expr} < {edge} THEN {i} "));
    }
    cases.push_str(&format!("ELSE {} END", bins + 1));
    let counted = pairs(
        conn,
        column,
        &format!("SELECT CAST({cases} AS VARCHAR), count(*) FROM {from} WHERE {expr} IS NOT NULL GROUP BY 1"),
    )?;
    let count_of = |bin: usize| counted.iter().find(|(b, _)| b == &bin.to_string()).map_or(0, |c| c.1);
    let label = |x: f64| format!("{x}");
    let mut cells = vec![(format!("< {}", label(edges[0])), count_of(0))];
    for i in 1..=bins {
        cells.push((format!("{} to < {}", label(edges[i - 1]), label(edges[i])), count_of(i)));
    }
    cells.push((format!(">= {}", label(edges[bins])), count_of(bins + 1)));
    cells.push(("(missing)".into(), (rows.max(0) as u64).saturating_sub(n)));
    let histogram =
        Counts { id: id.clone(), title: format!("Distribution of {column}"), dimension: column.into(), cells };
    Ok((NumericSummary { column: column.into(), q1, median, q3, histogram: Some(id) }, Some(histogram)))
}

fn longitudinal(
    conn: &Connection,
    profile: &Profile,
    visits: &crate::profile::VisitsProfile,
    participants: u64,
    cutoff: Option<&str>,
    k: u64,
    quartiles: &QuartileRule,
) -> Result<(Longitudinal, Vec<Counts>), PublishError> {
    let t = format!("d.{}", ident(&profile.table));
    let pid = ident(&profile.participant);
    let v = format!("d.{}", ident(&visits.table));
    let vpid = ident(&visits.participant);
    let vdate = ident(&visits.date);
    let mut tables = Vec::new();
    let mut ids = Vec::new();
    let total_visits: i64 = scalar(conn, "visits", &format!("SELECT count(*) FROM {v}"))?;
    // Per participant: visits, first and last visit, enrolment.
    let enrolled =
        profile.enrolled.as_ref().map_or("NULL::DATE".to_string(), |e| format!("CAST(p.{} AS DATE)", ident(e)));
    let per = format!(
        "WITH p AS (SELECT DISTINCT {pid} AS id, {enrolled} AS enrolled FROM {t} p), \
         vv AS (SELECT {vpid} AS id, CAST({vdate} AS DATE) AS day FROM {v} WHERE {vdate} IS NOT NULL), \
         per AS (SELECT p.id, p.enrolled, count(vv.day) AS visits, max(vv.day) AS last FROM p LEFT JOIN vv ON vv.id = p.id GROUP BY 1, 2)"
    );
    let buckets = pairs(
        conn,
        "visits per participant",
        &format!(
            "{per} SELECT CASE WHEN visits = 0 THEN '0' WHEN visits = 1 THEN '1' WHEN visits = 2 THEN '2' \
             WHEN visits <= 5 THEN '3-5' WHEN visits <= 10 THEN '6-10' WHEN visits <= 20 THEN '11-20' ELSE '21+' END, count(*) \
             FROM per GROUP BY 1"
        ),
    )?;
    let order = ["0", "1", "2", "3-5", "6-10", "11-20", "21+"];
    let cells =
        order.iter().map(|b| (b.to_string(), buckets.iter().find(|(k, _)| k == b).map_or(0, |c| c.1))).collect();
    tables.push(Counts {
        id: "visits-per-participant".into(),
        title: "Visits per participant".into(),
        dimension: "visits".into(),
        cells,
    });
    ids.push("visits-per-participant".to_string());

    let gaps = format!(
        "(SELECT id, median(gap) AS gap FROM (SELECT {vpid} AS id, CAST({vdate} AS DATE) - lag(CAST({vdate} AS DATE)) \
         OVER (PARTITION BY {vpid} ORDER BY {vdate}) AS gap FROM {v}) WHERE gap IS NOT NULL GROUP BY 1)"
    );
    // Quartiles only: a histogram's total would be the participants with two visits or more,
    // which the visits-per-participant table partitions differently.
    let (median_gap_days, _) = numeric(conn, &gaps, "median_gap_days", "gap", k, None, quartiles)?;

    let person_years = if profile.enrolled.is_some() && single(participants, k).is_some() {
        scalar::<Option<f64>>(
            conn,
            "person-years",
            &format!("{per} SELECT sum(greatest(last - enrolled, 0)) / 365.25 FROM per WHERE last IS NOT NULL AND enrolled IS NOT NULL"),
        )?
        .map(|y| (y * 10.0).round() / 10.0)
    } else {
        None
    };

    if let Some(cutoff) = cutoff {
        let c = format!("DATE '{}'", cutoff.replace('\'', ""));
        let active = pairs(
            conn,
            "active participants",
            &format!(
                "{per} SELECT CASE WHEN last > {c} - INTERVAL 12 MONTH THEN 'active' ELSE 'not active' END, count(*) FROM per GROUP BY 1"
            ),
        )?;
        let get = |key: &str, from: &[(String, u64)]| from.iter().find(|(k, _)| k == key).map_or(0, |c| c.1);
        tables.push(Counts {
            id: "active".into(),
            title: "Participants with a visit in the last 12 months".into(),
            dimension: "status".into(),
            cells: vec![("active".into(), get("active", &active)), ("not active".into(), get("not active", &active))],
        });
        ids.push("active".into());
        if profile.enrolled.is_some() {
            for year in 1..=5 {
                let retained = pairs(
                    conn,
                    "retention",
                    &format!(
                        "{per} SELECT CASE WHEN per.last >= per.enrolled + INTERVAL {year} YEAR THEN 'retained' ELSE 'not retained' END, count(*) \
                         FROM per WHERE per.enrolled <= {c} - INTERVAL {year} YEAR GROUP BY 1"
                    ),
                )?;
                let id = format!("retention-year-{year}");
                tables.push(Counts {
                    id: id.clone(),
                    title: format!(
                        "Retention at year {year} (of those enrolled at least {year} years before the cutoff)"
                    ),
                    dimension: "status".into(),
                    cells: vec![
                        ("retained".into(), get("retained", &retained)),
                        ("not retained".into(), get("not retained", &retained)),
                    ],
                });
                ids.push(id);
            }
        }
    }
    for (domain, columns) in &visits.domains {
        let any = columns.iter().map(|c| format!("{} IS NOT NULL", ident(c))).collect::<Vec<_>>().join(" OR ");
        let with: i64 = scalar(
            conn,
            domain,
            &format!(
                "SELECT count(DISTINCT {vpid}) FROM {v} WHERE {}",
                if any.is_empty() { "false".into() } else { any }
            ),
        )?;
        let with = with.max(0) as u64;
        let id = format!("availability-{domain}");
        tables.push(Counts {
            id: id.clone(),
            title: format!("Participants with {domain} data"),
            dimension: "availability".into(),
            cells: vec![("with data".into(), with), ("without".into(), participants.saturating_sub(with))],
        });
        ids.push(id);
    }
    let longitudinal =
        Longitudinal { visits: single(total_visits.max(0) as u64, k), person_years, median_gap_days, tables: ids };
    Ok((longitudinal, tables))
}

fn dictionary(
    conn: &Connection,
    table: &str,
    k: u64,
    profile: &Profile,
    public: bool,
) -> Result<Vec<DictionaryEntry>, PublishError> {
    let t = format!("d.{}", ident(table));
    let mut stmt = conn.prepare(&format!("DESCRIBE {t}")).map_err(sql_err(table))?;
    let columns: Vec<(String, String)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .map_err(sql_err(table))?
        .collect::<Result<_, _>>()
        .map_err(sql_err(table))?;
    let rows: i64 = scalar(conn, table, &format!("SELECT count(*) FROM {t}"))?;
    let rows = rows.max(0) as u64;
    let mut out = Vec::new();
    for (column, sql_type) in columns {
        let present: i64 = scalar(conn, &column, &format!("SELECT count({}) FROM {t}", ident(&column)))?;
        let present = present.max(0) as u64;
        let missing = rows - present;
        let shown = single(present, k).is_some() && single(missing, k).is_some() && rows > 0;
        let label = if table == profile.table { profile.labels.get(&column).cloned() } else { None };
        out.push(DictionaryEntry {
            table: table.into(),
            kind: plain_kind(&sql_type).into(),
            sql_type: (!public).then_some(sql_type),
            column,
            label,
            completeness: shown.then(|| (present as f64 / rows as f64 * 1000.0).round() / 1000.0),
        });
    }
    Ok(out)
}
