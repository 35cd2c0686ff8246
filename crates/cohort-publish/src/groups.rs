//! Counts of rows by the values of keys, many at once: one `GROUPING SETS` scan for every count
//! a set of figures needs, each key computed once a row however many counts group by it, and
//! values read back as text in Rust (a number is cheaper to compute per row than text).

use duckdb::Connection;

use cohort_store::name::quote_ident as ident;

use crate::PublishError;
use crate::query_error as sql_err;

/// What a count calls the rows without a value.
pub const MISSING_VALUE: &str = "(missing)";

/// What joins the two values of a two-key count, as [`crate::Breakdown`] reads them: the unit
/// separator, in no value a registry has.
pub const PAIR: char = '\u{1f}';

/// How a grouping key's values read as text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Read {
    /// Text; rows where it is `NULL` are left out.
    Text,
    /// Text; `NULL` is [`MISSING_VALUE`].
    TextOrMissing,
    /// A whole number; rows where it is `NULL` are left out.
    Integer,
    /// An enrolment period coded as a number (`year * 100 + month`, `year * 10 + quarter`,
    /// `year`) and read as `2021-03`, `2021-Q1`, `2021`; `NULL` is [`MISSING_VALUE`].
    Month,
    /// See [`Read::Month`].
    Quarter,
    /// See [`Read::Month`].
    Year,
    /// A number that is the place of its words in a list; `NULL` leaves the row out.
    Coded(&'static [&'static str]),
}

/// A grouping key: an expression over a row, and how its values read as text. Keys compare
/// equal when they are the same expression, so [`Groups`] computes each once a row however many
/// counts group by it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Key {
    expr: String,
    read: Read,
}

impl Key {
    /// A column's values as `CAST(column AS VARCHAR)` reads them, [`MISSING_VALUE`] for none.
    pub fn column(column: &str, sql_type: &str) -> Key {
        // A text column is grouped as it is: no cast to compute for every row.
        let expr = if sql_type == "VARCHAR" { ident(column) } else { format!("CAST({} AS VARCHAR)", ident(column)) };
        Key { expr, read: Read::TextOrMissing }
    }

    /// The text `expr` gives; rows where it is `NULL` are left out.
    pub fn text(expr: impl Into<String>) -> Key {
        Key { expr: expr.into(), read: Read::Text }
    }

    /// The whole number `expr` gives; rows where it is `NULL` are left out.
    pub fn integer(expr: impl Into<String>) -> Key {
        Key { expr: expr.into(), read: Read::Integer }
    }

    /// The words `labels[i]` for each row where `expr` gives `i` (computing numbers is cheaper
    /// than making text for every row); rows where it is `NULL` are left out.
    pub fn coded(expr: impl Into<String>, labels: &'static [&'static str]) -> Key {
        Key { expr: expr.into(), read: Read::Coded(labels) }
    }

    /// The `period` (`month`, `quarter`, `year`) of `date` (a date expression), computed as a
    /// number and read as `2021-03`, `2021-Q1` or `2021`.
    pub fn period(date: &str, period: &str) -> Key {
        match period {
            "quarter" => Key { expr: format!("year({date}) * 10 + quarter({date})"), read: Read::Quarter },
            "year" => Key { expr: format!("year({date})"), read: Read::Year },
            _ => Key { expr: format!("year({date}) * 100 + month({date})"), read: Read::Month },
        }
    }

    /// Its value in column `at` of `row` as text; `None` leaves the row out.
    fn read(&self, row: &duckdb::Row<'_>, at: usize) -> duckdb::Result<Option<String>> {
        let missing = || Some(MISSING_VALUE.to_string());
        Ok(match self.read {
            Read::Text => row.get::<_, Option<String>>(at)?,
            Read::TextOrMissing => row.get::<_, Option<String>>(at)?.or_else(missing),
            Read::Integer => row.get::<_, Option<i64>>(at)?.map(|v| v.to_string()),
            Read::Month => {
                row.get::<_, Option<i64>>(at)?.map(|v| format!("{:04}-{:02}", v / 100, v % 100)).or_else(missing)
            }
            Read::Quarter => {
                row.get::<_, Option<i64>>(at)?.map(|v| format!("{:04}-Q{}", v / 10, v % 10)).or_else(missing)
            }
            Read::Year => row.get::<_, Option<i64>>(at)?.map(|v| format!("{v:04}")).or_else(missing),
            Read::Coded(labels) => row
                .get::<_, Option<i64>>(at)?
                .and_then(|i| usize::try_from(i).ok())
                .and_then(|i| labels.get(i))
                .map(|words| words.to_string()),
        })
    }
}

/// Grouped counts gathered into one query (`GROUPING SETS`, one scan): for each, rows by the
/// value of one key or of two, among the rows a condition of its own keeps.
#[derive(Default)]
pub struct Groups {
    keys: Vec<Key>,
    /// Each set's keys (places in `keys`) and its own condition.
    sets: Vec<(Vec<usize>, Option<String>)>,
}

impl Groups {
    /// Rows by `key`, among those `only` keeps; its place in [`Groups::run`]'s answer.
    pub fn add(&mut self, key: Key, only: Option<&str>) -> usize {
        self.add_set(vec![key], only)
    }

    /// Rows by two keys, each value read as `first` [`PAIR`] `second`; its place in
    /// [`Groups::run`]'s answer.
    pub fn add_pair(&mut self, first: Key, second: Key) -> usize {
        self.add_set(vec![first, second], None)
    }

    fn add_set(&mut self, keys: Vec<Key>, only: Option<&str>) -> usize {
        // A set with a condition of its own groups by keys of its own, so that its rows in
        // the answer are told apart from another set's by the same keys.
        let at: Vec<usize> = keys
            .into_iter()
            .map(|key| match self.keys.iter().position(|k| *k == key).filter(|_| only.is_none()) {
                Some(i) => i,
                None => {
                    self.keys.push(key);
                    self.keys.len() - 1
                }
            })
            .collect();
        if only.is_none()
            && let Some(i) = self.sets.iter().position(|(k, c)| *k == at && c.is_none())
        {
            return i;
        }
        self.sets.push((at, only.map(str::to_string)));
        self.sets.len() - 1
    }

    /// Each set's values with their counts (none of 0), most first (ties by value), over the
    /// rows of `relation` that `common` keeps.
    pub fn run(&self, conn: &Connection, relation: &str, common: Option<&str>) -> Result<Vec<Counted>, PublishError> {
        let mut out: Vec<Counted> = vec![Vec::new(); self.sets.len()];
        // GROUPING() answers a bit a key; a query takes the sets of at most 60 keys.
        let mut chunk: Vec<usize> = Vec::new();
        let mut chunk_keys: Vec<usize> = Vec::new();
        for (i, (keys, _)) in self.sets.iter().enumerate() {
            let more = keys.iter().filter(|k| !chunk_keys.contains(k)).count();
            if chunk_keys.len() + more > 60 {
                self.run_chunk(conn, relation, common, &chunk, &chunk_keys, &mut out)?;
                chunk.clear();
                chunk_keys.clear();
            }
            chunk.push(i);
            chunk_keys.extend(keys.iter().filter(|k| !chunk_keys.contains(k)).copied().collect::<Vec<_>>());
        }
        if !chunk.is_empty() {
            self.run_chunk(conn, relation, common, &chunk, &chunk_keys, &mut out)?;
        }
        for cells in &mut out {
            cells.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        }
        Ok(out)
    }

    fn run_chunk(
        &self,
        conn: &Connection,
        relation: &str,
        common: Option<&str>,
        chunk: &[usize],
        keys: &[usize],
        out: &mut [Counted],
    ) -> Result<(), PublishError> {
        let m = keys.len();
        let column = |key: usize| format!("g{}", keys.iter().position(|k| *k == key).expect("a key of the chunk"));
        let mut inner: Vec<String> =
            keys.iter().enumerate().map(|(i, k)| format!("{} AS g{i}", self.keys[*k].expr)).collect();
        // Counts: one for the sets without a condition, one for each set with one.
        let mut counts = vec!["count(*)".to_string()];
        let mut count_of = Vec::with_capacity(chunk.len());
        for &set in chunk {
            match &self.sets[set].1 {
                Some(c) => {
                    inner.push(format!("({c}) AS k{}", counts.len()));
                    count_of.push(counts.len());
                    counts.push(format!("count(*) FILTER (WHERE k{})", counts.len()));
                }
                None => count_of.push(0),
            }
        }
        let columns = (0..m).map(|i| format!("g{i}")).collect::<Vec<_>>().join(", ");
        let sets = chunk
            .iter()
            .map(|&set| format!("({})", self.sets[set].0.iter().map(|k| column(*k)).collect::<Vec<_>>().join(", ")))
            .collect::<Vec<_>>()
            .join(", ");
        let filter = common.map_or(String::new(), |c| format!("WHERE {c}"));
        let sql = format!(
            "SELECT GROUPING({columns}), {columns}, {counts} FROM (SELECT {inner} FROM {relation} {filter}) \
             GROUP BY GROUPING SETS ({sets})",
            counts = counts.join(", "),
            inner = inner.join(", "),
        );
        // A set's rows are those whose grouping bits leave exactly its keys in.
        let bits_of = |set: usize| {
            let grouped: i64 = self.sets[set]
                .0
                .iter()
                .map(|k| 1i64 << (m - 1 - keys.iter().position(|x| x == k).expect("a key of the chunk")))
                .sum();
            ((1i64 << m) - 1) - grouped
        };
        let by_bits: Vec<(i64, usize, usize)> =
            chunk.iter().zip(&count_of).map(|(&set, &count)| (bits_of(set), set, count)).collect();
        let mut stmt = conn.prepare(&sql).map_err(sql_err("the counts"))?;
        let mut rows = stmt.query([]).map_err(sql_err("the counts"))?;
        while let Some(row) = rows.next().map_err(sql_err("the counts"))? {
            let bits: i64 = row.get(0).map_err(sql_err("the counts"))?;
            for &(_, set, count) in by_bits.iter().filter(|(b, _, _)| *b == bits) {
                let n: i64 = row.get(1 + m + count).map_err(sql_err("the counts"))?;
                if n <= 0 {
                    continue;
                }
                let mut text = Vec::with_capacity(2);
                for key in &self.sets[set].0 {
                    let at = 1 + keys.iter().position(|k| k == key).expect("a key of the chunk");
                    match self.keys[*key].read(row, at).map_err(sql_err("the counts"))? {
                        Some(value) => text.push(value),
                        None => break,
                    }
                }
                if text.len() == self.sets[set].0.len() {
                    out[set].push((text.join(&PAIR.to_string()), n as u64));
                }
            }
        }
        Ok(())
    }
}

/// Values with their counts.
pub(crate) type Counted = Vec<(String, u64)>;
