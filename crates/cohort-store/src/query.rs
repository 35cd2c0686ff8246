//! SQL over the store: an in-memory DuckDB engine with each dataset mounted as a schema of views.
//!
//! `"<dataset>"."<table>"` reads the current version and `"<dataset>@<N>"."<table>"` an older
//! one. Only datasets the SQL text mentions are mounted, so opening a session costs the same with
//! ten datasets or ten thousand.

use std::collections::BTreeSet;

use duckdb::Connection;

use crate::duck;
use crate::error::{Result, StoreError};
use crate::model::ResolvedVersion;
use crate::name::{VersionRef, quote_ident};
use crate::store::Store;
use crate::views::table_source;

/// An engine connection with datasets mounted.
pub struct Session {
    conn: Connection,
    /// `NAME@N` of every version mounted, in mounting order.
    mounted: Vec<String>,
    /// Leases on the mounted versions' files, held as long as the session.
    leases: Vec<crate::lease::Lease>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session").finish_non_exhaustive()
    }
}

impl Session {
    /// A session with nothing mounted.
    pub fn new(store: &Store) -> Result<Self> {
        let spill = store.layout().spill_dir();
        fs_err::create_dir_all(&spill)?;
        Ok(Session { conn: duck::open_engine(store.settings(), &spill)?, mounted: Vec::new(), leases: Vec::new() })
    }

    /// A session with every dataset (and `NAME@N` version) that `sql` mentions mounted.
    pub fn for_sql(store: &Store, sql: &str) -> Result<Self> {
        let mut session = Session::new(store)?;
        let refs = referenced_versions(sql);
        for (reference, version) in store.resolve_existing(&refs)? {
            session.mount(store, &version, &reference.to_string())?;
        }
        Ok(session)
    }

    /// Mounts `version`'s tables as views in schema `schema`, leasing its files for as long as
    /// the session lasts (see [`crate::lease`]).
    pub fn mount(&mut self, store: &Store, version: &ResolvedVersion, schema: &str) -> Result<()> {
        self.leases.push(store.lease(version)?);
        let mut sql = format!("CREATE SCHEMA IF NOT EXISTS {};\n", quote_ident(schema));
        for t in &version.tables {
            sql.push_str(&format!(
                "CREATE OR REPLACE VIEW {}.{} AS SELECT * FROM {};\n",
                quote_ident(schema),
                quote_ident(&t.name),
                table_source(store, t)
            ));
        }
        self.conn.execute_batch(&sql).map_err(|e| {
            StoreError::duckdb(format!("mounting `{schema}` (run `cohort doctor` if files are missing)"), e)
        })?;
        self.mounted.push(version.label());
        Ok(())
    }

    /// The versions mounted (`NAME@N`), sorted, each once: what a query over this session can read.
    pub fn mounted(&self) -> Vec<String> {
        let mut mounted = self.mounted.clone();
        mounted.sort();
        mounted.dedup();
        mounted
    }

    /// The engine connection.
    pub fn connection(&self) -> &Connection {
        &self.conn
    }
}

/// Every `NAME` and `NAME@N` an SQL text could be referring to. Over-inclusive on purpose: a
/// word that is not a dataset is simply not found.
pub fn referenced_versions(sql: &str) -> Vec<VersionRef> {
    let mut words = BTreeSet::new();
    let mut current = String::new();
    for c in sql.chars().chain(std::iter::once(' ')) {
        if c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '@' {
            current.push(c);
        } else if !current.is_empty() {
            for piece in std::iter::once(current.as_str()).chain(current.split('-')) {
                words.insert(piece.to_string());
            }
            current.clear();
        }
    }
    words.iter().filter_map(|w| VersionRef::parse(w).ok()).collect()
}

#[cfg(test)]
mod tests {
    use super::referenced_versions;

    #[test]
    fn finds_names_and_versions() {
        let refs: Vec<String> = referenced_versions(r#"SELECT * FROM "trial@2".visits v JOIN reg.x ON 1"#)
            .iter()
            .map(|r| r.to_string())
            .collect();
        for want in ["trial@2", "visits", "reg", "x", "SELECT", "FROM"] {
            assert!(refs.contains(&want.to_string()), "{want} in {refs:?}");
        }
    }
}
