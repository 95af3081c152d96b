"""Wire contract of the ingestion endpoints: events, customers, items."""
from __future__ import annotations

import ipaddress
import socket
from datetime import datetime, timezone

from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates_schema

from features.events import (
    AMOUNT_EVENT_TYPES,
    CHAT_FIELDS,
    EVENT_TYPES,
    ITEM_EVENT_TYPES,
    MAX_CLOCK_SKEW,
)

ID = validate.Length(min=1, max=128)
STATUSES = {"payment": {"approved", "declined", "pending"}, "login": {"success", "failure"}}


def _ip(value: str) -> None:
    try:
        socket.inet_pton(socket.AF_INET, value)  # the common case in C (ipaddress parses in Python, ~10× the cost);
        return                                   # it accepts exactly ipaddress's IPv4 forms (no leading zeros)
    except (OSError, ValueError, TypeError):
        pass
    try:
        ipaddress.ip_address(value)
    except ValueError as exc:
        raise ValidationError("Not a valid IPv4 or IPv6 address.") from exc


def flat_dict(what: str, most: int, longest: int = 1000):
    """A validator for a dict of scalars: at most ``most`` keys, strings no longer than ``longest``."""

    def check(value: dict) -> None:
        if len(value) > most:
            raise ValidationError(f"At most {most} {what}s.")
        for key, item in value.items():
            if not isinstance(item, (str, int, float, bool)) and item is not None:
                raise ValidationError(f"{what.capitalize()} '{key}' must be a string, number, boolean or null.")
            if isinstance(item, str) and len(item) > longest:
                raise ValidationError(f"{what.capitalize()} '{key}' is longer than {longest} characters.")

    return check


_small_dict = flat_dict("property", 50)


class StrictSchema(Schema):
    class Meta:
        unknown = RAISE


class EventSchema(StrictSchema):
    """One behaviour event. Which fields are required depends on ``type`` (see each field)."""

    event_id = fields.String(required=True, validate=ID, metadata={"description": "Client-chosen unique id; a repeat is accepted once."})
    type = fields.String(required=True, validate=validate.OneOf(EVENT_TYPES))
    customer_id = fields.String(required=True, validate=ID)
    timestamp = fields.AwareDateTime(
        default_timezone=timezone.utc,
        metadata={"description": "ISO 8601; without an offset it is read as UTC; omitted means when kefu received it."},
    )
    item_id = fields.String(validate=ID, metadata={"description": f"Required for {', '.join(sorted(ITEM_EVENT_TYPES))}."})
    order_id = fields.String(validate=ID)
    quantity = fields.Float(validate=validate.Range(min=0, min_inclusive=False, max=1e6), allow_nan=False)
    amount = fields.Float(
        validate=validate.Range(min=0, max=1e9), allow_nan=False,
        metadata={"description": "Money; required for purchase (line total), refund and payment."},
    )
    currency = fields.String(validate=validate.Regexp(r"^[A-Z]{3}$", error="Use a 3-letter ISO 4217 code such as USD."))
    device_id = fields.String(validate=ID)
    ip = fields.String(validate=_ip)
    country = fields.String(validate=validate.Regexp(r"^[A-Z]{2}$", error="Use a 2-letter ISO 3166 code such as US."))
    status = fields.String(metadata={"description": "payment: approved/declined/pending; login: success/failure."})
    is_fraud = fields.Boolean(metadata={"description": "payment: fraud label when known."})
    text = fields.String(validate=validate.Length(min=1, max=4000), metadata={"description": "chat_message: the message."})
    conversation_id = fields.String(validate=ID)
    direction = fields.String(validate=validate.OneOf(["customer", "agent"]))
    language = fields.String(validate=validate.Length(min=2, max=16))
    properties = fields.Dict(keys=fields.String(validate=validate.Length(min=1, max=64)), validate=_small_dict)

    @validates_schema
    def _rules_per_type(self, data: dict, **_kwargs) -> None:
        kind = data.get("type")
        errors: dict[str, list[str]] = {}
        ts = data.get("timestamp")
        if ts is not None and ts > datetime.now(timezone.utc) + MAX_CLOCK_SKEW:
            errors["timestamp"] = ["Lies more than a day in the future; check the sender's clock."]
        if kind in ITEM_EVENT_TYPES and not data.get("item_id"):
            errors["item_id"] = [f"Required for {kind} events."]
        if kind in AMOUNT_EVENT_TYPES and data.get("amount") is None:
            errors["amount"] = [f"Required for {kind} events."]
        if kind == "chat_message" and not data.get("text"):
            errors["text"] = ["Required for chat_message events."]
        if kind != "chat_message":
            for name in CHAT_FIELDS:
                if name in data:
                    errors[name] = ["Only chat_message events carry this field."]
        status = data.get("status")
        if status is not None:
            allowed = STATUSES.get(kind)
            if allowed is None:
                errors["status"] = [f"{kind} events carry no status."]
            elif status not in allowed:
                errors["status"] = [f"Must be one of: {', '.join(sorted(allowed))}."]
        if "is_fraud" in data and kind != "payment":
            errors["is_fraud"] = ["Only payment events carry a fraud label."]
        if errors:
            raise ValidationError(errors)


class EventBatchRequestSchema(StrictSchema):
    events = fields.List(
        fields.Raw(), required=True, validate=validate.Length(min=1),
        metadata={"description": "1 to KEFU_MAX_BATCH_EVENTS (default 1000) events; each is an Event."},
    )


class RejectedEventSchema(Schema):
    index = fields.Integer()
    event_id = fields.String(allow_none=True)
    errors = fields.Dict()


class EventBatchResponseSchema(Schema):
    accepted = fields.Integer(metadata={"description": "Stored now."})
    duplicates = fields.Integer(metadata={"description": "Already stored earlier (or repeated in this batch); not stored twice."})
    rejected = fields.List(fields.Nested(RejectedEventSchema), metadata={"description": "Invalid events, with reasons; nothing of them was stored."})
    profiles_updated = fields.Integer()


class CustomerSchema(StrictSchema):
    customer_id = fields.String(required=True, validate=ID)
    name = fields.String(validate=validate.Length(max=200))
    email = fields.Email(validate=validate.Length(max=320))
    phone = fields.String(validate=validate.Length(max=64))
    tier = fields.String(validate=validate.Length(max=32))
    age_band = fields.String(validate=validate.Length(max=32))
    region = fields.String(validate=validate.Length(max=64))
    language = fields.String(validate=validate.Length(min=2, max=16))
    signup_at = fields.AwareDateTime(default_timezone=timezone.utc)
    attributes = fields.Dict(keys=fields.String(), validate=_small_dict)


class ItemSchema(StrictSchema):
    item_id = fields.String(required=True, validate=ID)
    name = fields.String(validate=validate.Length(max=300))
    category = fields.String(validate=validate.Length(max=128))
    price = fields.Float(validate=validate.Range(min=0), allow_nan=False)
    stock = fields.Integer(validate=validate.Range(min=0))
    active = fields.Boolean()
    repeatable = fields.Boolean(metadata={"description": "Re-buying is normal (groceries): bought items stay recommendable."})
    description = fields.String(validate=validate.Length(max=2000))
    attributes = fields.Dict(keys=fields.String(), validate=_small_dict)


class CustomerBatchRequestSchema(StrictSchema):
    customers = fields.List(fields.Nested(CustomerSchema), required=True, validate=validate.Length(min=1, max=1000))


class ItemBatchRequestSchema(StrictSchema):
    items = fields.List(fields.Nested(ItemSchema), required=True, validate=validate.Length(min=1, max=1000))


class UpsertResponseSchema(Schema):
    upserted = fields.Integer()
