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
    /// Its SQL type.
    pub sql_type: String,
    /// Share of rows with a value, 0 to 1; `None` when the missing or present count is small.
    pub completeness: Option<f64>,
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

/// Computes every figure of `profile` over the tables mounted in schema `d` of `conn`, sites
/// named by rank.
pub fn figures(conn: &Connection, profile: &Profile, k: u64) -> Result<Figures, PublishError> {
    figures_with(conn, profile, k, SiteLabels::ByRank)
}

/// [`figures`] with sites named by `sites`.
pub fn figures_with(
    conn: &Connection,
    profile: &Profile,
    k: u64,
    sites: SiteLabels<'_>,
) -> Result<Figures, PublishError> {
    let t = format!("d.{}", ident(&profile.table));
    let pid = ident(&profile.participant);
    let mut out = Figures::default();
    let participants: i64 = scalar(conn, "participants", &format!("SELECT count(DISTINCT {pid}) FROM {t}"))?;
    let participants = participants.max(0) as u64;
    out.participants = single(participants, k);
    let mut table = |counts: Counts| out.tables.push(suppress(counts, k));

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
        let sql = format!(
            "SELECT coalesce(strftime(date_trunc('month', CAST({e} AS DATE)), '%Y-%m'), '(missing)'), count(DISTINCT {pid}) \
             FROM {t} GROUP BY 1 ORDER BY 1",
            e = ident(enrolled)
        );
        let cells = pairs(conn, enrolled, &sql)?;
        table(Counts {
            id: "enrolment-by-month".into(),
            title: "Enrolment by month".into(),
            dimension: "month".into(),
            cells,
        });
    }
    for column in &profile.numeric {
        let (summary, histogram) = numeric(conn, &t, column, &ident(column), k, true)?;
        if let Some(h) = histogram {
            table(h);
        }
        out.numeric.push(summary);
    }
    if let Some(visits) = &profile.visits {
        let (longitudinal, tables) = longitudinal(conn, profile, visits, participants, cutoff.as_deref(), k)?;
        out.tables.extend(tables.into_iter().map(|c| suppress(c, k)));
        out.longitudinal = Some(longitudinal);
    }
    let mut dictionary_tables = vec![profile.table.clone()];
    dictionary_tables.extend(profile.visits.iter().map(|v| v.table.clone()));
    for name in dictionary_tables {
        out.dictionary.extend(dictionary(conn, &name, k)?);
    }
    Ok(out)
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
    histogram: bool,
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
    if !histogram {
        return Ok((NumericSummary { column: column.into(), q1, median, q3, histogram: None }, None));
    }
    let id = format!("histogram-{column}");
    let (lo, hi) = (lo.unwrap_or(0.0).floor(), hi.unwrap_or(0.0).ceil());
    let width = ((hi - lo) / 10.0).max(1.0).ceil();
    let edges: Vec<f64> = (0..=10).map(|i| lo + width * i as f64).collect();
    let mut cases = format!("CASE WHEN {expr} < {lo} THEN 0 ");
    for (i, edge) in edges.iter().enumerate().skip(1) {
        cases.push_str(&format!("WHEN {expr} < {edge} THEN {i} "));
    }
    cases.push_str("ELSE 11 END");
    let counted = pairs(
        conn,
        column,
        &format!("SELECT CAST({cases} AS VARCHAR), count(*) FROM {from} WHERE {expr} IS NOT NULL GROUP BY 1"),
    )?;
    let count_of = |bin: usize| counted.iter().find(|(b, _)| b == &bin.to_string()).map_or(0, |c| c.1);
    let label = |x: f64| format!("{x}");
    let mut cells = vec![(format!("< {}", label(edges[0])), count_of(0))];
    for i in 1..=10 {
        cells.push((format!("{} to < {}", label(edges[i - 1]), label(edges[i])), count_of(i)));
    }
    cells.push((format!(">= {}", label(edges[10])), count_of(11)));
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
    let (median_gap_days, _) = numeric(conn, &gaps, "median_gap_days", "gap", k, false)?;

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

fn dictionary(conn: &Connection, table: &str, k: u64) -> Result<Vec<DictionaryEntry>, PublishError> {
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
        out.push(DictionaryEntry {
            table: table.into(),
            column,
            sql_type,
            completeness: shown.then(|| (present as f64 / rows as f64 * 1000.0).round() / 1000.0),
        });
    }
    Ok(out)
}
