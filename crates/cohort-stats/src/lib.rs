/*!
The statistics researchers run daily, computed on columns of numbers already in memory: no I/O,
no SQL. `cohort-analysis` chooses the rows (filters, complete cases) and calls these.

- [`describe`]: n, missing, mean, SD, median, quartiles, range;
- [`compare`]: Welch's t, one-way ANOVA, Mann-Whitney U, Kruskal-Wallis, chi-square, Fisher;
- [`correlate`]: Pearson and Spearman with p and confidence intervals;
- [`regress`]: linear (least squares) and logistic regression;
- [`survival`]: Kaplan-Meier, log-rank, Cox proportional hazards (Efron) and its PH test;
- [`dist`]: the tail probabilities behind every p-value.

Every method computes the variant its reference implementation computes by default, says so in
its documentation, and is checked against that reference (scipy, statsmodels, lifelines) on the
data sets they ship, in the test run.
*/
#![deny(missing_docs)]

pub mod compare;
pub mod correlate;
pub mod describe;
pub mod dist;
mod rank;
pub mod regress;
pub mod survival;
