"""A generated multi-disease registry, and its dashboard's figures computed with pandas.

Usage: registry.py DIR. Writes DIR/participants.csv and DIR/visits.csv (3,000 participants at 40
sites, visits over six years, missing values, enrolments before the study's start) and prints, as
JSON, each filter set of FILTERS with the figures pandas gives for it, computed the way the
registry defines them (see cohort-publish's compute.rs), independently of DuckDB."""
import json
import math
import random
import sys

import pandas as pd

FILTERS = [
    [],
    ["diagnosis=DMD,BMD", "age=10..", "has:respiratory"],
    ["sex!=F", "enrolled=2020-01-01..2022-12-31", "site=Canary Hospital 03,Canary Hospital 07"],
    ["diagnosis=(missing),SMA", "age=..30"],
]
DOMAINS = {"motor": ["ambulatory"], "respiratory": ["fvc_percent"], "cardiac": ["ef_percent"]}
MISSING = "(missing)"


def generate(folder):
    rng = random.Random(21)
    people, visits = [], []
    end = pd.Timestamp("2025-12-31")
    for i in range(3000):
        site = rng.randrange(1, 41)
        enrolled = pd.Timestamp("2018-06-01") + pd.Timedelta(days=rng.randrange(0, 2770))
        diagnosis = rng.choices(["DMD", "BMD", "SMA", "CMT", "LGMD", None], [35, 15, 20, 15, 13, 2])[0]
        people.append({
            "participant_id": f"P{i:05d}",
            "site": f"Canary Hospital {site:02d}",
            "region": ["North", "South", "East", "West", "Central"][site % 5],
            "sex": rng.choices(["F", "M", "X", None], [48, 50, 1, 1])[0],
            "diagnosis": diagnosis,
            "age": None if rng.random() < 0.05 else rng.randrange(1, 80),
            "enrolled": None if rng.random() < 0.01 else enrolled.strftime("%Y-%m-%d"),
        })
        day = enrolled
        while rng.random() < 0.93:
            day = day + pd.Timedelta(days=rng.randrange(60, 240))
            if day > end:
                break
            visits.append({
                "participant_id": f"P{i:05d}",
                "visit_date": day.strftime("%Y-%m-%d"),
                "ambulatory": None if rng.random() < 0.3 else rng.choice(["yes", "no"]),
                "fvc_percent": None if rng.random() < 0.6 or diagnosis == "CMT" else round(rng.uniform(20, 110), 1),
                "ef_percent": None if rng.random() < 0.8 else round(rng.uniform(25, 70), 1),
            })
    people = pd.DataFrame(people)
    people["age"] = people["age"].astype("Int64")
    people.to_csv(f"{folder}/participants.csv", index=False)
    pd.DataFrame(visits).to_csv(f"{folder}/visits.csv", index=False)


def cohort_mask(p, v, filters):
    mask = pd.Series(True, index=p.index)
    for f in filters:
        if f.startswith("has:"):
            cols = DOMAINS[f[4:]]
            ids = set(v.loc[v[cols].notna().any(axis=1), "participant_id"])
            mask &= p["participant_id"].isin(ids)
            continue
        negate = "!=" in f
        column, value = f.split("!=" if negate else "=", 1)
        if ".." in value:
            lo, hi = value.split("..")
            x = p[column]
            if column == "enrolled":
                x = pd.to_datetime(x)
                lo, hi = (pd.Timestamp(lo) if lo else None), (pd.Timestamp(hi) if hi else None)
            else:
                lo, hi = (float(lo) if lo else None), (float(hi) if hi else None)
            keep = x.notna()
            if lo is not None:
                keep &= x >= lo
            if hi is not None:
                keep &= x <= hi
            mask &= keep
        else:
            values = value.split(",")
            text = p[column].map(lambda x: None if pd.isna(x) else str(x))
            hit = text.isin([x for x in values if x != MISSING]) | (text.isna() & (MISSING in values))
            mask &= ~hit if negate else hit
    return mask


def counts(series):
    s = series.map(lambda x: MISSING if pd.isna(x) else str(x)).value_counts()
    return {k: int(n) for k, n in s.items()}


def quartiles(x):
    x = x.dropna().astype(float)
    if len(x) == 0:
        return [None, None, None]
    return [float(x.quantile(q)) for q in (0.25, 0.5, 0.75)]


def figures(p_all, v_all, filters, cutoff):
    p = p_all[cohort_mask(p_all, v_all, filters)]
    v = v_all[v_all["participant_id"].isin(set(p["participant_id"]))]
    out = {"filters": filters, "participants": int(p["participant_id"].nunique())}
    tables = {
        "category-sex": counts(p["sex"]),
        "category-diagnosis": counts(p["diagnosis"]),
        "region": counts(p["region"]),
        "site": counts(p["site"]),
        "enrolment-by-month": counts(pd.to_datetime(p["enrolled"]).dt.strftime("%Y-%m")),
    }
    age = p["age"].dropna().astype(float)
    lo, hi = math.floor(age.quantile(0.05)), math.ceil(age.quantile(0.95))
    width = max(math.ceil(max((hi - lo) / 10.0, 1.0)), 1)
    edges = [lo + width * i for i in range(11)]
    label = lambda x: f"{x:g}"  # as Rust prints an f64
    bins = {f"< {label(edges[0])}": int((age < edges[0]).sum())}
    for i in range(1, 11):
        bins[f"{label(edges[i - 1])} to < {label(edges[i])}"] = int(((age >= edges[i - 1]) & (age < edges[i])).sum())
    bins[f">= {label(edges[10])}"] = int((age >= edges[10]).sum())
    bins[MISSING] = int(p["age"].isna().sum())
    tables["histogram-age"] = bins
    per = p[["participant_id", "enrolled"]].copy()
    per["enrolled"] = pd.to_datetime(per["enrolled"])
    vd = v.assign(day=pd.to_datetime(v["visit_date"]))
    per = per.merge(vd.groupby("participant_id")["day"].agg(["count", "max"]).reset_index(), on="participant_id", how="left")
    per["count"] = per["count"].fillna(0)

    def bucket(n):
        n = int(n)
        return "0" if n == 0 else "1" if n == 1 else "2" if n == 2 else "3-5" if n <= 5 else "6-10" if n <= 10 else "11-20" if n <= 20 else "21+"
    buckets = per["count"].map(bucket).value_counts()
    tables["visits-per-participant"] = {b: int(buckets.get(b, 0)) for b in ["0", "1", "2", "3-5", "6-10", "11-20", "21+"]}
    c = pd.Timestamp(cutoff)
    active = (per["max"] > c - pd.DateOffset(months=12)).fillna(False)
    tables["active"] = {"active": int(active.sum()), "not active": int((~active).sum())}
    for year in range(1, 6):
        eligible = per[per["enrolled"].notna() & (per["enrolled"] <= c - pd.DateOffset(years=year))]
        kept = eligible["max"].notna() & (eligible["max"] >= eligible["enrolled"] + pd.DateOffset(years=year))
        tables[f"retention-year-{year}"] = {"retained": int(kept.sum()), "not retained": int((~kept).sum())}
    for domain, cols in DOMAINS.items():
        with_data = v.loc[v[cols].notna().any(axis=1), "participant_id"].nunique()
        tables[f"availability-{domain}"] = {"with data": int(with_data), "without": out["participants"] - int(with_data)}
    out["tables"] = tables
    out["age"] = quartiles(p["age"])
    out["visits"] = int(len(v))
    lived = per[per["max"].notna() & per["enrolled"].notna()]
    out["person_years"] = round(float(((lived["max"] - lived["enrolled"]).dt.days.clip(lower=0)).sum()) / 365.25 * 10) / 10
    gaps = vd.sort_values(["participant_id", "day"]).groupby("participant_id")["day"].diff().dt.days
    out["median_gap_days"] = quartiles(vd.assign(gap=gaps).dropna(subset=["gap"]).groupby("participant_id")["gap"].median())
    gap = vd.assign(gap=gaps).dropna(subset=["gap"]).groupby("participant_id")["gap"].median()
    per_gap = p["participant_id"].map(gap)

    def gap_band(g):
        if pd.isna(g):
            return "fewer than 2 visits"
        for upto, words in [(30, "up to 1 month"), (61, "1-2 months"), (91, "2-3 months"), (183, "3-6 months"), (365, "6-12 months")]:
            if g <= upto:
                return words
        return "over 12 months"
    tables["time-between-visits"] = counts(per_gap.map(gap_band))

    def followed(row):
        if pd.isna(row["enrolled"]):
            return "(no enrolment date)"
        if pd.isna(row["max"]):
            return "(no visits)"
        years = max([y for y in range(1, 6) if row["max"] >= row["enrolled"] + pd.DateOffset(years=y)], default=0)
        return "under 1" if years == 0 else "5 or more" if years == 5 else str(years)
    tables["years-followed"] = counts(per.apply(followed, axis=1)) if len(per) else {}

    # The breakdowns, flattened to "row|column": count.
    def pairs(rows, columns):
        key = rows.map(lambda x: MISSING if pd.isna(x) else str(x)) + "|" + columns.map(lambda x: MISSING if pd.isna(x) else str(x))
        return {k: int(n) for k, n in key.value_counts().items()}
    month = pd.to_datetime(p["enrolled"]).dt.strftime("%Y-%m")
    year = pd.to_datetime(p["enrolled"]).dt.strftime("%Y")
    breakdowns = {
        "enrolment-by-month-by-sex": pairs(month, p["sex"]),
        "enrolment-by-month-by-diagnosis": pairs(month, p["diagnosis"]),
        "enrolment-by-month-by-region": pairs(month, p["region"]),
        "sites-by-region": pairs(p["site"], p["region"]),
        "site-recruitment-by-year": pairs(p["site"], year),
    }
    by_month = month.dropna().value_counts().sort_index()
    breakdowns["enrolment-cumulative"] = {}
    running = 0
    for m, n in by_month.items():
        running += int(n)
        breakdowns["enrolment-cumulative"][f"{m}|in the month"] = int(n)
        breakdowns["enrolment-cumulative"][f"{m}|in all"] = running
    per_site = p["site"].dropna().value_counts()
    bands = {}
    for lo, hi, name in [(1, 9, "1-9"), (10, 49, "10-49"), (50, 99, "50-99"), (100, 499, "100-499"), (500, 10**12, "500+")]:
        at = per_site[(per_site >= lo) & (per_site <= hi)]
        if len(at):
            bands[f"{name}|sites"] = int(len(at))
            bands[f"{name}|participants"] = int(at.sum())
    breakdowns["site-size-bands"] = bands
    out["breakdowns"] = breakdowns
    completeness = {}
    for name, frame in [("participants", p), ("visits", v)]:
        for column in frame.columns:
            completeness[f"{name}.{column}"] = round(float(frame[column].notna().mean()) * 1000) / 1000 if len(frame) else None
    out["completeness"] = completeness
    # Completeness among all participants (and the visits of those in the participant table).
    v_counted = v_all[v_all["participant_id"].isin(set(p_all["participant_id"]))]
    out["completeness_all"] = {
        f"{name}.{column}": round(float(frame[column].notna().mean()) * 1000) / 1000
        for name, frame in [("participants", p_all), ("visits", v_counted)]
        for column in frame.columns
    }
    # What the diagnosis checklist offers: counts under the other filters alone.
    others = [f for f in filters if not f.startswith("diagnosis")]
    out["facet_diagnosis"] = counts(p_all[cohort_mask(p_all, v_all, others)]["diagnosis"])
    return out


def main():
    folder = sys.argv[1]
    generate(folder)
    p = pd.read_csv(f"{folder}/participants.csv", dtype={"participant_id": str})
    v = pd.read_csv(f"{folder}/visits.csv", dtype={"participant_id": str})
    cutoff = max(pd.to_datetime(p["enrolled"]).max(), pd.to_datetime(v["visit_date"]).max()).strftime("%Y-%m-%d")
    print(json.dumps({"cutoff": cutoff, "cohorts": [figures(p, v, f, cutoff) for f in FILTERS]}))


main()
