"""Champion against challenger: read both versions' audited scores and compare them (models.risk.challenge).

No Flask here: `GET /v1/risk/models/<name>/challenger` and `kefu models compare` call the same function.
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

import pandas as pd

from features.errors import Conflict, InvalidInput, NotFound
from features.storage.store import utcnow
from models.registry import ModelRegistry
from models.risk.challenge import compare
from service.pipelines.model_admin import challenge_versions
from service.pipelines.risk import RISK_KINDS

log = logging.getLogger(__name__)

MAX_ROWS = 100_000      # both versions together; the answer says when the window held more
COLUMNS = ["score_id", "model_version", "score", "decision", "outcome", "shadow_of", "listed", "ruled"]


def challenger_report(registry: ModelRegistry, audit, name: str, *, version: str | None = None, days: int = 7,
                      until: datetime | None = None, max_rows: int = MAX_ROWS) -> dict[str, Any]:
    """Compare the active version of ``name`` with its challenger (or with ``version``, e.g. a challenger that
    has been stopped) over the last ``days``, from the start of the running challenge at the earliest."""
    if name not in registry.names():
        raise NotFound(f"No model named '{name}'.")
    champion, chosen, running = challenge_versions(registry, name, version)    # 404 for an unknown version
    if champion is None:
        raise Conflict(f"Model '{name}' has no active version to compare with.")
    if champion.kind not in RISK_KINDS:
        raise InvalidInput(f"Model '{name}' is a {champion.kind} model; compare recommendation versions with "
                           "GET /v1/recommendations/performance (per model version).")
    if chosen is None:
        raise NotFound(f"Model '{name}' has no challenger; name a past one with ?version=.")
    until = until or utcnow()
    since = until - timedelta(days=days)
    if running is not None:
        since = max(since, running.started())
    rows = audit.versions_scores(name, [champion.version, chosen], since, until, max_rows)
    frame = pd.DataFrame(
        [(r["score_id"], r["model_version"], r["score"], r["decision"],
          None if r["outcome"] is None else float(r["outcome"]), r["shadow_of"], r["list_match"] is not None,
          bool(r.get("rule_matches")))
         for r in rows], columns=COLUMNS)
    frame["outcome"] = frame["outcome"].astype(float)
    report = compare(frame, champion.version, chosen)
    log.info("challenge %s: %s against %s, %d scores, %s", name, chosen, champion.version, len(rows),
             report["verdict"])
    return {"model": name, "champion": champion.version, "challenger": chosen,
            "mode": running.mode if running else None, "share": running.share if running else None,
            "since": since, "until": until, "truncated": len(rows) >= max_rows, **report}
