"""Run kefu's train_risk_model exactly as bench/eval_risk.py evaluate() does (creditcard), per seed, and cache:
kefu's out-of-fold margins over train+validation (captured by wrapping models.risk.table._cross_fit, no file
edited), its test margins, the test scores of kefu and the baselines, and the split rows. No blend here.

    python bench/cardfraud_s14/cache_kefu.py SEED [SEED ...]
"""
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
import models.risk.table as T  # noqa: E402
from bench.eval_risk import DATASETS, DEFAULT_DATA, load  # noqa: E402

OUT = Path(os.environ.get("KEFU_CARDBLEND_CACHE", "/tmp/cardblend/cache"))
spec = DATASETS["creditcard"]
frame = load(DEFAULT_DATA, "creditcard")
captured = {}
_orig = T._cross_fit


def _wrapped(prep, rows, seed, threads, progress):
    out = _orig(prep, rows, seed, threads, progress)
    captured["rows"] = rows.copy()
    captured["oof"] = out[1].copy()
    captured["folds"] = len(out[4])       # the (fit, held) splits since session 14
    captured["fold_test"] = None
    captured["boosters"] = out[0]
    return out


T._cross_fit = _wrapped
T.STACK_LINEAR = False      # the booster alone, as the experiment saw it before the stacking landed
OUT.mkdir(parents=True, exist_ok=True)

for seed in map(int, sys.argv[1:]):
    captured.clear()
    t0 = time.perf_counter()
    result = T.train_risk_model(frame, spec["label"], id_column=spec["id_column"], drop=spec["drop"], seed=seed)
    secs = time.perf_counter() - t0
    prep = T.prepare(frame, spec["label"], id_column=spec["id_column"], drop=spec["drop"])
    parts, _ = T.split_rows(prep.y, prep.time, seed)
    te = parts["test"]
    fit_rows = np.sort(np.concatenate([parts["train"], parts["validation"]]))
    assert np.array_equal(fit_rows, captured["rows"])
    assert np.array_equal(result.test_frame["y"].to_numpy(), prep.y[te])
    test_margin = result.model.booster.predict(prep.X[te], raw_score=True)
    fold_mean = np.mean([b.predict(prep.X[te], raw_score=True) for b in captured["boosters"]], axis=0)
    assert np.allclose(test_margin, fold_mean, atol=1e-8), np.abs(test_margin - fold_mean).max()
    assert np.allclose(result.model.calibrator.apply(test_margin), result.test_frame["kefu"].to_numpy(), atol=1e-12)
    tf = result.test_frame
    np.savez(OUT / f"seed{seed}.npz", fit_rows=fit_rows, te=te, oof=captured["oof"], test_margin=test_margin,
             y_test=prep.y[te], y_fit=prep.y[fit_rows], kefu=tf["kefu"].to_numpy(),
             lr=tf["logistic_regression"].to_numpy(), hgb=tf["hist_gradient_boosting"].to_numpy(),
             lgbd=tf["lightgbm_default"].to_numpy())
    (OUT / f"seed{seed}.json").write_text(json.dumps({"seed": seed, "seconds": secs, "metrics": result.metrics,
                                                      "calibration": result.calibration["method"],
                                                      "folds": captured["folds"],
                                                      "num_leaves": result.params["chosen"]["num_leaves"]}, indent=1))
    k = result.metrics["kefu"]
    print(f"seed {seed}: {secs:.1f}s kefu ROC {k['roc_auc']:.4f} PR {k['pr_auc']:.4f} Brier {k['brier']:.4f} "
          f"cal {result.calibration['method']}", flush=True)
