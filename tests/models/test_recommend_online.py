"""Online measurement: served lists matched with later events, on frames whose answers are worked out by hand."""
from __future__ import annotations

import pandas as pd
import pytest

from models.recommend.online import online_report

T0 = pd.Timestamp("2026-11-01 12:00")


def lists() -> pd.DataFrame:
    return pd.DataFrame([
        {"recommendation_id": "r1", "customer_id": "a", "created_at": T0, "strategy": "personalised", "model_version": "v1",
         "items": ["i1", "i2", "i3"], "sources": ["repeat", "popular", "bought_together"]},
        {"recommendation_id": "r2", "customer_id": "b", "created_at": T0, "strategy": "cold_start", "model_version": "v1",
         "items": ["i1", "i4"], "sources": ["popular", "popular"]},
        {"recommendation_id": "r3", "customer_id": "a", "created_at": T0 + pd.Timedelta(days=1),
         "strategy": "personalised", "model_version": "v2", "items": ["i2", "i5"], "sources": ["popular", "user_knn"]},
    ])


def events() -> pd.DataFrame:
    rows = [
        ("a", "i2", T0 + pd.Timedelta(hours=2), "purchase"),    # shown by r1 at 2, first list: credit to r1
        ("a", "i2", T0 - pd.Timedelta(hours=1), "purchase"),    # before any list: not counted
        ("a", "i3", T0 + pd.Timedelta(days=3), "view"),         # r1 at 3, within 7 days
        ("a", "i9", T0 + pd.Timedelta(days=2), "purchase"),     # not shown: counts against the share
        ("b", "i4", T0 + pd.Timedelta(days=9), "purchase"),     # after the 7-day window
        ("b", "i1", T0 + pd.Timedelta(hours=1), "refund"),      # not a view or purchase
    ]
    return pd.DataFrame(rows, columns=["customer_id", "item_id", "ts", "type"])


def test_rates_per_list_item_position_source_and_strategy():
    r = online_report(lists(), events(), window_days=7)
    assert (r["lists"], r["customers"], r["items_shown"]) == (3, 2, 7)
    assert r["purchase_rate"] == pytest.approx(1 / 3, abs=1e-4)            # r1 only
    assert r["view_rate"] == pytest.approx(1 / 3, abs=1e-4)                # r1 (view of i3, purchase of i2)
    assert r["item_purchase_rate"] == pytest.approx(1 / 7, abs=1e-4)
    assert r["item_view_rate"] == pytest.approx(2 / 7, abs=1e-4)
    # a's purchases within the window after its first list: i2 (shown) and i9 (not); b's i4 came too late
    assert r["recommended_purchase_share"] == 0.5
    by_position = {g["position"]: g for g in r["by_position"]}
    assert by_position[2] == {"position": 2, "shown": 3, "view_rate": pytest.approx(1 / 3, abs=1e-4),
                              "purchase_rate": pytest.approx(1 / 3, abs=1e-4)}
    assert by_position[3]["view_rate"] == 1.0 and by_position[3]["purchase_rate"] == 0.0
    by_source = {g["source"]: g for g in r["by_source"]}
    assert by_source["popular"]["shown"] == 4 and by_source["popular"]["purchase_rate"] == 0.25
    assert by_source["bought_together"]["view_rate"] == 1.0
    assert {g["strategy"]: g["shown"] for g in r["by_strategy"]} == {"cold_start": 2, "personalised": 5}
    versions = {g["model_version"]: g for g in r["by_model_version"]}
    assert (versions["v1"]["shown"], versions["v2"]["shown"]) == (5, 2)
    assert versions["v1"]["purchase_rate"] == pytest.approx(1 / 5, abs=1e-4) and versions["v2"]["purchase_rate"] == 0.0


def test_a_longer_window_counts_the_late_purchase_and_nothing_served_is_empty():
    late = online_report(lists(), events(), window_days=10)
    assert late["purchase_rate"] == pytest.approx(2 / 3, abs=1e-4)
    empty = online_report(lists().iloc[:0], events(), window_days=7)
    assert empty["lists"] == 0 and empty["purchase_rate"] is None and empty["by_source"] == []


def test_rates_per_channel_and_lists_without_a_channel_count_as_api():
    frame = lists()
    frame["channel"] = ["campaign", None, "chat"]       # r2 was logged before lists had a channel
    r = online_report(frame, events(), window_days=7)
    by_channel = {g["channel"]: g for g in r["by_channel"]}
    assert set(by_channel) == {"api", "campaign", "chat"}
    assert by_channel["campaign"] == {"channel": "campaign", "shown": 3, "view_rate": pytest.approx(2 / 3, abs=1e-4),
                                      "purchase_rate": pytest.approx(1 / 3, abs=1e-4)}
    assert (by_channel["api"]["shown"], by_channel["api"]["purchase_rate"]) == (2, 0.0)
    assert (by_channel["chat"]["shown"], by_channel["chat"]["view_rate"]) == (2, 0.0)
    # a frame without the column (a caller that does not know channels): everything is api
    assert online_report(lists(), events(), window_days=7)["by_channel"] == [
        {"channel": "api", "shown": 7, "view_rate": pytest.approx(2 / 7, abs=1e-4),
         "purchase_rate": pytest.approx(1 / 7, abs=1e-4)}]
    assert online_report(frame.iloc[:0], events(), window_days=7)["by_channel"] == []


def test_a_split_test_counts_customers_not_lists():
    # hand-worked: customer a's two v1 lists count once; b (v1) bought nothing; a's v2 list came after the start
    r = online_report(lists(), events(), window_days=7,
                      versions={"champion": "v1", "challenger": "v2", "since": None})
    champion, challenger = r["challenge"]["arms"]
    assert (champion["version"], champion["customers"], champion["lists"]) == ("v1", 2, 2)
    assert champion["purchase_rate"] == 0.5 and champion["view_rate"] == 0.5
    assert (challenger["customers"], challenger["lists"], challenger["purchase_rate"]) == (1, 1, 0.0)
    assert r["challenge"]["purchase_rate_difference"]["estimate"] == -0.5
    assert r["challenge"]["verdict"] == "too_few_customers"
    since = online_report(lists(), events(), window_days=7,
                          versions={"champion": "v1", "challenger": "v2", "since": T0 + pd.Timedelta(hours=1)})
    assert [a["customers"] for a in since["challenge"]["arms"]] == [0, 1]    # v1's lists came before the test
    assert online_report(lists(), events(), window_days=7)["challenge"] is None


def _split(champion_rate: float, challenger_rate: float, n: int = 2000) -> pd.DataFrame:
    """n customers per arm, each with one list; a share of each arm bought a shown item."""
    rows = []
    for version, rate in (("v1", champion_rate), ("v2", challenger_rate)):
        for i in range(n):
            rows.append({"customer_id": f"{version}-{i}", "model_version": version, "created_at": T0,
                         "viewed": i < rate * n * 2, "bought": i < rate * n})
    return pd.DataFrame(rows)


def test_the_verdict_follows_the_interval_of_the_purchase_rate_difference():
    from models.recommend.online import challenge

    better = challenge(_split(0.10, 0.14), "v1", "v2")
    difference = better["purchase_rate_difference"]
    assert better["verdict"] == "challenger_better" and difference["estimate"] == pytest.approx(0.04, abs=1e-4)
    se = (0.1 * 0.9 / 2000 + 0.14 * 0.86 / 2000) ** 0.5
    assert difference["low"] == pytest.approx(0.04 - 1.96 * se, abs=2e-4)
    assert challenge(_split(0.14, 0.10), "v1", "v2")["verdict"] == "champion_better"
    assert challenge(_split(0.10, 0.105), "v1", "v2")["verdict"] == "no_clear_difference"
    assert challenge(_split(0.10, 0.20, n=40), "v1", "v2")["verdict"] == "too_few_customers"


def test_each_promotions_items_against_the_other_items_of_its_lists():
    """r1 carried "Sale" with i2 promoted, r2 "Sale" with i4 promoted, r3 "New" with nothing a customer took up;
    lists without the columns (logged before migration 0010) count under no promotion."""
    frame = lists().assign(promotion=["Sale", "Sale", "New"],
                           promoted=[[False, True, False], [False, True], [True, False]])
    r = online_report(frame, events(), window_days=7)
    sale, new = r["by_promotion"][1], r["by_promotion"][0]
    assert sale == {"promotion": "Sale", "lists": 2, "promoted_shown": 2, "promoted_view_rate": 0.5,
                    "promoted_purchase_rate": 0.5, "other_shown": 3, "other_view_rate": pytest.approx(1 / 3, abs=1e-4),
                    "other_purchase_rate": 0.0}         # i2 bought (r1); i3 viewed (r1); b's i4 came too late
    assert new["promotion"] == "New" and (new["promoted_shown"], new["other_shown"]) == (1, 1)
    assert new["promoted_purchase_rate"] == 0.0      # a's purchase of i2 came before r3 was shown
    without = online_report(lists().assign(promotion=[None, "Sale", None], promoted=[None, [True, False], None]),
                            events(), window_days=7)
    assert [(g["promotion"], g["lists"], g["promoted_shown"]) for g in without["by_promotion"]] == [("Sale", 1, 1)]
    assert online_report(lists(), events(), window_days=7)["by_promotion"] == []
    assert online_report(lists().iloc[:0], events(), window_days=7)["by_promotion"] == []
