"""Risk model monitoring: read a version's audited scores and compare them with its training reference.

No Flask here: `GET /v1/risk/models/<name>/monitoring` and `kefu models monitor` call the same function.
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd

from features.errors import InvalidInput, NotFound
from features.storage.store import utcnow
from models.registry import ModelNotFound, ModelRegistry, ModelVersion
from models.risk.model import RiskModel
from models.risk.monitoring import monitor
from service.pipelines.risk import RISK_KINDS, RiskScorer

log = logging.getLogger(__name__)

MAX_ROWS = 50_000       # the newest scores of the window are read; the answer says when the window held more


def _version(registry: ModelRegistry, name: str, version: str | None) -> ModelVersion:
    if version is not None:
        chosen = registry.get(name, version)        # ModelNotFound (404) for an unknown name or version
    else:
        versions = registry.versions(name)
        if not versions:
            raise NotFound(f"No model named '{name}'.")
        chosen = registry.current(name) or versions[-1]
    if chosen.kind not in RISK_KINDS:
        raise InvalidInput(f"Model '{name}' is a {chosen.kind} model; only risk models are monitored.")
    return chosen


def _model(scorer: RiskScorer, name: str, version: ModelVersion) -> RiskModel:
    """The serving copy when it is this version, else the artifact read from disk (reference and spec only
    are needed, so nothing is compiled)."""
    try:
        model, serving = scorer.models.get(name)
        if serving.version == version.version:
            return model
    except ModelNotFound:   # not loadable in this worker: read the artifact
        pass
    return RiskModel.load(version.path, prepare=False, compiled=False)


def encode_audited(model: RiskModel, rows: list[dict]) -> np.ndarray:
    """The audited feature dicts in the model's encoding (absent or null values as missing)."""
    frame = pd.DataFrame([r["features"] or {} for r in rows]).reindex(columns=list(model.spec.names))
    return model.spec.encode_frame(frame)


def monitoring_report(registry: ModelRegistry, scorer: RiskScorer, audit, name: str, *, version: str | None = None,
                      days: int = 7, until: datetime | None = None, max_rows: int = MAX_ROWS) -> dict[str, Any]:
    chosen = _version(registry, name, version)
    model = _model(scorer, name, chosen)
    until = until or utcnow()
    since = until - timedelta(days=days)
    rows = audit.model_scores(name, chosen.version, since, until, max_rows)
    thresholds = scorer.thresholds(name, model)
    scores = np.array([r["score"] for r in rows], dtype=np.float64)
    outcomes = np.array([np.nan if r["outcome"] is None else float(r["outcome"]) for r in rows], dtype=np.float64)
    X = encode_audited(model, rows) if rows else np.zeros((0, len(model.spec.names)))
    report = monitor(model.meta.get("reference"), model.spec, X, scores, [r["decision"] for r in rows],
                     [r["created_at"].date().isoformat() for r in rows], thresholds, outcomes,
                     (model.meta.get("metrics") or {}).get("roc_auc"),
                     np.array([r["list_match"] is not None for r in rows], dtype=bool),
                     np.array([bool(r.get("rule_matches")) for r in rows], dtype=bool))
    log.info("monitoring %s %s: %d scores, status %s", name, chosen.version, len(rows), report["status"])
    return {"model": name, "model_version": chosen.version, "since": since, "until": until, "days": days,
            "truncated": len(rows) >= max_rows, "thresholds": thresholds, **report}
