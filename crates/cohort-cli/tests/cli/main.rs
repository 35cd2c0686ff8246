//! Tests of the real `cohort` binary: each runs it as a user would, on a fresh temporary store.

mod access;
mod analyze;
mod archive;
mod bad_input;
mod deid;
mod dictionary;
mod excel;
mod heavy;
mod help;
mod hygiene;
mod interop;
mod json;
mod migrate;
mod protocol;
mod publish;
mod registry;
mod relationships;
mod roundtrip;
mod schema;
mod simulate;
mod statistical;
mod util;
mod versions;
