"""Which scheduled promotion a recommendation list gets (features.storage.promotions holds them).

A promotion is live from ``starts_at`` (or its creation) until ``ends_at`` (or its deletion), on the channels it
names: ``api`` (POST /v1/recommendations), ``chat`` (products in chat replies), ``campaign`` (`kefu recommend`
files). A list gets at most one promotion, so its kept places and its reasons stay easy to read and to measure:
among the live ones on its channel, the highest ``priority``, then the one that started last, then the first by
name. A request's own ``promotion`` replaces the scheduled one; ``"promotion": null`` asks for none.

Each worker reads the table at most every ``PROMOTION_CACHE_SECONDS`` (a change made through this worker applies
at once, in the others within that time); whether a promotion is live is decided at each request against the
clock, so one starts and ends on time.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any, Callable, Mapping

from features.ingest.events import to_naive_utc
from features.storage.promotions import PromotionStore
from features.storage.store import utcnow
from service.pipelines.worker_cache import WorkerCache

PROMOTION_CACHE_SECONDS = 5.0
#: The share of a list's places a promotion keeps when it does not say (at least one place).
DEFAULT_SHARE = 0.2


def _naive(value: datetime | None) -> datetime | None:
    return to_naive_utc(value) if value is not None else None


def is_live(promotion: Mapping[str, Any], at: datetime) -> bool:
    starts, ends = promotion["starts_at"], promotion["ends_at"]
    return (starts is None or starts <= at) and (ends is None or at < ends)


def _started(promotion: Mapping[str, Any]) -> datetime:
    return promotion["starts_at"] or promotion["created_at"]


def as_request(promotion: Mapping[str, Any]) -> dict:
    """The promotion as a request's ``promotion`` (service.pipelines.recommend.Promotion.of reads it)."""
    return {"name": promotion["name"], "items": list(promotion["items"]),
            "categories": list(promotion["categories"]), "share": float(promotion["share"])}


class ScheduledPromotions(WorkerCache[list[dict]]):
    def __init__(self, store: PromotionStore, ttl: float = PROMOTION_CACHE_SECONDS,
                 clock: Callable[[], datetime] = utcnow) -> None:
        super().__init__(ttl)
        self.store = store
        self.clock = clock

    def _read(self) -> list[dict]:
        return self.store.all()

    def put(self, name: str, body: Mapping[str, Any], by: str | None = None) -> dict:
        """Schedule or replace ``name`` from a loaded ScheduledPromotionRequestSchema body; applies at once here."""
        row = self.store.put(
            name, items=body.get("items") or (), categories=body.get("categories") or (), share=body["share"],
            channels=body["channels"], priority=body["priority"], starts_at=_naive(body.get("starts_at")),
            ends_at=_naive(body.get("ends_at")), by=by)
        self.forget()
        return row

    def delete(self, name: str) -> bool:
        gone = self.store.delete(name)
        self.forget()
        return gone

    def current(self, channel: str, rows: list[dict] | None = None) -> dict | None:
        """The live promotion a list on ``channel`` gets now, as a request's ``promotion``; None when none is.
        ``rows``: the promotions to choose from (default: this worker's cached copy of the table)."""
        rows = self.cached() if rows is None else rows
        if not rows:
            return None
        at = self.clock()
        live = [p for p in rows if channel in p["channels"] and is_live(p, at)]
        if not live:
            return None
        live.sort(key=lambda p: p["name"])
        best = max(live, key=lambda p: (p["priority"], _started(p)))   # max keeps the first of equals: by name
        return as_request(best)
