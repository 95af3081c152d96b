"""A seeded, self-contained demo shop: customers, a catalogue and six months of behaviour events.

Why it exists: the platform (profiles, recommendations, fraud scoring, support chat) needs data with real
structure to be demonstrable and testable without a customer's database. So the events here are not noise:
customers have category tastes tied to age and region, a price sensitivity, staples they re-buy, items they buy
together; traffic follows the hour, the weekday, the season and a sale; fraud is injected as three recognisable
patterns that also leave traces in logins, while honest customers travel and change phones so the patterns
are not trivially separable. Chat messages quote the customer's own orders and items.

Everything is drawn from one ``numpy`` generator (bulk, vectorised draws: session times, browsed items) and one
``random.Random`` seeded from it (cheap per-event decisions inside the session loop), so a seed reproduces the
shop exactly. Only numpy and the standard library are used.

Output events are in the wire format of :mod:`features.events`: flat dicts with ``EVENT_COLUMNS`` keys, except
``ts`` which is the ISO-8601 UTC string ``timestamp``; keys whose value would be ``None`` are left out.
"""
from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import numpy as np

from features.demo import texts as T

__all__ = ["DemoShop", "simulate_shop", "FRAUD_PATTERNS"]

DAY = 86_400
HOUR = 3_600
CURRENCY = "USD"

#: Names used in ``DemoShop.fraud_cases[*]["pattern"]``.
FRAUD_PATTERNS: tuple[str, ...] = ("account_takeover", "card_testing", "unusual_amount")

TIERS = ("bronze", "silver", "gold", "platinum")
TIER_P = (0.55, 0.28, 0.13, 0.04)
#: Better tiers shop more often and care less about price.
TIER_ACTIVITY = (0.8, 1.0, 1.35, 1.8)
TIER_SENSITIVITY = (1.0, 0.85, 0.6, 0.35)
AGE_BANDS = ("18-24", "25-34", "35-44", "45-54", "55-64", "65+")
AGE_P = (0.14, 0.27, 0.23, 0.17, 0.11, 0.08)
REGIONS = ("north", "south", "east", "west", "central")
REGION_P = (0.2, 0.22, 0.24, 0.2, 0.14)

#: Share of Chinese-speaking customers, and where customers of each language live (country, probability).
ZH_SHARE = 0.25
HOME_COUNTRIES = {"en": (("US", 0.85), ("CA", 0.10), ("GB", 0.05)), "zh": (("CN", 0.88), ("US", 0.12))}
#: Hours from UTC, so traffic peaks in the customer's evening, not the server's.
UTC_OFFSET = {"US": -5, "CA": -5, "GB": 0, "CN": 8}
#: First octets for fake-but-plausible IPv4 addresses per country.
IP_PREFIX = {
    "US": (73, 98, 174, 24), "CA": (99, 142, 70), "GB": (81, 86, 92), "CN": (114, 180, 223, 117),
    "FR": (90, 82), "JP": (126, 153), "MX": (187, 189), "TH": (171, 184), "IT": (79, 93), "ES": (83, 88),
    "BR": (177, 191), "RU": (95, 178), "NG": (105, 197), "VN": (113, 14), "UA": (176, 93), "RO": (86, 89),
    "ID": (36, 110),
}
#: Honest travellers go here; note BR/VN overlap with the fraud countries on purpose.
TRAVEL_COUNTRIES = ("FR", "JP", "MX", "TH", "IT", "ES", "GB", "US", "BR", "VN")
FRAUD_COUNTRIES = ("RU", "NG", "BR", "VN", "UA", "RO", "ID")

# Traffic shape, in the customer's local time.
HOUR_OF_DAY = np.array([0.15, 0.1, 0.08, 0.07, 0.07, 0.1, 0.25, 0.5, 0.75, 0.9, 1.0, 1.05,
                        1.15, 1.1, 1.0, 1.0, 1.05, 1.15, 1.35, 1.6, 1.75, 1.6, 1.1, 0.5])
DAY_OF_WEEK = np.array([0.9, 0.88, 0.9, 0.95, 1.05, 1.4, 1.3])          # Monday .. Sunday: weekends busier
MONTH_SEASON = np.array([0.9, 0.85, 0.95, 0.95, 1.0, 1.05, 0.92, 0.95, 1.0, 1.05, 1.2, 1.35])
SALE_TRAFFIC = 2.8
SALE_CONVERSION = 0.15

#: Mean sessions per week of an average (silver) customer; sets the event volume (~100k at the default size).
SESSIONS_PER_WEEK = 0.33
#: Refund probability per order line: fashion and electronics come back far more often than food.
REFUND_RATE = {
    "groceries": 0.025, "beverages": 0.015, "snacks": 0.015, "household": 0.025, "personal_care": 0.03,
    "electronics": 0.11, "home": 0.08, "fashion": 0.17, "toys": 0.07, "books": 0.04,
}

# Category taste (log weights, order of texts.CATEGORY_NAMES): base, then shifts by age band, region, language.
_C = {name: i for i, name in enumerate(T.CATEGORY_NAMES)}


def _shift(**kw: float) -> np.ndarray:
    v = np.zeros(len(T.CATEGORY_NAMES))
    for k, x in kw.items():
        v[_C[k]] = x
    return v


BASE_TASTE = _shift(groceries=0.5, beverages=0.2, snacks=0.2, household=0.1, personal_care=0.0,
                    electronics=0.0, home=-0.2, fashion=0.0, toys=-0.5, books=-0.4)
AGE_TASTE = np.stack([
    _shift(snacks=0.6, fashion=0.7, electronics=0.5, beverages=0.3, household=-0.5, home=-0.5, books=-0.2, toys=-0.4),
    _shift(electronics=0.5, fashion=0.4, home=0.3, beverages=0.2),
    _shift(toys=0.9, groceries=0.3, household=0.4, home=0.2),
    _shift(home=0.5, groceries=0.3, books=0.2, personal_care=0.2, fashion=-0.2),
    _shift(books=0.6, groceries=0.3, personal_care=0.4, electronics=-0.3, snacks=-0.2),
    _shift(books=0.8, personal_care=0.5, groceries=0.3, electronics=-0.6, fashion=-0.5, snacks=-0.3),
])
REGION_TASTE = np.stack([
    _shift(beverages=0.4, home=0.2),
    _shift(beverages=0.3, snacks=0.3, fashion=0.2),
    _shift(electronics=0.3, books=0.2),
    _shift(personal_care=0.3, fashion=0.3),
    _shift(groceries=0.3, household=0.3),
])
ZH_TASTE = _shift(beverages=0.3, electronics=0.2)


@dataclass(frozen=True)
class DemoShop:
    """One simulated shop.

    ``fraud_cases`` says which injected pattern produced each fraud-labelled payment (events themselves may
    not carry extra keys): dicts with ``event_id``, ``pattern`` (one of ``FRAUD_PATTERNS``), ``case_id`` and
    ``customer_id``. ``bundles`` are the item-id pairs customers tend to buy together, for tests and demos.
    """

    customers: list[dict]
    items: list[dict]
    events: list[dict]
    fraud_cases: list[dict] = field(default_factory=list)
    bundles: list[tuple[str, str]] = field(default_factory=list)


def simulate_shop(
    seed: int = 7,
    n_customers: int = 2000,
    n_items: int = 300,
    start: str = "2026-05-01",
    months: int = 6,
) -> DemoShop:
    """Simulate ``months`` months of a shop from ``start`` (UTC); the same arguments give the same shop."""
    if n_customers < 20:
        raise ValueError("n_customers must be at least 20")
    if n_items < 40:
        raise ValueError("n_items must be at least 40 (every category and bundle needs items)")
    if months < 1:
        raise ValueError("months must be at least 1")
    start_ts, end_ts = _period(start, months)
    rng = np.random.default_rng(seed)
    py = random.Random(int(rng.integers(0, 2**63)))
    catalog = _Catalog(rng, py, n_items)
    people = _Customers(rng, py, n_customers, start_ts, end_ts)
    sim = _Simulation(rng, py, catalog, people, start_ts, end_ts)
    sim.browse_and_buy()
    sim.inject_fraud()
    sim.write_chats()
    return sim.finish()


# ---------------------------------------------------------------------------------------------------- time


def _period(start: str, months: int) -> tuple[int, int]:
    """[start, start + months) as epoch seconds; a naive start is read as UTC; month ends are clamped."""
    s = datetime.fromisoformat(start)
    s = s.replace(tzinfo=timezone.utc) if s.tzinfo is None else s.astimezone(timezone.utc)
    m = s.month - 1 + months
    year, month = s.year + m // 12, m % 12 + 1
    days_in_month = (datetime(year + month // 12, month % 12 + 1, 1) - datetime(year, month, 1)).days
    e = s.replace(year=year, month=month, day=min(s.day, days_in_month))
    return int(s.timestamp()), int(e.timestamp())


def _sale_windows(start_ts: int, end_ts: int) -> list[tuple[int, int]]:
    """Named sales that fall in the period (mid-year "618", singles day, Black Friday); else one mid-period sale,
    so every simulated period has a visible spike."""
    out: list[tuple[int, int]] = []
    y0 = datetime.fromtimestamp(start_ts, timezone.utc).year
    y1 = datetime.fromtimestamp(end_ts, timezone.utc).year
    for y in range(y0, y1 + 1):
        nov1 = datetime(y, 11, 1, tzinfo=timezone.utc)
        black_friday = 1 + (4 - nov1.weekday()) % 7 + 21
        for (mo, d, days) in ((6, 16, 3), (11, 11, 1), (11, black_friday, 4)):
            a = int(datetime(y, mo, d, tzinfo=timezone.utc).timestamp())
            b = a + days * DAY
            if a < end_ts and b > start_ts:
                out.append((max(a, start_ts), min(b, end_ts)))
    if not out:
        mid = start_ts + (end_ts - start_ts) // 2
        out.append((mid, min(mid + 3 * DAY, end_ts)))
    return out


def _intensity(start_ts: int, n_hours: int, offset_h: int, sales: list[tuple[int, int]]) -> np.ndarray:
    """Relative traffic per hour of the period for customers at UTC+offset, mean 1 over the period."""
    t = start_ts + HOUR * np.arange(n_hours, dtype=np.int64)
    local = t + offset_h * HOUR
    hod = (local // HOUR) % 24
    dow = (local // DAY + 3) % 7                       # 1970-01-01 was a Thursday; Monday = 0
    month = local.astype("datetime64[s]").astype("datetime64[M]").astype(np.int64) % 12
    f = HOUR_OF_DAY[hod] * DAY_OF_WEEK[dow] * MONTH_SEASON[month]
    for a, b in sales:
        f[(t >= a) & (t < b)] *= SALE_TRAFFIC
    f[-2:] = 0.0                                       # sessions never start in the last two hours
    return f / f.mean()


def _iso(ts: np.ndarray) -> list[str]:
    return [s + "Z" for s in np.datetime_as_string(np.asarray(ts, dtype=np.int64).astype("datetime64[s]"), unit="s")]


# ----------------------------------------------------------------------------------------------- catalogue


class _Catalog:
    """Items held in category blocks (index order), so per-category draws are contiguous slices.

    The public ``item_id`` numbers are shuffled so the ids do not reveal the category.
    """

    def __init__(self, rng: np.random.Generator, py: random.Random, n_items: int) -> None:
        cats = T.CATEGORY_NAMES
        bundle_nouns = [p for pair in T.BUNDLE_NOUNS for p in pair]
        need = {c: sum(1 for bc, _ in bundle_nouns if bc == c) for c in cats}
        counts = self._counts(n_items, need)
        names: list[str] = []
        cat_of: list[int] = []
        levels: list[float] = []
        noun_index: dict[tuple[str, str], int] = {}
        bundle_set = set(bundle_nouns)
        for ci, cat in enumerate(cats):
            brands, adjs, nouns = T.PRODUCT_WORDS[cat]
            chosen: list[tuple[str, str, str]] = [(py.choice(brands), "", n) for (c, n) in bundle_nouns if c == cat]
            combos = [(b, a, n) for n in nouns for b in brands for a in ("",) + adjs]
            order = rng.permutation(len(combos))
            k = 0
            while len(chosen) < counts[cat]:
                b, a, n = combos[order[k % len(combos)]]
                suffix = "" if k < len(combos) else f" Edition {k // len(combos) + 1}"
                chosen.append((b, a, n + suffix) if suffix else (b, a, n))
                k += 1
            for b, a, n in chosen:
                if cat == "books":
                    name = f"{b} ({n})"
                else:
                    name = " ".join(x for x in (b, a, n) if x)
                if (cat, n) in bundle_set and (cat, n) not in noun_index:
                    noun_index[(cat, n)] = len(names)
                names.append(name)
                cat_of.append(ci)
                base = n.split(" Edition ")[0]
                levels.append(T.PRICE_LEVELS.get(base, float(rng.beta(2.0, 2.5))))
        n = len(names)
        self.n = n
        self.names = names
        self.cat = np.array(cat_of, dtype=np.int64)
        self.cat_names = [cats[i] for i in cat_of]
        lo = np.array([T.CATEGORIES[cats[i]][0] for i in cat_of])
        hi = np.array([T.CATEGORIES[cats[i]][1] for i in cat_of])
        level = np.clip(np.array(levels) + rng.normal(0, 0.07, n), 0, 1)
        raw = np.exp(np.log(lo) + level * (np.log(hi) - np.log(lo)))
        cents = np.where(raw < 10, np.where(rng.random(n) < 0.5, 0.49, 0.99), 0.99)
        self.price = np.round(np.minimum(np.maximum(np.floor(raw) + cents, 0.99), np.floor(hi) - 0.01), 2)
        self.repeatable = np.array([T.CATEGORIES[cats[i]][2] for i in cat_of])
        # Category blocks: [lo, hi) per category.
        self.block = np.zeros((len(cats), 2), dtype=np.int64)
        for ci in range(len(cats)):
            idx = np.flatnonzero(self.cat == ci)
            self.block[ci] = (idx[0], idx[-1] + 1)
        # Price position within the category (z-score of log price) drives price-sensitive choices.
        lp = np.log(self.price)
        z = np.empty(n)
        for ci in range(len(cats)):
            a, b = self.block[ci]
            sd = max(float(lp[a:b].std()), 0.1)
            z[a:b] = (lp[a:b] - lp[a:b].mean()) / sd
        self.price_z = z
        # Bundles: always in stock and active, reasonably popular.
        self.bundle_pairs = [(noun_index[a], noun_index[b]) for a, b in T.BUNDLE_NOUNS]
        bundle_items = np.array([i for pair in self.bundle_pairs for i in pair])
        self.stock = rng.integers(5, 400, n)
        self.stock[rng.random(n) < 0.05] = 0
        self.active = rng.random(n) >= 0.03
        self.stock[bundle_items] = np.maximum(self.stock[bundle_items], 20)
        self.active[bundle_items] = True
        self.purchasable = self.active & (self.stock > 0)
        # Popularity: Zipf over a random ranking, so a few items dominate.
        rank = rng.permutation(n)
        pop = (rank + 3.0) ** -1.1 * rng.lognormal(0, 0.3, n)
        pop[bundle_items] = np.maximum(pop[bundle_items], np.quantile(pop, 0.7))
        pop[~self.active] *= 0.1
        self.pop = pop
        self.partner: dict[int, int] = {}
        for a, b in self.bundle_pairs:
            self.partner[a] = b
            self.partner[b] = a
        self.ids = [f"p{k + 1:04d}" for k in rng.permutation(n)]
        self.descriptions = [self._describe(py, names[i], self.cat_names[i]) for i in range(n)]
        # Expensive things fraudsters (and splurging customers) buy.
        dear = np.flatnonzero(self.purchasable & np.isin(self.cat, [_C["electronics"], _C["home"], _C["fashion"]]))
        cut = np.quantile(self.price[dear], 0.6)
        self.dear = [int(i) for i in dear if self.price[i] >= cut]

    @staticmethod
    def _counts(n_items: int, need: dict[str, int]) -> dict[str, int]:
        cats = T.CATEGORY_NAMES
        share = np.array([T.CATEGORIES[c][3] for c in cats])
        want = share / share.sum() * n_items
        least = np.array([max(3, need[c] + 2) for c in cats])
        if least.sum() > n_items:
            raise ValueError(f"n_items must be at least {least.sum()}")
        floor = np.maximum(np.floor(want).astype(int), least)
        while floor.sum() < n_items:
            floor[int(np.argmax(want - floor))] += 1
        while floor.sum() > n_items:
            floor[int(np.argmax(np.where(floor > least, floor - want, -np.inf)))] -= 1
        return {c: int(k) for c, k in zip(cats, floor)}

    @staticmethod
    def _describe(py: random.Random, name: str, cat: str) -> str:
        templates, banks = T.DESCRIPTIONS[cat]
        fill = {k: py.choice(v) for k, v in banks.items()}
        return py.choice(templates).format(name=name, **fill)

    def rows(self) -> list[dict]:
        rows = [
            {
                "item_id": self.ids[i],
                "name": self.names[i],
                "category": self.cat_names[i],
                "price": float(self.price[i]),
                "stock": int(self.stock[i]),
                "active": bool(self.active[i]),
                "repeatable": bool(self.repeatable[i]),
                "description": self.descriptions[i],
            }
            for i in range(self.n)
        ]
        return sorted(rows, key=lambda r: r["item_id"])


# ----------------------------------------------------------------------------------------------- customers


class _Customers:
    """Who the customers are (profile fields) and the hidden traits that drive their behaviour."""

    def __init__(self, rng: np.random.Generator, py: random.Random, n: int, start_ts: int, end_ts: int) -> None:
        self.n = n
        self.ids = [f"c{i + 1:05d}" for i in range(n)]
        self.lang = np.where(rng.random(n) < ZH_SHARE, "zh", "en")
        self.tier = rng.choice(len(TIERS), n, p=TIER_P)
        self.age = rng.choice(len(AGE_BANDS), n, p=AGE_P)
        self.region = rng.choice(len(REGIONS), n, p=REGION_P)
        self.country: list[str] = []
        for lang in self.lang:
            opts = HOME_COUNTRIES[str(lang)]
            self.country.append(py.choices([c for c, _ in opts], weights=[p for _, p in opts])[0])
        # Signup: most before the period, some during it (so new customers appear over time).
        period = end_ts - start_ts
        new = rng.random(n) < 0.22
        before = start_ts - rng.uniform(1 * DAY, 900 * DAY, n)
        during = start_ts + rng.uniform(0, period * 0.9, n)
        self.signup = np.where(new, during, before).astype(np.int64)
        # Some customers stop coming back.
        churn = rng.random(n) < 0.12
        first = np.maximum(self.signup, start_ts)
        self.active_until = np.where(churn, first + rng.uniform(0, 1, n) * (end_ts - first), end_ts).astype(np.int64)
        self.rate = rng.lognormal(np.log(SESSIONS_PER_WEEK) - 0.32, 0.8, n) * np.array(TIER_ACTIVITY)[self.tier]
        self.sensitivity = rng.beta(2.0, 2.0, n) * np.array(TIER_SENSITIVITY)[self.tier]
        taste = (BASE_TASTE + AGE_TASTE[self.age] + REGION_TASTE[self.region]
                 + np.where(self.lang == "zh", 1.0, 0.0)[:, None] * ZH_TASTE
                 + rng.normal(0, 0.6, (n, len(T.CATEGORY_NAMES))))
        pref = np.exp(taste)
        self.pref = pref / pref.sum(axis=1, keepdims=True)
        self.names: list[str] = []
        self.emails: list[str] = []
        self.phones: list[str] = []
        seen_emails: set[str] = set()
        for i in range(n):
            name, email, phone = self._identity(py, str(self.lang[i]), self.country[i])
            while email in seen_emails:
                local, domain = email.split("@")
                email = f"{local}{py.randint(0, 9)}@{domain}"
            seen_emails.add(email)
            self.names.append(name)
            self.emails.append(email)
            self.phones.append(phone)

    @staticmethod
    def _identity(py: random.Random, lang: str, country: str) -> tuple[str, str, str]:
        domain = py.choice(T.EMAIL_DOMAINS)
        if lang == "zh":
            (sn, sp), (gn, gp) = py.choice(T.ZH_SURNAMES), py.choice(T.ZH_GIVEN_NAMES)
            name = sn + gn
            local = py.choice([f"{gp}.{sp}", f"{sp}{gp}", f"{sp}.{gp}{py.randint(1, 99)}", f"{gp}{sp}{py.randint(70, 99)}"])
        else:
            first, last = py.choice(T.EN_FIRST_NAMES), py.choice(T.EN_LAST_NAMES)
            name = f"{first} {last}"
            f, l = first.lower(), last.lower()
            local = py.choice([f"{f}.{l}", f"{f[0]}{l}", f"{f}_{l}{py.randint(1, 99)}", f"{f}{l[0]}{py.randint(10, 99)}"])
        if country == "CN":
            phone = f"+86 1{py.choice('3578')}{py.randint(0, 9)} {py.randint(0, 9999):04d} {py.randint(0, 9999):04d}"
        elif country == "GB":
            phone = f"+44 7700 900{py.randint(0, 999):03d}"
        else:
            phone = f"+1-555-{py.randint(200, 999)}-{py.randint(0, 9999):04d}"
        return name, f"{local}@{domain}", phone

    def rows(self) -> list[dict]:
        signup = _iso(self.signup)
        return [
            {
                "customer_id": self.ids[i],
                "name": self.names[i],
                "email": self.emails[i],
                "phone": self.phones[i],
                "tier": TIERS[self.tier[i]],
                "age_band": AGE_BANDS[self.age[i]],
                "region": REGIONS[self.region[i]],
                "language": str(self.lang[i]),
                "signup_at": signup[i],
            }
            for i in range(self.n)
        ]


@dataclass
class _State:
    """What one customer's behaviour depends on as the simulation walks through time."""

    devices: list[str]
    ips: list[str]
    country: str
    seen: set[str] = field(default_factory=set)                  # devices and IPs already logged in from
    staples: list[tuple[int, float]] = field(default_factory=list)  # (item, re-buy interval in seconds)
    last_bought: dict[int, int] = field(default_factory=dict)
    orders: list[dict] = field(default_factory=list)              # legit approved orders
    fraud_orders: list[tuple[str, int]] = field(default_factory=list)  # (order id, time) of takeover buys
    viewed: list[int] = field(default_factory=list)
    trip: tuple[int, int, str, str, str] | None = None             # (from, to, country, ip, device)
    new_device: tuple[int, str] | None = None                      # (from, device)
    splurge_at: int = -1                                           # index of the session with a big honest order


def _fits(template: str, category: str) -> bool:
    """Whether a (possibly tagged) chat template makes sense for an item of ``category``."""
    if template.startswith("@durable "):
        return category in T.DURABLE_CATEGORIES
    if template.startswith("@wear "):
        return category in T.WEAR_CATEGORIES
    return True


def _untag(template: str) -> str:
    return template.split(" ", 1)[1] if template.startswith("@") else template


# ---------------------------------------------------------------------------------------------- simulation


class _Simulation:
    """Walks the period: honest sessions first (they define each customer's normal), then fraud injected
    against that normal, then chats that quote what happened. Events collect unsorted; ``finish`` orders them."""

    def __init__(self, rng: np.random.Generator, py: random.Random, catalog: _Catalog, people: _Customers,
                 start_ts: int, end_ts: int) -> None:
        self.rng, self.py, self.cat, self.people = rng, py, catalog, people
        self.start_ts, self.end_ts = start_ts, end_ts
        self.sales = _sale_windows(start_ts, end_ts)
        self.events: list[dict[str, Any]] = []
        self.ts: list[int] = []
        self.fraud_cases: list[tuple[int, str, str, str]] = []        # (event index, pattern, case id, customer)
        self._order_numbers = [int(x) for x in rng.permutation(90_000) + 10_000]
        self._next_order = 0
        self.states = [self._initial_state(i) for i in range(people.n)]

    # ----------------------------------------------------------------------------------------- helpers

    def _emit(self, ts: int, event: dict[str, Any]) -> int:
        self.events.append(event)
        self.ts.append(int(ts))
        return len(self.events) - 1

    def _order_id(self) -> str:
        k = self._next_order
        self._next_order += 1
        number = self._order_numbers[k] if k < len(self._order_numbers) else 100_000 + k
        return f"O{number}"

    def _device(self) -> str:
        return f"dev-{self.py.getrandbits(40):010x}"

    def _ip(self, country: str) -> str:
        py = self.py
        return f"{py.choice(IP_PREFIX[country])}.{py.randint(0, 255)}.{py.randint(0, 255)}.{py.randint(1, 254)}"

    def _in_sale(self, t: int) -> bool:
        return any(a <= t < b for a, b in self.sales)

    def _initial_state(self, c: int) -> _State:
        py, p = self.py, self.people
        n_dev = py.choices([1, 2, 3], weights=[0.7, 0.25, 0.05])[0]
        country = p.country[c]
        st = _State(devices=[self._device() for _ in range(n_dev)],
                    ips=[self._ip(country) for _ in range(py.choices([1, 2], weights=[0.75, 0.25])[0])],
                    country=country)
        if p.signup[c] < self.start_ts:                # logged in from these before the period began
            st.seen.update(st.devices)
            st.seen.update(st.ips)
        # Staples: repeatable items re-bought on a personal rhythm, from categories the customer likes.
        rep = np.flatnonzero(self.cat.repeatable & self.cat.purchasable)
        w = p.pref[c][self.cat.cat[rep]] * self.cat.pop[rep] ** 0.5
        k = py.choices([0, 1, 2, 3, 4], weights=[0.15, 0.25, 0.3, 0.2, 0.1])[0]
        if k:
            picks = self.rng.choice(rep, size=min(k, len(rep)), replace=False, p=w / w.sum())
            st.staples = [(int(i), py.uniform(7, 35) * DAY) for i in picks]
        first, last = max(int(p.signup[c]), self.start_ts), int(p.active_until[c])
        span = last - first
        if span > 10 * DAY and py.random() < 0.045:    # honest travel: foreign IP, sometimes a new device
            a = first + int(py.uniform(0, span - 5 * DAY))
            dest = py.choice([x for x in TRAVEL_COUNTRIES if x != country])
            dev = self._device() if py.random() < 0.3 else st.devices[0]
            st.trip = (a, a + int(py.uniform(4, 14) * DAY), dest, self._ip(dest), dev)
        if span > 10 * DAY and py.random() < 0.08:     # a new phone that becomes the main device
            st.new_device = (first + int(py.uniform(0, span)), self._device())
        return st

    # ------------------------------------------------------------------------------- honest behaviour

    def _session_plan(self) -> tuple[np.ndarray, np.ndarray]:
        """Session (customer, start time) pairs, vectorised: Poisson counts over each customer's active window
        of the traffic curve, then inverse-CDF sampling of the start hours."""
        p, rng = self.people, self.rng
        n_hours = math.ceil((self.end_ts - self.start_ts) / HOUR)
        cust_parts, ts_parts = [], []
        a_all = (np.maximum(p.signup, self.start_ts) - self.start_ts) / HOUR
        b_all = (np.minimum(p.active_until, self.end_ts - 2 * HOUR) - self.start_ts) / HOUR
        offsets = np.array([UTC_OFFSET[c] for c in p.country])
        grid = np.arange(n_hours + 1, dtype=float)
        for off in sorted(set(offsets.tolist())):
            members = np.flatnonzero(offsets == off)
            cum = np.concatenate([[0.0], np.cumsum(_intensity(self.start_ts, n_hours, off, self.sales))])
            a = np.clip(a_all[members], 0, n_hours)
            b = np.clip(b_all[members], 0, n_hours)
            ca, cb = np.interp(a, grid, cum), np.interp(b, grid, cum)
            mass = np.maximum(cb - ca, 0.0)
            counts = rng.poisson(p.rate[members] * mass / 168.0)
            who = np.repeat(members, counts)
            u = np.repeat(ca, counts) + rng.random(counts.sum()) * np.repeat(mass, counts)
            hours = np.interp(u, cum, grid)
            cust_parts.append(who)
            ts_parts.append(self.start_ts + (hours * HOUR).astype(np.int64))
        # Forced sessions: right after an in-period signup, on arrival abroad, on the first day with a new phone.
        extra_c, extra_t = [], []
        limit = self.end_ts - 2 * HOUR
        for c in range(p.n):
            if p.signup[c] >= self.start_ts and p.signup[c] + 1800 < limit:
                extra_c.append(c)
                extra_t.append(int(p.signup[c]) + self.py.randint(60, 1800))
            st = self.states[c]
            if st.trip is not None:
                for _ in range(self.py.randint(1, 3)):
                    extra_c.append(c)
                    extra_t.append(min(limit - 1, st.trip[0] + int(self.py.uniform(0, st.trip[1] - st.trip[0]))))
            if st.new_device is not None:
                extra_c.append(c)
                extra_t.append(min(limit - 1, st.new_device[0] + self.py.randint(60, 6 * HOUR)))
        cust = np.concatenate(cust_parts + [np.array(extra_c, dtype=np.int64)])
        ts = np.concatenate(ts_parts + [np.array(extra_t, dtype=np.int64)])
        order = np.lexsort((ts, cust))
        return cust[order], ts[order]

    def _draw_views(self, cust: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Browsed items for every session at once: most views stay in the session's focus category (picked
        from the customer's taste), the rest roam the whole shop; within either, popularity and the customer's
        price sensitivity weight the choice. Uses one row-offset ``searchsorted`` over all customers."""
        p, cat, rng = self.people, self.cat, self.rng
        n_sess = len(cust)
        n_views = np.minimum(1 + rng.poisson(2.4, n_sess), 12)
        pref_cdf = np.cumsum(p.pref, axis=1)
        focus = (pref_cdf[cust] < rng.random(n_sess)[:, None]).sum(axis=1)
        focus = np.minimum(focus, len(T.CATEGORY_NAMES) - 1)
        slope = 1.6 * p.sensitivity - 0.4                    # >0 prefers cheap, <0 prefers dear
        w = cat.pop[None, :] * np.exp(-slope[:, None] * cat.price_z[None, :])
        cw = np.concatenate([np.zeros((p.n, 1)), np.cumsum(w, axis=1)], axis=1)
        cw /= cw[:, -1:]
        width = cat.n + 1
        flat = (cw + 2.0 * np.arange(p.n)[:, None]).ravel()
        vc = np.repeat(cust, n_views)
        vf = np.repeat(focus, n_views)
        in_focus = rng.random(len(vc)) < 0.7
        lo = np.where(in_focus, cat.block[vf, 0], 0)
        hi = np.where(in_focus, cat.block[vf, 1], cat.n)
        base, top = cw[vc, lo], cw[vc, hi]
        target = 2.0 * vc + base + rng.random(len(vc)) * (top - base)
        j = np.searchsorted(flat, target, side="right") - 1 - vc * width
        items = np.clip(j, lo, hi - 1)
        offsets = np.concatenate([[0], np.cumsum(n_views)])
        return items, offsets

    def browse_and_buy(self) -> None:
        cust, ts = self._session_plan()
        items, offsets = self._draw_views(cust)
        p, cat = self.people, self.cat
        slope = 1.6 * p.sensitivity - 0.4
        items_l = items.tolist()
        cust_l, ts_l = cust.tolist(), ts.tolist()
        # Sessions come grouped by customer, in time order: per-customer rows are converted once.
        bounds = np.flatnonzero(np.diff(cust, prepend=-1, append=-1)) if len(cust) else np.array([0])
        for k in range(len(bounds) - 1):
            s0, s1 = int(bounds[k]), int(bounds[k + 1])
            c = cust_l[s0]
            p_cart = np.clip(0.2 * np.exp(-0.7 * slope[c] * cat.price_z), 0.03, 0.55).tolist()
            st = self.states[c]
            if st.trip is None and self.py.random() < 0.02 and s1 - s0 > 1:
                st.splurge_at = self.py.randrange(s0, s1)
            for s in range(s0, s1):
                self._session(c, st, ts_l[s], items_l[offsets[s]:offsets[s + 1]], p_cart, s == st.splurge_at)

    def _context(self, c: int, st: _State, t: int) -> tuple[str, str, str]:
        """Device, IP and country of a session: home devices mostly, abroad during a trip, new phone later."""
        py = self.py
        if st.trip is not None and st.trip[0] <= t < st.trip[1]:
            return st.trip[4], st.trip[3], st.trip[2]
        devices = st.devices
        if st.new_device is not None and t >= st.new_device[0]:
            devices = [st.new_device[1]] + devices
        dev = devices[0] if len(devices) == 1 or py.random() < 0.75 else py.choice(devices[1:])
        ip = st.ips[0] if len(st.ips) == 1 or py.random() < 0.8 else st.ips[1]
        return dev, ip, st.country

    def _login(self, c: int, t: int, dev: str, ip: str, country: str, status: str = "success") -> None:
        self._emit(t, {"type": "login", "customer_id": self.people.ids[c], "device_id": dev, "ip": ip,
                       "country": country, "status": status})

    def _view(self, c: int, t: int, item: int, dev: str) -> None:
        self._emit(t, {"type": "view", "customer_id": self.people.ids[c], "item_id": self.cat.ids[item],
                       "device_id": dev})

    def _cart(self, c: int, t: int, item: int, qty: int, kind: str = "add_to_cart") -> None:
        self._emit(t, {"type": kind, "customer_id": self.people.ids[c], "item_id": self.cat.ids[item],
                       "quantity": qty})

    def _qty(self, item: int) -> int:
        if self.cat.repeatable[item]:
            return self.py.choices((1, 2, 3, 4), cum_weights=(0.55, 0.8, 0.92, 1.0))[0]
        return 1 if self.py.random() < 0.9 else 2

    def _gap(self) -> int:
        return int(min(240.0, 5.0 + self.py.expovariate(1 / 40)))

    def _session(self, c: int, st: _State, t: int, views: list[int], p_cart: list[float], splurge: bool) -> None:
        py, cat = self.py, self.cat
        dev, ip, country = self._context(c, st, t)
        if dev not in st.seen or ip not in st.seen or py.random() < 0.25:
            if py.random() < 0.04:
                self._login(c, t, dev, ip, country, "failure")
                t += py.randint(8, 40)
            self._login(c, t, dev, ip, country)
            st.seen.add(dev)
            st.seen.add(ip)
            t += py.randint(5, 30)
        cart: dict[int, int] = {}
        staple_in_cart = False

        def add(item: int) -> None:
            nonlocal t
            q = self._qty(item)
            self._cart(c, t, item, q)
            cart[item] = q
            t += py.randint(2, 15)

        for item, interval in st.staples:                     # replenishment first: the reason for the visit
            last = st.last_bought.get(item)
            due = last is None or t - last >= interval * py.uniform(0.8, 1.3)
            if due and cat.purchasable[item] and py.random() < 0.6:
                self._view(c, t, item, dev)
                t += py.randint(5, 30)
                add(item)
                staple_in_cart = True
        for item in views:
            self._view(c, t, item, dev)
            t += self._gap()
            if len(st.viewed) < 20:
                st.viewed.append(item)
            if item not in cart and cat.purchasable[item] and py.random() < p_cart[item]:
                add(item)
                mate = cat.partner.get(item)
                if mate is not None and mate not in cart and py.random() < 0.55:
                    self._view(c, t, mate, dev)
                    t += py.randint(5, 40)
                    add(mate)
        if splurge:                                             # an honest big order: blurs "unusual amount"
            for item in py.sample(cat.dear, k=min(len(cat.dear), py.randint(2, 3))):
                if item not in cart:
                    self._view(c, t, item, dev)
                    t += self._gap()
                    add(item)
        if not cart:
            return
        for item in list(cart):
            if py.random() < 0.07 and not (splurge and item in cat.dear):
                self._cart(c, t, item, cart.pop(item), "remove_from_cart")
                t += py.randint(2, 20)
        if not cart:
            return
        p_checkout = 0.45 + (0.3 if staple_in_cart else 0.0) + (SALE_CONVERSION if self._in_sale(t) else 0.0)
        if not splurge and py.random() >= p_checkout:
            return                                              # abandoned cart
        t += py.randint(20, 120)
        self._order(c, st, t, cart, dev, ip, country)

    def _order(self, c: int, st: _State, t: int, cart: dict[int, int], dev: str, ip: str, country: str) -> None:
        """Payment for the order total, then one purchase line per item (same order id and second); a few
        lines are refunded days later. Some honest payments are declined (then nothing is bought)."""
        py, cat = self.py, self.cat
        cid = self.people.ids[c]
        oid = self._order_id()
        lines = [(item, q, round(float(cat.price[item]) * q, 2)) for item, q in cart.items()]
        total = round(sum(a for _, _, a in lines), 2)
        declined = py.random() < 0.02
        self._emit(t, {"type": "payment", "customer_id": cid, "order_id": oid, "amount": total,
                       "currency": CURRENCY, "device_id": dev, "ip": ip, "country": country,
                       "status": "declined" if declined else "approved", "is_fraud": False})
        if declined:
            return
        t += 1
        refunded: list[int] = []
        for item, q, amount in lines:
            self._emit(t, {"type": "purchase", "customer_id": cid, "item_id": cat.ids[item], "order_id": oid,
                           "quantity": q, "amount": amount, "currency": CURRENCY})
            st.last_bought[item] = t
            if py.random() < REFUND_RATE[cat.cat_names[item]]:
                rt = t + int(py.uniform(2, 16) * DAY)
                if rt < self.end_ts:
                    rq = q if q == 1 or py.random() < 0.7 else py.randint(1, q - 1)
                    self._emit(rt, {"type": "refund", "customer_id": cid, "item_id": cat.ids[item],
                                    "order_id": oid, "quantity": rq,
                                    "amount": round(float(cat.price[item]) * rq, 2), "currency": CURRENCY})
                    refunded.append(item)
        st.orders.append({"order_id": oid, "ts": t, "items": [i for i, _, _ in lines], "total": total,
                          "refunded": refunded})

    # ------------------------------------------------------------------------------------------ fraud

    def _fraud_payment(self, c: int, t: int, case: str, pattern: str, amount: float, dev: str, ip: str,
                       country: str, status: str, lines: list[tuple[int, int]] | None = None) -> str:
        """A fraud-labelled payment (plus its purchase lines when approved and for goods)."""
        cid = self.people.ids[c]
        oid = self._order_id()
        k = self._emit(t, {"type": "payment", "customer_id": cid, "order_id": oid, "amount": round(amount, 2),
                           "currency": CURRENCY, "device_id": dev, "ip": ip, "country": country,
                           "status": status, "is_fraud": True})
        self.fraud_cases.append((k, pattern, case, cid))
        if lines and status == "approved":
            for item, q in lines:
                self._emit(t + 1, {"type": "purchase", "customer_id": cid, "item_id": self.cat.ids[item],
                                   "order_id": oid, "quantity": q,
                                   "amount": round(float(self.cat.price[item]) * q, 2), "currency": CURRENCY})
            self.states[c].fraud_orders.append((oid, t))
        return oid

    def _dear_basket(self, target: float) -> tuple[list[tuple[int, int]], float]:
        """Expensive items (quantities 1-3) until the basket reaches ``target``."""
        py, cat = self.py, self.cat
        lines: dict[int, int] = {}
        total = 0.0
        while total < target:
            item = py.choice(cat.dear)
            q = py.randint(1, 3)
            lines[item] = lines.get(item, 0) + q
            total += float(cat.price[item]) * q
        out = list(lines.items())
        return out, round(sum(round(float(cat.price[i]) * q, 2) for i, q in out), 2)

    def inject_fraud(self) -> None:
        """Three fraud patterns, each leaving a trail beyond the payment label (see module docstring)."""
        py, p = self.py, self.people
        n = p.n
        with_orders = [c for c in range(n) if self.states[c].orders]
        regulars = [c for c in with_orders if len(self.states[c].orders) >= 2]
        limit = self.end_ts - 3 * HOUR
        case_no = 0

        def new_case() -> str:
            nonlocal case_no
            case_no += 1
            return f"fraud-{case_no:04d}"

        # (1) Account takeover: failed logins, then a login from a new device in a foreign country, then within
        # the hour one or more high-amount payments from that device.
        for c in py.sample(with_orders, k=min(len(with_orders), max(2, round(n * 0.008)))):
            st = self.states[c]
            lo = st.orders[0]["ts"] + HOUR
            if lo >= limit:
                continue
            t = int(py.uniform(lo, limit))
            dev, country = self._device(), py.choice(FRAUD_COUNTRIES)
            ip = self._ip(country)
            case = new_case()
            for _ in range(py.choices([0, 1, 2, 3], weights=[0.3, 0.3, 0.25, 0.15])[0]):
                self._login(c, t, dev, ip, country, "failure")
                t += py.randint(10, 60)
            self._login(c, t, dev, ip, country)
            login_t = t
            t += py.randint(3, 25) * 60
            for k in range(py.choices([1, 2, 3], weights=[0.5, 0.35, 0.15])[0]):
                if t - login_t >= HOUR:
                    break
                lines, total = self._dear_basket(py.uniform(250, 1500))
                for item, _ in lines[:2]:
                    self._view(c, t - py.randint(30, 120), item, dev)
                status = "approved" if k == 0 or py.random() < 0.7 else "declined"
                self._fraud_payment(c, t, case, "account_takeover", total, dev, ip, country, status, lines)
                t += py.randint(2, 12) * 60

        # (2) Card testing: a burst of 5-20 tiny payments within minutes, mostly declined, one device and IP.
        candidates = [c for c in range(n) if max(int(p.signup[c]), self.start_ts) < limit - DAY]
        for c in py.sample(candidates, k=min(len(candidates), max(2, round(n * 0.003)))):
            st = self.states[c]
            t = int(py.uniform(max(int(p.signup[c]), self.start_ts) + HOUR, limit))
            dev = self._device()
            country = py.choice(FRAUD_COUNTRIES) if py.random() < 0.65 else st.country
            ip = self._ip(country)
            case = new_case()
            for _ in range(py.randint(0, 2)):
                self._login(c, t, dev, ip, country, "failure")
                t += py.randint(5, 30)
            self._login(c, t, dev, ip, country)
            t += py.randint(30, 300)
            burst = py.randint(5, 20)
            for k in range(burst):
                status = "declined" if (k == 0 or py.random() < 0.7) else "approved"
                self._fraud_payment(c, t, case, "card_testing", py.uniform(1.0, 5.0), dev, ip, country, status)
                t += py.randint(3, 25)

        # (3) Unusual amount: from the customer's usual device and home IP, a payment many times their usual
        # order size (stolen card details on a real account, or a friendly-fraud chargeback).
        for c in py.sample(regulars, k=min(len(regulars), max(2, round(n * 0.006)))):
            st = self.states[c]
            lo = st.orders[1]["ts"] + DAY
            if lo >= limit:
                continue
            t = int(py.uniform(lo, limit))
            usual = float(np.median([o["total"] for o in st.orders]))
            lines, total = self._dear_basket(max(8 * usual, 300.0) * py.uniform(1.0, 1.6))
            dev, ip, country = self._context(c, st, t)
            case = new_case()
            for item, _ in lines[:3]:
                self._view(c, t, item, dev)
                t += self._gap()
            status = "approved" if py.random() < 0.9 else "declined"
            self._fraud_payment(c, t + 60, case, "unusual_amount", total, dev, ip, country, status, lines)

    # ------------------------------------------------------------------------------------------- chat

    def write_chats(self) -> None:
        """Support conversations (1-4 messages, mostly from the customer) grounded in each customer's history:
        order ids and item names are their own; refund and takeover victims talk about those."""
        py, p, rng = self.py, self.people, self.rng
        n = p.n
        limit = self.end_ts - HOUR
        ok = np.array([max(int(p.signup[c]), self.start_ts) < limit - HOUR for c in range(n)])
        weight = np.array([
            (1.0 + (2.0 if st.orders else 0.0) + (3.0 if any(o["refunded"] for o in st.orders) else 0.0)
             + (6.0 if st.fraud_orders else 0.0)) for st in self.states
        ]) * ok
        n_conv = min(int(ok.sum()), max(8, round(n * 0.12)))
        chosen = [int(c) for c in rng.choice(n, size=n_conv, replace=False, p=weight / weight.sum())]
        zh = [c for c in range(n) if ok[c] and p.lang[c] == "zh"]
        if zh and not any(p.lang[c] == "zh" for c in chosen):
            chosen[-1] = zh[0]
        en = [c for c in range(n) if ok[c] and p.lang[c] == "en"]
        if en and not any(p.lang[c] == "en" for c in chosen):
            chosen[0] = en[0]
        for k, c in enumerate(chosen):
            self._conversation(c, f"conv-{k + 1:05d}", limit)

    def _conversation(self, c: int, conv: str, limit: int) -> None:
        py, p, cat = self.py, self.people, self.cat
        st = self.states[c]
        lang = str(p.lang[c])
        bank = T.CHAT_ZH if lang == "zh" else T.CHAT_EN
        orders = [o for o in st.orders if o["ts"] < limit - HOUR]
        order: dict | None = None
        if st.fraud_orders and py.random() < 0.7:
            topic = "account_security"
            order_id, t0 = py.choice(st.fraud_orders)
            item = py.choice(st.viewed) if st.viewed else py.choice(cat.dear)
        else:
            refunded = [o for o in orders if o["refunded"]]
            if refunded and py.random() < 0.7:
                order = py.choice(refunded)
                topic = py.choices(["refund", "return", "complaint"], weights=[0.5, 0.2, 0.3])[0]
                item = py.choice(order["refunded"])
            elif orders:
                order = py.choice(orders[-4:])
                topic = py.choices(
                    ["order_status", "delivery_delay", "complaint", "return", "product_question", "human",
                     "payment", "refund"], weights=[0.28, 0.2, 0.14, 0.1, 0.1, 0.06, 0.06, 0.06])[0]
                item = py.choice(order["items"])
            else:
                topic = "product_question" if py.random() < 0.7 else "human"
                item = py.choice(st.viewed) if st.viewed else int(np.argmax(cat.pop))
            order_id = order["order_id"] if order else None
            t0 = order["ts"] if order else None
        first = max(int(p.signup[c]), self.start_ts) + HOUR
        if t0 is None:
            t = int(py.uniform(first, limit))
        else:
            later = t0 + int(py.uniform(0.5, 8) * DAY)
            t = later if later < limit else int(py.uniform(t0 + 600, limit))
        t = max(t, first)
        fill = {
            "order_id": order_id or "", "item": cat.names[item], "days": py.randint(2, 12),
            "nth": py.choice(T.NTH_ZH if lang == "zh" else T.NTH_EN),
        }
        n_msg = py.choices([1, 2, 3, 4], weights=[0.3, 0.33, 0.22, 0.15])[0]
        cid = p.ids[c]
        used: set[str] = set()
        agent_spoke = False
        for m in range(n_msg):
            if m > 0 and not agent_spoke and py.random() < 0.35:
                agent = T.AGENT_ZH if lang == "zh" else T.AGENT_EN
                templ = [x for x in agent if order_id or "{order_id}" not in x]
                names = T.AGENT_NAMES_ZH if lang == "zh" else T.AGENT_NAMES_EN
                text = py.choice(templ).format(agent=py.choice(names), **fill)
                direction = "agent"
                agent_spoke = True
            else:
                if m == 0:
                    kind = topic
                else:
                    after = "followup" if agent_spoke else "nudge"
                    kind = py.choices([topic, after, "human", "complaint"], weights=[0.3, 0.45, 0.15, 0.1])[0]
                text = self._customer_text(bank, kind, lang, fill, c, order_id is not None,
                                           cat.cat_names[item], first=m == 0, used=used)
                direction = "customer"
            self._emit(t, {"type": "chat_message", "customer_id": cid, "text": text, "conversation_id": conv,
                           "direction": direction, "language": lang})
            t += py.randint(20, 400)

    def _customer_text(self, bank: dict[str, tuple[str, ...]], kind: str, lang: str, fill: dict[str, Any],
                       c: int, with_order: bool, category: str, first: bool, used: set[str]) -> str:
        """One customer message: a template of ``kind`` not yet used in this conversation, filled in; the
        first message may get a greeting, any may end with the customer's e-mail or phone number."""
        py, p = self.py, self.people
        templates = [x for x in bank[kind]
                     if (with_order or "{order_id}" not in x) and _fits(x, category) and x not in used]
        if not templates:
            templates = [x for x in bank["nudge"] + bank["followup"] if x not in used] or list(bank["nudge"])
        template = py.choice(templates)
        used.add(template)
        text = _untag(template).format(**fill)
        prefix = py.choice(T.PREFIX_ZH if lang == "zh" else T.PREFIX_EN) if first else ""
        if prefix and lang == "en" and len(text) > 1 and text[0].isupper() and text[1].islower():
            text = text[0].lower() + text[1:]
        text = prefix + text
        if py.random() < 0.12:                                  # contact details the service must mask
            tail = py.choice(T.CONTACT_ZH if lang == "zh" else T.CONTACT_EN)
            text += tail.format(email=p.emails[c], phone=p.phones[c])
        return text

    # ------------------------------------------------------------------------------------------ output

    def finish(self) -> DemoShop:
        ts = np.array(self.ts, dtype=np.int64)
        keep = (ts >= self.start_ts) & (ts < self.end_ts)      # guaranteed by construction; kept as a guard
        order = np.flatnonzero(keep)[np.argsort(ts[keep], kind="stable")]
        stamps = _iso(ts[order])
        width = max(6, len(str(len(order))))
        position = np.full(len(ts), -1, dtype=np.int64)
        position[order] = np.arange(len(order))
        events: list[dict] = []
        for k, (idx, stamp) in enumerate(zip(order.tolist(), stamps)):
            row = {"event_id": f"demo-{k + 1:0{width}d}", "timestamp": stamp}
            row.update(self.events[idx])
            events.append(row)
        cases = [
            {"event_id": events[position[k]]["event_id"], "pattern": pattern, "case_id": case, "customer_id": cid}
            for k, pattern, case, cid in self.fraud_cases if position[k] >= 0
        ]
        cases.sort(key=lambda r: r["event_id"])
        bundles = [(self.cat.ids[a], self.cat.ids[b]) for a, b in self.cat.bundle_pairs]
        return DemoShop(customers=self.people.rows(), items=self.cat.rows(), events=events,
                        fraud_cases=cases, bundles=bundles)
