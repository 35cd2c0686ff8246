//! A run's results in one streaming pass over its Parquet files, for runs whose files hold whole
//! patients in order (as `cohort simulate` writes them): both cohort flows and every visit-based
//! aggregate, from one read of the visit columns they need, instead of a window sort of every
//! visit per flow and a query per aggregate. The SQL definitions elsewhere in this crate are the
//! reference; tests check this pass against them.
//!
//! A patient's category changes only at a visit; each visit adds one to its category from the
//! month it is first seen and takes one from the patient's previous category; prefix sums over
//! months give the counts. Files are scanned in parallel: a file that is out of order, or
//! patients that span files, make the scan decline (`Ok(None)`), and the SQL definition in
//! [`crate::flow`] answers instead.

use std::collections::HashMap;
use std::fs::File;

use arrow::array::{Array, AsArray};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Float64Type, Int32Type, Int64Type};
use cohort_store::{ResolvedVersion, Store, StoreError, TableInfo};
use jiff::civil::Date;
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use rayon::prelude::*;

use crate::burden::{IntervalBin, PerYear};
use crate::discontinuation::{IncidencePoint, StopCount, aalen_johansen};
use crate::flow::{FlowRow, FollowUpRow};
use crate::planning::{
    Activity, Day, KEY_YEARS, KeyFigures, Totals, YearFigures, activity_from_days, key_figures_from,
};
use crate::vision::{DAYS_PER_MONTH, VisionPoint, vision_point};

/// Both flows of a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flows {
    /// By calendar month.
    pub calendar: Vec<FlowRow>,
    /// By month since enrolment.
    pub follow_up: Vec<FollowUpRow>,
}

/// At most this many categories take part in a scan (there are about twenty).
const MAX_CATEGORIES: usize = 64;

/// Changes to category counts on one grid of months: a dense table, month by category.
#[derive(Clone)]
struct Grid {
    first_month: i64,
    cells: Vec<i64>,
}

impl Grid {
    fn new(first_month: i64, months: usize) -> Self {
        Grid { first_month, cells: vec![0; (months + 1) * MAX_CATEGORIES] }
    }

    /// Adds `delta` at `month` (months past the grid's end are dropped: no count reads them).
    fn add(&mut self, month: i64, cat: u16, delta: i64) {
        let row = (month - self.first_month).max(0) as usize;
        if let Some(cell) = self.cells.get_mut(row * MAX_CATEGORIES + cat as usize) {
            *cell += delta;
        }
    }

    fn get(&self, month: i64, cat: usize) -> i64 {
        let row = (month - self.first_month).max(0) as usize;
        self.cells.get(row * MAX_CATEGORIES + cat).copied().unwrap_or(0)
    }
}

/// Everything else the results page counts, gathered in the same pass.
#[derive(Clone, Default)]
struct Tallies {
    /// Stops and first stops by type.
    stops: HashMap<String, (i64, i64)>,
    /// Changes to first-stop events by (month since enrolment, type; none: censored).
    incidence: HashMap<(i64, Option<String>), i64>,
    /// Treatment visits by weeks since the previous visit.
    intervals: HashMap<i64, i64>,
    /// Visits and injections by year of follow-up, of patients followed for the whole year.
    years: HashMap<i64, (i64, i64)>,
    /// Measured vision by (month since enrolment, ever discontinued): count, sum, sum of squares.
    vision: HashMap<(i64, bool), (i64, f64, f64)>,
}

impl Tallies {
    fn merge(&mut self, other: Tallies) {
        for (k, (a, b)) in other.stops {
            let e = self.stops.entry(k).or_default();
            e.0 += a;
            e.1 += b;
        }
        for (k, v) in other.incidence {
            *self.incidence.entry(k).or_default() += v;
        }
        for (k, v) in other.intervals {
            *self.intervals.entry(k).or_default() += v;
        }
        for (k, (a, b)) in other.years {
            let e = self.years.entry(k).or_default();
            e.0 += a;
            e.1 += b;
        }
        for (k, (n, s, ss)) in other.vision {
            let e = self.vision.entry(k).or_default();
            e.0 += n;
            e.1 += s;
            e.2 += ss;
        }
    }
}

/// Clinic activity and the key figures' counts, gathered in the same pass (as
/// [`crate::planning::clinic_activity`] and [`crate::planning::key_figures`] define them).
#[derive(Clone)]
struct Clinic {
    /// By day since the start, up to the horizon.
    days: Vec<Day>,
    /// Changes to the patients under treatment and under monitoring, by day.
    treatment_changes: Vec<i64>,
    monitoring_changes: Vec<i64>,
    visits: i64,
    injections: i64,
    days_in_care: i64,
    /// For each of [`KEY_YEARS`]: patients with a vision change, the sum of the changes, the
    /// injections before the year's day, the patients stopped by then.
    years: [(i64, f64, i64, i64); KEY_YEARS.len()],
}

impl Clinic {
    fn new(horizon_day: i64) -> Clinic {
        let days = horizon_day.max(0) as usize;
        Clinic {
            days: vec![Day::default(); days],
            treatment_changes: vec![0; days],
            monitoring_changes: vec![0; days],
            visits: 0,
            injections: 0,
            days_in_care: 0,
            years: Default::default(),
        }
    }

    /// A patient in care from `start` until `end` (the next visit booked), under monitoring or
    /// treatment; the stocks are running sums of these changes.
    fn spell(&mut self, start: i64, end: i64, monitoring: bool) {
        let changes = if monitoring { &mut self.monitoring_changes } else { &mut self.treatment_changes };
        for (day, delta) in [(start, 1), (end, -1)] {
            if let Some(c) = usize::try_from(day).ok().and_then(|d| changes.get_mut(d)) {
                *c += delta;
            }
        }
    }

    fn merge(&mut self, other: Clinic) {
        for (a, b) in self.days.iter_mut().zip(other.days) {
            a.visits += b.visits;
            a.injections += b.injections;
            a.monitoring_visits += b.monitoring_visits;
        }
        for (a, b) in self.treatment_changes.iter_mut().zip(other.treatment_changes) {
            *a += b;
        }
        for (a, b) in self.monitoring_changes.iter_mut().zip(other.monitoring_changes) {
            *a += b;
        }
        self.visits += other.visits;
        self.injections += other.injections;
        self.days_in_care += other.days_in_care;
        for (a, b) in self.years.iter_mut().zip(other.years) {
            a.0 += b.0;
            a.1 += b.1;
            a.2 += b.2;
            a.3 += b.3;
        }
    }
}

/// Changes to category counts on both grids, with the categories they name, and the tallies.
#[derive(Clone)]
struct Deltas {
    calendar: Grid,
    follow_up: Grid,
    categories: Vec<String>,
    index: HashMap<String, u16>,
    last_visit_day: i64,
    tallies: Tallies,
    clinic: Clinic,
}

impl Deltas {
    fn new(calendar: Grid, follow_up: Grid, clinic: Clinic) -> Self {
        let mut deltas = Deltas {
            calendar,
            follow_up,
            categories: Vec::new(),
            index: HashMap::new(),
            last_visit_day: 0,
            tallies: Tallies::default(),
            clinic,
        };
        deltas.category("Pre-treatment");
        deltas
    }

    /// The category's number, or `None` past [`MAX_CATEGORIES`].
    fn category(&mut self, name: &str) -> Option<u16> {
        if let Some(i) = self.index.get(name) {
            return Some(*i);
        }
        if self.categories.len() >= MAX_CATEGORIES {
            return None;
        }
        let i = self.categories.len() as u16;
        self.categories.push(name.to_string());
        self.index.insert(name.to_string(), i);
        Some(i)
    }

    fn merge(mut self, other: Deltas) -> Option<Deltas> {
        self.last_visit_day = self.last_visit_day.max(other.last_visit_day);
        self.tallies.merge(other.tallies);
        self.clinic.merge(other.clinic);
        for (theirs, name) in other.categories.iter().enumerate() {
            let ours = self.category(name)? as usize;
            for row in 0..other.calendar.cells.len() / MAX_CATEGORIES {
                self.calendar.cells[row * MAX_CATEGORIES + ours] += other.calendar.cells[row * MAX_CATEGORIES + theirs];
            }
            for row in 0..other.follow_up.cells.len() / MAX_CATEGORIES {
                self.follow_up.cells[row * MAX_CATEGORIES + ours] +=
                    other.follow_up.cells[row * MAX_CATEGORIES + theirs];
            }
        }
        Some(self)
    }
}

/// A patient's enrolment, for the pass over visits.
#[derive(Clone, Copy)]
struct Enrolment {
    patient_id: i64,
    day: i64,
    baseline_vision: f64,
}

/// What one pass over a run gives: the flows and every visit-based aggregate of its results.
#[derive(Debug, Clone, PartialEq)]
pub struct Scan {
    /// Both flows.
    pub flows: Flows,
    /// Mean vision by month of follow-up (as [`crate::vision::vision_over_time`]).
    pub vision: Vec<VisionPoint>,
    /// Stops by type (as [`crate::discontinuation::stop_counts`]).
    pub stops: Vec<StopCount>,
    /// Cumulative incidence of first stops (as [`crate::discontinuation::cumulative_incidence`]).
    pub incidence: Vec<IncidencePoint>,
    /// Injections and visits per year of follow-up (as [`crate::burden::per_year`]).
    pub per_year: Vec<PerYear>,
    /// Intervals between treatment visits (as [`crate::burden::intervals`]).
    pub intervals: Vec<IntervalBin>,
    /// Clinic activity (as [`crate::planning::clinic_activity`]).
    pub activity: Activity,
    /// Key figures (as [`crate::planning::key_figures`]).
    pub key_figures: KeyFigures,
}

/// One pass over `run` for the flows and the visit-based aggregates; `None` when its files are
/// not laid out for a streaming pass (the SQL definitions then answer).
pub fn scan_run(
    store: &Store,
    run: &ResolvedVersion,
    start: Date,
    horizon_day: i64,
) -> Result<Option<Scan>, StoreError> {
    let (Some(patients), Some(visits)) = (run.table("patients"), run.table("visits")) else {
        return Ok(None);
    };
    let mut enrolments = Vec::with_capacity(patients.rows as usize);
    for file in &patients.files {
        if !["patient_id", "enrolment_day", "baseline_vision"]
            .iter()
            .all(|c| patients.columns.iter().any(|t| t.name == *c))
        {
            return Ok(None);
        }
        for batch in read(store, &file.path, &["patient_id", "enrolment_day", "baseline_vision"])? {
            let ids = column_i64(&batch, 0)?;
            let days = column_i64(&batch, 1)?;
            let baseline = cast_to(&batch, 2, &DataType::Float64)?;
            let baseline = baseline.as_primitive::<Float64Type>();
            enrolments.extend(ids.iter().zip(days).enumerate().map(|(i, (&patient_id, day))| Enrolment {
                patient_id,
                day,
                baseline_vision: baseline.value(i),
            }));
        }
    }
    if !enrolments.windows(2).all(|w| w[0].patient_id < w[1].patient_id) {
        enrolments.sort_by_key(|e| e.patient_id);
        if enrolments.windows(2).any(|w| w[0].patient_id == w[1].patient_id) {
            return Ok(None);
        }
    }
    // Month numbers (year * 12 + month) by day since the start, for the calendar grid.
    let last_day = horizon_day.max(0) + 1;
    let month_of: Vec<i64> = (0..=last_day)
        .map(|d| {
            let date = start.checked_add(jiff::Span::new().days(d)).unwrap_or(start);
            i64::from(date.year()) * 12 + i64::from(date.month()) - 1
        })
        .collect();
    let month = |day: i64| month_of[day.clamp(0, last_day) as usize];

    // Each visits file is scanned on its own; its patients must not appear in another file.
    let follow_up_months = last_followed_month(horizon_day, 0).max(0) as usize + 1;
    let empty = Deltas::new(
        Grid::new(month(0), (month(last_day) - month(0)) as usize + 1),
        Grid::new(0, follow_up_months),
        Clinic::new(horizon_day),
    );
    // Files are merged as they are scanned, a running total per thread: holding every file's
    // tables until the end would cost memory in proportion to the run.
    type Merged = Option<(Vec<(i64, i64)>, Deltas)>;
    let join = |a: Merged, b: Merged| -> Merged {
        let ((mut ranges, deltas), (theirs, other)) = (a?, b?);
        ranges.extend(theirs);
        Some((ranges, deltas.merge(other)?))
    };
    let merged: Merged = visits
        .files
        .par_iter()
        .map(|file| {
            let part = scan_visits(store, visits, &file.path, &enrolments, &month, horizon_day, empty.clone())?;
            Ok(part.map(|(range, deltas)| (range.into_iter().collect(), deltas)))
        })
        .try_reduce(|| Some((Vec::new(), empty.clone())), |a, b| Ok::<Merged, StoreError>(join(a, b)))?;
    let Some((mut ranges, mut deltas)) = merged else { return Ok(None) };
    ranges.sort();
    if ranges.windows(2).any(|w| w[0].1 >= w[1].0) {
        return Ok(None);
    }

    // Enrolment: every patient starts Pre-treatment in the month of enrolment and at month 0 of
    // follow-up, and leaves the follow-up grid after their last followed month (the scan moved
    // both ends to the category a visit put them in).
    // Every patient is counted censored at the horizon (the scan turned those who stopped into
    // events), and followed for their whole years.
    const PRE: u16 = 0;
    let mut first_month = i64::MAX;
    let mut followed_years: HashMap<i64, i64> = HashMap::new();
    for e in &enrolments {
        let m = month(e.day);
        first_month = first_month.min(m);
        deltas.calendar.add(m, PRE, 1);
        deltas.follow_up.add(0, PRE, 1);
        deltas.follow_up.add(last_followed_month(horizon_day, e.day) + 1, PRE, -1);
        *deltas.tallies.incidence.entry((month_since_enrolment(horizon_day - e.day), None)).or_default() += 1;
        *followed_years.entry(full_years(horizon_day, e.day)).or_default() += 1;
    }
    let tallies = std::mem::take(&mut deltas.tallies);
    let stops: Vec<(String, i64)> = {
        let mut stops: Vec<(String, i64)> = tallies.stops.iter().map(|(k, (n, _))| (k.clone(), *n)).collect();
        stops.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        stops
    };
    let (activity, key_figures) =
        clinic_figures(std::mem::replace(&mut deltas.clinic, Clinic::new(0)), &enrolments, start, horizon_day, stops);
    let mut others = Others::from_tallies(tallies, &followed_years);
    others.activity = Some((activity, key_figures));
    if enrolments.is_empty() {
        return Ok(Some(others.with_flows(Flows { calendar: Vec::new(), follow_up: Vec::new() })));
    }
    let last_month = month(deltas.last_visit_day.max(enrolments.iter().map(|e| e.day).min().unwrap_or(0)));
    let calendar = running_counts(&deltas.calendar, &deltas.categories, first_month..=last_month)
        .into_iter()
        .map(|(m, category, patients)| FlowRow { month_end: month_end(m), category, patients })
        .collect();
    let last_follow_up = enrolments.iter().map(|e| last_followed_month(horizon_day, e.day)).max().unwrap_or(0);
    let follow_up = running_counts(&deltas.follow_up, &deltas.categories, 0..=last_follow_up)
        .into_iter()
        .map(|(month, category, patients)| FollowUpRow { month, category, patients })
        .collect();
    Ok(Some(others.with_flows(Flows { calendar, follow_up })))
}

/// Clinic activity and the key figures from the pass's counts, the patients table's enrolments
/// and the stops by type.
fn clinic_figures(
    mut clinic: Clinic,
    enrolments: &[Enrolment],
    start: Date,
    horizon_day: i64,
    stops: Vec<(String, i64)>,
) -> (Activity, KeyFigures) {
    for e in enrolments {
        if let Some(day) = usize::try_from(e.day).ok().and_then(|d| clinic.days.get_mut(d)) {
            day.new_patients += 1;
        }
    }
    let (mut treatment, mut monitoring) = (0, 0);
    for (i, day) in clinic.days.iter_mut().enumerate() {
        treatment += clinic.treatment_changes[i];
        monitoring += clinic.monitoring_changes[i];
        day.under_treatment = treatment;
        day.under_monitoring = monitoring;
    }
    let activity = activity_from_days(&clinic.days, start);
    let years = KEY_YEARS
        .iter()
        .zip(clinic.years)
        .map(|(&k, (with_vision, change, injections, stopped))| {
            let patients = enrolments.iter().filter(|e| followed_to_year(e.day, k, horizon_day)).count() as i64;
            let share = |n: f64| (patients > 0).then(|| n / patients as f64);
            YearFigures {
                year: k,
                patients,
                with_vision,
                vision_change: (with_vision > 0).then(|| change / with_vision as f64),
                injections: share(injections as f64),
                discontinued: share(stopped as f64),
            }
        })
        .collect();
    let totals = Totals {
        patients: enrolments.len() as i64,
        visits: clinic.visits,
        injections: clinic.injections,
        days_in_care: clinic.days_in_care as f64,
    };
    (activity, key_figures_from(totals, stops, years))
}

/// Whether a patient enrolled on `enrolled` is followed to day 365·k + 65 of follow-up, as the
/// year-k figures require.
fn followed_to_year(enrolled: i64, k: i64, horizon_day: i64) -> bool {
    enrolled + 365 * k + 65 <= horizon_day
}

/// The aggregates other than the flows, in the shapes (and orders) the SQL gives.
struct Others {
    vision: Vec<VisionPoint>,
    stops: Vec<StopCount>,
    incidence: Vec<IncidencePoint>,
    per_year: Vec<PerYear>,
    intervals: Vec<IntervalBin>,
    activity: Option<(Activity, KeyFigures)>,
}

impl Others {
    fn from_tallies(t: Tallies, followed_years: &HashMap<i64, i64>) -> Others {
        let mut stops: Vec<StopCount> =
            t.stops.into_iter().map(|(kind, (stops, first_stops))| StopCount { kind, stops, first_stops }).collect();
        stops.sort_by(|a, b| b.stops.cmp(&a.stops).then_with(|| a.kind.cmp(&b.kind)));

        let mut events: Vec<(i64, Option<String>, i64)> =
            t.incidence.into_iter().filter(|(_, n)| *n != 0).map(|((m, kind), n)| (m, kind, n)).collect();
        events.sort();
        let incidence = aalen_johansen(&events);

        let max_years = followed_years.keys().copied().max().unwrap_or(0);
        let per_year = (1..=max_years)
            .filter_map(|year| {
                let patients: i64 = followed_years.iter().filter(|(y, _)| **y >= year).map(|(_, n)| n).sum();
                let (visits, injections) = t.years.get(&year).copied().unwrap_or((0, 0));
                (patients > 0).then(|| PerYear {
                    year,
                    patients,
                    injections: injections as f64 / patients as f64,
                    visits: visits as f64 / patients as f64,
                })
            })
            .collect();

        let mut intervals: Vec<IntervalBin> =
            t.intervals.into_iter().map(|(weeks, visits)| IntervalBin { weeks, visits }).collect();
        intervals.sort_by_key(|b| b.weeks);

        let mut sums: std::collections::BTreeMap<(&str, i64), (i64, f64, f64)> = Default::default();
        for ((month, discontinued), (n, s, ss)) in t.vision {
            let group = if discontinued { "Discontinued" } else { "Never discontinued" };
            for key in [(group, month), ("All", month)] {
                let e = sums.entry(key).or_default();
                e.0 += n;
                e.1 += s;
                e.2 += ss;
            }
        }
        let vision = sums
            .into_iter()
            .map(|((group, month), (n, sum, squares))| vision_point(group, month, n, sum, squares))
            .collect();
        Others { vision, stops, incidence, per_year, intervals, activity: None }
    }

    fn with_flows(self, flows: Flows) -> Scan {
        let Others { vision, stops, incidence, per_year, intervals, activity } = self;
        let (activity, key_figures) = activity.expect("clinic figures are set before the flows");
        Scan { flows, vision, stops, incidence, per_year, intervals, activity, key_figures }
    }
}

/// The last month since enrolment at which a patient enrolled on `enrolment_day` is still
/// followed: the largest m with `enrolment_day + round(m * DAYS_PER_MONTH) < horizon_day`.
fn last_followed_month(horizon_day: i64, enrolment_day: i64) -> i64 {
    (((horizon_day - enrolment_day) as f64 - 0.5) / DAYS_PER_MONTH).ceil() as i64 - 1
}

/// Whole years of follow-up a patient enrolled on `enrolment_day` has before the horizon.
fn full_years(horizon_day: i64, enrolment_day: i64) -> i64 {
    ((horizon_day - enrolment_day) as f64 / 365.25).floor() as i64
}

/// The whole month since enrolment that `days_since_enrolment` falls in.
fn month_since_enrolment(days_since_enrolment: i64) -> i64 {
    (days_since_enrolment as f64 / DAYS_PER_MONTH).floor() as i64
}

/// The first month since enrolment whose day is on or after `days_since_enrolment`.
fn follow_up_month(days_since_enrolment: i64) -> i64 {
    ((days_since_enrolment as f64 - 0.5) / DAYS_PER_MONTH).ceil().max(0.0) as i64
}

/// `YYYY-MM-DD` of the last day of month number `m` (year * 12 + month - 1).
fn month_end(m: i64) -> String {
    let (year, month) = ((m / 12) as i16, (m % 12 + 1) as i8);
    let first = jiff::civil::date(year, month, 1);
    first.last_of_month().to_string()
}

/// Prefix sums of `deltas` over `months` for every category, keeping non-zero counts, ordered by
/// month and then category name.
fn running_counts(
    deltas: &Grid,
    categories: &[String],
    months: std::ops::RangeInclusive<i64>,
) -> Vec<(i64, String, i64)> {
    let mut order: Vec<usize> = (0..categories.len()).collect();
    order.sort_by(|a, b| categories[*a].cmp(&categories[*b]));
    let mut running = vec![0i64; categories.len()];
    let mut out = Vec::new();
    // Changes before the first month shown still count towards it.
    for m in deltas.first_month..*months.start() {
        for (cat, total) in running.iter_mut().enumerate() {
            *total += deltas.get(m, cat);
        }
    }
    for m in months {
        for (cat, total) in running.iter_mut().enumerate() {
            *total += deltas.get(m, cat);
        }
        for &cat in &order {
            if running[cat] != 0 {
                out.push((m, categories[cat].clone(), running[cat]));
            }
        }
    }
    out
}

/// What the scan of one visits file found: its first and last patient id (none when it is
/// empty) and the category changes of its patients.
type Scanned = (Option<(i64, i64)>, Deltas);

/// The patient being scanned.
struct Current {
    id: i64,
    enrolled: i64,
    last_month: i64,
    visit_number: i32,
    last_stop: Option<String>,
    /// The category in force on the calendar and on the follow-up grid, once a visit set it.
    in_force: [Option<u16>; 2],
    /// Whole years of follow-up before the horizon.
    full_years: i64,
    /// The month of follow-up at which the patient is censored if they never stop.
    censor_month: i64,
    /// The first stop: month since enrolment and type.
    first_stop: Option<(i64, String)>,
    /// Measured vision by month since enrolment, until the patient's status is known.
    vision: Vec<(i64, f64)>,
    /// The time in care since the last visit that booked another, until the next visit says
    /// whether it is monitoring: start and end day.
    spell: Option<(i64, i64)>,
    baseline_vision: f64,
    /// For each of [`KEY_YEARS`] the patient is followed for: the measured vision nearest the
    /// year's day (distance in days, change from baseline), injections before it, and whether
    /// treatment had stopped before it.
    years: [Option<YearState>; KEY_YEARS.len()],
}

/// A patient's progress towards one year's figures.
#[derive(Clone, Copy, Default)]
struct YearState {
    nearest: Option<(i64, f64)>,
    injections: i64,
    stopped: bool,
}

impl Current {
    /// The patient's scan is over: on the follow-up grid they leave after their last followed
    /// month in the category then in force. The patients table counted them leaving as
    /// Pre-treatment; a visit changed that.
    fn finish(&mut self, deltas: &mut Deltas) {
        if let Some(cat) = self.in_force[1] {
            deltas.follow_up.add(self.last_month + 1, cat, -1);
            deltas.follow_up.add(self.last_month + 1, 0, 1);
        }
        let tallies = &mut deltas.tallies;
        // The patients table counted every patient censored; one who stopped is an event instead.
        if let Some((month, kind)) = self.first_stop.take() {
            *tallies.incidence.entry((self.censor_month, None)).or_default() -= 1;
            *tallies.incidence.entry((month, Some(kind))).or_default() += 1;
        }
        let discontinued = self.last_stop.is_some();
        for (month, vision) in self.vision.drain(..) {
            let e = tallies.vision.entry((month, discontinued)).or_default();
            e.0 += 1;
            e.1 += vision;
            e.2 += vision * vision;
        }
        // A last booked visit that never came (past the horizon) was not a monitoring visit.
        if let Some((start, end)) = self.spell.take() {
            deltas.clinic.spell(start, end, false);
        }
        for (year, state) in deltas.clinic.years.iter_mut().zip(&mut self.years) {
            if let Some(state) = state.take() {
                if let Some((_, change)) = state.nearest {
                    year.0 += 1;
                    year.1 += change;
                }
                year.2 += state.injections;
                year.3 += i64::from(state.stopped);
            }
        }
    }
}

/// Scans one visits file for its patients' category changes; `None` when the file is not in
/// patient and visit order, or names a patient the patients table lacks.
fn scan_visits(
    store: &Store,
    table: &TableInfo,
    path: &str,
    enrolments: &[Enrolment],
    month: &(impl Fn(i64) -> i64 + Sync),
    horizon_day: i64,
    mut deltas: Deltas,
) -> Result<Option<Scanned>, StoreError> {
    let columns = [
        "patient_id",
        "visit_number",
        "day",
        "phase",
        "is_discontinuation_visit",
        "next_interval_days",
        "treatment_state",
        "discontinuation_type",
        "interval_days",
        "injected",
        "vision",
    ];
    if columns.iter().any(|c| !table.columns.iter().any(|t| t.name == *c)) {
        return Ok(None);
    }
    let pre = 0u16;
    let mut range: Option<(i64, i64)> = None;
    let mut current: Option<Current> = None;
    for batch in read(store, path, &columns)? {
        let ids = column_i64(&batch, 0)?;
        let numbers = cast_to(&batch, 1, &DataType::Int32)?;
        let numbers = numbers.as_primitive::<Int32Type>();
        let days = column_i64(&batch, 2)?;
        let phase = cast_to(&batch, 3, &DataType::Utf8)?;
        let phase = phase.as_string::<i32>();
        let stopping = cast_to(&batch, 4, &DataType::Boolean)?;
        let stopping = stopping.as_boolean();
        let next = cast_to(&batch, 5, &DataType::Int32)?;
        let next = next.as_primitive::<Int32Type>();
        let state = cast_to(&batch, 6, &DataType::Utf8)?;
        let state = state.as_string::<i32>();
        let stop = cast_to(&batch, 7, &DataType::Utf8)?;
        let stop = stop.as_string::<i32>();
        let interval = cast_to(&batch, 8, &DataType::Int64)?;
        let interval = interval.as_primitive::<Int64Type>();
        let injected = cast_to(&batch, 9, &DataType::Boolean)?;
        let injected = injected.as_boolean();
        let vision = cast_to(&batch, 10, &DataType::Float64)?;
        let vision = vision.as_primitive::<Float64Type>();
        for row in 0..batch.num_rows() {
            let (id, number, day) = (ids[row], numbers.value(row), days[row]);
            match &mut current {
                Some(c) if c.id == id => {
                    if number <= c.visit_number {
                        return Ok(None);
                    }
                    c.visit_number = number;
                }
                Some(c) if c.id > id => return Ok(None),
                _ => {
                    if let Some(done) = &mut current {
                        done.finish(&mut deltas);
                    }
                    let Ok(i) = enrolments.binary_search_by_key(&id, |e| e.patient_id) else { return Ok(None) };
                    let enrolled = enrolments[i].day;
                    let followed = |k: i64| followed_to_year(enrolled, k, horizon_day).then(YearState::default);
                    current = Some(Current {
                        id,
                        enrolled,
                        last_month: last_followed_month(horizon_day, enrolled),
                        visit_number: number,
                        last_stop: None,
                        in_force: [None, None],
                        full_years: full_years(horizon_day, enrolled),
                        censor_month: month_since_enrolment(horizon_day - enrolled),
                        first_stop: None,
                        vision: Vec::new(),
                        spell: None,
                        baseline_vision: enrolments[i].baseline_vision,
                        years: KEY_YEARS.map(followed),
                    });
                    range = Some(range.map_or((id, id), |(lo, _)| (lo, id)));
                }
            }
            let c = current.as_mut().expect("set above");
            deltas.last_visit_day = deltas.last_visit_day.max(day);
            let since = day - c.enrolled;
            let tallies = &mut deltas.tallies;
            if stopping.value(row) && stop.is_valid(row) {
                let kind = stop.value(row);
                let first = c.first_stop.is_none();
                let e = tallies.stops.entry(kind.to_string()).or_default();
                e.0 += 1;
                if first {
                    e.1 += 1;
                    c.first_stop = Some((month_since_enrolment(since), kind.to_string()));
                }
            }
            if stop.is_valid(row) {
                c.last_stop = Some(stop.value(row).to_string());
            }
            let monitoring = phase.value(row) == "monitoring";
            if !monitoring && interval.is_valid(row) {
                *tallies.intervals.entry(interval.value(row).div_euclid(7)).or_default() += 1;
            }
            let year = (since as f64 / 365.25).floor() as i64 + 1;
            if year <= c.full_years {
                let e = tallies.years.entry(year).or_default();
                e.0 += 1;
                e.1 += i64::from(injected.value(row));
            }
            if vision.is_valid(row) {
                c.vision.push((month_since_enrolment(since), vision.value(row)));
            }
            // Clinic activity: the day's visits, and the spell in care this visit ends and the
            // one it books.
            let clinic = &mut deltas.clinic;
            let is_injected = injected.value(row);
            clinic.visits += 1;
            clinic.injections += i64::from(is_injected);
            if let Some(d) = usize::try_from(day).ok().and_then(|d| clinic.days.get_mut(d)) {
                d.visits += 1;
                d.injections += i64::from(is_injected);
                d.monitoring_visits += i64::from(monitoring);
            }
            if let Some((start, end)) = c.spell.take() {
                clinic.spell(start, end, monitoring);
            }
            if next.is_valid(row) {
                let end = day + i64::from(next.value(row));
                clinic.days_in_care += end.min(horizon_day) - day;
                c.spell = Some((day, end));
            }
            for (k, state) in KEY_YEARS.iter().zip(&mut c.years) {
                let Some(state) = state else { continue };
                let target = 365 * k;
                if since < target {
                    state.injections += i64::from(is_injected);
                    state.stopped |= stopping.value(row);
                }
                let distance = (since - target).abs();
                // Visits come in order: on a tie the earlier one stays.
                if vision.is_valid(row) && distance <= 65 && state.nearest.is_none_or(|(d, _)| distance < d) {
                    state.nearest = Some((distance, vision.value(row) - c.baseline_vision));
                }
            }
            let leaving = monitoring || stopping.value(row);
            // Interned without allocating but for the rare discontinued category.
            let cat = if leaving && next.is_null(row) {
                deltas.category(&format!("Discontinued ({})", c.last_stop.as_deref().unwrap_or("")))
            } else if leaving {
                deltas.category("Monitoring")
            } else {
                deltas.category(state.value(row))
            };
            let Some(cat) = cat else { return Ok(None) };
            // The previous category ends where this one starts; within one month the later
            // visit replaces the earlier one, as the changes telescope.
            let at = month(day);
            deltas.calendar.add(at, c.in_force[0].unwrap_or(pre), -1);
            deltas.calendar.add(at, cat, 1);
            c.in_force[0] = Some(cat);
            let at = follow_up_month(day - c.enrolled);
            if at <= c.last_month {
                deltas.follow_up.add(at, c.in_force[1].unwrap_or(pre), -1);
                deltas.follow_up.add(at, cat, 1);
                c.in_force[1] = Some(cat);
            }
        }
    }
    if let Some(done) = &mut current {
        done.finish(&mut deltas);
    }
    Ok(Some((range, deltas)))
}

fn read(store: &Store, path: &str, columns: &[&str]) -> Result<Vec<arrow::record_batch::RecordBatch>, StoreError> {
    let file = File::open(store.layout().resolve(path))?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(parquet_error(path))?;
    let schema = builder.parquet_schema();
    let indices: Vec<usize> =
        columns.iter().filter_map(|c| (0..schema.num_columns()).find(|i| schema.column(*i).name() == *c)).collect();
    let mask = ProjectionMask::leaves(schema, indices);
    let reader = builder.with_projection(mask).with_batch_size(64 * 1024).build().map_err(parquet_error(path))?;
    let batches =
        reader.collect::<Result<Vec<_>, _>>().map_err(|e| StoreError::Inconsistent(format!("`{path}`: {e}")))?;
    // Projection keeps file order; put the columns in the order asked for.
    batches
        .into_iter()
        .map(|b| {
            let picked: Result<Vec<_>, _> =
                columns.iter().map(|c| b.schema().index_of(c).map(|i| b.column(i).clone())).collect();
            let picked = picked.map_err(|e| StoreError::Inconsistent(format!("`{path}`: {e}")))?;
            let fields: Vec<_> = columns
                .iter()
                .zip(&picked)
                .map(|(c, a)| arrow::datatypes::Field::new(*c, a.data_type().clone(), true))
                .collect();
            arrow::record_batch::RecordBatch::try_new(
                std::sync::Arc::new(arrow::datatypes::Schema::new(fields)),
                picked,
            )
            .map_err(|e| StoreError::Inconsistent(format!("`{path}`: {e}")))
        })
        .collect()
}

fn parquet_error(path: &str) -> impl Fn(parquet::errors::ParquetError) -> StoreError + '_ {
    move |e| StoreError::Inconsistent(format!("reading `{path}`: {e}"))
}

fn cast_to(
    batch: &arrow::record_batch::RecordBatch,
    i: usize,
    to: &DataType,
) -> Result<arrow::array::ArrayRef, StoreError> {
    cast(batch.column(i), to).map_err(|e| StoreError::Inconsistent(format!("column {i}: {e}")))
}

fn column_i64(batch: &arrow::record_batch::RecordBatch, i: usize) -> Result<Vec<i64>, StoreError> {
    let array = cast_to(batch, i, &DataType::Int64)?;
    Ok(array.as_primitive::<Int64Type>().values().to_vec())
}
