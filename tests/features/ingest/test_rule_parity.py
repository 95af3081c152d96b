"""The file checks and the HTTP schema reject the same bad events (they enforce one set of rules)."""
from __future__ import annotations

import pandas as pd
import pytest
from marshmallow import ValidationError

from features.events import EVENT_COLUMNS
from features.ingest.validate import check_events, parse_timestamps
from service.schemas.events import EventSchema

GOOD = {"event_id": "e1", "type": "purchase", "customer_id": "c1", "item_id": "p1", "amount": 3.0,
        "timestamp": "2026-05-01T10:00:00Z"}
BAD = [
    {"type": "teleport"},
    {"item_id": None},
    {"amount": None},
    {"amount": -2.0},
    {"amount": "abc"},
    {"quantity": 0},
    {"quantity": -1},
    {"customer_id": ""},
    {"event_id": "x" * 129},
    {"timestamp": "not a date"},
    {"currency": "usd"},
    {"timestamp": "2099-01-01T00:00:00Z"},
    {"type": "chat_message", "item_id": None, "amount": None},
]


def _frame(event: dict) -> pd.DataFrame:
    frame = pd.DataFrame([event])
    for c in EVENT_COLUMNS:
        if c not in frame:
            frame[c] = None
    frame["ts"] = parse_timestamps(frame["timestamp"], None)
    frame["text"] = event.get("text")
    return frame


def _schema_rejects(event: dict) -> bool:
    try:
        EventSchema().load({k: v for k, v in event.items() if v is not None})
    except ValidationError:
        return True
    return False


def test_the_good_event_passes_both():
    assert check_events(_frame(GOOD)).iloc[0] == ""
    assert not _schema_rejects(GOOD)


@pytest.mark.parametrize("change", BAD)
def test_both_reject(change):
    event = {**GOOD, **change}
    assert check_events(_frame(event)).iloc[0] != "", "file checks accepted it"
    assert _schema_rejects(event), "HTTP schema accepted it"
