"""Scoring orchestration: model lookup, input checks, score, reasons, decision, audit row.

No Flask here: the view hands in plain values and gets plain dicts back, so the CLI and tests use the same path.
"""
from __future__ import annotations

import logging
import threading
import time
from typing import Any, Callable, Mapping, Sequence

from features.errors import InvalidInput, NotFound
from models.challenger import SHADOW, SPLIT
from models.registry import CorruptModel, ModelNotFound
from models.serving import LoadedModels
from service.ids import uuid7_hex
from service.pipelines.risk_lists import DECISION
from service.pipelines.risk_rules import RAW_PAYMENT_FIELDS, SCORE, judge

log = logging.getLogger(__name__)

TABLE_KIND, TRANSACTIONS_KIND = "risk_table", "risk_transactions"
RISK_KINDS = frozenset({TABLE_KIND, TRANSACTIONS_KIND})
THRESHOLD_CACHE_SECONDS = 5.0


class RiskScorer:
    def __init__(self, models: LoadedModels, audit, store=None, history=None, lists=None, rules=None) -> None:
        """``history``: a features.history_cache.HistoryCache for behavioural scores, or None to read each
        customer's history whole per score. ``lists``: service.pipelines.risk_lists.RiskLists (block and allow
        lists that override the decision), or None. ``rules``: service.pipelines.risk_rules.RiskRules (decision
        rules that may escalate the model's decision), or None."""
        self.models = models
        self.audit = audit
        self.store = store
        self.history = history
        self.lists = lists
        self.rules = rules
        self._thresholds: dict[str, tuple[float, dict | None]] = {}
        self._lock = threading.Lock()

    def _model(self, name: str):
        try:
            model, version = self.models.get(name)
        except ModelNotFound as exc:
            if name not in self.models.registry.names():
                raise NotFound(f"No risk model named '{name}'. Train one with `kefu train risk --name {name} ...`.") from exc
            raise  # it exists but no version could be loaded: 503, see the readiness report
        if version.kind not in RISK_KINDS:
            raise InvalidInput(f"Model '{name}' is a {version.kind} model, not a risk model.")
        return model, version

    def thresholds(self, name: str, model) -> dict[str, float]:
        """The admin's override when one is stored (cached a few seconds), else the trainer's defaults."""
        now = time.monotonic()
        with self._lock:
            cached = self._thresholds.get(name)
        if cached is None or now - cached[0] > THRESHOLD_CACHE_SECONDS:
            row = self.audit.thresholds(name)
            override = {"review": row["review"], "decline": row["decline"]} if row else None
            with self._lock:
                self._thresholds[name] = (now, override)
            cached = (now, override)
        return cached[1] or dict(model.thresholds)

    def record_outcome(self, score_id: str, outcome: bool, *, by: str | None = None) -> dict:
        """Store what a scored case turned out to be. A behavioural model's case also labels its stored payment
        (the score's transaction_id), which is what `kefu train risk --name transactions` learns from."""
        registry = self.models.registry

        def behavioural(row: dict) -> bool:
            try:
                return registry.get(row["model"], row["model_version"]).kind == TRANSACTIONS_KIND
            except (ModelNotFound, CorruptModel):
                return False

        row = self.audit.record_outcome(score_id, outcome, by, label_payment=behavioural)
        if row is None:
            raise NotFound(f"No risk score with id '{score_id}'.")
        return row

    def forget_thresholds(self, name: str) -> None:
        with self._lock:
            self._thresholds.pop(name, None)

    def _check(self, model, features: Any, where: str) -> None:
        errors = model.validate_input(features)
        if errors:
            raise InvalidInput("The features do not match what the model was trained on.", errors={where: errors})

    @staticmethod
    def _fits(model, features: Mapping[str, Any]) -> dict | None:
        """The features as the challenger takes them (its own columns of what was sent), or None when they do not
        fit it: then the champion alone handles the case, so a challenger never fails a request."""
        if model.validate_input(features, allow_extra=True):
            return None
        return {n: features[n] for n in model.feature_names}

    def score(self, name: str, features: Mapping[str, Any], *, customer_id: str | None = None,
              transaction_id: str | None = None, request_id: str | None = None, top_reasons: int = 5) -> dict:
        model, version = self._model(name)
        self._check(model, features, "features")
        return self._score(name, model, version, features, customer_id=customer_id, transaction_id=transaction_id,
                           request_id=request_id, top_reasons=top_reasons, attrs=features,
                           challenger_features=lambda ch: self._fits(ch, features), raw=None)

    def rule_fields(self, name: str) -> dict[str, str]:
        """What a decision rule of model ``name`` may test: field -> numeric | categorical (its active version's
        feature columns, the raw payment fields for a behavioural model, and ``score``). NotFound for an unknown
        model, InvalidInput for a model that is not a risk model."""
        model, version = self._model(name)
        fields = dict(model.feature_types)
        if version.kind == TRANSACTIONS_KIND:
            for field, kind in RAW_PAYMENT_FIELDS.items():
                fields.setdefault(field, kind)
        fields[SCORE] = "numeric"
        return fields

    def rules_for(self, name: str) -> tuple:
        """Model ``name``'s enabled, unexpired decision rules (none without a rule cache)."""
        return () if self.rules is None else self.rules.for_model(name)

    def _listed(self, customer_id: str | None, attrs: Mapping[str, Any] | None) -> dict | None:
        return None if self.lists is None else self.lists.match(customer_id, attrs)

    @staticmethod
    def _decide(model, score: float, thresholds: Mapping[str, float], listed: dict | None) -> str:
        """A list entry's decision when one matched, else the model's at the thresholds."""
        return DECISION[listed["action"]] if listed else model.decide(score, thresholds)

    def _score(self, name: str, model, version, features: Mapping[str, Any], *, customer_id: str | None,
               transaction_id: str | None, request_id: str | None, top_reasons: int,
               attrs: Mapping[str, Any] | None, challenger_features: Callable[[Any], dict | None],
               raw: Mapping[str, Any] | None) -> dict:
        """Score one checked case with the champion, or with the challenger when it is in split mode and takes
        the case; a challenger in shadow mode scores it too, into the audit trail only.

        ``attrs``: what the block and allow lists are matched against besides the customer (the table model's
        features, or the payment as sent). ``challenger_features(model)``: the case's features for a challenger
        model, or None when they do not fit it. ``raw``: a behavioural model's payment as sent (its raw fields are
        what decision rules test besides the computed features), None for a table model."""
        listed = self._listed(customer_id, attrs)
        rules = self.rules_for(name)
        shadow = None
        found = self.models.challenger(name)
        if found is not None and found[2].takes(customer_id):
            own = challenger_features(found[0])
            if own is not None and found[2].mode == SPLIT:
                model, version, features = found[0], found[1], own
            elif own is not None and found[2].mode == SHADOW:
                shadow = found[0], found[1], own
        result = self._result(name, model, version, features, top_reasons, listed, rules, raw)
        result.update(customer_id=customer_id, transaction_id=transaction_id)
        payment = payment_fields(raw)
        rows = [self._audit_row(result, features, request_id, payment)]
        if shadow is not None:
            copy = self._result(name, shadow[0], shadow[1], shadow[2], top_reasons, listed, rules, raw)
            copy.update(customer_id=customer_id, transaction_id=transaction_id, shadow_of=result["score_id"])
            rows.append(self._audit_row(copy, shadow[2], request_id, payment))
        self.audit.record(rows)
        return result

    def _result(self, name: str, model, version, features: Mapping[str, Any], top_reasons: int,
                listed: dict | None, rules: Sequence = (), raw: Mapping[str, Any] | None = None) -> dict:
        """One case's result. A shadow score gets its reasons too: the compiled kernel gives the score and the
        contributions in one pass, which costs less than LightGBM's predict of the score alone. ``rules``: the
        model's decision rules (service.pipelines.risk_rules), judged on this version's features and score."""
        score, reasons = model.score_and_explain(features, top=top_reasons)
        thresholds = self.thresholds(name, model)
        decision, matches = judge(rules, _rule_values(features, raw), score,
                                  self._decide(model, score, thresholds, listed), listed)
        return {
            "score_id": uuid7_hex(),
            "model": name,
            "model_version": version.version,
            "score": float(score),
            "decision": decision,
            "reasons": reasons,
            "thresholds": thresholds,
            "customer_id": None,
            "transaction_id": None,
            "list_match": listed,
            "rule_matches": matches,
        }

    def score_batch(self, name: str, cases: Sequence[Mapping[str, Any]], *, request_id: str | None = None,
                    top_reasons: int = 3) -> dict:
        """Many cases with one model: vectorised scoring; every case is checked first (all or nothing). With a
        challenger, each case goes to it or not as a single score would (``model_version`` per result)."""
        model, version = self._model(name)
        errors = {str(i): e for i, c in enumerate(cases) if (e := model.validate_input(c["features"]))}
        if errors:
            raise InvalidInput("Some cases do not match the model's features; nothing was scored.", errors={"cases": errors})
        listed = [self._listed(c.get("customer_id"), c["features"]) for c in cases]
        rules = self.rules_for(name)
        taken: dict[int, dict] = {}
        found = self.models.challenger(name)
        if found is not None:
            for i, case in enumerate(cases):
                if found[2].takes(case.get("customer_id")) and (own := self._fits(found[0], case["features"])):
                    taken[i] = own
        split = found is not None and found[2].mode == SPLIT
        mine = [i for i in range(len(cases)) if not (split and i in taken)]
        results: list[dict] = [{}] * len(cases)
        for i, result in zip(mine, self._results(name, model, version, [cases[i]["features"] for i in mine],
                                                 [listed[i] for i in mine], top_reasons, rules)):
            results[i] = result
        order = sorted(taken)
        others = self._results(name, found[0], found[1], [taken[i] for i in order], [listed[i] for i in order],
                               top_reasons, rules) if taken else []
        if split:
            for i, other in zip(order, others):
                results[i] = other
        rows = []
        for case, result in zip(cases, results):
            result.update(case_id=case.get("case_id"), customer_id=case.get("customer_id"))
            rows.append(self._batch_row(name, result, case["features"], request_id))
        if not split:                                   # shadow: stored next to the champion's, never answered
            rows += [self._batch_row(name, {**other, "customer_id": cases[i].get("customer_id")}, taken[i],
                                     request_id, shadow_of=results[i]["score_id"]) for i, other in zip(order, others)]
        self.audit.record(rows)
        return {"model": name, "model_version": version.version, "thresholds": self.thresholds(name, model),
                "results": results}

    def _results(self, name: str, model, version, features: Sequence[Mapping[str, Any]],
                 listed: Sequence[dict | None], top_reasons: int, rules: Sequence = ()) -> list[dict]:
        """Batch results of one model version, scored in one vectorised call (the compiled kernel when
        available), in the key order of RiskBatchResultSchema; decision rules are judged case by case."""
        if not features:
            return []
        scores, reasons = model.score_and_explain_many(features, top=top_reasons)
        thresholds = self.thresholds(name, model)
        results = [{"case_id": None, "customer_id": None, "score_id": uuid7_hex(), "model_version": version.version,
                    "score": score, "decision": self._decide(model, score, thresholds, hit), "reasons": why,
                    "list_match": hit, "rule_matches": []}
                   for score, why, hit in zip(scores.tolist(), reasons, listed)]
        if rules:
            for result, case in zip(results, features):
                result["decision"], result["rule_matches"] = judge(rules, case, result["score"], result["decision"],
                                                                   result["list_match"])
        return results

    def _batch_row(self, name: str, result: Mapping[str, Any], features: Mapping[str, Any], request_id: str | None,
                   shadow_of: str | None = None) -> dict:
        return self._audit_row({**result, "model": name, "transaction_id": None, "shadow_of": shadow_of},
                               features, request_id)

    def score_transaction(self, name: str, customer_id: str, transaction: Mapping[str, Any], *,
                          request_id: str | None = None, top_reasons: int = 5) -> dict:
        """Score a payment with a behavioural model: its features come from the customer's stored history,
        computed by the same function that built the training table (as of the payment's time)."""
        model, version = self._model(name)
        if version.kind != TRANSACTIONS_KIND:
            raise InvalidInput(f"Model '{name}' scores tables: send 'features', not 'transaction'.")
        row = self.transaction_row(customer_id, transaction)
        features = {n: row[n] for n in model.feature_names}
        self._check(model, features, "features")

        def challenger_features(other) -> dict | None:  # a behavioural challenger: its own columns of the row
            names = getattr(other, "feature_names", ())
            return {n: row[n] for n in names} if all(n in row for n in names) else None

        return self._score(name, model, version, features, customer_id=customer_id,
                           transaction_id=transaction.get("transaction_id"), request_id=request_id,
                           top_reasons=top_reasons, attrs=transaction, challenger_features=challenger_features,
                           raw=transaction)

    def transaction_row(self, customer_id: str, transaction: Mapping[str, Any]) -> dict:
        """Every feature of the payment as of its time, by the same definitions as the training table
        (features.transactions), computed for this one payment: from the customer's cached history brought up to
        date, or from one indexed read of it."""
        from features.transactions import load_customer_history, payment_features

        if self.history is not None:
            return self.history.index(customer_id).features(transaction)
        return payment_features(load_customer_history(self.store.engine, customer_id, transaction["ts"]), transaction)

    @staticmethod
    def _audit_row(result: Mapping[str, Any], features: Mapping[str, Any], request_id: str | None,
                   payment: Mapping[str, Any] | None = None) -> dict:
        # the features as given: the audit store writes them as JSON values (NaN/inf as null, numpy as Python);
        # ``payment``: a behavioural payment's raw rule fields (payment_fields), None for a table model
        return {
            "score_id": result["score_id"], "model": result["model"], "model_version": result["model_version"],
            "customer_id": result.get("customer_id"), "transaction_id": result.get("transaction_id"),
            "score": result["score"], "decision": result["decision"], "reasons": result["reasons"],
            "features": features, "request_id": request_id, "list_match": result.get("list_match"),
            "shadow_of": result.get("shadow_of"), "rule_matches": result.get("rule_matches"), "payment": payment,
        }


def payment_fields(raw: Mapping[str, Any] | None) -> dict | None:
    """A behavioural payment's raw fields that decision rules test (those it carries), as the audit row keeps
    them so a rule can be back-tested on stored cases; None for a table model's case."""
    if raw is None:
        return None
    return {field: raw[field] for field in RAW_PAYMENT_FIELDS if raw.get(field) is not None}


def _rule_values(features: Mapping[str, Any], raw: Mapping[str, Any] | None) -> Mapping[str, Any]:
    """What decision rules test: the features, and for a behavioural model the payment's raw fields too."""
    if raw is None:
        return features
    values = dict(features)
    for field in RAW_PAYMENT_FIELDS:
        if field not in values:
            values[field] = raw.get(field)
    return values
