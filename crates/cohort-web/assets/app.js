// cohort's pages: a little JavaScript over server-rendered HTML. Every number drawn comes from
// the JSON API (/api/v1), which the server computes from the store; the browser never receives a
// simulation's visit table, only aggregates.
"use strict";

const cohort = (() => {
  const $ = (selector, root = document) => root.querySelector(selector);
  const $$ = (selector, root = document) => Array.from(root.querySelectorAll(selector));

  function el(tag, attributes = {}, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attributes)) {
      if (key === "text") node.textContent = value;
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else if (value !== undefined && value !== null && value !== false) node.setAttribute(key, value);
    }
    for (const child of children) node.append(child);
    return node;
  }

  // The session's CSRF token, which every state-changing request carries (the server compares
  // it with the session's own; the cookie alone proves nothing).
  const csrfToken = () => (document.cookie.split("; ").find((c) => c.startsWith("cohort_csrf=")) || "").slice(12);

  async function api(path, options = {}) {
    const init = { headers: { Accept: "application/json" }, ...options };
    if (options.json !== undefined) {
      init.method = init.method || "POST";
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(options.json);
    }
    if (init.method && init.method !== "GET") init.headers["X-CSRF-Token"] = csrfToken();
    const response = await fetch("/api/v1" + path, init);
    const body = await response.json().catch(() => ({}));
    if (!response.ok) {
      const error = body.error || { message: response.statusText };
      throw new Error(error.message + (error.hint ? " " + error.hint : ""));
    }
    return body;
  }

  const number = (n, digits = 0) =>
    n === null || n === undefined ? "" : Number(n).toLocaleString("en", { maximumFractionDigits: digits, minimumFractionDigits: digits });

  // ---- charts -------------------------------------------------------------------------------

  // Okabe-Ito hues for treatment, warm hues for gaps, greys for stopping: distinguishable with
  // colour-vision deficiencies and in greyscale print.
  const CATEGORY_COLORS = {
    "Pre-treatment": "#e0e0e0",
    "Initial": "#F0E442",
    "Intensive (up to 5 weeks)": "#0072B2",
    "Regular (6-9 weeks)": "#56B4E9",
    "Extended (10-15 weeks)": "#009E73",
    "Maximum extension (16 weeks)": "#8fd1b5",
    "Restarted": "#CC79A7",
    "Gap (17-26 weeks)": "#E69F00",
    "Long gap (27-52 weeks)": "#D55E00",
    "Very long gap (over 52 weeks)": "#8c2d04",
    "Monitoring": "#9e9ac8",
  };
  const STOP_COLORS = {
    death: "#252525",
    poor_vision: "#4d4d4d",
    deterioration: "#6b6b6b",
    stable_treatment_decision: "#8a8a8a",
    no_improvement_decision: "#a3a3a3",
    attrition: "#bababa",
    administrative: "#d0d0d0",
  };
  const SERIES = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000"];
  const CATEGORY_ORDER = Object.keys(CATEGORY_COLORS);

  // A name as people read it: `stable_treatment_decision` is "stable treatment decision".
  const readable = (name) => String(name).replaceAll("_", " ");

  function categoryColor(category) {
    if (CATEGORY_COLORS[category]) return CATEGORY_COLORS[category];
    const stop = /^Discontinued \((.*)\)$/.exec(category);
    return (stop && STOP_COLORS[stop[1]]) || "#999999";
  }

  function categoryRank(category) {
    const i = CATEGORY_ORDER.indexOf(category);
    if (i >= 0) return i;
    const stop = /^Discontinued \((.*)\)$/.exec(category);
    const kinds = Object.keys(STOP_COLORS);
    return CATEGORY_ORDER.length + (stop ? kinds.indexOf(stop[1]) + 1 : kinds.length + 1);
  }

  const CONFIG = {
    responsive: true,
    displaylogo: false,
    toImageButtonOptions: { format: "png", scale: 2 },
    modeBarButtonsToRemove: ["lasso2d", "select2d"],
  };

  function layout(extra = {}) {
    const base = {
      margin: { l: 60, r: 20, t: 30, b: 90 },
      font: { family: "system-ui, sans-serif", size: 13 },
      hovermode: "x unified",
      legend: { orientation: "h", y: -0.3 },
      paper_bgcolor: "#fff",
      plot_bgcolor: "#fff",
      ...extra,
    };
    // On a phone a legend below the plot lands on the x-axis title: it goes above the plot,
    // where it pushes the top margin instead of covering anything.
    if (narrow()) {
      base.legend = { ...(extra.legend || {}), orientation: "h", x: 0, xanchor: "left", y: 1.02, yanchor: "bottom" };
      base.margin = { ...base.margin, r: extra.margin?.r ?? 10, b: 50 };
    }
    return base;
  }

  function plot(id, traces, extraLayout, emptyMessage = "No data for this chart.") {
    const node = document.getElementById(id);
    if (!node) return;
    const hasData = traces.some((t) => (t.y || t.x || []).length > 0);
    if (!hasData) {
      node.replaceChildren(el("p", { class: "empty", text: emptyMessage }));
      node.dataset.state = "empty";
      return;
    }
    return window.Plotly.react(node, traces, layout(extraLayout), CONFIG).then(() => {
      node.dataset.state = "drawn";
      numbers(node, traces, extraLayout);
    });
  }

  // Every chart's numbers one click away: a table of exactly what is drawn (what a screen
  // reader reads) and the same as CSV. Bands and markers without a name are left out.
  function numbers(node, traces, extraLayout = {}) {
    const shown = traces.filter((t) => t.name && t.showlegend !== false && (t.y || t.x));
    if (!shown.length) return;
    const horizontal = shown.every((t) => t.orientation === "h");
    const keyOf = (t) => (horizontal ? t.y : t.x) || [];
    const valueOf = (t) => (horizontal ? t.x : t.y) || [];
    const keys = [];
    const seen = new Set();
    for (const t of shown) for (const k of keyOf(t)) if (!seen.has(String(k))) { seen.add(String(k)); keys.push(k); }
    const columns = shown.map((t) => {
      const values = new Map(keyOf(t).map((k, i) => [String(k), valueOf(t)[i]]));
      return keys.map((k) => values.get(String(k)));
    });
    const axis = (horizontal ? extraLayout.yaxis : extraLayout.xaxis) || {};
    const dated = keys.length && /^\d{4}-\d{2}-\d{2}/.test(String(keys[0]));
    const first = (axis.title && axis.title.text) || (horizontal ? "Category" : dated ? "Date" : "x");
    const header = [first, ...shown.map((t) => t.name)];
    const rows = keys.map((k, i) => [k, ...columns.map((c) => c[i])]);
    const text = (v) => (v === undefined || v === null ? "" : typeof v === "number" && !Number.isInteger(v) ? String(Number(v.toPrecision(6))) : String(v));
    const csvCell = (v) => { const t = v === undefined || v === null ? "" : String(v); return /[",\n]/.test(t) ? `"${t.replaceAll('"', '""')}"` : t; };
    const csv = [header, ...rows].map((r) => r.map(csvCell).join(",")).join("\n") + "\n";
    const id = node.id + "-numbers";
    let box = document.getElementById(id);
    if (!box) {
      box = el("details", { id, class: "numbers" });
      node.after(box);
      node.setAttribute("aria-describedby", id);
    }
    const link = el("a", { href: URL.createObjectURL(new Blob([csv], { type: "text/csv" })), download: `${node.id.replace(/^chart-/, "")}.csv`, text: "Download as CSV" });
    box.replaceChildren(
      el("summary", { text: `The numbers (${rows.length.toLocaleString("en")} rows)` }),
      link,
      el("div", { class: "scroll" }, el("table", { class: "list" },
        el("thead", {}, el("tr", {}, ...header.map((h) => el("th", { scope: "col", text: h })))),
        el("tbody", {}, ...rows.map((r) => el("tr", {}, ...r.map((v, i) => el("td", { class: i > 0 ? "num" : null, text: text(v) }))))))));
  }

  // The cohort flow: treatment states stacked from zero, so that the axis reads in patients and
  // the top edge is everyone enrolled by then. (A centred streamgraph, as APE draws it, has no
  // axis a reader can take a number from.)
  function flowTraces(rows, xKey) {
    const xs = [...new Set(rows.map((r) => r[xKey]))].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    const index = new Map(xs.map((x, i) => [x, i]));
    const categories = [...new Set(rows.map((r) => r.category))].sort((a, b) => categoryRank(a) - categoryRank(b));
    const values = new Map(categories.map((c) => [c, xs.map(() => 0)]));
    for (const r of rows) values.get(r.category)[index.get(r[xKey])] = r.patients;
    return categories.map((c) => ({
      x: xs,
      y: values.get(c),
      name: readable(c),
      meta: c,
      stackgroup: "flow",
      mode: "lines",
      line: { width: 0.5, color: categoryColor(c) },
      fillcolor: categoryColor(c),
      hovertemplate: "%{y:,} patients<extra>" + readable(c) + "</extra>",
    }));
  }

  // Narrow screens: legends go below the plot, so that they do not squeeze it to nothing.
  const narrow = () => window.innerWidth < 700;

  function drawFlow(results, byFollowUp) {
    const rows = byFollowUp ? results.flow_by_follow_up : results.flow;
    plot("chart-flow", flowTraces(rows, byFollowUp ? "month" : "month_end"), {
      xaxis: { title: { text: byFollowUp ? "Months since enrolment" : "Calendar month" } },
      yaxis: { title: { text: "Patients" }, tickformat: ",~s", rangemode: "tozero" },
      legend: narrow() ? { traceorder: "normal" } : { orientation: "v", x: 1.02, y: 1, traceorder: "normal" },
      margin: narrow() ? { l: 60, r: 10, t: 20, b: 50 } : { l: 70, r: 220, t: 20, b: 50 },
      // On a phone the legend (a row a state) sits above the plot: room for both.
      height: narrow() ? 820 : undefined,
    }, "No patients were enrolled.");
  }

  function bandTraces(points, name, color) {
    const xs = points.map((p) => p.month);
    return [
      { x: xs, y: points.map((p) => p.ci_high), mode: "lines", line: { width: 0 }, showlegend: false, hoverinfo: "skip", name: name + " upper" },
      {
        x: xs,
        y: points.map((p) => p.ci_low),
        mode: "lines",
        line: { width: 0 },
        fill: "tonexty",
        fillcolor: color + "33",
        showlegend: false,
        hoverinfo: "skip",
        name: name + " lower",
      },
      {
        x: xs,
        y: points.map((p) => p.mean),
        mode: "lines",
        line: { color, width: 2 },
        name,
        customdata: points.map((p) => [p.visits, p.ci_low, p.ci_high]),
        hovertemplate: "%{y:.1f} letters (95% CI %{customdata[1]:.1f}-%{customdata[2]:.1f}, %{customdata[0]:,} visits)<extra>" + name + "</extra>",
      },
    ];
  }

  // A month's mean vision stands for the patients seen that month. Where treatment schedules
  // leave a month almost empty (few patients are due in month 2 of treat-and-extend), a handful
  // of unusual visits (monitoring after a stop for poor vision) would stand for everyone: such
  // months, with fewer visits than 5% of the patients, are left out.
  const seenEnough = (r) => (p) => p.visits >= Math.max(5, 0.05 * r.summary.patients);

  // Charts by month of follow-up share one horizon: the longest follow-up the run allows.
  const followUpRange = (results) => [0, Math.floor(results.horizon_day / 30.4375)];

  function drawVision(results) {
    // "All" last, so that it is drawn over the two groups it is made of, not hidden under them.
    const groups = [["Never discontinued", SERIES[1]], ["Discontinued", SERIES[2]], ["All", SERIES[0]]];
    const enough = seenEnough(results);
    const traces = groups.flatMap(([g, color]) => {
      // A month seen by too few stays on the axis as a gap: the line breaks rather than bridge it.
      const points = results.vision.filter((p) => p.group === g)
        .map((p) => (enough(p) ? p : { ...p, mean: null, ci_low: null, ci_high: null }));
      return points.some((p) => p.mean !== null) ? bandTraces(points, g, color) : [];
    });
    const all = traces.find((t) => t.name === "All");
    if (all) all.line.width = 3;
    plot("chart-vision", traces, {
      xaxis: { title: { text: "Months since enrolment" }, range: followUpRange(results) },
      yaxis: { title: { text: "Mean vision (ETDRS letters)" } },
    });
  }

  function drawVisionDistributions(results) {
    const bins = (measure) => results.vision_distributions.filter((b) => b.measure === measure);
    const bars = (measure, name, color, axis) => ({
      type: "bar",
      x: bins(measure).map((b) => b.edge + 2.5),
      y: bins(measure).map((b) => b.patients),
      name,
      marker: { color },
      opacity: 0.75,
      xaxis: axis,
      yaxis: axis === "x2" ? "y2" : "y",
      hovertemplate: "%{x:.0f} ±2.5 letters: %{y:,} patients<extra>" + name + "</extra>",
    });
    plot("chart-vision-dist", [
      bars("baseline", "Baseline", SERIES[0], "x"),
      bars("final", "Last measured", SERIES[1], "x"),
      bars("change", "Change", SERIES[2], "x2"),
    ], {
      barmode: "overlay",
      // Side by side on a screen, one above the other on a phone (their titles collided).
      grid: narrow() ? { rows: 2, columns: 1, pattern: "independent", ygap: 0.5 } : { rows: 1, columns: 2, pattern: "independent" },
      height: narrow() ? 640 : undefined,
      xaxis: { title: { text: "Vision (letters)" } },
      xaxis2: { title: { text: "Change in vision (letters)" } },
      yaxis: { title: { text: "Patients" } },
      yaxis2: { title: { text: narrow() ? "Patients" : "" } },
      hovermode: "closest",
    });
  }

  function drawDiscontinuation(results) {
    const stops = [...results.stops].reverse();
    plot("chart-stops", [
      {
        type: "bar",
        orientation: "h",
        y: stops.map((s) => readable(s.kind)),
        x: stops.map((s) => s.stops),
        name: "All stops",
        marker: { color: stops.map((s) => STOP_COLORS[s.kind] || "#999") },
        hovertemplate: "%{x:,} stops<extra>%{y}</extra>",
      },
    ], { xaxis: { title: { text: "Stops" } }, margin: { l: 190, r: 20, t: 20, b: 50 }, hovermode: "closest", showlegend: false }, "No patient stopped treatment.");
    const kinds = [...new Set(results.incidence.map((p) => p.kind))];
    plot("chart-incidence", kinds.map((k, i) => {
      const points = results.incidence.filter((p) => p.kind === k);
      return {
        x: points.map((p) => p.month),
        y: points.map((p) => p.percent),
        name: readable(k),
        mode: "lines",
        line: { color: SERIES[i % SERIES.length], width: 2, shape: "hv" },
        hovertemplate: "%{y:.1f}%<extra>" + readable(k) + "</extra>",
      };
    }), {
      xaxis: { title: { text: "Months since enrolment" }, range: followUpRange(results) },
      yaxis: { title: { text: "Cumulative incidence (%)" } },
    }, "No patient stopped treatment.");
  }

  function drawBurden(results) {
    const measure = (m) => results.per_patient.filter((p) => p.measure === m);
    plot("chart-per-patient", ["injections", "visits"].map((m, i) => ({
      type: "bar",
      x: measure(m).map((p) => p.count),
      y: measure(m).map((p) => p.patients),
      name: m === "injections" ? "Injections" : "Visits",
      marker: { color: SERIES[i] },
      opacity: 0.8,
      hovertemplate: "%{x} " + m + ": %{y:,} patients<extra></extra>",
    })), { barmode: "group", xaxis: { title: { text: "Per patient, whole follow-up" } }, yaxis: { title: { text: "Patients" } }, hovermode: "closest" });
    plot("chart-per-year", [
      { type: "bar", x: results.per_year.map((y) => "Year " + y.year), y: results.per_year.map((y) => y.injections), name: "Injections", marker: { color: SERIES[0] }, customdata: results.per_year.map((y) => y.patients), hovertemplate: "%{y:.2f} injections (%{customdata:,} patients followed)<extra></extra>" },
      { type: "bar", x: results.per_year.map((y) => "Year " + y.year), y: results.per_year.map((y) => y.visits), name: "Visits", marker: { color: SERIES[1] }, hovertemplate: "%{y:.2f} visits<extra></extra>" },
    ], { barmode: "group", yaxis: { title: { text: "Mean per patient" } } }, "No patient was followed for a whole year.");
    plot("chart-intervals", [
      {
        type: "bar",
        x: results.intervals.map((b) => b.weeks),
        y: results.intervals.map((b) => b.visits),
        name: "Visits",
        marker: { color: SERIES[2] },
        hovertemplate: "%{x} weeks: %{y:,} visits<extra></extra>",
      },
    ], { xaxis: { title: { text: "Weeks since the previous treatment visit" } }, yaxis: { title: { text: "Visits" } }, hovermode: "closest" });
  }

  async function drawPatient(reference, id) {
    const summary = $("#patient-summary");
    try {
      const t = await api(`/simulations/${encodeURIComponent(reference)}/patients/${encodeURIComponent(id)}`);
      const p = t.patient;
      summary.textContent = `Patient ${p.patient_id}: ${p.sex}, ${p.age.toFixed(0)} years, enrolled ${p.enrolment_date}; ` +
        `vision ${p.baseline_vision} letters at baseline, ${p.final_vision} at the last visit; ${plural(p.total_injections, "injection")}` +
        (p.discontinuation_type ? `; stopped (${p.discontinuation_type})` : "") +
        (p.retreatment_count ? `; retreated ${p.retreatment_count}×` : "") + (p.died ? "; died" : "");
      const v = t.visits;
      const injected = v.filter((x) => x.injected);
      const stops = v.filter((x) => x.discontinuation_type);
      plot("chart-patient", [
        // The line starts where the summary does: the baseline measurement, at enrolment.
        {
          x: [p.enrolment_date, ...v.map((x) => x.date)], y: [p.baseline_vision, ...v.map((x) => x.vision)],
          mode: "lines+markers", name: "Vision", line: { color: SERIES[0] },
          customdata: [["baseline", "at enrolment"], ...v.map((x) => [x.phase, x.disease_state])],
          hovertemplate: "%{y} letters, %{customdata[0]}, %{customdata[1]}<extra></extra>",
        },
        { x: injected.map((x) => x.date), y: injected.map((x) => x.vision), mode: "markers", name: "Injection", marker: { symbol: "triangle-down", size: 10, color: SERIES[2] }, hoverinfo: "skip" },
        { x: stops.map((x) => x.date), y: stops.map((x) => x.vision), mode: "markers+text", name: "Stopped", text: stops.map((x) => x.discontinuation_type), textposition: "top center", marker: { symbol: "x", size: 12, color: "#000" }, hoverinfo: "skip" },
      ], { yaxis: { title: { text: "Vision (letters)" }, tickformat: "d", dtick: 5 }, hovermode: "closest" }, "This patient had no visits.");
    } catch (e) {
      summary.textContent = e.message;
      $("#chart-patient").replaceChildren();
    }
  }

  // "1 injection", "3 injections".
  const plural = (n, word) => `${number(n)} ${word}${n === 1 ? "" : "s"}`;

  // A figure with `digits` decimals, or "none".
  const fixed = (v, digits = 2) => (v === null || v === undefined ? "none" : number(v, digits));
  const SHARES = new Set(["discontinued", "death", "poor_vision", "deterioration", "stable_treatment_decision", "no_improvement_decision", "attrition", "administrative"]);
  const shown = (measure, v) => (SHARES.has(measure) ? (v === null || v === undefined ? "none" : (100 * v).toFixed(1) + "%") : fixed(v));
  const words = (s) => s.replaceAll("_", " ");

  // The protocol's evidence kept with the run: each target against what the protocol achieves,
  // and a reference run (APE's engine) beside this engine's.
  function drawValidation(report) {
    const body = $("#validation-body");
    if (!body || !report) return;
    const parts = [];
    if (report.targets && report.targets.length) {
      parts.push(el("p", { text: `${report.protocol}, simulated for ${report.patients.toLocaleString()} patients (seed ${report.seed}) followed for every year counted. Targets: ${report.source}.` }));
      parts.push(table(["Year", "Measure", "Target", "Achieved", "Met"], report.targets.map((t) => [
        String(t.year), words(t.measure), `${shown(t.measure, t.target)} ± ${shown(t.measure, t.tolerance)}`, shown(t.measure, t.achieved), t.met ? "yes" : "NO",
      ]), { id: "validation-targets" }));
    }
    if (report.reference) {
      const r = report.reference;
      parts.push(el("p", { text: `Against ${r.source}: ${r.patients.toLocaleString()} patients, ${r.years} years, seed ${r.seed}, counted as that engine counts.` }));
      parts.push(table(["Figure", "Reference", "This engine", "Within"], r.checks.map((c) => [
        words(c.measure), `${shown(c.measure, c.reference)} ± ${shown(c.measure, c.tolerance)}`, shown(c.measure, c.achieved), c.met ? "yes" : "NO",
      ]), { id: "validation-reference" }));
    }
    if (report.fitted) {
      const f = report.fitted;
      parts.push(el("p", { class: "note", text: `Fitted by cohort simulate calibrate: ${f.evaluations} evaluations of ${f.patients.toLocaleString()} patients, seed ${f.seed}, engine ${f.engine}. How each figure is counted: cohort_sim::outcomes and cohort_sim::reference; docs/validation.md.` }));
    }
    if (parts.length) body.replaceChildren(...parts);
  }

  // Clinic activity by month (or week), the caseload at each period's end, and the level the
  // last year settled at.
  function drawActivity(activity, weekly) {
    if (!activity) return;
    const rows = weekly ? activity.weekly : activity.monthly;
    const unit = weekly ? "week" : "month";
    $("#activity-unit").textContent = unit;
    const x = rows.map((r) => r.start);
    const bar = (key, name, color) => ({ type: "scatter", mode: "lines", x, y: rows.map((r) => r[key]), name, line: { color, shape: "hv" }, hovertemplate: `%{y:,} ${name.toLowerCase()} in the ${unit} from %{x}<extra></extra>` });
    plot("chart-activity", [bar("visits", "Visits", SERIES[0]), bar("injections", "Injections", SERIES[1]), bar("new_patients", "New patients", SERIES[2])], {
      yaxis: { title: { text: `Per ${unit}` }, rangemode: "tozero" },
    }, `The run covers no whole ${unit}.`);
    plot("chart-caseload", [
      { type: "scatter", mode: "lines", x, y: rows.map((r) => r.under_treatment), name: "Under treatment", stackgroup: "care", line: { color: SERIES[0] } },
      { type: "scatter", mode: "lines", x, y: rows.map((r) => r.under_monitoring), name: "Under monitoring", stackgroup: "care", line: { color: SERIES[3] } },
    ], { yaxis: { title: { text: `Patients at the ${unit}'s end` }, rangemode: "tozero" } }, `The run covers no whole ${unit}.`);
    const s = activity.steady_state;
    const box = $("#steady-state");
    if (!s) {
      box.replaceChildren(el("p", { class: "empty", text: "A steady state needs a run of at least two years: the clinic's load is still building up." }));
      return;
    }
    const change = (100 * s.visits_change_per_year).toFixed(1);
    box.replaceChildren(
      el("dl", { class: "figures", id: "steady-figures" },
        el("div", {}, el("dt", { text: "Visits a week (a month)" }), el("dd", { text: `${fixed(s.visits_per_week, 0)} (${fixed(s.visits_per_week * 52 / 12, 0)})` })),
        el("div", {}, el("dt", { text: "Injections a week (a month)" }), el("dd", { text: `${fixed(s.injections_per_week, 0)} (${fixed(s.injections_per_week * 52 / 12, 0)})` })),
        el("div", {}, el("dt", { text: "New patients a week" }), el("dd", { text: fixed(s.new_patients_per_week, 1) })),
        el("div", {}, el("dt", { text: "Under treatment / monitoring" }), el("dd", { text: `${fixed(s.under_treatment, 0)} / ${fixed(s.under_monitoring, 0)}` }))),
      el("p", { text: `Means over the run's last 52 whole weeks (${s.from} to ${s.to}). ` + (s.settled
        ? `Settled: visits changed by ${change}% a year across them.`
        : `Not settled yet: visits still changing by ${change}% a year across them; a longer run shows where they level off.`) }));
  }

  function onPlotly(fn) {
    if (window.Plotly) fn();
    else document.addEventListener("DOMContentLoaded", fn);
  }

  function resultsPage() {
    const results = JSON.parse($("#results-data").textContent);
    const reference = results.version ? `${results.dataset}@${results.version}` : results.dataset;
    onPlotly(() => {
      const toggle = $("#flow-follow-up");
      const params = new URLSearchParams(location.search);
      toggle.checked = params.get("flow") === "follow-up";
      drawFlow(results, toggle.checked);
      toggle.addEventListener("change", () => {
        const p = new URLSearchParams(location.search);
        if (toggle.checked) p.set("flow", "follow-up");
        else p.delete("flow");
        history.replaceState(null, "", "?" + p.toString());
        drawFlow(results, toggle.checked);
      });
      drawValidation(results.validation);
      const weekly = $("#activity-weekly");
      weekly.checked = params.get("activity") === "week";
      drawActivity(results.activity, weekly.checked);
      weekly.addEventListener("change", () => {
        const p = new URLSearchParams(location.search);
        if (weekly.checked) p.set("activity", "week");
        else p.delete("activity");
        history.replaceState(null, "", "?" + p.toString());
        drawActivity(results.activity, weekly.checked);
      });
      drawVision(results);
      drawVisionDistributions(results);
      drawDiscontinuation(results);
      drawBurden(results);
      const form = $("#patient-form");
      const patient = params.get("patient");
      if (patient) form.patient.value = patient;
      form.addEventListener("submit", (event) => {
        event.preventDefault();
        const p = new URLSearchParams(location.search);
        p.set("patient", form.patient.value);
        history.replaceState(null, "", "?" + p.toString());
        drawPatient(reference, form.patient.value);
      });
      drawPatient(reference, form.patient.value);
    });
  }

  // Runs side by side: a row a figure, a column a run.
  function drawKeyFigures(runs, label) {
    const box = $("#cmp-key-figures");
    if (!box) return;
    const k = (r) => r.key_figures;
    const year = (r, n) => k(r).years.find((y) => y.year === n);
    const steady = (r, key) => (r.activity.steady_state ? fixed(r.activity.steady_state[key], 0) : "no steady state");
    const rows = [
      ["Protocol", ...runs.map((r) => r.protocol || "?")],
      ["Patients", ...runs.map((r) => k(r).patients.toLocaleString())],
      ["Visits per patient", ...runs.map((r) => fixed(k(r).visits_per_patient))],
      ["Injections per patient", ...runs.map((r) => fixed(k(r).injections_per_patient))],
      ["Visits per 1,000 patient-years", ...runs.map((r) => fixed(k(r).visits_per_1000_patient_years, 0))],
      ["Injections per 1,000 patient-years", ...runs.map((r) => fixed(k(r).injections_per_1000_patient_years, 0))],
      ["Visits a week, last year", ...runs.map((r) => steady(r, "visits_per_week"))],
      ["Injections a week, last year", ...runs.map((r) => steady(r, "injections_per_week"))],
    ];
    for (const n of [1, 2, 5]) {
      rows.push([`Vision change at year ${n} (letters)`, ...runs.map((r) => { const y = year(r, n); return y && y.patients ? `${fixed(y.vision_change)} (${y.with_vision.toLocaleString()} seen)` : "not followed that long"; })]);
      rows.push([`Injections by year ${n}`, ...runs.map((r) => { const y = year(r, n); return y && y.patients ? fixed(y.injections) : "not followed that long"; })]);
    }
    const kinds = [...new Set(runs.flatMap((r) => k(r).stops_per_1000_patient_years.map(([kind]) => kind)))];
    for (const kind of kinds) {
      rows.push([`Stops for ${words(kind)} per 1,000 patient-years`, ...runs.map((r) => { const hit = k(r).stops_per_1000_patient_years.find(([x]) => x === kind); return hit ? fixed(hit[1], 1) : "0"; })]);
    }
    box.replaceChildren(table(["", ...runs.map(label)], rows, { id: "key-figures" }));
  }

  function comparePage() {
    const data = $("#compare-data");
    if (!data) return;
    const runs = JSON.parse(data.textContent);
    const label = (r) => `${r.dataset}@${r.version}`;
    drawKeyFigures(runs, label);
    onPlotly(() => {
      plot("cmp-activity", runs.flatMap((r, i) => [
        { type: "scatter", mode: "lines", x: r.activity.monthly.map((m) => m.start), y: r.activity.monthly.map((m) => m.visits), name: label(r) + " visits", line: { color: SERIES[i % SERIES.length], shape: "hv" } },
        { type: "scatter", mode: "lines", x: r.activity.monthly.map((m) => m.start), y: r.activity.monthly.map((m) => m.injections), name: label(r) + " injections", line: { color: SERIES[i % SERIES.length], shape: "hv", dash: "dot" } },
      ]), { yaxis: { title: { text: "Per month" }, rangemode: "tozero" } }, "No run covers a whole month.");
      plot("cmp-vision", runs.flatMap((r, i) =>
        bandTraces(r.vision.filter((p) => p.group === "All" && seenEnough(r)(p)), label(r), SERIES[i % SERIES.length])), {
        xaxis: { title: { text: "Months since enrolment" } },
        yaxis: { title: { text: "Mean vision (ETDRS letters)" } },
      });
      plot("cmp-incidence", runs.map((r, i) => {
        const months = [...new Set(r.incidence.map((p) => p.month))].sort((a, b) => a - b);
        const total = months.map((m) => r.incidence.filter((p) => p.month === m).reduce((s, p) => s + p.percent, 0));
        return { x: months, y: total, name: label(r), mode: "lines", line: { color: SERIES[i % SERIES.length], shape: "hv" }, hovertemplate: "%{y:.1f}%<extra>" + label(r) + "</extra>" };
      }), { xaxis: { title: { text: "Months since enrolment" } }, yaxis: { title: { text: "Stopped treatment (%)" } } });
      plot("cmp-per-year", runs.map((r, i) => ({
        type: "bar", x: r.per_year.map((y) => "Year " + y.year), y: r.per_year.map((y) => y.injections), name: label(r),
        marker: { color: SERIES[i % SERIES.length] }, hovertemplate: "%{y:.2f} injections<extra>" + label(r) + "</extra>",
      })), { barmode: "group", yaxis: { title: { text: "Mean injections per patient" } } });
      plot("cmp-intervals", runs.map((r, i) => {
        const total = r.intervals.reduce((s, b) => s + b.visits, 0) || 1;
        return { type: "bar", x: r.intervals.map((b) => b.weeks), y: r.intervals.map((b) => (100 * b.visits) / total), name: label(r), marker: { color: SERIES[i % SERIES.length] }, hovertemplate: "%{x} weeks: %{y:.1f}% of visits<extra>" + label(r) + "</extra>" };
      }), { barmode: "group", xaxis: { title: { text: "Weeks since the previous treatment visit" } }, yaxis: { title: { text: "Share of visits (%)" } }, hovermode: "closest" });
      const flows = $("#cmp-flows");
      runs.forEach((r, i) => {
        const id = "cmp-flow-" + i;
        flows.append(el("div", {}, el("h3", { text: label(r) }), el("div", { class: "chart", id, role: "img", "aria-label": "Cohort flow of " + label(r) })));
        plot(id, flowTraces(r.flow, "month_end"), {
          yaxis: { title: { text: "Patients" }, tickformat: ",~s", rangemode: "tozero" },
          showlegend: i === 0,
          legend: { orientation: "v", x: 1.02, y: 1 },
          margin: { l: 70, r: i === 0 ? 220 : 20, t: 10, b: 40 },
        });
      });
    });
  }

  // ---- dataset page -------------------------------------------------------------------------

  // Each draw takes a number; a draw whose answer arrives after a newer draw began is dropped, so
  // a slow answer for the previous column never replaces the chart of the one chosen since.
  let columnDraws = 0;

  async function drawColumn(select) {
    const column = select.value;
    const draw = ++columnDraws;
    const node = $("#chart-column");
    node.dataset.column = "";
    await drawColumnChart(select, column, () => draw === columnDraws);
    // Tells a reader (and the browser tests) which column the chart now shows.
    if (draw === columnDraws) node.dataset.column = column;
  }

  async function drawColumnChart(select, column, current) {
    const note = $("#column-note");
    const s = await api(`/datasets/${encodeURIComponent(select.dataset.dataset)}/tables/${encodeURIComponent(select.dataset.table)}/columns/${encodeURIComponent(column)}`);
    if (!current()) return;
    const missing = s.missing ? `; ${number(s.missing)} missing` : "";
    const bar = (x, y, extra = {}) => [{ type: "bar", x, y, marker: { color: SERIES[0] }, hovertemplate: "%{x}: %{y:,} rows<extra></extra>", ...extra }];
    if (s.kind === "numeric") {
      note.textContent = `Distribution of ${column}${missing}.`;
      await plot("chart-column", bar(s.bins.map((b) => (b[0] + b[1]) / 2), s.bins.map((b) => b[2]), {
        customdata: s.bins.map((b) => [b[0], b[1]]),
        hovertemplate: "%{customdata[0]:.4~g} to %{customdata[1]:.4~g}: %{y:,} rows<extra></extra>",
      }), { bargap: 0.02, xaxis: { title: { text: column } }, yaxis: { title: { text: "Rows" } }, hovermode: "closest" }, "The column has no values.");
    } else if (s.kind === "temporal") {
      note.textContent = `Rows per month of ${column}${missing}.`;
      await plot("chart-column", bar(s.months.map((m) => m[0]), s.months.map((m) => m[1])), { yaxis: { title: { text: "Rows" } }, hovermode: "closest" }, "The column has no values.");
    } else if (s.kind === "categorical") {
      // The server sends at most 20 values: fewer means these are all of them, and the
      // approximate distinct count would only blur an exact answer.
      note.textContent = s.values.length < 20
        ? `${s.values.length === 1 ? "The only value" : `All ${s.values.length} values`} of ${column}, by rows${missing}.`
        : `The 20 most frequent of about ${number(s.distinct)} values${missing}.`;
      const values = [...s.values].reverse();
      await plot("chart-column", bar(values.map((v) => v[1]), values.map((v) => v[0]), { orientation: "h", hovertemplate: "%{y}: %{x:,} rows<extra></extra>" }),
        { margin: { l: 160, r: 20, t: 20, b: 40 }, xaxis: { title: { text: "Rows" } }, hovermode: "closest" }, "The column has no values.");
    } else {
      note.textContent = `${column} is an identifier: about ${number(s.distinct)} distinct values${missing}; values are not charted.`;
      const node = $("#chart-column");
      node.replaceChildren();
      node.dataset.state = "empty";
    }
  }

  function datasetPage() {
    const select = $("#column-select");
    if (select) {
      const chosen = new URLSearchParams(location.search).get("column");
      const charted = [...select.options].find((o) => o.dataset.role !== "identifier");
      if (chosen) select.value = chosen;
      else if (charted) select.value = charted.value;
      select.addEventListener("change", () => {
        const p = new URLSearchParams(location.search);
        p.set("column", select.value);
        history.replaceState(null, "", "?" + p.toString());
        drawColumn(select);
      });
      onPlotly(() => drawColumn(select));
    }
    const root = $("#rows");
    if (root && root.dataset.table) rowsTable(root, root.dataset.dataset, root.dataset.table);
    for (const button of $$("button[data-rollback]")) {
      button.addEventListener("click", async () => {
        const question = `Make version ${button.dataset.rollback} the current version of ${button.dataset.dataset}? ` +
          "Everyone reading it will see that version; the others stay, and any can be made current again.";
        if (!confirm(question)) return;
        button.disabled = true;
        try {
          await api(`/datasets/${encodeURIComponent(button.dataset.dataset)}/rollback`, { json: { version: Number(button.dataset.rollback) } });
          location.href = `/datasets/${encodeURIComponent(button.dataset.dataset)}`;
        } catch (e) {
          alert(e.message);
          button.disabled = false;
        }
      });
    }
  }

  // A page of a table with sorting, column filters and paging; all of it lives in the URL.
  function rowsTable(root, dataset, table) {
    const base = `/datasets/${encodeURIComponent(dataset)}/tables/${encodeURIComponent(table)}`;
    const state = () => {
      const p = new URLSearchParams(location.search);
      const query = new URLSearchParams();
      for (const [k, v] of p) if (k === "offset" || k === "sort" || k === "order" || k.startsWith("filter.")) query.set(k, v);
      return query;
    };
    const go = (query) => {
      const p = new URLSearchParams(location.search);
      for (const k of [...p.keys()]) if (k === "offset" || k === "sort" || k === "order" || k.startsWith("filter.")) p.delete(k);
      for (const [k, v] of query) if (v !== "") p.set(k, v);
      history.pushState(null, "", "?" + p.toString());
      load();
    };
    async function load() {
      const query = state();
      query.set("limit", "50");
      root.setAttribute("aria-busy", "true");
      let page;
      try {
        page = await api(`${base}/rows?${query}`);
      } catch (e) {
        // A filter that cannot be read says why, with a way back.
        const clear = el("button", { type: "button", text: "Clear the filters", onclick: () => {
          const p = new URLSearchParams(location.search);
          for (const k of [...p.keys()]) if (k.startsWith("filter.")) p.delete(k);
          history.pushState(null, "", "?" + p.toString());
          load();
        } });
        root.replaceChildren(el("p", { class: "error", role: "alert", text: e.message }), clear);
        root.removeAttribute("aria-busy");
        return;
      }
      const sort = query.get("sort");
      const order = query.get("order") || "asc";
      const head = el("tr");
      const filters = el("tr", { class: "filters" });
      for (const column of page.columns) {
        const arrow = sort === column ? (order === "asc" ? " ▲" : " ▼") : "";
        head.append(el("th", { scope: "col" }, el("button", {
          type: "button",
          class: "sort",
          "aria-sort": sort === column ? (order === "asc" ? "ascending" : "descending") : null,
          text: column + arrow,
          onclick: () => {
            const q = state();
            q.set("sort", column);
            q.set("order", sort === column && order === "asc" ? "desc" : "asc");
            q.delete("offset");
            go(q);
          },
        })));
        const type = (page.types || [])[page.columns.indexOf(column)] || "";
        const hint = /INT|DOUBLE|FLOAT|DECIMAL|REAL/.test(type) ? ">5, 60..70" : /DATE|TIMESTAMP/.test(type) ? "2023-10, >2023-01-01" : type === "VARCHAR" ? "contains…" : "equals…";
        const input = el("input", { type: "search", "aria-label": `Filter ${column} (for example ${hint})`, placeholder: hint, value: query.get("filter." + column) || "" });
        input.addEventListener("change", () => {
          const q = state();
          q.set("filter." + column, input.value);
          q.delete("offset");
          go(q);
        });
        filters.append(el("th", {}, input));
      }
      const body = el("tbody");
      for (const row of page.rows) {
        body.append(el("tr", {}, ...page.columns.map((c) => {
          const v = row[c];
          return cell(v);
        })));
      }
      const from = page.total === 0 ? 0 : page.offset + 1;
      const to = Math.min(page.offset + page.limit, page.total);
      const pager = el("div", { class: "pager" },
        el("button", { type: "button", disabled: page.offset === 0, text: "← Previous", onclick: () => { const q = state(); q.set("offset", Math.max(0, page.offset - page.limit)); go(q); } }),
        el("span", { text: ` rows ${number(from)}-${number(to)} of ${number(page.total)} ` }),
        el("button", { type: "button", disabled: to >= page.total, text: "Next →", onclick: () => { const q = state(); q.set("offset", page.offset + page.limit); go(q); } }));
      const download = new URLSearchParams(state());
      download.delete("offset");
      const links = el("p", { class: "downloads" }, "Download this table",
        query.toString().includes("filter.") ? " (filtered)" : "", ": ",
        el("a", { href: `/api/v1${base}/download?${download}&format=csv`, download: "", text: "CSV" }), " · ",
        el("a", { href: `/api/v1${base}/download?${download}&format=parquet`, download: "", text: "Parquet" }), " · ",
        el("a", { href: `/api/v1${base}/download?${download}&format=xlsx`, download: "", text: "Excel" }));
      root.replaceChildren(pager, el("div", { class: "scroll" }, el("table", { class: "list rows" }, el("thead", {}, head, filters), body)), links);
      root.removeAttribute("aria-busy");
    }
    window.addEventListener("popstate", load);
    load();
  }

  // ---- simulate page ------------------------------------------------------------------------

  function request(form) {
    const data = new FormData(form);
    const body = { protocol: data.get("protocol"), years: Number(data.get("years")), seed: Number(data.get("seed")) };
    if (data.get("mode") === "rate") body.per_week = Number(data.get("per_week"));
    else body.patients = Number(data.get("patients"));
    if (data.get("name")) body.name = data.get("name");
    return body;
  }

  const watching = new Map();

  function taskRow(view) {
    const percent = view.total ? Math.min(100, (100 * view.done) / Math.max(view.total, 1)) : view.state === "succeeded" ? 100 : 0;
    const row = el("div", { class: "task task-" + view.state, id: "task-" + view.id, "data-state": view.state },
      el("div", { class: "task-head" },
        el("strong", { text: view.dataset }), ` · ${view.kind} · `, el("span", { class: "state", text: view.state.replace("_", " ") })),
      el("progress", { max: "100", value: String(percent.toFixed(1)), "aria-label": "Progress of " + view.dataset }),
      el("span", { class: "percent", text: `${percent.toFixed(0)}%` }),
      el("span", { class: "detail", text: view.total ? ` ${number(view.done)} of ${number(view.total)} patients` + (view.rate ? `, ${number(view.rate)}/s` : "") : "" }));
    if (view.state === "succeeded") row.append(" ", el("a", { href: `/simulations/${encodeURIComponent(view.dataset)}`, text: "See the results" }));
    if (view.error) row.append(el("div", { class: "error", text: view.error }));
    if (!["succeeded", "failed", "cancelled"].includes(view.state)) {
      row.append(" ", el("button", { type: "button", text: "Cancel", onclick: () => api(`/tasks/${view.id}/cancel`, { method: "POST" }) }));
    }
    return row;
  }

  function showTask(view) {
    const list = $("#tasks");
    $$(".empty", list).forEach((e) => e.remove());
    const row = taskRow(view);
    const old = document.getElementById("task-" + view.id);
    if (old) old.replaceWith(row);
    else list.prepend(row);
    if (["succeeded", "failed", "cancelled"].includes(view.state)) {
      const source = watching.get(view.id);
      if (source) source.close();
      watching.delete(view.id);
      loadInterrupted();
    } else if (!watching.has(view.id)) {
      const source = new EventSource(`/api/v1/tasks/${view.id}/events`);
      source.addEventListener("progress", (event) => showTask(JSON.parse(event.data)));
      watching.set(view.id, source);
    }
  }

  async function loadInterrupted() {
    const node = $("#interrupted");
    if (!node) return;
    const runs = await api("/simulations/interrupted").catch(() => []);
    node.replaceChildren(runs.length === 0
      ? el("p", { class: "empty", text: "None." })
      : el("ul", {}, ...runs.map((r) => el("li", {}, el("strong", { text: r.dataset }), `: ${number(r.patients_done)} patients done `,
        r.running ? "(running)" : el("button", { type: "button", text: "Resume", onclick: () => resume(r.dataset) })))));
  }

  async function resume(dataset) {
    try {
      const view = await api(`/simulations/${encodeURIComponent(dataset)}/resume`, { method: "POST" });
      location.href = "/simulate?task=" + view.id;
    } catch (e) {
      alert(e.message);
    }
  }

  function simulatePage() {
    const form = $("#simulate-form");
    const error = $("#form-error");
    const fail = (e) => { error.textContent = e.message; error.hidden = false; };
    const showProtocol = () => $$("pre.protocol").forEach((p) => (p.hidden = p.dataset.protocol !== form.protocol.value));
    form.protocol.addEventListener("change", showProtocol);
    showProtocol();
    $("#estimate").addEventListener("click", async () => {
      error.hidden = true;
      try {
        const r = await api("/simulations/estimate", { json: request(form) });
        const e = r.estimate;
        $("#estimate-out").textContent = `${r.dataset}: about ${number(e.patients)} patients, ${number(e.visits)} visits, ` +
          `${number(e.bytes / 1e6, 1)} MB, ${number(Math.max(1, e.seconds))} s`;
      } catch (e) { fail(e); }
    });
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      error.hidden = true;
      try {
        const view = await api("/simulations", { json: request(form) });
        history.pushState(null, "", "/simulate?task=" + view.id);
        showTask(view);
      } catch (e) { fail(e); }
    });
    api("/tasks").then((tasks) => {
      if (tasks.length === 0) $("#tasks").replaceChildren(el("p", { class: "empty", text: "No runs started from this server yet." }));
      for (const view of [...tasks].reverse()) showTask(view);
    });
    loadInterrupted();
  }

  // ---- query page --------------------------------------------------------------------------

  // A value in a table cell: a fraction shown to 6 significant digits (20.1180), its exact
  // value on hover and to copy (`title`); nothing stored is changed.
  function cell(v) {
    if (typeof v === "number" && !Number.isInteger(v)) {
      return el("td", { class: "num", title: String(v), text: String(Number(v.toPrecision(6))) });
    }
    return el("td", { class: typeof v === "number" ? "num" : null, text: v === null || v === undefined ? "" : typeof v === "object" ? JSON.stringify(v) : String(v) });
  }

  function dataTable(columns, rows) {
    return el("div", { class: "scroll" }, el("table", { class: "list rows" },
      el("thead", {}, el("tr", {}, ...columns.map((c) => el("th", { scope: "col", text: c })))),
      el("tbody", {}, ...rows.map((row) => el("tr", {}, ...columns.map((c) => {
        const v = row[c];
        return cell(v);
      }))))));
  }

  // The history as the server keeps it, newest first (the run just made included).
  async function showHistory() {
    const runs = await api("/query/history?limit=50").catch(() => null);
    if (!runs) return;
    const when = (t) => t.replace("T", " ").slice(0, 16) + " UTC";
    $("#history-list").replaceChildren(runs.length === 0 ? el("p", { class: "empty", text: "No queries yet." }) :
      el("table", { class: "list", id: "history" },
        el("thead", {}, el("tr", {}, ...["When", "SQL", "Datasets", "Rows", "Seconds"].map((h) => el("th", { text: h })))),
        el("tbody", {}, ...runs.map((h) => el("tr", {},
          el("td", { text: when(h.at) }),
          el("td", {}, el("a", { href: "/query?" + new URLSearchParams({ sql: h.sql }) }, el("code", { text: h.sql })),
            h.error ? el("div", { class: "error", text: h.error }) : ""),
          el("td", { text: h.datasets.join(", ") }),
          el("td", { class: "num", text: h.rows === null ? "" : number(h.rows) }),
          el("td", { class: "num", text: h.seconds.toFixed(2) }))))));
  }

  async function queryPage() {
    const form = $("#query-form");
    form.sql.addEventListener("keydown", (e) => {
      if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) { e.preventDefault(); form.requestSubmit(); }
    });
    const params = new URLSearchParams(location.search);
    const sql = params.get("sql");
    if (!sql) return;
    const offset = Number(params.get("offset") || 0);
    const status = $("#query-status");
    const out = $("#query-result");
    status.textContent = "Running…";
    try {
      const page = await api("/query", { json: { sql, offset, limit: 100 } });
      const to = Math.min(page.offset + page.limit, page.total);
      status.textContent = `${number(page.total)} rows in ${page.seconds.toFixed(2)} s` +
        (page.datasets.length ? ` from ${page.datasets.join(", ")}` : "");
      const move = (delta) => {
        const p = new URLSearchParams(location.search);
        p.set("offset", Math.max(0, page.offset + delta));
        location.search = p.toString();
      };
      out.replaceChildren(
        el("div", { class: "pager" },
          el("button", { type: "button", disabled: page.offset === 0, text: "← Previous", onclick: () => move(-page.limit) }),
          el("span", { text: ` rows ${number(page.total ? page.offset + 1 : 0)}-${number(to)} of ${number(page.total)} ` }),
          el("button", { type: "button", disabled: to >= page.total, text: "Next →", onclick: () => move(page.limit) })),
        dataTable(page.columns, page.rows),
        el("p", { class: "downloads" }, `Download all ${number(page.total)} rows: `,
          ...[["csv", "CSV"], ["parquet", "Parquet"], ["xlsx", "Excel"]].flatMap(([format, label], i) => [
            i ? " · " : "",
            el("a", { href: `/api/v1/query/download?${new URLSearchParams({ sql, format })}`, download: "", text: label }),
          ])));
      out.dataset.state = "done";
    } catch (e) {
      status.textContent = "";
      out.replaceChildren(el("p", { class: "error", role: "alert", text: e.message }));
      out.dataset.state = "error";
    }
    await showHistory();
  }

  // ---- analyze page ------------------------------------------------------------------------

  // Which kinds of column each field takes: checked here before anything is sent.
  const FIELD_KINDS = {
    variables: { describe: ["number", "boolean", "category"], correlate: ["number", "boolean"] },
    variable: ["number", "boolean", "category"],
    outcome: { linear: ["number"], logistic: ["number", "boolean", "category"] },
    time: ["number"],
    event: ["number", "boolean", "category"],
    by: ["boolean", "category", "number"],
    predictors: ["number", "boolean", "category"],
  };
  const FILTER_OPS = ["=", "!=", "<", "<=", ">", ">=", "in", "not in", "is null", "not null"];
  const p3 = (p) => (p === null || p === undefined ? "–" : p < 0.001 ? "<0.001" : p.toFixed(3));
  const sig = (x) => {
    if (x === null || x === undefined || Number.isNaN(x)) return "–";
    if (!Number.isFinite(x)) return x > 0 ? "∞" : "-∞";
    if (Number.isInteger(x)) return number(x);
    const magnitude = Math.floor(Math.log10(Math.abs(x)));
    return x.toFixed(Math.min(8, Math.max(0, 3 - magnitude)));
  };
  const ci = (lo, hi) => `${sig(lo)} to ${sig(hi)}`;
  // The confidence level of the answer shown ("95%" for alpha 0.05), for every interval's label.
  let level = "95%";

  function table(headers, rows, attributes = {}) {
    return el("div", { class: "scroll" }, el("table", { class: "list", ...attributes },
      el("thead", {}, el("tr", {}, ...headers.map((h) => el("th", { scope: "col", text: h })))),
      el("tbody", {}, ...rows.map((r) => el("tr", {}, ...r.map((c) => el("td", { class: typeof c === "number" ? "num" : null, text: typeof c === "number" ? sig(c) : c })))))));
  }

  function chartBox(id, label) {
    return el("div", { class: "chart", id, role: "img", "aria-label": label });
  }

  function analyzePage() {
    const form = $("#analyze-form");
    const dataset = form.dataset.dataset;
    const name = dataset.split("@")[0];
    const version = dataset.includes("@") ? Number(dataset.split("@")[1]) : undefined;
    const options = $("#column-options").content;
    const kindOf = (column) => (options.querySelector(`option[value="${CSS.escape(column)}"]`) || {}).dataset?.kind;
    const fill = (select, keep = []) => {
      for (const o of options.querySelectorAll("option")) select.append(o.cloneNode(true));
      for (const o of select.options) o.selected = keep.includes(o.value);
    };
    for (const id of ["variables", "variable", "outcome", "time", "event", "by", "predictors"]) fill($("#" + id));
    const kind = $("#analysis-kind");
    const showFields = () => {
      for (const label of $$("[data-for]", form)) label.hidden = !label.dataset.for.split(" ").includes(kind.value);
    };
    kind.addEventListener("change", showFields);
    showFields();
    // A coded event or outcome offers its labels as the value that means the event.
    const offerLevels = (select) => {
      const option = options.querySelector(`option[value="${CSS.escape(select.value)}"]`);
      const levels = option && option.dataset.levels ? option.dataset.levels.split("|") : [];
      $("#event-levels").replaceChildren(...levels.map((l) => el("option", { value: l })));
    };
    for (const id of ["event", "outcome"]) $("#" + id).addEventListener("change", (e) => offerLevels(e.target));

    function addFilter(filter = {}) {
      const column = el("select", { "aria-label": "Filter column" });
      fill(column);
      if (filter.column) column.value = filter.column;
      const op = el("select", { "aria-label": "Comparison" }, ...FILTER_OPS.map((o) => el("option", { value: o, text: o })));
      if (filter.op) op.value = filter.op;
      const value = el("input", { type: "text", "aria-label": "Value (several separated by commas for in)", value: filter.value === undefined ? "" : Array.isArray(filter.value) ? filter.value.join(", ") : String(filter.value) });
      const row = el("div", { class: "inline filter" }, column, op, value,
        el("button", { type: "button", text: "Remove", onclick: () => row.remove() }));
      $("#filters").append(row);
    }
    $("#add-filter").addEventListener("click", () => addFilter());

    const typed = (text) => (text !== "" && !Number.isNaN(Number(text)) ? Number(text) : text);
    const selected = (id) => Array.from($("#" + id).selectedOptions).map((o) => o.value);

    // The plan the form describes, or an error saying what to fix.
    function planOf() {
      const k = kind.value;
      const one = (id) => $("#" + id).value;
      const eventValue = $("#event-value").value.trim() || undefined;
      const by = one("by") || undefined;
      const analysis = {
        describe: () => ({ type: "describe", variables: selected("variables"), by }),
        compare: () => ({ type: "compare", variable: one("variable"), by }),
        correlate: () => ({ type: "correlate", variables: selected("variables") }),
        linear: () => ({ type: "linear", outcome: one("outcome"), predictors: selected("predictors") }),
        logistic: () => ({ type: "logistic", outcome: one("outcome"), predictors: selected("predictors"), event: eventValue }),
        survival: () => ({ type: "survival", time: one("time"), event: one("event"), event_value: eventValue, by }),
        cox: () => ({ type: "cox", time: one("time"), event: one("event"), event_value: eventValue, predictors: selected("predictors") }),
      }[k]();
      const problems = [];
      const check = (field, columns) => {
        const allowed = Array.isArray(FIELD_KINDS[field]) ? FIELD_KINDS[field] : FIELD_KINDS[field][k];
        for (const c of columns) if (c && !allowed.includes(kindOf(c))) problems.push(`${field} \`${c}\` is ${kindOf(c)}, but ${k} needs ${allowed.join(" or ")}`);
      };
      if (["describe", "correlate"].includes(k)) {
        if (analysis.variables.length < (k === "correlate" ? 2 : 1)) problems.push(k === "correlate" ? "pick two or more variables" : "pick at least one variable");
        check("variables", analysis.variables);
      }
      if (k === "compare") {
        if (!by) problems.push("choose the column whose groups are compared (Group by)");
        check("variable", [analysis.variable]);
      }
      if (["linear", "logistic"].includes(k)) check("outcome", [analysis.outcome]);
      if (["survival", "cox"].includes(k)) check("time", [analysis.time]);
      if (["linear", "logistic", "cox"].includes(k) && analysis.predictors.length === 0) problems.push("pick at least one predictor");
      const filters = $$("#filters .filter").map((row) => {
        const [column, op, value] = row.querySelectorAll("select, input");
        const f = { column: column.value, op: op.value };
        if (op.value === "in" || op.value === "not in") f.value = value.value.split(",").map((v) => typed(v.trim()));
        else if (!op.value.includes("null")) {
          if (value.value.trim() === "") problems.push(`the filter on \`${column.value}\` needs a value`);
          f.value = typed(value.value.trim());
        }
        return f;
      });
      const unified = form.dataset.unified === "true";
      return { problems, request: { version, table: unified ? undefined : form.dataset.table, unified, filters, analysis } };
    }

    async function run(request) {
      // On a saved cohort's tab every run is of its participants.
      if (form.dataset.cohort) request = { ...request, cohort: form.dataset.cohort };
      const status = $("#analyze-status");
      const out = $("#answer");
      status.textContent = "Running…";
      out.dataset.state = "running";
      let state;
      try {
        const answer = await api(`/datasets/${encodeURIComponent(name)}/analyses`, { json: request });
        status.textContent = "";
        showAnswer(out, answer);
        state = "done";
      } catch (e) {
        status.textContent = "";
        out.replaceChildren(el("p", { class: "error", role: "alert", text: e.message }));
        state = "error";
      }
      // The history lists this run too before the answer counts as shown.
      await showAnalysisHistory(name, run);
      out.dataset.state = state;
    }

    // The form shows the plan a question was understood as, so it can be changed and run again.
    function fillForm(analysis) {
      kind.value = analysis.type;
      showFields();
      const set = (id, value) => { if (value !== undefined && value !== null) $("#" + id).value = value; };
      const setMany = (id, values) => { for (const o of $("#" + id).options) o.selected = (values || []).includes(o.value); };
      setMany("variables", analysis.variables);
      set("variable", analysis.variable);
      set("outcome", analysis.outcome);
      set("time", analysis.time);
      set("event", analysis.event);
      $("#event-value").value = analysis.event_value || (analysis.type === "logistic" && analysis.event) || "";
      $("#by").value = analysis.by || "";
      setMany("predictors", analysis.predictors);
    }

    $("#ask-form")?.addEventListener("submit", async (e) => {
      e.preventDefault();
      const question = $("#question").value.trim();
      const box = $("#understood");
      if (!question) return;
      try {
        const unified = form.dataset.unified === "true";
        const asked = unified ? { question, version, unified } : { question, version, table: form.dataset.table };
        const understood = await api(`/datasets/${encodeURIComponent(name)}/ask`, { json: asked });
        if (understood.outcome === "unsure") {
          box.replaceChildren(el("div", { class: "warnings", role: "alert" }, el("p", { text: understood.question }),
            understood.choices.length ? el("p", { text: "Choices: " + understood.choices.join(", ") }) : ""));
          box.dataset.state = "unsure";
          return;
        }
        box.replaceChildren(el("div", { class: "how" }, el("p", { text: "Understood as:" }),
          el("ul", {}, ...understood.reading.map((r) => el("li", { text: r })))));
        box.dataset.state = "understood";
        fillForm(understood.plan.analysis);
        run({ version, table: understood.plan.table, unified: Boolean(understood.plan.unified), filters: understood.plan.filters || [],
          analysis: understood.plan.analysis });
      } catch (err) {
        box.replaceChildren(el("p", { class: "error", role: "alert", text: err.message }));
        box.dataset.state = "error";
      }
    });

    form.addEventListener("submit", (e) => {
      e.preventDefault();
      const { problems, request } = planOf();
      if (problems.length) {
        $("#answer").replaceChildren(el("div", { class: "error", role: "alert" }, el("p", { text: "Before this can run:" }),
          el("ul", {}, ...problems.map((p) => el("li", { text: p })))));
        $("#answer").dataset.state = "invalid";
        return;
      }
      run(request);
    });
    showAnalysisHistory(name, run);
  }

  async function showAnalysisHistory(name, run) {
    const box = $("#analysis-history");
    const entries = await api(`/datasets/${encodeURIComponent(name)}/analyses?limit=20`).catch(() => null);
    if (!entries) return;
    if (entries.length === 0) {
      box.replaceChildren(el("p", { class: "empty", text: "No analyses of this dataset yet." }));
      return;
    }
    const when = (t) => t.replace("T", " ").slice(0, 16) + " UTC";
    box.replaceChildren(el("div", { class: "scroll" }, el("table", { class: "list", id: "history" },
      el("thead", {}, el("tr", {}, ...["When", "Analysis", "Version", "Answer", ""].map((h) => el("th", { text: h })))),
      el("tbody", {}, ...entries.map((h) => el("tr", {},
        el("td", { text: when(h.at) }),
        el("td", { text: h.plan.analysis.type }),
        el("td", { text: h.dataset || h.plan.dataset }),
        el("td", {}, h.summary ? h.summary : el("span", { class: "error", text: h.error || "" })),
        el("td", {}, el("button", { type: "button", text: "Run again", onclick: () => {
          const [, v] = h.plan.dataset.split("@");
          run({ version: v ? Number(v) : undefined, table: h.plan.table, unified: Boolean(h.plan.unified), filters: h.plan.filters || [], analysis: h.plan.analysis, alpha: h.plan.alpha });
        } }))))))));
  }

  function showAnswer(out, a) {
    level = `${Number(((1 - a.plan.alpha) * 100).toPrecision(4))}%`;
    const r = a.result;
    const rows = a.rows;
    const missing = Object.entries(rows.missing).map(([c, n]) => `${number(n)} missing ${c}`).join(", ");
    const parts = [
      el("h2", { text: a.summary }),
      el("p", { class: "desc", id: "answer-rows", text: `${a.dataset}, table ${a.table}: ${number(rows.table)} rows, ${number(rows.after_filters)} after filters, ${number(rows.used)} used${missing ? ` (${missing})` : ""}.` }),
    ];
    if (a.warnings.length) parts.push(el("div", { class: "warnings", role: "alert" }, el("ul", {}, ...a.warnings.map((w) => el("li", { text: w })))));
    const charts = [];
    const body = el("div", { class: "answer-body" });
    parts.push(body);
    ({ describe: showDescribe, compare: showCompare, correlate: showCorrelate, linear: showModel, logistic: showModel, survival: showSurvival, cox: showModel }[r.type])(body, r, charts, a.plan.analysis);
    parts.push(el("details", { class: "how", open: true, id: "how" },
      el("summary", { text: "How this was computed" }),
      el("ul", {}, ...a.method.map((m) => el("li", { text: m })),
        el("li", { text: `${a.engine} on ${a.dataset}, table ${a.table}, content SHA-256 ${a.content_sha256.slice(0, 16)}…` })),
      table(["Rows", "Count"], [["in the table", number(rows.table)], ["after the filters", number(rows.after_filters)], ["used", number(rows.used)],
        ...Object.entries(rows.missing).map(([c, n]) => [`left out: ${c} missing`, number(n)])], { id: "how-rows" }),
      el("p", { text: "The plan (save it, or run it with cohort analyze PLAN.json):" }),
      el("pre", { class: "plan", id: "how-plan", text: JSON.stringify(a.plan, null, 2) })));
    out.replaceChildren(...parts);
    onPlotly(() => charts.forEach((draw) => draw()));
  }

  const groupName = (g) => (g === null || g === undefined ? "all" : g);

  function showDescribe(body, r, charts) {
    r.variables.forEach((v, i) => {
      body.append(el("h3", { text: v.variable + (v.label ? ` — ${v.label}` : "") }));
      const id = `chart-describe-${i}`;
      if (v.groups[0].kind === "numeric") {
        body.append(table(["Group", "n", "Missing", "Mean", "SD", "Median", "IQR", "Min", "Max"],
          v.groups.map((g) => [groupName(g.group), g.n, g.missing, g.mean, g.sd, g.median, ci(g.q1, g.q3), g.min, g.max])));
        body.append(chartBox(id, `Histogram of ${v.variable}`));
        charts.push(() => plot(id, v.groups.map((g, k) => ({
          type: "bar", name: groupName(g.group), opacity: v.groups.length > 1 ? 0.6 : 1, marker: { color: SERIES[k % SERIES.length] },
          x: g.histogram.map((b) => (b.lower + b.upper) / 2), y: g.histogram.map((b) => b.count), width: g.histogram.map((b) => b.upper - b.lower),
          hovertemplate: "%{y} rows<extra>" + groupName(g.group) + "</extra>",
        })), { barmode: "overlay", xaxis: { title: { text: v.variable } }, yaxis: { title: { text: "rows" } }, hovermode: "closest" }, "No values to draw."));
      } else if (v.groups[0].kind === "dates") {
        body.append(table(["Group", "n", "Missing", "Earliest", "Median", "Latest"],
          v.groups.map((g) => [groupName(g.group), g.n, g.missing, g.earliest, g.median, g.latest])));
      } else {
        body.append(table(["Group", "Level", "n", "%"], v.groups.flatMap((g) => g.levels.map((l) => [groupName(g.group), l.level, l.count, l.percent.toFixed(1)]))));
        body.append(chartBox(id, `Counts of ${v.variable}`));
        charts.push(() => plot(id, v.groups.map((g, k) => ({
          type: "bar", name: groupName(g.group), marker: { color: SERIES[k % SERIES.length] }, x: g.levels.map((l) => l.level), y: g.levels.map((l) => l.count),
        })), { barmode: "group", yaxis: { title: { text: "rows" } }, hovermode: "closest" }, "No values to draw."));
      }
    });
  }

  function showCompare(body, r, charts) {
    const tests = [];
    if (r.welch_t) tests.push([`Welch's t (difference ${sig(r.welch_t.difference)}, ${level} CI ${ci(...r.welch_t.ci)})`, sig(r.welch_t.t), sig(r.welch_t.df), p3(r.welch_t.p), `d = ${sig(r.welch_t.cohens_d)}`]);
    if (r.mann_whitney) tests.push(["Mann-Whitney U", sig(r.mann_whitney.u), "", p3(r.mann_whitney.p), `r = ${sig(r.mann_whitney.rank_biserial)}`]);
    if (r.anova) tests.push(["One-way ANOVA (F)", sig(r.anova.f), `${r.anova.df_between}, ${r.anova.df_within}`, p3(r.anova.p), `eta² = ${sig(r.anova.eta_squared)}`]);
    if (r.kruskal_wallis) tests.push(["Kruskal-Wallis H", sig(r.kruskal_wallis.h), String(r.kruskal_wallis.df), p3(r.kruskal_wallis.p), `epsilon² = ${sig(r.kruskal_wallis.epsilon_squared)}`]);
    if (r.chi_square) tests.push([`Chi-square${r.chi_square.yates ? " (Yates)" : ""}`, sig(r.chi_square.chi2), String(r.chi_square.df), p3(r.chi_square.p), `Cramér's V = ${sig(r.chi_square.cramers_v)}`]);
    if (r.fisher) tests.push(["Fisher's exact", "", "", p3(r.fisher.p), `odds ratio = ${sig(r.fisher.odds_ratio)}`]);
    body.append(table(["Test", "Statistic", "df", "p", "Effect size"], tests, { id: "tests" }));
    if (r.table) {
      body.append(table([r.variable, ...r.table.columns], r.table.rows.map((level, i) => [level, ...r.table.counts[i]]), { id: "contingency" }));
      body.append(chartBox("chart-compare", `Counts of ${r.variable} by ${r.by}`));
      charts.push(() => plot("chart-compare", r.table.columns.map((g, j) => ({
        type: "bar", name: g, marker: { color: SERIES[j % SERIES.length] }, x: r.table.rows, y: r.table.counts.map((row) => row[j]),
      })), { barmode: "group", xaxis: { title: { text: r.variable } }, yaxis: { title: { text: "rows" } }, hovermode: "closest" }));
    } else {
      body.append(table(["Group", "n", "Mean", "SD", "Median", "IQR", "Min", "Max"], r.groups.map((g) => [groupName(g.group), g.n, g.mean, g.sd, g.median, ci(g.q1, g.q3), g.min, g.max])));
      body.append(chartBox("chart-compare", `${r.variable} by ${r.by}: box plots`));
      // Boxes from the summaries (quartiles, whiskers to the range): no row leaves the server.
      charts.push(() => plot("chart-compare", r.groups.map((g, k) => ({
        type: "box", name: groupName(g.group), x: [groupName(g.group)], q1: [g.q1], median: [g.median], q3: [g.q3], lowerfence: [g.min], upperfence: [g.max], mean: [g.mean],
        marker: { color: SERIES[k % SERIES.length] }, boxpoints: false,
      })), { yaxis: { title: { text: r.variable } }, xaxis: { title: { text: r.by } }, hovermode: "closest", showlegend: false }));
    }
  }

  function showCorrelate(body, r, charts) {
    const vs = r.variables;
    body.append(table(["Pair", "n", `Pearson r (${level} CI)`, "p", "Spearman rho", "p"],
      vs.flatMap((x, i) => vs.slice(i + 1).map((y, k) => {
        const j = i + 1 + k, pe = r.pearson[i][j], sp = r.spearman[i][j];
        return [`${x} – ${y}`, pe.n, `${sig(pe.r)} (${ci(...pe.ci)})`, p3(pe.p), sig(sp.r), p3(sp.p)];
      })), { id: "correlations" }));
    body.append(chartBox("chart-correlate", "Heat map of Pearson correlations"));
    charts.push(() => plot("chart-correlate", [{
      type: "heatmap", x: vs, y: vs, z: r.pearson.map((row) => row.map((c) => c.r)), zmin: -1, zmax: 1, colorscale: "RdBu", reversescale: true,
      text: r.pearson.map((row) => row.map((c) => sig(c.r))), texttemplate: "%{text}", hovertemplate: "%{y} – %{x}: r = %{z:.3f}<extra></extra>",
    }], { yaxis: { autorange: "reversed" }, hovermode: "closest", margin: { l: 120, r: 20, t: 20, b: 100 } }));
  }

  function showModel(body, r, charts, plan) {
    const ratio = r.type === "logistic" ? "Odds ratio" : r.type === "cox" ? "Hazard ratio" : null;
    const terms = r.type === "cox"
      ? r.fit.coefficients.map((c) => ({ name: c.name, est: c.coef, se: c.se, stat: c.z, p: c.p, ratio: [c.hazard_ratio, c.hazard_ratio_lower, c.hazard_ratio_upper], ph: (r.fit.proportional_hazards.find((t) => t.covariate === c.name) || {}).p }))
      : r.fit.terms.map((t) => ({ name: t.name, est: t.estimate, se: t.se, stat: t.statistic, p: t.p, ci: t.ci, ratio: t.odds_ratio }));
    const head = ["Term", ...(ratio ? [ratio, `${level} CI`] : ["Estimate", `${level} CI`]), "Coefficient", "SE", r.type === "linear" ? "t" : "z", "p", ...(r.type === "cox" ? ["PH test p"] : [])];
    body.append(table(head, terms.map((t) => [t.name, ...(ratio ? [sig(t.ratio[0]), ci(t.ratio[1], t.ratio[2])] : [sig(t.est), ci(...t.ci)]), sig(t.est), sig(t.se), sig(t.stat), p3(t.p), ...(r.type === "cox" ? [p3(t.ph)] : [])]), { id: "terms" }));
    const fit = r.fit;
    const facts = r.type === "linear" ? `n = ${number(fit.n)}, R² = ${sig(fit.r_squared)}, adjusted R² = ${sig(fit.adj_r_squared)}, F p ${p3(fit.f_p)}`
      : r.type === "logistic" ? `n = ${number(fit.n)}, ${number(fit.events)} with the event (${plan.outcome} = ${r.event}), pseudo R² = ${sig(fit.pseudo_r_squared)}, likelihood-ratio p ${p3(fit.lr_p)}`
        : `n = ${number(fit.subjects)}, ${number(fit.events)} events (${plan.event} = ${r.event}), concordance ${sig(fit.concordance)}, likelihood-ratio p ${p3(fit.likelihood_ratio.p)}`;
    body.append(el("p", { text: facts }));
    for (const c of r.coding || []) body.append(el("p", { class: "desc", text: `${c.predictor}: each level compared with the reference level ${c.reference}.` }));
    // A forest plot: the intercept is not an effect.
    const shown = terms.filter((t) => t.name !== "(intercept)");
    const point = (t) => (ratio ? t.ratio[0] : t.est);
    const low = (t) => (ratio ? t.ratio[1] : t.ci[0]);
    const high = (t) => (ratio ? t.ratio[2] : t.ci[1]);
    body.append(chartBox("chart-forest", `Forest plot of the ${ratio ? ratio.toLowerCase() + "s" : "estimates"}`));
    charts.push(() => plot("chart-forest", [{
      type: "scatter", mode: "markers", x: shown.map(point), y: shown.map((t) => t.name), marker: { color: SERIES[0], size: 9, symbol: "square" },
      error_x: { type: "data", symmetric: false, array: shown.map((t) => high(t) - point(t)), arrayminus: shown.map((t) => point(t) - low(t)), color: SERIES[0] },
      hovertemplate: "%{y}: %{x:.3f}<extra></extra>", name: ratio || "Estimate",
    }], {
      xaxis: { title: { text: ratio ? `${ratio} (${level} CI, log scale)` : `Estimate (${level} CI)` }, type: ratio ? "log" : "linear", zeroline: !ratio, ...(ratio ? ratioTicks(shown.map(low), shown.map(high)) : {}) },
      yaxis: { autorange: "reversed", automargin: true }, hovermode: "closest", showlegend: false,
      shapes: [{ type: "line", x0: ratio ? 1 : 0, x1: ratio ? 1 : 0, yref: "paper", y0: 0, y1: 1, line: { dash: "dot", color: "#777" } }],
    }));
  }

  // Round ratios as tick labels of a log axis (Plotly's own minor ticks read as "5 6 7 8 9 1").
  function ratioTicks(lows, highs) {
    const finite = (xs) => xs.filter((x) => Number.isFinite(x) && x > 0);
    const lo = Math.min(1, ...finite(lows)) / 2, hi = Math.max(1, ...finite(highs)) * 2;
    const ticks = [];
    for (let e = Math.floor(Math.log10(lo)); e <= Math.ceil(Math.log10(hi)); e++) {
      for (const m of [1, 2, 5]) {
        const t = m * 10 ** e;
        if (t >= lo && t <= hi) ticks.push(Number(t.toPrecision(1)));
      }
    }
    return { tickvals: ticks, ticktext: ticks.map(String) };
  }

  function showSurvival(body, r, charts, plan) {
    const shown = (v) => (v === null ? "not reached" : sig(v));
    body.append(table(["Group", "Subjects", "Events", "Median survival", `${level} CI`],
      r.curves.map((c) => [groupName(c.group), c.estimate.subjects, c.estimate.events, shown(c.estimate.median.time), `${shown(c.estimate.median.lower)} to ${shown(c.estimate.median.upper)}`]), { id: "medians" }));
    if (r.logrank) body.append(el("p", { id: "logrank", text: `Log-rank test: chi-square ${sig(r.logrank.statistic)} on ${r.logrank.df} df, p ${p3(r.logrank.p)}` }));
    body.append(chartBox("chart-km", `Kaplan-Meier survival curves with ${level} confidence bands`));
    body.append(el("h3", { text: "Number at risk" }));
    body.append(table(["Group", ...r.at_risk_times.map(sig)], r.curves.map((c) => [groupName(c.group), ...c.at_risk.map((n) => number(n))]), { id: "at-risk" }));
    charts.push(() => plot("chart-km", r.curves.flatMap((c, k) => {
      const color = SERIES[k % SERIES.length];
      const x = c.estimate.steps.map((s) => s.time);
      const name = groupName(c.group);
      return [
        { x, y: c.estimate.steps.map((s) => s.upper), mode: "lines", line: { width: 0, shape: "hv" }, showlegend: false, hoverinfo: "skip", name: name + " upper" },
        { x, y: c.estimate.steps.map((s) => s.lower), mode: "lines", line: { width: 0, shape: "hv" }, fill: "tonexty", fillcolor: color + "33", showlegend: false, hoverinfo: "skip", name: name + " lower" },
        { x, y: c.estimate.steps.map((s) => s.survival), mode: "lines", line: { color, width: 2, shape: "hv" }, name,
          customdata: c.estimate.steps.map((s) => [s.at_risk, s.lower, s.upper]),
          hovertemplate: `%{y:.3f} (${level} CI %{customdata[1]:.3f}-%{customdata[2]:.3f}), %{customdata[0]} at risk<extra>` + name + "</extra>" },
      ];
    }), { yaxis: { title: { text: "Survival" }, range: [0, 1.02] }, xaxis: { title: { text: plan.time } }, legend: { orientation: "h", y: -0.3, traceorder: "normal" }, hovermode: "closest" }));
  }

  // ---- upload page -------------------------------------------------------------------------

  // One XMLHttpRequest per file: unlike fetch, it reports upload progress.
  function putFile(url, file, onProgress) {
    return new Promise((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      xhr.open("PUT", url);
      xhr.setRequestHeader("X-CSRF-Token", csrfToken());
      xhr.upload.addEventListener("progress", (e) => e.lengthComputable && onProgress(e.loaded / e.total));
      xhr.addEventListener("load", () => {
        const body = JSON.parse(xhr.responseText || "{}");
        if (xhr.status >= 200 && xhr.status < 300) resolve(body);
        else reject(new Error((body.error && body.error.message) || xhr.statusText));
      });
      xhr.addEventListener("error", () => reject(new Error("the connection broke off")));
      xhr.send(file);
    });
  }

  // A format as the ingest report gives it (`"parquet"`, `{"csv": {"tab": false}}`,
  // `{"stat": "spss"}`), in words.
  function formatName(format) {
    if (typeof format === "string") return format === "json" ? "JSON" : format.charAt(0).toUpperCase() + format.slice(1);
    if (format.csv) return format.csv.tab ? "TSV" : "CSV";
    if (format.stat) return { spss: "SPSS", spss_portable: "SPSS portable", stata: "Stata", sas: "SAS", sas_transport: "SAS transport" }[format.stat] || format.stat;
    return Object.keys(format)[0] || "file";
  }

  const examples = (values) => (values && values.length ? ` (e.g. ${values.map((v) => JSON.stringify(v)).join(", ")})` : "");

  // The ingest report, as the CLI prints it: what each file became, every value set aside and
  // every type decision, then the quality of each table. Nothing a user should know is left in
  // the JSON alone.
  function ingestReport(report) {
    const o = report.outcome;
    const name = o.dataset;
    const out = [el("p", { class: "report-summary", text: o.outcome === "created"
      ? `${name}: version ${o.version}, ${number(o.rows)} rows in ${report.seconds.toFixed(1)} s.`
      : `${name}: unchanged (version ${o.version} already holds these files).` })];
    for (const t of report.tables) {
      const section = el("section", { class: "table-report" },
        el("h2", {}, el("a", { href: `/datasets/${encodeURIComponent(name)}?table=${encodeURIComponent(t.table)}`, text: t.table }),
          ` from ${t.source.split("/").pop()} (${formatName(t.format)})`));
      const notes = [];
      for (const c of t.coerced || []) {
        notes.push(c.kept_as_text
          ? `${c.column}: kept as text: ${c.reason || "values of another type"}${examples(c.examples)}`
          : `${c.column}: ${number(c.values)} value(s) of another kind than the rest set aside as empty${examples(c.examples)}`);
      }
      const d = t.dialect;
      if (d) {
        for (const [column, why] of Object.entries(d.text_columns || {})) notes.push(`${column}: kept as text (${why})`);
        for (const column of d.decimal_comma_columns || []) notes.push(`${column}: numbers read with a decimal comma (60,5 is 60.5)`);
      }
      section.append(notes.length
        ? el("ul", { class: "report-notes" }, ...notes.map((n) => el("li", { text: n })))
        : el("p", { text: "Every value was stored as given." }));
      const q = t.quality;
      if (q) {
        const facts = [`${number(q.rows)} rows`, `${number(q.duplicate_rows)} duplicate row(s)`];
        if (q.candidate_keys.length) facts.push(`key: ${q.candidate_keys.join(", ")}`);
        for (const [column, n] of q.identifiers_not_unique) facts.push(`${column} repeats or lacks a value in ${number(n)} row(s)`);
        section.append(el("p", { text: facts.join(" · ") }));
        const wrap = el("div", { class: "table-wrap" });
        wrap.append(el("table", { class: "grid" },
          el("thead", {}, el("tr", {}, el("th", { scope: "col", text: "Column" }), el("th", { scope: "col", text: "Missing" }), el("th", { scope: "col", text: "Distinct" }))),
          el("tbody", {}, ...q.columns.map((c) => el("tr", {},
            el("td", { text: c.column }),
            el("td", { class: "num", text: `${number(c.missing_percent, 1)}%` }),
            el("td", { class: "num", text: (c.distinct_is_estimate ? "≈" : "") + number(c.distinct) }))))));
        section.append(wrap);
      } else if (o.outcome === "created") {
        section.append(el("p", { text: "Too big to assess here: the data dictionary measures it on request." }));
      }
      out.push(section);
    }
    for (const doc of report.documents || []) out.push(el("p", { text: `${doc.source.split("/").pop()}: attached to the version as ${doc.name}` }));
    out.push(el("p", {}, el("a", { href: `/datasets/${encodeURIComponent(name)}`, text: "See its data dictionary" })));
    return out;
  }

  function uploadPage() {
    const form = $("#upload-form");
    const drop = $("#drop");
    const input = $("#files");
    const list = $("#file-list");
    const error = $("#upload-error");
    let files = [];
    const show = () => list.replaceChildren(...files.map((f, i) =>
      el("li", { id: "file-" + i }, `${f.name} (${number(f.size / 1e6, 1)} MB)`, el("progress", { max: "1", value: "0" }))));
    const add = (more) => {
      files = [...files, ...more];
      if (!form.name.value && files.length) form.name.value = files[0].name.replace(/\.[^.]*$/, "").replace(/[^A-Za-z0-9_-]+/g, "_").replace(/^_+/, "");
      show();
    };
    input.addEventListener("change", () => add([...input.files]));
    // The drop zone is a button to the keyboard: Enter or Space opens the file chooser.
    drop.addEventListener("keydown", (e) => {
      if (e.key === "Enter" || e.key === " ") { e.preventDefault(); input.click(); }
    });
    form.dataset.ready = "true";
    drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
    drop.addEventListener("dragleave", () => drop.classList.remove("over"));
    drop.addEventListener("drop", (e) => { e.preventDefault(); drop.classList.remove("over"); add([...e.dataTransfer.files]); });
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      error.hidden = true;
      if (!files.length) { error.textContent = "Choose at least one file."; error.hidden = false; return; }
      $("#upload-start").disabled = true;
      try {
        const upload = await api("/uploads", { method: "POST" });
        for (const [i, f] of files.entries()) {
          const bar = $(`#file-${i} progress`);
          await putFile(`/api/v1/uploads/${upload.id}/files/${encodeURIComponent(f.name)}`, f, (share) => (bar.value = share));
          bar.value = 1;
        }
        const report = await api(`/uploads/${upload.id}/ingest`, { json: { name: form.name.value, description: form.description.value || null } });
        $("#upload-report").replaceChildren(...ingestReport(report));
        $("#upload-report").dataset.state = "done";
        files = [];
      } catch (e) {
        error.textContent = e.message;
        error.hidden = false;
      } finally {
        $("#upload-start").disabled = false;
      }
    });
  }

  function homePage() {
    for (const button of $$("button[data-resume]")) button.addEventListener("click", () => resume(button.dataset.resume));
  }

  // The public face (`cohort serve --public`): every chart is drawn from the bundle embedded in
  // the page, which is what /api/v1/datasets/NAME returns. A hidden count has no bar; its label
  // says it is hidden.
  function publicPage() {
    const bundle = JSON.parse($("#bundle-data").textContent);
    const tables = new Map(bundle.tables.map((t) => [t.id, t]));
    onPlotly(() => {
      for (const node of $$(".chart[data-table]")) {
        const table = tables.get(node.dataset.table);
        const cells = table.cells;
        const months = table.id.startsWith("enrolment-by-");
        const shown = cells.some((c) => c.count > 0);
        plot(node.id, shown ? [{
          type: "bar",
          x: cells.map((c) => c.key),
          y: cells.map((c) => c.count),
          marker: { color: SERIES[0] },
          hovertemplate: "%{x}: %{y} participants<extra></extra>",
        }] : [], {
          // Long keys, turned on a phone, get the room they need rather than run off the side.
          xaxis: { type: "category", categoryorder: "array", categoryarray: cells.map((c) => c.key), title: { text: table.dimension }, automargin: true },
          yaxis: { title: { text: "Participants" }, rangemode: "tozero" },
          showlegend: false,
          // Placed by category index: a category whose only bar is hidden has no position of its own.
          annotations: cells.flatMap((c, i) => (c.count === null ? [i] : [])).map((i) => ({
            x: i, y: 0, yanchor: "bottom", text: "hidden", showarrow: false, textangle: months ? -90 : 0, font: { size: 10, color: "#5c5c5c" },
          })),
        }, "Every count of this table is hidden.");
      }
      const retention = [1, 2, 3, 4, 5].map((year) => tables.get("retention-year-" + year)).filter(Boolean);
      const shares = retention.map((t) => {
        const retained = t.cells.find((c) => c.key === "retained");
        return retained && retained.count !== null && t.total ? (100 * retained.count) / t.total : null;
      });
      if ($("#chart-retention")) {
        plot("chart-retention", shares.some((s) => s !== null) ? [{
          x: retention.map((t, i) => i + 1),
          y: shares,
          mode: "lines+markers",
          marker: { color: SERIES[2] },
          hovertemplate: "year %{x}: %{y:.1f}% retained<extra></extra>",
        }] : [], {
          xaxis: { title: { text: "Years after enrolment" }, dtick: 1 },
          yaxis: { title: { text: "Retained (%)" }, range: [0, 100] },
          showlegend: false,
        }, "Retention is hidden: too few participants were enrolled long enough.");
      }
    });
  }

  // The header's account line: who is logged in, a logout button, and only the links the role
  // may follow (the server refuses the others anyway).
  async function whoAmI() {
    const box = $("#who");
    if (!box || location.pathname === "/login" || document.body.dataset.face === "public") return;
    let me;
    try {
      me = await api("/me");
    } catch {
      return;
    }
    const rank = { viewer: 1, analyst: 2, admin: 3 };
    for (const link of $$("nav [data-needs]")) link.hidden = rank[me.role] < rank[link.dataset.needs];
    if (me.via === "local") {
      box.replaceChildren(el("span", { class: "desc", text: "local, no accounts" }));
      return;
    }
    const form = el("form", { method: "post", action: "/logout", class: "logout" }, el("button", { type: "submit", text: "Log out" }));
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      await fetch("/logout", { method: "POST", headers: { "X-CSRF-Token": csrfToken() } });
      location.href = "/login";
    });
    box.replaceChildren(el("span", { class: "user", text: `${me.user} (${me.role})` }), " ", form);
  }
  if (document.readyState !== "loading") whoAmI();
  else document.addEventListener("DOMContentLoaded", whoAmI);

  // The registry's enrolment over time by a category, or cumulative: one chart, the breakdown
  // chosen; each breakdown is also a table on the page.
  function breakdownCharts(apply) {
    const data = $("#breakdown-data");
    if (!data) return;
    const all = new Map(JSON.parse(data.textContent).map((b) => [b.id, b]));
    const select = $("#enrolment-by");
    const chosen = () => select.selectedOptions[0].dataset.breakdown;
    const drawEnrolment = () => {
      const b = all.get(chosen());
      for (const d of $$("details[data-breakdown]")) d.hidden = d.dataset.breakdown !== b.id;
      // The page carries the first breakdown's table; another's is made when it is chosen.
      const details = $(`details[data-breakdown="${CSS.escape(b.id)}"]`);
      if (details && !details.querySelector("table")) details.append(breakdownTable(b));
      const axis = { type: "category", categoryorder: "array", categoryarray: b.rows, title: { text: b.rows_are } };
      const cumulative = b.id === "enrolment-cumulative";
      const traces = cumulative
        ? [
            { type: "bar", name: b.columns[0], x: b.rows, y: b.counts.map((r) => r[0]), marker: { color: SERIES[0] },
              hovertemplate: "%{x}: %{y} enrolled<extra></extra>" },
            { type: "scatter", mode: "lines", name: b.columns[1], x: b.rows, y: b.counts.map((r) => r[1]), yaxis: "y2",
              line: { color: SERIES[1] }, hovertemplate: "%{x}: %{y} in all<extra></extra>" },
          ]
        : b.columns.map((c, j) => ({
            type: "bar", name: c, x: b.rows, y: b.counts.map((r) => r[j]), marker: { color: SERIES[j % SERIES.length] },
            hovertemplate: `${c}, %{x}: %{y} participants<extra></extra>`,
          }));
      plot("chart-enrolment-detail", traces, {
        xaxis: axis,
        yaxis: { title: { text: cumulative ? "Enrolled in the period" : "Participants" }, rangemode: "tozero" },
        // The running total's axis, on the right, with room for its numbers and title.
        ...(cumulative ? {
          yaxis2: { title: { text: "Enrolled in all" }, overlaying: "y", side: "right", rangemode: "tozero" },
          margin: { l: 60, r: 70, t: 30, b: 90 },
        } : {}),
        barmode: "stack",
        showlegend: true,
      }, "No participant of this cohort has an enrolment date.");
    };
    onPlotly(() => {
      if (select) {
        // A breakdown the page does not have is computed for the cohort when chosen.
        select.addEventListener("change", () => (all.has(chosen()) ? drawEnrolment() : apply()));
        drawEnrolment();
      }
    });
  }

  // A breakdown as the page's tables show it (`templates/breakdown.html`).
  function breakdownTable(b) {
    const count = (n) => n.toLocaleString("en");
    return el("table", { class: "list breakdown", id: "breakdown-" + b.id },
      el("thead", {}, el("tr", {}, el("th", { text: b.rows_are }), ...b.columns.map((c) => el("th", { class: "num", text: c })))),
      el("tbody", {}, ...b.rows.map((row, i) =>
        el("tr", {}, el("td", { text: row }), ...b.counts[i].map((n) => el("td", { class: "num count", text: count(n) }))))));
  }

  // The dictionary browser: a search over names, labels and codes that hides the other rows
  // (and domains with none left).
  function dictionaryFind() {
    const find = $("#dictionary-find");
    if (!find) return;
    find.addEventListener("input", () => {
      const words = find.value.trim().toLowerCase();
      for (const group of $$("#dictionary details.domain")) {
        let shown = 0;
        for (const row of group.querySelectorAll("tbody tr")) {
          row.hidden = words !== "" && !row.textContent.toLowerCase().includes(words);
          if (!row.hidden) shown += 1;
        }
        group.hidden = shown === 0;
        if (words !== "" && shown > 0) group.open = true;
      }
    });
  }

  // The registry dashboard: its charts are the public page's. A change of a filter asks the
  // server for the page of the new cohort and puts its content in place of this one's (the
  // address follows, so back and reload work): no new page load, no plotly evaluated again. The
  // form still works without script (the Apply button submits it). A cohort is saved through
  // the API.
  function registryPage() {
    showRegistry();
    window.addEventListener("popstate", () => swapRegistry(location.href, false));
  }

  // Draws the registry content in the page and wires its form.
  function showRegistry() {
    const form = $("#cohort-form");
    const apply = () => {
      const query = new URLSearchParams(new FormData(form)).toString();
      swapRegistry(`${location.pathname}?${query}`, true);
    };
    publicPage();
    breakdownCharts(apply);
    dictionaryFind();
    for (const input of $$("#cohort-form input[type=checkbox], #cohort-form select")) {
      input.addEventListener("change", apply);
    }
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      apply();
    });
    $("#clear")?.addEventListener("click", (event) => {
      event.preventDefault();
      swapRegistry(event.currentTarget.href, true);
    });
    const save = $("#save-cohort");
    save.addEventListener("submit", async (event) => {
      event.preventDefault();
      const name = $("#cohort-name").value.trim();
      const status = $("#save-status");
      try {
        await api("/datasets/" + encodeURIComponent(save.dataset.dataset) + "/registry/cohorts", {
          json: { name, filters: JSON.parse(save.dataset.filters) },
        });
        location.href = "/datasets/" + encodeURIComponent(save.dataset.dataset) + "/registry?cohort=" + encodeURIComponent(name);
      } catch (e) {
        status.textContent = e.message;
      }
    });
  }

  // Puts the registry page at `url` in place of this one's content. Marks `cohort:change`,
  // then `cohort:painted` once the new figures are on screen (what `timing.mjs` measures).
  let swapping = 0;
  async function swapRegistry(url, push) {
    performance.mark("cohort:change");
    const turn = ++swapping;
    const main = $("main");
    main.setAttribute("aria-busy", "true");
    // The control in use keeps the focus across the swap, so the keyboard stays where it was.
    const active = document.activeElement;
    const again = active && active.name ? `[name="${CSS.escape(active.name)}"]${active.type === "checkbox" ? `[value="${CSS.escape(active.value)}"]` : ""}` : null;
    let doc;
    try {
      const reply = await fetch(url, { headers: { Accept: "text/html" } });
      if (!reply.ok) throw new Error(reply.statusText);
      doc = new DOMParser().parseFromString(await reply.text(), "text/html");
    } catch {
      location.href = url; // the server's own page says what went wrong
      return;
    }
    // A later change has started: its page wins.
    if (turn !== swapping) return;
    const next = doc.querySelector("main");
    if (!next) {
      location.href = url;
      return;
    }
    main.replaceWith(next);
    document.title = doc.title;
    if (push) history.pushState({}, "", url);
    if (again) $(again)?.focus();
    // The new numbers are painted first; the charts are drawn after, so that drawing them does
    // not hold the figures back.
    // A task queued from the next frame's callbacks runs once that frame is on screen.
    await new Promise((painted) => requestAnimationFrame(() => setTimeout(painted, 0)));
    performance.mark("cohort:painted");
    if (turn === swapping) showRegistry();
  }

  return { api, publicPage, registryPage, swapRegistry, resultsPage, comparePage, datasetPage, analyzePage, simulatePage, homePage, queryPage, uploadPage };
})();
