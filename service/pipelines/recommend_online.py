"""Online measurement of served recommendation lists: read them back with the customers' later events.

No Flask here: GET /v1/recommendations/performance calls it.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from features.storage.store import utcnow
from models.recommend.online import PURCHASE_TYPE, VIEW_TYPES, online_report
from service.pipelines.model_admin import challenge_versions

MAX_LISTS = 50_000      # the newest lists of the period are read; the answer says when it held more


def split_versions(registry, model: str, challenger: str | None = None) -> dict[str, Any] | None:
    """The versions of a split test to compare: the active one and ``challenger`` (a past one: over the whole
    period), or the running challenger since it began; None when there is neither."""
    champion, chosen, running = challenge_versions(registry, model, challenger)   # 404 for an unknown version
    if champion is None or chosen is None:
        return None
    return {"champion": champion.version, "challenger": chosen, "since": running.started() if running else None}


def performance_report(log, *, days: int = 7, window_days: int = 7, channel: str | None = None,
                       promotion: str | None = None, until: datetime | None = None, max_lists: int = MAX_LISTS,
                       versions: dict[str, Any] | None = None) -> dict[str, Any]:
    """The online report of the lists shown in the last ``days`` (only ``channel``'s when given: api, chat or
    campaign; only those that carried ``promotion`` when given), each followed for ``window_days``; with
    ``versions`` (:func:`split_versions`), the split test of the two as "challenge"."""
    until = until or utcnow()
    since = until - timedelta(days=days)
    lists = log.served(since, until, max_lists, channel=channel, promotion=promotion)
    customers = sorted(set(lists["customer_id"]))
    first = lists["created_at"].min() if len(lists) else since
    events = log.followups(customers, first, [*VIEW_TYPES, PURCHASE_TYPE])
    return {"since": since, "until": until, "days": days, "window_days": window_days, "channel": channel,
            "promotion": promotion, "truncated": len(lists) >= max_lists,
            **online_report(lists, events, window_days, versions)}
