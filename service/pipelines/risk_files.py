"""Block and allow lists and decision rules on a scored file (``kefu score``), as the API applies them to each case.

A file's rows are a table model's cases: its columns are what the lists and rules test (a ``customer_id`` column,
when the file has one, is matched against customer list entries). A list entry decides a row alone; otherwise
the matching rules escalate the model's decision (service.pipelines.risk_rules). Rules are judged a whole column
at a time (rule_mask), lists row by row, and only when entries exist.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import pandas as pd

from features.storage.store import utcnow
from service.pipelines.risk_lists import DECISION, RiskLists
from service.pipelines.risk_rules import SCORE, Rule, escalate, rule_mask

CUSTOMER = "customer_id"


def _column(frame: pd.DataFrame, name: str) -> np.ndarray:
    """A column as rule_mask takes it: numbers as a numeric array (NaN missing), anything else as Python
    objects with None where pandas has a missing value (NaN, NA, NaT)."""
    col = frame[name]
    if col.dtype.kind in "fiu":
        return col.to_numpy()
    return col.astype(object).where(col.notna(), None).to_numpy()


def list_matches(frame: pd.DataFrame, lists: RiskLists | None) -> list[dict | None]:
    """Per row, the list entry that decides it ({field, value, action, reason}) or None."""
    entries = lists.cached() if lists is not None else {}
    fields = [f for f in entries if f in frame.columns]
    if not fields:
        return [None] * len(frame)
    columns = {f: _column(frame, f).tolist() for f in fields}
    out: list[dict | None] = []
    for i in range(len(frame)):
        attrs = {f: columns[f][i] for f in fields}
        out.append(lists.match(attrs.get(CUSTOMER), attrs))
    return out


def decide_rows(frame: pd.DataFrame, scores: np.ndarray, model_decisions: Sequence[str], *,
                rules: Sequence[Rule], lists: RiskLists | None) -> dict[str, list[Any]]:
    """``decisions`` (after lists and rules), ``rule_matches`` (per row, the matching rules' names) and
    ``list_match`` (per row, the deciding entry or None) for a file's rows scored ``scores``, whose model decisions
    at the thresholds are ``model_decisions``."""
    listed = list_matches(frame, lists)
    decisions = [DECISION[hit["action"]] if hit else d for d, hit in zip(model_decisions, listed)]
    names: list[list[str]] = [[] for _ in range(len(frame))]
    now = utcnow()
    live = [r for r in rules if r.expires_at is None or r.expires_at > now]
    needed = {f for r in live for f, _op, _value in r.conditions if f != SCORE and f in frame.columns}
    columns = {f: _column(frame, f) for f in needed}
    for rule in live:
        for i in np.flatnonzero(rule_mask(rule, columns, scores)).tolist():
            names[i].append(rule.name)
            if listed[i] is None:
                decisions[i] = escalate(decisions[i], [rule.public])
    return {"decisions": decisions, "rule_matches": names, "list_match": listed}
