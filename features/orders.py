"""A customer's recent orders, as the chat service talks about them (id, items, total, status, delivery date).

kefu stores what the shop tells it: purchase lines grouped by ``order_id`` and refunds. Shops that know the
shipping state send it in the purchase event's ``properties`` (``status``, ``delivery_date``); without it the
status is derived from the order's age: ``processing`` on the first day, ``shipped`` until the expected delivery
date (``delivery_days`` after the purchase, ``KEFU_CHAT_DELIVERY_DAYS``), then ``delivered``; any refund line
makes it ``refunded``. The rule is simple on purpose: a reply never states a status the data cannot support.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine, select

from features.storage import schema as s
from features.storage.store import utcnow

__all__ = ["Order", "recent_orders"]

ORDER_STATUSES = ("processing", "shipped", "delivered", "refunded", "cancelled")


@dataclass(frozen=True)
class Order:
    order_id: str
    placed_at: datetime
    items: tuple[str, ...]       # item names (ids where the catalogue has no name), in purchase order
    item_ids: tuple[str, ...]
    total: float
    currency: str | None
    status: str
    delivery_date: datetime | None


def _parse_date(value) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")).replace(tzinfo=None)
    except ValueError:
        return None


def recent_orders(engine: Engine, customer_id: str, *, limit: int = 5, delivery_days: int = 5,
                  now: datetime | None = None, scan: int = 200) -> list[Order]:
    """The customer's ``limit`` most recent orders, newest first (reads at most ``scan`` recent lines)."""
    now = now or utcnow()
    e, i = s.events.c, s.items.c
    q = (select(e.type, e.ts, e.order_id, e.item_id, e.amount, e.currency, e.properties, i.name)
         .select_from(s.events.outerjoin(s.items, e.item_id == i.item_id))
         .where(e.customer_id == customer_id, e.type.in_(("purchase", "refund")), e.order_id.is_not(None))
         .order_by(e.ts.desc(), e.id.desc()).limit(scan))
    with engine.connect() as conn:
        rows = conn.execute(q).mappings().all()
    orders: dict[str, dict] = {}
    refunded: set[str] = set()
    for r in rows:
        if r["type"] == "refund":
            refunded.add(r["order_id"])
            continue
        o = orders.setdefault(r["order_id"], {"placed_at": r["ts"], "items": [], "ids": [], "total": 0.0,
                                              "currency": r["currency"], "status": None, "delivery": None})
        o["placed_at"] = min(o["placed_at"], r["ts"])
        if r["item_id"] and r["item_id"] not in o["ids"]:
            o["ids"].append(r["item_id"])
            o["items"].append(r["name"] or r["item_id"])
        o["total"] += float(r["amount"] or 0.0)
        props = r["properties"] or {}
        o["status"] = o["status"] or props.get("status")
        o["delivery"] = o["delivery"] or _parse_date(props.get("delivery_date"))
    out: list[Order] = []
    for order_id, o in sorted(orders.items(), key=lambda kv: kv[1]["placed_at"], reverse=True)[:limit]:
        delivery = o["delivery"] or o["placed_at"] + timedelta(days=delivery_days)
        status = o["status"]
        if order_id in refunded:
            status = "refunded"
        elif not status:
            age = now - o["placed_at"]
            status = "processing" if age < timedelta(days=1) else "shipped" if now < delivery else "delivered"
        out.append(Order(order_id, o["placed_at"], tuple(reversed(o["items"])), tuple(reversed(o["ids"])),
                         round(o["total"], 2), o["currency"], str(status), delivery))
    return out
