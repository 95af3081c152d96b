"""Online measurement of served recommendation lists: read them back with the customers' later events.

No Flask here: GET /v1/recommendations/performance calls it.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from features.storage.store import utcnow
from models.recommend.online import PURCHASE_TYPE, VIEW_TYPES, online_report

MAX_LISTS = 50_000      # the newest lists of the period are read; the answer says when it held more


def performance_report(log, *, days: int = 7, window_days: int = 7, channel: str | None = None,
                       until: datetime | None = None, max_lists: int = MAX_LISTS) -> dict[str, Any]:
    """The online report of the lists shown in the last ``days`` (only ``channel``'s when given: api, chat or
    campaign), each followed for ``window_days``."""
    until = until or utcnow()
    since = until - timedelta(days=days)
    lists = log.served(since, until, max_lists, channel=channel)
    customers = sorted(set(lists["customer_id"]))
    first = lists["created_at"].min() if len(lists) else since
    events = log.followups(customers, first, [*VIEW_TYPES, PURCHASE_TYPE])
    return {"since": since, "until": until, "days": days, "window_days": window_days, "channel": channel,
            "truncated": len(lists) >= max_lists, **online_report(lists, events, window_days)}
