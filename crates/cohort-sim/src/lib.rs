/*!
The AMD treatment simulation behind `cohort simulate`.

It holds the model's building blocks — random streams per patient ([`random`]), recruitment and
baseline draws ([`population`]), the fortnightly disease process ([`disease`]), the pieces of the
vision model ([`vision`]) and the patient engine ([`engine`]) — the protocols ([`protocol`]: one
self-contained YAML file each, every parameter the engine uses written in it and every key in it
used), the parallel run streamed to Parquet ([`run`]), the run as a store job ([`job`]:
staged, resumable, committed as one version), the year-by-year figures that protocol targets
are stated in ([`outcomes`]), whole-run figures set beside another engine's
([`reference`]), the report of both that runs carry ([`validation`]), and the fit of a protocol's free parameters to them
([`calibrate`]).

```
let tae = cohort_sim::protocol::builtin("aflibercept-tae").unwrap().load().unwrap();
assert_eq!(tae.treatment.min_interval_days, 56);
assert_eq!(tae.canonical_sha256().len(), 64);
```
*/
#![deny(missing_docs)]

pub mod calibrate;
pub mod disease;
pub mod engine;
pub mod job;
pub mod outcomes;
pub mod output;
pub mod population;
pub mod protocol;
pub mod random;
pub mod reference;
pub mod run;
pub mod validation;
pub mod vision;
