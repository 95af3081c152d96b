"""Decision rules on top of a risk model: a risk team's own conditions that escalate a case's decision.

A rule belongs to one model (by name, whatever its active version) and holds 1-10 conditions, ANDed:
``{"field": F, "op": OP, "value": V}``. F is one of the model's feature columns (for the behavioural model: its
features as computed for the payment, plus the raw payment fields ``amount``, ``country``, ``device_id``,
``ip``), or ``score``: the calibrated score of the version that scored the case (a challenger's shadow score is
judged on its own score and features). OP is ``>``, ``>=``, ``<``, ``<=`` (a number), ``==``, ``!=`` (numbers
compared as numbers, anything else as text), ``in`` or ``not_in`` (a list; each value compared like ``==``).

A missing value (absent, null, NaN) meets no condition at all, ``!=`` and ``not_in`` included: a rule never fires
on what it cannot see. A case that meets every condition of an enabled, unexpired rule is escalated to the rule's
action: the decision becomes the strictest of the model's and every matching rule's (approve < review <
decline), never a lower one. A block or allow list entry still decides alone (exact knowledge of a value); the
rules that matched are still named in ``rule_matches``.

Each worker reads the enabled, unexpired rules at most every ``RULE_CACHE_SECONDS`` (a change made through this
worker applies at once, in the others within that time). A model without rules costs a score one dictionary
lookup; each rule is compiled once per read into plain comparisons.
"""
from __future__ import annotations

import logging
import math
import numbers
import operator
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from features.storage.risk_rules import RiskRuleStore
from features.storage.store import utcnow
from service.pipelines.worker_cache import WorkerCache

log = logging.getLogger(__name__)

RULE_CACHE_SECONDS = 5.0
SCORE = "score"
ORDER_OPS: dict[str, Callable[[float, float], bool]] = {
    ">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le}
EQUALITY_OPS = ("==", "!=")
SET_OPS = ("in", "not_in")
OPS = (*ORDER_OPS, *EQUALITY_OPS, *SET_OPS)
#: The payment as sent, next to the behavioural model's computed features: field -> its kind.
RAW_PAYMENT_FIELDS = {"amount": "numeric", "country": "categorical", "device_id": "categorical", "ip": "categorical"}
RANK = {"approve": 0, "review": 1, "decline": 2}


def _number(value: Any) -> float | None:
    """The value as a number, or None when it is not one (a non-numeric text, a boolean-less object)."""
    kind = type(value)
    if kind is float or kind is int:
        return float(value)
    if kind is str:
        try:
            number = float(value)
        except ValueError:
            return None
        return number if math.isfinite(number) else None
    if isinstance(value, numbers.Real):                 # numpy scalars, booleans of a boolean feature
        return float(value)
    return None


def _text(value: Any) -> str:
    return value if type(value) is str else str(value)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _test(op: str, value: Any) -> Callable[[Any], bool]:
    """The condition as a function of a present (non-missing) case value."""
    if op in ORDER_OPS:
        compare, bound = ORDER_OPS[op], float(value)

        def ordered(v: Any) -> bool:
            n = _number(v)
            return n is not None and compare(n, bound)
        return ordered
    values = value if op in SET_OPS else [value]
    nums = frozenset(float(v) for v in values if _is_number(v))
    texts = frozenset(v for v in values if isinstance(v, str))

    def member(v: Any) -> bool:
        if nums:
            n = _number(v)
            if n is not None and n in nums:
                return True
        return bool(texts) and _text(v) in texts
    if op in ("==", "in"):
        return member
    return lambda v: not member(v)


@dataclass(frozen=True)
class Rule:
    name: str
    action: str
    expires_at: datetime | None
    tests: tuple[tuple[str, Callable[[Any], bool]], ...]
    public: dict                                        # {name, action, reason}: what an answer lists
    conditions: tuple[tuple[str, str, Any], ...] = ()   # (field, op, value), in the order of ``tests``


def compile_rule(row: Mapping[str, Any]) -> Rule:
    return Rule(name=row["name"], action=row["action"], expires_at=row.get("expires_at"),
                tests=tuple((c["field"], _test(c["op"], c["value"])) for c in row["when"]),
                public={"name": row["name"], "action": row["action"], "reason": row.get("reason")},
                conditions=tuple((c["field"], c["op"], c["value"]) for c in row["when"]))


def is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def matching(rules: Sequence[Rule], values: Mapping[str, Any], score: float) -> list[dict]:
    """The rules (their {name, action, reason}) whose every condition the case meets; ``values``: the case's
    fields (features, and a payment's raw fields), ``score``: the calibrated score of the version that scored it."""
    out: list[dict] = []
    now = None
    for rule in rules:
        if rule.expires_at is not None:
            now = now or utcnow()
            if rule.expires_at <= now:
                continue
        for field, test in rule.tests:
            value = score if field == SCORE else values.get(field)
            if is_missing(value) or not test(value):
                break
        else:
            out.append(dict(rule.public))
    return out


def rule_mask(rule: Rule, columns: Mapping[str, Any], scores: np.ndarray) -> np.ndarray:
    """Which of many cases meet every condition of ``rule``: for each case the same answer as :func:`matching`
    (the rule's expiry aside: the caller picks the rules). ``columns``: field -> the cases' values (a sequence or
    an array; a field it lacks is missing in every case), ``scores``: the cases' calibrated scores. A numeric
    array under an order op is compared in one numpy call; any other column calls the condition's own test once
    per distinct value, so the two paths cannot disagree."""
    mask = np.ones(len(scores), dtype=bool)
    for (field, op, value), (_, test) in zip(rule.conditions, rule.tests):
        column = scores if field == SCORE else columns.get(field)
        if column is None:
            return np.zeros(len(scores), dtype=bool)
        mask &= _column_meets(op, value, test, column)
        if not mask.any():
            break
    return mask


def _column_meets(op: str, value: Any, test: Callable[[Any], bool], column: Any) -> np.ndarray:
    if isinstance(column, np.ndarray) and column.dtype.kind in "fiu" and op in ORDER_OPS:
        with np.errstate(invalid="ignore"):             # NaN (missing) compares False, as it meets nothing
            return np.asarray(ORDER_OPS[op](column.astype(float, copy=False), float(value)), dtype=bool)
    values = column.tolist() if isinstance(column, np.ndarray) and column.dtype != object else column
    out = np.zeros(len(values), dtype=bool)
    seen: dict[tuple[type, Any], bool] = {}
    for i, v in enumerate(values):
        if is_missing(v):
            continue
        try:
            key = (type(v), v)
            hit = seen.get(key)
            if hit is None:
                hit = seen[key] = test(v)
        except TypeError:                               # an unhashable value (a list in a JSON feature)
            hit = test(v)
        out[i] = hit
    return out


def escalate(decision: str, matches: Sequence[Mapping[str, Any]]) -> str:
    """The strictest of the model's decision and the matching rules' actions."""
    for m in matches:
        if RANK[m["action"]] > RANK[decision]:
            decision = m["action"]
    return decision


def judge(rules: Sequence[Rule], values: Mapping[str, Any], score: float, decision: str,
          listed: Mapping[str, Any] | None) -> tuple[str, list[dict]]:
    """(the case's decision after the rules, the rules that matched): the rules escalate the decision unless a
    list entry (``listed``) made it; the matches are named either way."""
    matches = matching(rules, values, score) if rules else []
    if matches and listed is None:
        decision = escalate(decision, matches)
    return decision, matches


class RiskRules(WorkerCache[dict[str, tuple[Rule, ...]]]):
    """The enabled, unexpired rules per model, read at most every ``ttl`` seconds."""

    def __init__(self, store: RiskRuleStore, ttl: float = RULE_CACHE_SECONDS,
                 ticker: Callable[[], float] = time.monotonic) -> None:
        super().__init__(ttl, ticker)
        self.store = store

    def _read(self) -> dict[str, tuple[Rule, ...]]:
        grouped: dict[str, list[Rule]] = {}
        for row in self.store.rules(active_at=utcnow()):
            try:
                grouped.setdefault(row["model"], []).append(compile_rule(row))
            except (KeyError, TypeError, ValueError) as exc:   # a row written by hand: skipped, not fatal
                log.warning("risk rule %r is not usable and is skipped: %s", row.get("name"), exc)
        return {model: tuple(rules) for model, rules in grouped.items()}

    def for_model(self, name: str) -> tuple[Rule, ...]:
        return self.cached().get(name, ())


def condition_errors(when: Sequence[Mapping[str, Any]], fields: Mapping[str, str]) -> dict[str, dict[str, list[str]]]:
    """Per condition index (as text), what is wrong with it for a model whose rule fields are ``fields`` (name ->
    numeric | categorical, ``score`` included); empty when the rule can be saved. The wire schema has already
    checked each op's value shape (a number for the order ops, a list for in / not_in)."""
    errors: dict[str, dict[str, list[str]]] = {}
    for i, cond in enumerate(when):
        field, op, value = cond["field"], cond["op"], cond["value"]
        kind = fields.get(field)
        if kind is None:
            known = ", ".join(sorted(fields))
            errors.setdefault(str(i), {}).setdefault("field", []).append(
                f"'{field}' is not a field of this model; one of: {known}.")
            continue
        if kind == "categorical" and op in ORDER_OPS:
            errors.setdefault(str(i), {}).setdefault("op", []).append(
                f"'{field}' is categorical: use ==, !=, in or not_in.")
        if kind == "numeric":
            given = value if op in SET_OPS else [value]
            if not all(_is_number(v) for v in given):
                errors.setdefault(str(i), {}).setdefault("value", []).append(
                    f"'{field}' is numeric: compare it with numbers.")
    return errors
