//! A whole run: patients simulated in parallel chunks and streamed, in patient order, to Parquet.
//!
//! Chunks of `chunk_patients` are simulated a wave at a time (one chunk per thread), then their
//! rows are appended to the `patients` and `visits` writers in patient order. Memory therefore
//! holds one wave and the writers' current row groups, whatever the cohort size. Each patient
//! draws from its own stream and row groups are cut by row count, so the files are byte-identical
//! whatever the thread count or chunk size.

use std::path::Path;
use std::time::Instant;

use arrow::compute::concat_batches;
use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use cohort_store::{CancelToken, Progress};
use jiff::civil::{Date, date};
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_writer::{ArrowColumnWriter, ArrowRowGroupWriterFactory, compute_leaves};
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;
use rayon::prelude::*;

use crate::engine::{Model, Patient};
use crate::output::{PATIENTS, VISITS, patients_batch, visits_batch};
use crate::population::{Recruitment, enrolment_days, horizon_days};
use crate::protocol::Protocol;

/// The engine's version, recorded with every run.
pub const ENGINE_VERSION: &str = env!("CARGO_PKG_VERSION");

/// The first day of a run unless one is given (`cohort simulate --start`): a Monday, as in APE.
pub const DEFAULT_START: Date = date(2024, 1, 1);

/// Rows per Parquet row group: large enough for fast scans, small enough to bound memory.
const ROW_GROUP_ROWS: usize = 256 * 1024;

/// Patients per output part. Parts are the unit of checkpointing: their boundaries depend on
/// nothing but the patient count, so a resumed run writes the same files as an uninterrupted one.
pub const PART_PATIENTS: usize = 100_000;

/// The file name of part `part` in each table's directory: `part-00003.parquet`.
pub fn part_name(part: usize) -> String {
    format!("part-{part:05}.parquet")
}

/// The checkpoint of a run, written after every finished part.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Checkpoint {
    /// The protocol's YAML, so that a resumed run needs no file.
    pub protocol_yaml: String,
    /// The protocol's canonical hash.
    pub protocol_sha256: String,
    /// The run's parameters.
    pub params: RunParams,
    /// Parts finished and synced (their numbers).
    pub parts_done: std::collections::BTreeSet<usize>,
    /// Patients in the finished parts.
    pub patients: u64,
    /// Visits in the finished parts.
    pub visits: u64,
}

impl Checkpoint {
    /// Reads the checkpoint at `path`, if there is one.
    pub fn read(path: &Path) -> Result<Option<Checkpoint>, RunError> {
        match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| RunError::Checkpoint(format!("`{}` is damaged: {e}", path.display()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        }
    }
}

/// Rows per batch handed to a Parquet writer. arrow-rs decides page boundaries batch by batch, so
/// batches are re-cut to this size along the whole table: the bytes then do not depend on how
/// patients were chunked. It divides [`ROW_GROUP_ROWS`].
const WRITE_BATCH_ROWS: usize = 8 * 1024;

/// What to simulate.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RunParams {
    /// How patients arrive.
    pub recruitment: Recruitment,
    /// Years simulated.
    pub years: f64,
    /// The run's seed.
    pub seed: u64,
    /// The first day.
    pub start: Date,
}

/// What a run produced.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RunOutcome {
    /// Patients simulated.
    pub patients: u64,
    /// Visits recorded.
    pub visits: u64,
    /// Wall time of simulation and writing, in seconds.
    pub seconds: f64,
}

/// What a run will take, from simulating its first patients.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Estimate {
    /// Patients the run will enrol.
    pub patients: u64,
    /// Visit rows expected.
    pub visits: u64,
    /// Parquet bytes expected for both tables (with a margin).
    pub bytes: u64,
    /// Seconds expected on `threads` threads.
    pub seconds: f64,
}

/// Bytes of zstd Parquet per visit row and per patient row, measured on T&E runs (13.1 and 17.7),
/// rounded up for protocols whose values compress less well.
const BYTES_PER_VISIT: f64 = 16.0;
const BYTES_PER_PATIENT: f64 = 22.0;
/// Patients per second per thread, end to end, measured here (about 85,000), rounded down.
const PATIENTS_PER_SECOND_PER_THREAD: f64 = 70_000.0;

/// Estimates a run by simulating its first `sample` patients (the very ones the run will
/// simulate, so the estimate is deterministic too).
pub fn estimate(protocol: &Protocol, params: &RunParams, threads: usize, sample: usize) -> Estimate {
    let horizon = horizon_days(params.years);
    let enrolments = enrolment_days(params.recruitment, horizon, params.seed);
    let model = Model::new(protocol.clone(), params.start, horizon, params.seed);
    // Spread the sample over the cohort: early enrollees are followed longer than late ones.
    let step = (enrolments.len() / sample.max(1)).max(1);
    let mut visits = Vec::new();
    let mut sampled = 0u64;
    for (i, day) in enrolments.iter().enumerate().step_by(step) {
        model.simulate(i as u64, *day, &mut visits);
        sampled += 1;
    }
    let per_patient = if sampled == 0 { 0.0 } else { visits.len() as f64 / sampled as f64 };
    let patients = enrolments.len() as u64;
    let expected_visits = (per_patient * patients as f64).round() as u64;
    Estimate {
        patients,
        visits: expected_visits,
        bytes: (expected_visits as f64 * BYTES_PER_VISIT + patients as f64 * BYTES_PER_PATIENT) as u64,
        seconds: patients as f64 / (PATIENTS_PER_SECOND_PER_THREAD * threads.max(1) as f64),
    }
}

/// Why a run failed.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// Writing Parquet failed (a full disk, say).
    #[error("writing simulation output: {0}")]
    Parquet(#[from] parquet::errors::ParquetError),
    /// A file could not be created.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The thread pool could not start.
    #[error("starting {threads} simulation threads: {message}")]
    Threads {
        /// Threads asked for.
        threads: usize,
        /// Why.
        message: String,
    },
    /// The checkpoint cannot be used.
    #[error("cannot resume: {0}")]
    Checkpoint(String),
    /// Arrow failed to assemble a batch (a bug).
    #[error("assembling output rows: {0}")]
    Arrow(#[from] arrow::error::ArrowError),
    /// The run was cancelled.
    #[error("cancelled")]
    Cancelled,
    /// A finished part could not be handed on (uploaded, say).
    #[error("{0}")]
    Handoff(String),
}

/// One chunk of patients, simulated, as rows of both tables.
struct Wave {
    patients: RecordBatch,
    visits: RecordBatch,
}

/// Where a run writes: one directory per table and a checkpoint file.
#[derive(Clone, Copy)]
pub struct RunFiles<'a> {
    /// The `patients` table's directory.
    pub patients_dir: &'a Path,
    /// The `visits` table's directory.
    pub visits_dir: &'a Path,
    /// The checkpoint, rewritten (atomically) after every part.
    pub checkpoint: &'a Path,
    /// Called with a finished part's file name (`part-00003.parquet`, the same in both table
    /// directories) once its files and the checkpoint are synced: a shard uploads them here.
    pub after_part: &'a dyn Fn(&str) -> Result<(), RunError>,
}

/// The `after_part` of a run that keeps its files where they are.
pub fn keep_parts(_: &str) -> Result<(), RunError> {
    Ok(())
}

/// What one process simulates.
#[derive(Debug, Clone, Copy)]
pub struct RunSpec<'a> {
    /// The protocol.
    pub protocol: &'a Protocol,
    /// Its YAML, kept in the checkpoint so that a resumed run needs no file.
    pub protocol_yaml: &'a str,
    /// The run's parameters.
    pub params: &'a RunParams,
    /// All parts, or one shard's.
    pub shard: Shard,
}

/// How the work is done; none of it changes the output.
#[derive(Clone, Copy)]
pub struct Execution<'a> {
    /// Worker threads.
    pub threads: usize,
    /// Patients per parallel chunk.
    pub chunk_patients: usize,
    /// Counts patients.
    pub progress: &'a dyn Progress,
    /// Stops the run between chunks.
    pub cancel: &'a CancelToken,
}

/// Simulates `spec` into parts of [`PART_PATIENTS`] patients (all of them, or those of its
/// shard), skipping the parts a checkpoint records as done.
pub fn simulate_to_parquet(
    spec: RunSpec<'_>,
    files: RunFiles<'_>,
    exec: Execution<'_>,
) -> Result<RunOutcome, RunError> {
    let RunSpec { protocol, protocol_yaml, params, shard } = spec;
    let Execution { threads, chunk_patients, progress, cancel } = exec;
    let started = Instant::now();
    let horizon = horizon_days(params.years);
    let enrolments = enrolment_days(params.recruitment, horizon, params.seed);
    let model = Model::new(protocol.clone(), params.start, horizon, params.seed);
    let start_epoch_day = params.start.since(date(1970, 1, 1)).map(|s| s.get_days()).unwrap_or(0);
    let mut checkpoint = match Checkpoint::read(files.checkpoint)? {
        Some(c) if c.params != *params || c.protocol_sha256 != protocol.canonical_sha256() => {
            return Err(RunError::Checkpoint("the interrupted run had other parameters or another protocol".into()));
        }
        Some(c) => c,
        None => {
            let fresh = Checkpoint {
                protocol_yaml: protocol_yaml.to_string(),
                protocol_sha256: protocol.canonical_sha256(),
                params: params.clone(),
                parts_done: Default::default(),
                patients: 0,
                visits: 0,
            };
            // Written before any work, so that a run stopped in its first part can be resumed too.
            let json = serde_json::to_vec_pretty(&fresh).expect("a checkpoint serialises");
            cohort_store::fsutil::write_atomic(files.checkpoint, &json)?;
            fresh
        }
    };

    let props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(1)?))
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
        .build();
    let threads = threads.max(1);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .map_err(|e| RunError::Threads { threads, message: e.to_string() })?;
    let chunk_patients = chunk_patients.clamp(1, PART_PATIENTS);

    let todo: Vec<(usize, &[u32])> = enrolments
        .chunks(PART_PATIENTS)
        .enumerate()
        .filter(|(part, _)| shard.owns(*part) && !checkpoint.parts_done.contains(part))
        .collect();
    progress.begin(
        "simulating patients",
        Some(checkpoint.patients + todo.iter().map(|(_, d)| d.len() as u64).sum::<u64>()),
    );
    progress.set_position(checkpoint.patients);
    for (part, part_days) in todo {
        let part_start = part * PART_PATIENTS;
        let name = part_name(part);
        let mut patients_out = FixedBatches::new(
            ArrowWriter::try_new(fs_create(&files.patients_dir.join(&name))?, PATIENTS.clone(), Some(props.clone()))?,
            PATIENTS.clone(),
            &pool,
        )?;
        let mut visits_out = FixedBatches::new(
            ArrowWriter::try_new(fs_create(&files.visits_dir.join(&name))?, VISITS.clone(), Some(props.clone()))?,
            VISITS.clone(),
            &pool,
        )?;
        let chunks: Vec<(usize, &[u32])> =
            part_days.chunks(chunk_patients).enumerate().map(|(i, c)| (part_start + i * chunk_patients, c)).collect();
        let mut part_visits = 0u64;
        // The next wave is simulated while this one is written: writing is serial and would
        // otherwise leave the simulation threads idle. Waves arrive in order, so the bytes do
        // not change; the channel holds no wave (a finished wave waits for the writer), which bounds
        // memory to the wave being written and the one being simulated.
        let (waves, written) = std::sync::mpsc::sync_channel::<Vec<Wave>>(0);
        std::thread::scope(|scope| -> Result<(), RunError> {
            // Owned here, so that the writer's channel ends when the simulation does, and the
            // simulation stops when the writer fails (its receiver dropped on the way out).
            let written = written;
            scope.spawn(|| {
                let waves = waves;
                for wave in chunks.chunks(threads) {
                    if cancel.is_cancelled() {
                        return;
                    }
                    let results = pool.install(|| {
                        wave.par_iter()
                            .map(|(first, days)| {
                                let mut visits = Vec::with_capacity(days.len() * 12);
                                let patients: Vec<Patient> = days
                                    .iter()
                                    .enumerate()
                                    .map(|(i, day)| model.simulate((first + i) as u64, *day, &mut visits))
                                    .collect();
                                // Built here, in parallel, so that the serial writer only encodes.
                                Wave {
                                    patients: patients_batch(&patients, start_epoch_day),
                                    visits: visits_batch(&visits, start_epoch_day),
                                }
                            })
                            .collect()
                    });
                    // The writer has stopped (an error): nothing more to do.
                    if waves.send(results).is_err() {
                        return;
                    }
                }
            });
            for results in written.iter() {
                for Wave { patients, visits } in results {
                    part_visits += visits.num_rows() as u64;
                    progress.advance(patients.num_rows() as u64);
                    patients_out.write(patients)?;
                    visits_out.write(visits)?;
                }
            }
            Ok(())
        })?;
        if cancel.is_cancelled() {
            return Err(RunError::Cancelled);
        }
        patients_out.close()?;
        visits_out.close()?;
        for path in [files.patients_dir.join(&name), files.visits_dir.join(&name)] {
            cohort_store::fsutil::sync_file(&path)?;
        }
        checkpoint.parts_done.insert(part);
        checkpoint.patients += part_days.len() as u64;
        checkpoint.visits += part_visits;
        let json = serde_json::to_vec_pretty(&checkpoint).expect("a checkpoint serialises");
        cohort_store::fsutil::write_atomic(files.checkpoint, &json)?;
        (files.after_part)(&name)?;
        cohort_store::failpoint::hit("simulate.after_part");
    }
    progress.finish();
    Ok(RunOutcome {
        patients: checkpoint.patients,
        visits: checkpoint.visits,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// Which parts a process simulates: all, or every `count`-th part starting at `index` (0-based).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Shard {
    /// This shard, from 0.
    pub index: usize,
    /// Shards in all.
    pub count: usize,
}

impl Shard {
    /// The whole run in one process.
    pub const ALL: Shard = Shard { index: 0, count: 1 };

    /// Whether this shard simulates part `part`.
    pub fn owns(&self, part: usize) -> bool {
        part % self.count == self.index
    }

    /// The number of parts of a run of `patients` patients.
    pub fn parts_of(patients: usize) -> usize {
        patients.div_ceil(PART_PATIENTS)
    }
}

/// A Parquet writer fed batches of exactly [`WRITE_BATCH_ROWS`] rows (the last may be shorter).
struct FixedBatches<'p> {
    file: SerializedFileWriter<std::fs::File>,
    factory: ArrowRowGroupWriterFactory,
    schema: SchemaRef,
    /// The row group being written, one writer a column.
    columns: Option<Vec<ArrowColumnWriter>>,
    rows_in_group: usize,
    max_rows: usize,
    pending: Vec<RecordBatch>,
    pending_rows: usize,
    pool: &'p rayon::ThreadPool,
}

impl<'p> FixedBatches<'p> {
    /// Takes over `writer` of `schema` (nothing written yet) to encode its columns in parallel
    /// on `pool`.
    fn new(
        writer: ArrowWriter<std::fs::File>,
        schema: SchemaRef,
        pool: &'p rayon::ThreadPool,
    ) -> Result<Self, RunError> {
        let (file, factory) = writer.into_serialized_writer()?;
        let max_rows = file.properties().max_row_group_row_count().unwrap_or(ROW_GROUP_ROWS);
        Ok(FixedBatches {
            file,
            factory,
            schema,
            columns: None,
            rows_in_group: 0,
            max_rows,
            pending: Vec::new(),
            pending_rows: 0,
            pool,
        })
    }

    fn write(&mut self, batch: RecordBatch) -> Result<(), RunError> {
        self.pending_rows += batch.num_rows();
        self.pending.push(batch);
        if self.pending_rows >= WRITE_BATCH_ROWS {
            let all = concat_batches(&self.pending[0].schema(), &self.pending)?;
            let whole = all.num_rows() / WRITE_BATCH_ROWS * WRITE_BATCH_ROWS;
            let slices: Vec<RecordBatch> =
                (0..whole).step_by(WRITE_BATCH_ROWS).map(|offset| all.slice(offset, WRITE_BATCH_ROWS)).collect();
            self.encode(&slices)?;
            self.pending = vec![all.slice(whole, all.num_rows() - whole)];
            self.pending_rows = all.num_rows() - whole;
        }
        Ok(())
    }

    /// Encodes `batches` (whole write batches, or the last rows) into row groups of `max_rows`,
    /// each column on its own task. A column writer sees the same batches in the same order as
    /// `ArrowWriter` would give it, so the bytes are the same as a serial write's.
    fn encode(&mut self, batches: &[RecordBatch]) -> Result<(), RunError> {
        let mut rest = batches;
        while !rest.is_empty() {
            let mut rows = 0;
            let fitting = rest
                .iter()
                .take_while(|b| {
                    rows += b.num_rows();
                    self.rows_in_group + rows <= self.max_rows
                })
                .count()
                .max(1);
            let (now, later) = rest.split_at(fitting);
            if self.columns.is_none() {
                self.columns = Some(self.factory.create_column_writers(self.file.flushed_row_groups().len())?);
            }
            let columns = self.columns.as_mut().expect("created above");
            let fields = self.schema.fields();
            self.pool.install(|| {
                columns.par_iter_mut().enumerate().try_for_each(|(i, writer)| -> Result<(), RunError> {
                    for batch in now {
                        for leaf in compute_leaves(&fields[i], batch.column(i))? {
                            writer.write(&leaf)?;
                        }
                    }
                    Ok(())
                })
            })?;
            self.rows_in_group += now.iter().map(|b| b.num_rows()).sum::<usize>();
            if self.rows_in_group >= self.max_rows {
                self.flush_group()?;
            }
            rest = later;
        }
        Ok(())
    }

    fn flush_group(&mut self) -> Result<(), RunError> {
        if let Some(columns) = self.columns.take() {
            let mut group = self.file.next_row_group()?;
            for writer in columns {
                writer.close()?.append_to_row_group(&mut group)?;
            }
            group.close()?;
        }
        self.rows_in_group = 0;
        Ok(())
    }

    fn close(mut self) -> Result<(), RunError> {
        if self.pending_rows > 0 {
            let rest = concat_batches(&self.pending[0].schema(), &self.pending)?;
            self.encode(&[rest])?;
        }
        self.flush_group()?;
        self.file.close()?;
        Ok(())
    }
}

fn fs_create(path: &Path) -> std::io::Result<std::fs::File> {
    std::fs::File::create(path)
        .map_err(|e| std::io::Error::new(e.kind(), format!("cannot create `{}`: {e}", path.display())))
}
