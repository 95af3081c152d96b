"""From validated events to stored rows: normalise, mask chat text, embed it, store, refresh profiles.

Both the HTTP endpoint and the file importer end here, so an event means the same thing whichever door it came
in by. Validation happens before (marshmallow on the wire, vectorised checks for files).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable, Mapping, Sequence

from features.events import EVENT_COLUMNS
from features.storage.store import utcnow
from features.text.embedder import Embedder, encode_vector
from features.text.language import detect_language
from features.text.pii import mask_pii

log = logging.getLogger(__name__)


def to_naive_utc(value: datetime | None) -> datetime:
    if value is None:
        return utcnow()
    if value.tzinfo is not None:
        value = value.astimezone(timezone.utc).replace(tzinfo=None)
    return value


def normalise_event(event: Mapping[str, Any]) -> tuple[dict, dict | None]:
    """Split a validated event into its stored row and, for chat messages, the chat fields (text masked)."""
    row = {c: event.get(c) for c in EVENT_COLUMNS if c != "ts"}
    row["ts"] = to_naive_utc(event.get("timestamp") or event.get("ts"))
    if row["quantity"] is None and row["type"] in {"purchase", "refund", "add_to_cart", "remove_from_cart"}:
        row["quantity"] = 1.0
    row["properties"] = event.get("properties") or None
    chat = None
    if row["type"] == "chat_message":
        text = mask_pii(event.get("text") or "")
        chat = {
            "text": text,
            "conversation_id": event.get("conversation_id"),
            "direction": event.get("direction") or "customer",
            "language": event.get("language") or detect_language(text),
        }
    return row, chat


@dataclass
class IngestOutcome:
    accepted: int
    duplicates: int
    customers: set[str] = field(default_factory=set)


class EventIngestor:
    """Stores batches of validated events.

    ``embedder`` is a callable returning the embedder, so it is only loaded once a batch holds chat text;
    ``after_store`` gets the ids of customers with newly stored events (the profile refresh).
    """

    def __init__(
        self,
        store,
        embedder: Callable[[], Embedder] | None = None,
        after_store: Callable[[set[str]], Any] | None = None,
    ) -> None:
        self.store = store
        self.embedder = embedder
        self.after_store = after_store

    def ingest(self, events: Sequence[Mapping[str, Any]], *, refresh_profiles: bool = True) -> IngestOutcome:
        rows: list[dict] = []
        chats: dict[str, dict] = {}
        for event in events:
            row, chat = normalise_event(event)
            rows.append(row)
            if chat is not None:
                chats[row["event_id"]] = chat
        if chats and self.embedder is not None:
            self._embed(chats)
        result = self.store.insert_events(rows, chats)
        # Customers of the batch (a superset when some events were duplicates; refreshing those is harmless).
        customers = {r["customer_id"] for r in rows} if result.accepted else set()
        if refresh_profiles and customers and self.after_store is not None:
            self.after_store(customers)
        return IngestOutcome(result.accepted, result.duplicates, customers)

    def _embed(self, chats: dict[str, dict]) -> None:
        """Embed customer messages (agent replies say nothing about the customer's interests)."""
        ids = [eid for eid, c in chats.items() if c["direction"] == "customer" and c["text"]]
        if not ids:
            return
        embedder = self.embedder()
        vectors = embedder.embed_passages([chats[eid]["text"] for eid in ids])
        for eid, vector in zip(ids, vectors):
            chats[eid]["embedding"] = encode_vector(vector)
            chats[eid]["embedder"] = embedder.name
