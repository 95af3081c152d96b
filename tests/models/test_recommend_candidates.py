"""Each candidate source on a tiny hand-made shop, and the features built on its candidates."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from models.recommend import coo
from models.recommend.candidates import CandidateGenerator, SegmentLists, batch_from_state
from models.recommend.config import SOURCES, RecommendConfig
from models.recommend.features import build_features, feature_names
from models.recommend.state import CandidateState, fit_state

AS_OF = pd.Timestamp("2024-02-01")


def _ev(customer: str, item: str, day: str, order: str | None = None, type_: str = "purchase") -> dict:
    return {"type": type_, "customer_id": customer, "item_id": item, "ts": pd.Timestamp(day),
            "order_id": order, "quantity": 1.0, "amount": 5.0}


@pytest.fixture(scope="module")
def shop():
    events = pd.DataFrame([
        # A buys X and Y together, twice: X and Y are partners, and A re-buys both
        _ev("A", "X", "2024-01-10", "o1"), _ev("A", "Y", "2024-01-10", "o1"),
        _ev("A", "X", "2024-01-20", "o2"), _ev("A", "Y", "2024-01-20", "o2"),
        # B bought X once, and a non-repeatable item R
        _ev("B", "X", "2024-01-25", "o3"), _ev("B", "R", "2024-01-25", "o3"),
        # P is popular now (last 30 days); Q was popular in November only
        _ev("C", "P", "2024-01-28"), _ev("D", "P", "2024-01-29"),
        _ev("E", "Q", "2023-11-01"), _ev("F", "Q", "2023-11-02"), _ev("G", "Q", "2023-11-03"),
        # after as_of: must be ignored
        _ev("B", "Z", "2024-02-05"),
        # an inactive item bought by many
        _ev("C", "OFF", "2024-01-30"), _ev("D", "OFF", "2024-01-30"), _ev("E", "OFF", "2024-01-30"),
    ])
    items = pd.DataFrame({
        "item_id": ["X", "Y", "R", "P", "Q", "Z", "N", "OFF"],
        "category": ["dairy", "bakery", "books", "snacks", "snacks", "snacks", "dairy", "snacks"],
        "price": [2.0, 3.0, 20.0, 1.0, 1.0, 1.0, 2.5, 1.0],
        "active": [True, True, True, True, True, True, True, False],
        "repeatable": [True, True, False, True, True, True, True, True],
    })
    # N is brand new (no events) and, by its text, close to X
    emb = np.zeros((len(items), 4), dtype=np.float32)
    emb[:, 0] = 1.0
    emb[0] = [0, 1, 0, 0]
    emb[6] = [0, 0.99, 0.14, 0]
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    customers = pd.DataFrame({"customer_id": list("ABCDEFG"), "age_band": ["25-34"] * 7,
                              "region": ["north", "north", "north", "north", "south", "south", "south"]})
    state = fit_state(events, items, customers, AS_OF, RecommendConfig(), embeddings=emb)
    return state


def _candidates(state: CandidateState, customer: str):
    gen = CandidateGenerator(state)
    batch = batch_from_state(state, state.customer_index.get_indexer([customer]))
    cands = gen.generate(batch)
    ids = state.item_ids[cands.item]
    return gen, batch, cands, {str(i): k for k, i in enumerate(ids)}


def _score(state, cands, pos, item, source):
    return float(cands.scores[pos[item], SOURCES.index(source)])


def test_bought_together_finds_the_partner(shop):
    gen, batch, cands, pos = _candidates(shop, "B")
    assert _score(shop, cands, pos, "Y", "bought_together") > 0
    assert gen.reason(batch, cands, pos["Y"]) == ("bought_together", "X")


def test_repeat_finds_rebought_items_and_skips_non_repeatable(shop):
    _, _, cands, pos = _candidates(shop, "A")
    assert _score(shop, cands, pos, "X", "repeat") > 0 and _score(shop, cands, pos, "Y", "repeat") > 0
    _, _, cands_b, pos_b = _candidates(shop, "B")
    assert "R" not in pos_b  # bought once, not repeatable: never proposed again


def test_popular_respects_the_window(shop):
    top_items, _ = shop.popular
    ranked = [str(shop.item_ids[i]) for i in top_items]
    assert ranked.index("P") < ranked.index("Q")  # 2 buyers this month beat 3 buyers in November
    assert shop.item["pop_30d"][shop.item_index.get_loc("Q")] == 0
    assert shop.item["pop_total"][shop.item_index.get_loc("Z")] == 0  # after as_of: unseen
    _, batch, cands, pos = _candidates(shop, "B")
    # X (3 purchases this month) leads; P has 2 of them; Q only its all-time tie-breaker
    assert _score(shop, cands, pos, "P", "popular") == pytest.approx(2 / 3, rel=1e-2)
    assert _score(shop, cands, pos, "Q", "popular") < 0.01


def test_popular_by_region(shop):
    gen, batch, cands, pos = _candidates(shop, "A")
    assert _score(shop, cands, pos, "P", "popular_region") > 0  # C and D (north) bought P
    assert _score(shop, cands, pos, "Q", "popular_region") < _score(shop, cands, pos, "P", "popular_region")


def test_text_similarity_surfaces_a_new_item(shop):
    gen, batch, cands, pos = _candidates(shop, "B")
    assert shop.item["pop_total"][shop.item_index.get_loc("N")] == 0
    assert _score(shop, cands, pos, "N", "similar_text") > 0.9
    assert gen.reason(batch, cands, pos["N"]) == ("similar_text", "X")


def test_category_affinity(shop):
    _, _, cands, pos = _candidates(shop, "C")  # C bought snacks: Q (a snack) comes from the category
    assert _score(shop, cands, pos, "Q", "category") > 0


def test_inactive_items_are_never_candidates(shop):
    for customer in "ABCDEFG":
        assert "OFF" not in _candidates(shop, customer)[3]


def test_unknown_customer_gets_popular_items(shop):
    gen = CandidateGenerator(shop)
    cands = gen.generate(batch_from_state(shop, np.array([-1])))
    assert "P" in {str(i) for i in shop.item_ids[cands.item]}


def test_features_have_recorded_names_and_shape(shop):
    gen = CandidateGenerator(shop)
    batch = batch_from_state(shop, np.arange(len(shop.customer_ids)))
    cands = gen.generate(batch)
    x = build_features(shop, batch, cands)
    names = feature_names(shop.config)
    assert x.shape == (len(cands), len(names))
    assert len(set(names)) == len(names)
    assert x.dtype == np.float32 and not np.isinf(x).any()
    # customer A's own re-buy count of X is a feature
    a, xi = shop.customer_index.get_loc("A"), shop.item_index.get_loc("X")
    k = np.flatnonzero((batch.rows[cands.row] == a) & (cands.item == xi))[0]
    assert x[k, names.index("customer_item_baskets")] == 2
    assert x[k, names.index("days_since_item_purchase")] == pytest.approx(12.0)


def test_state_round_trips_through_npz(shop, tmp_path):
    shop.save(tmp_path)
    again = CandidateState.load(tmp_path)
    gen_a, gen_b = CandidateGenerator(shop), CandidateGenerator(again)
    rows = np.arange(len(shop.customer_ids))
    a = gen_a.generate(batch_from_state(shop, rows))
    b = gen_b.generate(batch_from_state(again, rows))
    np.testing.assert_array_equal(a.item, b.item)
    np.testing.assert_allclose(a.scores, b.scores)
    assert not any(p.suffix == ".pkl" for p in tmp_path.iterdir())


def test_collaborative_source_follows_similar_customers():
    from models.recommend.synthetic import make_shop

    shop = make_shop(n_customers=120, days=30, seed=5)
    state = fit_state(shop.events, shop.items, shop.customers, "2024-02-01", RecommendConfig(svd_factors=6))
    gen = CandidateGenerator(state)
    cands = gen.generate(batch_from_state(state, np.arange(len(state.customer_ids))))
    col = cands.scores[:, SOURCES.index("collaborative")]
    own_cat = state.item["category"][cands.item]
    # each customer's favourite category = the category of most of their purchases
    fav = np.array([np.bincount(state.item["category"][state.history.items[s:e]]).argmax()
                    for s, e in zip(state.history.indptr[:-1], state.history.indptr[1:])])
    same = own_cat == fav[cands.row]
    assert col[same].mean() > 5 * max(col[~same].mean(), 1e-9)
    names = feature_names(state.config)
    x = build_features(state, batch_from_state(state, np.arange(3)), gen.generate(batch_from_state(state, np.arange(3))))
    assert np.abs(x[:, names.index("svd_score")]).sum() > 0


def test_segment_lists_give_the_table_rows_summed_and_sorted():
    """Per-segment popular lists, pre-sorted at load: the same keys and values as summing the first ``width``
    columns of each picked segment row (padding, non-positive scores and repeated items included)."""
    rng = np.random.default_rng(4)
    n_items, width = 50, 6
    items = rng.integers(-1, n_items, size=(5, 9)).astype(np.int32)
    scores = rng.choice([0.0, 0.25, 0.5, 1.0, -1.0], size=(5, 9)).astype(np.float32)
    lists = SegmentLists.build((items, scores), width, n_items)
    codes = np.array([3, -1, 0, 4, 3, 9])                          # none for -1; 9 reads the last segment
    got = lists.rows(codes, n_items)
    rows, its, vals = [], [], []
    for r, c in enumerate(codes):
        if c < 0:
            continue
        seg = min(c, 4)
        ok = (items[seg, :width] >= 0) & (scores[seg, :width] > 0)
        rows += [r] * int(ok.sum())
        its += items[seg, :width][ok].tolist()
        vals += scores[seg, :width][ok].tolist()
    want = coo.from_triples(np.array(rows, np.int64), np.array(its, np.int64), np.array(vals), n_items)
    np.testing.assert_array_equal(got.keys, want.keys)
    np.testing.assert_array_equal(got.vals, want.vals)
    assert len(SegmentLists.build((items, scores), 0, n_items).rows(codes, n_items)) == 0


def test_one_customer_collaborative_equals_the_batch_product():
    """The serving path's norm-bounded search proposes what scoring every item proposes."""
    from models.recommend.synthetic import make_shop

    shop = make_shop(n_customers=120, days=30, seed=6)
    state = fit_state(shop.events, shop.items, shop.customers, "2024-02-01", RecommendConfig(svd_factors=6))
    gen = CandidateGenerator(state)
    rows = np.arange(len(state.customer_ids))
    factors = gen.factors(batch_from_state(state, rows).history)
    every = gen._collaborative(factors, 5)
    assert np.bincount(every.rows).max() == 5
    for row in rows:
        alone = gen._collaborative(factors[row:row + 1], 5)
        np.testing.assert_array_equal(alone.items, every.items[every.rows == row])
        np.testing.assert_allclose(alone.vals, every.vals[every.rows == row], rtol=1e-5)


def test_context_items_join_the_anchors_at_full_weight(shop):
    """An item on the customer's screen is an anchor of weight 1 (once, even if also in their history or given
    twice), so its bought-together partner is proposed, explained by it, and scored as going with it."""
    gen = CandidateGenerator(shop)
    code = {str(i): n for n, i in enumerate(shop.item_ids)}
    batch = batch_from_state(shop, shop.customer_index.get_indexer(["C"]))       # C bought P and OFF only
    plain = gen.anchors(batch.history)
    assert code["X"] not in plain.items.tolist()
    assert gen.context_affinity(batch, gen.generate(batch)) is None
    batch.context_rows, batch.context_items = np.zeros(3, np.int64), np.array([code["X"], code["X"], code["P"]])
    anchors = gen.anchors(batch.history, (batch.context_rows, batch.context_items))
    weights = dict(zip(anchors.items.tolist(), anchors.vals.tolist()))
    assert weights[code["X"]] == 1.0 and weights[code["P"]] == 1.0
    assert len(anchors) == len(plain) + 1 and np.all(np.diff(anchors.keys) > 0)
    cands = gen.generate(batch)
    pos = {str(shop.item_ids[i]): k for k, i in enumerate(cands.item)}
    assert _score(shop, cands, pos, "Y", "bought_together") > 0
    assert gen.reasons(batch, cands, np.array([pos["Y"]]))[0] == ("bought_together", "X")
    affinity = gen.context_affinity(batch, cands)
    assert affinity[pos["Y"]] == affinity.max() > 0 and 0 <= affinity.min() and affinity.max() <= 2


def test_included_items_are_candidates_and_survive_the_cut(shop):
    """An item the caller includes (a promotion) is ranked even if no source proposes it, is kept when the
    candidates are cut to max_candidates, and is still excluded when the rules exclude it."""
    import dataclasses

    def generator(**config):
        return CandidateGenerator(dataclasses.replace(shop, config=dataclasses.replace(shop.config, **config)))

    code = {str(i): n for n, i in enumerate(shop.item_ids)}
    batch = batch_from_state(shop, shop.customer_index.get_indexer(["B"]))       # bought X and R (not repeatable)
    only_repeats = generator(quotas={"repeat": 200})
    assert [str(shop.item_ids[i]) for i in only_repeats.generate(batch).item] == ["X"]
    batch.include_rows = np.zeros(3, np.int64)
    batch.include_items = np.array([code["Q"], code["R"], code["OFF"]], np.int64)
    cands = only_repeats.generate(batch)
    assert sorted(str(shop.item_ids[i]) for i in cands.item) == ["Q", "X"]      # R bought, OFF inactive: still out
    cut = generator(quotas={"repeat": 200}, max_candidates=1).generate(batch)
    assert [str(shop.item_ids[i]) for i in cut.item] == ["Q"]


def test_every_session_item_counts_alike_in_the_affinity():
    """Two items on screen (a session): A1 is bought with B1 by ten customers, A2 with B2 by one. Summed raw
    ("together", the rule: it won on Ta-Feng), B1's stronger evidence puts it above B2; scaled each on its own
    ("each"), B2 goes with the session as much as B1. With one item the two ways agree."""
    from models.recommend import candidates

    events = [e for n in range(10) for e in (_ev(f"s{n}", "A1", "2024-01-10", f"o{n}"),
                                             _ev(f"s{n}", "B1", "2024-01-10", f"o{n}"))]
    events += [_ev("w", "A2", "2024-01-12", "ow"), _ev("w", "B2", "2024-01-12", "ow"),
               _ev("x", "C", "2024-01-15", "ox")]
    items = pd.DataFrame({"item_id": ["A1", "B1", "A2", "B2", "C"], "category": ["a", "b", "a", "b", "c"],
                          "price": [1.0] * 5, "active": [True] * 5, "repeatable": [True] * 5})
    customers = pd.DataFrame({"customer_id": [f"s{n}" for n in range(10)] + ["w", "x"]})
    state = fit_state(pd.DataFrame(events), items, customers, AS_OF, RecommendConfig())
    gen = CandidateGenerator(state)
    code = {str(i): n for n, i in enumerate(state.item_ids)}

    def affinity(context: list[str], scaling: str) -> dict[str, float]:
        batch = batch_from_state(state, state.customer_index.get_indexer(["nobody"]))
        batch.context_rows = np.zeros(len(context), np.int64)
        batch.context_items = np.array([code[c] for c in context], np.int64)
        cands = gen.generate(batch)
        old, candidates.CONTEXT_SCALING = candidates.CONTEXT_SCALING, scaling
        try:
            values = gen.context_affinity(batch, cands)
        finally:
            candidates.CONTEXT_SCALING = old
        return {str(state.item_ids[i]): float(v) for i, v in zip(cands.item, values)}

    each, together = affinity(["A1", "A2"], "each"), affinity(["A1", "A2"], "together")
    assert each["B1"] == pytest.approx(each["B2"]) and each["B2"] > each.get("C", 0.0)
    assert together["B2"] < together["B1"]
    assert affinity(["A1"], "each") == pytest.approx(affinity(["A1"], "together"))
    assert affinity(["A1", "A1", "A2"], "each") == pytest.approx(each)          # an item given twice counts once
