//! The plan: what to analyse, on which rows, how. A small document (JSON, or YAML from the CLI)
//! that is the unit of every analysis: it is echoed in the answer, keys the cache and the history,
//! and replays.

use serde::{Deserialize, Serialize};

/// One analysis, fully described.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Plan {
    /// `NAME` (the current version) or `NAME@N`.
    pub dataset: String,
    /// The table analysed; may be left out when the version has one table. With `unified`, the
    /// participant table the view starts from (left out: the table most others refer to).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub table: Option<String>,
    /// Analyse the one-row-per-participant unified view of the version's tables (`cohort relate
    /// --unified`) instead of one table.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub unified: bool,
    /// Which rows: all filters must hold.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub filters: Vec<Filter>,
    /// What is computed.
    pub analysis: Analysis,
    /// 1 - the confidence level of intervals (0.05 gives 95% intervals).
    #[serde(default = "default_alpha")]
    pub alpha: f64,
}

fn default_alpha() -> f64 {
    0.05
}

/// A condition on one column. Values are compared as the column's type; text is never SQL.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Filter {
    /// The column.
    pub column: String,
    /// `=`, `!=`, `<`, `<=`, `>`, `>=`, `in`, `not in`, `is null`, `not null`.
    pub op: String,
    /// The value (a list for `in` and `not in`; none for the null tests).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<serde_json::Value>,
}

/// What is computed, with its variables.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Analysis {
    /// Numeric summaries and category counts, overall or by group.
    Describe {
        /// The columns described.
        variables: Vec<String>,
        /// A grouping column.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        by: Option<String>,
    },
    /// A variable compared across the groups of another: Welch's t and Mann-Whitney U (two
    /// groups), ANOVA and Kruskal-Wallis (more) for numbers; chi-square (and Fisher's exact test
    /// for 2x2) for categories.
    Compare {
        /// The variable compared.
        variable: String,
        /// The grouping column.
        by: String,
    },
    /// Pearson's and Spearman's correlation matrices.
    Correlate {
        /// Two or more numeric columns.
        variables: Vec<String>,
    },
    /// Linear regression (least squares).
    Linear {
        /// The numeric outcome.
        outcome: String,
        /// Predictors: numeric, or categorical (coded against a reference level).
        predictors: Vec<String>,
        /// Reference levels of categorical predictors (default: the first in sorted order).
        #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
        reference: std::collections::BTreeMap<String, String>,
    },
    /// Logistic regression: odds ratios.
    Logistic {
        /// The binary outcome (0/1, true/false, or two categories with `event` naming which is 1).
        outcome: String,
        /// Predictors: numeric, or categorical (coded against a reference level).
        predictors: Vec<String>,
        /// The outcome's value that counts as the event, when it is not 1 or true.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        event: Option<String>,
        /// Reference levels of categorical predictors (default: the first in sorted order).
        #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
        reference: std::collections::BTreeMap<String, String>,
    },
    /// Kaplan-Meier curves, median survival and the log-rank test.
    Survival {
        /// Follow-up time (a number, in the column's unit).
        time: String,
        /// Whether the event happened (0/1 or true/false; or `event_value` names the event).
        event: String,
        /// The value of `event` that means the event happened, when it is not 1 or true.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        event_value: Option<String>,
        /// Groups to compare.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        by: Option<String>,
    },
    /// Cox proportional hazards: hazard ratios.
    Cox {
        /// Follow-up time.
        time: String,
        /// Whether the event happened.
        event: String,
        /// The value of `event` that means the event happened, when it is not 1 or true.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        event_value: Option<String>,
        /// Predictors: numeric, or categorical (coded against a reference level).
        predictors: Vec<String>,
        /// Reference levels of categorical predictors (default: the first in sorted order).
        #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
        reference: std::collections::BTreeMap<String, String>,
    },
}

impl Analysis {
    /// Its name as plans spell it.
    pub fn kind(&self) -> &'static str {
        match self {
            Analysis::Describe { .. } => "describe",
            Analysis::Compare { .. } => "compare",
            Analysis::Correlate { .. } => "correlate",
            Analysis::Linear { .. } => "linear",
            Analysis::Logistic { .. } => "logistic",
            Analysis::Survival { .. } => "survival",
            Analysis::Cox { .. } => "cox",
        }
    }

    /// Every column it reads, each once, in the order named.
    pub fn columns(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        let named: Vec<&String> = match self {
            Analysis::Describe { variables, by } => variables.iter().chain(by).collect(),
            Analysis::Compare { variable, by } => vec![variable, by],
            Analysis::Correlate { variables } => variables.iter().collect(),
            Analysis::Linear { outcome, predictors, .. } | Analysis::Logistic { outcome, predictors, .. } => {
                std::iter::once(outcome).chain(predictors).collect()
            }
            Analysis::Survival { time, event, by, .. } => [time, event].into_iter().chain(by).collect(),
            Analysis::Cox { time, event, predictors, .. } => [time, event].into_iter().chain(predictors).collect(),
        };
        for c in named {
            if !out.contains(&c.as_str()) {
                out.push(c);
            }
        }
        out
    }
}

impl Plan {
    /// The plan as canonical JSON: the same plan always gives the same bytes (the cache key).
    pub fn canonical(&self) -> String {
        serde_json::to_string(self).expect("a plan serialises")
    }
}
