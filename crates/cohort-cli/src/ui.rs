//! Terminal output: progress bars, tables and sizes. Data goes to standard output; progress,
//! notes and errors to standard error.

use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::Duration;

use comfy_table::{ContentArrangement, Table, presets::UTF8_FULL_CONDENSED};
use indicatif::{HumanBytes, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A [`cohort_store::Progress`] drawn with indicatif on standard error, or nothing when standard
/// error is not a terminal (or `--quiet`/`--json` was given).
pub struct Bars {
    enabled: bool,
    bar: Mutex<Option<ProgressBar>>,
}

impl Bars {
    /// Bars that draw only when `enabled` and standard error is a terminal.
    pub fn new(enabled: bool) -> Self {
        Bars { enabled: enabled && std::io::stderr().is_terminal(), bar: Mutex::new(None) }
    }

    fn with(&self, f: impl FnOnce(&ProgressBar)) {
        if let Some(bar) = self.bar.lock().expect("progress lock").as_ref() {
            f(bar);
        }
    }
}

impl cohort_store::Progress for Bars {
    fn begin(&self, label: &str, total: Option<u64>) {
        if !self.enabled {
            return;
        }
        let bar = match total {
            Some(t) => ProgressBar::with_draw_target(Some(t), ProgressDrawTarget::stderr()).with_style(
                ProgressStyle::with_template("{msg:>24} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}")
                    .expect("template")
                    .progress_chars("=> "),
            ),
            None => ProgressBar::new_spinner(),
        };
        bar.set_message(label.to_string());
        bar.enable_steady_tick(Duration::from_millis(100));
        *self.bar.lock().expect("progress lock") = Some(bar);
    }

    fn set_position(&self, position: u64) {
        self.with(|b| b.set_position(position));
    }

    fn advance(&self, delta: u64) {
        self.with(|b| b.inc(delta));
    }

    fn finish(&self) {
        if let Some(bar) = self.bar.lock().expect("progress lock").take() {
            bar.finish_and_clear();
        }
    }
}

/// A table for terminal output.
pub fn table(header: &[&str]) -> Table {
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED).set_content_arrangement(ContentArrangement::Dynamic).set_header(header);
    t
}

/// Query results as a table, nulls shown as `NULL`.
pub fn batches_table(schema: &arrow::datatypes::Schema, batches: &[arrow::record_batch::RecordBatch]) -> Table {
    use arrow::util::display::{ArrayFormatter, FormatOptions};
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    let mut t = table(&names);
    let options = FormatOptions::default().with_null("NULL");
    for batch in batches {
        let formatters: Vec<_> = batch
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &options).expect("every Arrow type has a display"))
            .collect();
        for row in 0..batch.num_rows() {
            t.add_row(formatters.iter().map(|f| f.value(row).to_string()).collect::<Vec<_>>());
        }
    }
    t
}

/// The versions of a dataset, newest first, the current one marked.
pub fn versions_table(versions: &[cohort_store::VersionInfo]) -> Table {
    let mut t = table(&["version", "created", "by", "rows", "size", "status", "content hash"]);
    for v in versions {
        t.add_row(vec![
            format!("{}{}", v.version, if v.is_current { " (current)" } else { "" }),
            when(v.created_at),
            v.created_by.clone(),
            count(v.rows),
            bytes(v.bytes),
            v.status.as_str().to_string(),
            v.content_hash[..12.min(v.content_hash.len())].to_string(),
        ]);
    }
    t
}

/// `1.2 MiB`.
pub fn bytes(n: u64) -> String {
    HumanBytes(n).to_string()
}

/// `1,234,567`.
pub fn count(n: u64) -> String {
    indicatif::HumanCount(n).to_string()
}

/// A timestamp as `2026-11-21 14:03:07 UTC`.
pub fn when(t: jiff::Timestamp) -> String {
    t.strftime("%Y-%m-%d %H:%M:%S UTC").to_string()
}

/// Prints `value` as pretty JSON on standard output.
pub fn print_json<T: serde::Serialize>(value: &T) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}
