"""kefu's risk model against its baselines on the real risk tables, over 5 repeated splits, plus scoring speed.

    python bench/eval_risk.py [--data ../shared/data] [--seeds 0 1 2 3 4] [--datasets taiwan vehicle creditcard]

Every model is trained and tested on the same split in the same run (seeds 0–4: stratified random 70/15/15);
kefu tunes, early-stops, calibrates and sets thresholds on the validation part only; numbers are test-part
mean ± sd over the seeds. Speed: batch `score` (DataFrame in, calibrated scores out) in rows/s on one thread and
on all threads, and single-row `score_one` / `explain` latency, each against a same-run reference (the bare
`Booster.predict` on an already-encoded matrix/row), since these machines are shared and noisy.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import DEFAULT_DATA, peak_rss_mib, print_table, write_result  # noqa: E402
from models.risk import train_risk_model  # noqa: E402

DATASETS = {
    "taiwan": {"path": "risk/taiwan-default/UCI_Credit_Card.csv", "sep": ",", "label": "default.payment.next.month",
               "id_column": "ID", "drop": ()},
    "vehicle": {"path": "risk/vehicle-insurance-fraud/fraud_oracle.csv", "sep": ";", "label": "FraudFound_P",
                "id_column": None, "drop": ("PolicyNumber", "RepNumber")},
    "creditcard": {"path": "risk/creditcard-fraud-sample/creditcard_sample.csv", "sep": ",", "label": "Class",
                   "id_column": None, "drop": ("Unnamed: 0",)},
}
MODELS = ("kefu", "kefu_raw", "logistic_regression", "hist_gradient_boosting", "lightgbm_default")
BASELINES = ("logistic_regression", "hist_gradient_boosting", "lightgbm_default")
METRICS = ("roc_auc", "pr_auc", "brier")


def load(data: Path, name: str) -> pd.DataFrame:
    spec = DATASETS[name]
    path = data / spec["path"]
    if not path.exists():
        sys.exit(f"{name}: not found at {path}")
    return pd.read_csv(path, sep=spec["sep"])


def evaluate(frame: pd.DataFrame, name: str, seeds: list[int]) -> tuple[dict, list]:
    spec = DATASETS[name]
    runs, results = [], []
    for seed in seeds:
        started = time.perf_counter()
        result = train_risk_model(frame, spec["label"], id_column=spec["id_column"], drop=spec["drop"], seed=seed)
        runs.append({"seed": seed, "seconds": round(time.perf_counter() - started, 2), "metrics": result.metrics,
                     "calibration": result.calibration["method"], "rounds": result.model.booster.num_trees(),
                     "num_leaves": result.params["chosen"]["num_leaves"], "thresholds": result.model.thresholds})
        results.append(result)
        k = result.metrics["kefu"]
        print(f"  {name} seed {seed}: kefu ROC-AUC {k['roc_auc']:.4f} PR-AUC {k['pr_auc']:.4f} Brier {k['brier']:.4f}"
              f" ({runs[-1]['seconds']} s, {runs[-1]['rounds']} rounds, {runs[-1]['calibration']})", flush=True)
    summary = {}
    for model in MODELS:
        summary[model] = {}
        for metric in METRICS + ("log_loss",):
            values = [r["metrics"][model][metric] for r in runs]
            summary[model][metric] = {"mean": statistics.mean(values),
                                      "sd": statistics.stdev(values) if len(values) > 1 else 0.0}
    # paired per-seed differences: kefu minus the best baseline of that metric (by mean)
    goals = {}
    for metric in METRICS:
        lower_better = metric == "brier"
        pick = min if lower_better else max
        best = pick(BASELINES, key=lambda m: summary[m][metric]["mean"])
        diffs = [r["metrics"]["kefu"][metric] - r["metrics"][best][metric] for r in runs]
        met = summary["kefu"][metric]["mean"] <= summary[best][metric]["mean"] if lower_better else \
            summary["kefu"][metric]["mean"] >= summary[best][metric]["mean"]
        goals[metric] = {"best_baseline": best, "kefu_minus_best_mean": statistics.mean(diffs),
                         "kefu_minus_best_sd": statistics.stdev(diffs) if len(diffs) > 1 else 0.0,
                         "seeds_kefu_better_or_equal": sum((d <= 0) if lower_better else (d >= 0) for d in diffs),
                         "met": met}
    return {"rows": len(frame), "summary": summary, "goals": goals, "runs": runs}, results


def _best_of(fn, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - started)
    return best


def measure_speed(result, frame: pd.DataFrame, rows: int = 100_000) -> dict:
    """Batch and single-row scoring speed of a trained model on rows drawn from its own table.

    The model is saved and loaded as the service does, so the compiled paths are the served ones: lleaves for
    batches (compiled once, cached beside the artifact: the compile time is reported) and the compiled TreeSHAP
    kernel for reasons. Each is timed against LightGBM on the same rows in the same run, and checked against it.
    """
    import tempfile

    from models.risk.model import RiskModel

    model = RiskModel.load(result.model.save(Path(tempfile.mkdtemp(prefix="kefu-eval-risk-")) / "model"))
    booster = model.booster
    batch = frame.sample(rows, replace=True, random_state=0).reset_index(drop=True)
    matrix = model.encode(batch)
    out = {"trees": booster.num_trees(), "features": len(model.feature_names), "batch_rows": rows}
    started = time.perf_counter()
    compiled = model.batch_predictor()
    out["lleaves_compile_s"] = time.perf_counter() - started if compiled is not None else None
    for threads in (1, 0):
        key = "1_thread" if threads == 1 else "all_threads"
        seconds = _best_of(lambda: model.score(batch, num_threads=threads), 3)
        bare = _best_of(lambda: booster.predict(matrix, raw_score=True, num_threads=threads), 3)
        out[f"batch_rows_per_s_{key}"] = rows / seconds
        out[f"lightgbm_rows_per_s_{key}"] = rows / bare
    out["batch_engine"] = "lleaves" if compiled is not None else "lightgbm"
    # the same model on LightGBM's own predict and pred_contrib (no lleaves, no compiled kernel)
    plain = RiskModel(model.spec, booster, model.calibrator, model.label, model.thresholds, model.meta,
                      compiled=False, linear=model.linear)
    reference = plain.score(batch, num_threads=0)
    out["batch_max_abs_diff_vs_lightgbm"] = float(np.abs(model.score(batch, num_threads=0) - reference).max())
    out["encode_rows_per_s"] = rows / _best_of(lambda: model.encode(batch), 3)

    records = batch.iloc[:2000][model.feature_names].astype(object).where(batch.iloc[:2000][model.feature_names].notna(), None)
    requests = records.to_dict("records")
    for r in requests[:50]:                                     # warm-up
        model.score_one(r)
        model.score_and_explain(r)
    lat, bare_lat, explain_lat, lgb_explain_lat = [], [], [], []
    row = model.spec.encode_row(requests[0])
    for r in requests:
        t0 = time.perf_counter()
        model.score_one(r)
        t1 = time.perf_counter()
        booster.predict(row, raw_score=True, num_threads=1)
        t2 = time.perf_counter()
        lat.append(t1 - t0)
        bare_lat.append(t2 - t1)
    for r in requests[:500]:
        t0 = time.perf_counter()
        model.score_and_explain(r)                              # score + reasons, as the endpoint does
        t1 = time.perf_counter()
        booster.predict(model.spec.encode_row(r), pred_contrib=True, num_threads=1)   # LightGBM's pred_contrib
        t2 = time.perf_counter()
        explain_lat.append(t1 - t0)
        lgb_explain_lat.append(t2 - t1)
    ms = lambda xs, q: float(np.percentile(xs, q) * 1000)  # noqa: E731
    out.update({"score_one_p50_ms": ms(lat, 50), "score_one_p99_ms": ms(lat, 99),
                "booster_one_row_p50_ms": ms(bare_lat, 50), "explain_p50_ms": ms(explain_lat, 50),
                "explain_p99_ms": ms(explain_lat, 99), "lightgbm_pred_contrib_p50_ms": ms(lgb_explain_lat, 50),
                "explain_engine": "compiled" if model.fast_explainer() is not None else "lightgbm"})
    encoded = np.vstack([model.spec.encode_row(r) for r in requests[:500]])
    _, contrib = model._explain_matrix(encoded)
    out["contrib_max_abs_diff_vs_lightgbm"] = float(np.abs(contrib - plain._explain_matrix(encoded)[1]).max())
    same = np.allclose([model.score_one(r) for r in requests[:200]], model.score(pd.DataFrame(requests[:200])),
                       rtol=0, atol=1e-12)
    out["score_one_equals_score"] = bool(same)
    return out


def markdown(report: dict) -> str:
    lines = ["| dataset | model | ROC-AUC | PR-AUC | Brier |", "|---|---|---|---|---|"]
    for name, ds in report.items():
        for model in MODELS:
            s = ds["summary"][model]
            cells = " | ".join(f"{s[m]['mean']:.4f} ± {s[m]['sd']:.4f}" for m in METRICS)
            lines.append(f"| {name} | {model} | {cells} |")
    lines += ["", "| dataset | metric | best baseline | kefu − best (mean ± sd over seeds) | seeds kefu ≥ | goal met |",
              "|---|---|---|---|---|---|"]
    for name, ds in report.items():
        for metric, g in ds["goals"].items():
            lines.append(f"| {name} | {metric} | {g['best_baseline']} | {g['kefu_minus_best_mean']:+.4f} ± "
                         f"{g['kefu_minus_best_sd']:.4f} | {g['seeds_kefu_better_or_equal']}/{len(ds['runs'])} | "
                         f"{'yes' if g['met'] else 'NO'} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=list(DATASETS))
    parser.add_argument("--no-speed", action="store_true")
    args = parser.parse_args()
    started = time.perf_counter()
    report, speed = {}, {}
    for name in args.datasets:
        frame = load(args.data, name)
        print(f"{name}: {len(frame)} rows", flush=True)
        report[name], results = evaluate(frame, name, args.seeds)
        if not args.no_speed:                                   # the first seed's model, on its own table
            speed[name] = measure_speed(results[0], frame)
    print()
    print(markdown(report))
    if speed:
        print("\nscoring speed (first seed's model; batch = DataFrame of 100,000 rows in, calibrated scores out)")
        keys = list(next(iter(speed.values())))
        rows = [("", "  ".join(f"{n:>14}" for n in speed))]
        for key in keys:
            cells = []
            for values in speed.values():
                v = values[key]
                cells.append(f"{v:>14.2e}" if isinstance(v, float) and v < 1e-3 else
                             f"{v:>14,.4f}" if isinstance(v, float) and v < 100 else
                             (f"{v:>14,.0f}" if isinstance(v, float) else f"{v!s:>14}"))
            rows.append((key, "  ".join(cells)))
        print_table(rows)
    path = write_result("eval_risk", {"command": " ".join(sys.argv), "seeds": args.seeds, "datasets": report,
                                      "speed": speed, "seconds": round(time.perf_counter() - started, 1),
                                      "peak_rss_mib": round(peak_rss_mib())})
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
