"""A training run as a folder a risk analyst can open offline: index.html + PNG plots beside it.

Plots are drawn on `matplotlib.figure.Figure` objects (Agg canvas) rather than pyplot, so writing a report never
touches global matplotlib state or needs a display — it also runs inside a web worker or a test.
"""
from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any, Iterable

import numpy as np
from matplotlib.figure import Figure
from sklearn.calibration import calibration_curve
from sklearn.metrics import average_precision_score, precision_recall_curve, roc_auc_score, roc_curve

from models.plots import save_figure
from models.risk.table import TrainResult

PLOTS = {"roc": "roc.png", "pr": "precision_recall.png", "calibration": "calibration.png",
         "distribution": "score_distribution.png"}


def _models(result: TrainResult) -> list[str]:
    """Models to draw: kefu_raw ranks exactly like kefu, so it only appears on the calibration plot."""
    return [m for m in result.metrics if m != "kefu_raw"]


def _plot_roc(result: TrainResult, path: Path) -> None:
    fig = Figure(figsize=(5.5, 5))
    ax = fig.add_subplot()
    y = result.test_frame["y"].to_numpy()
    for model in _models(result):
        p = result.test_frame[model].to_numpy()
        fpr, tpr, _ = roc_curve(y, p)
        ax.plot(fpr, tpr, lw=2 if model == "kefu" else 1, label=f"{model} (AUC {roc_auc_score(y, p):.3f})")
    ax.plot([0, 1], [0, 1], ls=":", c="grey", lw=1)
    ax.set(xlabel="false positive rate", ylabel="true positive rate (recall)", title="ROC, test part")
    ax.legend(loc="lower right", fontsize=8)
    save_figure(fig, path)


def _plot_pr(result: TrainResult, path: Path) -> None:
    fig = Figure(figsize=(5.5, 5))
    ax = fig.add_subplot()
    y = result.test_frame["y"].to_numpy()
    for model in _models(result):
        p = result.test_frame[model].to_numpy()
        precision, recall, _ = precision_recall_curve(y, p)
        ax.plot(recall, precision, lw=2 if model == "kefu" else 1,
                label=f"{model} (AP {average_precision_score(y, p):.3f})")
    ax.axhline(y.mean(), ls=":", c="grey", lw=1, label=f"base rate {y.mean():.3f}")
    ax.set(xlabel="recall", ylabel="precision", title="Precision–recall, test part", ylim=(0, 1.02))
    ax.legend(loc="upper right", fontsize=8)
    save_figure(fig, path)


def _plot_calibration(result: TrainResult, path: Path) -> None:
    fig = Figure(figsize=(5.5, 5))
    ax = fig.add_subplot()
    y = result.test_frame["y"].to_numpy()
    for model, style in (("kefu_raw", "--"), ("kefu", "-")):
        p = result.test_frame[model].to_numpy()
        bins = max(2, min(10, int(y.sum()) // 5))
        observed, predicted = calibration_curve(y, p, n_bins=bins, strategy="quantile")
        label = "kefu raw booster" if model == "kefu_raw" else f"kefu calibrated ({result.calibration.get('method')})"
        ax.plot(predicted, observed, style, marker="o", label=label)
    ax.plot([0, 1], [0, 1], ls=":", c="grey", lw=1, label="perfect")
    ax.set(xlabel="mean predicted score (quantile bins)", ylabel="observed positive rate",
           title="Reliability, test part")
    ax.legend(loc="upper left", fontsize=8)
    save_figure(fig, path)


def _plot_distribution(result: TrainResult, path: Path) -> None:
    fig = Figure(figsize=(6.5, 4))
    ax = fig.add_subplot()
    y = result.test_frame["y"].to_numpy()
    p = result.test_frame["kefu"].to_numpy()
    bins = np.linspace(0, 1, 41)
    ax.hist(p[y == 0], bins=bins, alpha=0.6, density=True, label=f"negative ({int((y == 0).sum())})")
    ax.hist(p[y == 1], bins=bins, alpha=0.6, density=True, label=f"positive ({int((y == 1).sum())})")
    for name, value in result.model.thresholds.items():
        ax.axvline(value, ls="--", c="black" if name == "decline" else "dimgrey", lw=1)
        ax.text(value, ax.get_ylim()[1] * 0.95, f" {name}", fontsize=8, va="top")
    ax.set(xlabel="kefu calibrated score", ylabel="density", title="Score distribution by class, test part")
    ax.legend(fontsize=8)
    save_figure(fig, path)


def _fmt(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.4f}"
    if isinstance(value, (dict, list)):
        return json.dumps(value, default=str)
    return str(value)


def _table(rows: Iterable[dict], columns: list[str] | None = None) -> str:
    rows = list(rows)
    if not rows:
        return "<p>none</p>"
    columns = columns or list(rows[0])
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(_fmt(r.get(c)))}</td>" for c in columns) + "</tr>"
                   for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _fairness_html(fairness: dict | None) -> str:
    if not fairness:
        return "<p>No protected columns were given.</p>"
    parts = [f"<p>Groups on the test part, alerts at the review threshold {fairness['threshold']:.4f}; gaps over "
             f"groups with at least {fairness['min_group']} rows.</p>"]
    for column, data in fairness["columns"].items():
        rows = [{"group": g, **s} for g, s in data["groups"].items()]
        gaps = [{"metric": m, **(g or {"gap": None})} for m, g in data["gaps"].items()]
        parts.append(f"<h3>{html.escape(column)}</h3>" + _table(rows) +
                     _table(gaps, ["metric", "gap", "max_group", "min_group"]))
    return "".join(parts)


def write_report(result: TrainResult, out_dir: Path, title: str) -> Path:
    """Write index.html and the PNGs it references into out_dir; returns the HTML path."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    _plot_roc(result, out_dir / PLOTS["roc"])
    _plot_pr(result, out_dir / PLOTS["pr"])
    _plot_calibration(result, out_dir / PLOTS["calibration"])
    _plot_distribution(result, out_dir / PLOTS["distribution"])

    model = result.model
    metrics = [{"model": name, **values} for name, values in result.metrics.items()]
    split = [{"part": part, **values} for part, values in result.split.items() if isinstance(values, dict)]
    summary = [{"item": "label", "value": model.label},
               {"item": "features", "value": f"{len(model.feature_names)}: " + ", ".join(model.feature_names)},
               {"item": "thresholds", "value": model.thresholds},
               {"item": "calibration", "value": result.calibration},
               {"item": "split", "value": result.split.get("how")},
               {"item": "data sha256", "value": result.data_hash}]
    images = "".join(f'<figure><img src="{file}" alt="{key}"></figure>' for key, file in PLOTS.items())
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em; color: #222; }}
table {{ border-collapse: collapse; margin: 0.5em 0 1.5em; font-size: 0.85em; }}
th, td {{ border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: right; }}
th {{ background: #f2f2f2; }} td:first-child {{ text-align: left; }}
figure {{ display: inline-block; margin: 0.5em; }} img {{ max-width: 560px; }}
</style></head><body>
<h1>{html.escape(title)}</h1>
<h2>Model</h2>{_table(summary)}
<h2>Metrics on the test part</h2>{_table(metrics)}
<h2>Plots</h2>{images}
<h2>Thresholds (kefu, test part)</h2>{_table(result.threshold_table)}
<h2>Split</h2><p>{html.escape(str(result.split.get("how", "")))}</p>{_table(split)}
<h2>Fairness</h2>{_fairness_html(result.fairness)}
<h2>Notes</h2><ul>{"".join(f"<li>{html.escape(n)}</li>" for n in result.notes)}</ul>
</body></html>
"""
    path = out_dir / "index.html"
    path.write_text(page, encoding="utf-8")
    return path
