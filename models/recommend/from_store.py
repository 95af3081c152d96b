"""Train and evaluate the recommender on what the store holds, with time splits chosen from the data's span.

Periods: with a label window of L days (an eighth of the history, between 7 and 31 days), the ranker learns
from labels in [as_of - 2L, as_of - L) with features as of as_of - 2L, stops early on [as_of - L, as_of),
and serves from candidate tables fitted on everything. The evaluation holds out the last L days entirely and
trains the same way on what came before, so its test period is never seen in training.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import pandas as pd

from models.recommend.evaluate import evaluate, make_split, run_baselines
from models.recommend.recommender import Recommender
from models.recommend.training import LabelPeriod, time_period, train_recommender

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StoreData:
    events: pd.DataFrame
    items: pd.DataFrame
    customers: pd.DataFrame
    embeddings: np.ndarray | None
    as_of: pd.Timestamp


def load_store_data(store, embedder=None, progress: Callable[[str], None] | None = None) -> StoreData:
    """Events, items and customers, plus item text embeddings when most items have a name or description."""
    say = progress or log.info
    events = store.load_events(types=["view", "add_to_cart", "purchase"])
    items = store.load_items()
    customers = store.load_customers()
    if events.empty:
        raise ValueError("no view, add_to_cart or purchase events stored yet")
    embeddings = None
    texts = (items["name"].fillna("").astype(str) + ". " + items["description"].fillna("").astype(str)).str.strip(". ")
    if embedder is not None and (texts.str.len() > 0).mean() >= 0.5:
        t = time.perf_counter()
        embeddings = embedder.embed_passages(texts.tolist())
        say(f"embedded {len(texts)} item descriptions in {time.perf_counter() - t:.1f}s")
    return StoreData(events, items, customers, embeddings, pd.Timestamp(events["ts"].max()))


def refresh_from_data(rec: Recommender, data: StoreData) -> Recommender:
    """The same ranker over candidate tables refitted on everything stored now: the catalogue's new items, the
    latest co-purchases, popularity and histories (``Recommender.refresh``). Refused (ValueError) when item
    texts were embedded for the ranker's training but are not now, or the reverse: the text features would
    change meaning under the ranker."""
    before = rec.state.embeddings is not None
    if before != (data.embeddings is not None):
        raise ValueError("the ranker was trained " + ("with" if before else "without") + " item description "
                         "embeddings and the catalogue now gives " + ("none" if before else "them") +
                         ": retrain with `kefu train recommender` instead of refreshing")
    return rec.refresh(data.events, data.items, data.customers, data.as_of, data.embeddings)


def label_window_days(events: pd.DataFrame) -> int:
    span = (events["ts"].max() - events["ts"].min()).days
    return int(min(31, max(7, span // 8)))


def _periods(events: pd.DataFrame, as_of: pd.Timestamp, days: int) -> tuple[list[LabelPeriod], LabelPeriod]:
    first = as_of - pd.Timedelta(days=2 * days)
    second = as_of - pd.Timedelta(days=days)
    train = time_period(events, first, days, max_relevance=3)
    valid = time_period(events, second, days)
    return [train], valid


def train_from_data(data: StoreData, progress: Callable[[str], None] | None = None, **kwargs: Any) -> Recommender:
    days = label_window_days(data.events)
    train, valid = _periods(data.events, data.as_of, days)
    rec = train_recommender(data.items, data.customers, train, valid, data.events, data.as_of,
                            embeddings=data.embeddings, progress=progress, **kwargs)
    rec.metadata["label_window_days"] = days
    return rec


def evaluate_on_data(data: StoreData, k: int = 10, progress: Callable[[str], None] | None = None,
                     baselines: tuple[str, ...] | None = None) -> dict[str, Any]:
    """kefu and the baselines on the same held-out last period, in the same run."""
    say = progress or log.info
    days = label_window_days(data.events)
    test = time_period(data.events, data.as_of - pd.Timedelta(days=days), days + 1)
    history = test.history
    train, valid = _periods(history, pd.Timestamp(history["ts"].max()), days)
    started = time.perf_counter()
    rec = train_recommender(data.items, data.customers, train, valid, history, test.as_of,
                            embeddings=data.embeddings, progress=progress)
    training_seconds = time.perf_counter() - started
    split = make_split(rec.state, test.labels, exclude_seen=False)
    if split.n_users == 0:
        raise ValueError("no customer with history bought anything in the held-out period")
    methods = {"kefu": evaluate(rec.recommend_batch(split.customer_ids, k), split, len(rec.state.item_ids))}
    if baselines is None:
        baselines = ("popularity", "repeat", "repeat_popular", "item_knn") + (("als",) if _has_implicit() else ())
    methods.update(run_baselines(rec.state, split, k, names=baselines))
    say(f"evaluated {split.n_users} customers on the last {days} days")
    best = max((m for m in methods if m != "kefu"), key=lambda m: methods[m]["ndcg@10"])
    return {
        "label_window_days": days, "test_from": str(test.as_of), "users": split.n_users,
        "cold_customers_skipped": split.cold_customers, "methods": methods, "best_baseline": best,
        "ndcg_ratio_vs_best_baseline": round(methods["kefu"]["ndcg@10"] / max(methods[best]["ndcg@10"], 1e-12), 3),
        "training_seconds": round(training_seconds, 1),
    }


def _has_implicit() -> bool:
    try:
        import implicit  # noqa: F401
    except ImportError:
        return False
    return True
