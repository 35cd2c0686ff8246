/*!
`cohort serve`: the web app over a store, and the JSON API its pages use.

Layers, as in the folders: [`access`] decides who may call what and records participant-level
requests in the audit log, before any other code runs; [`api`] answers `/api/v1/...` with JSON (described by
`/api/v1/openapi.json`); [`pages`] renders server-side HTML with askama templates, filled from the
same functions the API uses, plus a little JavaScript (`assets/`) that draws charts from the
API's aggregates; [`tasks`] runs simulations in the background with progress events;
[`state`] is what they share. The browser only ever receives aggregates of a simulation, never
its visit table. [`public`] is the other face: `cohort serve --public` answers from published
bundles of aggregates alone, with no store behind it.
*/
#![deny(missing_docs)]

pub mod access;
pub mod api;
mod assets;
pub mod demo;
pub mod engines;
pub mod error;
mod excel;
pub mod pages;
pub mod public;
mod registry_page;
pub mod server;
pub mod state;
pub mod tasks;

pub use server::{ServeConfig, public_router, router, serve, serve_public};
pub use state::AppState;
