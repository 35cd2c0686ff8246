//! The log's files: appending under a lock, finding the tail, verifying, reading.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::{FileExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::error::AuditError;
use crate::record::{Entry, Record, seal, unseal};

/// The `prev` of the first entry.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The newest entry as of the last completed write, kept apart from the log so that cutting
/// entries off its end shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Head {
    /// The newest entry's number.
    pub seq: u64,
    /// Its hash.
    pub hash: String,
}

/// Where the chain ended after the last append, and the file it was read from.
#[derive(Debug, Clone)]
struct Tail {
    len: u64,
    inode: u64,
    seq: u64,
    hash: String,
    at: Timestamp,
}

/// An audit log in a folder (`audit.log`, `audit.head`, `audit.lock`).
#[derive(Debug)]
pub struct AuditLog {
    dir: PathBuf,
    tail: Mutex<Option<Tail>>,
}

/// One thing wrong with the log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// The line (1-based), when the problem is at one.
    pub line: Option<u64>,
    /// What is wrong.
    pub message: String,
}

/// What [`AuditLog::verify`] found.
#[derive(Debug, Clone, Serialize)]
pub struct Verification {
    /// Entries read.
    pub entries: u64,
    /// The hash of the last entry (the chain's head), [`GENESIS`] when empty.
    pub last_hash: String,
    /// The head file's record, if there is one.
    pub head: Option<Head>,
    /// Everything wrong; empty when the log is intact.
    pub problems: Vec<Problem>,
}

impl Verification {
    /// Whether the log is intact.
    pub fn is_intact(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Which records [`AuditLog::records`] returns.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Only this user's.
    pub user: Option<String>,
    /// Only those about this dataset (any version).
    pub dataset: Option<String>,
    /// Only those at or after this time.
    pub since: Option<Timestamp>,
    /// Only this action.
    pub action: Option<String>,
}

/// A date (`2026-11-01`, midnight UTC) or a timestamp (`2026-11-01T09:00:00Z`), as the start of
/// [`Filter::since`].
pub fn parse_since(text: &str) -> Result<Timestamp, String> {
    if let Ok(t) = text.parse::<Timestamp>() {
        return Ok(t);
    }
    text.parse::<jiff::civil::Date>()
        .ok()
        .and_then(|d| d.to_zoned(jiff::tz::TimeZone::UTC).ok())
        .map(|z| z.timestamp())
        .ok_or_else(|| format!("since must be a date (2026-11-01) or a timestamp, not `{text}`"))
}

impl Filter {
    /// Whether `record` passes.
    pub fn accepts(&self, record: &Record) -> bool {
        self.user.as_ref().is_none_or(|u| &record.entry.actor.user == u)
            && self
                .dataset
                .as_ref()
                .is_none_or(|d| record.entry.datasets.iter().any(|v| v.split('@').next() == Some(d.as_str())))
            && self.since.is_none_or(|s| record.at >= s)
            && self.action.as_ref().is_none_or(|a| &record.entry.action == a)
    }
}

/// Problems reported at most: past the first few, a damaged log only repeats itself.
const MAX_PROBLEMS: usize = 50;

impl AuditLog {
    /// The log in `dir` (created on the first write).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        AuditLog { dir: dir.into(), tail: Mutex::new(None) }
    }

    /// The folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The log file.
    pub fn path(&self) -> PathBuf {
        self.dir.join("audit.log")
    }

    fn head_path(&self) -> PathBuf {
        self.dir.join("audit.head")
    }

    /// Holds `audit.lock`: exclusive to append, shared to read. `None` for a reader when nothing
    /// was ever written, so there is nothing to wait for.
    fn lock(&self, exclusive: bool) -> Result<Option<File>, AuditError> {
        let path = self.dir.join("audit.lock");
        if exclusive {
            create_private_dir(&self.dir)?;
        }
        let opened =
            OpenOptions::new().read(true).write(true).create(exclusive).truncate(false).mode(0o600).open(&path);
        let file = match opened {
            Ok(f) => f,
            Err(e) if !exclusive && e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(AuditError::io("open", &path)(e)),
        };
        if exclusive { file.lock() } else { file.lock_shared() }.map_err(AuditError::io("lock", &path))?;
        Ok(Some(file))
    }

    /// Appends `entries` in order and makes them durable; returns their numbers. Several
    /// processes may append at once: the lock orders them into one chain.
    pub fn append(&self, entries: &[Entry]) -> Result<Vec<u64>, AuditError> {
        if entries.is_empty() {
            return Ok(Vec::new());
        }
        let _lock = self.lock(true)?;
        let path = self.path();
        let mut file = OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .mode(0o600)
            .open(&path)
            .map_err(AuditError::io("open", &path))?;
        let meta = file.metadata().map_err(AuditError::io("inspect", &path))?;
        let mut cached = self.tail.lock().expect("not poisoned");
        let tail = match cached.take() {
            Some(t) if t.len == meta.len() && t.inode == meta.ino() => t,
            _ => self.find_tail(&file, meta.len(), meta.ino())?,
        };
        // Entries are numbered and timed in the order they land; the clock may step back, the
        // log's times do not.
        let at = Timestamp::now().max(tail.at);
        let mut bytes = Vec::with_capacity(entries.len() * 300);
        let mut seqs = Vec::with_capacity(entries.len());
        let (mut seq, mut hash) = (tail.seq, tail.hash);
        for entry in entries {
            seq += 1;
            let (line, h) = seal(seq, at, entry, &hash);
            bytes.extend_from_slice(&line);
            hash = h;
            seqs.push(seq);
        }
        let written = file.write_all(&bytes).and_then(|()| file.sync_data());
        if let Err(e) = written {
            // A partial line may be on disk; the next append finds and removes it.
            return Err(AuditError::io("append to", &path)(e));
        }
        write_atomic(&self.head_path(), &serde_json::to_vec(&Head { seq, hash: hash.clone() }).expect("serialises"))
            .map_err(AuditError::io("write the head of", self.head_path()))?;
        *cached = Some(Tail { len: meta.len() + bytes.len() as u64, inode: meta.ino(), seq, hash, at });
        Ok(seqs)
    }

    fn read_head(&self) -> Result<Option<Head>, AuditError> {
        match std::fs::read(self.head_path()) {
            Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| AuditError::Damaged {
                path: self.path(),
                reason: format!("its head file {} cannot be read ({e})", self.head_path().display()),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(AuditError::io("read the head of", self.head_path())(e)),
        }
    }

    /// The chain's end in `file` (of `len` bytes). A torn last line (a write that crashed
    /// before it was acknowledged) is cut off, but only when the head shows that it was never
    /// acknowledged; anything else that does not fit refuses.
    fn find_tail(&self, file: &File, len: u64, inode: u64) -> Result<Tail, AuditError> {
        let path = self.path();
        let damaged = |reason: String| AuditError::Damaged { path: path.clone(), reason };
        let head = self.read_head()?;
        let mut end = len;
        if end > 0 && read_byte(file, end - 1).map_err(AuditError::io("read", &path))? != b'\n' {
            end = match last_newline(file, end).map_err(AuditError::io("read", &path))? {
                Some(n) => n + 1,
                None => 0,
            };
            tracing::warn!(log = %path.display(), bytes = len - end, "cutting off a torn last audit entry");
        }
        let tail = if end == 0 {
            Tail { len: 0, inode, seq: 0, hash: GENESIS.to_string(), at: Timestamp::UNIX_EPOCH }
        } else {
            let start = last_newline(file, end - 1).map_err(AuditError::io("read", &path))?.map_or(0, |n| n + 1);
            let mut line = vec![0; (end - 1 - start) as usize];
            file.read_exact_at(&mut line, start).map_err(AuditError::io("read", &path))?;
            let unsealed = unseal(&line).map_err(|e| damaged(format!("its last entry is unreadable: {e}")))?;
            if unsealed.computed != unsealed.record.hash {
                return Err(damaged("its last entry does not match its hash".into()));
            }
            let r = unsealed.record;
            Tail { len: end, inode, seq: r.seq, hash: r.hash, at: r.at }
        };
        if let Some(head) = head
            && head.seq > tail.seq
        {
            return Err(damaged(format!(
                "it ends at entry {} but its head records entry {}: entries were removed from its end",
                tail.seq, head.seq
            )));
        }
        if end < len {
            file.set_len(end).and_then(|()| file.sync_data()).map_err(AuditError::io("repair", &path))?;
        }
        Ok(Tail { len: end, ..tail })
    }

    /// Checks every entry's hash, number and link to the one before, and the head; and, given
    /// an `anchor` (a head hash kept elsewhere earlier), that some entry still has it.
    pub fn verify(&self, anchor: Option<&str>) -> Result<Verification, AuditError> {
        let _lock = self.lock(false)?;
        let head = match self.read_head() {
            Ok(head) => head,
            Err(AuditError::Damaged { reason, .. }) => {
                return Ok(Verification {
                    entries: 0,
                    last_hash: GENESIS.into(),
                    head: None,
                    problems: vec![Problem { line: None, message: reason }],
                });
            }
            Err(e) => return Err(e),
        };
        let mut problems = Vec::new();
        let mut note = |line: Option<u64>, message: String| {
            if problems.len() < MAX_PROBLEMS {
                problems.push(Problem { line, message });
            }
        };
        let mut entries = 0u64;
        let mut prev = GENESIS.to_string();
        let mut head_seen = false;
        let mut anchor_seen = false;
        let mut reader = match File::open(self.path()) {
            Ok(f) => Some(BufReader::with_capacity(1 << 20, f)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(AuditError::io("read", self.path())(e)),
        };
        let mut line = Vec::new();
        while let Some(r) = reader.as_mut() {
            line.clear();
            let n = r.read_until(b'\n', &mut line).map_err(AuditError::io("read", self.path()))?;
            if n == 0 {
                break;
            }
            entries += 1;
            let number = entries;
            if line.pop() != Some(b'\n') {
                note(Some(number), "the last entry is incomplete (a torn write, or the file was cut)".into());
                break;
            }
            let unsealed = match unseal(&line) {
                Ok(u) => u,
                Err(e) => {
                    note(Some(number), format!("{e} (edited?)"));
                    prev = String::new();
                    continue;
                }
            };
            let record = unsealed.record;
            if unsealed.computed != record.hash {
                note(Some(number), "its contents do not match its hash (edited)".into());
            }
            if record.seq != number {
                note(
                    Some(number),
                    format!("it is entry {}, expected {number} (entries were deleted, inserted or moved)", record.seq),
                );
            } else if record.prev != prev {
                note(
                    Some(number),
                    "it does not follow the entry before it (deleted, inserted or reordered entries)".into(),
                );
            }
            if let Some(h) = &head
                && h.seq == number
            {
                head_seen = true;
                if h.hash != record.hash {
                    note(Some(number), "its hash differs from the one the head recorded".into());
                }
            }
            anchor_seen |= anchor == Some(record.hash.as_str());
            prev = record.hash;
        }
        if let Some(anchor) = anchor
            && !anchor_seen
            && anchor != GENESIS
        {
            note(None, format!("no entry has the expected hash {anchor}: the log was rewritten or replaced"));
        }
        match &head {
            None if entries > 0 => note(None, "the head file is missing".into()),
            Some(h) if h.seq > 0 && !head_seen => note(
                None,
                format!(
                    "the log ends at entry {entries} but its head records entry {}: entries were removed from its end",
                    h.seq
                ),
            ),
            _ => {}
        }
        Ok(Verification { entries, last_hash: if prev.is_empty() { GENESIS.into() } else { prev }, head, problems })
    }

    /// The records `filter` accepts, oldest first, unverified (lines that do not parse are
    /// skipped: `verify` is the place that reports them).
    pub fn records(&self, filter: &Filter) -> Result<Vec<Record>, AuditError> {
        let _lock = self.lock(false)?;
        let file = match File::open(self.path()) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(AuditError::io("read", self.path())(e)),
        };
        let mut out = Vec::new();
        for line in BufReader::with_capacity(1 << 20, file).split(b'\n') {
            let line = line.map_err(AuditError::io("read", self.path()))?;
            if let Ok(record) = serde_json::from_slice::<Record>(&line)
                && filter.accepts(&record)
            {
                out.push(record);
            }
        }
        Ok(out)
    }
}

fn read_byte(file: &File, at: u64) -> std::io::Result<u8> {
    let mut b = [0u8];
    file.read_exact_at(&mut b, at)?;
    Ok(b[0])
}

/// The position of the last `\n` before `end`.
fn last_newline(file: &File, end: u64) -> std::io::Result<Option<u64>> {
    const CHUNK: u64 = 64 * 1024;
    let mut hi = end;
    let mut buf = vec![0; CHUNK as usize];
    while hi > 0 {
        let lo = hi.saturating_sub(CHUNK);
        let chunk = &mut buf[..(hi - lo) as usize];
        file.read_exact_at(chunk, lo)?;
        if let Some(i) = chunk.iter().rposition(|&b| b == b'\n') {
            return Ok(Some(lo + i as u64));
        }
        hi = lo;
    }
    Ok(None)
}

fn create_private_dir(dir: &Path) -> Result<(), AuditError> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir).map_err(AuditError::io("create", dir))
}

/// Replaces `path` with `contents` so that a reader (or a crash) sees the old file or the new.
fn write_atomic(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().expect("the head is in the log's folder");
    let tmp = dir.join(format!(".{}.tmp", path.file_name().and_then(|n| n.to_str()).unwrap_or("file")));
    {
        let mut f = OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&tmp)?;
        f.write_all(contents)?;
        f.sync_data()?;
    }
    std::fs::rename(&tmp, path)?;
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{Actor, Outcome};

    fn entry(i: usize) -> Entry {
        Entry::new(
            Actor { user: format!("user{}", i % 3), role: "analyst".into(), via: "session".into() },
            "dataset.rows",
            Outcome::Served,
        )
        .asked(format!("GET /api/v1/datasets/trial/tables/visits/rows?offset={i}"))
    }

    fn log_with(n: usize) -> (tempfile::TempDir, AuditLog) {
        let dir = tempfile::tempdir().unwrap();
        let log = AuditLog::new(dir.path().join("audit"));
        for chunk in (0..n).collect::<Vec<_>>().chunks(4) {
            log.append(&chunk.iter().map(|&i| entry(i)).collect::<Vec<_>>()).unwrap();
        }
        (dir, log)
    }

    fn lines(log: &AuditLog) -> Vec<Vec<u8>> {
        std::fs::read(log.path()).unwrap().split_inclusive(|&b| b == b'\n').map(<[u8]>::to_vec).collect()
    }

    fn rewrite(log: &AuditLog, lines: &[Vec<u8>]) {
        std::fs::write(log.path(), lines.concat()).unwrap();
    }

    #[test]
    fn an_untouched_log_verifies_and_numbers_without_gaps() {
        let (_dir, log) = log_with(10);
        let v = log.verify(None).unwrap();
        assert!(v.is_intact(), "{:?}", v.problems);
        assert_eq!(v.entries, 10);
        assert_eq!(v.head, Some(Head { seq: 10, hash: v.last_hash.clone() }));
        let records = log.records(&Filter::default()).unwrap();
        assert_eq!(records.iter().map(|r| r.seq).collect::<Vec<_>>(), (1..=10).collect::<Vec<_>>());
        let mine = log.records(&Filter { user: Some("user1".into()), ..Filter::default() }).unwrap();
        assert_eq!(mine.len(), 3);
    }

    #[test]
    fn a_second_writer_continues_the_same_chain() {
        let (_dir, log) = log_with(5);
        let other = AuditLog::new(log.dir());
        assert_eq!(other.append(&[entry(5)]).unwrap(), vec![6]);
        assert_eq!(log.append(&[entry(6)]).unwrap(), vec![7]);
        assert!(log.verify(None).unwrap().is_intact());
    }

    #[test]
    fn every_single_byte_edit_is_detected() {
        let (_dir, log) = log_with(3);
        let original = std::fs::read(log.path()).unwrap();
        for i in 0..original.len() {
            for replacement in [b'0', b'x', b' '] {
                if original[i] == replacement {
                    continue;
                }
                let mut edited = original.clone();
                edited[i] = replacement;
                std::fs::write(log.path(), &edited).unwrap();
                let v = log.verify(None).unwrap();
                assert!(!v.is_intact(), "byte {i} set to {:?} went unnoticed", replacement as char);
            }
        }
    }

    #[test]
    fn deleting_inserting_reordering_and_truncating_are_detected() {
        let (_dir, log) = log_with(6);
        let original = lines(&log);
        let mut cases: Vec<(&str, Vec<Vec<u8>>)> = Vec::new();
        for i in 0..original.len() {
            let mut deleted = original.clone();
            deleted.remove(i);
            cases.push(("delete", deleted));
        }
        let mut swapped = original.clone();
        swapped.swap(2, 3);
        cases.push(("swap", swapped));
        let mut duplicated = original.clone();
        duplicated.insert(2, original[1].clone());
        cases.push(("duplicate", duplicated));
        cases.push(("truncate to empty", Vec::new()));
        let mut cut = original.concat();
        cut.truncate(cut.len() - 10);
        cases.push(("cut mid-line", vec![cut]));
        for (what, tampered) in cases {
            rewrite(&log, &tampered);
            let v = log.verify(None).unwrap();
            assert!(!v.is_intact(), "{what} went unnoticed");
        }
        rewrite(&log, &original);
        assert!(log.verify(None).unwrap().is_intact());
    }

    #[test]
    fn a_truncated_log_refuses_further_writes() {
        let (_dir, log) = log_with(4);
        let mut kept = lines(&log);
        kept.pop();
        rewrite(&log, &kept);
        let fresh = AuditLog::new(log.dir());
        let err = fresh.append(&[entry(9)]).unwrap_err();
        assert!(err.to_string().contains("entries were removed from its end"), "{err}");
    }

    #[test]
    fn a_torn_unacknowledged_line_is_cut_off_by_the_next_write() {
        let (_dir, log) = log_with(2);
        let mut file = OpenOptions::new().append(true).open(log.path()).unwrap();
        file.write_all(b"{\"seq\":3,\"at\":\"2026").unwrap();
        let fresh = AuditLog::new(log.dir());
        assert!(!fresh.verify(None).unwrap().is_intact());
        assert_eq!(fresh.append(&[entry(3)]).unwrap(), vec![3]);
        let v = fresh.verify(None).unwrap();
        assert!(v.is_intact(), "{:?}", v.problems);
        assert_eq!(v.entries, 3);
    }

    #[test]
    fn an_empty_log_verifies() {
        let dir = tempfile::tempdir().unwrap();
        let v = AuditLog::new(dir.path().join("none")).verify(None).unwrap();
        assert!(v.is_intact());
        assert_eq!(v.entries, 0);
        assert_eq!(v.last_hash, GENESIS);
    }
}
