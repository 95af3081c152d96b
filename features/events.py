"""The event vocabulary shared by ingestion, storage, profiles and the demo simulator.

An event is one thing a customer did, told by the client system that saw it. On the wire (HTTP, JSONL files)
an event is a flat JSON object; in storage and in the profile builder it is a row with the columns in
``EVENT_COLUMNS``. Keeping the list here, as data, lets every layer agree on it without importing each other.
"""
from __future__ import annotations

from datetime import timedelta
from enum import Enum


class EventType(str, Enum):
    VIEW = "view"
    ADD_TO_CART = "add_to_cart"
    REMOVE_FROM_CART = "remove_from_cart"
    PURCHASE = "purchase"
    REFUND = "refund"
    PAYMENT = "payment"
    LOGIN = "login"
    CHAT_MESSAGE = "chat_message"
    #: The customer said "not interested" to an item shown to them: it is never recommended to them again.
    DISMISS = "dismiss"


#: Events stamped further in the future than this are refused: one bad clock would otherwise move the
#: store's data clock (and with it every profile's 7/30/90-day window) into the future.
MAX_CLOCK_SKEW = timedelta(days=1)

EVENT_TYPES: tuple[str, ...] = tuple(t.value for t in EventType)

#: Event types that must name an item.
ITEM_EVENT_TYPES = frozenset({"view", "add_to_cart", "remove_from_cart", "purchase", "refund", "dismiss"})
#: Event types that must carry a non-negative ``amount`` (money, in ``currency``).
AMOUNT_EVENT_TYPES = frozenset({"purchase", "refund", "payment"})

#: Columns of a stored event, in order. ``ts`` is a naive UTC datetime.
EVENT_COLUMNS: tuple[str, ...] = (
    "event_id",      # client-chosen, unique; a repeat is a duplicate and is not stored twice
    "type",          # one of EVENT_TYPES
    "customer_id",
    "ts",            # when it happened (UTC)
    "item_id",       # view/cart/purchase/refund/dismiss
    "order_id",      # purchase/refund/payment; groups the lines of one order
    "quantity",      # purchase/refund/cart lines
    "amount",        # money: line total for purchase/refund, charged amount for payment
    "currency",      # ISO 4217, e.g. "USD"
    "device_id",     # login/payment/view: the device the customer used
    "ip",            # login/payment: client IP address
    "country",       # login/payment: ISO 3166 alpha-2 country of the IP or card
    "status",        # payment: approved/declined; login: success/failure
    "is_fraud",      # payment: label when known (chargeback, confirmed case); else None
)

#: Extra fields a chat_message event carries; stored in the chat_messages table.
CHAT_FIELDS: tuple[str, ...] = ("text", "conversation_id", "direction", "language")

CUSTOMER_FIELDS: tuple[str, ...] = (
    "customer_id", "name", "email", "phone", "tier", "age_band", "region", "language", "signup_at",
)
ITEM_FIELDS: tuple[str, ...] = (
    "item_id", "name", "category", "price", "stock", "active", "repeatable", "description",
)
