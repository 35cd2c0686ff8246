//! Tests that run many processes or large files; nextest runs them one at a time.

mod browser;
mod concurrency;
mod crash;
mod memory;
