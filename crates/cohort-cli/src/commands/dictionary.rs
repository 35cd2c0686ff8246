//! `cohort dictionary`.

use cohort_analysis::dictionary::{DictionaryEntry, table_dictionary};
use cohort_store::{Session, StoreError, VersionRef};

use super::Context;
use crate::ExitStatus;
use crate::ui::{count, print_json, table};

pub fn run(ctx: &Context, dataset: &str, only: Option<&str>, csv: bool) -> anyhow::Result<ExitStatus> {
    let store = ctx.open_store()?;
    let reference = VersionRef::parse(dataset)?;
    let version = store.resolve(&reference)?;
    let tables: Vec<_> = match only {
        Some(name) => vec![version.table(name).ok_or_else(|| StoreError::TableNotFound {
            dataset: reference.to_string(),
            table: name.to_string(),
            available: version.tables.iter().map(|t| t.name.clone()).collect(),
        })?],
        None => version.tables.iter().collect(),
    };
    let session = Session::new(&store)?;
    let dictionaries: Vec<(String, Vec<DictionaryEntry>)> = tables
        .iter()
        .map(|t| Ok((t.name.clone(), table_dictionary(&store, &session, t)?)))
        .collect::<Result<_, StoreError>>()?;
    if ctx.global.json {
        let value: serde_json::Map<String, serde_json::Value> = dictionaries
            .iter()
            .map(|(name, entries)| (name.clone(), serde_json::to_value(entries).expect("entries serialise")))
            .collect();
        print_json(&value)?;
        return Ok(ExitStatus::Success);
    }
    if csv {
        println!("table,column,type,role,label,completeness_percent,distinct,min,max,mean,codes");
        for (name, entries) in &dictionaries {
            for e in entries {
                let fields = [
                    name.clone(),
                    e.column.clone(),
                    e.sql_type.clone(),
                    e.role.clone().unwrap_or_default(),
                    e.label.clone().unwrap_or_default(),
                    format!("{:.1}", e.completeness),
                    e.distinct.to_string(),
                    e.min.clone().unwrap_or_default(),
                    e.max.clone().unwrap_or_default(),
                    e.mean.clone().unwrap_or_default(),
                    e.codes(),
                ];
                println!("{}", fields.iter().map(|f| csv_field(f)).collect::<Vec<_>>().join(","));
            }
        }
        return Ok(ExitStatus::Success);
    }
    for (name, entries) in &dictionaries {
        println!("Table {name}");
        let mut out = table(&["column", "type", "role", "label", "complete", "distinct", "range", "codes"]);
        for e in entries {
            let range = match (&e.min, &e.max) {
                (Some(min), Some(max)) if min != max => format!("{min} … {max}"),
                (Some(v), _) | (_, Some(v)) => v.clone(),
                _ => String::new(),
            };
            out.add_row(vec![
                e.column.clone(),
                e.sql_type.clone(),
                e.role.clone().unwrap_or_default(),
                e.label.clone().unwrap_or_default(),
                format!("{:.1}%", e.completeness),
                count(e.distinct),
                range,
                e.codes(),
            ]);
        }
        println!("{out}\n");
    }
    Ok(ExitStatus::Success)
}

/// A CSV field, quoted when it needs to be.
fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) { format!("\"{}\"", text.replace('"', "\"\"")) } else { text.to_string() }
}
