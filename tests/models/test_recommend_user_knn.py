"""The customer-neighbour source: whom a customer is close to, and what that proposes."""
from __future__ import annotations

import numpy as np
import pandas as pd

from models.recommend.candidates import CandidateGenerator, batch_from_state
from models.recommend.config import SOURCES, RecommendConfig
from models.recommend.history import History, build_history, prepare_interactions, to_days
from models.recommend.state import fit_state
from models.recommend.user_knn import CustomerNeighbours

AS_OF = pd.Timestamp("2024-02-01")
ITEMS = ["milk", "bread", "eggs", "jam", "nails", "hammer", "glue"]


def _history(baskets: dict[str, list[str]]) -> tuple[History, pd.Index]:
    """One row per customer, in the given order; a customer with no items is an empty row."""
    rows = [{"type": "purchase", "customer_id": c, "item_id": i, "ts": pd.Timestamp("2024-01-20")}
            for c, items in baskets.items() for i in items]
    customers = pd.Index(list(baskets))
    x = prepare_interactions(pd.DataFrame(rows), customers, pd.Index(ITEMS), AS_OF, {"purchase": 1.0})
    return build_history(x, len(customers), len(ITEMS), float(to_days(AS_OF)), 30.0), customers


def _items(scores, row: int) -> set[str]:
    return {ITEMS[i] for i in scores.items[scores.rows == row]}


def test_neighbours_share_items_and_never_include_the_customer_itself():
    h, customers = _history({"ann": ["milk", "bread", "eggs"], "bob": ["milk", "bread", "eggs", "jam"],
                             "cat": ["nails", "hammer"], "dan": ["nails", "glue"], "zed": []})
    knn = CustomerNeighbours(h, k=1)
    rows = np.arange(len(customers))
    scores = knn.scores(h, rows)
    # Ann's single nearest neighbour is Bob (not Ann herself, who would be identical): Bob's jam is proposed
    assert _items(scores, 0) == {"milk", "bread", "eggs", "jam"}
    # Cat is closest to Dan: the DIY items, never the groceries
    assert _items(scores, 2) == {"nails", "glue"}
    # a customer without history has no neighbours
    assert _items(scores, 4) == set()


def test_a_new_customer_is_matched_by_their_own_fresh_history():
    h, _ = _history({"ann": ["milk", "bread", "eggs"], "bob": ["milk", "bread", "eggs", "jam"],
                     "cat": ["nails", "hammer"], "dan": ["nails", "glue"]})
    knn = CustomerNeighbours(h, k=2)
    fresh, _ = _history({"eve": ["nails"]})
    scores = knn.scores(fresh, np.array([-1]))
    assert _items(scores, 0) == {"nails", "hammer", "glue"}


def test_a_batch_equals_its_customers_one_by_one():
    from models.recommend.synthetic import make_shop

    shop = make_shop(n_customers=150, days=40, seed=3)
    state = fit_state(shop.events, shop.items, shop.customers, "2024-02-10", RecommendConfig())
    knn = CustomerNeighbours(state.history, k=20)
    rows = np.arange(0, 150, 7)
    together = knn.scores(state.history.take(rows), rows, chunk=4)
    for j, r in enumerate(rows):
        alone = knn.scores(state.history.take(np.array([r])), np.array([r]))
        mine = together.rows == j
        np.testing.assert_array_equal(together.items[mine], alone.items)
        np.testing.assert_allclose(together.vals[mine], alone.vals, rtol=1e-6)


def test_the_source_feeds_candidates_and_can_be_switched_off():
    from models.recommend.synthetic import make_shop

    shop = make_shop(n_customers=120, days=30, seed=5)
    on = fit_state(shop.events, shop.items, shop.customers, "2024-02-01", RecommendConfig())
    off = fit_state(shop.events, shop.items, shop.customers, "2024-02-01", RecommendConfig(user_knn_neighbours=0))
    rows = np.arange(len(on.customer_ids))
    col = SOURCES.index("user_knn")
    assert (CandidateGenerator(on).generate(batch_from_state(on, rows)).scores[:, col] > 0).mean() > 0.2
    assert (CandidateGenerator(off).generate(batch_from_state(off, rows)).scores[:, col] == 0).all()

