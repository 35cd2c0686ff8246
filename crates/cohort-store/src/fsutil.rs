//! Durable file-system helpers: fsync of files and directories, and atomic replacement.

use std::io::Write;
use std::path::Path;

use fs_err as fs;

/// Flushes a directory entry list to disk, so that a rename or create inside it survives a crash.
pub fn sync_dir(dir: &Path) -> std::io::Result<()> {
    fs::File::open(dir)?.sync_all()
}

/// Flushes a file's contents to disk.
pub fn sync_file(path: &Path) -> std::io::Result<()> {
    fs::File::open(path)?.sync_all()
}

/// Whether [`sync_filesystem`] is available here (Linux's `syncfs`).
pub const CAN_SYNC_FILESYSTEM: bool = cfg!(target_os = "linux");

/// Flushes everything written to the file system that holds `path` (files and directory
/// entries): one call in place of an fsync for each of thousands of files. Elsewhere than Linux
/// it does nothing; callers check [`CAN_SYNC_FILESYSTEM`] and fsync each file instead.
pub fn sync_filesystem(path: &Path) -> std::io::Result<()> {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        let dir = fs::File::open(path)?;
        // SAFETY: `syncfs` only reads the descriptor, which stays open for the call.
        if unsafe { libc::syncfs(dir.as_raw_fd()) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = path;
    Ok(())
}

/// Writes `contents` to `path` atomically: a reader sees the old file or the new one, never a mix.
pub fn write_atomic(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    // `Path::new("x").parent()` is `Some("")`, which cannot be opened for fsync.
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let tmp = dir.join(format!(
        ".{}.tmp-{}",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("file"),
        std::process::id()
    ));
    {
        let mut f = fs::File::create(&tmp)?;
        f.write_all(contents)?;
        f.sync_all()?;
    }
    fs::rename(&tmp, path)?;
    sync_dir(dir)
}

/// Appends `line` and a newline to the file at `path` (made, with its folder, if missing) in one
/// `write` on an `O_APPEND` file, so that lines from concurrent processes never interleave: the
/// histories of the console and of analyses.
pub fn append_line(path: &Path, line: &[u8]) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir)?;
    }
    let mut bytes = Vec::with_capacity(line.len() + 1);
    bytes.extend_from_slice(line);
    bytes.push(b'\n');
    fs::OpenOptions::new().create(true).append(true).open(path)?.write_all(&bytes)
}

/// The newest `limit` JSON lines of the file at `path` that parse as `T` and that `keep` accepts,
/// newest first; none if there is no file. Lines that do not parse (a torn write after a crash)
/// are skipped. The reading side of [`append_line`].
pub fn newest_json_lines<T: serde::de::DeserializeOwned>(
    path: &Path,
    limit: usize,
    keep: impl Fn(&T) -> bool,
) -> std::io::Result<Vec<T>> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    Ok(text.lines().rev().filter_map(|l| serde_json::from_str::<T>(l).ok()).filter(|e| keep(e)).take(limit).collect())
}

/// Removes a directory tree if it exists.
pub fn remove_dir_all_if_exists(path: &Path) -> std::io::Result<()> {
    match std::fs::remove_dir_all(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(std::io::Error::new(e.kind(), format!("failed to remove `{}`: {e}", path.display()))),
        Ok(()) => Ok(()),
    }
}

/// Total size in bytes of the regular files under `path`.
pub fn tree_size(path: &Path) -> u64 {
    if let Ok(meta) = std::fs::symlink_metadata(path)
        && meta.is_file()
    {
        return meta.len();
    }
    let Ok(entries) = std::fs::read_dir(path) else { return 0 };
    entries
        .flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => tree_size(&e.path()),
            Ok(t) if t.is_file() => e.metadata().map(|m| m.len()).unwrap_or(0),
            _ => 0,
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_atomic_replaces_whole_files_and_takes_relative_paths() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.txt");
        write_atomic(&path, b"one").unwrap();
        write_atomic(&path, b"two").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"two");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1, "no temporary file is left");
        // A bare file name is relative to the working directory.
        let cwd = std::env::current_dir().unwrap();
        std::env::set_current_dir(dir.path()).unwrap();
        let relative = write_atomic(Path::new("g.txt"), b"three");
        std::env::set_current_dir(cwd).unwrap();
        relative.unwrap();
        assert_eq!(std::fs::read(dir.path().join("g.txt")).unwrap(), b"three");
    }
}
