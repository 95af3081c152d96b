"""The two repeat-purchase baselines on a hand-made history: most baskets first, then their tie-breaks."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from models.recommend.baselines import RepeatBaseline, RepeatPopularBaseline
from models.recommend.config import RecommendConfig
from models.recommend.state import fit_state

AS_OF = pd.Timestamp("2024-02-01")


def _ev(customer: str, item: str, day: str, order: str) -> dict:
    return {"type": "purchase", "customer_id": customer, "item_id": item, "ts": pd.Timestamp(day),
            "order_id": order, "quantity": 1.0, "amount": 5.0}


@pytest.fixture(scope="module")
def state():
    events = pd.DataFrame([
        # A: X in two baskets; OLD once long ago (popular with others); NEW once, last (nobody else buys it)
        _ev("A", "X", "2024-01-05", "a1"), _ev("A", "OLD", "2024-01-05", "a1"),
        _ev("A", "X", "2024-01-15", "a2"), _ev("A", "NEW", "2024-01-30", "a3"),
        # others make OLD and P popular; P was never bought by A
        *[_ev(c, "OLD", "2024-01-20", f"{c}1") for c in "BCDE"],
        *[_ev(c, "P", "2024-01-21", f"{c}2") for c in "BCDEF"],
    ])
    items = pd.DataFrame({"item_id": ["X", "OLD", "NEW", "P"], "category": ["c"] * 4, "price": [1.0] * 4,
                          "active": [True] * 4, "repeatable": [True] * 4})
    return fit_state(events, items, None, AS_OF, RecommendConfig())


def _top(state, baseline_cls, k: int = 4) -> list[str]:
    rows = state.customer_index.get_indexer(["A"])
    codes = baseline_cls(state).recommend(rows, k)[0]
    return [str(state.item_ids[c]) for c in codes if c >= 0]


def test_repeat_breaks_ties_by_recency(state):
    assert _top(state, RepeatBaseline) == ["X", "NEW", "OLD", "P"]


def test_repeat_popular_breaks_ties_by_popularity(state):
    assert _top(state, RepeatPopularBaseline) == ["X", "OLD", "NEW", "P"]


def test_popularity_never_outranks_a_basket(state):
    tie = RepeatPopularBaseline(state).tie_break
    assert np.all(tie >= 0) and np.all(tie < 0.5)
