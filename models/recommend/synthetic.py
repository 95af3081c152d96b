"""A small synthetic shop with a planted taste signal, for tests and examples.

Every customer has a favourite category and buys mostly from it, plus a few globally popular items;
a model that reads the customer's history must beat popularity on it, one that does not cannot.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from models.recommend.datasets import Dataset, _events


def make_shop(n_customers: int = 200, n_categories: int = 6, items_per_category: int = 10, days: int = 60,
              basket_rate: float = 0.3, seed: int = 0) -> Dataset:
    """Purchase events over ``days`` days from 2024-01-01; items ``i0..``, customers ``c0..``."""
    rng = np.random.default_rng(seed)
    n_items = n_categories * items_per_category
    category = np.repeat(np.arange(n_categories), items_per_category)
    favourite = rng.integers(0, n_categories, n_customers)
    appeal = rng.gamma(1.0, 1.0, n_items)
    popular = np.arange(5) * items_per_category  # the first item of five categories is everyone's staple
    rows = []
    start = pd.Timestamp("2024-01-01")
    for c in range(n_customers):
        own = np.flatnonzero(category == favourite[c])
        p_own = appeal[own] / appeal[own].sum()
        for day in np.flatnonzero(rng.random(days) < basket_rate):
            basket = set(rng.choice(own, 2, replace=False, p=p_own).tolist())
            basket.add(int(rng.choice(popular)))
            for i in basket:
                rows.append((f"c{c}", f"i{i}", start + pd.Timedelta(days=int(day), hours=int(rng.integers(8, 20)))))
    frame = pd.DataFrame(rows, columns=["customer_id", "item_id", "ts"])
    n = len(frame)
    events = _events({
        "event_id": pd.Series([f"e{k}" for k in range(n)]), "type": pd.Series(["purchase"] * n),
        "customer_id": frame["customer_id"], "ts": frame["ts"], "item_id": frame["item_id"],
        "order_id": frame["customer_id"] + "-" + frame["ts"].dt.strftime("%Y%m%d"),
        "quantity": pd.Series(np.ones(n)), "amount": pd.Series(np.full(n, 10.0)),
    }, n)
    items = pd.DataFrame({"item_id": [f"i{i}" for i in range(n_items)], "name": [f"item {i}" for i in range(n_items)],
                          "category": [f"cat{k}" for k in category], "price": 10.0 + category, "stock": 100,
                          "active": True, "repeatable": True, "description": None})
    customers = pd.DataFrame({"customer_id": [f"c{c}" for c in range(n_customers)],
                              "age_band": rng.choice(["18-24", "25-34", "35-44"], n_customers),
                              "region": rng.choice(["north", "south"], n_customers)})
    return Dataset("synthetic", events, items, customers)
