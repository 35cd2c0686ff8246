"""Writes lifelines' GBSG2 trial as a CSV and the answers scipy and statsmodels give for the same
analyses `cohort analyze` is asked in tests/cli/analyze.rs (same rows, same coding)."""
import json
import math
import sys

import numpy as np
import pandas as pd
import statsmodels.api as sm
from lifelines.datasets import load_gbsg2
from scipy import stats

out_dir = sys.argv[1]
g = load_gbsg2()
g.to_csv(f"{out_dir}/gbsg2.csv", index=False)


def clean(v):
    if isinstance(v, dict):
        return {k: clean(x) for k, x in v.items()}
    if isinstance(v, (list, tuple, np.ndarray)):
        return [clean(x) for x in v]
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (float, np.floating)):
        return None if not math.isfinite(v) else float(v)
    return v


ref = {}
# describe age by tgrade
ref["describe"] = {
    level: {"n": len(x), "mean": x.mean(), "sd": x.std(ddof=1), "q1": np.percentile(x, 25),
            "median": np.percentile(x, 50), "q3": np.percentile(x, 75)}
    for level, x in ((lv, g.loc[g.tgrade == lv, "age"].astype(float).to_numpy()) for lv in ["I", "II", "III"])
}
# compare age by horTh (groups sorted: no = false first)
a = g.loc[g.horTh == "no", "age"].astype(float).to_numpy()
b = g.loc[g.horTh == "yes", "age"].astype(float).to_numpy()
t = stats.ttest_ind(a, b, equal_var=False)
u = stats.mannwhitneyu(a, b, method="asymptotic")
ref["welch"] = {"t": t.statistic, "df": t.df, "p": t.pvalue, "ci": list(t.confidence_interval(0.95))}
ref["mann_whitney"] = {"u": u.statistic, "p": u.pvalue}
# compare tsize by tgrade where age >= 40
old = g[g.age >= 40]
groups = [old.loc[old.tgrade == lv, "tsize"].astype(float) for lv in ["I", "II", "III"]]
ref["anova"] = {"f": stats.f_oneway(*groups).statistic, "p": stats.f_oneway(*groups).pvalue, "rows": len(old)}
ref["kruskal"] = {"h": stats.kruskal(*groups).statistic, "p": stats.kruskal(*groups).pvalue}
# compare menostat by horTh: rows Post, Pre; columns no, yes
table = pd.crosstab(g.menostat, g.horTh).loc[["Post", "Pre"], ["no", "yes"]].to_numpy()
c = stats.chi2_contingency(table)
f = stats.fisher_exact(table)
ref["chi2"] = {"chi2": c.statistic, "p": c.pvalue, "table": table.tolist()}
ref["fisher"] = {"odds_ratio": f.statistic, "p": f.pvalue}
# correlate age tsize pnodes
cols = ["age", "tsize", "pnodes"]
ref["pearson"] = [[stats.pearsonr(g[x], g[y]).statistic for y in cols] for x in cols]
ref["spearman"] = [[stats.spearmanr(g[x], g[y]).statistic for y in cols] for x in cols]
# linear: tsize ~ age + pnodes + menostat (reference Post)
X = pd.DataFrame({"age": g.age, "pnodes": g.pnodes, "menostat=Pre": (g.menostat == "Pre").astype(float)})
r = sm.OLS(g.tsize.astype(float), sm.add_constant(X.astype(float))).fit()
ref["linear"] = {"params": r.params.tolist(), "bse": r.bse.tolist(), "p": r.pvalues.tolist(), "r2": r.rsquared}
# logistic: cens ~ age + horTh + tgrade (reference I) + pnodes
X = pd.DataFrame({"age": g.age, "horTh=true": (g.horTh == "yes").astype(float),
                  "tgrade=II": (g.tgrade == "II").astype(float), "tgrade=III": (g.tgrade == "III").astype(float),
                  "pnodes": g.pnodes})
r = sm.Logit(g.cens.astype(float), sm.add_constant(X.astype(float))).fit(disp=0, method="newton", tol=1e-12)
ref["logistic"] = {"names": ["(intercept)"] + list(X.columns), "params": r.params.tolist(), "bse": r.bse.tolist(),
                   "p": r.pvalues.tolist(), "llf": r.llf}
# survival by horTh: Kaplan-Meier medians and the log-rank test
from lifelines import CoxPHFitter, KaplanMeierFitter
from lifelines.statistics import logrank_test, proportional_hazard_test
from lifelines.utils import median_survival_times

curves = {}
for level, label in [("no", "false"), ("yes", "true")]:
    part = g[g.horTh == level]
    km = KaplanMeierFitter().fit(part.time, part.cens)
    ci = median_survival_times(km.confidence_interval_)
    curves[label] = {"median": km.median_survival_time_, "lower": ci.iloc[0, 0], "upper": ci.iloc[0, 1],
                     "survival": km.survival_function_.iloc[:, 0].tolist(), "timeline": km.timeline.tolist()}
lr = logrank_test(g.time[g.horTh == "no"], g.time[g.horTh == "yes"], g.cens[g.horTh == "no"], g.cens[g.horTh == "yes"])
ref["survival"] = {"curves": curves, "logrank": {"statistic": lr.test_statistic, "p": lr.p_value}}
# cox: time, cens ~ age + horTh + tgrade (reference I) + pnodes + progrec
X = pd.DataFrame({"age": g.age, "horTh=true": (g.horTh == "yes").astype(float),
                  "tgrade=II": (g.tgrade == "II").astype(float), "tgrade=III": (g.tgrade == "III").astype(float),
                  "pnodes": g.pnodes, "progrec": g.progrec, "time": g.time, "cens": g.cens}).astype(float)
cph = CoxPHFitter().fit(X, "time", "cens")
ph = proportional_hazard_test(cph, X, time_transform="rank")
ref["cox"] = {"names": list(cph.params_.index), "params": cph.params_.tolist(), "se": cph.standard_errors_.tolist(),
              "p": cph.summary.p.tolist(), "concordance": cph.concordance_index_,
              "ph_p": [float(ph.summary.loc[n, "p"]) for n in cph.params_.index]}
print(json.dumps(clean(ref)))
