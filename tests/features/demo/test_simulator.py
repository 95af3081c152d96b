"""Tests for the seeded demo-shop simulator: the wire contract, integrity, and the patterns it promises."""
from __future__ import annotations

import re
import statistics
from collections import Counter, defaultdict
from datetime import datetime, timedelta, timezone

import pytest

from features.demo.simulator import FRAUD_PATTERNS, DemoShop, simulate_shop
from features.events import (
    AMOUNT_EVENT_TYPES,
    CHAT_FIELDS,
    CUSTOMER_FIELDS,
    EVENT_COLUMNS,
    EVENT_TYPES,
    ITEM_EVENT_TYPES,
    ITEM_FIELDS,
)

START, END = "2026-05-01T00:00:00Z", "2026-11-01T00:00:00Z"
ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
CJK = re.compile(r"[\u4e00-\u9fff]")
BASE_KEYS = {"event_id", "type", "customer_id", "timestamp"}
ALLOWED = (set(EVENT_COLUMNS) - {"ts"}) | {"timestamp"}


@pytest.fixture(scope="module")
def shop() -> DemoShop:
    return simulate_shop(seed=11, n_customers=200)


@pytest.fixture(scope="module")
def bigger() -> DemoShop:
    """Large enough for statistical patterns (weekly shape, tastes, fraud rate) to be stable."""
    return simulate_shop(seed=3, n_customers=800)


def _ts(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


def _by_type(shop: DemoShop, kind: str) -> list[dict]:
    return [e for e in shop.events if e["type"] == kind]


# ------------------------------------------------------------------------------------------ determinism


def test_same_seed_gives_the_same_shop_and_other_seeds_differ():
    a = simulate_shop(seed=5, n_customers=120, n_items=80, months=2)
    b = simulate_shop(seed=5, n_customers=120, n_items=80, months=2)
    c = simulate_shop(seed=6, n_customers=120, n_items=80, months=2)
    assert a == b
    assert a.events != c.events
    assert a.customers != c.customers
    assert a.items != c.items


def test_default_size_is_in_the_promised_volume():
    shop = simulate_shop()  # its speed is measured in docs/benchmarks.md, not asserted here
    assert 50_000 <= len(shop.events) <= 200_000
    assert len(shop.customers) == 2000 and len(shop.items) == 300
    chats = len(_by_type(shop, "chat_message"))
    assert 200 <= chats <= 1200


@pytest.mark.parametrize("kwargs", [{"n_customers": 5}, {"n_items": 10}, {"months": 0}])
def test_rejects_sizes_it_cannot_fill(kwargs):
    with pytest.raises(ValueError):
        simulate_shop(**kwargs)


# ------------------------------------------------------------------------------------ customers & items


def test_customers_have_exactly_the_contract_fields(shop):
    assert len(shop.customers) == 200
    ids = [c["customer_id"] for c in shop.customers]
    assert len(set(ids)) == len(ids) and ids[0] == "c00001"
    emails = [c["email"] for c in shop.customers]
    assert len(set(emails)) == len(emails)
    for c in shop.customers:
        assert tuple(c) == CUSTOMER_FIELDS
        assert c["tier"] in {"bronze", "silver", "gold", "platinum"}
        assert c["age_band"] in {"18-24", "25-34", "35-44", "45-54", "55-64", "65+"}
        assert c["language"] in {"en", "zh"}
        assert re.fullmatch(r"[a-z0-9._]+@[a-z.]+\.[a-z]+", c["email"])
        assert re.fullmatch(r"\+1-555-\d{3}-\d{4}|\+86 1\d\d \d{4} \d{4}|\+44 7700 900\d{3}", c["phone"])
        assert ISO.match(c["signup_at"])
        assert bool(CJK.search(c["name"])) == (c["language"] == "zh")
    langs = Counter(c["language"] for c in shop.customers)
    assert 0.12 < langs["zh"] / len(shop.customers) < 0.4
    tiers = Counter(c["tier"] for c in shop.customers)
    assert tiers["bronze"] > tiers["silver"] > tiers["platinum"]
    signups = [c["signup_at"] for c in shop.customers]
    assert any(s < START for s in signups) and any(START <= s < END for s in signups)


def test_items_have_contract_fields_and_plausible_values(shop):
    assert len(shop.items) == 300
    ids = [i["item_id"] for i in shop.items]
    assert len(set(ids)) == len(ids) and ids == sorted(ids)
    assert len({i["name"] for i in shop.items}) == 300
    assert len({i["description"] for i in shop.items}) == 300
    repeatable = {"groceries", "beverages", "household", "personal_care"}
    for i in shop.items:
        assert tuple(i) == ITEM_FIELDS
        assert isinstance(i["price"], float) and i["price"] > 0 and round(i["price"], 2) == i["price"]
        assert isinstance(i["stock"], int) and i["stock"] >= 0
        assert isinstance(i["active"], bool)
        assert i["repeatable"] is (i["category"] in repeatable)
        assert i["name"] in i["description"] and i["description"].endswith(".")
    cats = Counter(i["category"] for i in shop.items)
    assert len(cats) == 10
    mean_price = {c: statistics.mean(i["price"] for i in shop.items if i["category"] == c) for c in cats}
    assert mean_price["electronics"] > 5 * mean_price["snacks"]
    assert 0 < sum(i["stock"] == 0 for i in shop.items) < 40
    assert 0 < sum(not i["active"] for i in shop.items) < 30


# ------------------------------------------------------------------------------------------------ events


def test_every_event_follows_the_wire_contract(shop):
    for e in shop.events:
        keys = set(e)
        assert BASE_KEYS <= keys
        assert e["type"] in EVENT_TYPES
        assert None not in e.values()
        if e["type"] == "chat_message":
            assert keys <= ALLOWED | set(CHAT_FIELDS)
            assert set(CHAT_FIELDS) <= keys
            assert e["direction"] in {"customer", "agent"} and e["language"] in {"en", "zh"}
            assert e["text"].strip()
        else:
            assert keys <= ALLOWED
        if e["type"] in ITEM_EVENT_TYPES:
            assert "item_id" in e
        if e["type"] in AMOUNT_EVENT_TYPES:
            assert isinstance(e["amount"], float) and e["amount"] >= 0
            assert round(e["amount"], 2) == e["amount"]
            assert e["currency"] == "USD" and "order_id" in e
        if e["type"] in {"purchase", "refund", "add_to_cart", "remove_from_cart"}:
            assert isinstance(e["quantity"], int) and e["quantity"] >= 1
        if e["type"] == "payment":
            assert e["status"] in {"approved", "declined"} and isinstance(e["is_fraud"], bool)
            assert {"device_id", "ip", "country"} <= keys
        elif e["type"] == "login":
            assert e["status"] in {"success", "failure"}
            assert {"device_id", "ip", "country"} <= keys
        else:
            assert "is_fraud" not in e and "status" not in e
        if e["type"] == "view":
            assert "device_id" in e


def test_event_ids_are_unique(shop):
    ids = [e["event_id"] for e in shop.events]
    assert len(set(ids)) == len(ids)
    assert ids[0] == "demo-000001"


def test_timestamps_are_iso_utc_sorted_and_inside_the_period(shop):
    stamps = [e["timestamp"] for e in shop.events]
    assert all(ISO.match(s) for s in stamps)
    assert stamps == sorted(stamps)
    assert stamps[0] >= START and stamps[-1] < END
    short = simulate_shop(seed=2, n_customers=60, n_items=50, start="2026-01-31", months=1)
    assert short.events[0]["timestamp"] >= "2026-01-31T00:00:00Z"
    assert short.events[-1]["timestamp"] < "2026-02-28T00:00:00Z"


def test_referential_integrity(shop):
    customers = {c["customer_id"]: c for c in shop.customers}
    items = {i["item_id"] for i in shop.items}
    for e in shop.events:
        assert e["customer_id"] in customers
        assert e["timestamp"] >= customers[e["customer_id"]]["signup_at"]
        if "item_id" in e:
            assert e["item_id"] in items


def test_orders_pay_once_then_list_their_lines(shop):
    lines: dict[str, list[dict]] = defaultdict(list)
    for e in _by_type(shop, "purchase"):
        lines[e["order_id"]].append(e)
    payments = defaultdict(list)
    for e in _by_type(shop, "payment"):
        payments[e["order_id"]].append(e)
    assert all(len(p) == 1 for p in payments.values())
    for oid, order_lines in lines.items():
        (pay,) = payments[oid]
        assert pay["status"] == "approved"
        assert len({(l["timestamp"], l["customer_id"]) for l in order_lines}) == 1
        assert pay["timestamp"] <= order_lines[0]["timestamp"]
        assert pay["customer_id"] == order_lines[0]["customer_id"]
        assert abs(pay["amount"] - sum(l["amount"] for l in order_lines)) < 0.011
    prices = {i["item_id"]: i["price"] for i in shop.items}
    for e in _by_type(shop, "purchase"):
        assert abs(e["amount"] - prices[e["item_id"]] * e["quantity"]) < 0.011


def test_refunds_follow_a_purchase_of_the_same_line(shop):
    bought = {(e["customer_id"], e["item_id"], e["order_id"]): e for e in _by_type(shop, "purchase")}
    refunds = _by_type(shop, "refund")
    assert refunds
    for r in refunds:
        p = bought[(r["customer_id"], r["item_id"], r["order_id"])]
        assert _ts(r["timestamp"]) - _ts(p["timestamp"]) >= timedelta(days=1)
        assert r["quantity"] <= p["quantity"] and r["amount"] <= p["amount"] + 1e-9


def test_refund_rate_is_a_few_percent_of_lines(bigger):
    rate = len(_by_type(bigger, "refund")) / len(_by_type(bigger, "purchase"))
    assert 0.02 < rate < 0.07


# ------------------------------------------------------------------------------------------------- fraud


def test_every_payment_is_labelled_and_fraud_cases_match_the_labels(shop):
    payments = {e["event_id"]: e for e in _by_type(shop, "payment")}
    fraud = {eid for eid, e in payments.items() if e["is_fraud"]}
    cases = {c["event_id"]: c for c in shop.fraud_cases}
    assert set(cases) == fraud
    assert {c["pattern"] for c in shop.fraud_cases} == set(FRAUD_PATTERNS)
    for eid, case in cases.items():
        assert payments[eid]["customer_id"] == case["customer_id"]
    for e in shop.events:
        assert "fraud_pattern" not in e and "pattern" not in e


def test_fraud_rate_is_realistic(bigger):
    payments = _by_type(bigger, "payment")
    rate = sum(e["is_fraud"] for e in payments) / len(payments)
    assert 0.005 < rate < 0.04


def _cases(shop: DemoShop, pattern: str) -> dict[str, list[dict]]:
    events = {e["event_id"]: e for e in shop.events}
    out: dict[str, list[dict]] = defaultdict(list)
    for c in shop.fraud_cases:
        if c["pattern"] == pattern:
            out[c["case_id"]].append(events[c["event_id"]])
    assert out
    return out


def test_account_takeover_follows_a_foreign_login_from_a_new_device(shop):
    home = _home_countries(shop)
    for case, pays in _cases(shop, "account_takeover").items():
        first = pays[0]
        cid, dev = first["customer_id"], first["device_id"]
        assert all(p["device_id"] == dev and p["customer_id"] == cid for p in pays)
        assert first["country"] != home[cid]
        mine = [e for e in shop.events if e["customer_id"] == cid]
        logins = [e for e in mine if e["type"] == "login" and e["device_id"] == dev and e["status"] == "success"]
        assert logins
        gap = _ts(first["timestamp"]) - _ts(logins[0]["timestamp"])
        assert 0 < gap.total_seconds() <= 3600
        assert all((_ts(p["timestamp"]) - _ts(logins[0]["timestamp"])).total_seconds() <= 3600 for p in pays)
        on_device = [e for e in mine if e.get("device_id") == dev]
        assert on_device[0]["type"] == "login"              # the device first shows up by logging in ...
        assert any(e["timestamp"] < on_device[0]["timestamp"] for e in mine)  # ... on an account with a past
        assert max(p["amount"] for p in pays) >= 250


def test_card_testing_is_a_burst_of_tiny_mostly_declined_payments(shop):
    for case, pays in _cases(shop, "card_testing").items():
        assert 5 <= len(pays) <= 20
        assert all(1.0 <= p["amount"] <= 5.0 for p in pays)
        assert len({(p["device_id"], p["ip"]) for p in pays}) == 1
        span = _ts(pays[-1]["timestamp"]) - _ts(pays[0]["timestamp"])
        assert span.total_seconds() <= 600
        assert sum(p["status"] == "declined" for p in pays) >= len(pays) / 3


def test_unusual_amount_is_far_above_the_customers_usual_order(shop):
    legit = defaultdict(list)
    for e in _by_type(shop, "payment"):
        if not e["is_fraud"] and e["status"] == "approved":
            legit[e["customer_id"]].append(e["amount"])
    for case, pays in _cases(shop, "unusual_amount").items():
        (p,) = pays
        assert p["amount"] >= 5 * statistics.median(legit[p["customer_id"]])


def test_honest_customers_also_travel_and_change_devices(bigger):
    home = _home_countries(bigger)
    fraud_customers = {c["customer_id"] for c in bigger.fraud_cases}
    foreign_honest = {e["customer_id"] for e in _by_type(bigger, "login")
                      if e["country"] != home[e["customer_id"]] and e["customer_id"] not in fraud_customers}
    assert len(foreign_honest) >= 5
    devices = defaultdict(set)
    for e in _by_type(bigger, "payment"):
        if not e["is_fraud"]:
            devices[e["customer_id"]].add(e["device_id"])
    assert sum(len(d) >= 2 for d in devices.values()) >= 20
    # Some honest orders are as big as fraudulent ones, so amount alone does not separate them.
    assert any(e["amount"] > 500 and not e["is_fraud"] for e in _by_type(bigger, "payment"))


def _home_countries(shop: DemoShop) -> dict[str, str]:
    """Home is where a customer logs in and pays from most often, leaving out the fraudsters' devices."""
    fraud_devices = {e["device_id"] for e in shop.events if e["type"] == "payment" and e["is_fraud"]}
    per: dict[str, Counter] = defaultdict(Counter)
    for e in shop.events:
        if e["type"] in {"login", "payment"} and e["device_id"] not in fraud_devices:
            per[e["customer_id"]][e["country"]] += 1
    return defaultdict(str, {c: cnt.most_common(1)[0][0] for c, cnt in per.items()})


# -------------------------------------------------------------------------------------------------- chat


def test_chat_has_both_languages_grounded_in_the_customers_history(shop):
    chats = _by_type(shop, "chat_message")
    assert chats
    langs = {c["customer_id"]: c["language"] for c in shop.customers}
    assert {e["language"] for e in chats} == {"en", "zh"}
    for e in chats:
        assert e["language"] == langs[e["customer_id"]]
        if e["language"] == "zh":
            assert CJK.search(e["text"])
        else:
            assert not CJK.search(e["text"])
    directions = Counter(e["direction"] for e in chats)
    assert directions["customer"] > 2 * directions["agent"] > 0
    conversations = defaultdict(list)
    for e in chats:
        conversations[e["conversation_id"]].append(e)
    assert all(1 <= len(m) <= 4 for m in conversations.values())
    assert all(len({e["customer_id"] for e in m}) == 1 for m in conversations.values())
    assert all(m[0]["direction"] == "customer" for m in conversations.values())
    orders_of = defaultdict(set)
    for e in shop.events:
        if "order_id" in e:
            orders_of[e["customer_id"]].add(e["order_id"])
    mentioned = [(e["customer_id"], oid) for e in chats for oid in re.findall(r"O\d{5,}", e["text"])]
    assert mentioned
    assert all(oid in orders_of[cid] for cid, oid in mentioned)


def test_chat_texts_vary_and_some_carry_contact_details(bigger):
    chats = [e for e in _by_type(bigger, "chat_message") if e["direction"] == "customer"]
    texts = [e["text"] for e in chats]
    assert len(set(texts)) > 0.6 * len(texts)
    assert any("@" in t for t in texts) and any(re.search(r"\+\d", t) for t in texts)
    assert any("furious" in t or "太差了" in t for t in texts)


# --------------------------------------------------------------------------------------------- behaviour


def test_repeatable_items_are_bought_again(bigger):
    repeatable = {i["item_id"]: i["repeatable"] for i in bigger.items}
    count = Counter((e["customer_id"], e["item_id"]) for e in _by_type(bigger, "purchase"))
    rep = [n for (c, i), n in count.items() if repeatable[i]]
    other = [n for (c, i), n in count.items() if not repeatable[i]]
    assert sum(n >= 2 for n in rep) >= 50
    assert sum(n >= 2 for n in rep) / len(rep) > 2 * sum(n >= 2 for n in other) / len(other)


def test_bundled_pairs_are_bought_together_more_than_chance(bigger):
    assert len(bigger.bundles) >= 5
    baskets: dict[str, set[str]] = defaultdict(set)
    for e in _by_type(bigger, "purchase"):
        baskets[e["order_id"]].add(e["item_id"])
    n = len(baskets)
    together = expected = 0.0
    for a, b in bigger.bundles:
        na = sum(a in s for s in baskets.values())
        nb = sum(b in s for s in baskets.values())
        together += sum(a in s and b in s for s in baskets.values())
        expected += na * nb / n
    assert together > 5 * expected and together >= 20


def test_popularity_is_skewed(bigger):
    views = Counter(e["item_id"] for e in _by_type(bigger, "view"))
    top = sum(n for _, n in views.most_common(15))
    assert top > 0.15 * sum(views.values())            # 5 % of items, well over 5 % of views


def test_weekends_and_the_sale_are_busier(bigger):
    per_day = Counter(e["timestamp"][:10] for e in _by_type(bigger, "view"))
    weekday, weekend = [], []
    for day, n in per_day.items():
        (weekend if datetime.fromisoformat(day).weekday() >= 5 else weekday).append(n)
    assert statistics.mean(weekend) > 1.15 * statistics.mean(weekday)
    sale = statistics.mean(per_day[d] for d in ("2026-06-16", "2026-06-17", "2026-06-18"))
    assert sale > 1.8 * statistics.median(per_day.values())


def test_tastes_depend_on_age(bigger):
    age = {c["customer_id"]: c["age_band"] for c in bigger.customers}
    category = {i["item_id"]: i["category"] for i in bigger.items}
    group = {"18-24": "young", "25-34": "young", "55-64": "old", "65+": "old"}
    share: dict[str, Counter] = defaultdict(Counter)
    for e in _by_type(bigger, "view"):
        share[group.get(age[e["customer_id"]], "middle")][category[e["item_id"]]] += 1

    def frac(who: str, cat: str) -> float:
        return share[who][cat] / sum(share[who].values())

    assert frac("old", "books") > 1.15 * frac("young", "books")
    assert frac("young", "fashion") > 1.15 * frac("old", "fashion")


def test_new_customers_appear_during_the_period(shop):
    signup = {c["customer_id"]: c["signup_at"] for c in shop.customers}
    first_seen: dict[str, str] = {}
    for e in shop.events:
        first_seen.setdefault(e["customer_id"], e["timestamp"])
    late = [c for c, s in signup.items() if s >= START and c in first_seen]
    assert late
    assert all(first_seen[c] >= signup[c] for c in late)
    assert max(first_seen[c] for c in late) > "2026-07-01"
