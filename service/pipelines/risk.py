"""Scoring orchestration: model lookup, input checks, score, reasons, decision, audit row.

No Flask here: the view hands in plain values and gets plain dicts back, so the CLI and tests use the same path.
"""
from __future__ import annotations

import logging
import threading
import time
from typing import Any, Mapping, Sequence

from features.errors import InvalidInput, NotFound
from models.registry import CorruptModel, LoadedModels, ModelNotFound
from service.ids import uuid7_hex
from service.pipelines.risk_lists import DECISION

log = logging.getLogger(__name__)

TABLE_KIND, TRANSACTIONS_KIND = "risk_table", "risk_transactions"
RISK_KINDS = frozenset({TABLE_KIND, TRANSACTIONS_KIND})
THRESHOLD_CACHE_SECONDS = 5.0


class RiskScorer:
    def __init__(self, models: LoadedModels, audit, store=None, history=None, lists=None) -> None:
        """``history``: a features.history_cache.HistoryCache for behavioural scores, or None to read each
        customer's history whole per score. ``lists``: service.pipelines.risk_lists.RiskLists (block and allow
        lists that override the decision), or None."""
        self.models = models
        self.audit = audit
        self.store = store
        self.history = history
        self.lists = lists
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

    def score(self, name: str, features: Mapping[str, Any], *, customer_id: str | None = None,
              transaction_id: str | None = None, request_id: str | None = None, top_reasons: int = 5) -> dict:
        model, version = self._model(name)
        return self._score(name, model, version, features, customer_id=customer_id, transaction_id=transaction_id,
                           request_id=request_id, top_reasons=top_reasons, attrs=features)

    def _listed(self, customer_id: str | None, attrs: Mapping[str, Any] | None) -> dict | None:
        return None if self.lists is None else self.lists.match(customer_id, attrs)

    @staticmethod
    def _decide(model, score: float, thresholds: Mapping[str, float], listed: dict | None) -> str:
        """A list entry's decision when one matched, else the model's at the thresholds."""
        return DECISION[listed["action"]] if listed else model.decide(score, thresholds)

    def _score(self, name: str, model, version, features: Mapping[str, Any], *, customer_id: str | None,
               transaction_id: str | None, request_id: str | None, top_reasons: int,
               attrs: Mapping[str, Any] | None) -> dict:
        """``attrs``: what the block and allow lists are matched against besides the customer (the table
        model's features, or the payment as sent)."""
        self._check(model, features, "features")
        score, reasons = model.score_and_explain(features, top=top_reasons)
        thresholds = self.thresholds(name, model)
        listed = self._listed(customer_id, attrs)
        result = {
            "score_id": uuid7_hex(),
            "model": name,
            "model_version": version.version,
            "score": float(score),
            "decision": self._decide(model, score, thresholds, listed),
            "reasons": reasons,
            "thresholds": thresholds,
            "customer_id": customer_id,
            "transaction_id": transaction_id,
            "list_match": listed,
        }
        self.audit.record([self._audit_row(result, features, request_id)])
        return result

    def score_batch(self, name: str, cases: Sequence[Mapping[str, Any]], *, request_id: str | None = None,
                    top_reasons: int = 3) -> dict:
        """Many cases with one model: vectorised scoring; every case is checked first (all or nothing)."""
        model, version = self._model(name)
        errors = {str(i): e for i, c in enumerate(cases) if (e := model.validate_input(c["features"]))}
        if errors:
            raise InvalidInput("Some cases do not match the model's features; nothing was scored.", errors={"cases": errors})
        # one vectorised call for every case's score and contributions (the compiled kernel when available)
        scores, reasons = model.score_and_explain_many([c["features"] for c in cases], top=top_reasons)
        thresholds = self.thresholds(name, model)
        results = []
        for case, score, why in zip(cases, scores.tolist(), reasons):
            listed = self._listed(case.get("customer_id"), case["features"])
            results.append({                    # the key order of RiskBatchResultSchema (sent as is)
                "case_id": case.get("case_id"), "customer_id": case.get("customer_id"),
                "score_id": uuid7_hex(), "score": score,
                "decision": self._decide(model, score, thresholds, listed),
                "reasons": why, "list_match": listed,
            })
        self.audit.record([
            self._audit_row({**r, "model": name, "model_version": version.version, "transaction_id": None},
                            c["features"], request_id)
            for r, c in zip(results, cases)
        ])
        return {"model": name, "model_version": version.version, "thresholds": thresholds, "results": results}

    def score_transaction(self, name: str, customer_id: str, transaction: Mapping[str, Any], *,
                          request_id: str | None = None, top_reasons: int = 5) -> dict:
        """Score a payment with a behavioural model: its features come from the customer's stored history,
        computed by the same function that built the training table (as of the payment's time)."""
        model, version = self._model(name)
        if version.kind != TRANSACTIONS_KIND:
            raise InvalidInput(f"Model '{name}' scores tables: send 'features', not 'transaction'.")
        features = self.transaction_features(customer_id, transaction, model.feature_names)
        return self._score(name, model, version, features, customer_id=customer_id,     # the model just used
                           transaction_id=transaction.get("transaction_id"), request_id=request_id,
                           top_reasons=top_reasons, attrs=transaction)

    def transaction_features(self, customer_id: str, transaction: Mapping[str, Any], names: Sequence[str]) -> dict:
        """The payment's features as of its time, by the same definitions as the training table
        (features.transactions), computed for this one payment: from the customer's cached history brought up to
        date, or from one indexed read of it."""
        from features.transactions import load_customer_history, payment_features

        if self.history is not None:
            row = self.history.index(customer_id).features(transaction)
        else:
            row = payment_features(load_customer_history(self.store.engine, customer_id, transaction["ts"]), transaction)
        return {n: row[n] for n in names}

    @staticmethod
    def _audit_row(result: Mapping[str, Any], features: Mapping[str, Any], request_id: str | None) -> dict:
        # the features as given: the audit store writes them as JSON values (NaN/inf as null, numpy as Python)
        return {
            "score_id": result["score_id"], "model": result["model"], "model_version": result["model_version"],
            "customer_id": result.get("customer_id"), "transaction_id": result.get("transaction_id"),
            "score": result["score"], "decision": result["decision"], "reasons": result["reasons"],
            "features": features, "request_id": request_id, "list_match": result.get("list_match"),
        }
