//! `cohort analyze`: a plan from a file or from the shorthand, run, and shown as tables (or JSON).

use std::collections::BTreeMap;

use anyhow::{Context as _, bail};
use cohort_analysis::analyze::ask::Understood;
use cohort_analysis::analyze::{self, Analysis, Answer, Coding, Filter, GroupSummary, Output, Plan, Summary, history};
use cohort_store::{Session, Store};

use super::Context;
use crate::ExitStatus;
use crate::cli::AnalyzeArgs;
use crate::ui::{count, print_json, table, when};

pub fn run(ctx: &Context, args: &AnalyzeArgs) -> anyhow::Result<ExitStatus> {
    if args.history {
        return list_history(ctx, args);
    }
    let plan = match args.replay {
        Some(n) => replayed(ctx, n)?,
        None => plan_of(args)?,
    };
    if args.plan {
        return print_plan(ctx, &plan);
    }
    let store = ctx.open_store()?;
    if ctx.global.json {
        let Some(reply) = recorded(ctx, store, plan)? else { return Ok(ExitStatus::Interrupted) };
        println!("{}", reply.json);
    } else {
        let Some(answer) = fresh(ctx, store, plan)? else { return Ok(ExitStatus::Interrupted) };
        show(&answer);
    }
    Ok(ExitStatus::Success)
}

fn print_plan(ctx: &Context, plan: &Plan) -> anyhow::Result<ExitStatus> {
    if ctx.global.json {
        print_json(plan)?;
    } else {
        print!("{}", serde_saphyr::to_string(plan).context("writing the plan as YAML")?);
    }
    Ok(ExitStatus::Success)
}

/// Who runs analyses from this command line, as the history records it.
fn cli_user() -> String {
    format!("cli:{}", std::env::var("USER").unwrap_or_else(|_| "unknown".into()))
}

/// The answer as JSON (from the cache when it has it), recorded; `None` if interrupted.
fn recorded(ctx: &Context, store: Store, plan: Plan) -> anyhow::Result<Option<analyze::Reply>> {
    interruptible(ctx, move || {
        let session = Session::new(&store)?;
        Ok(analyze::run_recorded(&store, &session, &plan, &cli_user())?)
    })
}

/// The answer computed, for showing as tables, recorded; `None` if interrupted.
fn fresh(ctx: &Context, store: Store, plan: Plan) -> anyhow::Result<Option<Answer>> {
    interruptible(ctx, move || {
        let session = Session::new(&store)?;
        Ok(analyze::run_fresh_recorded(&store, &session, &plan, &cli_user())?)
    })
}

/// Runs `work` on its own thread while this one watches for Ctrl-C: an analysis only reads, so
/// it stops at once (`None`) and nothing is left behind, not even a history line.
fn interruptible<T: Send + 'static>(
    ctx: &Context,
    work: impl FnOnce() -> anyhow::Result<T> + Send + 'static,
) -> anyhow::Result<Option<T>> {
    let worker = std::thread::spawn(work);
    while !worker.is_finished() {
        if ctx.cancel.is_cancelled() {
            eprintln!("interrupted: nothing was written");
            return Ok(None);
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    worker.join().map_err(|_| anyhow::anyhow!("the analysis failed unexpectedly"))?.map(Some)
}

fn list_history(ctx: &Context, args: &AnalyzeArgs) -> anyhow::Result<ExitStatus> {
    let store = ctx.open_store()?;
    let name = args.target.as_deref().map(|t| t.split('@').next().unwrap_or(t).to_string());
    let of_dataset = |e: &history::Entry| name.as_ref().is_none_or(|n| analyze::dataset_name(&e.plan.dataset) == n);
    let entries = history::history(&store, args.limit, of_dataset)?;
    if ctx.global.json {
        print_json(&entries)?;
        return Ok(ExitStatus::Success);
    }
    if entries.is_empty() {
        ctx.note("No analyses yet: `cohort analyze DATASET describe COLUMN` runs one.");
        return Ok(ExitStatus::Success);
    }
    let mut out = table(&["#", "when", "by", "dataset", "analysis", "took", "answer"]);
    for (i, e) in entries.iter().enumerate() {
        out.add_row(vec![
            (i + 1).to_string(),
            when(e.at),
            e.by.clone(),
            e.dataset.clone().unwrap_or_else(|| e.plan.dataset.clone()),
            e.plan.analysis.kind().to_string(),
            if e.cached { "cached".to_string() } else { format!("{:.2} s", e.seconds) },
            match (&e.summary, &e.error) {
                (Some(s), _) => s.clone(),
                (None, Some(err)) => format!("failed: {err}"),
                (None, None) => String::new(),
            },
        ]);
    }
    println!("{out}");
    ctx.note("`cohort analyze --replay N` runs entry N again; add --plan to see or save its plan.");
    Ok(ExitStatus::Success)
}

/// The plan of history entry `n` (1 is the newest, counted over the whole store's history).
fn replayed(ctx: &Context, n: usize) -> anyhow::Result<Plan> {
    let store = ctx.open_store()?;
    let entries = history::history(&store, n, |_| true)?;
    match entries.get(n.wrapping_sub(1)) {
        Some(e) => Ok(e.plan.clone()),
        None => bail!(
            "the history has {} entr{}: `cohort analyze --history` lists them",
            entries.len(),
            if entries.len() == 1 { "y" } else { "ies" }
        ),
    }
}

/// `cohort ask`: the question understood as a plan (shown), then run; or the question back.
pub fn ask(
    ctx: &Context,
    dataset: &str,
    question: &str,
    table: Option<&str>,
    unified: bool,
    plan_only: bool,
) -> anyhow::Result<ExitStatus> {
    let store = ctx.open_store()?;
    let session = Session::new(&store)?;
    let understood = if unified {
        analyze::understand_unified(&store, &session, dataset, question)?
    } else {
        analyze::understand(&store, &session, dataset, table, question)?
    };
    let (plan, reading) = match understood {
        Understood::Plan { plan, reading } => (plan, reading),
        Understood::Unsure { question: back, choices } => {
            if ctx.global.json {
                print_json(&Understood::Unsure { question: back.clone(), choices: choices.clone() })?;
            }
            let choices = if choices.is_empty() { String::new() } else { format!(": {}", choices.join(", ")) };
            bail!("{back}{choices}\n(ask again with the column named, or run `cohort analyze` with a plan)");
        }
    };
    if plan_only {
        return print_plan(ctx, &plan);
    }
    drop(session);
    if ctx.global.json {
        let Some(reply) = recorded(ctx, store, plan.clone())? else { return Ok(ExitStatus::Interrupted) };
        let answer: serde_json::Value = serde_json::from_str(&reply.json)?;
        print_json(&serde_json::json!({ "understood": { "plan": plan, "reading": reading }, "answer": answer }))?;
    } else {
        println!("Understood as:");
        for line in &reading {
            println!("  - {line}");
        }
        println!("{}", serde_saphyr::to_string(&plan.analysis).context("writing the plan as YAML")?);
        let Some(answer) = fresh(ctx, store, plan)? else { return Ok(ExitStatus::Interrupted) };
        show(&answer);
    }
    Ok(ExitStatus::Success)
}

const KINDS: &str = "describe, compare, correlate, linear, logistic, survival, cox";

/// The plan the arguments describe: read from a file, or built from the shorthand.
fn plan_of(args: &AnalyzeArgs) -> anyhow::Result<Plan> {
    let target = args.target.clone().expect("clap requires a target without --history or --replay");
    let path = std::path::Path::new(&target);
    let is_file = [".yaml", ".yml", ".json"].iter().any(|e| target.to_ascii_lowercase().ends_with(e));
    if is_file {
        if args.analysis.is_some() {
            bail!("a plan file says everything: give `cohort analyze {}` alone", target);
        }
        let text = std::fs::read_to_string(path).with_context(|| format!("reading the plan {}", path.display()))?;
        let plan: Plan = if target.to_ascii_lowercase().ends_with(".json") {
            serde_json::from_str(&text).with_context(|| format!("{} is not a valid plan", path.display()))?
        } else {
            serde_saphyr::from_str(&text)
                .map_err(|e| anyhow::anyhow!("{} is not a valid plan:\n{e}", path.display()))?
        };
        return Ok(plan);
    }
    let Some(kind) = args.analysis.as_deref() else {
        bail!("say which analysis to run on `{}`: {KINDS} (or give a plan file)", target);
    };
    let vars = &args.variables;
    let one = |what: &str| -> anyhow::Result<String> {
        match vars.as_slice() {
            [v] => Ok(v.clone()),
            [] => bail!("`{kind}` needs {what}: cohort analyze {} {kind} COLUMN ...", target),
            _ => bail!("`{kind}` takes one {what}, not {}", vars.join(", ")),
        }
    };
    let need = |flag: &Option<String>, name: &str| -> anyhow::Result<String> {
        flag.clone().ok_or_else(|| anyhow::anyhow!("`{kind}` needs --{name} COLUMN"))
    };
    let reference = references(&args.reference)?;
    let (event_column, event_value) = match &args.event {
        Some(e) => match e.split_once('=') {
            Some((c, v)) => (Some(c.trim().to_string()), Some(v.trim().to_string())),
            None => (Some(e.clone()), None),
        },
        None => (None, None),
    };
    let analysis = match kind {
        "describe" => {
            if vars.is_empty() {
                bail!("`describe` needs the columns to describe: cohort analyze {} describe age sex", target);
            }
            Analysis::Describe { variables: vars.clone(), by: args.by.clone() }
        }
        "compare" => Analysis::Compare { variable: one("variable")?, by: need(&args.by, "by")? },
        "correlate" => Analysis::Correlate { variables: vars.clone() },
        "linear" => Analysis::Linear { outcome: one("outcome")?, predictors: args.predictors.clone(), reference },
        "logistic" => {
            let outcome = one("outcome")?;
            let (outcome, event) = match outcome.split_once('=') {
                Some((c, v)) => (c.trim().to_string(), Some(v.trim().to_string())),
                None => (outcome, None),
            };
            Analysis::Logistic { outcome, predictors: args.predictors.clone(), event, reference }
        }
        "survival" | "cox" => {
            if !vars.is_empty() {
                bail!("`{kind}` takes its columns as --time and --event, not {}", vars.join(", "));
            }
            let time = need(&args.time, "time")?;
            let event = event_column.ok_or_else(|| anyhow::anyhow!("`{kind}` needs --event COLUMN"))?;
            if kind == "survival" {
                Analysis::Survival { time, event, event_value, by: args.by.clone() }
            } else {
                Analysis::Cox { time, event, event_value, predictors: args.predictors.clone(), reference }
            }
        }
        other => bail!("there is no analysis `{other}`; choose one of {KINDS}"),
    };
    let filters = args.filters.iter().map(|f| parse_filter(f)).collect::<anyhow::Result<_>>()?;
    Ok(Plan {
        dataset: target.clone(),
        table: args.table.clone(),
        filters,
        analysis,
        alpha: args.alpha,
        unified: args.unified,
    })
}

fn references(given: &[String]) -> anyhow::Result<BTreeMap<String, String>> {
    given
        .iter()
        .map(|r| match r.split_once('=') {
            Some((p, l)) => Ok((p.trim().to_string(), l.trim().to_string())),
            None => bail!("--reference {r}: write PREDICTOR=LEVEL, for example --reference stage=I"),
        })
        .collect()
}

/// `COLUMN OP VALUE`: the first operator found splits the column from the value.
fn parse_filter(text: &str) -> anyhow::Result<Filter> {
    let lower = text.to_ascii_lowercase();
    // Word operators need spaces around them; longer symbols are tried before their prefixes.
    for op in [" not in ", " in ", " is not null", " is null", " not null", ">=", "<=", "!=", "<>", "==", "=", "<", ">"]
    {
        let Some(at) = lower.find(op) else { continue };
        let column = text[..at].trim();
        let rest = text[at + op.len()..].trim();
        if column.is_empty() {
            break;
        }
        let op = op.trim();
        let value = match op {
            "is null" | "not null" | "is not null" => {
                if !rest.is_empty() {
                    bail!("--where \"{text}\": nothing may follow `{op}`");
                }
                None
            }
            "in" | "not in" => Some(serde_json::Value::Array(rest.split(',').map(|v| value_of(v.trim())).collect())),
            _ if rest.is_empty() => bail!("--where \"{text}\": the value after `{op}` is missing"),
            _ => Some(value_of(rest)),
        };
        return Ok(Filter { column: column.to_string(), op: op.to_string(), value });
    }
    bail!(
        "--where \"{text}\": write COLUMN OP VALUE, with OP one of = != < <= > >= in, not in, is null, not null \
         (for example --where \"age >= 65\")"
    )
}

/// A filter value: a number when it reads as one, else text (quotes around it are removed).
fn value_of(text: &str) -> serde_json::Value {
    let unquoted = text
        .strip_prefix('\'')
        .and_then(|t| t.strip_suffix('\''))
        .or_else(|| text.strip_prefix('"').and_then(|t| t.strip_suffix('"')));
    if let Some(t) = unquoted {
        return serde_json::Value::String(t.to_string());
    }
    match text.parse::<f64>() {
        Ok(x) if x.is_finite() => {
            serde_json::Number::from_f64(x).map_or_else(|| text.into(), serde_json::Value::Number)
        }
        _ => match text.to_ascii_lowercase().as_str() {
            "true" => serde_json::Value::Bool(true),
            "false" => serde_json::Value::Bool(false),
            _ => serde_json::Value::String(text.to_string()),
        },
    }
}

/// A number with four significant digits (more for large whole parts), `–` when missing.
fn num(x: f64) -> String {
    if !x.is_finite() {
        return if x.is_nan() {
            "–".into()
        } else if x > 0.0 {
            "∞".into()
        } else {
            "-∞".into()
        };
    }
    if x.fract() == 0.0 && x.abs() < 1e15 {
        return format!("{}", x as i64);
    }
    let magnitude = x.abs().log10().floor() as i32;
    let decimals = (3 - magnitude).clamp(0, 8) as usize;
    format!("{x:.decimals$}")
}

/// A p-value as journals print it.
fn p(x: f64) -> String {
    if x.is_nan() {
        "–".into()
    } else if x < 0.001 {
        "<0.001".into()
    } else {
        format!("{x:.3}")
    }
}

fn interval(ci: [f64; 2]) -> String {
    format!("{} to {}", num(ci[0]), num(ci[1]))
}

fn show(answer: &Answer) {
    let plan = &answer.plan;
    let ci_label =
        format!("{}% CI", format!("{:.4}", (1.0 - plan.alpha) * 100.0).trim_end_matches('0').trim_end_matches('.'));
    println!("{} on {} (table {})", answer.plan.analysis.kind(), answer.dataset, answer.table);
    if !plan.filters.is_empty() {
        let filters: Vec<String> = plan
            .filters
            .iter()
            .map(|f| format!("{} {}{}", f.column, f.op, f.value.as_ref().map(|v| format!(" {v}")).unwrap_or_default()))
            .collect();
        println!("Filters: {}", filters.join(" and "));
    }
    let r = &answer.rows;
    let missing: Vec<String> = r.missing.iter().map(|(c, n)| format!("{} missing {c}", count(*n))).collect();
    println!(
        "Rows: {} in the table, {} after filters, {} used{}\n",
        count(r.table),
        count(r.after_filters),
        count(r.used),
        if missing.is_empty() { String::new() } else { format!(" ({})", missing.join(", ")) }
    );
    match &answer.result {
        Output::Describe { variables } => {
            for v in variables {
                println!("{}{}", v.variable, v.label.as_ref().map(|l| format!(" ({l})")).unwrap_or_default());
                println!("{}\n", summaries(&v.groups));
            }
        }
        Output::Compare(c) => {
            println!("{} by {}", c.variable, c.by);
            if let Some(t) = &c.table {
                let mut header = vec![c.variable.as_str()];
                header.extend(t.columns.iter().map(String::as_str));
                let mut out = table(&header);
                for (level, counts) in t.rows.iter().zip(&t.counts) {
                    let mut row = vec![level.clone()];
                    row.extend(counts.iter().map(|n| count(*n)));
                    out.add_row(row);
                }
                println!("{out}\n");
            } else {
                println!("{}\n", summaries(&c.groups));
            }
            let mut tests = table(&["test", "statistic", "df", "p", "effect size"]);
            if let Some(t) = &c.welch_t {
                tests.add_row(vec![
                    format!("Welch's t (difference {}, {ci_label} {})", num(t.difference), interval(t.ci)),
                    num(t.t),
                    num(t.df),
                    p(t.p),
                    format!("d = {}, g = {}", num(t.cohens_d), num(t.hedges_g)),
                ]);
            }
            if let Some(u) = &c.mann_whitney {
                tests.add_row(vec![
                    "Mann-Whitney U".into(),
                    num(u.u),
                    String::new(),
                    p(u.p),
                    format!("r = {}", num(u.rank_biserial)),
                ]);
            }
            if let Some(a) = &c.anova {
                tests.add_row(vec![
                    "one-way ANOVA (F)".into(),
                    num(a.f),
                    format!("{}, {}", num(a.df_between), num(a.df_within)),
                    p(a.p),
                    format!("eta² = {}", num(a.eta_squared)),
                ]);
            }
            if let Some(k) = &c.kruskal_wallis {
                tests.add_row(vec![
                    "Kruskal-Wallis H".into(),
                    num(k.h),
                    num(k.df),
                    p(k.p),
                    format!("epsilon² = {}", num(k.epsilon_squared)),
                ]);
            }
            if let Some(x) = &c.chi_square {
                tests.add_row(vec![
                    format!("chi-square{}", if x.yates { " (Yates)" } else { "" }),
                    num(x.chi2),
                    num(x.df),
                    p(x.p),
                    format!("Cramér's V = {}", num(x.cramers_v)),
                ]);
            }
            if let Some(f) = &c.fisher {
                tests.add_row(vec![
                    "Fisher's exact".into(),
                    String::new(),
                    String::new(),
                    p(f.p),
                    format!("odds ratio = {}", num(f.odds_ratio)),
                ]);
            }
            println!("{tests}\n");
        }
        Output::Correlate { variables, pearson, spearman } => {
            for (name, matrix) in [("Pearson's r", pearson), ("Spearman's rho", spearman)] {
                println!("{name} (p)");
                let mut header = vec![""];
                header.extend(variables.iter().map(String::as_str));
                let mut out = table(&header);
                for (v, row) in variables.iter().zip(matrix) {
                    let mut cells = vec![v.clone()];
                    cells.extend(row.iter().enumerate().map(|(j, c)| {
                        if variables[j] == *v { "1".to_string() } else { format!("{} ({})", num(c.r), p(c.p)) }
                    }));
                    out.add_row(cells);
                }
                println!("{out}\n");
            }
        }
        Output::Linear { coding, fit } => {
            let mut out = table(&["term", "estimate", ci_label.as_str(), "SE", "t", "p"]);
            for t in &fit.terms {
                out.add_row(vec![t.name.clone(), num(t.estimate), interval(t.ci), num(t.se), num(t.statistic), p(t.p)]);
            }
            println!("{out}");
            println!(
                "n = {}, R² = {}, adjusted R² = {}, F = {} (p {}), residual SE = {}\n",
                count(fit.n),
                num(fit.r_squared),
                num(fit.adj_r_squared),
                num(fit.f),
                p(fit.f_p),
                num(fit.sigma)
            );
            print_coding(coding);
        }
        Output::Logistic { coding, event, fit } => {
            let mut out = table(&["term", "odds ratio", ci_label.as_str(), "coefficient", "SE", "z", "p"]);
            for t in &fit.terms {
                let [or, lo, hi] = t.odds_ratio.unwrap_or([f64::NAN; 3]);
                out.add_row(vec![
                    t.name.clone(),
                    num(or),
                    interval([lo, hi]),
                    num(t.estimate),
                    num(t.se),
                    num(t.statistic),
                    p(t.p),
                ]);
            }
            println!("{out}");
            println!(
                "n = {} ({} with {} = {event}), log-likelihood = {}, pseudo R² = {}, likelihood-ratio p {}\n",
                count(fit.n),
                count(fit.events),
                plan_outcome(&answer.plan),
                num(fit.log_likelihood),
                num(fit.pseudo_r_squared),
                p(fit.lr_p)
            );
            print_coding(coding);
        }
        Output::Survival { event: _, at_risk_times, curves, logrank } => {
            let mut out = table(&["group", "subjects", "events", "median survival", ci_label.as_str()]);
            for c in curves {
                let m = &c.estimate.median;
                let shown = |v: Option<f64>| v.map_or("not reached".to_string(), num);
                out.add_row(vec![
                    c.group.clone().unwrap_or_else(|| "all".into()),
                    count(c.estimate.subjects as u64),
                    count(c.estimate.events as u64),
                    shown(m.time),
                    format!("{} to {}", shown(m.lower), shown(m.upper)),
                ]);
            }
            println!("{out}\n");
            println!("Number at risk");
            let mut header = vec!["time".to_string()];
            header.extend(at_risk_times.iter().map(|t| num(*t)));
            let mut risk = table(&header.iter().map(String::as_str).collect::<Vec<_>>());
            for c in curves {
                let mut row = vec![c.group.clone().unwrap_or_else(|| "all".into())];
                row.extend(c.at_risk.iter().map(|n| count(*n as u64)));
                risk.add_row(row);
            }
            println!("{risk}\n");
            if let Some(l) = logrank {
                println!("Log-rank test: chi-square {} on {} df, p {}\n", num(l.statistic), l.df, p(l.p));
            }
        }
        Output::Cox { coding, event, fit } => {
            let mut out =
                table(&["term", "hazard ratio", ci_label.as_str(), "coefficient", "SE", "z", "p", "PH test p"]);
            for c in &fit.coefficients {
                let ph =
                    fit.proportional_hazards.iter().find(|t| t.covariate == c.name).map_or(String::new(), |t| p(t.p));
                out.add_row(vec![
                    c.name.clone(),
                    num(c.hazard_ratio),
                    interval([c.hazard_ratio_lower, c.hazard_ratio_upper]),
                    num(c.coef),
                    num(c.se),
                    num(c.z),
                    p(c.p),
                    ph,
                ]);
            }
            println!("{out}");
            println!(
                "n = {} ({} events, {} = {event}), concordance = {}, likelihood-ratio p {}\n",
                count(fit.subjects as u64),
                count(fit.events as u64),
                match &answer.plan.analysis {
                    Analysis::Cox { event, .. } => event.as_str(),
                    _ => "",
                },
                num(fit.concordance),
                p(fit.likelihood_ratio.p)
            );
            print_coding(coding);
        }
    }
    println!("How this was computed:");
    for m in &answer.method {
        println!("  - {m}");
    }
    println!(
        "  - {} on {}, content {}",
        answer.engine,
        answer.dataset,
        &answer.content_sha256[..12.min(answer.content_sha256.len())]
    );
    for w in &answer.warnings {
        println!("warning: {w}");
    }
}

fn plan_outcome(plan: &Plan) -> &str {
    match &plan.analysis {
        Analysis::Logistic { outcome, .. } | Analysis::Linear { outcome, .. } => outcome,
        _ => "",
    }
}

fn print_coding(coding: &[Coding]) {
    for c in coding {
        println!("{}: reference level {} (each other level compared with it)", c.predictor, c.reference);
    }
    if !coding.is_empty() {
        println!();
    }
}

fn summaries(groups: &[GroupSummary]) -> comfy_table::Table {
    let grouped = groups.iter().any(|g| g.group.is_some());
    match groups.first().map(|g| &g.summary) {
        Some(Summary::Dates { .. }) => {
            let mut out = table(&["group", "n", "missing", "earliest", "median", "latest"]);
            for g in groups {
                if let Summary::Dates { n, missing, earliest, median, latest } = &g.summary {
                    out.add_row(vec![
                        g.group.clone().unwrap_or_else(|| "all".into()),
                        count(*n),
                        count(*missing),
                        earliest.clone(),
                        median.clone(),
                        latest.clone(),
                    ]);
                }
            }
            out
        }
        Some(Summary::Categorical { .. }) => {
            let mut out = table(&["group", "level", "n", "%"]);
            for g in groups {
                if let Summary::Categorical { levels, missing, .. } = &g.summary {
                    let group = g.group.clone().unwrap_or_else(|| "all".into());
                    for l in levels {
                        out.add_row(vec![group.clone(), l.level.clone(), count(l.count), format!("{:.1}", l.percent)]);
                    }
                    if *missing > 0 {
                        out.add_row(vec![group, "(missing)".into(), count(*missing), String::new()]);
                    }
                }
            }
            out
        }
        _ => {
            let mut out = table(&["group", "n", "missing", "mean", "SD", "median", "IQR", "min", "max"]);
            for g in groups {
                if let Summary::Numeric { stats: s, .. } = &g.summary {
                    out.add_row(vec![
                        g.group.clone().unwrap_or_else(|| if grouped { String::new() } else { "all".into() }),
                        count(s.n),
                        count(s.missing),
                        num(s.mean),
                        num(s.sd),
                        num(s.median),
                        format!("{} to {}", num(s.q1), num(s.q3)),
                        num(s.min),
                        num(s.max),
                    ]);
                }
            }
            out
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_read_as_people_write_them() {
        let f = parse_filter("age >= 65").unwrap();
        assert_eq!((f.column.as_str(), f.op.as_str(), f.value), ("age", ">=", Some(serde_json::json!(65.0))));
        let f = parse_filter("arm in A, B").unwrap();
        assert_eq!((f.op.as_str(), f.value), ("in", Some(serde_json::json!(["A", "B"]))));
        let f = parse_filter("stage not null").unwrap();
        assert_eq!((f.column.as_str(), f.op.as_str(), f.value), ("stage", "not null", None));
        let f = parse_filter("site = '007'").unwrap();
        assert_eq!(f.value, Some(serde_json::json!("007")));
        assert!(parse_filter("age").unwrap_err().to_string().contains("COLUMN OP VALUE"));
        assert!(parse_filter("age >=").unwrap_err().to_string().contains("missing"));
    }

    #[test]
    fn numbers_keep_four_significant_digits() {
        assert_eq!(num(0.012345), "0.01235");
        assert_eq!(num(12345.678), "12346");
        assert_eq!(num(1.5), "1.500");
        assert_eq!(num(2.0), "2");
        assert_eq!(p(0.0004), "<0.001");
    }
}
