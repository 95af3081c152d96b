"""What customers paid and how many units they took, as ranker features; and models trained before those
features existed keep serving on the columns they know."""
from __future__ import annotations

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest

from models.recommend.candidates import CandidateGenerator, batch_from_state
from models.recommend.config import RecommendConfig
from models.recommend.features import build_features, feature_names
from models.recommend.ranker import train_lambdarank
from models.recommend.recommender import Recommender
from models.recommend.state import CandidateState, fit_state

AS_OF = pd.Timestamp("2024-02-01")
#: The features added with the units and price paid; a model trained before them knows none of these.
SESSION_15_FEATURES = ("customer_item_quantity", "customer_item_units_per_basket", "customer_item_paid_vs_price",
                       "item_units_per_line", "item_promotion_share", "item_recent_price_ratio")


def _line(customer: str, item: str, day: str, order: str, quantity: float, amount: float | None) -> dict:
    return {"type": "purchase", "customer_id": customer, "item_id": item, "ts": pd.Timestamp(day),
            "order_id": order, "quantity": quantity, "amount": amount}


@pytest.fixture(scope="module")
def shop():
    events = pd.DataFrame([
        # A takes 2 of M at a time, once at the full 10.0 and once on promotion (2 for 14.0)
        _line("A", "M", "2024-01-05", "a1", 2, 20.0), _line("A", "M", "2024-01-25", "a2", 2, 14.0),
        # A's one line of B states no amount: its units count, its price paid is unknown
        _line("A", "B", "2024-01-25", "a2", 3, None),
        # C buys one M at the full price, a week before as_of
        _line("C", "M", "2024-01-26", "c1", 1, 10.0), _line("C", "B", "2024-01-26", "c1", 1, 4.0),
        # M on promotion in the last two weeks: 7.0 a unit
        _line("D", "M", "2024-01-30", "d1", 1, 7.0),
    ])
    items = pd.DataFrame({"item_id": ["M", "B"], "category": ["dairy", "bakery"], "price": [10.0, 4.0],
                          "active": True, "repeatable": True})
    customers = pd.DataFrame({"customer_id": ["A", "C", "D"], "age_band": "25-34", "region": "north"})
    return fit_state(events, items, customers, AS_OF, RecommendConfig())


def _pair_rows(state: CandidateState, customer: str) -> tuple[np.ndarray, dict[str, int]]:
    batch = batch_from_state(state, state.customer_index.get_indexer([customer]))
    cands = CandidateGenerator(state).generate(batch)
    x = build_features(state, batch, cands)
    return x, {str(state.item_ids[i]): k for k, i in enumerate(cands.item)}


def test_units_and_the_price_paid_are_pair_features(shop):
    names = feature_names(shop.config)
    x, at = _pair_rows(shop, "A")
    m, b = x[at["M"]], x[at["B"]]
    assert m[names.index("customer_item_quantity")] == 4
    assert m[names.index("customer_item_units_per_basket")] == 2
    # 34.0 paid for 4 units: 8.5 a unit against a price of 10.0
    assert m[names.index("customer_item_paid_vs_price")] == pytest.approx(0.85)
    assert b[names.index("customer_item_quantity")] == 3
    assert np.isnan(b[names.index("customer_item_paid_vs_price")])
    # an item the customer never bought (D and B) has no units and no price paid
    x, at = _pair_rows(shop, "D")
    assert x[at["B"], names.index("customer_item_quantity")] == 0
    assert np.isnan(x[at["B"], names.index("customer_item_units_per_basket")])
    assert np.isnan(x[at["B"], names.index("customer_item_paid_vs_price")])


def test_items_carry_units_per_line_promotions_and_the_recent_price(shop):
    m = shop.item_index.get_loc("M")
    # lines of M: 2, 2, 1, 1 units; unit prices 10, 7, 10, 7 against 10: two of four under 90 %
    assert shop.item["units_per_line"][m] == pytest.approx(1.5)
    assert shop.item["promotion_share"][m] == pytest.approx(0.5)
    # the last 14 days: 7.0 (A), 10.0 (C), 7.0 (D) a unit
    assert shop.item["recent_price_ratio"][m] == pytest.approx(0.8)
    b = shop.item_index.get_loc("B")
    assert shop.item["units_per_line"][b] == pytest.approx(2.0)
    assert shop.item["promotion_share"][b] == 0.0   # the line without an amount is not counted


def _booster(state: CandidateState, names: list[str]):
    """A small LambdaRank booster on ``names`` only (a model trained by an older kefu)."""
    rows = np.arange(len(state.customer_ids))
    batch = batch_from_state(state, rows)
    cands = CandidateGenerator(state).generate(batch)
    full = feature_names(state.config)
    x = build_features(state, batch, cands)[:, [full.index(n) for n in names]]
    y = (np.arange(len(cands)) % 3 == 0).astype(float)
    groups = np.bincount(cands.row, minlength=len(rows))
    groups = groups[groups > 0]
    booster, _ = train_lambdarank(x, y, groups, x, y, groups, names,
                                  {"num_threads": 1, "min_data_in_leaf": 1, "min_data_in_bin": 1}, num_boost_round=5)
    return booster, batch, cands, x


def test_a_model_without_the_new_columns_serves_on_those_it_knows(shop, tmp_path):
    old = [n for n in feature_names(shop.config) if n not in SESSION_15_FEATURES]
    assert len(old) == len(feature_names(shop.config)) - len(SESSION_15_FEATURES)
    booster, batch, cands, x = _booster(shop, old)
    rec = Recommender(shop, booster)
    assert rec.feature_names == old
    np.testing.assert_allclose(rec.score(batch, cands), booster.predict(x, num_threads=1))
    rec.save(tmp_path / "model")
    again = Recommender.load(tmp_path / "model")
    np.testing.assert_allclose(again.score(batch, cands), booster.predict(x, num_threads=1))


def test_a_model_needing_a_feature_this_kefu_lacks_is_refused(shop):
    booster, *_ = _booster(shop, ["customer_item_baskets", "item_price"])
    renamed = booster.model_to_string().replace("customer_item_baskets", "customer_item_mood")
    with pytest.raises(ValueError, match="customer_item_mood"):
        Recommender(shop, lgb.Booster(model_str=renamed))


def test_a_state_saved_before_the_paid_layers_loads_and_leaves_them_unknown(shop, tmp_path):
    shop.save(tmp_path)
    with np.load(tmp_path / "state.npz") as z:
        arrays = {k: z[k] for k in z.files if k not in ("history__paid", "history__paid_units")
                  and k not in ("item__units_per_line", "item__promotion_share", "item__recent_price_ratio")}
    np.savez(tmp_path / "state.npz", **arrays)
    older = CandidateState.load(tmp_path)
    names = feature_names(older.config)
    x, at = _pair_rows(older, "A")
    assert x[at["M"], names.index("customer_item_quantity")] == 4
    for name in ("customer_item_paid_vs_price", "item_units_per_line", "item_promotion_share"):
        assert np.isnan(x[at["M"], names.index(name)])
