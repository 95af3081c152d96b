"""The training report: an offline folder with index.html and the PNG plots it references."""
from __future__ import annotations

import html
import re

import numpy as np
import pandas as pd
import pytest

from models.risk import train_risk_model
from models.risk.report import PLOTS, write_report


@pytest.fixture(scope="module")
def result():
    rng = np.random.default_rng(3)
    n = 1200
    score = rng.normal(size=n)
    frame = pd.DataFrame({
        "signal": score + rng.normal(scale=0.7, size=n),
        "plan": rng.choice(["basic", "plus", "pro"], n),
        "region": rng.choice(["north", "south"], n),
        "age": rng.integers(18, 80, n),
        "fraud": np.where(score > 1.0, "yes", "no"),
    })
    frame.loc[rng.random(n) < 0.05, "plan"] = None
    return train_risk_model(frame, "fraud", protected=["region", "age"], seed=1)


def test_report_folder_has_html_and_referenced_pngs(tmp_path, result):
    html_path = write_report(result, tmp_path / "report", "Synthetic <fraud> & risk")
    assert html_path == tmp_path / "report" / "index.html"
    page = html_path.read_text(encoding="utf-8")
    referenced = set(re.findall(r'<img src="([^"]+)"', page))
    assert referenced == set(PLOTS.values())
    for name in referenced:
        png = tmp_path / "report" / name
        assert png.exists() and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5_000
    assert "Synthetic &lt;fraud&gt; &amp; risk" in page                  # escaped, never raw HTML
    assert "http" not in page                                            # opens offline
    for model in ("kefu", "logistic_regression", "hist_gradient_boosting", "lightgbm_default"):
        assert f"<td>{model}</td>" in page
    assert "alert rate 5% (validation)" in page and "stratified random" in page


def test_report_fairness_table_and_notes(tmp_path, result):
    page = write_report(result, tmp_path, "with fairness").read_text(encoding="utf-8")
    assert "<h3>region</h3>" in page and "<td>north</td>" in page
    assert "<h3>age</h3>" in page                                        # numeric: banded into quantiles
    assert len(result.fairness["columns"]["age"]["groups"]) == 4
    assert "region" not in result.model.feature_names
    assert html.escape('"positive": "yes"') in page                     # the label info is in the summary
    assert all(f"<li>{html.escape(note)}</li>" in page for note in result.notes)
