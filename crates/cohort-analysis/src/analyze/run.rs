//! Each analysis: from the rows read to the numbers, the method sentences and the warnings.

use std::borrow::Cow;
use std::collections::BTreeMap;

use cohort_stats::compare::{self, Moments};
use cohort_stats::{correlate, describe, regress, survival};
use rayon::prelude::*;
use serde::Serialize;

use super::AnalyzeError;
use super::frame::{Column, Frame, Levels, MISSING, RowCounts, Values};
use super::plan::{Analysis, Plan};

/// The numbers of an answer, by analysis.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Output {
    /// Per variable: overall, or per group.
    Describe {
        /// One entry per variable described.
        variables: Vec<Described>,
    },
    /// A variable across groups.
    Compare(Box<Compared>),
    /// Correlation matrices.
    Correlate {
        /// The variables, in the matrices' order.
        variables: Vec<String>,
        /// Pearson's r for each pair (row, column), from the rows complete for all variables.
        pearson: Vec<Vec<correlate::Correlation>>,
        /// Spearman's rho for each pair.
        spearman: Vec<Vec<correlate::Correlation>>,
    },
    /// A linear model.
    Linear {
        /// How categorical predictors were coded.
        coding: Vec<Coding>,
        /// The fit.
        fit: regress::Linear,
    },
    /// A logistic model.
    Logistic {
        /// How categorical predictors were coded.
        coding: Vec<Coding>,
        /// Which outcome value counts as the event (coded 1).
        event: String,
        /// The fit.
        fit: regress::Logistic,
    },
    /// Kaplan-Meier curves and the log-rank test.
    Survival {
        /// Which value of the event column is the event.
        event: String,
        /// Times at which the numbers at risk are given (for the table under a chart).
        at_risk_times: Vec<f64>,
        /// One curve overall, or one per group in order.
        curves: Vec<Curve>,
        /// The log-rank test across groups (when grouped); its groups in the curves' order.
        #[serde(skip_serializing_if = "Option::is_none")]
        logrank: Option<survival::LogRank>,
    },
    /// A Cox proportional hazards model.
    Cox {
        /// How categorical predictors were coded.
        coding: Vec<Coding>,
        /// Which value of the event column is the event.
        event: String,
        /// The fit, with the proportional-hazards test per predictor.
        fit: Box<survival::Cox>,
    },
}

impl Output {
    /// The answer in one line: the headline numbers, for the history.
    pub fn summary(&self, rows: &RowCounts) -> String {
        let n = rows.used;
        let p = |p: f64| if p < 0.001 { "p < 0.001".to_string() } else { format!("p = {p:.3}") };
        match self {
            Output::Describe { variables } => {
                let names: Vec<&str> = variables.iter().map(|v| v.variable.as_str()).collect();
                format!("{} described over {n} rows", names.join(", "))
            }
            Output::Compare(c) => {
                let tests: Vec<String> = [
                    c.welch_t.as_ref().map(|t| format!("Welch's t {}", p(t.p))),
                    c.mann_whitney.as_ref().map(|u| format!("Mann-Whitney {}", p(u.p))),
                    c.anova.as_ref().map(|a| format!("ANOVA {}", p(a.p))),
                    c.kruskal_wallis.as_ref().map(|k| format!("Kruskal-Wallis {}", p(k.p))),
                    c.chi_square.as_ref().map(|x| format!("chi-square {}", p(x.p))),
                    c.fisher.as_ref().map(|f| format!("Fisher {}", p(f.p))),
                ]
                .into_iter()
                .flatten()
                .collect();
                format!("{} by {} ({} groups, {n} rows): {}", c.variable, c.by, c.groups.len(), tests.join("; "))
            }
            Output::Correlate { variables, .. } => {
                format!("correlations of {} over {n} complete rows", variables.join(", "))
            }
            Output::Linear { fit, .. } => {
                format!("R² = {:.3} over {n} rows, {} terms (F {})", fit.r_squared, fit.terms.len(), p(fit.f_p))
            }
            Output::Logistic { fit, .. } => format!(
                "{} terms over {n} rows ({} events), likelihood-ratio {}",
                fit.terms.len(),
                fit.events,
                p(fit.lr_p)
            ),
            Output::Survival { curves, logrank, .. } => {
                let medians: Vec<String> = curves
                    .iter()
                    .map(|c| {
                        let median = c.estimate.median.time.map_or("not reached".to_string(), |m| format!("{m}"));
                        match &c.group {
                            Some(g) => format!("{g}: median {median}"),
                            None => format!("median {median}"),
                        }
                    })
                    .collect();
                let test = logrank.as_ref().map(|l| format!("; log-rank {}", p(l.p))).unwrap_or_default();
                format!("{} ({n} subjects){test}", medians.join(", "))
            }
            Output::Cox { fit, .. } => format!(
                "{} terms over {n} subjects ({} events), concordance {:.3}, likelihood-ratio {}",
                fit.coefficients.len(),
                fit.events,
                fit.concordance,
                p(fit.likelihood_ratio.p)
            ),
        }
    }
}

/// One Kaplan-Meier curve.
#[derive(Debug, Clone, Serialize)]
pub struct Curve {
    /// The group (`null` overall).
    pub group: Option<String>,
    /// The estimate, step by step, with its confidence band and median.
    pub estimate: survival::KaplanMeier,
    /// Subjects at risk at each of the answer's `at_risk_times`.
    pub at_risk: Vec<usize>,
}

/// One variable described.
#[derive(Debug, Clone, Serialize)]
pub struct Described {
    /// The column.
    pub variable: String,
    /// Its label, when the source gave one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// Overall (group `null`), or one entry per group in order.
    pub groups: Vec<GroupSummary>,
}

/// A summary of one variable in one group.
#[derive(Debug, Clone, Serialize)]
pub struct GroupSummary {
    /// The group's level (`null` overall).
    pub group: Option<String>,
    /// The summary.
    #[serde(flatten)]
    pub summary: Summary,
}

/// Numbers or categories summarised.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Summary {
    /// A numeric variable.
    Numeric {
        /// n, missing, mean, SD, quartiles, range.
        #[serde(flatten)]
        stats: describe::Numeric,
        /// 20 bars of equal width over the range.
        histogram: Vec<describe::Bin>,
    },
    /// Dates (or times): the range and the median, as the column's own text.
    Dates {
        /// Values present.
        n: u64,
        /// Values missing.
        missing: u64,
        /// The earliest.
        earliest: String,
        /// The median (the lower middle value for an even count).
        median: String,
        /// The latest.
        latest: String,
    },
    /// A categorical variable: counts and percentages of those present.
    Categorical {
        /// Values present.
        n: u64,
        /// Values missing.
        missing: u64,
        /// Each level, most common first (ties by level).
        levels: Vec<Level>,
    },
}

/// A category's count.
#[derive(Debug, Clone, Serialize)]
pub struct Level {
    /// The level.
    pub level: String,
    /// Rows with it.
    pub count: u64,
    /// Percent of the values present.
    pub percent: f64,
}

/// A variable compared across groups.
#[derive(Debug, Clone, Serialize)]
pub struct Compared {
    /// The variable.
    pub variable: String,
    /// The grouping column.
    pub by: String,
    /// The groups in order, each summarised.
    pub groups: Vec<GroupSummary>,
    /// Welch's t-test (numbers, two groups).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub welch_t: Option<compare::WelchT>,
    /// Mann-Whitney U (numbers, two groups).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mann_whitney: Option<compare::MannWhitney>,
    /// One-way ANOVA (numbers, more groups).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub anova: Option<compare::Anova>,
    /// Kruskal-Wallis (numbers, more groups).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kruskal_wallis: Option<compare::KruskalWallis>,
    /// The contingency table (categories): rows are the variable's levels, columns the groups.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub table: Option<Contingency>,
    /// Chi-square test of independence (categories).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chi_square: Option<compare::ChiSquare>,
    /// Fisher's exact test (2x2 tables).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fisher: Option<compare::Fisher>,
}

/// Counts of a variable's levels (rows) by group (columns).
#[derive(Debug, Clone, Serialize)]
pub struct Contingency {
    /// The variable's levels.
    pub rows: Vec<String>,
    /// The groups.
    pub columns: Vec<String>,
    /// Counts, by row.
    pub counts: Vec<Vec<u64>>,
}

/// How a categorical predictor entered a model: one indicator per level but the reference.
#[derive(Debug, Clone, Serialize)]
pub struct Coding {
    /// The predictor.
    pub predictor: String,
    /// The level every other is compared with.
    pub reference: String,
    /// The other levels, each a term named `predictor=level`.
    pub levels: Vec<String>,
}

pub(super) struct Computed {
    pub rows: RowCounts,
    pub method: Vec<String>,
    pub warnings: Vec<String>,
    pub output: Output,
}

/// Bars of a numeric summary's histogram.
const HISTOGRAM_BINS: usize = 20;

/// Levels a categorical variable (an outcome, a compared category) may have.
const MAX_LEVELS: usize = 1_000;

/// Groups with more levels than this are refused: a grouping column should be categorical.
const MAX_GROUPS: usize = 50;

pub(super) fn compute(frame: &Frame, plan: &Plan) -> Result<Computed, AnalyzeError> {
    let alpha = plan.alpha;
    let confidence = format!("{}%", format_percent(1.0 - alpha));
    match &plan.analysis {
        Analysis::Describe { variables, by } => {
            // Each variable keeps its own missing values: only rows without a group are left out.
            let needed: Vec<&str> = by.iter().map(String::as_str).collect();
            let (rows, mut counts) = frame.complete(&needed);
            counts.used = rows.len() as u64;
            let groups = match by {
                Some(by) => Some(group_rows(frame.column(by), &rows)?),
                None => None,
            };
            // Each variable on its own core: ten million rows take a selection pass or two each.
            let described = variables
                .par_iter()
                .map(|v| {
                    let column = frame.column(v);
                    let groups = match &groups {
                        None => vec![GroupSummary { group: None, summary: summarise(column, &rows) }],
                        Some(groups) => groups
                            .iter()
                            .map(|(level, rows)| GroupSummary {
                                group: Some(level.clone()),
                                summary: summarise(column, rows),
                            })
                            .collect(),
                    };
                    Described { variable: v.clone(), label: column.label.clone(), groups }
                })
                .collect();
            Ok(Computed {
                rows: counts,
                method: vec![
                    "Numbers: mean, sample standard deviation (n - 1), and quartiles by linear interpolation \
                     (numpy's default, R type 7); missing values counted, not used."
                        .into(),
                    "Categories: counts, and percentages of the values present; dates: earliest, median, latest."
                        .into(),
                ],
                warnings: Vec::new(),
                output: Output::Describe { variables: described },
            })
        }
        Analysis::Compare { variable, by } => {
            let (rows, counts) = frame.complete(&[variable, by]);
            let by_levels = frame.column(by).levels(&rows, MAX_GROUPS)?;
            let groups = members(&by_levels, &rows);
            if groups.len() < 2 {
                return Err(AnalyzeError::Data(format!(
                    "`{by}` has {} group(s) among the rows used; comparing needs two or more{}",
                    groups.len(),
                    left_out(&counts)
                )));
            }
            let column = frame.column(variable);
            let summaries: Vec<GroupSummary> = groups
                .iter()
                .map(|(level, rows)| GroupSummary { group: Some(level.clone()), summary: summarise(column, rows) })
                .collect();
            let mut out = Compared {
                variable: variable.clone(),
                by: by.clone(),
                groups: summaries,
                welch_t: None,
                mann_whitney: None,
                anova: None,
                kruskal_wallis: None,
                table: None,
                chi_square: None,
                fisher: None,
            };
            let mut method = Vec::new();
            let mut warnings = Vec::new();
            match &column.values {
                Values::Numbers(values) => {
                    // One pass over the complete rows with each row's group: no copy per group.
                    let picked = pick(values, &rows);
                    let codes = &by_levels.codes;
                    if let Some((level, rows)) = groups.iter().find(|(_, rows)| rows.len() < 2) {
                        return Err(AnalyzeError::Data(format!(
                            "group `{level}` of `{by}` has {} row(s) with `{variable}`; each group needs at least two",
                            rows.len()
                        )));
                    }
                    let (sums, ties) = compare::rank_sums_by_group(&picked, codes, groups.len());
                    let moments = Moments::by_group(&picked, codes, groups.len());
                    if groups.len() == 2 {
                        out.welch_t = Some(compare::welch_t(moments[0], moments[1], alpha).map_err(data)?);
                        let mann_whitney = compare::mann_whitney(sums[0], sums[1], ties).map_err(data)?;
                        let exact = mann_whitney.exact;
                        out.mann_whitney = Some(mann_whitney);
                        method.push(format!(
                            "Welch's t-test (unequal variances), two-sided, difference `{}` minus `{}` with its {confidence} \
                             interval; Cohen's d on the pooled SD, Hedges' g corrected (scipy.stats.ttest_ind, \
                             equal_var=False).",
                            groups[0].0, groups[1].0
                        ));
                        method.push(if exact {
                            "Mann-Whitney U of the first group, two-sided p from U's exact distribution (a group of 8 or \
                             fewer, no ties); rank-biserial correlation (scipy.stats.mannwhitneyu, its default)."
                                .to_string()
                        } else {
                            "Mann-Whitney U of the first group, normal approximation with tie and continuity \
                             corrections, two-sided; rank-biserial correlation (scipy.stats.mannwhitneyu, its default \
                             for these sizes)."
                                .to_string()
                        });
                    } else {
                        out.anova = Some(compare::anova(&moments).map_err(data)?);
                        out.kruskal_wallis = Some(compare::kruskal_wallis(&sums, ties).map_err(data)?);
                        method.push("One-way ANOVA, F test; eta squared (scipy.stats.f_oneway).".into());
                        method.push(
                            "Kruskal-Wallis H with tie correction, chi-square approximation; epsilon squared \
                             (scipy.stats.kruskal)."
                                .into(),
                        );
                    }
                }
                Values::Categories { .. } => {
                    let Levels { names: levels, codes } = column.levels(&rows, MAX_LEVELS)?;
                    let group_codes = &by_levels.codes;
                    let mut counts = vec![vec![0u64; groups.len()]; levels.len()];
                    for (level, group) in codes.iter().zip(group_codes) {
                        counts[*level as usize][*group as usize] += 1;
                    }
                    let table: Vec<Vec<f64>> = counts.iter().map(|r| r.iter().map(|c| *c as f64).collect()).collect();
                    let chi = compare::chi_square(&table).map_err(data)?;
                    if let Some(w) = &chi.warning {
                        warnings.push(w.clone());
                    }
                    method.push(format!(
                        "Chi-square test of independence{}; Cramér's V (scipy.stats.chi2_contingency).",
                        if chi.yates { " with Yates' continuity correction (a 2x2 table)" } else { "" }
                    ));
                    if levels.len() == 2 && groups.len() == 2 {
                        out.fisher =
                            Some(compare::fisher_exact([[counts[0][0], counts[0][1]], [counts[1][0], counts[1][1]]]));
                        method.push(
                            "Fisher's exact test, two-sided, sample odds ratio (scipy.stats.fisher_exact).".into(),
                        );
                    }
                    out.chi_square = Some(chi);
                    out.table = Some(Contingency {
                        rows: levels,
                        columns: groups.iter().map(|(l, _)| l.clone()).collect(),
                        counts,
                    });
                }
            }
            Ok(Computed { rows: counts, method, warnings, output: Output::Compare(Box::new(out)) })
        }
        Analysis::Correlate { variables } => {
            if variables.len() < 2 {
                return Err(AnalyzeError::Plan("correlations need two or more variables".into()));
            }
            let names: Vec<&str> = variables.iter().map(String::as_str).collect();
            let (rows, counts) = frame.complete(&names);
            let columns: Vec<Cow<[f64]>> = names
                .iter()
                .map(|n| Ok(pick(frame.column(n).numbers("a correlated variable")?, &rows)))
                .collect::<Result<_, AnalyzeError>>()?;
            let slices: Vec<&[f64]> = columns.iter().map(|c| c.as_ref()).collect();
            let (pearson, spearman) = correlate::matrices(&slices, alpha);
            let mut warnings = Vec::new();
            if rows.len() < 3 {
                warnings.push(format!("only {} complete row(s): p-values need at least three", rows.len()));
            }
            Ok(Computed {
                rows: counts,
                method: vec![format!(
                    "Pearson's r and Spearman's rho (Pearson's r of average ranks) on the rows complete for \
                         every variable; two-sided p from t on n - 2 degrees of freedom; {confidence} intervals by \
                         Fisher's z (scipy.stats.pearsonr, spearmanr)."
                )],
                warnings,
                output: Output::Correlate { variables: variables.clone(), pearson, spearman },
            })
        }
        Analysis::Linear { outcome, predictors, reference } => {
            let names: Vec<&str> =
                std::iter::once(outcome.as_str()).chain(predictors.iter().map(String::as_str)).collect();
            let (rows, counts) = frame.complete(&names);
            let y = pick(frame.column(outcome).numbers("the outcome")?, &rows);
            let design = design(frame, predictors, reference, &rows)?;
            let fit = regress::linear(&y, &design.columns, &design.names, alpha).map_err(data)?;
            Ok(Computed {
                rows: counts,
                method: vec![format!(
                    "Ordinary least squares with an intercept, solved by QR on centred and scaled predictors; \
                     t tests and {confidence} intervals on the residual degrees of freedom (statsmodels OLS). \
                     Categorical predictors: one indicator per level against the reference level."
                )],
                warnings: Vec::new(),
                output: Output::Linear { coding: design.coding, fit },
            })
        }
        Analysis::Logistic { outcome, predictors, event, reference } => {
            let names: Vec<&str> =
                std::iter::once(outcome.as_str()).chain(predictors.iter().map(String::as_str)).collect();
            let (rows, counts) = frame.complete(&names);
            let (y, event) = binary(frame.column(outcome), event.as_deref(), &rows, "outcome")?;
            let design = design(frame, predictors, reference, &rows)?;
            let fit = regress::logistic(&y, &design.columns, &design.names, alpha)
                .map_err(|e| AnalyzeError::Data(format!("{e}{}", left_out(&counts))))?;
            let warnings = fit.warnings.clone();
            Ok(Computed {
                rows: counts,
                method: vec![format!(
                    "Logistic regression by maximum likelihood (Newton's method) with an intercept; odds ratios \
                     exp(coefficient); Wald z tests and {confidence} intervals (statsmodels Logit). `{outcome}` = \
                     {event} is the event. Categorical predictors: one indicator per level against the reference \
                     level."
                )],
                warnings,
                output: Output::Logistic { coding: design.coding, event, fit },
            })
        }
        Analysis::Survival { time, event, event_value, by } => {
            let names: Vec<&str> = [time.as_str(), event.as_str()].into_iter().chain(by.as_deref()).collect();
            let (rows, counts) = frame.complete(&names);
            let times = pick(frame.column(time).numbers("the time")?, &rows);
            let (events, event_shown) = binary(frame.column(event), event_value.as_deref(), &rows, "event")?;
            let happened: Vec<bool> = events.iter().map(|e| *e == 1.0).collect();
            let (names, codes) = match by {
                None => (vec![None], vec![0; rows.len()]),
                Some(by) => {
                    let Levels { names, codes } = frame.column(by).levels(&rows, MAX_GROUPS)?;
                    (names.into_iter().map(Some).collect(), codes)
                }
            };
            let tables = survival::life_tables(&times, &happened, &codes, names.len()).map_err(data)?;
            let max_time = times.iter().copied().fold(0.0, f64::max);
            let at_risk_times = nice_times(max_time);
            let mut curves = Vec::new();
            let mut warnings = Vec::new();
            for (group, table) in names.iter().zip(&tables) {
                let estimate = survival::kaplan_meier_of(table, alpha).map_err(data)?;
                if estimate.events == 0 {
                    warnings.push(format!(
                        "{}: no events, so survival stays at 1 and the median is not reached",
                        group.as_deref().map_or("overall".to_string(), |g| format!("group `{g}`"))
                    ));
                }
                let at_risk = estimate.at_risk_at(&at_risk_times);
                curves.push(Curve { group: group.clone(), estimate, at_risk });
            }
            let mut method = vec![format!(
                "Kaplan-Meier product-limit estimate; {confidence} bands by Greenwood's variance on the log(-log) \
                 scale; median survival where the curve first reaches 0.5, its interval where the bands do \
                 (lifelines KaplanMeierFitter). `{event}` = {event_shown} is the event; other rows are censored."
            )];
            let logrank = if tables.len() > 1 {
                method.push(
                    "Log-rank test across the groups, chi-square on k - 1 degrees of freedom (lifelines \
                             multivariate_logrank_test)."
                        .into(),
                );
                Some(survival::logrank_of(&tables).map_err(data)?)
            } else {
                None
            };
            Ok(Computed {
                rows: counts,
                method,
                warnings,
                output: Output::Survival { event: event_shown, at_risk_times, curves, logrank },
            })
        }
        Analysis::Cox { time, event, event_value, predictors, reference } => {
            let names: Vec<&str> =
                [time.as_str(), event.as_str()].into_iter().chain(predictors.iter().map(String::as_str)).collect();
            let (rows, counts) = frame.complete(&names);
            let times = pick(frame.column(time).numbers("the time")?, &rows);
            let (events, event_shown) = binary(frame.column(event), event_value.as_deref(), &rows, "event")?;
            let happened: Vec<bool> = events.iter().map(|e| *e == 1.0).collect();
            let design = design(frame, predictors, reference, &rows)?;
            let fit = survival::cox_at(&times, &happened, &design.columns, &design.names, alpha).map_err(data)?;
            let mut warnings: Vec<String> = fit.warnings.iter().map(ToString::to_string).collect();
            for test in &fit.proportional_hazards {
                if test.p < alpha {
                    warnings.push(format!(
                        "proportional hazards may not hold for `{}` (scaled Schoenfeld residuals against rank of \
                         time: p = {:.4}): its hazard ratio is an average over follow-up; consider stratifying or a \
                         time-varying effect",
                        test.covariate, test.p
                    ));
                }
            }
            Ok(Computed {
                rows: counts,
                method: vec![
                    format!(
                        "Cox proportional hazards, partial likelihood with Efron's method for tied times, fitted by \
                         Newton-Raphson on standardised predictors; Wald z tests; hazard ratios exp(coefficient) with \
                         {confidence} intervals; Harrell's concordance (lifelines CoxPHFitter). `{event}` = {event_shown} is \
                         the event."
                    ),
                    "Proportional-hazards test per predictor: scaled Schoenfeld residuals against the rank of time \
                     (lifelines proportional_hazard_test, time_transform=\"rank\")."
                        .into(),
                ],
                warnings,
                output: Output::Cox { coding: design.coding, event: event_shown, fit: Box::new(fit) },
            })
        }
    }
}

/// Times for an at-risk table: 0 and round steps (1, 2 or 5 times a power of ten) up to `max`.
fn nice_times(max: f64) -> Vec<f64> {
    if max.is_nan() || max <= 0.0 {
        return vec![0.0];
    }
    let rough = max / 5.0;
    let power = 10f64.powf(rough.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0].into_iter().map(|m| m * power).find(|s| *s >= rough).unwrap_or(10.0 * power);
    (0..).map(|k| k as f64 * step).take_while(|t| *t <= max).collect()
}

/// " (rows left out for a missing value: ...)", when any were: what explains a model that cannot be
/// fitted on the rows that remain.
fn left_out(counts: &RowCounts) -> String {
    if counts.missing.is_empty() {
        return String::new();
    }
    let parts: Vec<String> = counts.missing.iter().map(|(c, n)| format!("{n} missing `{c}`")).collect();
    format!(
        " ({} of {} rows were left out for a missing value: {})",
        counts.after_filters - counts.used,
        counts.after_filters,
        parts.join(", ")
    )
}

fn data(e: impl std::fmt::Display) -> AnalyzeError {
    AnalyzeError::Data(e.to_string())
}

fn format_percent(share: f64) -> String {
    let p = share * 100.0;
    if (p - p.round()).abs() < 1e-9 { format!("{}", p.round() as i64) } else { format!("{p}") }
}

/// The values of `rows`: the column itself when they are all of its rows (complete rows keep
/// their order), so ten million complete values are not copied.
fn pick<'a>(values: &'a [f64], rows: &[u32]) -> Cow<'a, [f64]> {
    if rows.len() == values.len() {
        Cow::Borrowed(values)
    } else {
        Cow::Owned(rows.iter().map(|i| values[*i as usize]).collect())
    }
}

/// The rows of each group, groups in order.
fn group_rows(by: &Column, rows: &[u32]) -> Result<Vec<(String, Vec<u32>)>, AnalyzeError> {
    Ok(members(&by.levels(rows, MAX_GROUPS)?, rows))
}

/// Each level with the rows (of `rows`, which `levels` codes in order) that have it.
fn members(levels: &Levels, rows: &[u32]) -> Vec<(String, Vec<u32>)> {
    let mut members = vec![Vec::new(); levels.names.len()];
    for (row, code) in rows.iter().zip(&levels.codes) {
        if *code != MISSING {
            members[*code as usize].push(*row);
        }
    }
    levels.names.iter().cloned().zip(members).collect()
}

fn summarise(column: &Column, rows: &[u32]) -> Summary {
    match &column.values {
        // true/false are counted, not averaged.
        Values::Numbers(v) if column.sql_type == "BOOLEAN" => {
            let (mut counts, mut missing) = ([0u64; 2], 0u64);
            for i in rows {
                match v[*i as usize] {
                    x if x.is_nan() => missing += 1,
                    x => counts[usize::from(x != 0.0)] += 1,
                }
            }
            categorical(&["false".to_string(), "true".to_string()], &counts, missing)
        }
        Values::Numbers(v) => {
            let values = pick(v, rows);
            Summary::Numeric {
                stats: describe::numeric(&values),
                histogram: describe::histogram(&values, HISTOGRAM_BINS),
            }
        }
        // ISO dates and times sort as text in time order: the levels, sorted, are a timeline.
        Values::Categories { levels, codes }
            if column.sql_type == "DATE" || column.sql_type.starts_with("TIMESTAMP") =>
        {
            let (counts, missing) = count_codes(codes, levels.len(), rows);
            let n: u64 = counts.iter().sum();
            let present: Vec<usize> = (0..levels.len()).filter(|l| counts[*l] > 0).collect();
            let (earliest, latest) = match (present.first(), present.last()) {
                (Some(first), Some(last)) => (levels[*first].clone(), levels[*last].clone()),
                _ => (String::new(), String::new()),
            };
            let mut seen = 0;
            let middle = n.saturating_sub(1) / 2;
            let median = present
                .iter()
                .find(|l| {
                    seen += counts[**l];
                    seen > middle
                })
                .map(|l| levels[*l].clone())
                .unwrap_or_default();
            Summary::Dates { n, missing, earliest, median, latest }
        }
        Values::Categories { levels, codes } => {
            let (counts, missing) = count_codes(codes, levels.len(), rows);
            categorical(levels, &counts, missing)
        }
    }
}

/// Rows of `rows` per level code, and rows missing.
fn count_codes(codes: &[u32], levels: usize, rows: &[u32]) -> (Vec<u64>, u64) {
    let mut counts = vec![0u64; levels];
    let mut missing = 0;
    for i in rows {
        match codes[*i as usize] {
            MISSING => missing += 1,
            c => counts[c as usize] += 1,
        }
    }
    (counts, missing)
}

/// Levels with their counts and percentages of those present, most common first (ties by name).
fn categorical(names: &[String], counts: &[u64], missing: u64) -> Summary {
    let n: u64 = counts.iter().sum();
    let mut levels: Vec<Level> = names
        .iter()
        .zip(counts)
        .filter(|(_, count)| **count > 0)
        .map(|(level, count)| Level { level: level.clone(), count: *count, percent: 100.0 * *count as f64 / n as f64 })
        .collect();
    levels.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.level.cmp(&b.level)));
    Summary::Categorical { n, missing, levels }
}

/// A 0/1 outcome from a boolean, 0/1 numbers, or two categories with the event named.
fn binary(column: &Column, event: Option<&str>, rows: &[u32], role: &str) -> Result<(Vec<f64>, String), AnalyzeError> {
    let Levels { names: levels, codes } = column.levels(rows, MAX_LEVELS)?;
    let name = &column.name;
    let event = match event {
        Some(e) => {
            if !levels.iter().any(|l| l == e) {
                return Err(AnalyzeError::Plan(format!(
                    "the {role} `{name}` has no value `{e}` among the rows used; its values are {}",
                    levels.join(", ")
                )));
            }
            e.to_string()
        }
        None if column.sql_type == "BOOLEAN" => "true".to_string(),
        None if levels.iter().all(|l| l == "0" || l == "1") => "1".to_string(),
        None if levels.len() == 2 && matches!(column.values, Values::Categories { .. }) => {
            return Err(AnalyzeError::Plan(format!(
                "the {role} `{name}` has values {} and {}: say which one is the event, as COLUMN=VALUE (for example \
                 {}={})",
                levels[0], levels[1], name, levels[1]
            )));
        }
        None => {
            return Err(AnalyzeError::Plan(format!(
                "the {role} `{name}` must be 0/1 or true/false, or name the event value; it has {} value(s): {}",
                levels.len(),
                levels.iter().take(8).cloned().collect::<Vec<_>>().join(", ")
            )));
        }
    };
    let event_code = levels.iter().position(|l| *l == event).map(|p| p as u32);
    let y = codes.iter().map(|c| f64::from(Some(*c) == event_code)).collect();
    Ok((y, event))
}

/// Predictors as model columns: numbers as they are, categories as indicators.
struct Design<'a> {
    columns: Vec<Cow<'a, [f64]>>,
    names: Vec<String>,
    coding: Vec<Coding>,
}

fn design<'a>(
    frame: &'a Frame,
    predictors: &[String],
    reference: &BTreeMap<String, String>,
    rows: &[u32],
) -> Result<Design<'a>, AnalyzeError> {
    if predictors.is_empty() {
        return Err(AnalyzeError::Plan("a model needs at least one predictor".into()));
    }
    if let Some(unknown) = reference.keys().find(|k| !predictors.contains(k)) {
        return Err(AnalyzeError::Plan(format!(
            "a reference level is given for `{unknown}`, which is not a predictor"
        )));
    }
    let mut out = Design { columns: Vec::new(), names: Vec::new(), coding: Vec::new() };
    for p in predictors {
        let column = frame.column(p);
        match &column.values {
            Values::Numbers(v) if !reference.contains_key(p) => {
                out.columns.push(pick(v, rows));
                // A boolean enters as 1 for true: its term says so.
                out.names.push(if column.sql_type == "BOOLEAN" { format!("{p}=true") } else { p.clone() });
            }
            _ => {
                let Levels { names: levels, codes } = column.levels(rows, MAX_GROUPS)?;
                let base = match reference.get(p) {
                    Some(r) if levels.contains(r) => r.clone(),
                    Some(r) => {
                        return Err(AnalyzeError::Plan(format!(
                            "reference level `{r}` of `{p}` is not among its values: {}",
                            levels.join(", ")
                        )));
                    }
                    None => {
                        levels.first().cloned().ok_or_else(|| AnalyzeError::Data(format!("`{p}` has no values")))?
                    }
                };
                let others: Vec<String> = levels.iter().filter(|l| **l != base).cloned().collect();
                if others.is_empty() {
                    return Err(AnalyzeError::Data(format!(
                        "predictor `{p}` has one value (`{base}`) in every row used, so its effect cannot be estimated"
                    )));
                }
                for level in &others {
                    let code = levels.iter().position(|l| l == level).expect("a level of the column") as u32;
                    out.columns.push(codes.iter().map(|c| f64::from(*c == code)).collect::<Vec<_>>().into());
                    out.names.push(format!("{p}={level}"));
                }
                out.coding.push(Coding { predictor: p.clone(), reference: base, levels: others });
            }
        }
    }
    Ok(out)
}
