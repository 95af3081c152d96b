"""Decision rules judged on many cases at once (back-tests, files) give, case by case, what a live score gets."""
from __future__ import annotations

import random

import numpy as np
import pytest

from service.pipelines.risk_rules import compile_rule, matching, rule_mask

VALUES = [None, float("nan"), 0, 1, 1.0, 2.5, -3, True, False, "1", "1.0", "a", "b", "", "2.5", float("inf"),
          np.float64(2.5), np.int64(1)]
CONDITIONS = [(">", 1), (">=", 1.0), ("<", 2.5), ("<=", 0), ("==", 1), ("==", "a"), ("!=", 2.5), ("!=", "b"),
              ("in", [1, "a", 2.5]), ("not_in", ["1", 0]), ("in", ["", "b"]), ("not_in", [2.5])]


def _rules(rng: random.Random, n: int) -> list[dict]:
    out = []
    for i in range(n):
        when = [{"field": rng.choice(["x", "y", "score", "absent"]), "op": op, "value": value}
                for op, value in rng.sample(CONDITIONS, rng.randint(1, 3))]
        out.append({"name": f"r{i}", "action": "review", "when": when})
    return out


@pytest.mark.parametrize("seed", range(5))
def test_the_mask_is_matching_case_by_case(seed):
    rng = random.Random(seed)
    n = 300
    x = [rng.choice(VALUES) for _ in range(n)]
    y = [rng.choice(VALUES) for _ in range(n)]
    scores = np.array([rng.random() * 3 for _ in range(n)])
    for row in _rules(rng, 40):
        rule = compile_rule(row)
        expected = [bool(matching([rule], {"x": a, "y": b}, s)) for a, b, s in zip(x, y, scores)]
        got = rule_mask(rule, {"x": x, "y": y}, scores)
        assert got.tolist() == expected, row


def test_numeric_arrays_take_the_vectorised_path_with_the_same_answer():
    rng = np.random.default_rng(0)
    amounts = rng.normal(100, 50, 1000)
    amounts[::7] = np.nan                                          # missing: meets nothing
    hours = rng.integers(0, 24, 1000)
    scores = rng.random(1000)
    for when in ([{"field": "amount", "op": ">", "value": 120}, {"field": "hour", "op": "<=", "value": 5}],
                 [{"field": "amount", "op": "<", "value": 80}, {"field": "score", "op": ">=", "value": 0.5}],
                 [{"field": "hour", "op": "in", "value": [1, 2, 3]}, {"field": "amount", "op": "!=", "value": 7}]):
        rule = compile_rule({"name": "r", "action": "decline", "when": when})
        expected = [bool(matching([rule], {"amount": a, "hour": h}, s))
                    for a, h, s in zip(amounts.tolist(), hours.tolist(), scores)]
        got = rule_mask(rule, {"amount": amounts, "hour": hours}, scores)
        assert got.tolist() == expected and 0 < got.sum() < 1000
