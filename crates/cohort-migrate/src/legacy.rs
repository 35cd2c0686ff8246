//! Recognising a legacy file's shape and reading it into cohorts, simulation runs or records.
//!
//! Every shape of `legacy-formats.md` is read into one of three models. A cohort keeps, beside its
//! entities, a *header*: the spec v1.0 document without its `entities`, which together with the
//! entities' original JSON is everything needed to write the cohort back.

use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::entity;

/// The shapes `cohort migrate` recognises.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Shape {
    /// One file per cohort with `schema_version` "1.0" and `entities`.
    SpecV1,
    /// A workspace dump: `metadata` and `entities` of wrapped items with provenance.
    WorkspaceV2,
    /// Entity lists at the top level, under plural or singular keys.
    FlatLegacy,
    /// A folder of per-entity JSON files, with an optional `cohort.json` / `scenario.json`.
    FolderPerCohort,
    /// One simulation run with `patient_histories`.
    SimulationResults,
    /// A JSON array of objects, or NDJSON: one table.
    GenericRecords,
}

impl Shape {
    /// The shape's name in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Shape::SpecV1 => "spec-v1.0",
            Shape::WorkspaceV2 => "workspace-v2.0",
            Shape::FlatLegacy => "flat-legacy",
            Shape::FolderPerCohort => "folder-per-cohort",
            Shape::SimulationResults => "simulation-results",
            Shape::GenericRecords => "generic-records",
        }
    }
}

/// One entity of a cohort.
#[derive(Debug, Clone)]
pub struct Entity {
    /// Its fields (for a wrapped v2.0 item, the `data` object).
    pub data: Map<String, Value>,
    /// A v2.0 item's wrapper without `data`: `entity_id`, `entity_type`, `provenance`.
    pub wrapper: Option<Map<String, Value>>,
}

impl Entity {
    /// The entity as spec v1.0 holds it: the object itself, or for a wrapped item its data with the
    /// wrapper kept under `_healthsim`, so that no provenance is lost.
    pub fn v1(&self) -> Value {
        let mut out = self.data.clone();
        if let Some(w) = &self.wrapper {
            out.insert("_healthsim".into(), Value::Object(w.clone()));
        }
        Value::Object(out)
    }
}

/// The entities of one type, singular and plural keys merged.
#[derive(Debug, Clone)]
pub struct EntityType {
    /// The plural, snake_case name: `diagnoses`.
    pub name: String,
    /// The keys or file names it was found under (`diagnosis`, `diagnoses`).
    pub keys: Vec<String>,
    /// Its entities, in source order.
    pub entities: Vec<Entity>,
}

/// A synthetic-patient cohort in any of its shapes.
#[derive(Debug, Clone)]
pub struct Cohort {
    /// The spec v1.0 document without `entities`.
    pub header: Map<String, Value>,
    /// Entity types in the order first seen.
    pub types: Vec<EntityType>,
    /// What was filled in because the source lacked it (`created_at` from the file's time, ...).
    pub notes: Vec<String>,
    /// For a folder per cohort: how each of its files was read, and the JSON documents kept whole.
    pub folder: Option<FolderContent>,
}

impl Cohort {
    fn new(header: Map<String, Value>) -> Self {
        Cohort { header, types: Vec::new(), notes: Vec::new(), folder: None }
    }

    fn add(&mut self, key: &str, entity: Entity) {
        let name = entity::canonical(key);
        let t = match self.types.iter().position(|t| t.name == name) {
            Some(i) => &mut self.types[i],
            None => {
                self.types.push(EntityType { name, keys: Vec::new(), entities: Vec::new() });
                self.types.last_mut().expect("just pushed")
            }
        };
        if !t.keys.iter().any(|k| k == key) {
            t.keys.push(key.to_string());
        }
        t.entities.push(entity);
    }

    /// The cohort's name, if its header has one.
    pub fn title(&self) -> Option<&str> {
        self.header.get("name").and_then(Value::as_str).filter(|s| !s.trim().is_empty())
    }

    /// Its description, if any.
    pub fn description(&self) -> Option<String> {
        self.header.get("description").and_then(Value::as_str).map(str::to_string)
    }

    /// Its tags (the strings among them).
    pub fn tags(&self) -> Vec<String> {
        self.header
            .get("tags")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(|t| t.as_str().map(str::to_string)).collect())
            .unwrap_or_default()
    }

    /// Entities per type.
    pub fn counts(&self) -> Vec<(String, u64)> {
        self.types.iter().map(|t| (t.name.clone(), t.entities.len() as u64)).collect()
    }

    /// The cohort as a spec v1.0 document: the form `cohort export --format cohort-json` writes.
    pub fn v1_document(&self) -> Value {
        let entities: Map<String, Value> = self
            .types
            .iter()
            .map(|t| (t.name.clone(), Value::Array(t.entities.iter().map(Entity::v1).collect())))
            .collect();
        let mut doc = self.header.clone();
        doc.insert("entities".into(), Value::Object(entities));
        Value::Object(doc)
    }
}

/// One simulation run of the legacy app.
#[derive(Debug, Clone)]
pub struct Simulation {
    /// Every top-level field but `patient_histories`: run settings and the app's aggregates.
    pub document: Map<String, Value>,
    /// Patient id to visits, as stored.
    pub histories: Map<String, Value>,
}

/// What a legacy source holds.
#[derive(Debug, Clone)]
pub enum Legacy {
    /// A cohort.
    Cohort(Cohort),
    /// A simulation run.
    Simulation(Simulation),
    /// Records of one table.
    Records(Vec<Map<String, Value>>),
}

impl Legacy {
    /// Entities (or patients and visits, or records) per table.
    pub fn counts(&self) -> Vec<(String, u64)> {
        match self {
            Legacy::Cohort(c) => c.counts(),
            Legacy::Simulation(s) => {
                let visits = s.histories.values().map(|v| v.as_array().map_or(0, Vec::len) as u64).sum();
                vec![("patients".into(), s.histories.len() as u64), ("visits".into(), visits)]
            }
            Legacy::Records(r) => vec![("records".into(), r.len() as u64)],
        }
    }
}

/// Why a source could not be read.
#[derive(Debug, Clone, PartialEq)]
pub enum Refusal {
    /// Valid JSON, but not a shape cohort knows: listed as skipped.
    Unrecognised(String),
    /// Corrupt, truncated or inconsistent: listed as failed.
    Invalid(String),
}

/// Parses a file's bytes as JSON, or as NDJSON (one value per line); errors give line and column.
pub fn parse_json(path: &Path, bytes: &[u8]) -> Result<Value, Refusal> {
    parse_json_lines(path, bytes).map(|(v, _)| v)
}

/// [`parse_json`], and whether the file was read as NDJSON (its values then form the list).
pub fn parse_json_lines(path: &Path, bytes: &[u8]) -> Result<(Value, bool), Refusal> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let ndjson = path.extension().is_some_and(|e| e.eq_ignore_ascii_case("ndjson") || e.eq_ignore_ascii_case("jsonl"));
    if !ndjson {
        match serde_json::from_slice::<Value>(bytes) {
            Ok(v) => return Ok((v, false)),
            // A second value after the first, on a new line: perhaps NDJSON.
            Err(e) if e.classify() == serde_json::error::Category::Syntax && e.line() > 1 && looks_ndjson(bytes) => {}
            Err(e) => return Err(Refusal::Invalid(describe(&e, 0))),
        }
    }
    let mut records = Vec::new();
    for (i, line) in bytes.split(|b| *b == b'\n').enumerate() {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        match serde_json::from_slice::<Value>(line) {
            Ok(v) => records.push(v),
            Err(e) => return Err(Refusal::Invalid(describe(&e, i))),
        }
    }
    Ok((Value::Array(records), true))
}

fn looks_ndjson(bytes: &[u8]) -> bool {
    let first = bytes.split(|b| *b == b'\n').next().unwrap_or_default();
    serde_json::from_slice::<Map<String, Value>>(first).is_ok()
}

/// "line L, column C: what"; `line_offset` for a line of NDJSON parsed alone.
fn describe(e: &serde_json::Error, line_offset: usize) -> String {
    let what = match e.classify() {
        serde_json::error::Category::Eof => "the file ends in the middle of a value (truncated?)".to_string(),
        _ => {
            let text = e.to_string();
            // serde_json appends " at line L column C"; we say it first.
            text.rsplit_once(" at line ").map(|(m, _)| m.to_string()).unwrap_or(text)
        }
    };
    format!("line {}, column {}: {what}", e.line() + line_offset, e.column())
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "list",
        Value::Object(_) => "object",
    }
}

/// Recognises the shape of a parsed file and reads it.
pub fn read_document(value: Value) -> Result<(Shape, Legacy), Refusal> {
    let object = match value {
        Value::Array(items) => {
            let mut records = Vec::with_capacity(items.len());
            for (i, item) in items.into_iter().enumerate() {
                match item {
                    Value::Object(o) => records.push(o),
                    other => {
                        return Err(Refusal::Unrecognised(format!(
                            "a list whose item {i} is a {}, not an object",
                            kind(&other)
                        )));
                    }
                }
            }
            if records.is_empty() {
                return Err(Refusal::Unrecognised("an empty list: nothing to migrate".into()));
            }
            return Ok((Shape::GenericRecords, Legacy::Records(records)));
        }
        Value::Object(o) => o,
        other => return Err(Refusal::Unrecognised(format!("a single {}, not an object or a list", kind(&other)))),
    };
    if object.get("patient_histories").is_some() {
        return simulation(object).map(|s| (Shape::SimulationResults, Legacy::Simulation(s)));
    }
    if object.get("metadata").is_some_and(Value::is_object) && object.get("entities").is_some() {
        return workspace(object).map(|c| (Shape::WorkspaceV2, Legacy::Cohort(c)));
    }
    if object.get("entities").is_some() {
        return spec_v1(object).map(|c| (Shape::SpecV1, Legacy::Cohort(c)));
    }
    if object.iter().any(|(k, v)| entity::is_known(k) && (v.is_array() || v.is_object())) {
        return flat(object).map(|c| (Shape::FlatLegacy, Legacy::Cohort(c)));
    }
    Err(Refusal::Unrecognised(
        "no `entities`, no `patient_histories` and no entity lists (`patients`, `encounters`, ...) at the top level"
            .into(),
    ))
}

/// The objects of an entity list (or a single object), or why not.
fn objects(value: Value, at: &str) -> Result<Vec<Map<String, Value>>, Refusal> {
    match value {
        Value::Array(items) => items
            .into_iter()
            .enumerate()
            .map(|(i, item)| match item {
                Value::Object(o) => Ok(o),
                other => Err(Refusal::Invalid(format!("{at}[{i}] is a {}, not an object", kind(&other)))),
            })
            .collect(),
        Value::Object(o) => Ok(vec![o]),
        Value::Null => Ok(Vec::new()),
        other => Err(Refusal::Invalid(format!("{at} is a {}, not a list of objects", kind(&other)))),
    }
}

fn spec_v1(mut doc: Map<String, Value>) -> Result<Cohort, Refusal> {
    let entities = doc.remove("entities").unwrap_or(Value::Null);
    let Value::Object(entities) = entities else {
        return Err(Refusal::Invalid(format!("`entities` is a {}, not an object of entity lists", kind(&entities))));
    };
    let mut cohort = Cohort::new(doc);
    for (key, list) in entities {
        let at = format!("entities.{key}");
        let items = objects(list, &at)?;
        ensure_type(&mut cohort, &key);
        for data in items {
            cohort.add(&key, Entity { data, wrapper: None });
        }
    }
    Ok(cohort)
}

/// Records an entity type even when its list is empty, so that writing back keeps it.
fn ensure_type(cohort: &mut Cohort, key: &str) {
    let name = entity::canonical(key);
    match cohort.types.iter_mut().find(|t| t.name == name) {
        Some(t) if !t.keys.iter().any(|k| k == key) => t.keys.push(key.to_string()),
        Some(_) => {}
        None => cohort.types.push(EntityType { name, keys: vec![key.to_string()], entities: Vec::new() }),
    }
}

fn workspace(mut doc: Map<String, Value>) -> Result<Cohort, Refusal> {
    let Some(Value::Object(metadata)) = doc.remove("metadata") else { unreachable!("checked by the caller") };
    let entities = doc.remove("entities").unwrap_or(Value::Null);
    let Value::Object(entities) = entities else {
        return Err(Refusal::Invalid(format!("`entities` is a {}, not an object of entity lists", kind(&entities))));
    };
    // The v1.0 header: the workspace's metadata (its id as `cohort_id`), then the other top-level
    // fields such as `provenance_summary`. The original `schema_version` "2.0" names the shape
    // this was read from, which the v1.0 document replaces.
    let mut header = Map::new();
    header.insert("schema_version".into(), Value::String("1.0".into()));
    for (k, v) in metadata {
        match k.as_str() {
            "schema_version" => {}
            "workspace_id" => {
                header.insert("cohort_id".into(), v);
            }
            _ => {
                header.insert(k, v);
            }
        }
    }
    header.extend(doc);
    let mut cohort = Cohort::new(header);
    for (key, list) in entities {
        let at = format!("entities.{key}");
        ensure_type(&mut cohort, &key);
        for mut item in objects(list, &at)? {
            let entity = match item.remove("data") {
                Some(Value::Object(data)) => Entity { data, wrapper: Some(item) },
                Some(other) => {
                    item.insert("data".into(), other);
                    Entity { data: item, wrapper: None }
                }
                None => Entity { data: item, wrapper: None },
            };
            cohort.add(&key, entity);
        }
    }
    Ok(cohort)
}

fn flat(doc: Map<String, Value>) -> Result<Cohort, Refusal> {
    let mut header = Map::new();
    header.insert("schema_version".into(), Value::String("1.0".into()));
    let mut lists = Vec::new();
    for (k, v) in doc {
        if entity::is_known(&k) && (v.is_array() || v.is_object()) {
            lists.push((k, v));
        } else {
            header.insert(k, v);
        }
    }
    let mut cohort = Cohort::new(header);
    for (key, list) in lists {
        let items = objects(list, &key)?;
        ensure_type(&mut cohort, &key);
        for data in items {
            cohort.add(&key, Entity { data, wrapper: None });
        }
    }
    Ok(cohort)
}

/// One file of a folder per cohort, as read from disk.
pub struct FolderInput<'a> {
    /// Its name in the folder.
    pub name: String,
    /// Its bytes, for a JSON file (`.json`, `.ndjson`, `.jsonl`); `None` for any other file, which
    /// is attached to the version as it is.
    pub json: Option<&'a [u8]>,
    /// SHA-256 of its bytes.
    pub sha256: String,
    /// Its size in bytes.
    pub bytes: u64,
}

/// What a file of a folder per cohort became.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Layout {
    /// `cohort.json` or `scenario.json`: the cohort's metadata, in its header.
    Meta,
    /// A list of entities of one type.
    List,
    /// One entity.
    Object,
    /// An object whose values are entities (or lists of them) of several types, by key.
    Kinds,
    /// A JSON document that is not entities, kept whole in the `documents` table.
    Document,
    /// Any other file (README, HL7, X12, PDF), attached to the version byte for byte.
    Attachment,
}

/// Entities of one type read from one file (for [`Layout::Kinds`], under one key).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Part {
    /// The entity type (its table holds them, in the order read).
    #[serde(rename = "type")]
    pub entity_type: String,
    /// The key (or, for a whole file, the file's stem) they were under.
    pub key: String,
    /// How many.
    pub count: u64,
    /// Under [`Layout::Kinds`]: the key held one object, not a list.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub single: bool,
}

/// How one file of a folder per cohort was read, so that it can be written back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FolderFile {
    /// Its name in the folder.
    pub file: String,
    /// What it became.
    pub layout: Layout,
    /// For entity files: the entities it held, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parts: Vec<Part>,
    /// For [`Layout::Meta`]: each of its keys as (key in the cohort's header, key in the file).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub keys: Vec<(String, String)>,
    /// It was NDJSON: one value per line.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub ndjson: bool,
    /// SHA-256 of its bytes.
    pub sha256: String,
    /// Its size in bytes.
    pub bytes: u64,
}

/// What a folder per cohort holds beside its entities.
#[derive(Debug, Clone, Default)]
pub struct FolderContent {
    /// Every file of the folder, in name order.
    pub files: Vec<FolderFile>,
    /// The JSON documents that are not entities: (file, its text exactly as in the file).
    pub documents: Vec<(String, String)>,
}

impl FolderContent {
    /// The files attached to the version as they are.
    pub fn attachments(&self) -> impl Iterator<Item = &FolderFile> {
        self.files.iter().filter(|f| f.layout == Layout::Attachment)
    }
}

/// Whether a file's stem names a folder's metadata file.
pub fn is_meta_stem(stem: &str) -> bool {
    stem.eq_ignore_ascii_case("cohort") || stem.eq_ignore_ascii_case("scenario")
}

/// A file name without its last extension.
pub fn stem_of(file: &str) -> &str {
    file.rsplit_once('.').map_or(file, |(s, _)| s).trim()
}

/// Whether an object looks like an entity: it has an identifier or a reference to one (`id`,
/// `*_id`, `mrn`, `*_mrn`, `usubjid`, `prescription_number`).
fn has_identifier(o: &Map<String, Value>) -> bool {
    o.keys().any(|k| {
        let k = k.to_ascii_lowercase();
        k == "id"
            || k.ends_with("_id")
            || k == "mrn"
            || k.ends_with("_mrn")
            || k == "usubjid"
            || k == "prescription_number"
    })
}

/// Reads a folder per cohort: `files` are every file in it, sorted by name.
///
/// The first `cohort.json` or `scenario.json` holding an object is the metadata. Entity files are
/// a list of objects (named after the file), an object whose values are objects or lists of
/// objects under at least one entity type's name (`encounter.json` with `facility`, `provider`
/// and `encounter`), or one object that is an entity: the file is named after an entity type, or
/// the object has an identifier. Any other JSON (a scalar, a list of strings, settings, NDJSON of
/// mixed values) is a document kept whole, and every other file an attachment. Only a JSON file
/// that cannot be parsed makes the folder fail, naming the file.
pub fn folder(name: &str, files: Vec<FolderInput<'_>>) -> Result<Cohort, Refusal> {
    let mut header = Map::new();
    header.insert("schema_version".into(), Value::String("1.0".into()));
    let mut cohort = Cohort::new(Map::new());
    let mut meta = None;
    let mut content = FolderContent::default();
    for input in files {
        let mut entry = FolderFile {
            file: input.name.clone(),
            layout: Layout::Attachment,
            parts: Vec::new(),
            keys: Vec::new(),
            ndjson: false,
            sha256: input.sha256.clone(),
            bytes: input.bytes,
        };
        let Some(bytes) = input.json else {
            content.files.push(entry);
            continue;
        };
        let file = &input.name;
        let (value, ndjson) = parse_json_lines(Path::new(file), bytes).map_err(|r| match r {
            Refusal::Invalid(m) => Refusal::Invalid(format!(
                "{file}: {m}; the folder is one cohort, so fix the file (or move it out of the folder) and run again"
            )),
            other => other,
        })?;
        entry.ndjson = ndjson;
        let stem = stem_of(file).to_string();
        let named = entity::is_known(&stem);
        match value {
            Value::Object(m) if meta.is_none() && is_meta_stem(&stem) => {
                // `id` is the cohort's id, unless the file also has a `cohort_id`.
                let rename = !m.contains_key("cohort_id");
                entry.keys = m
                    .keys()
                    .map(|k| (if k == "id" && rename { "cohort_id".to_string() } else { k.clone() }, k.clone()))
                    .collect();
                entry.layout = Layout::Meta;
                meta = Some(m);
            }
            Value::Array(items) if items.iter().all(Value::is_object) && (named || !items.is_empty()) => {
                ensure_type(&mut cohort, &stem);
                entry.parts.push(Part {
                    entity_type: entity::canonical(&stem),
                    key: stem.clone(),
                    count: items.len() as u64,
                    single: false,
                });
                for data in items.into_iter().filter_map(into_object) {
                    cohort.add(&stem, Entity { data, wrapper: None });
                }
                entry.layout = Layout::List;
            }
            // An object whose values are all objects (or lists of them) holds several kinds:
            // `encounter.json` with `facility`, `provider` and `encounter`.
            Value::Object(o)
                if !o.is_empty() && o.values().all(is_objects) && o.keys().any(|k| entity::is_known(k)) =>
            {
                for (key, list) in o {
                    ensure_type(&mut cohort, &key);
                    let (items, single) = match list {
                        Value::Object(one) => (vec![one], true),
                        Value::Array(items) => (items.into_iter().filter_map(into_object).collect(), false),
                        _ => unreachable!("checked by is_objects"),
                    };
                    entry.parts.push(Part {
                        entity_type: entity::canonical(&key),
                        key: key.clone(),
                        count: items.len() as u64,
                        single,
                    });
                    for data in items {
                        cohort.add(&key, Entity { data, wrapper: None });
                    }
                }
                entry.layout = Layout::Kinds;
            }
            Value::Object(o) if !is_meta_stem(&stem) && (named || has_identifier(&o)) => {
                ensure_type(&mut cohort, &stem);
                entry.parts.push(Part {
                    entity_type: entity::canonical(&stem),
                    key: stem.clone(),
                    count: 1,
                    single: true,
                });
                cohort.add(&stem, Entity { data: o, wrapper: None });
                entry.layout = Layout::Object;
            }
            _ => match String::from_utf8(bytes.to_vec()) {
                Ok(text) => {
                    content.documents.push((file.clone(), text));
                    entry.layout = Layout::Document;
                }
                // Parsed JSON is UTF-8; should it not be, the bytes are still kept.
                Err(_) => entry.layout = Layout::Attachment,
            },
        }
        content.files.push(entry);
    }
    let meta = meta.unwrap_or_default();
    let rename = !meta.contains_key("cohort_id");
    for (k, v) in meta {
        header.insert(if k == "id" && rename { "cohort_id".into() } else { k }, v);
    }
    if !header.contains_key("name") {
        header.insert("name".into(), Value::String(name.to_string()));
        cohort.notes.push("`name` taken from the folder's name".into());
    }
    let listed = |names: Vec<&str>| {
        let shown: Vec<&str> = names.iter().take(10).copied().collect();
        let more = names.len().saturating_sub(shown.len());
        format!("{}{}", shown.join(", "), if more > 0 { format!(" and {more} more") } else { String::new() })
    };
    if !content.documents.is_empty() {
        cohort.notes.push(format!(
            "{} JSON document(s) that are not entities kept whole in table `{DOCUMENTS_TABLE}`: {}",
            content.documents.len(),
            listed(content.documents.iter().map(|(f, _)| f.as_str()).collect())
        ));
    }
    let attached: Vec<&str> = content.attachments().map(|f| f.file.as_str()).collect();
    if !attached.is_empty() {
        cohort.notes.push(format!("{} other file(s) attached to the version: {}", attached.len(), listed(attached)));
    }
    cohort.header = header;
    cohort.folder = Some(content);
    Ok(cohort)
}

/// The table of a folder's JSON documents that are not entities.
pub const DOCUMENTS_TABLE: &str = "documents";

fn into_object(v: Value) -> Option<Map<String, Value>> {
    match v {
        Value::Object(o) => Some(o),
        _ => None,
    }
}

fn is_objects(v: &Value) -> bool {
    match v {
        Value::Object(_) => true,
        Value::Array(a) => !a.is_empty() && a.iter().all(Value::is_object),
        _ => false,
    }
}

fn simulation(mut doc: Map<String, Value>) -> Result<Simulation, Refusal> {
    let histories = match doc.remove("patient_histories") {
        Some(Value::Object(h)) => h,
        Some(other) => {
            return Err(Refusal::Invalid(format!(
                "`patient_histories` is a {}, not an object from patient id to visits",
                kind(&other)
            )));
        }
        None => unreachable!("checked by the caller"),
    };
    for (id, visits) in &histories {
        let Value::Array(visits) = visits else {
            return Err(Refusal::Invalid(format!(
                "patient_histories.{id} is a {}, not a list of visits",
                kind(visits)
            )));
        };
        if let Some(i) = visits.iter().position(|v| !v.is_object()) {
            return Err(Refusal::Invalid(format!(
                "patient_histories.{id}[{i}] is a {}, not a visit object",
                kind(&visits[i])
            )));
        }
    }
    Ok(Simulation { document: doc, histories })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn read(v: Value) -> (Shape, Legacy) {
        read_document(v).expect("recognised")
    }

    #[test]
    fn every_shape_is_recognised() {
        let (s, _) = read(json!({"schema_version": "1.0", "name": "a", "entities": {"patients": [{"mrn": "1"}]}}));
        assert_eq!(s, Shape::SpecV1);
        let (s, l) = read(json!({"metadata": {"name": "w", "schema_version": "2.0"}, "entities": {
            "patients": [{"entity_id": "e1", "entity_type": "patient", "data": {"mrn": "1"},
                          "provenance": {"source_type": "generated"}}]}}));
        assert_eq!(s, Shape::WorkspaceV2);
        let Legacy::Cohort(c) = l else { panic!() };
        assert_eq!(c.title(), Some("w"));
        assert_eq!(c.types[0].entities[0].wrapper.as_ref().unwrap()["entity_id"], "e1");
        let (s, l) = read(json!({"patient": [{"mrn": "1"}], "patients": [{"mrn": "2"}], "diagnosis": {"code": "E11"}}));
        assert_eq!(s, Shape::FlatLegacy);
        assert_eq!(l.counts(), vec![("diagnoses".to_string(), 1), ("patients".to_string(), 2)]);
        let (s, _) = read(json!({"simulation_type": "ABS", "patient_histories": {"P1": [{"time": 0}]}}));
        assert_eq!(s, Shape::SimulationResults);
        let (s, _) = read(json!([{"a": 1}, {"a": 2}]));
        assert_eq!(s, Shape::GenericRecords);
        assert!(matches!(read_document(json!({"settings": {"x": 1}})), Err(Refusal::Unrecognised(_))));
        assert!(matches!(read_document(json!(3)), Err(Refusal::Unrecognised(_))));
    }

    #[test]
    fn corrupt_json_names_line_and_column() {
        let err =
            parse_json(Path::new("c.json"), b"{\n  \"name\": \"x\",\n  \"entities\": {\"patients\": [\n").unwrap_err();
        let Refusal::Invalid(m) = err else { panic!() };
        assert!(m.starts_with("line 4, column 0") && m.contains("truncated"), "{m}");
        let err = parse_json(Path::new("c.json"), b"{\"a\": 1,,}").unwrap_err();
        assert_eq!(err, Refusal::Invalid("line 1, column 9: key must be a string".into()));
        let nd = parse_json(Path::new("r.json"), b"{\"a\":1}\n{\"a\":2}\n").unwrap();
        assert_eq!(nd, json!([{"a": 1}, {"a": 2}]));
    }

    fn input<'a>(name: &str, json: Option<&'a [u8]>) -> FolderInput<'a> {
        FolderInput {
            name: name.into(),
            json,
            sha256: format!("sha-{name}"),
            bytes: json.map_or(7, |b| b.len() as u64),
        }
    }

    #[test]
    fn every_file_of_a_folder_is_read_and_laid_out() {
        let files = vec![
            input("README.md", None),
            input("cohort.json", Some(br#"{"id": "c1", "name": "Pilot", "tags": ["x"]}"#)),
            input("codes.json", Some(br#"["E11.9", "I10"]"#)),
            input("encounter.json", Some(br#"{"facility": {"name": "Nord"}, "encounter": [{"encounter_id": "E1"}]}"#)),
            input("enrollment.json", Some(br#"{"enrollment_id": "N1", "coverages": [{"line": "HLT"}]}"#)),
            input("events.ndjson", Some(b"{\"id\": 1}\n{\"id\": 2}\n")),
            input("patient.json", Some(b"[]")),
            input("person.json", Some(br#"{"person_id": {"system": "x", "value": "1"}, "name": {"given": "A"}}"#)),
            input("scenario.json", Some(br#"{"id": "s1"}"#)),
            input("settings.json", Some(br#"{"theme": "dark"}"#)),
        ];
        let c = folder("pilot", files).unwrap();
        let content = c.folder.as_ref().unwrap();
        let layouts: Vec<(&str, Layout)> = content.files.iter().map(|f| (f.file.as_str(), f.layout)).collect();
        assert_eq!(
            layouts,
            [
                ("README.md", Layout::Attachment),
                ("cohort.json", Layout::Meta),
                ("codes.json", Layout::Document),
                ("encounter.json", Layout::Kinds),
                ("enrollment.json", Layout::Object),
                ("events.ndjson", Layout::List),
                // Named after an entity type: an empty list of patients.
                ("patient.json", Layout::List),
                // Objects of other names, but no entity type among them: one person.
                ("person.json", Layout::Object),
                // A second metadata file is kept whole, not merged.
                ("scenario.json", Layout::Document),
                ("settings.json", Layout::Document),
            ]
        );
        assert!(content.files[5].ndjson);
        assert_eq!(
            content.files[1].keys,
            [("cohort_id".into(), "id".into()), ("name".into(), "name".into()), ("tags".into(), "tags".into())]
        );
        assert_eq!(c.title(), Some("Pilot"));
        assert_eq!(
            c.counts(),
            [
                ("encounters".to_string(), 1),
                ("facilities".to_string(), 1),
                ("enrollments".to_string(), 1),
                ("events".to_string(), 2),
                ("patients".to_string(), 0),
                ("persons".to_string(), 1),
            ]
        );
        let parts = &content.files[3].parts;
        assert_eq!((parts[0].key.as_str(), parts[0].count), ("encounter", 1));
        assert!(parts[1].single && parts[1].entity_type == "facilities");
        let documents: Vec<&str> = content.documents.iter().map(|(f, _)| f.as_str()).collect();
        assert_eq!(documents, ["codes.json", "scenario.json", "settings.json"]);
        assert_eq!(content.documents[0].1, r#"["E11.9", "I10"]"#, "the text exactly as in the file");
        assert!(c.notes.iter().any(|n| n.contains("3 JSON document(s)")), "{:?}", c.notes);
        assert!(c.notes.iter().any(|n| n.contains("1 other file(s) attached to the version: README.md")));
    }

    #[test]
    fn a_corrupt_file_fails_its_folder_by_name() {
        let err = folder("f", vec![input("patient.json", Some(b"[{\"mrn\": 1},"))]).unwrap_err();
        let Refusal::Invalid(m) = err else { panic!() };
        assert!(m.starts_with("patient.json: line 1, column 12") && m.contains("fix the file"), "{m}");
    }

    #[test]
    fn a_bad_entity_is_named() {
        let err = read_document(json!({"entities": {"patients": [{"mrn": "1"}, 7]}})).unwrap_err();
        assert_eq!(err, Refusal::Invalid("entities.patients[1] is a number, not an object".into()));
    }
}
