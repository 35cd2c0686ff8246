//! Tests that run many processes or large files; nextest runs them one at a time.

mod concurrency;
mod crash;
mod memory;
