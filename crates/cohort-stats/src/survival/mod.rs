/*!
Survival analysis on right-censored data: Kaplan-Meier curves, the log-rank test, Cox proportional
hazards and its proportional-hazards test.

Every function here computes what [lifelines](https://lifelines.readthedocs.io) 0.30 computes with its
defaults, and `tests/survival.rs` checks it against lifelines on its bundled datasets (rossi, waltons,
gbsg2):

| here | lifelines |
|---|---|
| [`kaplan_meier`], [`kaplan_meier_of`] a [`LifeTable`] | `KaplanMeierFitter().fit(T, E)`: `survival_function_`, `confidence_interval_` (exponential Greenwood, "log-log"), `event_table`, `median_survival_time_`, `median_survival_times(confidence_interval_)` |
| [`logrank`], [`logrank_of`] the [`life_tables`] | `statistics.multivariate_logrank_test(T, G, E)` (= `logrank_test` for two groups) |
| [`cox`] | `CoxPHFitter().fit(df, T, E)`: Efron ties, lifelines' Newton-Raphson, `params_`, `standard_errors_`, `summary`, `log_likelihood_`, `concordance_index_`, and `statistics.proportional_hazard_test(cph, df, time_transform="rank")` |
| [`concordance_index`] | `utils.concordance_index(T, score, E)` |

Times are durations from a common origin (e.g. days since randomisation); `event[i]` is `true` when
subject `i`'s event was observed at `time[i]` and `false` when they were censored then.
*/

mod concordance;
mod cox;
mod kaplan_meier;
mod life_table;
mod logrank;

pub use concordance::concordance_index;
pub use cox::{Cox, CoxCoefficient, CoxWarning, LikelihoodRatioTest, ProportionalHazardsTest, cox, cox_at};
pub use kaplan_meier::{KaplanMeier, KaplanMeierStep, MedianSurvival, kaplan_meier, kaplan_meier_of};
pub use life_table::{LifeTable, life_tables};
pub use logrank::{LogRank, LogRankGroup, logrank, logrank_of};

use rayon::slice::ParallelSliceMut;

/// Why a survival method could not run on the data it was given.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SurvivalError {
    /// There are no subjects at all.
    #[error("there are no subjects: the data is empty")]
    Empty,
    /// A column does not have one value per subject.
    #[error(
        "{column} has {found} values but there are {expected} subjects (times): every subject needs one value in each column"
    )]
    LengthMismatch {
        /// Which input column is too short or too long.
        column: String,
        /// The number of subjects (length of `time`).
        expected: usize,
        /// The length of the offending column.
        found: usize,
    },
    /// A time is negative, infinite or missing (NaN).
    #[error(
        "the time at position {index} (counting from 0) is {value}: times must be finite and not negative (remove or fix missing follow-up first)"
    )]
    InvalidTime {
        /// Position of the subject in the input.
        index: usize,
        /// The offending value.
        value: f64,
    },
    /// A covariate value is infinite or missing (NaN).
    #[error(
        "covariate `{covariate}` at position {index} (counting from 0) is {value}: covariates must be finite numbers (drop or impute missing values first)"
    )]
    InvalidCovariate {
        /// The covariate's name.
        covariate: String,
        /// Position of the subject in the input.
        index: usize,
        /// The offending value.
        value: f64,
    },
    /// A group label is not below the number of groups given.
    #[error("group label {label} is out of range: there are {groups} groups, labelled 0 to {groups} - 1")]
    GroupOutOfRange {
        /// The offending label.
        label: u32,
        /// The number of groups.
        groups: usize,
    },
    /// Every subject is censored, so nothing about the event can be estimated.
    #[error("no events: every subject is censored, so {what} cannot be estimated")]
    NoEvents {
        /// What could not be computed.
        what: &'static str,
    },
    /// The log-rank test needs at least two groups to compare.
    #[error("the log-rank test compares groups, but all subjects are in {found} group; it needs at least 2")]
    TooFewGroups {
        /// The number of distinct groups present.
        found: usize,
    },
    /// A Cox model was asked for without covariates.
    #[error("a Cox model needs at least one covariate")]
    NoCovariates,
    /// There are more covariates than events: the model cannot be identified.
    #[error(
        "{covariates} covariates but only {events} events: a Cox model needs more events than covariates (a common rule of thumb is 10 events per covariate)"
    )]
    TooManyCovariates {
        /// The number of covariates given.
        covariates: usize,
        /// The number of observed events.
        events: usize,
    },
    /// Every covariate is constant, so there is nothing to estimate.
    #[error("every covariate takes a single value across all subjects, so no hazard ratio can be estimated")]
    AllCovariatesConstant,
    /// The confidence level is not a probability.
    #[error("alpha must be strictly between 0 and 1 (0.05 gives 95% intervals), got {0}")]
    InvalidAlpha(f64),
    /// The Cox information matrix is not invertible, typically from collinear covariates.
    #[error(
        "the Cox model cannot be fitted: its information matrix is singular at iteration {iteration}; usually one covariate is (nearly) a combination of others (collinearity) — drop one of them"
    )]
    Singular {
        /// The Newton-Raphson iteration at which it happened.
        iteration: usize,
    },
    /// The likelihood overflowed, usually because a covariate has extreme values.
    #[error(
        "the Cox model cannot be fitted: the likelihood became infinite or undefined at iteration {iteration}; check for covariates with extreme values or that perfectly predict the event"
    )]
    NotFinite {
        /// The Newton-Raphson iteration at which it happened.
        iteration: usize,
    },
}

/// Checks what every method needs: one event flag per time, times finite and not negative.
fn check_time_event(time: &[f64], event: &[bool]) -> Result<(), SurvivalError> {
    if time.is_empty() {
        return Err(SurvivalError::Empty);
    }
    check_length("event", time.len(), event.len())?;
    // Negative durations are almost always a data error (end before start); lifelines would accept
    // them silently and shift its timeline's origin, which would hide the mistake.
    if let Some((index, &value)) = time.iter().enumerate().find(|(_, t)| !(t.is_finite() && **t >= 0.0)) {
        return Err(SurvivalError::InvalidTime { index, value });
    }
    Ok(())
}

fn check_length(column: &str, expected: usize, found: usize) -> Result<(), SurvivalError> {
    if expected == found {
        Ok(())
    } else {
        Err(SurvivalError::LengthMismatch { column: column.to_owned(), expected, found })
    }
}

/// Subject indices ordered by time, censored before events at the same time, ties otherwise kept in
/// input order: lifelines sorts its data frame this way (a stable lexsort on (time, event)), and the
/// order of tied events decides their ranks in the proportional-hazards test.
fn order_by_time(time: &[f64], event: &[bool]) -> Vec<usize> {
    // Sorting the keys themselves rather than indices into them keeps a million-row sort in cache;
    // the index as last key makes the unstable sort keep input order among ties.
    let mut keys: Vec<(f64, bool, usize)> = (0..time.len()).map(|i| (time[i], event[i], i)).collect();
    // partial_cmp (not total_cmp) so that -0.0 and 0.0 tie; times are validated finite first.
    keys.par_sort_unstable_by(|a, b| {
        a.0.partial_cmp(&b.0).expect("finite times").then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2))
    });
    keys.into_iter().map(|k| k.2).collect()
}
