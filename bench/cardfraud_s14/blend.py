"""Blend kefu's LightGBM margin with a logistic-regression margin; weight from out-of-fold data only.

    python bench/cardfraud_s14/blend.py --seeds 10..29 [--variants all|NAME ...] [--out file.json]

For a seed: the split, kefu's out-of-fold margins over train+validation and its test margins come from the cache
(cache_kefu.py: train_risk_model as bench/eval_risk.py runs it). LR (median impute + standardise [+ log1p(Amount)],
L2, C) is fitted out-of-fold on kefu's own 5 folds (StratifiedKFold(5, shuffle, random_state=seed) over the
sorted train+validation rows) and on all train+validation rows (or averaged over the 5 fold models) for the test
part. The weight w of  z = w*kefu + (1-w)*lr  is picked on the out-of-fold margins only; the blended margin is
then calibrated exactly as kefu does (models.risk.table.choose_calibration on the out-of-fold margins).
The test part is used once, for the metrics.
"""
import argparse
import json
import os
import statistics
import sys
from pathlib import Path

import numpy as np
from scipy.special import expit, logit
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss, roc_auc_score
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
import models.risk.table as T  # noqa: E402
from bench.eval_risk import DATASETS, DEFAULT_DATA, load  # noqa: E402

CACHE = Path(os.environ.get("KEFU_CARDBLEND_CACHE", "/tmp/cardblend/cache"))
GRID = np.round(np.linspace(0, 1, 21), 2)
spec = DATASETS["creditcard"]
frame = load(DEFAULT_DATA, "creditcard")
PREP = T.prepare(frame, spec["label"], id_column=spec["id_column"], drop=spec["drop"])
AMOUNT = PREP.spec.names.index("Amount")


def variant(name, C=1.0, logamt=False, test="full", rule="ll", kind="margin"):
    return {"name": name, "C": C, "logamt": logamt, "test": test, "rule": rule, "kind": kind}


VARIANTS = {v["name"]: v for v in [
    # C, LR test-margin source, weight rule, margin/rank
    *[variant(f"ll_C{c}", C=c) for c in (0.01, 0.1, 1.0, 10.0)],
    variant("ll_C1_logamt", logamt=True),
    variant("ll_C0.1_logamt", C=0.1, logamt=True),
    variant("ll_C1_foldavg", test="foldavg"),
    variant("ll_C0.1_foldavg", C=0.1, test="foldavg"),
    variant("auc_C1", rule="auc"),
    variant("auc_C0.1", C=0.1, rule="auc"),
    variant("stack_C1", rule="stack"),
    variant("stack_C0.1", C=0.1, rule="stack"),
    variant("rank_C1", kind="rank", rule="auc"),
    variant("fixed0.5_C1", rule="fixed0.5"),
    *[variant(f"ll_C{c}", C=c) for c in (0.03, 0.3)],
    *[variant(f"stack_C{c}", C=c, rule="stack") for c in (0.01, 0.03, 0.3)],
]}


def lr_pipe(C, logamt):
    def tf(X):
        X = X.copy()
        X[:, AMOUNT] = np.log1p(np.clip(X[:, AMOUNT], 0, None))
        return X
    steps = [SimpleImputer(strategy="median")]
    if logamt:
        steps.append(FunctionTransformer(tf))
    return make_pipeline(*steps, StandardScaler(), LogisticRegression(C=C, max_iter=5000))


def lr_margins(seed, fit_rows, te, C, logamt):
    X, y = PREP.X[fit_rows], PREP.y[fit_rows]
    splits = StratifiedKFold(5, shuffle=True, random_state=seed).split(X, y)
    oof, fold_test = np.empty(len(fit_rows)), []
    for fit, held in splits:
        m = lr_pipe(C, logamt).fit(X[fit], y[fit])
        oof[held] = m.decision_function(X[held])
        fold_test.append(m.decision_function(PREP.X[te]))
    full = lr_pipe(C, logamt).fit(X, y).decision_function(PREP.X[te])
    return oof, full, np.mean(fold_test, axis=0)


def ll(y, z):
    return log_loss(y, np.clip(expit(z), 1e-15, 1 - 1e-15), labels=[0, 1])


def cdf_score(ref, values):
    """Empirical CDF of `values` against the out-of-fold reference (mid-rank), in (0, 1)."""
    ref = np.sort(ref)
    lo = np.searchsorted(ref, values, "left")
    hi = np.searchsorted(ref, values, "right")
    return (lo + hi + 1) / (2 * len(ref) + 2)


def run_seed(seed, v, lr_cache):
    c = np.load(CACHE / f"seed{seed}.npz")
    fit_rows, te, yf, yt = c["fit_rows"], c["te"], c["y_fit"], c["y_test"]
    assert np.array_equal(yf, PREP.y[fit_rows]) and np.array_equal(yt, PREP.y[te])
    key = (seed, v["C"], v["logamt"])
    if key not in lr_cache:
        lr_cache[key] = lr_margins(seed, fit_rows, te, v["C"], v["logamt"])
    lr_oof, lr_full, lr_avg = lr_cache[key]
    lr_test = lr_full if v["test"] == "full" else lr_avg
    k_oof, k_test = c["oof"], c["test_margin"]
    if v["kind"] == "rank":
        a_oof, b_oof = cdf_score(k_oof, k_oof), cdf_score(lr_oof, lr_oof)
        a_te, b_te = cdf_score(k_oof, k_test), cdf_score(lr_oof, lr_test)
        comb = lambda w, a, b: logit(np.clip(w * a + (1 - w) * b, 1e-6, 1 - 1e-6))  # noqa: E731
        pairs = (a_oof, b_oof, a_te, b_te)
    else:
        comb = lambda w, a, b: w * a + (1 - w) * b  # noqa: E731
        pairs = (k_oof, lr_oof, k_test, lr_test)
    if v["rule"] == "stack":
        s = LogisticRegression(C=1e6, max_iter=1000).fit(np.c_[k_oof, lr_oof], yf)
        z_oof = s.decision_function(np.c_[k_oof, lr_oof])
        z_te = s.decision_function(np.c_[k_test, lr_test])
        co = s.coef_[0]
        w = float(co[0] / (co[0] + co[1])) if co.sum() != 0 else float("nan")
    else:
        if v["rule"] == "fixed0.5":
            w = 0.5
        elif v["rule"] == "ll":
            losses = [ll(yf, comb(w, pairs[0], pairs[1])) for w in GRID]
            w = float(GRID[int(np.argmin(losses))])
        else:  # auc: best OOF ROC-AUC, ties to the larger w (closer to kefu)
            aucs = np.array([roc_auc_score(yf, comb(w, pairs[0], pairs[1])) for w in GRID])
            w = float(GRID[np.flatnonzero(aucs >= aucs.max() - 1e-12)[-1]])
        z_oof, z_te = comb(w, pairs[0], pairs[1]), comb(w, pairs[2], pairs[3])
    cal, info = T.choose_calibration(z_oof, yf, seed)
    blend = T.score_metrics(yt, cal.apply(z_te))
    base = {"kefu": T.score_metrics(yt, c["kefu"]), "hgb": T.score_metrics(yt, c["hgb"]),
            "lr": T.score_metrics(yt, c["lr"]), "lgbd": T.score_metrics(yt, c["lgbd"])}
    return {"seed": seed, "w": w, "calibration": info["method"], "blend": blend, **base,
            "oof_auc": {"kefu": roc_auc_score(yf, k_oof), "lr": roc_auc_score(yf, lr_oof),
                        "blend": roc_auc_score(yf, z_oof)}}


def paired(rows, a, b, metric):
    d = [r[a][metric] - r[b][metric] for r in rows]
    better = sum((x < 0) if metric == "brier" else (x > 0) for x in d)
    tie = sum(x == 0 for x in d)
    sd = statistics.stdev(d) if len(d) > 1 else 0.0
    return {"mean": statistics.mean(d), "sd": sd, "se": sd / len(d) ** 0.5, "better": better, "ties": tie, "n": len(d)}


def summarise(rows):
    out = {"means": {m: {k: statistics.mean(r[m][k] for r in rows) for k in ("roc_auc", "pr_auc", "brier")}
                     for m in ("blend", "kefu", "hgb", "lr", "lgbd")}}
    best = {}
    for metric in ("roc_auc", "pr_auc", "brier"):
        pick = min if metric == "brier" else max
        best[metric] = pick(("lr", "hgb", "lgbd"), key=lambda m: out["means"][m][metric])
    out["best_baseline"] = best
    out["blend_vs_kefu"] = {m: paired(rows, "blend", "kefu", m) for m in ("roc_auc", "pr_auc", "brier")}
    out["blend_vs_best"] = {m: paired(rows, "blend", best[m], m) for m in ("roc_auc", "pr_auc", "brier")}
    out["kefu_vs_best"] = {m: paired(rows, "kefu", best[m], m) for m in ("roc_auc", "pr_auc", "brier")}
    out["w"] = [r["w"] for r in rows]
    out["calibrations"] = [r["calibration"] for r in rows]
    return out


def fmt(p):
    return f"{p['mean']:+.4f} ± {p['sd']:.4f} (se {p['se']:.4f}) {p['better']}/{p['n']} up"


def parse_seeds(text):
    if ".." in text:
        a, b = text.split("..")
        return list(range(int(a), int(b) + 1))
    return [int(s) for s in text.split(",")]


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", required=True)
    ap.add_argument("--variants", nargs="+", default=["all"])
    ap.add_argument("--out")
    args = ap.parse_args()
    seeds = parse_seeds(args.seeds)
    names = list(VARIANTS) if args.variants == ["all"] else args.variants
    lr_cache, report = {}, {}
    for name in names:
        rows = [run_seed(s, VARIANTS[name], lr_cache) for s in seeds]
        s = summarise(rows)
        report[name] = {"variant": VARIANTS[name], "summary": s, "rows": rows}
        print(f"{name:18s} blend-kefu ROC {fmt(s['blend_vs_kefu']['roc_auc'])} | PR {fmt(s['blend_vs_kefu']['pr_auc'])}"
              f" | Brier {fmt(s['blend_vs_kefu']['brier'])} | median w {np.median(s['w']):.2f}", flush=True)
    if args.out:
        Path(args.out).write_text(json.dumps(report, indent=1, default=float))
