/*!
Analyses over stored datasets, computed where the data is (DuckDB over Parquet) so that only
aggregates leave the store: what a chart needs, never the participant-level rows.

The first analysis is the cohort flow of a simulation run ([`flow::cohort_flow`]): for every
calendar month, how many enrolled patients are in each treatment-state category. It feeds the
cohort-flow streamgraph.
*/
#![deny(missing_docs)]

pub mod flow;
