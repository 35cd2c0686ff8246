//! What a column is for, as far as its name and type tell.

use arrow::datatypes::DataType;

const IDENTIFIER_WORDS: &[&str] =
    &["id", "ids", "mrn", "uuid", "guid", "code", "key", "zip", "zipcode", "postcode", "ssn", "npi", "nhs"];
const IDENTIFIER_NAMES: &[&str] =
    &["patid", "pid", "subjid", "usubjid", "siteid", "studyid", "nhsno", "nhs_number", "mrn", "zip_code"];

/// Splits `patientId`, `Patient_ID`, `weight-loss` and `WeightLoss` alike into lower-case words.
pub fn name_words(name: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut current = String::new();
    let mut prev_lower = false;
    for c in name.chars() {
        if !c.is_alphanumeric() {
            if !current.is_empty() {
                out.push(std::mem::take(&mut current));
            }
            prev_lower = false;
            continue;
        }
        if c.is_uppercase() && prev_lower && !current.is_empty() {
            out.push(std::mem::take(&mut current));
        }
        prev_lower = c.is_lowercase() || c.is_ascii_digit();
        current.extend(c.to_lowercase());
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

/// Whether a column name says "identifier": `id`, `*_id`, `patientId`, `mrn`, `patid`, `USUBJID`,
/// `zip_code`... Such columns are kept as text, so that `00123` never becomes `123`.
pub fn is_identifier_name(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    if IDENTIFIER_NAMES.contains(&lower.as_str()) {
        return true;
    }
    name_words(name).last().is_some_and(|w| IDENTIFIER_WORDS.contains(&w.as_str()))
}

/// The role of a column from its name and type: `identifier`, `date`, `measure`, `category` or
/// `text`.
pub fn infer_role(name: &str, data_type: &DataType) -> &'static str {
    if is_identifier_name(name) {
        return "identifier";
    }
    match data_type {
        DataType::Date32 | DataType::Date64 | DataType::Timestamp(..) | DataType::Time32(_) | DataType::Time64(_) => {
            "date"
        }
        DataType::Boolean | DataType::Dictionary(..) => "category",
        t if t.is_numeric() => "measure",
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => "text",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifier_names() {
        for yes in ["id", "patient_id", "patientId", "PatientID", "MRN", "patid", "USUBJID", "zip_code", "icd-code"] {
            assert!(is_identifier_name(yes), "{yes}");
        }
        for no in ["valid", "age", "paid", "lipid", "visit_date", "idea", "width"] {
            assert!(!is_identifier_name(no), "{no}");
        }
    }
}
