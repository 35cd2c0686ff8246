//! One entry of the log, and how a line seals it.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Who did it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    /// The account name; `local` when a store without accounts is served on loopback, the
    /// operating-system user (`os:NAME`) on the command line, or the name tried at a failed login.
    pub user: String,
    /// The role the request ran with: `public`, `viewer`, `analyst`, `admin`, or `cli`.
    pub role: String,
    /// How they came: `session`, `token:<id>`, `cli`, `local`, `anonymous`.
    pub via: String,
}

/// How the request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Data left (or the action was done).
    Served,
    /// Refused: not logged in, not allowed, not granted, bad CSRF token, locked out.
    Refused,
    /// Allowed, but it failed (bad SQL, missing table): nothing left.
    Failed,
}

impl Outcome {
    /// `served`, `refused` or `failed`.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Served => "served",
            Outcome::Refused => "refused",
            Outcome::Failed => "failed",
        }
    }
}

/// What a caller records; the log adds the number, the time and the chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// Who.
    pub actor: Actor,
    /// From where: the client's address, or `cli`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// What kind of access: `dataset.rows`, `table.download`, `query`, `export`, `user.add`, ...
    pub action: String,
    /// The dataset versions read or changed, as `NAME@N` (or `NAME` when the request named
    /// no version and was refused before one was resolved).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub datasets: Vec<String>,
    /// What was asked: the request line, the SQL, the export's options.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub asked: Option<String>,
    /// How it ended.
    pub outcome: Outcome,
    /// Participant-level rows that left, when any could.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rows: Option<u64>,
    /// Why it was refused or failed, or what changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// Longest `asked` kept; longer text (a huge SQL query) is cut, and says so.
pub const MAX_ASKED: usize = 8 * 1024;

impl Entry {
    /// An entry with only the required parts.
    pub fn new(actor: Actor, action: impl Into<String>, outcome: Outcome) -> Self {
        Entry {
            actor,
            from: None,
            action: action.into(),
            datasets: Vec::new(),
            asked: None,
            outcome,
            rows: None,
            detail: None,
        }
    }

    /// Sets what was asked, cut to [`MAX_ASKED`] bytes.
    pub fn asked(mut self, asked: impl Into<String>) -> Self {
        let mut asked: String = asked.into();
        if asked.len() > MAX_ASKED {
            let mut cut = MAX_ASKED;
            while !asked.is_char_boundary(cut) {
                cut -= 1;
            }
            let total = asked.len();
            asked.truncate(cut);
            asked.push_str(&format!(" [... {} more bytes]", total - cut));
        }
        self.asked = Some(asked);
        self
    }
}

/// An entry as the log holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// Its number: the first entry is 1, and numbers have no gaps.
    pub seq: u64,
    /// When it was written.
    pub at: Timestamp,
    /// What was recorded.
    #[serde(flatten)]
    pub entry: Entry,
    /// The hash of the entry before (64 zeros for the first).
    pub prev: String,
    /// The SHA-256 of this line's text without this field.
    #[serde(default)]
    pub hash: String,
}

#[derive(Serialize)]
struct Body<'a> {
    seq: u64,
    at: Timestamp,
    #[serde(flatten)]
    entry: &'a Entry,
    prev: &'a str,
}

/// `,"hash":"` + 64 hex digits + `"}`.
const HASH_SUFFIX_LEN: usize = 9 + 64 + 2;

/// The line (with its newline) that records `entry` as number `seq`, and its hash.
pub(crate) fn seal(seq: u64, at: Timestamp, entry: &Entry, prev: &str) -> (Vec<u8>, String) {
    let mut line = serde_json::to_vec(&Body { seq, at, entry, prev }).expect("an entry serialises");
    let hash = hex::encode(Sha256::digest(&line));
    line.pop(); // the closing brace
    line.extend_from_slice(format!(",\"hash\":\"{hash}\"}}\n").as_bytes());
    (line, hash)
}

/// A line taken apart.
pub(crate) struct Unsealed {
    pub record: Record,
    /// The hash of the line's body, as computed now.
    pub computed: String,
}

/// Takes a line (without its newline) apart, or says why it is not a sealed record.
pub(crate) fn unseal(line: &[u8]) -> Result<Unsealed, String> {
    if line.len() < HASH_SUFFIX_LEN + 2 || !line.ends_with(b"\"}") {
        return Err("it is not a sealed record".into());
    }
    let split = line.len() - HASH_SUFFIX_LEN;
    if &line[split..split + 9] != b",\"hash\":\"" {
        return Err("its hash is missing".into());
    }
    let mut body = line[..split].to_vec();
    body.push(b'}');
    let computed = hex::encode(Sha256::digest(&body));
    let record: Record = serde_json::from_slice(line).map_err(|e| format!("it is not a valid record ({e})"))?;
    Ok(Unsealed { record, computed })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry() -> Entry {
        let mut entry = Entry::new(
            Actor { user: "ana".into(), role: "analyst".into(), via: "session".into() },
            "query",
            Outcome::Served,
        )
        .asked("SELECT 1");
        // A number inside the flattened entry, read back through `#[serde(flatten)]` with
        // serde_json's `arbitrary_precision` on (the migration needs it).
        entry.rows = Some(12_345);
        entry
    }

    #[test]
    fn a_sealed_line_unseals_to_itself() {
        let at = Timestamp::now();
        let (line, hash) = seal(7, at, &entry(), super::super::log::GENESIS);
        assert_eq!(line.last(), Some(&b'\n'));
        let unsealed = unseal(&line[..line.len() - 1]).unwrap();
        assert_eq!(unsealed.computed, hash);
        assert_eq!(unsealed.record.hash, hash);
        assert_eq!(unsealed.record.seq, 7);
        assert_eq!(unsealed.record.at, at);
        assert_eq!(unsealed.record.entry, entry());
    }

    #[test]
    fn long_questions_are_cut_on_a_character_boundary() {
        let e = entry().asked("é".repeat(MAX_ASKED));
        let asked = e.asked.unwrap();
        assert!(asked.len() < MAX_ASKED + 40, "{}", asked.len());
        assert!(asked.ends_with(&format!("[... {} more bytes]", 2 * MAX_ASKED - MAX_ASKED)));
    }
}
