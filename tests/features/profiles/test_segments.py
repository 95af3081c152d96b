"""Segmenter: readable unique labels, prospects, JSON round trip and small-population behaviour."""
from __future__ import annotations

import json
from datetime import datetime

import numpy as np
import pandas as pd
import pytest

from features.profiles.segments import PROSPECTS_ID, PROSPECTS_LABEL, SEGMENT_INPUTS, Segmenter


def make_profiles(seed: int = 0) -> pd.DataFrame:
    """Three obvious groups of buyers plus three customers who never ordered."""
    rng = np.random.default_rng(seed)
    rows = []

    def group(prefix, n, recency, orders, spend, tenure):
        for i in range(n):
            jitter = rng.uniform(0.9, 1.1, 4)
            rows.append({"customer_id": f"{prefix}{i}", "days_since_last_order": recency * jitter[0],
                         "orders_total": max(1, round(orders * jitter[1])), "spend_total": spend * jitter[2],
                         "tenure_days": tenure * jitter[3]})

    group("champ", 12, recency=2, orders=40, spend=4000, tenure=700)
    group("new", 12, recency=3, orders=1, spend=40, tenure=5)
    group("gone", 12, recency=400, orders=2, spend=60, tenure=900)
    for i in range(3):
        rows.append({"customer_id": f"prospect{i}", "days_since_last_order": np.nan, "orders_total": 0,
                     "spend_total": 0.0, "tenure_days": 30.0})
    return pd.DataFrame(rows).set_index("customer_id")


def label_of(assigned: pd.DataFrame, prefix: str) -> str:
    labels = assigned.loc[assigned.index.str.startswith(prefix), "segment"].unique()
    assert len(labels) == 1, labels
    return labels[0]


def test_init_stores_params_only():
    seg = Segmenter(n_segments=4, random_state=7)
    assert seg.get_params() == {"n_segments": 4, "random_state": 7}
    assert not [name for name in vars(seg) if name.endswith("_")]


def test_labels_follow_the_centres_and_prospects_are_separate():
    profiles = make_profiles()
    seg = Segmenter(n_segments=3).fit(profiles)
    assigned = seg.assign(profiles)
    assert label_of(assigned, "champ") == "champions"
    assert label_of(assigned, "new") == "new customers"
    assert label_of(assigned, "gone") in {"dormant", "one-time buyers"}
    assert label_of(assigned, "prospect") == PROSPECTS_LABEL
    assert (assigned.loc[assigned.index.str.startswith("prospect"), "segment_id"] == PROSPECTS_ID).all()
    # id 1 is the most valuable cluster
    assert assigned.loc["champ0", "segment_id"] == 1


def test_labels_are_unique_and_readable():
    seg = Segmenter(n_segments=6).fit(make_profiles())
    labels = list(seg.labels_.values())
    assert len(labels) == len(set(labels)) == 7  # 6 clusters + prospects
    assert seg.labels_[PROSPECTS_ID] == PROSPECTS_LABEL
    assert all(isinstance(label, str) and label and not label.isdigit() for label in labels)


def test_round_trip_through_json_predicts_identically():
    profiles = make_profiles()
    seg = Segmenter(n_segments=4, random_state=3).fit(profiles)
    restored = Segmenter.from_dict(json.loads(json.dumps(seg.to_dict())))
    other = make_profiles(seed=1)  # unseen customers
    np.testing.assert_array_equal(restored.predict(profiles), seg.predict(profiles))
    np.testing.assert_array_equal(restored.predict(other), seg.predict(other))
    assert restored.labels_ == seg.labels_
    assert restored.get_params() == seg.get_params()


def test_from_dict_rejects_foreign_state():
    with pytest.raises(ValueError):
        Segmenter.from_dict({"format": "something else"})


def test_fewer_customers_than_segments():
    profiles = make_profiles().loc[["champ0", "new0", "prospect0"]]
    seg = Segmenter(n_segments=5).fit(profiles)
    ids = seg.predict(profiles)
    assert len(seg.cluster_centers_) == 2
    assert sorted(ids) == [0, 1, 2]
    assert len(set(seg.labels_.values())) == len(seg.labels_) == 3


def test_no_buyers_at_all():
    profiles = make_profiles().loc[["prospect0", "prospect1"]]
    seg = Segmenter().fit(profiles)
    assert (seg.predict(profiles) == PROSPECTS_ID).all()
    restored = Segmenter.from_dict(json.loads(json.dumps(seg.to_dict())))
    buyers = make_profiles().loc[["champ0"]]
    assert restored.predict(buyers).tolist() == seg.predict(buyers).tolist() == [PROSPECTS_ID + 1]
    assert seg.labels_[PROSPECTS_ID + 1] != PROSPECTS_LABEL


def test_assign_returns_a_copy_and_is_deterministic():
    profiles = make_profiles()
    before = profiles.copy()
    first = Segmenter(n_segments=3, random_state=0).fit(profiles).assign(profiles)
    second = Segmenter(n_segments=3, random_state=0).fit(profiles).assign(profiles)
    pd.testing.assert_frame_equal(profiles, before)
    pd.testing.assert_frame_equal(first, second)
    assert {"segment", "segment_id"} <= set(first.columns)
    assert first["segment_id"].dtype == np.int64


def test_works_on_built_profiles():
    from features.events import EVENT_COLUMNS
    from features.profiles.builder import build_profiles

    rows = [{col: None for col in EVENT_COLUMNS} | {"event_id": f"e{i}", "type": "purchase", "customer_id": c,
             "ts": pd.Timestamp(ts), "item_id": "A", "order_id": f"o{i}", "quantity": 1, "amount": amt}
            for i, (c, ts, amt) in enumerate([("a", "2024-03-01", 10.0), ("a", "2024-03-20", 30.0),
                                              ("b", "2023-06-01", 5.0)])]
    customers = pd.DataFrame({"customer_id": ["a", "b", "c"], "signup_at": [None, None, "2024-01-01"]})
    profiles = build_profiles(pd.DataFrame(rows), customers, None, None, datetime(2024, 3, 31))
    assigned = Segmenter(n_segments=5).fit(profiles).assign(profiles)
    assert assigned.loc["c", "segment"] == PROSPECTS_LABEL
    assert assigned.loc["a", "segment_id"] != assigned.loc["b", "segment_id"]
    assert set(SEGMENT_INPUTS) <= set(profiles.columns)
