"""Vectorised checks for imported event rows: the same rules as the HTTP schema, over a whole chunk at once.

A row-by-row schema costs ~0.1 ms a row, too slow for million-line files; these checks run per column. The
rules come from ``features.events`` (which types need an item, an amount), and a test feeds the same bad events
through this and through the HTTP schema to keep both in step.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from datetime import datetime, timezone

from features.events import AMOUNT_EVENT_TYPES, EVENT_TYPES, ITEM_EVENT_TYPES, MAX_CLOCK_SKEW

MAX_ID = 128


def parse_timestamps(values: pd.Series, fmt: str | None) -> pd.Series:
    """To naive UTC datetimes; unparseable values become NaT (and the row is rejected)."""
    if fmt == "unix":
        numbers = pd.to_numeric(values, errors="coerce")
        return pd.to_datetime(numbers, unit="s", errors="coerce")
    if fmt:
        return pd.to_datetime(values, format=fmt, errors="coerce")
    parsed = pd.to_datetime(values, errors="coerce", utc=True, format="ISO8601")
    return parsed.dt.tz_localize(None)


def _blank(series: pd.Series) -> pd.Series:
    return series.isna() | (series.astype("string").str.strip() == "")


def check_events(frame: pd.DataFrame) -> pd.Series:
    """One reason per row ('' when the row is valid). ``frame`` has canonical columns, ``ts`` parsed."""
    reasons = pd.Series("", index=frame.index, dtype="object")

    def flag(mask: pd.Series, reason: str) -> None:
        mask = mask.fillna(False).astype(bool) & (reasons == "")
        reasons[mask] = reason

    for column in ("event_id", "customer_id", "type"):
        flag(_blank(frame[column]), f"{column} is missing")
    for column in ("event_id", "customer_id", "item_id", "order_id", "device_id", "conversation_id"):
        if column in frame:
            flag(frame[column].astype("string").str.len() > MAX_ID, f"{column} is longer than {MAX_ID}")
    kind = frame["type"].astype("string")
    flag(~kind.isin(EVENT_TYPES), f"type is not one of {', '.join(EVENT_TYPES)}")
    flag(frame["ts"].isna(), "timestamp is missing or not a date")
    latest = datetime.now(timezone.utc).replace(tzinfo=None) + MAX_CLOCK_SKEW
    flag(pd.to_datetime(frame["ts"]) > latest, "timestamp lies more than a day in the future")
    flag(kind.isin(ITEM_EVENT_TYPES) & _blank(frame["item_id"]), "item_id is required for this event type")
    amount = pd.to_numeric(frame["amount"], errors="coerce")
    flag(frame["amount"].notna() & amount.isna(), "amount is not a number")
    flag(kind.isin(AMOUNT_EVENT_TYPES) & amount.isna(), "amount is required for this event type")
    flag(amount < 0, "amount is negative")
    flag(~np.isfinite(amount.fillna(0)), "amount is not finite")
    quantity = pd.to_numeric(frame["quantity"], errors="coerce")
    flag(frame["quantity"].notna() & quantity.isna(), "quantity is not a number")
    flag(quantity <= 0, "quantity must be positive")
    if "currency" in frame:
        flag(frame["currency"].notna() & ~frame["currency"].astype("string").str.fullmatch(r"[A-Z]{3}"),
             "currency must be a 3-letter ISO 4217 code")
    if "country" in frame:
        flag(frame["country"].notna() & ~frame["country"].astype("string").str.fullmatch(r"[A-Z]{2}"),
             "country must be a 2-letter ISO 3166 code")
    if "text" in frame:
        flag((kind == "chat_message") & _blank(frame["text"]), "text is required for chat_message events")
        flag(frame["text"].astype("string").str.len() > 4000, "text is longer than 4000 characters")
    return reasons
