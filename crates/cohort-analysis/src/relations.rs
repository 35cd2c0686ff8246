//! A dataset's keys and relationships as detected at ingest and corrected by users, and the
//! one-row-per-participant "unified" view built from them.
//!
//! The unified view starts from the participant table (the table whose key most other tables
//! refer to, or the one asked for). Each table that refers to it, directly or through other
//! tables, is first aggregated to one row per participant (its row count, the mean of its
//! measures, the first and last of its dates) and then joined; each table it refers to (a site, a
//! lookup) is joined on a key made unique first. Every join therefore meets at most one row, so the
//! view has exactly one row per row of the participant table.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use cohort_store::name::quote_ident;
use cohort_store::roles::is_identifier_name;
use cohort_store::{
    KeyCandidate, Relationship, RelationshipDecision, ResolvedVersion, Store, TableInfo, VersionInfo, table_source,
};
use serde::Serialize;

/// Keys and relationships in effect for one version.
#[derive(Debug, Clone, Serialize)]
pub struct Relations {
    /// Each table's key.
    pub keys: Vec<KeyCandidate>,
    /// Relationships that hold: detected and not rejected, or added by a user.
    pub links: Vec<Relationship>,
    /// Detected relationships a user rejected.
    pub rejected: Vec<Relationship>,
}

/// The relations of `version` (whose catalog record is `info`), after `decisions`.
pub fn relations(version: &ResolvedVersion, info: &VersionInfo, decisions: &[RelationshipDecision]) -> Relations {
    let detected = &info.provenance["relationships"];
    let mut keys: Vec<KeyCandidate> = serde_json::from_value(detected["keys"].clone()).unwrap_or_default();
    let found: Vec<Relationship> = serde_json::from_value(detected["links"].clone()).unwrap_or_default();
    let has_column =
        |table: &str, column: &str| version.table(table).is_some_and(|t| t.columns.iter().any(|c| c.name == column));
    let same = |r: &Relationship, d: &RelationshipDecision| {
        r.child_table == d.child_table
            && r.child_column == d.child_column
            && r.parent_table == d.parent_table
            && r.parent_column == d.parent_column
    };
    let mut links = Vec::new();
    let mut rejected = Vec::new();
    for r in found {
        match decisions.iter().rev().find(|d| same(&r, d)) {
            Some(d) if !d.holds => rejected.push(r),
            Some(d) => {
                links.push(Relationship { confidence: 1.0, reason: format!("confirmed by {}", d.decided_by), ..r })
            }
            None => links.push(r),
        }
    }
    for d in decisions.iter().filter(|d| d.holds) {
        if links.iter().any(|r| same(r, d))
            || !has_column(&d.child_table, &d.child_column)
            || !has_column(&d.parent_table, &d.parent_column)
        {
            continue;
        }
        links.push(Relationship {
            child_table: d.child_table.clone(),
            child_column: d.child_column.clone(),
            parent_table: d.parent_table.clone(),
            parent_column: d.parent_column.clone(),
            coverage: f64::NAN,
            confidence: 1.0,
            reason: format!("added by {}", d.decided_by),
        });
        if !keys.iter().any(|k| k.table == d.parent_table) {
            keys.push(KeyCandidate { table: d.parent_table.clone(), column: d.parent_column.clone(), confidence: 1.0 });
        }
    }
    Relations { keys, links, rejected }
}

/// How the unified view is put together.
#[derive(Debug, Clone, Serialize)]
pub struct UnifiedPlan {
    /// The participant table.
    pub root: String,
    /// Its key.
    pub key: String,
    /// Tables aggregated to one row per participant, with the path of tables to the root.
    pub aggregated: Vec<(String, Vec<String>)>,
    /// Tables joined as lookups (the participant table refers to them).
    pub looked_up: Vec<String>,
    /// Tables with no path to the participant table.
    pub unrelated: Vec<String>,
    /// The view's SQL.
    pub sql: String,
}

/// Errors building the unified view.
#[derive(Debug, thiserror::Error)]
pub enum UnifiedError {
    /// No table has a key that another table refers to, and none was named.
    #[error("no participant table: no table's key is referred to by another table")]
    NoRoot,
    /// The named table does not exist or has no key.
    #[error("table `{0}` has no key, so it cannot be the participant table")]
    RootWithoutKey(String),
}

/// Measures per aggregated table, at most: the view stays readable.
const MAX_MEASURES_PER_TABLE: usize = 24;

/// Plans the unified view of `version` under `relations`, from `root` or the table most referred to.
pub fn unified(
    store: &Store,
    version: &ResolvedVersion,
    relations: &Relations,
    root: Option<&str>,
) -> Result<UnifiedPlan, UnifiedError> {
    let root_key = match root {
        Some(name) => {
            relations.keys.iter().find(|k| k.table == name).ok_or_else(|| UnifiedError::RootWithoutKey(name.into()))?
        }
        None => {
            let mut referred: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
            for l in &relations.links {
                referred.entry(&l.parent_table).or_default().insert(&l.child_table);
            }
            relations
                .keys
                .iter()
                .filter(|k| referred.contains_key(k.table.as_str()))
                .max_by_key(|k| (referred[k.table.as_str()].len(), std::cmp::Reverse(k.table.clone())))
                .ok_or(UnifiedError::NoRoot)?
        }
    };
    let root = root_key.table.as_str();
    let table = |name: &str| version.table(name);

    // Paths upwards: from each table, along child -> parent links, to the root.
    let mut paths: BTreeMap<String, Vec<&Relationship>> = BTreeMap::new();
    for t in &version.tables {
        if t.name == root {
            continue;
        }
        let mut queue: VecDeque<(String, Vec<&Relationship>)> = VecDeque::from([(t.name.clone(), Vec::new())]);
        let mut seen = BTreeSet::from([t.name.clone()]);
        while let Some((at, path)) = queue.pop_front() {
            if at == root {
                paths.insert(t.name.clone(), path);
                break;
            }
            for l in relations.links.iter().filter(|l| l.child_table == at) {
                if seen.insert(l.parent_table.clone()) {
                    let mut next = path.clone();
                    next.push(l);
                    queue.push_back((l.parent_table.clone(), next));
                }
            }
        }
    }
    let lookups: Vec<&Relationship> = relations
        .links
        .iter()
        .filter(|l| l.child_table == root && l.parent_table != root && !paths.contains_key(&l.parent_table))
        .collect();

    let k = |alias: &str, column: &str| format!("{alias}.{}::VARCHAR", quote_ident(column));
    let source = |t: &TableInfo| table_source(store, t);
    let mut ctes = Vec::new();
    let mut projection: Vec<String> = table(root)
        .map(|t| t.columns.iter().map(|c| format!("r.{}", quote_ident(&c.name))).collect())
        .unwrap_or_default();
    let mut joins = Vec::new();
    let mut plan_aggregated = Vec::new();
    for (i, (name, path)) in paths.iter().enumerate() {
        let Some(t) = table(name) else { continue };
        let cte = format!("agg_{i}");
        // t0 is the table itself; each hop joins the next table up on its (deduplicated) key.
        let mut from = format!("{} AS t0", source(t));
        for (hop, l) in path.iter().enumerate().take(path.len().saturating_sub(1)) {
            let parent = table(&l.parent_table).expect("links name tables of the version");
            from.push_str(&format!(
                " JOIN (SELECT DISTINCT ON ({pk}) * FROM {src}) AS t{next} ON {} = {}",
                k(&format!("t{hop}"), &l.child_column),
                k(&format!("t{}", hop + 1), &l.parent_column),
                pk = quote_ident(&l.parent_column),
                src = source(parent),
                next = hop + 1
            ));
        }
        let last = path.last().expect("a path has at least one link");
        let participant = k(&format!("t{}", path.len() - 1), &last.child_column);
        let prefix = name.to_string();
        let mut measures = vec![format!("count(*) AS {}", quote_ident(&format!("{prefix}_rows")))];
        let mut measure_columns = Vec::new();
        for c in &t.columns {
            if measure_columns.len() >= MAX_MEASURES_PER_TABLE || is_identifier_name(&c.name) {
                continue;
            }
            let col = format!("t0.{}", quote_ident(&c.name));
            match c.role.as_deref() {
                Some("measure") if c.sql_type != "BOOLEAN" => {
                    measure_columns.push(format!("{prefix}_{}_mean", c.name));
                    measures.push(format!("avg({col}) AS {}", quote_ident(&format!("{prefix}_{}_mean", c.name))));
                }
                Some("date") => {
                    for (f, suffix) in [("min", "first"), ("max", "last")] {
                        measure_columns.push(format!("{prefix}_{}_{suffix}", c.name));
                        measures
                            .push(format!("{f}({col}) AS {}", quote_ident(&format!("{prefix}_{}_{suffix}", c.name))));
                    }
                }
                _ => {}
            }
        }
        ctes.push(format!(
            "{cte} AS (SELECT {participant} AS __participant, {} FROM {from} GROUP BY ALL)",
            measures.join(", ")
        ));
        joins.push(format!("LEFT JOIN {cte} ON {} = {cte}.__participant", k("r", &root_key.column)));
        projection.push(format!("coalesce({cte}.{0}, 0) AS {0}", quote_ident(&format!("{prefix}_rows"))));
        projection.extend(measure_columns.iter().map(|m| format!("{cte}.{}", quote_ident(m))));
        plan_aggregated.push((name.clone(), path.iter().map(|l| l.parent_table.clone()).collect()));
    }
    let mut plan_lookups = Vec::new();
    for (i, l) in lookups.iter().enumerate() {
        let Some(parent) = table(&l.parent_table) else { continue };
        let alias = format!("lookup_{i}");
        joins.push(format!(
            "LEFT JOIN (SELECT DISTINCT ON ({pk}) * FROM {src}) AS {alias} ON {} = {}",
            k("r", &l.child_column),
            k(&alias, &l.parent_column),
            pk = quote_ident(&l.parent_column),
            src = source(parent),
        ));
        for c in parent.columns.iter().filter(|c| c.name != l.parent_column) {
            projection.push(format!(
                "{alias}.{} AS {}",
                quote_ident(&c.name),
                quote_ident(&format!("{}_{}", l.parent_table, c.name))
            ));
        }
        plan_lookups.push(l.parent_table.clone());
    }
    let root_table = table(root).expect("the root is a table of the version");
    let sql = format!(
        "{}SELECT {} FROM {} AS r {}",
        if ctes.is_empty() { String::new() } else { format!("WITH {} ", ctes.join(", ")) },
        projection.join(", "),
        source(root_table),
        joins.join(" ")
    );
    let unrelated = version
        .tables
        .iter()
        .map(|t| t.name.clone())
        .filter(|n| n != root && !paths.contains_key(n) && !plan_lookups.contains(n))
        .collect();
    Ok(UnifiedPlan {
        root: root.to_string(),
        key: root_key.column.clone(),
        aggregated: plan_aggregated,
        looked_up: plan_lookups,
        unrelated,
        sql,
    })
}
