"""Column mappings: how a file's columns become kefu events, customers and items, without editing the file.

A mapping is data (JSON, or a named preset) so real datasets load as they are::

    {"kind": "events",
     "columns": {"customer_id": "CUSTOMER_ID", "item_id": "PRODUCT_ID", "timestamp": "TRANSACTION_DT",
                 "quantity": "AMOUNT", "amount": "SALES_PRICE"},
     "constants": {"type": "purchase", "currency": "TWD"},
     "timestamp_format": "%m/%d/%Y",
     "customer_columns": {"age_band": "AGE_GROUP", "region": "PIN_CODE"},
     "item_columns": {"category": "PRODUCT_SUBCLASS"},
     "item_price_from": "unit_amount"}

``columns`` maps a kefu field to a file column; ``constants`` fills a field with one value; without an
``event_id`` column, ids are ``<file stem>-<row number>``, so importing the same file twice stores nothing
twice. ``timestamp_format`` is a strptime pattern, ``"unix"`` (seconds) or omitted (ISO 8601).
``customer_columns`` / ``item_columns`` fill the customer and item tables from the same rows, and
``item_constants`` gives every item of the file one value (e.g. ``{"repeatable": true}`` for groceries);
``item_price_from: "unit_amount"`` sets an item's price to its median amount / quantity when the file has no
price column. ``properties`` maps extra property names to columns.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from features.events import CHAT_FIELDS, CUSTOMER_FIELDS, EVENT_COLUMNS, ITEM_FIELDS

KINDS = ("events", "customers", "items")
EVENT_FIELDS = tuple(c for c in EVENT_COLUMNS if c != "ts") + ("timestamp",) + CHAT_FIELDS


@dataclass(frozen=True)
class ColumnMapping:
    kind: str = "events"
    columns: dict[str, str] = field(default_factory=dict)
    constants: dict[str, Any] = field(default_factory=dict)
    timestamp_format: str | None = None
    customer_columns: dict[str, str] = field(default_factory=dict)
    item_columns: dict[str, str] = field(default_factory=dict)
    item_constants: dict[str, Any] = field(default_factory=dict)
    item_price_from: str | None = None
    properties: dict[str, str] = field(default_factory=dict)
    read_options: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"mapping kind must be one of {KINDS}, not {self.kind!r}")
        allowed = {"events": EVENT_FIELDS, "customers": CUSTOMER_FIELDS, "items": ITEM_FIELDS}[self.kind]
        bad = sorted((set(self.columns) | set(self.constants)) - set(allowed))
        if bad:
            raise ValueError(f"unknown {self.kind} fields in mapping: {bad}; known: {', '.join(allowed)}")
        bad = sorted(set(self.customer_columns) - set(CUSTOMER_FIELDS))
        if bad:
            raise ValueError(f"unknown customer fields in customer_columns: {bad}")
        bad = sorted((set(self.item_columns) | set(self.item_constants)) - set(ITEM_FIELDS))
        if bad:
            raise ValueError(f"unknown item fields in item_columns/item_constants: {bad}")
        if self.item_price_from not in (None, "unit_amount"):
            raise ValueError("item_price_from can only be 'unit_amount'")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "ColumnMapping":
        unknown = set(data) - {f for f in cls.__dataclass_fields__}
        if unknown:
            raise ValueError(f"unknown mapping keys: {sorted(unknown)}")
        return cls(**dict(data))

    @classmethod
    def load(cls, spec: str) -> "ColumnMapping":
        """A preset name, or a path to a JSON mapping file."""
        if spec in PRESETS:
            return cls.from_dict(PRESETS[spec])
        path = Path(spec)
        if not path.exists():
            raise ValueError(f"no mapping preset or file named {spec!r}; presets: {', '.join(PRESETS)}")
        return cls.from_dict(json.loads(path.read_text()))

    def source_columns(self) -> set[str]:
        return set(self.columns.values()) | set(self.customer_columns.values()) | set(
            self.item_columns.values()) | set(self.properties.values())


PRESETS: dict[str, dict[str, Any]] = {
    # Ta-Feng grocery line items (shared/data/recommend/ta-feng/ta_feng.csv.zip)
    "ta-feng": {
        "kind": "events",
        "columns": {
            "customer_id": "CUSTOMER_ID", "item_id": "PRODUCT_ID", "timestamp": "TRANSACTION_DT",
            "quantity": "AMOUNT", "amount": "SALES_PRICE",
        },
        "constants": {"type": "purchase", "currency": "TWD"},
        "timestamp_format": "%m/%d/%Y",
        "customer_columns": {"age_band": "AGE_GROUP", "region": "PIN_CODE"},
        "item_columns": {"category": "PRODUCT_SUBCLASS"},
        "item_constants": {"repeatable": True},  # groceries are bought again and again
        "item_price_from": "unit_amount",
        "read_options": {"dtype": "str"},
    },
    # MovieLens 100K ratings (u.data: user, item, rating, unix time; tab-separated, no header).
    # Rating a film means having watched it: a zero-amount "purchase" (what recommenders learn from), never
    # repeated; the rating itself goes into properties.
    "movielens": {
        "kind": "events",
        "columns": {"customer_id": "user_id", "item_id": "item_id", "timestamp": "timestamp"},
        "constants": {"type": "purchase", "amount": 0.0},
        "item_constants": {"repeatable": False},
        "timestamp_format": "unix",
        "properties": {"rating": "rating"},
        "read_options": {"sep": "\t", "header": None, "names": ["user_id", "item_id", "rating", "timestamp"],
                         "dtype": "str"},
    },
}
