//! Resource settings shared by every store operation.

use std::time::Duration;

/// How much of the machine a store operation may use.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The memory cap in bytes for the whole process's data work (default 1 GB).
    pub memory_limit: u64,
    /// Worker threads for DuckDB (`None`: one per core).
    pub threads: Option<u32>,
    /// How long to wait for another process's commit before giving up.
    pub lock_timeout: Duration,
    /// Leave `datasets.duckdb` to [`crate::Store::sync_views`], called by a background task (a
    /// server's), instead of bringing it up to date after every commit. Many commits then share
    /// one update, and none waits for it.
    pub views_in_background: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            memory_limit: 1_000_000_000,
            threads: None,
            lock_timeout: Duration::from_secs(120),
            views_in_background: false,
        }
    }
}

impl Settings {
    /// The smallest cap cohort works under: DuckDB needs about 96 MB to convert and sort, and the
    /// process about 100 MB around it.
    pub const MIN_MEMORY_LIMIT: u64 = 200_000_000;

    /// Checks the settings before any work starts.
    pub fn validate(&self) -> Result<(), String> {
        if self.memory_limit < Self::MIN_MEMORY_LIMIT {
            return Err(format!(
                "a memory limit of {} MB is too small: cohort needs at least {} MB",
                self.memory_limit / 1_000_000,
                Self::MIN_MEMORY_LIMIT / 1_000_000
            ));
        }
        Ok(())
    }

    /// The part of the cap given to DuckDB's buffer manager. The rest is reserved for what lives
    /// outside it: the process itself (code, catalog; about 45 MB measured) and each worker
    /// thread's reader and writer buffers (up to about 50 MB each measured).
    pub fn duckdb_memory_bytes(&self) -> u64 {
        let reserve = 64 * MB + 48 * MB * u64::from(self.worker_threads());
        self.memory_limit.saturating_sub(reserve).max(self.memory_limit / 4).max(96 * MB)
    }

    /// The number of worker threads: as asked, or one per core as long as each has 128 MB of the
    /// cap (more threads under a small cap would only spill more).
    pub fn worker_threads(&self) -> u32 {
        if let Some(t) = self.threads {
            return t.max(1);
        }
        let cores = std::thread::available_parallelism().map(|n| n.get() as u64).unwrap_or(1);
        let affordable = self.memory_limit.saturating_sub(64 * MB) / (128 * MB);
        cores.min(affordable).max(1) as u32
    }
}

const MB: u64 = 1_000_000;

/// Parses a human size such as `1GB`, `512MiB`, `750M` or `1000000` (bytes).
pub fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let number: f64 = number.parse().map_err(|_| format!("`{text}` is not a size (try `1GB` or `512MiB`)"))?;
    let multiplier: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" => 1_000,
        "m" | "mb" => 1_000_000,
        "g" | "gb" => 1_000_000_000,
        "t" | "tb" => 1_000_000_000_000,
        "kib" => 1 << 10,
        "mib" => 1 << 20,
        "gib" => 1 << 30,
        "tib" => 1 << 40,
        other => return Err(format!("unknown size unit `{other}` in `{text}` (use B, KB, MB, GB, KiB, MiB, GiB)")),
    };
    Ok((number * multiplier as f64) as u64)
}

#[cfg(test)]
mod tests {
    use super::{Settings, parse_size};

    #[test]
    fn duckdb_gets_the_cap_minus_a_reserve_per_thread() {
        let s = |cap: u64, threads| Settings { memory_limit: cap, threads, ..Settings::default() };
        assert_eq!(s(1_000_000_000, Some(2)).duckdb_memory_bytes(), 840_000_000);
        assert_eq!(s(256_000_000, Some(2)).duckdb_memory_bytes(), 96_000_000);
        assert_eq!(s(256_000_000, Some(1)).duckdb_memory_bytes(), 144_000_000);
        assert_eq!(s(4_000_000_000, Some(16)).duckdb_memory_bytes(), 3_168_000_000);
        // Without a thread count, a small cap gets fewer threads.
        assert_eq!(s(256_000_000, None).worker_threads(), 1);
        assert!(s(199_000_000, None).validate().is_err());
        assert!(s(200_000_000, None).validate().is_ok());
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("1GB").unwrap(), 1_000_000_000);
        assert_eq!(parse_size("512MiB").unwrap(), 512 << 20);
        assert_eq!(parse_size("1.5g").unwrap(), 1_500_000_000);
        assert_eq!(parse_size("4096").unwrap(), 4096);
        assert!(parse_size("lots").is_err());
        assert!(parse_size("3 parsecs").is_err());
    }
}
