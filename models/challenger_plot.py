"""One PNG of a champion/challenger comparison (`kefu models compare NAME --plot FILE`).

Risk models: the two versions' ROC curves on the cases with recorded outcomes (the AUC difference and its interval
in the title), their decision rates side by side, and in shadow mode the champion × challenger decision matrix
on the cases both scored. The recommender: each arm's share of customers who viewed and bought a shown item, with
the purchase-rate difference and its interval. Drawn from the report alone, on a `matplotlib.figure.Figure` (Agg
canvas) as the other report plots are, so no display is needed.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from matplotlib.figure import Figure

from models.plots import save_figure

COLOURS = {"champion": "#34495e", "challenger": "#e67e22"}
DECISIONS = ("approve", "review", "decline")


def _interval(diff: Mapping[str, Any] | None, label: str, fmt: str) -> str:
    if not diff:
        return f"{label}: too few outcomes for an interval"
    return (f"{label} {diff['estimate']:{fmt}} (95 %: {diff['low']:{fmt}} to {diff['high']:{fmt}})")


def plot_risk_challenge(report: Mapping[str, Any], path: Path) -> Path:
    """ROC curves, decision rates and (shadow mode) the decision matrix of a risk challenger report."""
    panels = 3 if report.get("paired") else 2
    fig = Figure(figsize=(4.4 * panels, 4.2))
    axes = fig.subplots(1, panels)
    roc, rates = axes[0], axes[1]
    roc.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=1)
    for role, arm in zip(("champion", "challenger"), report["arms"]):
        curve = arm.get("roc_curve")
        if curve:
            roc.plot(curve["fpr"], curve["tpr"], color=COLOURS[role],
                     label=f"{role} {arm['version']}: AUC {arm['roc_auc']:.3f} ({arm['outcomes']} outcomes)")
    roc.set_xlabel("false-positive rate")
    roc.set_ylabel("true-positive rate")
    roc.set_xlim(0, 1)
    roc.set_ylim(0, 1.01)
    if roc.get_legend_handles_labels()[0]:
        roc.legend(loc="lower right", fontsize=7)
    else:
        roc.text(0.5, 0.5, "no outcomes of both classes yet", ha="center", va="center", fontsize=8)
    roc.set_title(_interval(report.get("auc_difference"), "ROC-AUC difference", "+.4f"), fontsize=8)

    width = 0.38
    for k, (role, arm) in enumerate(zip(("champion", "challenger"), report["arms"])):
        values = [arm["decision_rates"].get(d) or 0.0 for d in DECISIONS]
        rates.bar([i + (k - 0.5) * width for i in range(len(DECISIONS))], values, width, color=COLOURS[role],
                  label=f"{role}: {arm['cases']} cases")
    rates.set_xticks(range(len(DECISIONS)), DECISIONS)
    rates.set_ylabel("share of cases (list-decided and rule-matched left out)")
    rates.legend(fontsize=7)
    mode = f"{report.get('mode')}, share {report.get('share'):g}" if report.get("mode") else "ended"
    rates.set_title(f"{report.get('model', '')}: {report['challenger']} against {report['champion']} ({mode})",
                    fontsize=8)

    paired = report.get("paired")
    if paired:
        matrix = axes[2]
        counts = [[paired["decisions"][a][b] for b in DECISIONS] for a in DECISIONS]
        matrix.imshow(counts, cmap="Blues")
        for i, row in enumerate(counts):
            for j, n in enumerate(row):
                matrix.text(j, i, str(n), ha="center", va="center", fontsize=9,
                            color="white" if n > max(map(max, counts)) / 2 else "black")
        matrix.set_xticks(range(len(DECISIONS)), DECISIONS)
        matrix.set_yticks(range(len(DECISIONS)), DECISIONS)
        matrix.set_xlabel("challenger decided")
        matrix.set_ylabel("champion decided")
        agreement = "-" if paired["agreement"] is None else f"{paired['agreement']:.1%}"
        matrix.set_title(f"same {paired['cases']} cases: decisions agree on {agreement}", fontsize=8)
    return save_figure(fig, path)


def plot_recommender_split(test: Mapping[str, Any], path: Path) -> Path:
    """View and purchase rates per arm of a recommender split test (the performance report's ``challenge``)."""
    fig = Figure(figsize=(6.4, 4.2))
    ax = fig.subplots()
    width = 0.38
    for k, (role, arm) in enumerate(zip(("champion", "challenger"), test["arms"])):
        values = [arm.get("view_rate") or 0.0, arm.get("purchase_rate") or 0.0]
        ax.bar([i + (k - 0.5) * width for i in range(2)], values, width, color=COLOURS[role],
               label=f"{role} {arm['version']}: {arm['customers']} customers")
    ax.set_xticks(range(2), ["viewed a shown item", "bought a shown item"])
    ax.set_ylabel("share of the arm's customers")
    ax.legend(fontsize=7)
    ax.set_title(_interval(test.get("purchase_rate_difference"), "purchase-rate difference", "+.2%")
                 + f"; verdict {test['verdict']}", fontsize=8)
    return save_figure(fig, path)
