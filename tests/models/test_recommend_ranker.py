"""The ranker on a synthetic shop: learns the planted taste, saves and loads exactly, honours exclusions."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from models.recommend.evaluate import evaluate, make_split, run_baselines
from models.recommend.ranker import train_lambdarank
from models.recommend.recommender import Recommendation, Recommender
from models.recommend.synthetic import make_shop
from models.recommend.training import holdout_last_fraction, time_period, train_recommender

START = pd.Timestamp("2024-01-01")
FAST = {"num_threads": 1, "min_data_in_leaf": 20, "learning_rate": 0.1}


@pytest.fixture(scope="module")
def shop():
    return make_shop(n_customers=160, days=60, seed=3)


@pytest.fixture(scope="module")
def trained(shop):
    ev = shop.events
    train = time_period(ev, START + pd.Timedelta(days=25), 10)
    valid = time_period(ev, START + pd.Timedelta(days=35), 10)
    test = time_period(ev, START + pd.Timedelta(days=45), 15)
    rec = train_recommender(shop.items, shop.customers, [train], valid, test.history, test.as_of,
                            params=FAST, negatives=30, progress=lambda _: None)
    return rec, test


def test_ranker_beats_popularity_on_the_planted_signal(trained):
    rec, test = trained
    split = make_split(rec.state, test.labels, exclude_seen=False)
    kefu = evaluate(rec.recommend_batch(split.customer_ids, 10, num_threads=1), split, len(rec.state.item_ids))
    popularity = run_baselines(rec.state, split, names=("popularity",))["popularity"]
    assert kefu["ndcg@10"] > popularity["ndcg@10"] + 0.05
    assert rec.metadata["training"]["best_iteration"] >= 1


def test_rank_returns_items_with_source_and_reason(trained):
    rec, _ = trained
    out = rec.rank("c0", k=5)
    assert len(out) == 5 and all(isinstance(r, Recommendation) for r in out)
    assert [r.score for r in out] == sorted((r.score for r in out), reverse=True)
    assert all(r.reason[0] == r.source for r in out)


def test_proposals_explain_only_the_positions_asked_and_agree_with_rank(trained):
    rec, _ = trained
    for customer in ("c3", "c11", "nobody"):
        ranked = rec.rank(customer, k=12, exclude=["i1"])
        found = rec.propose(customer, 12, exclude=["i1"])
        assert found.item_ids == [r.item_id for r in ranked]
        assert found.scores == [r.score for r in ranked]
        assert found.sources == [r.source for r in ranked]
        picked = [9, 0, 4] if len(found) > 9 else list(range(len(found)))
        assert found.reasons(picked) == [ranked[p].reason for p in picked]
        assert found.reasons([]) == []


def test_save_load_gives_identical_rankings(trained, tmp_path):
    rec, _ = trained
    rec.save(tmp_path / "model")
    again = Recommender.load(tmp_path / "model")
    assert {p.name for p in (tmp_path / "model").iterdir()} == {"model.txt", "recommender.json", "state.json", "state.npz"}
    for customer in ("c0", "c7", "c42", "nobody"):
        assert rec.rank(customer, k=10) == again.rank(customer, k=10)
    ids = rec.state.customer_ids[:50]
    np.testing.assert_array_equal(rec.recommend_batch(ids, 10), again.recommend_batch(ids, 10))



def test_scores_blend_the_repeat_prior_saved_with_the_model(trained, tmp_path):
    """score = ranker / its spread + weight x prior / its spread; the spreads are measured at training and
    saved, so a loaded model scores the same."""
    from models.recommend.candidates import batch_from_state
    from models.recommend.features import build_features, repeat_prior

    rec, _ = trained
    prior = rec.metadata["prior"]
    assert prior["weight"] == rec.state.config.prior_weight > 0
    assert prior["score_scale"] > 0 and prior["prior_scale"] > 0
    batch = batch_from_state(rec.state, np.arange(5))
    cands = rec.generator.generate(batch)
    x = build_features(rec.state, batch, cands)
    raw = rec.booster.predict(x, num_threads=1)
    expected = raw / prior["score_scale"] + prior["weight"] * repeat_prior(x, rec.feature_names) / prior["prior_scale"]
    np.testing.assert_allclose(rec.score(batch, cands), expected)
    rec.save(tmp_path / "model")
    np.testing.assert_allclose(Recommender.load(tmp_path / "model").score(batch, cands), expected)
    # a model without the prior (weight 0, or saved before it existed) scores with the ranker alone
    bare = Recommender(rec.state, rec.booster, {k: v for k, v in rec.metadata.items() if k != "prior"})
    np.testing.assert_allclose(bare.score(batch, cands), raw)


def test_repeat_prior_orders_staples_before_one_off_buys():
    from models.recommend.features import PRIOR_COLUMNS, repeat_prior

    names = ["other", *PRIOR_COLUMNS]
    x = np.array([[0, 2, 0.9, 10],      # bought in 2 baskets, a staple
                  [0, 2, 0.1, 10],      # bought in 2 baskets, rarely re-bought by anyone
                  [0, 1, np.nan, 10],   # bought once, re-buy rate unknown
                  [0, 0, 0.5, 5000],    # never bought, very popular
                  [0, 0, 0.5, 10]], dtype=np.float32)
    p = repeat_prior(x, names)
    assert list(np.argsort(-p)) == [0, 1, 2, 3, 4]


def test_the_prior_is_off_where_nothing_is_repeatable(shop):
    """Films are watched once: the prior would be popularity alone, so it gets weight 0."""
    ev = shop.events
    items = shop.items.assign(repeatable=False)
    train = time_period(ev, START + pd.Timedelta(days=25), 10)
    valid = time_period(ev, START + pd.Timedelta(days=35), 10)
    test = time_period(ev, START + pd.Timedelta(days=45), 15)
    rec = train_recommender(items, shop.customers, [train], valid, test.history, test.as_of,
                            params={**FAST, "num_boost_round": 5}, negatives=30, progress=lambda _: None)
    assert rec.metadata["prior"]["weight"] == 0.0


def test_compiled_scoring_ranks_like_lightgbm_and_is_cached(trained, tmp_path):
    pytest.importorskip("lleaves", reason="the compiled path needs the `fast` extra (lleaves)")
    rec, _ = trained
    rec.save(tmp_path / "model")
    fast = Recommender.load(tmp_path / "model", compiled=True)
    assert fast.predictor is not None
    assert list((tmp_path / "model" / ".cache").glob("lleaves-model-*.o"))
    for customer in ("c0", "c7", "c42", "nobody"):
        plain, compiled = rec.rank(customer, k=10), fast.rank(customer, k=10)
        assert [r.item_id for r in plain] == [r.item_id for r in compiled]
        np.testing.assert_allclose([r.score for r in plain], [r.score for r in compiled], rtol=1e-9, atol=1e-12)
    again = Recommender.load(tmp_path / "model", compiled=True)   # from the cached object this time
    assert again.rank("c7", k=10) == fast.rank("c7", k=10)

def test_rank_excludes_what_the_caller_asks(trained):
    rec, _ = trained
    first = [r.item_id for r in rec.rank("c1", k=5)]
    again = [r.item_id for r in rec.rank("c1", k=5, exclude=first[:3])]
    assert not set(first[:3]) & set(again)
    assert again[:2] == first[3:5]


def test_fresh_events_and_unknown_customers(trained, shop):
    rec, _ = trained
    # a customer the model never saw, with events passed in by the caller, gets their category's items
    ev = shop.events[shop.events["customer_id"] == "c5"].assign(customer_id="newcomer")
    known = {r.item_id for r in rec.rank("c5", k=10)}
    fresh = {r.item_id for r in rec.rank("newcomer", k=10, events=ev, customer={"region": "north"})}
    assert len(known & fresh) >= 5
    cold = rec.rank("nobody", k=3, customer={"region": "north"})
    assert len(cold) == 3 and all(r.source.startswith("popular") or r.source == "category" for r in cold)


def test_holdout_last_fraction_keeps_the_latest_items():
    ev = pd.DataFrame({"customer_id": ["a"] * 5 + ["b"], "item_id": list("pqrstu"),
                       "ts": pd.date_range("2024-01-01", periods=6, freq="D"), "type": "purchase"})
    history, held = holdout_last_fraction(ev, 0.4)
    assert list(held["item_id"]) == ["s", "t"]      # a's last 40 %; b (one event) keeps it for history
    assert list(history["item_id"]) == ["p", "q", "r", "u"]


def test_reasons_of_many_candidates_equal_the_one_at_a_time_rule(trained):
    """``CandidateGenerator.reasons`` (anchors searched once per source and row) is ``reason`` for each index."""
    rec, _ = trained
    gen = rec.generator
    rows = rec.state.customer_index.get_indexer([f"c{i}" for i in range(0, 160, 7)] + ["nobody"])
    from models.recommend.candidates import batch_from_state

    batch = batch_from_state(rec.state, rows)
    cands = gen.generate(batch)
    every = np.arange(len(cands))
    assert gen.reasons(batch, cands, every) == [gen.reason(batch, cands, int(j)) for j in every]
    picked = np.random.default_rng(0).permutation(len(cands))[:97]       # any order, any subset
    assert gen.reasons(batch, cands, picked) == [gen.reason(batch, cands, int(j)) for j in picked]
    assert gen.reasons(batch, cands, picked[:0]) == []


def test_rank_equals_the_plain_one_candidate_at_a_time_path(trained, shop):
    """rank's vectorised top-k (ids, scores, reasons) and dict label lookups give what the plain path gave."""
    from models.recommend.candidates import batch_from_state

    rec, _ = trained
    st = rec.state

    def plain(customer_id, k, exclude=(), customer=None):
        batch = batch_from_state(st, st.customer_index.get_indexer([customer_id]), st.as_of_day)
        if customer is not None:
            for attr, labels, field in (("age", st.age_bands, "age_band"), ("region", st.regions, "region")):
                if customer.get(field) is not None:
                    setattr(batch, attr, pd.Index(labels).get_indexer([str(customer[field])]))
        ex = st.item_index.get_indexer([str(e) for e in exclude])
        ex = ex[ex >= 0]
        batch.exclude_rows, batch.exclude_items = np.zeros(len(ex), np.int64), ex.astype(np.int64)
        cands = rec.generator.generate(batch)
        scores = rec.score(batch, cands, num_threads=1)
        out = []
        for j in np.argsort(-scores, kind="stable")[:k]:
            reason = rec.generator.reason(batch, cands, int(j))
            out.append(Recommendation(str(st.item_ids[cands.item[j]]), float(scores[j]), reason[0], reason))
        return out

    region = str(st.regions[0])
    for customer in ("c0", "c3", "c42", "c99", "nobody"):
        assert rec.rank(customer, k=80) == plain(customer, 80)
        exclude = [r.item_id for r in rec.rank(customer, k=4)] + ["no-such-item"]
        attrs = {"region": region, "age_band": "no-such-band"}
        assert rec.rank(customer, k=30, exclude=exclude, customer=attrs) == plain(customer, 30, exclude, attrs)


def test_label_codes_equal_pandas_get_indexer(trained):
    rec, _ = trained
    st = rec.state
    for kind, labels in (("customer", st.customer_ids), ("item", st.item_ids), ("age_band", st.age_bands),
                         ("region", st.regions)):
        asked = [str(x) for x in labels] + ["nobody", ""]
        expected = pd.Index(labels).get_indexer(asked)
        assert [st.code_of(kind, a) for a in asked] == expected.tolist()


@pytest.mark.parametrize("favoured", [0, 1])
def test_query_weights_decide_which_queries_the_ranker_learns_from(favoured):
    """Two blocks of queries, each ranking by a different column: the ranker follows the block weighted 1, not the
    one weighted near 0 (how older training periods are made to count for less)."""
    rng = np.random.default_rng(0)
    n_queries, size = 200, 20
    x = rng.random((2 * n_queries * size, 2))
    block = np.repeat([0, 1], n_queries * size)
    y = (x[np.arange(len(x)), block] > 0.8).astype(float)
    groups = np.full(2 * n_queries, size)
    weight = np.where(block == favoured, 1.0, 1e-4)
    booster, _ = train_lambdarank(x, y, groups, x, y, groups, ["a", "b"], {"min_data_in_leaf": 20},
                                  num_boost_round=20, weight=weight)
    gain = booster.feature_importance("gain")
    assert gain[favoured] / gain.sum() > 0.9
