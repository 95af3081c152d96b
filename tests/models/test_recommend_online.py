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
