//! What is scrubbed from free text and which ZIP prefixes are too small to publish, as SQL for
//! DuckDB (whose regular expressions are RE2).

/// Patterns replaced in free text, in the order they are applied (SSNs before phone numbers,
/// which would otherwise take them), with what replaces them.
pub const FREE_TEXT_PATTERNS: &[(&str, &str)] = &[
    ("email", r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}"),
    ("url", r"(?i)\b(https?://|ftp://|www\.)[^\s<>]+"),
    ("ip", r"\b(25[0-5]|2[0-4][0-9]|1?[0-9]?[0-9])(\.(25[0-5]|2[0-4][0-9]|1?[0-9]?[0-9])){3}\b"),
    // IPv6 in full, or shortened with `::` (which a time of day never has).
    ("ip", r"(?i)\b([0-9a-f]{1,4}:){7}[0-9a-f]{1,4}\b"),
    ("ip", r"(?i)\b([0-9a-f]{1,4}:)+:([0-9a-f]{1,4}:?)*"),
    ("ssn", r"\b[0-9]{3}[- ][0-9]{2}[- ][0-9]{4}\b"),
    ("ssn", r"\b[0-9]{9}\b"),
    // Three groups of digits (555-867-5309, (555) 867 5309, 020 7946 0958), an area code in
    // brackets, an international number, or ten digits or more in a row.
    ("phone", r"(\+[0-9]{1,3}[\s.\-]?)?\(?[0-9]{2,5}\)?[\s.\-][0-9]{3,4}[\s.\-][0-9]{3,4}\b"),
    ("phone", r"\([0-9]{2,5}\)\s?[0-9]{3,4}[\s.\-]?[0-9]{3,4}\b"),
    ("phone", r"\+[0-9][0-9\s.\-]{7,16}[0-9]\b"),
    ("phone", r"\b[0-9]{10,15}\b"),
];

/// Three-digit ZIP prefixes whose area held fewer than 20,000 people at the 2000 census: Safe
/// Harbor publishes them as `000`.
pub const SMALL_ZIP3: &[&str] = &[
    "036", "059", "063", "102", "203", "556", "692", "790", "821", "823", "830", "831", "878", "879", "884", "890",
    "893",
];

/// The SQL expression that scrubs the text expression `expr`.
pub fn scrub_sql(expr: &str) -> String {
    FREE_TEXT_PATTERNS.iter().fold(expr.to_string(), |inner, (label, pattern)| {
        format!("regexp_replace({inner}, '{}', '[{label}]', 'g')", pattern.replace('\'', "''"))
    })
}

/// The SQL expression for the three-digit ZIP of `expr`; `numeric` when the column is a number
/// (which lost its leading zeros).
pub fn zip3_sql(expr: &str, numeric: bool) -> String {
    let digits = if numeric {
        format!("lpad(CAST({expr} AS VARCHAR), 5, '0')")
    } else {
        format!("regexp_replace(CAST({expr} AS VARCHAR), '[^0-9]', '', 'g')")
    };
    let small = SMALL_ZIP3.iter().map(|z| format!("'{z}'")).collect::<Vec<_>>().join(", ");
    format!(
        "CASE WHEN {expr} IS NULL THEN NULL WHEN length({digits}) < 3 OR left({digits}, 3) IN ({small}) THEN '000' ELSE left({digits}, 3) END"
    )
}
