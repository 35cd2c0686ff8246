"""Reference answers for cohort-stats' tests, computed by scipy and statsmodels on data sets that
lifelines and statsmodels ship: prints one JSON document with the inputs and the answers."""
import json
import math

import numpy as np
import scipy
from scipy import stats
import statsmodels.api as sm
from lifelines.datasets import load_gbsg2


def clean(v):
    """JSON has no NaN: missing numbers become null."""
    if isinstance(v, dict):
        return {k: clean(x) for k, x in v.items()}
    if isinstance(v, (list, tuple, np.ndarray)):
        return [clean(x) for x in v]
    if isinstance(v, (np.bool_, bool)):
        return bool(v)
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (float, np.floating)):
        return None if not math.isfinite(v) else float(v)
    return v


gbsg2 = load_gbsg2()
out = {"versions": {"scipy": scipy.__version__, "statsmodels": sm.__version__ if hasattr(sm, "__version__") else ""}}

# Two groups: age and tumour size by hormonal therapy.
two = []
for column in ["age", "tsize", "pnodes", "progrec"]:
    a = gbsg2.loc[gbsg2.horTh == "yes", column].astype(float).to_numpy()
    b = gbsg2.loc[gbsg2.horTh == "no", column].astype(float).to_numpy()
    t = stats.ttest_ind(a, b, equal_var=False)
    ci = t.confidence_interval(0.95)
    u = stats.mannwhitneyu(a, b, alternative="two-sided", method="asymptotic", use_continuity=True)
    two.append({"column": column, "a": a, "b": b,
                "welch": {"t": t.statistic, "df": t.df, "p": t.pvalue, "ci": [ci.low, ci.high]},
                "mann_whitney": {"u": u.statistic, "p": u.pvalue}})
# Small groups without ties: scipy's default is the exact distribution of U.
rng = np.random.default_rng(3)
for n1, n2 in [(5, 7), (8, 30), (3, 3)]:
    a, b = rng.normal(0, 1, n1), rng.normal(0.5, 1, n2)
    t = stats.ttest_ind(a, b, equal_var=False)
    ci = t.confidence_interval(0.95)
    u = stats.mannwhitneyu(a, b, alternative="two-sided")
    two.append({"column": f"small {n1}x{n2}", "a": a, "b": b,
                "welch": {"t": t.statistic, "df": t.df, "p": t.pvalue, "ci": [ci.low, ci.high]},
                "mann_whitney": {"u": u.statistic, "p": u.pvalue}})
out["two_groups"] = two

# More groups: by tumour grade.
more = []
for column in ["age", "tsize", "pnodes", "estrec"]:
    groups = [gbsg2.loc[gbsg2.tgrade == g, column].astype(float).to_numpy() for g in ["I", "II", "III"]]
    f = stats.f_oneway(*groups)
    h = stats.kruskal(*groups)
    more.append({"column": column, "groups": groups,
                 "anova": {"f": f.statistic, "p": f.pvalue},
                 "kruskal": {"h": h.statistic, "p": h.pvalue}})
out["more_groups"] = more

# Tables of counts.
tables = []
for rows, cols in [("menostat", "tgrade"), ("horTh", "menostat"), ("tgrade", "horTh")]:
    table = np.array(gbsg2.groupby([rows, cols]).size().unstack(fill_value=0), dtype=float)
    c = stats.chi2_contingency(table)
    entry = {"rows": rows, "columns": cols, "table": table,
             "chi2": {"chi2": c.statistic, "p": c.pvalue, "df": c.dof, "expected": c.expected_freq,
                      "cramers_v": stats.contingency.association(table.astype(int), method="cramer")}}
    if table.shape == (2, 2):
        fe = stats.fisher_exact(table.astype(int))
        entry["fisher"] = {"odds_ratio": fe.statistic, "p": fe.pvalue}
    tables.append(entry)
# A small table where Fisher matters.
small = np.array([[8, 2], [1, 5]])
fe = stats.fisher_exact(small)
c = stats.chi2_contingency(small)
tables.append({"rows": "small", "columns": "small", "table": small.astype(float),
               "chi2": {"chi2": c.statistic, "p": c.pvalue, "df": c.dof, "expected": c.expected_freq,
                        "cramers_v": stats.contingency.association(small, method="cramer")},
               "fisher": {"odds_ratio": fe.statistic, "p": fe.pvalue}})
out["tables"] = tables

# Correlations between the numeric columns.
numeric = ["age", "tsize", "pnodes", "progrec", "estrec", "time"]
pairs = []
for i, x in enumerate(numeric):
    for y in numeric[i + 1:]:
        xs, ys = gbsg2[x].astype(float).to_numpy(), gbsg2[y].astype(float).to_numpy()
        p = stats.pearsonr(xs, ys)
        pci = p.confidence_interval(0.95)
        s = stats.spearmanr(xs, ys)
        pairs.append({"x": x, "y": y, "xs": xs, "ys": ys,
                      "pearson": {"r": p.statistic, "p": p.pvalue, "ci": [pci.low, pci.high]},
                      "spearman": {"r": s.statistic, "p": s.pvalue}})
out["correlations"] = pairs


def fitted(result, names):
    ci = np.asarray(result.conf_int(0.05))
    return {"names": names, "params": np.asarray(result.params), "bse": np.asarray(result.bse),
            "p": np.asarray(result.pvalues), "ci_low": ci[:, 0], "ci_high": ci[:, 1]}


# Linear: Longley (famously ill-conditioned) and Fair's affairs.
models = []
longley = sm.datasets.longley.load_pandas().data
fair = sm.datasets.fair.load_pandas().data
for name, data, outcome, predictors in [
    ("longley", longley, "TOTEMP", ["GNPDEFL", "GNP", "UNEMP", "ARMED", "POP", "YEAR"]),
    ("fair", fair, "affairs", ["rate_marriage", "age", "yrs_married", "children", "religious", "educ"]),
]:
    y = data[outcome].astype(float).to_numpy()
    x = data[predictors].astype(float)
    r = sm.OLS(y, sm.add_constant(x.to_numpy())).fit()
    entry = fitted(r, predictors)
    entry.update({"model": name, "y": y, "x": [x[c].to_numpy() for c in predictors],
                  "r_squared": r.rsquared, "adj_r_squared": r.rsquared_adj, "f": r.fvalue, "f_p": r.f_pvalue,
                  "sigma": math.sqrt(r.scale), "df_residual": r.df_resid})
    models.append(entry)
out["linear"] = models

# Logistic: Spector and Liang's grades, and whether Fair's respondents had an affair.
spector = sm.datasets.spector.load_pandas().data
fair_any = (fair.affairs > 0).astype(float)
logits = []
for name, y, x, predictors in [
    ("spector", spector.GRADE.astype(float), spector, ["GPA", "TUCE", "PSI"]),
    ("fair", fair_any, fair, ["rate_marriage", "age", "yrs_married", "children", "religious", "educ"]),
]:
    xs = x[predictors].astype(float)
    r = sm.Logit(y.to_numpy(), sm.add_constant(xs.to_numpy())).fit(disp=0, method="newton", maxiter=100, tol=1e-12)
    entry = fitted(r, predictors)
    entry.update({"model": name, "y": y.to_numpy(), "x": [xs[c].to_numpy() for c in predictors],
                  "llf": r.llf, "llnull": r.llnull, "prsquared": r.prsquared, "llr_pvalue": r.llr_pvalue})
    logits.append(entry)
out["logistic"] = logits

print(json.dumps(clean(out)))
