"""lifelines' answers for tests/survival.rs: Kaplan-Meier, log-rank, Cox PH and the PH test.

Prints one JSON document with the input columns and the reference numbers, NaN/inf as null.
"""

import json
import math
import warnings

import numpy as np
import pandas as pd
from lifelines import CoxPHFitter, KaplanMeierFitter
from lifelines.datasets import load_gbsg2, load_rossi, load_waltons
from lifelines.statistics import multivariate_logrank_test, proportional_hazard_test
from lifelines.utils import concordance_index, group_survival_table_from_events, median_survival_times

warnings.simplefilter("ignore")

ALPHA = 0.05


def clean(x):
    """JSON has no NaN or infinity: both become null (read back as NaN)."""
    if isinstance(x, dict):
        return {str(k): clean(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [clean(v) for v in x]
    if isinstance(x, (np.ndarray, pd.Series, pd.Index)):
        return clean(list(np.asarray(x).tolist()))
    if isinstance(x, (bool, np.bool_)):
        return bool(x)
    if isinstance(x, (int, np.integer)):
        return int(x)
    if isinstance(x, (float, np.floating)):
        x = float(x)
        return x if math.isfinite(x) else None
    return x


def km(time, event, at_times):
    kmf = KaplanMeierFitter(alpha=ALPHA).fit(time, event)
    ci = kmf.confidence_interval_
    table = kmf.event_table
    median_ci = median_survival_times(ci)
    return {
        "time": list(time),
        "event": [bool(e) for e in event],
        "timeline": kmf.survival_function_.index,
        "survival": kmf.survival_function_.iloc[:, 0],
        "lower": ci.iloc[:, 0],
        "upper": ci.iloc[:, 1],
        "at_risk": table["at_risk"],
        "observed": table["observed"],
        "censored": table["censored"],
        "median": kmf.median_survival_time_,
        "median_lower": median_ci.iloc[0, 0],
        "median_upper": median_ci.iloc[0, 1],
        # The at-risk helper counts subjects still under observation at t (duration >= t).
        "at_times": at_times,
        "at_risk_at": [int((np.asarray(time) >= t).sum()) for t in at_times],
    }


def logrank(time, event, labels):
    codes, uniques = pd.factorize(pd.Series(labels), sort=True)
    res = multivariate_logrank_test(time, codes, event)
    # Observed and expected events per group, computed as inside multivariate_logrank_test
    # (which does not return them).
    _, rm, obs, _ = group_survival_table_from_events(
        pd.Series(codes), pd.Series(time, dtype=float), pd.Series(np.asarray(event, dtype=int))
    )
    n_ij = rm.sum(0).values - rm.cumsum(0).shift(1).fillna(0)
    d_i = obs.sum(1)
    n_i = rm.values.sum() - rm.sum(1).cumsum().shift(1).fillna(0)
    ev = n_ij.mul(d_i / n_i, axis="index").sum(0)
    # group_survival_table_from_events orders groups by first appearance; report them by code.
    order = [list(rm.columns).index("removed:%d" % g) for g in range(len(uniques))]
    observed = obs.sum(0).values[order]
    expected = ev.values[order]
    return {
        "time": list(time),
        "event": [bool(e) for e in event],
        "group": codes,
        "labels": list(uniques),
        "statistic": res.test_statistic,
        "df": res.degrees_of_freedom,
        "p": res.p_value,
        "observed": observed,
        "expected": expected,
    }


def cox(df, duration, event, covariates):
    data = df[[duration, event] + covariates]
    cph = CoxPHFitter().fit(data, duration, event)
    ph = proportional_hazard_test(cph, data, time_transform="rank")
    summary = cph.summary
    ph_stat = pd.Series(np.asarray(ph.test_statistic).ravel(), index=ph.name)
    ph_p = pd.Series(np.asarray(ph.p_value).ravel(), index=ph.name)
    return {
        "time": data[duration].astype(float),
        "event": [bool(e) for e in data[event]],
        "names": covariates,
        "columns": [data[c].astype(float) for c in covariates],
        "params": cph.params_[covariates],
        "se": cph.standard_errors_[covariates],
        "z": summary.loc[covariates, "z"],
        "p": summary.loc[covariates, "p"],
        "hr": summary.loc[covariates, "exp(coef)"],
        "hr_lower": summary.loc[covariates, "exp(coef) lower 95%"],
        "hr_upper": summary.loc[covariates, "exp(coef) upper 95%"],
        "log_likelihood": cph.log_likelihood_,
        "log_likelihood_null": cph._ll_null_,
        "concordance": cph.concordance_index_,
        "ph_statistic": ph_stat[covariates],
        "ph_p": ph_p[covariates],
    }


def main():
    rossi = load_rossi()
    waltons = load_waltons()
    gbsg2 = load_gbsg2()
    gbsg2 = gbsg2.assign(
        horTh=(gbsg2["horTh"] == "yes").astype(int),
        menostat=(gbsg2["menostat"] == "Post").astype(int),
    )

    out = {"alpha": ALPHA, "km": {}, "logrank": {}, "cox": {}}
    for name, part in waltons.groupby("group"):
        out["km"]["waltons_" + name] = km(list(part["T"]), list(part["E"]), [0.0, 10.0, 30.0, 50.0, 60.0, 75.0, 100.0])
    out["km"]["gbsg2"] = km(
        list(gbsg2["time"].astype(float)), list(gbsg2["cens"]), [0.0, 365.0, 730.0, 1095.0, 1460.0, 1825.0, 3000.0]
    )
    # Edge cases: events at time 0, ties, and everyone at risk dying at the last time (S = 0).
    out["km"]["edge"] = km(
        [0.0, 0.0, 1.0, 2.0, 2.0, 3.0, 5.0, 5.0], [1, 0, 1, 1, 0, 1, 1, 1], [0.0, 1.0, 2.5, 5.0, 6.0]
    )
    out["km"]["rossi"] = km(list(rossi["week"].astype(float)), list(rossi["arrest"]), [0.0, 10.0, 20.0, 52.0, 53.0])

    out["logrank"]["waltons"] = logrank(list(waltons["T"]), list(waltons["E"]), list(waltons["group"]))
    out["logrank"]["gbsg2_tgrade"] = logrank(list(gbsg2["time"].astype(float)), list(gbsg2["cens"]), list(gbsg2["tgrade"]))
    out["logrank"]["gbsg2_horTh"] = logrank(list(gbsg2["time"].astype(float)), list(gbsg2["cens"]), list(gbsg2["horTh"]))

    # Group 2 is censored before the first event: its variance row is zero (pseudo-inverse).
    out["logrank"]["edge"] = logrank(
        [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 0.5, 0.7, 2.0, 4.0], [1, 1, 0, 1, 1, 0, 0, 0, 1, 1], [0, 0, 0, 1, 1, 1, 2, 2, 1, 0]
    )

    out["cox"]["rossi"] = cox(rossi, "week", "arrest", ["fin", "age", "race", "wexp", "mar", "paro", "prio"])
    out["cox"]["gbsg2"] = cox(
        gbsg2, "time", "cens", ["age", "menostat", "tsize", "pnodes", "progrec", "estrec", "horTh"]
    )
    out["cox"]["waltons"] = cox(
        waltons.assign(mir=(waltons["group"] == "miR-137").astype(int)), "T", "E", ["mir"]
    )

    # Scores with ties and times with ties, events and censorings at the same time.
    out["concordance"] = {
        "rossi_prio": {
            "time": rossi["week"].astype(float),
            "event": [bool(e) for e in rossi["arrest"]],
            "score": -rossi["prio"].astype(float),
            "c": concordance_index(rossi["week"], -rossi["prio"], rossi["arrest"]),
        },
        "gbsg2_pnodes": {
            "time": gbsg2["time"].astype(float),
            "event": [bool(e) for e in gbsg2["cens"]],
            "score": -gbsg2["pnodes"].astype(float),
            "c": concordance_index(gbsg2["time"], -gbsg2["pnodes"], gbsg2["cens"]),
        },
    }

    print(json.dumps(clean(out)))


if __name__ == "__main__":
    main()
