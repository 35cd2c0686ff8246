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
}

impl Default for Settings {
    fn default() -> Self {
        Settings { memory_limit: 1_000_000_000, threads: None, lock_timeout: Duration::from_secs(120) }
    }
}

impl Settings {
    /// The part of the cap given to DuckDB's buffer manager. DuckDB allocates some memory outside
    /// its buffer pool, and the process itself needs some, so DuckDB gets three quarters.
    pub fn duckdb_memory_bytes(&self) -> u64 {
        (self.memory_limit / 4 * 3).max(64 << 20)
    }
}

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
    use super::parse_size;

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
