"""One PNG of a decision rule's back-test (service/pipelines/risk_backtest.py): per day, the model's cases, those
the rule matches, the decisions it would raise and the matched cases recorded as fraud; and the decisions before
and after it."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from matplotlib.figure import Figure

from models.plots import save_figure

DECISIONS = ("approve", "review", "decline")


def plot_backtest(report: Mapping[str, Any], path: Path, title: str) -> Path:
    fig = Figure(figsize=(11, 4.2))
    left, right = fig.subplots(1, 2, gridspec_kw={"width_ratios": [3, 1]})
    days = report["by_day"]
    x = list(range(len(days)))
    left.bar(x, [d["matched"] for d in days], color="#e6a23c", label="matched")
    left.bar(x, [d["changed"] for d in days], color="#c0392b", width=0.5, label="decision raised")
    left.plot(x, [d["matched_fraud"] for d in days], color="black", marker="o", linewidth=1,
              label="matched, recorded fraud")
    left.set_xticks(x, [d["date"][5:] for d in days], rotation=60, fontsize=7)
    left.set_ylabel("matched cases per day")
    left.legend(fontsize=7, loc="upper left")
    total = left.twinx()                                # every case on its own scale: matches are often few
    total.plot(x, [d["cases"] for d in days], color="#95a5a6", linestyle="--", marker=".", label="all cases")
    total.set_ylabel("all cases per day", color="#7f8c8d")
    total.set_ylim(0, max([d["cases"] for d in days] + [1]) * 1.1)
    total.legend(fontsize=7, loc="upper right")
    outcomes = report["outcomes"]
    precision = "n/a" if outcomes["precision"] is None else f"{outcomes['precision']:.2f}"
    recall = "n/a" if outcomes["recall"] is None else f"{outcomes['recall']:.2f}"
    left.set_title(f"{title}: {report['matched']} of {report['cases']} cases matched in {report['days']} days, "
                   f"{report['changed']} raised; precision {precision}, recall {recall}", fontsize=9)

    before, after = report["decisions"]["before"], report["decisions"]["after"]
    width = 0.38
    ticks = list(range(len(DECISIONS)))
    right.bar([t - width / 2 for t in ticks], [before[d] for d in DECISIONS], width, color="#7f8c8d", label="as stored")
    right.bar([t + width / 2 for t in ticks], [after[d] for d in DECISIONS], width, color="#c0392b",
              label="with the rule")
    right.set_xticks(ticks, DECISIONS)
    right.legend(fontsize=7)
    right.set_title("decisions", fontsize=9)
    return save_figure(fig, path)
