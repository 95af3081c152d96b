"""Block and allow lists on top of the model: a listed value of a case's attribute decides the case.

Risk teams keep such lists for what they already know (a device seen in confirmed fraud, a customer cleared
after review, a country the business does not serve). The model still scores the case and its reasons are
still given; the list only overrides the decision, and the answer says which entry did it. A block beats an
allow when a case matches both. Values are compared as text.

Each worker reads the unexpired entries at most every ``LIST_CACHE_SECONDS`` (a change made through this worker
applies at once, in the others within that time), so a score costs a dictionary lookup per listed field.
"""
from __future__ import annotations

from typing import Any, Mapping

from features.storage.risk_lists import RiskListStore
from features.storage.store import utcnow
from service.pipelines.worker_cache import WorkerCache

LIST_CACHE_SECONDS = 5.0
DECISION = {"block": "decline", "allow": "approve"}


class RiskLists(WorkerCache[dict[str, dict[str, dict]]]):
    def __init__(self, store: RiskListStore, ttl: float = LIST_CACHE_SECONDS) -> None:
        super().__init__(ttl)
        self.store = store

    def _read(self) -> dict[str, dict[str, dict]]:
        """field → value → the unexpired entry."""
        snapshot: dict[str, dict[str, dict]] = {}
        for e in self.store.entries(active_at=utcnow()):
            snapshot.setdefault(e["field"], {})[e["value"]] = e
        return snapshot

    def match(self, customer_id: str | None, attrs: Mapping[str, Any] | None) -> dict | None:
        """The entry that decides this case ({field, value, action, reason}), or None."""
        entries = self.cached()
        if not entries:
            return None
        found = None
        for field, values in entries.items():
            value = customer_id if field == "customer_id" else (attrs.get(field) if attrs else None)
            if value is None:
                continue
            entry = values.get(value if isinstance(value, str) else str(value))
            if entry is None or (entry["expires_at"] is not None and entry["expires_at"] <= utcnow()):
                continue
            if entry["action"] == "block":
                return _public(entry)
            found = found or entry
        return _public(found) if found else None


def _public(entry: Mapping[str, Any]) -> dict:
    return {"field": entry["field"], "value": entry["value"], "action": entry["action"], "reason": entry["reason"]}
