//! Filters that choose a cohort of a registry's participants, written as text so that the command
//! line, the web page's address and a saved cohort all say them the same way:
//!
//! | filter | keeps participants |
//! |---|---|
//! | `sex=F` / `diagnosis=DMD,BMD` | whose value is one of those (`(missing)` for no value) |
//! | `sex!=F` | whose value is none of those |
//! | `age=10..20`, `age=10..`, `enrolled=..2021-12-31` | whose number or date is in the range, ends included |
//! | `has:imaging` | with a visit holding data in that domain of the profile |
//!
//! Filters on different columns all apply (AND); values of one filter are alternatives (OR).

use cohort_publish::Profile;
use cohort_store::TableInfo;
use cohort_store::name::{quote_ident, quote_literal};

use crate::RegistryError;

/// The key a missing value is shown and chosen as.
pub const MISSING: &str = "(missing)";

/// Where `has:DOMAIN` finds whether a participant has data in a domain.
pub enum Has<'a> {
    /// In the visits table (qualified), if the profile names one.
    Visits(Option<&'a str>),
    /// In a per-participant summary's flags: each domain's column.
    Summary(&'a std::collections::BTreeMap<String, String>),
}

/// One filter, parsed.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    /// The column's value is one of `values` (`negate`: none of them).
    OneOf {
        /// The column.
        column: String,
        /// The values, as text ([`MISSING`] for no value).
        values: Vec<String>,
        /// Keep the participants with none of them instead.
        negate: bool,
    },
    /// The column's value lies between `from` and `to` (either may be open), ends included.
    Between {
        /// The column.
        column: String,
        /// The lowest value kept.
        from: Option<String>,
        /// The highest value kept.
        to: Option<String>,
    },
    /// The participant has a visit with data in `domain`.
    Has {
        /// A domain of the profile's visits.
        domain: String,
    },
}

impl Filter {
    /// Reads one filter as written (see the module's table).
    pub fn parse(text: &str) -> Result<Filter, RegistryError> {
        let bad = |why: &str| RegistryError::Filter { filter: text.to_string(), why: why.to_string() };
        let text = text.trim();
        if let Some(domain) = text.strip_prefix("has:") {
            let domain = domain.trim();
            if domain.is_empty() {
                return Err(bad("`has:` needs a domain of the profile's visits, as `has:imaging`"));
            }
            return Ok(Filter::Has { domain: domain.to_string() });
        }
        let (column, value, negate) = match (text.find("!="), text.find('=')) {
            (Some(at), _) => (&text[..at], &text[at + 2..], true),
            (None, Some(at)) => (&text[..at], &text[at + 1..], false),
            (None, None) => return Err(bad("write COLUMN=VALUE, COLUMN=FROM..TO, COLUMN!=VALUE or has:DOMAIN")),
        };
        let column = column.trim();
        if column.is_empty() {
            return Err(bad("the column is missing before `=`"));
        }
        let value = value.trim();
        if let Some((from, to)) = value.split_once("..") {
            if negate {
                return Err(bad("a range cannot be negated; give the range you want"));
            }
            let end = |s: &str| Some(s.trim().to_string()).filter(|s| !s.is_empty());
            let (from, to) = (end(from), end(to));
            if from.is_none() && to.is_none() {
                return Err(bad("a range needs at least one end, as `age=10..` or `age=..20`"));
            }
            return Ok(Filter::Between { column: column.to_string(), from, to });
        }
        let values: Vec<String> = value.split(',').map(|v| v.trim().to_string()).filter(|v| !v.is_empty()).collect();
        if values.is_empty() {
            return Err(bad("no value after `=`"));
        }
        Ok(Filter::OneOf { column: column.to_string(), values, negate })
    }

    /// The column it filters (`None` for `has:`).
    pub fn column(&self) -> Option<&str> {
        match self {
            Filter::OneOf { column, .. } | Filter::Between { column, .. } => Some(column),
            Filter::Has { .. } => None,
        }
    }

    /// The SQL condition on a row of the participant table `participants` (columns unqualified),
    /// checked against its columns and the profile's domains. `visits` is the SQL name of the
    /// visits table, for `has:`.
    pub fn condition(
        &self,
        participants: &TableInfo,
        profile: &Profile,
        has: &Has<'_>,
    ) -> Result<String, RegistryError> {
        let column_type = |name: &str| -> Result<&str, RegistryError> {
            participants.columns.iter().find(|c| c.name == name).map(|c| c.sql_type.as_str()).ok_or_else(|| {
                RegistryError::UnknownColumn {
                    column: name.to_string(),
                    table: participants.name.clone(),
                    available: participants.columns.iter().map(|c| c.name.clone()).collect::<Vec<_>>().join(", "),
                }
            })
        };
        match self {
            Filter::OneOf { column, values, negate } => {
                column_type(column)?;
                let c = quote_ident(column);
                let listed: Vec<String> = values.iter().filter(|v| *v != MISSING).map(|v| quote_literal(v)).collect();
                let mut alternatives = Vec::new();
                if !listed.is_empty() {
                    alternatives.push(format!("CAST({c} AS VARCHAR) IN ({})", listed.join(", ")));
                }
                if values.iter().any(|v| v == MISSING) {
                    alternatives.push(format!("{c} IS NULL"));
                }
                let any = format!("({})", alternatives.join(" OR "));
                // A negated filter keeps missing values unless `(missing)` is among those excluded.
                Ok(if *negate { format!("NOT coalesce({any}, false)") } else { any })
            }
            Filter::Between { column, from, to } => {
                let sql_type = column_type(column)?;
                let c = quote_ident(column);
                let literal = |value: &str| -> Result<String, RegistryError> {
                    let bad = |kind: &str| RegistryError::Filter {
                        filter: format!("{column}={}..{}", from.as_deref().unwrap_or(""), to.as_deref().unwrap_or("")),
                        why: format!("`{value}` is not {kind}, and `{column}` holds {sql_type}"),
                    };
                    if sql_type == "DATE" || sql_type.starts_with("TIMESTAMP") {
                        value.parse::<jiff::civil::Date>().map_err(|_| bad("a date (YYYY-MM-DD)"))?;
                        Ok(format!("DATE {}", quote_literal(value)))
                    } else if cohort_store::model::is_numeric(sql_type) || sql_type.starts_with("DECIMAL") {
                        value.parse::<f64>().map_err(|_| bad("a number"))?;
                        Ok(value.to_string())
                    } else {
                        Err(RegistryError::Filter {
                            filter: column.clone(),
                            why: format!("`{column}` holds {sql_type}: a range needs numbers or dates"),
                        })
                    }
                };
                let date = sql_type == "DATE" || sql_type.starts_with("TIMESTAMP");
                let value = if date { format!("CAST({c} AS DATE)") } else { c };
                let mut parts = Vec::new();
                if let Some(from) = from {
                    parts.push(format!("{value} >= {}", literal(from)?));
                }
                if let Some(to) = to {
                    parts.push(format!("{value} <= {}", literal(to)?));
                }
                Ok(format!("({})", parts.join(" AND ")))
            }
            Filter::Has { domain } => {
                let Some(profile_visits) = &profile.visits else {
                    return Err(RegistryError::Filter {
                        filter: format!("has:{domain}"),
                        why: "the registry's profile names no visits table".into(),
                    });
                };
                let columns = profile_visits.domains.get(domain).ok_or_else(|| RegistryError::Filter {
                    filter: format!("has:{domain}"),
                    why: format!(
                        "the profile has no domain `{domain}` (it has: {})",
                        profile_visits.domains.keys().cloned().collect::<Vec<_>>().join(", ")
                    ),
                })?;
                match has {
                    Has::Summary(domains) => Ok(domains.get(domain).cloned().unwrap_or_else(|| "false".into())),
                    Has::Visits(None) => Err(RegistryError::Filter {
                        filter: format!("has:{domain}"),
                        why: "the registry's profile names no visits table".into(),
                    }),
                    Has::Visits(Some(v)) => {
                        let any = columns.iter().map(|c| format!("{} IS NOT NULL", quote_ident(c))).collect::<Vec<_>>();
                        let any = if any.is_empty() { "false".to_string() } else { any.join(" OR ") };
                        Ok(format!(
                            "{} IN (SELECT {} FROM {v} WHERE {any})",
                            quote_ident(&profile.participant),
                            quote_ident(&profile_visits.participant)
                        ))
                    }
                }
            }
        }
    }
}

/// The filters `texts`, parsed; more than one filter on a column is refused (say its values in
/// one).
pub fn parse_all(texts: &[String]) -> Result<Vec<Filter>, RegistryError> {
    let filters: Vec<Filter> = texts.iter().map(|t| Filter::parse(t)).collect::<Result<_, _>>()?;
    for (i, f) in filters.iter().enumerate() {
        if let Some(column) = f.column()
            && filters[..i].iter().any(|g| g.column() == Some(column))
        {
            return Err(RegistryError::Filter {
                filter: texts[i].clone(),
                why: format!("`{column}` is filtered twice; give its values in one filter (`{column}=a,b`)"),
            });
        }
    }
    Ok(filters)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_read_as_written() {
        assert_eq!(
            Filter::parse("diagnosis=DMD, BMD").unwrap(),
            Filter::OneOf { column: "diagnosis".into(), values: vec!["DMD".into(), "BMD".into()], negate: false }
        );
        assert_eq!(
            Filter::parse("sex!=F").unwrap(),
            Filter::OneOf { column: "sex".into(), values: vec!["F".into()], negate: true }
        );
        assert_eq!(
            Filter::parse("age=10..").unwrap(),
            Filter::Between { column: "age".into(), from: Some("10".into()), to: None }
        );
        assert_eq!(Filter::parse("has:imaging").unwrap(), Filter::Has { domain: "imaging".into() });
        for bad in ["age", "=3", "age=", "age=..", "age!=1..2", "has:"] {
            assert!(Filter::parse(bad).is_err(), "{bad}");
        }
        assert!(parse_all(&["sex=F".into(), "sex=M".into()]).is_err(), "one filter a column");
    }
}
