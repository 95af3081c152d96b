"""Back-testing a decision rule: what it would have done to a model's stored cases, before it decides live ones.

A risk team writes a rule, saves it disabled (or sends it unsaved), and asks what it would have matched over the
last days: how many cases, how many decisions it would have raised, and on the cases analysts have labelled, how
much of the known fraud it catches (recall) and how much of what it flags was fraud (precision). The cases are the
audit trail's case-deciding scores (every version of the model, no challenger shadow), each judged exactly as a
live score is (service.pipelines.risk_rules): on the features as stored, for a behavioural model also the
payment's raw fields as sent (stored since migration 0013; older cases lack them, and ``missing`` counts the cases
where a rule's field was not there to test), and the score that decided the case.

"Before" is the decision as stored, the rules live at the time included; "after" is that decision escalated by
this rule. A case a list entry decided keeps its decision (``listed``), as it would live. A rule that is already
live reports, in ``matched_live``, the cases it matched when they were scored.
"""
from __future__ import annotations

from collections import Counter
from datetime import timedelta
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from features.storage.store import utcnow
from service.pipelines.risk_rules import RANK, SCORE, Rule, compile_rule, escalate, is_missing, rule_mask

#: At most this many of the newest cases are read; ``truncated`` says when the window held more.
MAX_CASES = 200_000
DECISIONS = tuple(RANK)


def case_value(case: Mapping[str, Any], field: str) -> Any:
    """A field of a stored case as a live score sees it: its features first, then the payment's raw fields."""
    features = case.get("features") or {}
    if field in features:
        return features[field]
    payment = case.get("payment")
    return payment.get(field) if payment else None


def backtest_rule(rule_row: Mapping[str, Any], audit, *, days: int, examples: int = 10,
                  max_cases: int = MAX_CASES) -> dict:
    """The back-test of ``rule_row`` ({model, when, action, reason?, name?}) on the model's cases of the last
    ``days`` days, read from ``audit`` (a RiskAuditStore or its buffered writer)."""
    since = utcnow() - timedelta(days=days)
    cases = audit.decided_cases(rule_row["model"], since, max_cases + 1)
    result = backtest(compile_rule({"name": rule_row.get("name") or "", **rule_row}), cases, examples=examples,
                      max_cases=max_cases)
    return {"model": rule_row["model"], "days": days, "since": since, **result}


def backtest(rule: Rule, cases: Iterable[Mapping[str, Any]], *, examples: int = 10,
             max_cases: int | None = None) -> dict:
    """What ``rule`` does to ``cases`` (stored case rows, newest first: score, decision, features, payment,
    list_match, rule_matches, outcome, created_at, score_id), in one pass that keeps only the fields the rule
    tests of each case's features; at most ``max_cases`` of them (``truncated`` when there were more)."""
    fields = sorted({field for field, _op, _value in rule.conditions if field != SCORE})
    columns: dict[str, list[Any]] = {field: [] for field in fields}
    ids, created, scores, before, listed, outcome = [], [], [], [], [], []
    live = 0
    truncated = False
    for i, case in enumerate(cases):
        if max_cases is not None and i >= max_cases:
            truncated = True
            break
        for field in fields:
            columns[field].append(case_value(case, field))
        ids.append(case["score_id"])
        created.append(case["created_at"])
        scores.append(case["score"])
        before.append(case["decision"])
        listed.append(case.get("list_match") is not None)
        outcome.append(case.get("outcome"))
        live += any(m.get("name") == rule.name for m in case.get("rule_matches") or ())
    n = len(ids)
    matched = rule_mask(rule, columns, np.asarray(scores, dtype=float))
    listed_arr = np.asarray(listed, dtype=bool)
    after = [escalate(d, [rule.public]) if m and not lst else d for d, m, lst in zip(before, matched, listed)]
    changed = np.fromiter((a != b for a, b in zip(after, before)), dtype=bool, count=n)
    labelled = np.fromiter((o is not None for o in outcome), dtype=bool, count=n)
    fraud = np.fromiter((o is True for o in outcome), dtype=bool, count=n)

    matched_labelled, matched_fraud = int((matched & labelled).sum()), int((matched & fraud).sum())
    return {
        "truncated": truncated,
        "cases": n,
        "matched": int(matched.sum()),
        "match_rate": float(matched.mean()) if n else None,
        "matched_live": live if rule.name else 0,
        "listed": int((matched & listed_arr).sum()),
        "changed": int(changed.sum()),
        "decisions": {"before": _counts(before), "after": _counts(after)},
        "outcomes": {
            "labelled": int(labelled.sum()),
            "fraud": int(fraud.sum()),
            "matched_labelled": matched_labelled,
            "matched_fraud": matched_fraud,
            "precision": matched_fraud / matched_labelled if matched_labelled else None,
            "recall": matched_fraud / int(fraud.sum()) if fraud.any() else None,
            "changed_fraud": int((changed & fraud).sum()),
            "changed_legit": int((changed & labelled & ~fraud).sum()),
        },
        "missing": {field: sum(1 for v in columns[field] if is_missing(v)) for field in fields},
        "by_day": _by_day(created, matched, changed, fraud),
        "examples": [{"score_id": sid, "created_at": at, "score": sc, "decision": b, "decision_after": a,
                      "outcome": o}
                     for sid, at, sc, b, a, o in _matched_rows(matched, ids, created, scores, before, after,
                                                                outcome, limit=examples)],
    }


def _matched_rows(matched: np.ndarray, *columns: Sequence[Any], limit: int) -> list[tuple]:
    """The first ``limit`` matched cases' values of ``columns`` (the cases come newest first)."""
    picked = np.flatnonzero(matched)[:limit].tolist()
    return [tuple(col[i] for col in columns) for i in picked]


def _counts(decisions: Sequence[str]) -> dict[str, int]:
    counted = Counter(decisions)
    return {d: int(counted.get(d, 0)) for d in DECISIONS}


def _by_day(created: Sequence[Any], matched: np.ndarray, changed: np.ndarray, fraud: np.ndarray) -> list[dict]:
    """Per UTC day, oldest first: cases, matched, changed, matched_fraud (what a plot of the back-test shows)."""
    days: dict[Any, list[int]] = {}
    for at, m, ch, f in zip(created, matched.tolist(), changed.tolist(), fraud.tolist()):
        row = days.setdefault(at.date(), [0, 0, 0, 0])
        row[0] += 1
        row[1] += m
        row[2] += ch
        row[3] += m and f
    return [{"date": day.isoformat(), "cases": c, "matched": m, "changed": ch, "matched_fraud": f}
            for day, (c, m, ch, f) in sorted(days.items())]
