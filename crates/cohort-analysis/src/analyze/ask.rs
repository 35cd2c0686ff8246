//! A question in words turned into a plan: "does survival differ by sex", "what predicts death",
//! "compare age between arms", "correlation between age and weight loss", "how many patients per
//! site". Words are matched to columns through their names, labels and close spellings; the plan
//! understood is shown before it runs, and where two readings are possible the answer is a
//! question back, never a guess. No SQL is ever written from the question: the result is a
//! [`Plan`], which names columns the table has.

use serde::Serialize;

use super::plan::{Analysis, Plan};
use crate::dictionary::DictionaryEntry;

/// What a question was understood as.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Understood {
    /// A plan, with how each part was read.
    Plan {
        /// The plan.
        plan: Plan,
        /// How the words were read, one line per decision.
        reading: Vec<String>,
    },
    /// Not sure: a question back, with the choices that would settle it.
    Unsure {
        /// What to ask.
        question: String,
        /// Candidate columns or analyses.
        choices: Vec<String>,
    },
}

/// A question back, before it becomes [`Understood::Unsure`].
struct Question {
    question: String,
    choices: Vec<String>,
}

impl From<Question> for Understood {
    fn from(q: Question) -> Self {
        Understood::Unsure { question: q.question, choices: q.choices }
    }
}

/// How a column may be used, from its type and distinct values.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Shape {
    /// Two values (boolean, 0/1, two categories).
    Binary,
    /// Numbers with many values.
    Number,
    /// A few categories.
    Category,
    /// An identifier, free text, a date: not analysed as a variable.
    Other,
}

fn shape(c: &DictionaryEntry, rows: u64) -> Shape {
    let numeric = super::frame::reads_as_number(&c.sql_type, c.value_labels.is_some());
    // Nearly one value per row makes an identifier of whole numbers and text, never of measured
    // decimals (an age in years with a fraction is different in every row).
    let measured = matches!(c.sql_type.as_str(), "DOUBLE" | "FLOAT") || c.sql_type.starts_with("DECIMAL");
    let identifier =
        c.role.as_deref() == Some("identifier") || (!measured && c.distinct > 50 && c.distinct * 10 >= rows * 9);
    if c.sql_type == "BOOLEAN" || (c.distinct == 2 && (numeric || !identifier)) {
        Shape::Binary
    } else if numeric && !identifier {
        if c.distinct <= 12 && c.sql_type != "DOUBLE" && c.sql_type != "FLOAT" {
            // A small code (a stage, a grade): usable both ways; counted as a category.
            Shape::Category
        } else {
            Shape::Number
        }
    } else if !numeric && !identifier && c.distinct <= 50 && c.sql_type == "VARCHAR" {
        Shape::Category
    } else {
        Shape::Other
    }
}

/// Words that mean the same thing in a question as in a column name.
const SYNONYMS: &[(&str, &[&str])] = &[
    ("death", &["died", "dead", "death", "deceased", "mortality", "die", "dies", "dying", "status", "vital"]),
    ("sex", &["sex", "gender"]),
    ("arm", &["arm", "arms", "treatment", "group", "groups", "randomised", "randomized", "allocation"]),
    ("site", &["site", "sites", "centre", "center", "centres", "centers", "hospital", "clinic"]),
    ("age", &["age", "aged", "old"]),
];

/// Words that mean follow-up time, and event indicators, when the question does not name them.
const TIME_WORDS: &[&str] = &[
    "time", "times", "days", "day", "weeks", "week", "months", "month", "years", "duration", "futime", "followup",
    "follow",
];
const EVENT_WORDS: &[&str] = &[
    "event",
    "status",
    "died",
    "death",
    "dead",
    "cens",
    "censor",
    "censored",
    "arrest",
    "relapse",
    "recurrence",
    "failure",
    "fail",
    "progression",
];

/// Words of each kind of question.
const SURVIVAL_WORDS: &[&str] = &["survival", "survive", "survived", "kaplan", "km"];
const PREDICT_WORDS: &[&str] = &["predicts", "predict", "predicting", "predictors", "regression", "odds", "factors"];
const CORRELATE_WORDS: &[&str] =
    &["correlation", "correlations", "correlated", "correlate", "relationship", "association", "associated"];
const COMPARE_WORDS: &[&str] =
    &["compare", "comparing", "comparison", "differ", "difference", "differences", "different", "versus", "vs"];
const COUNT_WORDS: &[&str] = &[
    "many",
    "count",
    "counts",
    "number",
    "distribution",
    "describe",
    "summary",
    "summarise",
    "summarize",
    "average",
    "mean",
    "per",
];

/// Other words a question is made of that never name a column.
const FILLER: &[&str] = &[
    "a",
    "an",
    "the",
    "of",
    "in",
    "on",
    "by",
    "for",
    "to",
    "and",
    "or",
    "is",
    "are",
    "does",
    "do",
    "did",
    "what",
    "which",
    "how",
    "much",
    "between",
    "across",
    "among",
    "risk",
    "with",
    "patients",
    "patient",
    "subjects",
    "people",
    "participants",
    "there",
    "from",
    "against",
    "affect",
    "affects",
    "effect",
    "influence",
    "related",
    "relate",
    "each",
    "any",
    "our",
    "my",
    "cases",
    "rows",
    "show",
    "me",
];

/// Whether `word` is part of how a question is asked rather than a column's name.
fn is_filler(word: &str) -> bool {
    [FILLER, SURVIVAL_WORDS, PREDICT_WORDS, CORRELATE_WORDS, COMPARE_WORDS, COUNT_WORDS]
        .iter()
        .any(|l| l.contains(&word))
}

/// One column as the matcher sees it.
struct Candidate<'a> {
    entry: &'a DictionaryEntry,
    shape: Shape,
    /// Its name in lower case.
    name: String,
    /// Its name split into lowercase words (`weight_loss` -> weight, loss; `horTh` -> hor, th).
    parts: Vec<String>,
    /// Those words run together (`horth`).
    joined: String,
    /// Words of its label.
    label: Vec<String>,
}

fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).map(str::to_lowercase).collect()
}

fn singular(word: &str) -> &str {
    // "-es" after a hissing sound ("sexes", "classes", "matches"), otherwise "-s" ("doses", "arms").
    word.strip_suffix("es")
        .filter(|w| w.len() >= 3 && (w.ends_with(['s', 'x', 'z']) || w.ends_with("ch") || w.ends_with("sh")))
        .or_else(|| word.strip_suffix('s'))
        .filter(|w| w.len() > 2)
        .unwrap_or(word)
}

/// How well the question's words from `at` match `c`: (score, words used). Exact names beat
/// labels beat spellings one letter off; a name's parts may abbreviate consecutive words
/// (`horTh` for "hormonal therapy").
fn score(c: &Candidate, q: &[String], at: usize) -> Option<(u32, usize)> {
    let w = &q[at];
    let (name, joined_parts) = (&c.name, &c.joined);
    // The whole name, or its parts as consecutive words.
    if w == name || singular(w) == singular(name) {
        return Some((100, 1));
    }
    if c.parts.len() > 1 && q.len() >= at + c.parts.len() {
        let span = &q[at..at + c.parts.len()];
        if span.iter().zip(&c.parts).all(|(w, p)| w == p || singular(w) == singular(p)) {
            return Some((95, c.parts.len()));
        }
        let typo = |w: &str, p: &str| p.len() >= 4 && cohort_store::name::edit_distance(w, p) <= 1;
        if span.iter().zip(&c.parts).all(|(w, p)| w == p || singular(w) == singular(p) || typo(w, p)) {
            return Some((90, c.parts.len()));
        }
        if span.iter().zip(&c.parts).all(|(w, p)| w.starts_with(p.as_str()) && p.len() >= 2) {
            return Some((70, c.parts.len()));
        }
    }
    // A name run together from abbreviated words: `tsize` for "tumour size", `menostat` for
    // "menopausal status".
    if c.parts.len() == 1 && name.len() >= 5 && at + 1 < q.len() {
        let next = &q[at + 1];
        let joined = (1..name.len() - 1).any(|k| {
            name.is_char_boundary(k) && {
                let (first, second) = name.split_at(k);
                second.len() >= 2 && w.starts_with(first) && next.starts_with(second)
            }
        });
        if joined {
            return Some((65, 2));
        }
    }
    // A word the name ends or starts with: "grades" for `tgrade`, "nodes" for `pnodes`.
    let stem = singular(w);
    if stem.len() >= 4 && !is_filler(w) && (name.ends_with(stem) || name.starts_with(stem)) {
        return Some((55, 1));
    }
    for (_, group) in SYNONYMS {
        if group.contains(&w.as_str())
            && (group.contains(&name.as_str()) || c.parts.iter().any(|p| group.contains(&p.as_str())))
        {
            return Some((80, 1));
        }
    }
    // The label's words, consecutive.
    if !c.label.is_empty() && c.label.contains(w) {
        let mut n = 1;
        let start = c.label.iter().position(|l| l == w).expect("contained");
        while at + n < q.len() && start + n < c.label.len() && q[at + n] == c.label[start + n] {
            n += 1;
        }
        if !is_filler(w) {
            return Some((60 + n as u32 * 5, n));
        }
    }
    // One letter off, for words long enough that this is a typo rather than another word.
    if w.len() >= 4 && cohort_store::name::edit_distance(w, name) == 1 {
        return Some((50, 1));
    }
    if w.len() >= 4 && joined_parts.len() >= 4 && cohort_store::name::edit_distance(w, joined_parts) == 1 {
        return Some((45, 1));
    }
    None
}

/// The columns the question names, in the order named, each with the words it took.
fn mentioned<'a>(candidates: &'a [Candidate<'a>], q: &[String]) -> Result<Vec<(&'a Candidate<'a>, String)>, Question> {
    let mut out: Vec<(&Candidate, String)> = Vec::new();
    let mut at = 0;
    while at < q.len() {
        if is_filler(&q[at]) && !candidates.iter().any(|c| c.name == q[at]) {
            at += 1;
            continue;
        }
        let mut scored: Vec<(u32, usize, &Candidate)> =
            candidates.iter().filter_map(|c| score(c, q, at).map(|(s, n)| (s, n, c))).collect();
        scored.sort_by(|a, b| b.0.cmp(&a.0).then(b.1.cmp(&a.1)));
        match scored.as_slice() {
            [] => at += 1,
            [(best, n, c), rest @ ..] => {
                let ties: Vec<&Candidate> = rest.iter().filter(|(s, ..)| s == best).map(|(.., c)| *c).collect();
                if !ties.is_empty() && *best < 100 {
                    let mut choices: Vec<String> = vec![c.entry.column.clone()];
                    choices.extend(ties.iter().map(|t| t.entry.column.clone()));
                    return Err(Question {
                        question: format!("By \"{}\", which column do you mean?", q[at..at + n].join(" ")),
                        choices,
                    });
                }
                if !out.iter().any(|(m, _)| m.entry.column == c.entry.column) {
                    out.push((c, q[at..at + n].join(" ")));
                }
                at += n;
            }
        }
    }
    Ok(out)
}

/// The question's kind of analysis, from its wording.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Intent {
    Survival,
    Predict,
    Correlate,
    Compare,
    Count,
}

fn intent(q: &[String]) -> Option<Intent> {
    let has = |w: &[&str]| q.iter().any(|x| w.contains(&x.as_str()));
    let phrase = |p: &str| q.join(" ").contains(p);
    if has(SURVIVAL_WORDS) || phrase("time to") {
        return Some(if has(PREDICT_WORDS) || has(&["adjusted", "cox", "hazard", "hazards"]) {
            Intent::Predict
        } else {
            Intent::Survival
        });
    }
    if has(PREDICT_WORDS) || phrase("risk of") {
        return Some(Intent::Predict);
    }
    if has(CORRELATE_WORDS) {
        return Some(Intent::Correlate);
    }
    if has(COMPARE_WORDS) {
        return Some(Intent::Compare);
    }
    if has(COUNT_WORDS) {
        return Some(Intent::Count);
    }
    None
}

/// The value of a two-valued event column that means the event happened, when its values are
/// words (a code list's labels, or two text values) rather than 0/1 or true/false: the one that
/// reads as an event ("dead", "died", "relapse", "yes").
fn event_level(candidates: &[Candidate], event: &str) -> Option<String> {
    let c = candidates.iter().find(|c| c.entry.column == event)?;
    let levels: Vec<String> = match &c.entry.value_labels {
        Some(labels) => labels.values().cloned().collect(),
        None if c.entry.sql_type == "VARCHAR" => c.entry.min.iter().chain(&c.entry.max).cloned().collect(),
        None => return None,
    };
    // Words of the event itself, not of its absence ("censored", "alive", "no").
    let eventful = |l: &String| {
        let w = l.to_lowercase();
        (SYNONYMS[0].1.contains(&w.as_str()) && w != "status")
            || [
                "yes",
                "y",
                "event",
                "relapse",
                "relapsed",
                "recurrence",
                "progression",
                "progressed",
                "failure",
                "failed",
            ]
            .contains(&w.as_str())
    };
    let found: Vec<&String> = levels.iter().filter(|l| eventful(l)).collect();
    match found.as_slice() {
        [one] => Some((*one).clone()),
        _ => None,
    }
}

/// What the reading says when the question named no predictors.
const NO_PREDICTORS_NAMED: &str = "no predictors were named, so the other columns are: all but identifiers, follow-up times, \
     columns missing in more than 5% of rows (they would drop those rows) and columns named like the outcome (such as \
     a discontinuation's type beside `discontinued`, known only once it happened)";

/// Whether `c` may enter a model as a predictor nobody named: analysable, nearly complete, and
/// not named after the outcome (whose parts are `outcome`), which would be known only afterwards.
fn usable_predictor(c: &Candidate, outcome: &[String]) -> bool {
    let stem = |w: &str| w.chars().take(6).collect::<String>();
    matches!(c.shape, Shape::Number | Shape::Binary | Shape::Category)
        && c.entry.completeness >= 95.0
        && !c.parts.iter().any(|p| p.len() >= 4 && outcome.iter().any(|o| o.len() >= 4 && stem(p) == stem(o)))
}

/// The columns of `shapes` whose name or label has one of `hints`, best first.
fn by_hint<'a>(candidates: &'a [Candidate<'a>], shapes: &[Shape], hints: &[&str]) -> Vec<&'a Candidate<'a>> {
    candidates
        .iter()
        .filter(|c| shapes.contains(&c.shape))
        .filter(|c| c.parts.iter().chain(&c.label).any(|w| hints.contains(&w.as_str())))
        .collect()
}

/// Understands `question` about `table` (its dictionary; `rows` rows) of `dataset`.
pub fn understand(question: &str, dataset: &str, table: &str, dictionary: &[DictionaryEntry], rows: u64) -> Understood {
    // A coded column's `_label` twin (SPSS, Stata, SAS) is the same variable in words: the coded
    // column stands for both, so the twin is never a rival reading nor a second predictor.
    let twin = |e: &DictionaryEntry| {
        e.column
            .strip_suffix("_label")
            .is_some_and(|base| dictionary.iter().any(|d| d.column == base && d.value_labels.is_some()))
    };
    let candidates: Vec<Candidate> = dictionary
        .iter()
        .filter(|e| !twin(e))
        .map(|e| {
            let parts = cohort_store::roles::name_words(&e.column);
            Candidate {
                entry: e,
                shape: shape(e, rows),
                name: e.column.to_lowercase(),
                joined: parts.concat(),
                parts,
                label: e.label.as_deref().map(words).unwrap_or_default(),
            }
        })
        .collect();
    let q = words(question);
    let plan = |analysis: Analysis| Plan {
        dataset: dataset.to_string(),
        table: Some(table.to_string()),
        filters: Vec::new(),
        analysis,
        alpha: 0.05,
        unified: false,
    };
    let named = match mentioned(&candidates, &q) {
        Ok(named) => named,
        Err(unsure) => return unsure.into(),
    };
    let mut reading: Vec<String> =
        named.iter().map(|(c, words)| format!("\"{words}\" is the column `{}`", c.entry.column)).collect();
    let Some(intent) = intent(&q) else {
        return Understood::Unsure {
            question: "What would you like to know? Name an analysis and its columns.".into(),
            choices: vec![
                "how many patients per COLUMN".into(),
                "compare COLUMN between GROUPS".into(),
                "correlation between COLUMN and COLUMN".into(),
                "what predicts COLUMN".into(),
                "does survival differ by GROUPS".into(),
            ],
        };
    };
    let names = |shapes: &[Shape]| -> Vec<&Candidate> {
        named.iter().map(|(c, _)| *c).filter(|c| shapes.contains(&c.shape)).collect()
    };
    let column = |c: &Candidate| c.entry.column.clone();
    let one_of = |found: Vec<&Candidate>, what: &str, fallback: Vec<&Candidate>| -> Result<String, Question> {
        let pool = if found.is_empty() { fallback } else { found };
        match pool.as_slice() {
            [one] => Ok(column(one)),
            [] => Err(Question { question: format!("Which column is {what}?"), choices: Vec::new() }),
            many => Err(Question {
                question: format!("Which column is {what}?"),
                choices: many.iter().map(|c| column(c)).collect(),
            }),
        }
    };
    let is_time = |c: &Candidate| c.parts.iter().chain(&c.label).any(|w| TIME_WORDS.contains(&w.as_str()));
    let is_event = |c: &Candidate| c.parts.iter().chain(&c.label).any(|w| EVENT_WORDS.contains(&w.as_str()));
    let time_columns = by_hint(&candidates, &[Shape::Number], TIME_WORDS);
    let mentions_event = q.iter().any(|w| EVENT_WORDS.contains(&w.as_str()) || SYNONYMS[0].1.contains(&w.as_str()));
    // "What predicts death" in a table with follow-up times is a Cox model; without, logistic.
    let survival_like =
        intent == Intent::Survival || (intent == Intent::Predict && !time_columns.is_empty() && mentions_event);
    let result = (|| -> Result<Analysis, Question> {
        match intent {
            _ if survival_like => {
                // The time: a named time column, else the table's only one.
                let named_times: Vec<&Candidate> = names(&[Shape::Number]).into_iter().filter(|c| is_time(c)).collect();
                let time = one_of(named_times, "the follow-up time", time_columns.clone())?;
                // The event: a named two-valued column (what is predicted, or one that reads as
                // an event), else the table's only event-like one.
                let named_events: Vec<&Candidate> = names(&[Shape::Binary])
                    .into_iter()
                    .filter(|c| intent == Intent::Predict || is_event(c))
                    .take(1)
                    .collect();
                let event = one_of(
                    named_events,
                    "the event (died, relapsed, ...)",
                    by_hint(&candidates, &[Shape::Binary], EVENT_WORDS),
                )?;
                let event_value = event_level(&candidates, &event);
                match &event_value {
                    Some(v) => reading
                        .push(format!("`{time}` is the follow-up time and `{event}` = {v} means the event happened")),
                    None => reading
                        .push(format!("`{time}` is the follow-up time and `{event}` says whether the event happened")),
                }
                if intent == Intent::Survival {
                    let by = names(&[Shape::Binary, Shape::Category]).into_iter().map(column).find(|c| *c != event);
                    if let Some(by) = &by {
                        reading.push(format!("curves are compared across `{by}`"));
                    }
                    Ok(Analysis::Survival { time, event, event_value, by })
                } else {
                    let mut predictors: Vec<String> =
                        named.iter().map(|(c, _)| column(c)).filter(|c| *c != time && *c != event).collect();
                    if predictors.is_empty() {
                        let event_parts = candidates.iter().find(|c| c.entry.column == event).map(|c| c.parts.clone());
                        predictors = candidates
                            .iter()
                            .filter(|c| usable_predictor(c, event_parts.as_deref().unwrap_or_default()))
                            .map(&column)
                            .filter(|c| *c != time && *c != event)
                            .collect();
                        reading.push(NO_PREDICTORS_NAMED.into());
                    }
                    Ok(Analysis::Cox { time, event, event_value, predictors, reference: Default::default() })
                }
            }
            Intent::Survival => unreachable!("a survival question is always read as one"),
            Intent::Predict => {
                let outcome = named.first().map(|(c, _)| *c).ok_or_else(|| Question {
                    question: "What should be predicted? Name the outcome column.".into(),
                    choices: candidates.iter().filter(|c| c.shape == Shape::Binary).map(&column).collect(),
                })?;
                let mut predictors: Vec<String> = named.iter().skip(1).map(|(c, _)| column(c)).collect();
                if predictors.is_empty() {
                    predictors = candidates
                        .iter()
                        .filter(|c| c.entry.column != outcome.entry.column)
                        .filter(|c| usable_predictor(c, &outcome.parts))
                        .filter(|c| {
                            !(c.shape == Shape::Number && c.parts.iter().any(|p| TIME_WORDS.contains(&p.as_str())))
                        })
                        .map(&column)
                        .collect();
                    reading.push(NO_PREDICTORS_NAMED.into());
                }
                match outcome.shape {
                    Shape::Binary => Ok(Analysis::Logistic {
                        outcome: column(outcome),
                        predictors,
                        event: None,
                        reference: Default::default(),
                    }),
                    Shape::Number => {
                        Ok(Analysis::Linear { outcome: column(outcome), predictors, reference: Default::default() })
                    }
                    _ => Err(Question {
                        question: format!(
                            "`{}` has more than two categories; which value should be predicted?",
                            column(outcome)
                        ),
                        choices: Vec::new(),
                    }),
                }
            }
            Intent::Correlate => {
                let numbers: Vec<String> = names(&[Shape::Number, Shape::Binary]).into_iter().map(column).collect();
                if numbers.len() < 2 {
                    return Err(Question {
                        question: "Correlation of which two (or more) numeric columns?".into(),
                        choices: candidates.iter().filter(|c| c.shape == Shape::Number).map(&column).collect(),
                    });
                }
                Ok(Analysis::Correlate { variables: numbers })
            }
            Intent::Compare => {
                // "compare age between arms": the first named is compared, the grouping is the
                // category; "does weight differ by sex" reads the same way.
                let groups: Vec<&Candidate> = named
                    .iter()
                    .map(|(c, _)| *c)
                    .filter(|c| matches!(c.shape, Shape::Binary | Shape::Category))
                    .collect();
                let by = groups.last().copied().ok_or_else(|| Question {
                    question: "Compare across which groups?".into(),
                    choices: candidates
                        .iter()
                        .filter(|c| matches!(c.shape, Shape::Binary | Shape::Category))
                        .map(&column)
                        .collect(),
                })?;
                let variable =
                    named.iter().map(|(c, _)| *c).find(|c| c.entry.column != by.entry.column).ok_or_else(|| {
                        Question {
                            question: format!("Compare what between the groups of `{}`?", column(by)),
                            choices: candidates.iter().filter(|c| c.shape == Shape::Number).map(&column).collect(),
                        }
                    })?;
                Ok(Analysis::Compare { variable: column(variable), by: column(by) })
            }
            Intent::Count => {
                if named.is_empty() {
                    return Err(Question {
                        question: "Counts or summaries of which column?".into(),
                        choices: candidates.iter().filter(|c| c.shape != Shape::Other).map(&column).collect(),
                    });
                }
                let variables: Vec<String> = named.iter().map(|(c, _)| column(c)).collect();
                Ok(Analysis::Describe { variables, by: None })
            }
        }
    })();
    match result {
        Ok(analysis) => {
            reading.insert(0, format!("read as: {}", analysis.kind()));
            Understood::Plan { plan: plan(analysis), reading }
        }
        Err(unsure) => unsure.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(column: &str, sql_type: &str, distinct: u64, label: Option<&str>) -> DictionaryEntry {
        DictionaryEntry {
            column: column.into(),
            sql_type: sql_type.into(),
            role: None,
            label: label.map(Into::into),
            completeness: 100.0,
            distinct,
            min: None,
            max: None,
            mean: None,
            value_labels: None,
            missing: None,
        }
    }

    fn trial() -> Vec<DictionaryEntry> {
        vec![
            DictionaryEntry { role: Some("identifier".into()), ..entry("patient_id", "VARCHAR", 500, None) },
            entry("arm", "VARCHAR", 2, Some("Randomised arm")),
            entry("sex", "VARCHAR", 2, None),
            entry("age", "BIGINT", 60, Some("Age at enrolment")),
            entry("weight_loss", "DOUBLE", 300, Some("Weight loss (kg)")),
            entry("site", "VARCHAR", 12, None),
            entry("stage", "VARCHAR", 3, None),
            entry("days", "BIGINT", 400, Some("Follow-up time in days")),
            entry("died", "BOOLEAN", 2, None),
        ]
    }

    fn plan_of(question: &str) -> Analysis {
        match understand(question, "trial", "patients", &trial(), 500) {
            Understood::Plan { plan, .. } => plan.analysis,
            Understood::Unsure { question: q, choices } => panic!("{question}: unsure: {q} {choices:?}"),
        }
    }

    #[test]
    fn the_issue_s_questions_become_plans() {
        assert_eq!(
            plan_of("does survival differ by sex"),
            Analysis::Survival { time: "days".into(), event: "died".into(), event_value: None, by: Some("sex".into()) }
        );
        match plan_of("what predicts death") {
            Analysis::Cox { time, event, predictors, .. } => {
                assert_eq!((time.as_str(), event.as_str()), ("days", "died"));
                assert_eq!(predictors, ["arm", "sex", "age", "weight_loss", "site", "stage"]);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(plan_of("compare age between arms"), Analysis::Compare { variable: "age".into(), by: "arm".into() });
        assert_eq!(
            plan_of("compare age between sexes"),
            Analysis::Compare { variable: "age".into(), by: "sex".into() }
        );
        assert_eq!(
            plan_of("correlation between age and weight loss"),
            Analysis::Correlate { variables: vec!["age".into(), "weight_loss".into()] }
        );
        assert_eq!(
            plan_of("how many patients per site"),
            Analysis::Describe { variables: vec!["site".into()], by: None }
        );
        assert_eq!(
            plan_of("Does weigth loss differ by gender?"),
            Analysis::Compare { variable: "weight_loss".into(), by: "sex".into() }
        );
    }

    #[test]
    fn it_asks_instead_of_guessing() {
        let mut two_times = trial();
        two_times.push(entry("weeks", "BIGINT", 80, Some("Follow-up in weeks")));
        match understand("does survival differ by arm", "trial", "patients", &two_times, 500) {
            Understood::Unsure { question, choices } => {
                assert!(question.contains("follow-up time"), "{question}");
                assert_eq!(choices, ["days", "weeks"]);
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            understand("tell me something", "trial", "patients", &trial(), 500),
            Understood::Unsure { .. }
        ));
        assert!(matches!(understand("compare age", "trial", "patients", &trial(), 500), Understood::Unsure { .. }));
    }

    #[test]
    fn a_coded_event_and_its_label_twin_are_one_column_and_the_event_is_named() {
        let lung = vec![
            entry("time", "DOUBLE", 186, Some("Survival time in days")),
            DictionaryEntry {
                value_labels: Some([("1".to_string(), "censored".to_string()), ("2".into(), "dead".into())].into()),
                ..entry("status", "DOUBLE", 2, Some("Censoring status"))
            },
            entry("status_label", "VARCHAR", 2, Some("Censoring status (value label)")),
            DictionaryEntry {
                value_labels: Some([("1".to_string(), "Male".to_string()), ("2".into(), "Female".into())].into()),
                ..entry("sex", "DOUBLE", 2, Some("Sex"))
            },
            entry("sex_label", "VARCHAR", 2, Some("Sex (value label)")),
            entry("age", "DOUBLE", 42, None),
        ];
        for question in ["does survival differ by sex", "what predicts death"] {
            match understand(question, "lung", "lung", &lung, 228) {
                Understood::Plan { plan, .. } => match plan.analysis {
                    Analysis::Survival { event, event_value, by, .. } => {
                        assert_eq!(
                            (event.as_str(), event_value.as_deref(), by.as_deref()),
                            ("status", Some("dead"), Some("sex"))
                        )
                    }
                    Analysis::Cox { event, event_value, predictors, .. } => {
                        assert_eq!((event.as_str(), event_value.as_deref()), ("status", Some("dead")));
                        assert!(
                            predictors.contains(&"age".to_string())
                                && !predictors.iter().any(|p| p.starts_with("status"))
                        );
                    }
                    other => panic!("{question}: {other:?}"),
                },
                other => panic!("{question}: {other:?}"),
            }
        }
    }

    #[test]
    fn abbreviated_names_match_their_words() {
        assert_eq!(cohort_store::roles::name_words("horTh"), ["hor", "th"]);
        let gbsg = vec![
            entry("horTh", "BOOLEAN", 2, None),
            entry("time", "BIGINT", 500, None),
            entry("cens", "BIGINT", 2, None),
            entry("tgrade", "VARCHAR", 3, None),
        ];
        match understand("does survival differ by hormonal therapy", "gbsg2", "gbsg2", &gbsg, 686) {
            Understood::Plan { plan, reading } => {
                assert_eq!(
                    plan.analysis,
                    Analysis::Survival {
                        time: "time".into(),
                        event: "cens".into(),
                        event_value: None,
                        by: Some("horTh".into())
                    }
                );
                assert!(
                    reading.iter().any(|r| r.contains("\"hormonal therapy\" is the column `horTh`")),
                    "{reading:?}"
                );
            }
            other => panic!("{other:?}"),
        }
    }
}
