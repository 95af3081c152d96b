"""One PNG of a monitoring report: the daily alert rate against the expected one, and PSI per feature.

Drawn on a `matplotlib.figure.Figure` (Agg canvas), as models/risk/report.py does, so no display is needed.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from matplotlib.figure import Figure

from models.plots import save_figure
from models.risk.monitoring import PSI_DRIFT, PSI_WATCH

TOP_FEATURES = 12


def plot_monitoring(report: Mapping[str, Any], path: Path) -> Path:
    fig = Figure(figsize=(11, 4.2))
    left, right = fig.subplots(1, 2)
    days = report["daily"]
    x = list(range(len(days)))
    left.bar(x, [d["scores"] for d in days], color="#c9d6e8", label="scores")
    left.set_ylabel("scores per day")
    left.set_xticks(x, [d["date"][5:] for d in days], rotation=60, fontsize=7)
    rate = left.twinx()
    rate.plot(x, [d["review_rate"] + d["decline_rate"] for d in days], color="#c0392b", marker="o",
              label="alert rate served")
    expected = report["alert_rate"].get("expected")
    if expected is not None:
        rate.axhline(expected, color="#c0392b", linestyle="--", linewidth=1, label="expected (held-out scores)")
    rate.set_ylabel("review + decline")
    rate.set_ylim(0, max([expected or 0] + [d["review_rate"] + d["decline_rate"] for d in days] + [0.05]) * 1.3)
    rate.legend(loc="upper left", fontsize=7)
    left.set_title(f"{report['model']} {report['model_version']}: traffic", fontsize=9)

    feats = report["features"][:TOP_FEATURES][::-1]
    names = [f["feature"] for f in feats]
    values = [f["psi"] for f in feats]
    if report.get("score_psi") is not None:
        names.append("(score)")
        values.append(report["score_psi"])
    colours = ["#c0392b" if v >= PSI_DRIFT else "#e67e22" if v >= PSI_WATCH else "#27ae60" for v in values]
    right.barh(range(len(values)), values, color=colours)
    right.set_yticks(range(len(values)), names, fontsize=7)
    for line in (PSI_WATCH, PSI_DRIFT):
        right.axvline(line, color="grey", linestyle=":", linewidth=1)
    right.set_xlabel("population stability index against training")
    right.set_title(f"drift: {report['status']} ({report['scores']} scores, {report['days']} days)", fontsize=9)
    return save_figure(fig, path)
