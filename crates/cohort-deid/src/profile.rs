//! The export profile: for each table, what to do with each column. Every column of an exported
//! table must be named in exactly one rule, so a column added to the dataset later is refused
//! until someone decides about it, never exported by default.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use crate::DeidError;

/// An export profile (YAML). Unknown keys are refused, so a typo is not silently ignored.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportProfile {
    /// What the profile is for, for people.
    #[serde(default)]
    pub description: Option<String>,
    /// The tables to export and their rules; tables not named are left out.
    pub tables: BTreeMap<String, TableRules>,
}

/// What to do with each column of one table.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TableRules {
    /// The participant id column: replaced by its keyed hash, and the key to the date shift of
    /// every date in the row.
    #[serde(default)]
    pub participant: Option<String>,
    /// Exported as they are.
    #[serde(default)]
    pub keep: Vec<String>,
    /// Direct identifiers (names, contact details, street address, SSN, MRN): left out.
    #[serde(default)]
    pub drop: Vec<String>,
    /// Other ids: replaced by their keyed hash (the same value gets the same pseudonym in every
    /// table, so joins still work).
    #[serde(default)]
    pub hash: Vec<String>,
    /// Dates and timestamps: shifted back by the participant's offset (30 to 365 days, the same
    /// in every table), so intervals within a participant are kept.
    #[serde(default)]
    pub dates: Vec<String>,
    /// ZIP codes: the first three digits, or `000` where those three digits cover fewer than
    /// 20,000 people.
    #[serde(default)]
    pub zip3: Vec<String>,
    /// Ages in years: above 89 becomes 90.
    #[serde(default)]
    pub age: Vec<String>,
    /// Free text: e-mail addresses, URLs, IP addresses, SSNs and phone numbers are replaced by
    /// `[email]`, `[url]`, `[ip]`, `[ssn]`, `[phone]`.
    #[serde(default)]
    pub free_text: Vec<String>,
}

/// What happens to one column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// Exported as it is.
    Keep,
    /// Left out.
    Drop,
    /// The participant id, pseudonymised.
    Participant,
    /// Pseudonymised.
    Hash,
    /// Shifted by the participant's offset.
    ShiftDate,
    /// Truncated to three digits.
    Zip3,
    /// Capped at 90.
    Age,
    /// Scrubbed of contact details and numbers that identify.
    FreeText,
}

impl Rule {
    /// The profile key that names this rule.
    pub fn key(self) -> &'static str {
        match self {
            Rule::Keep => "keep",
            Rule::Drop => "drop",
            Rule::Participant => "participant",
            Rule::Hash => "hash",
            Rule::ShiftDate => "dates",
            Rule::Zip3 => "zip3",
            Rule::Age => "age",
            Rule::FreeText => "free_text",
        }
    }
}

impl TableRules {
    /// Every (column, rule) the table's rules name, in the order of the profile's keys.
    pub fn named(&self) -> Vec<(&str, Rule)> {
        let mut out: Vec<(&str, Rule)> = self.participant.iter().map(|c| (c.as_str(), Rule::Participant)).collect();
        for (columns, rule) in [
            (&self.keep, Rule::Keep),
            (&self.drop, Rule::Drop),
            (&self.hash, Rule::Hash),
            (&self.dates, Rule::ShiftDate),
            (&self.zip3, Rule::Zip3),
            (&self.age, Rule::Age),
            (&self.free_text, Rule::FreeText),
        ] {
            out.extend(columns.iter().map(|c| (c.as_str(), rule)));
        }
        out
    }
}

impl ExportProfile {
    /// Reads and parses `path`; errors name the file and the line.
    pub fn read(path: &Path) -> Result<(ExportProfile, String), DeidError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| DeidError::Profile { path: path.into(), message: e.to_string() })?;
        let profile: ExportProfile = serde_saphyr::from_str(&text)
            .map_err(|e| DeidError::Profile { path: path.into(), message: e.to_string() })?;
        if profile.tables.is_empty() {
            return Err(DeidError::Profile { path: path.into(), message: "it names no table under `tables:`".into() });
        }
        Ok((profile, text))
    }
}
