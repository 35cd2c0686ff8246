//! Entity types: `diagnosis` and `diagnoses` are one type, whatever key or file name holds them.

/// Entity types the legacy tools wrote, singular and plural. Other names are made plural by rule.
const KNOWN: &[(&str, &str)] = &[
    ("patient", "patients"),
    ("encounter", "encounters"),
    ("diagnosis", "diagnoses"),
    ("medication", "medications"),
    ("lab_result", "lab_results"),
    ("vital_sign", "vital_signs"),
    ("procedure", "procedures"),
    ("clinical_note", "clinical_notes"),
    ("member", "members"),
    ("claim", "claims"),
    ("claim_line", "claim_lines"),
    ("prescription", "prescriptions"),
    ("pharmacy_claim", "pharmacy_claims"),
    ("subject", "subjects"),
    ("adverse_event", "adverse_events"),
    ("exposure", "exposures"),
    ("facility", "facilities"),
    ("provider", "providers"),
    ("observation", "observations"),
    ("condition", "conditions"),
    ("allergy", "allergies"),
    ("immunization", "immunizations"),
];

fn normalise(key: &str) -> String {
    key.trim().to_lowercase().replace(['-', ' '], "_")
}

/// Whether `key` names a known entity type, singular or plural (`patient`, `lab-results`).
pub fn is_known(key: &str) -> bool {
    let k = normalise(key);
    KNOWN.iter().any(|(s, p)| *s == k || *p == k)
}

/// The plural, snake_case name of the entity type `key` names: the table it goes to.
pub fn canonical(key: &str) -> String {
    let k = normalise(key);
    if let Some((_, plural)) = KNOWN.iter().find(|(s, p)| *s == k || *p == k) {
        return (*plural).to_string();
    }
    plural(&k)
}

/// The singular of a canonical (plural) type name: `diagnoses` to `diagnosis`.
pub fn singular(plural_name: &str) -> String {
    if let Some((s, _)) = KNOWN.iter().find(|(_, p)| *p == plural_name) {
        return (*s).to_string();
    }
    if let Some(stem) = plural_name.strip_suffix("ies") {
        format!("{stem}y")
    } else if let Some(stem) = plural_name.strip_suffix("ses") {
        format!("{stem}sis")
    } else {
        plural_name.strip_suffix('s').unwrap_or(plural_name).to_string()
    }
}

fn plural(word: &str) -> String {
    if let Some(stem) = word.strip_suffix("is") {
        format!("{stem}es")
    } else if word.ends_with('s') {
        word.to_string()
    } else if let Some(stem) = word.strip_suffix('y')
        && !stem.ends_with(['a', 'e', 'i', 'o', 'u'])
    {
        format!("{stem}ies")
    } else {
        format!("{word}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn singular_and_plural_keys_name_one_type() {
        assert_eq!(canonical("diagnosis"), "diagnoses");
        assert_eq!(canonical("diagnoses"), "diagnoses");
        assert_eq!(canonical("pharmacy-claims"), "pharmacy_claims");
        assert_eq!(canonical("Lab_Result"), "lab_results");
        assert_eq!(canonical("therapy"), "therapies");
        assert_eq!(canonical("device"), "devices");
        assert_eq!(canonical("prognosis"), "prognoses");
        assert!(is_known("vital-sign") && !is_known("address"));
        assert_eq!(singular("diagnoses"), "diagnosis");
        assert_eq!(singular("therapies"), "therapy");
        assert_eq!(singular("devices"), "device");
    }
}
