"""Time-split training: features as of a cutoff, labels from the following period, validation later.

A period is (history known at as_of, the items each customer bought afterwards). The ranker learns on the
earlier periods and stops early on the latest one, so no label ever leaks into a feature and every number
used for a choice comes from before the test period. The final artifact pairs the booster with candidate
tables refitted on all history up to the serving cutoff.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd

from models.recommend.candidates import CandidateGenerator, batch_from_state, candidate_priority
from models.recommend.config import RecommendConfig
from models.recommend.features import build_features, feature_names, repeat_prior
from models.recommend.history import naive_utc
from models.recommend.ranker import top_importances, train_lambdarank
from models.recommend.recommender import Recommender
from models.recommend.state import CandidateState, fit_state

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LabelPeriod:
    """Events known at ``as_of`` and the (customer_id, item_id) pairs bought after it.

    ``customers`` restricts the period's queries (e.g. held-out validation customers).
    """

    history: pd.DataFrame
    labels: pd.DataFrame
    as_of: pd.Timestamp
    customers: tuple[str, ...] | None = None


def time_period(events: pd.DataFrame, cutoff: object, days: float,
                label_types: Sequence[str] = ("purchase",), max_relevance: int = 1) -> LabelPeriod:
    """History = events before ``cutoff``; labels = items of ``label_types`` in [cutoff, cutoff + days).

    ``max_relevance`` > 1 grades each label by the distinct days the item was bought (capped), so
    LambdaRank may favour items bought again and again; evaluation always treats labels as binary.
    """
    cutoff = naive_utc(cutoff)
    end = cutoff + pd.Timedelta(days=days)
    before = events[events["ts"] < cutoff]
    after = events[(events["ts"] >= cutoff) & (events["ts"] < end) & events["type"].isin(list(label_types))]
    after = after.dropna(subset=["customer_id", "item_id"])
    labels = pd.DataFrame({"customer_id": after["customer_id"].astype(str), "item_id": after["item_id"].astype(str),
                           "day": after["ts"].dt.floor("D")}).drop_duplicates()
    labels = labels.groupby(["customer_id", "item_id"], sort=False).size().rename("relevance").reset_index()
    labels["relevance"] = labels["relevance"].clip(upper=max_relevance).astype(np.float32)
    return LabelPeriod(before, labels, cutoff)


def holdout_last_fraction(events: pd.DataFrame, fraction: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per customer, the last ``fraction`` of item events by time (at least one) are held out.

    For datasets (MovieLens) where a global time cut leaves too few customers on both sides. Ties in time
    are broken by the input order, which keeps the split deterministic.
    """
    ev = events.sort_values(["customer_id", "ts"], kind="stable")
    position = ev.groupby("customer_id").cumcount().to_numpy()
    size = ev.groupby("customer_id")["ts"].transform("size").to_numpy()
    n_test = np.maximum(1, np.floor(size * fraction)).astype(int)
    test = position >= size - n_test
    test &= size > 1  # a customer with one event has nothing to learn from
    return ev[~test].reset_index(drop=True), ev[test].reset_index(drop=True)


@dataclass
class PeriodData:
    """Ranker rows of one period: features, labels, query sizes, and candidate recall."""

    x: np.ndarray
    y: np.ndarray
    groups: np.ndarray
    recall: float
    customers: int


def period_rows(state: CandidateState, period: LabelPeriod, *, negatives: int | None, seed: int,
                batch_size: int = 1024, max_customers: int | None = None) -> PeriodData:
    """Candidates + features for the period's labelled customers known to the state.

    ``negatives``: keep at most this many unlabelled candidates per customer (uniform sample), which keeps
    training fast; None keeps them all (validation must see the real candidate lists). Customers whose
    candidates hold no positive are dropped: a query without a relevant item teaches LambdaRank nothing.
    """
    rng = np.random.default_rng(seed)
    labels = period.labels
    if period.customers is not None:
        labels = labels[labels["customer_id"].isin(set(period.customers))]
    rows_all = state.customer_index.get_indexer(labels["customer_id"])
    items_all = state.item_index.get_indexer(labels["item_id"])
    known = (rows_all >= 0) & (state.history.indptr[np.maximum(rows_all, 0) + 1]
                                > state.history.indptr[np.maximum(rows_all, 0)])
    rows_all, items_all = rows_all[known], items_all[known]
    customers = np.unique(rows_all)
    if max_customers is not None and len(customers) > max_customers:
        customers = np.sort(rng.choice(customers, max_customers, replace=False))
    n_items = np.int64(len(state.item_ids))
    relevance_all = labels["relevance"].to_numpy(dtype=np.float32)[known] if "relevance" in labels \
        else np.ones(len(rows_all), np.float32)
    ok = items_all >= 0
    pos_keys = rows_all[ok] * n_items + items_all[ok]
    order = np.argsort(pos_keys, kind="stable")
    positives, pos_relevance = pos_keys[order], relevance_all[ok][order]
    total_pos = np.isin(rows_all, customers).sum()
    gen = CandidateGenerator(state)
    xs, ys, gs, hit = [], [], [], 0
    for start in range(0, len(customers), batch_size):
        part = customers[start:start + batch_size]
        batch = batch_from_state(state, part)
        cands = gen.generate(batch)
        keys = part[cands.row] * n_items + cands.item
        pos = np.minimum(np.searchsorted(positives, keys), max(len(positives) - 1, 0))
        y = (positives[pos] == keys) if len(positives) else np.zeros(len(keys), bool)
        gain = np.where(y, pos_relevance[pos] if len(positives) else 0.0, 0.0).astype(np.float32)
        hit += int(y.sum())
        keep = _sample(cands.row, y, len(part), negatives, rng, candidate_priority(cands.relative))
        x = build_features(state, batch, cands)[keep]
        r, y, gain = cands.row[keep], y[keep], gain[keep]
        sizes = np.bincount(r, minlength=len(part))
        has_pos = np.bincount(r, weights=y, minlength=len(part)) > 0
        row_ok = has_pos[r]
        xs.append(x[row_ok])
        ys.append(gain[row_ok])
        gs.append(sizes[has_pos])
    recall = hit / total_pos if total_pos else 0.0
    return PeriodData(np.concatenate(xs), np.concatenate(ys), np.concatenate(gs), recall, len(customers))


def _sample(row: np.ndarray, y: np.ndarray, n_rows: int, negatives: int | None, rng: np.random.Generator,
            priority: np.ndarray) -> np.ndarray:
    """Indices to keep: all positives and about ``negatives`` negatives per row, in row order.

    Systematic sampling: a row's negatives, in ``priority`` order, are cut into ``negatives`` equal strata and
    one is kept from each, from a random offset. Uniform sampling gave the same expected rows but ranked very
    differently from seed to seed (Ta-Feng February NDCG@10 0.1435 against 0.1330 for two seeds); the strata
    keep every part of the candidate list, hard and easy, in every sample (0.1435 / 0.1414). Keeping only the
    hardest negatives failed outright (0.085): the ranker must see the whole list it will order.
    """
    if negatives is None:
        return np.arange(len(row))
    noise = rng.random(len(row))
    order = np.lexsort((noise, -priority, row))
    neg = order[~y[order]]
    neg_row = row[neg]
    starts = np.searchsorted(neg_row, np.arange(n_rows))
    counts = np.bincount(neg_row, minlength=n_rows)
    rank = (np.arange(len(neg)) - starts[neg_row]).astype(np.float64)
    row_step = np.maximum(counts / negatives, 1.0)
    step = row_step[neg_row]
    offset = (rng.random(n_rows) * row_step)[neg_row]
    # rank p is kept when it is the first at or after offset + j * step for some stratum j
    stratum = np.floor((rank - offset) / step)
    keep = (rank >= offset) & (stratum != np.floor((rank - 1 - offset) / step))
    keep |= step <= 1.0
    return np.sort(np.concatenate([np.flatnonzero(y), neg[keep]]))


#: The blend of a model whose scores are the ranker's alone (Recommender.score returns them unchanged).
NO_PRIOR: dict[str, float] = {"weight": 0.0, "score_scale": 1.0, "prior_scale": 1.0}


def prior_blend(booster: lgb.Booster, val: PeriodData, names: list[str], config: RecommendConfig,
                state: CandidateState) -> dict[str, float]:
    """How ``Recommender.score`` adds the repeat prior (``features.repeat_prior``) to the ranker's score.

    Both are divided by their standard deviation over the validation candidates, and the prior weighted by
    ``config.prior_weight``; weight 0 where no item is repeatable (films: the prior would be popularity).
    The weight was chosen out of period: a ranker trained on December alone, scored on January, gave
    NDCG@10 0.1980 alone and 0.2018 with weight 0.5 (0.2014 at 0.25, 0.2006 at 0.75). Validation inside a
    training month cannot choose it: the month's own item signals make the ranker look far better there
    (0.25 against 0.19 for the prior) than on the next month. February NDCG@10 (experiment harness, two
    seeds): 0.1412-0.1419 without the prior, 0.1480-0.1481 with it.
    """
    weight = float(config.prior_weight) if bool(state.item["repeatable"].any()) else 0.0
    if weight <= 0 or len(val.y) == 0:
        return dict(NO_PRIOR)
    score_scale = float(np.std(booster.predict(val.x, num_threads=1)))
    prior_scale = float(np.std(repeat_prior(val.x, names)))
    if not (score_scale > 0 and prior_scale > 0):
        return dict(NO_PRIOR)
    return {"weight": weight, "score_scale": score_scale, "prior_scale": prior_scale}


class PeriodStates:
    """Candidate states fitted once per (history, as of): periods that share a history object share a state."""

    def __init__(self, items: pd.DataFrame | None, customers: pd.DataFrame | None, config: RecommendConfig,
                 embeddings: np.ndarray | None, say: Callable[[str], None]) -> None:
        self.items, self.customers, self.config, self.embeddings, self.say = items, customers, config, embeddings, say
        self._states: dict[tuple[int, pd.Timestamp], CandidateState] = {}

    def __call__(self, period: LabelPeriod) -> CandidateState:
        key = (id(period.history), period.as_of)
        if key not in self._states:
            t = time.perf_counter()
            self._states[key] = fit_state(period.history, self.items, self.customers, period.as_of, self.config,
                                          self.embeddings)
            self.say(f"candidate state as of {period.as_of}: {time.perf_counter() - t:.1f}s")
        return self._states[key]

    def release(self, period: LabelPeriod) -> None:
        """Forget the period's state (memory: one state per period would otherwise live until ``clear``)."""
        self._states.pop((id(period.history), period.as_of), None)

    def clear(self) -> None:
        self._states.clear()


def train_recommender(items: pd.DataFrame | None, customers: pd.DataFrame | None,
                      train: Sequence[LabelPeriod], valid: LabelPeriod, final_events: pd.DataFrame,
                      final_as_of: object, *, config: RecommendConfig | None = None,
                      embeddings: np.ndarray | None = None, params: dict[str, Any] | None = None,
                      negatives: int = 100, max_train_customers: int | None = 12_000,
                      max_valid_customers: int | None = 3_000, seed: int = 7, workers: int = 1,
                      progress: Callable[[str], None] | None = None) -> Recommender:
    """Fit candidates per period, train LambdaRank on ``train``, early-stop on ``valid``, refit for serving.

    ``workers`` threads build the training periods' rows side by side (most of the work is numpy, which releases
    the GIL); each period's rows depend only on its own seed, so the result is the same for any count.
    """
    config = config or RecommendConfig()
    say = progress or log.info
    started = time.perf_counter()
    state_for = PeriodStates(items, customers, config, embeddings, say)

    def rows(k: int, period: LabelPeriod) -> PeriodData:
        t = time.perf_counter()
        part = period_rows(state_for(period), period, negatives=negatives, seed=seed + k,
                           max_customers=max_train_customers)
        if period.history is not valid.history or period.as_of != valid.as_of:
            state_for.release(period)
        say(f"train period {period.as_of}: {part.customers} customers, {len(part.y)} rows, "
            f"candidate recall {part.recall:.3f} ({time.perf_counter() - t:.1f}s)")
        return part

    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(train)))) as pool:
        parts = list(pool.map(rows, range(len(train)), train))
    t = time.perf_counter()
    val = period_rows(state_for(valid), valid, negatives=None, seed=seed + 99, max_customers=max_valid_customers)
    say(f"valid period {valid.as_of}: {val.customers} customers, {len(val.y)} rows, "
        f"candidate recall {val.recall:.3f} ({time.perf_counter() - t:.1f}s)")
    names = feature_names(config)
    booster, info = train_lambdarank(np.concatenate([p.x for p in parts]), np.concatenate([p.y for p in parts]),
                                     np.concatenate([p.groups for p in parts]), val.x, val.y, val.groups,
                                     names, params)
    say(f"lambdarank: {info['best_iteration']} trees, valid NDCG@10 {info['valid_ndcg_at_10']:.4f} "
        f"({info['boost_seconds']}s)")
    state_for.clear()
    t = time.perf_counter()
    final = fit_state(final_events, items, customers, final_as_of, config, embeddings)
    say(f"final candidate state as of {final.as_of}: {time.perf_counter() - t:.1f}s")
    booster = lgb.Booster(model_str=booster.model_to_string(num_iteration=info["best_iteration"]))
    prior = prior_blend(booster, val, names, config, final)
    if prior["weight"]:
        say(f"repeat prior weight {prior['weight']} (score spread {prior['score_scale']:.4g}, "
            f"prior spread {prior['prior_scale']:.4g})")
    meta = {
        "training": {**info, "train_periods": [str(p.as_of) for p in train], "valid_period": str(valid.as_of),
                     "train_candidate_recall": [round(p.recall, 4) for p in parts],
                     "valid_candidate_recall": round(val.recall, 4), "negatives_per_query": negatives,
                     "seconds": round(time.perf_counter() - started, 1)},
        "importances": top_importances(booster),
        "prior": prior,
    }
    return Recommender(final, booster, meta)
