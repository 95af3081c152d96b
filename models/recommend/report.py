"""Markdown tables and a small HTML + PNG report of a recommendation evaluation.

The benchmark prints the tables, stores them as JSON, and leaves a page a reviewer can open without
running anything: one table per dataset and a bar chart of NDCG@10 and HR@10 per method.
"""
from __future__ import annotations

import html
from pathlib import Path
from typing import Any

METRICS: tuple[str, ...] = ("ndcg@10", "hr@10", "recall@10", "map@10", "coverage")


def markdown_table(methods: dict[str, dict[str, Any]], metrics: tuple[str, ...] = METRICS) -> str:
    """One row per method (kefu first), one column per metric, 4 decimals."""
    lines = ["| method | " + " | ".join(metrics) + " |", "|---|" + "---:|" * len(metrics)]
    for name, row in methods.items():
        lines.append(f"| {name} | " + " | ".join(f"{row[m]:.4f}" for m in metrics) + " |")
    return "\n".join(lines)


def plot(results: dict[str, dict[str, Any]], path: Path) -> Path:
    """Grouped bars of NDCG@10 and HR@10 per method, one panel per dataset."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(results), figsize=(6 * len(results), 4), squeeze=False)
    for ax, (dataset, res) in zip(axes[0], results.items()):
        names = list(res["methods"])
        xs = range(len(names))
        for offset, metric in ((-0.2, "ndcg@10"), (0.2, "hr@10")):
            ax.bar([x + offset for x in xs], [res["methods"][n][metric] for n in names], width=0.4, label=metric)
        ax.set_xticks(list(xs))
        ax.set_xticklabels(names, rotation=20)
        ax.set_title(dataset)
        ax.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def write_html(results: dict[str, dict[str, Any]], folder: Path, command: str) -> Path:
    """index.html + metrics.png in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    plot(results, folder / "metrics.png")
    parts = ["<!doctype html><meta charset='utf-8'><title>kefu recommendation evaluation</title>",
             "<style>body{font-family:sans-serif;max-width:60em;margin:2em auto}table{border-collapse:collapse}"
             "td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}td:first-child{text-align:left}</style>",
             "<h1>kefu recommendation evaluation</h1>", f"<p>Command: <code>{html.escape(command)}</code></p>",
             "<img src='metrics.png' alt='NDCG@10 and HR@10 per method'>"]
    for dataset, res in results.items():
        parts.append(f"<h2>{html.escape(dataset)}</h2><p>{html.escape(res.get('protocol', ''))}</p>")
        parts.append("<table><tr><th>method</th>" + "".join(f"<th>{m}</th>" for m in METRICS) + "</tr>")
        for name, row in res["methods"].items():
            parts.append(f"<tr><td>{html.escape(name)}</td>" + "".join(f"<td>{row[m]:.4f}</td>" for m in METRICS)
                         + "</tr>")
        parts.append("</table>")
        notes = {k: res[k] for k in ("goal", "training_seconds", "rank_latency_ms", "users") if k in res}
        parts.append("<ul>" + "".join(f"<li>{html.escape(k)}: {html.escape(str(v))}</li>" for k, v in notes.items())
                     + "</ul>")
    path = folder / "index.html"
    path.write_text("\n".join(parts))
    return path
