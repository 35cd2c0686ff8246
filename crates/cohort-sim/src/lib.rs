/*!
The AMD treatment simulation behind `cohort simulate`.

So far it holds the model's building blocks — random streams per patient ([`random`]),
recruitment and baseline draws ([`population`]), the fortnightly disease process ([`disease`]) and
the pieces of the vision model ([`vision`]) — and the protocols: one self-contained YAML file each, with every parameter the
engine uses written in it and every key in it used. [`protocol::Protocol::from_yaml`] parses and
validates a file, naming the key and line of any problem; [`protocol::builtin`] gives the built-in
protocols (`aflibercept-tae`, `aflibercept-tnt`), written from APE's parameter values.

```
let tae = cohort_sim::protocol::builtin("aflibercept-tae").unwrap().load().unwrap();
assert_eq!(tae.treatment.min_interval_days, 56);
assert_eq!(tae.canonical_sha256().len(), 64);
```
*/
#![deny(missing_docs)]

pub mod disease;
pub mod engine;
pub mod output;
pub mod population;
pub mod protocol;
pub mod random;
pub mod run;
pub mod vision;
