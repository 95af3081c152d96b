"""What customers did after they were shown a recommendation list: the online side of evaluation.

Offline metrics (NDCG@10 on a held-out month) say how well a model ranks history; a marketing team wants to
know whether the lists it served were followed. Each served list is matched with the customer's later events on
the shown items, within ``window_days`` of the list (a view counts as a click-through, a purchase as a
conversion; the first list that showed an item gets the credit for it). The report gives the rates per list,
per position, per candidate source, per strategy, per model version (a new version against the one
before it, on live traffic), per channel (where the list was shown: api, chat or campaign) and per promotion
(its items against the other items of its lists), and the share of the reached customers' purchases (within the
window after a list) that were items they had been shown.

With a split test running (models.challenger), :func:`challenge` compares the two versions customer by
customer, the unit the split draws.

The events' own timestamps are compared with the time the list was served, so events must carry real times.
"""
from __future__ import annotations

import math
from typing import Any, Mapping

import numpy as np
import pandas as pd

from features.storage.recommend_log import DEFAULT_CHANNEL
from models.challenger import verdict

VIEW_TYPES = ("view", "add_to_cart")
PURCHASE_TYPE = "purchase"
POSITIONS = 10
Z95 = 1.959964
#: Fewer customers than this in either arm of a split test, and no verdict is given.
MIN_ARM_CUSTOMERS = 50


def _rate(hits: pd.Series) -> float | None:
    return round(float(hits.mean()), 4) if len(hits) else None


def _grouped(shown: pd.DataFrame, key: str) -> list[dict]:
    out = []
    for value, part in shown.groupby(key, sort=True):
        out.append({key: value if not isinstance(value, np.integer) else int(value), "shown": int(len(part)),
                    "view_rate": _rate(part["viewed"]), "purchase_rate": _rate(part["bought"])})
    return out


def _by_promotion(shown: pd.DataFrame) -> list[dict]:
    """Per promotion: its lists, and its promoted items' view and purchase rates against the other items shown
    in the same lists (the same customers, the same moments)."""
    out = []
    for name, part in shown[shown["promotion"].notna()].groupby("promotion", sort=True):
        flag = part["promoted"].astype(bool)
        promoted, other = part[flag], part[~flag]
        out.append({"promotion": name, "lists": int(part["recommendation_id"].nunique()),
                    "promoted_shown": int(len(promoted)), "promoted_view_rate": _rate(promoted["viewed"]),
                    "promoted_purchase_rate": _rate(promoted["bought"]), "other_shown": int(len(other)),
                    "other_view_rate": _rate(other["viewed"]), "other_purchase_rate": _rate(other["bought"])})
    return out


def _difference(a: dict, b: dict, key: str) -> dict[str, float] | None:
    """b's rate minus a's, with a 95 % normal interval for two independent proportions."""
    if a[key] is None or b[key] is None:
        return None
    pa, pb = a[key], b[key]
    se = math.sqrt(pa * (1 - pa) / a["customers"] + pb * (1 - pb) / b["customers"])
    estimate = pb - pa
    return {"estimate": round(estimate, 4), "low": round(estimate - Z95 * se, 4), "high": round(estimate + Z95 * se, 4)}


def challenge(per_list: pd.DataFrame, champion: str, challenger: str, since=None) -> dict[str, Any]:
    """A split test of two model versions, with the customer as the unit (the split draws customers, and one
    customer's lists are not independent): per version, the customers shown its lists since ``since`` and the
    share of them who viewed or bought a shown item; the challenger's rate minus the champion's with a 95 %
    interval; and a verdict on the purchase rate (fewer than MIN_ARM_CUSTOMERS customers in an arm: none).

    ``per_list``: one row per list, with customer_id, model_version, created_at, viewed and bought."""
    part = per_list if since is None else per_list[per_list["created_at"] >= since]
    arms = []
    for version in (champion, challenger):
        mine = part[part["model_version"] == version]
        customers = mine.groupby("customer_id")[["viewed", "bought"]].any()
        arms.append({"version": version, "customers": int(len(customers)), "lists": int(len(mine)),
                     "view_rate": _rate(customers["viewed"]), "purchase_rate": _rate(customers["bought"])})
    purchase = _difference(arms[0], arms[1], "purchase_rate")
    enough = min(a["customers"] for a in arms) >= MIN_ARM_CUSTOMERS
    return {"champion": champion, "challenger": challenger, "since": since, "arms": arms,
            "purchase_rate_difference": purchase, "view_rate_difference": _difference(arms[0], arms[1], "view_rate"),
            "verdict": verdict(purchase if enough else None, "too_few_customers")}


def online_report(lists: pd.DataFrame, events: pd.DataFrame, window_days: float,
                  versions: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """``lists``: recommendation_id, customer_id, created_at, strategy, model_version, items (ids in order),
    sources, and optionally channel (missing or null: api), promotion (a name or null) and promoted (a flag per
    item, or null).
    ``events``: customer_id, item_id, ts, type, for the listed customers.
    ``versions``: {"champion", "challenger", "since"} to add a split test's :func:`challenge` as "challenge"."""
    empty = {"lists": 0, "customers": 0, "items_shown": 0, "view_rate": None, "purchase_rate": None,
             "item_view_rate": None, "item_purchase_rate": None, "recommended_purchase_share": None,
             "by_position": [], "by_source": [], "by_strategy": [], "by_model_version": [], "by_channel": [],
             "by_promotion": [], "challenge": None}
    if lists.empty:
        if versions:
            empty["challenge"] = challenge(pd.DataFrame(columns=["customer_id", "model_version", "created_at",
                                                                 "viewed", "bought"]), **versions)
        return empty
    shown = lists[["recommendation_id", "customer_id", "created_at", "strategy", "model_version", "items",
                   "sources"]].copy()
    shown["channel"] = (lists["channel"].fillna(DEFAULT_CHANNEL) if "channel" in lists.columns
                        else DEFAULT_CHANNEL)
    shown["promotion"] = lists["promotion"] if "promotion" in lists.columns else None
    flags = lists["promoted"] if "promoted" in lists.columns else pd.Series(None, index=lists.index)
    shown["promoted"] = [f if isinstance(f, list) and len(f) == len(xs) else [False] * len(xs)
                         for f, xs in zip(flags, shown["items"])]
    shown["position"] = shown["items"].map(lambda xs: list(range(1, len(xs) + 1)))
    shown = shown.explode(["items", "sources", "position", "promoted"]).dropna(subset=["items"])
    shown = shown.rename(columns={"items": "item_id", "sources": "source"})
    shown["position"] = shown["position"].astype(int)
    shown["item_id"] = shown["item_id"].astype(str)
    window = pd.Timedelta(days=window_days)

    ev = events[events["type"].isin((*VIEW_TYPES, PURCHASE_TYPE))][["customer_id", "item_id", "ts", "type"]].copy()
    ev["item_id"] = ev["item_id"].astype(str)
    pairs = shown.merge(ev, on=["customer_id", "item_id"], how="inner")
    pairs = pairs[(pairs["ts"] > pairs["created_at"]) & (pairs["ts"] <= pairs["created_at"] + window)]
    # credit goes to the first list that showed the item before the event
    pairs = pairs.sort_values(["customer_id", "item_id", "ts", "created_at"]).drop_duplicates(
        ["customer_id", "item_id", "ts", "type"], keep="first")
    viewed = set(pairs.loc[pairs["type"].isin(VIEW_TYPES), "recommendation_id"] + "\x00" +
                 pairs.loc[pairs["type"].isin(VIEW_TYPES), "item_id"])
    bought_pairs = pairs[pairs["type"] == PURCHASE_TYPE]
    bought = set(bought_pairs["recommendation_id"] + "\x00" + bought_pairs["item_id"])
    key = shown["recommendation_id"] + "\x00" + shown["item_id"]
    shown["bought"] = key.isin(bought)
    shown["viewed"] = key.isin(viewed) | shown["bought"]        # a purchase implies the item was seen

    per_list = shown.groupby("recommendation_id")[["viewed", "bought"]].any()
    tested = None
    if versions:
        followed = lists[["recommendation_id", "customer_id", "model_version", "created_at"]].join(
            per_list, on="recommendation_id")
        followed[["viewed", "bought"]] = followed[["viewed", "bought"]].fillna(False).astype(bool)
        tested = challenge(followed, **versions)
    # of the purchases reached customers made within the window after one of their lists, how many were shown
    firsts = lists.groupby("customer_id")["created_at"].agg(["min", "max"])
    purchases = ev[ev["type"] == PURCHASE_TYPE].merge(firsts, left_on="customer_id", right_index=True)
    purchases = purchases[(purchases["ts"] > purchases["min"]) & (purchases["ts"] <= purchases["max"] + window)]
    share = (round(len(bought_pairs.drop_duplicates(["customer_id", "item_id", "ts"])) / len(purchases), 4)
             if len(purchases) else None)
    return {
        "lists": int(len(lists)), "customers": int(lists["customer_id"].nunique()), "items_shown": int(len(shown)),
        "view_rate": _rate(per_list["viewed"]), "purchase_rate": _rate(per_list["bought"]),
        "item_view_rate": _rate(shown["viewed"]), "item_purchase_rate": _rate(shown["bought"]),
        "recommended_purchase_share": share,
        "by_position": _grouped(shown[shown["position"] <= POSITIONS], "position"),
        "by_source": _grouped(shown, "source"),
        "by_strategy": _grouped(shown, "strategy"),
        "by_model_version": _grouped(shown, "model_version"),
        "by_channel": _grouped(shown, "channel"),
        "by_promotion": _by_promotion(shown),
        "challenge": tested,
    }
