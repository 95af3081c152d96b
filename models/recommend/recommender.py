"""The recommendation artifact the service loads: fitted candidate state + LambdaRank booster.

One folder holds ``model.txt`` (LightGBM text model), ``recommender.json`` (feature names, config, metrics,
created time), ``state.json`` and ``state.npz`` (candidate tables). Nothing is pickled, so a model folder
can be inspected and loaded without running code from it.
"""
from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd

from models.recommend.candidates import CandidateGenerator, CandidateSet, CustomerBatch, batch_from_state
from models.recommend.config import SOURCES
from models.recommend.features import build_features, feature_names, repeat_prior
from models.recommend.history import build_history, naive_utc, prepare_interactions, to_days
from models.recommend.state import (PROFILE_FEATURES, CandidateState, customer_avg_price, customer_orders,
                                    fit_state)

MODEL_NAME = "recommend"
#: The weight of the page's item on an item page: the answer orders candidates by the ranker's score over its
#: spread across the customer's candidates + this x their affinity to the item (bought-together and item-kNN,
#: 0..2). Chosen on half of 3,000 Ta-Feng February baskets (one item on the page, the rest of the basket to find)
#: and checked on the other half: NDCG@10 0.1082 against 0.0875 without it (bench/item_page_context.py).
CONTEXT_WEIGHT = 2.0
#: The source of an item ranked only because the caller included it (``propose(include=...)``: a promotion).
INCLUDED = "promotion"
#: Not "model.json": the registry writes that one beside the artifact.
META_FILE = "recommender.json"


@dataclass(frozen=True)
class Recommendation:
    """One recommended item: ranker score, the candidate source that proposed it, and a reason seed
    such as ("bought_together", "<anchor item id>") or ("popular_region", "115")."""

    item_id: str
    score: float
    source: str
    reason: tuple[str, Any]


@dataclass(frozen=True)
class Proposals:
    """``propose``'s answer: item ids, scores and sources best first; reasons are worked out only for the
    positions asked (the service asks for 8k proposals and its rules keep k of them; a reason costs a search)."""

    item_ids: list[str]
    scores: list[float]
    sources: list[str]
    _explain: Callable[[np.ndarray], list[tuple[str, Any]]]

    def __len__(self) -> int:
        return len(self.item_ids)

    def reasons(self, positions: Sequence[int]) -> list[tuple[str, Any]]:
        """Reason seeds, e.g. ("bought_together", "<anchor item id>"), for the given positions."""
        return self._explain(np.asarray(positions, dtype=np.int64)) if len(positions) else []


class Recommender:
    """Candidates + ranker. ``rank`` answers one customer; ``recommend_batch`` evaluates thousands."""

    def __init__(self, state: CandidateState, booster: lgb.Booster, metadata: dict[str, Any] | None = None,
                 predictor: Any = None):
        """``predictor``: a compiled copy of the booster with ``predict(matrix) -> raw scores`` (lleaves, see
        ``load``); None scores with LightGBM."""
        self.state = state
        self.booster = booster
        self.predictor = predictor
        self.feature_names, self._columns = model_columns(booster.feature_name(), feature_names(state.config))
        self.metadata = dict(metadata or {})
        self.generator = CandidateGenerator(state)

    # ------------------------------------------------------------------------------------ serving path
    def rank(self, customer_id: str, k: int = 10, *, exclude: Iterable[str] = (),
             events: pd.DataFrame | None = None, profile: Mapping[str, Any] | None = None,
             customer: Mapping[str, Any] | None = None, chat_embedding: np.ndarray | None = None,
             now: object | None = None, context: Iterable[str] = ()) -> list[Recommendation]:
        """Top-k items for one customer, best first.

        ``exclude``: item ids never to return (e.g. in the cart). ``context``: item ids on the customer's screen
        now (the item page): they anchor the neighbour sources like the customer's latest interest, and what
        goes with them is moved up (``CONTEXT_WEIGHT``). ``events``: the customer's own events
        (EVENT_COLUMNS), replacing the history saved at fit time (fresh activity, or a customer the model
        has never seen). ``profile``: a profile record (``build_profiles`` fields) replacing the saved one.
        ``customer``: attributes (age_band, region) for a customer unknown to the model. ``chat_embedding``:
        the profile's chat centroid, blended into the embedding-similarity feature. ``now``: the moment
        recency is measured at (default: the model's as_of). A customer with no history at all gets the
        popular sources (their segment's when ``customer`` says which).
        """
        found = self.propose(customer_id, k, exclude=exclude, events=events, profile=profile, customer=customer,
                             chat_embedding=chat_embedding, now=now, context=context)
        reasons = found.reasons(range(len(found)))
        return [Recommendation(item_id, score, reason[0], reason)
                for item_id, score, reason in zip(found.item_ids, found.scores, reasons)]

    def propose(self, customer_id: str, k: int = 10, **given: Any) -> Proposals:
        """``rank``'s top k (same arguments) with the reasons left until asked for."""
        batch = self.customer_batch(customer_id, **given)
        cands = self.generator.generate(batch)
        if len(cands) == 0:
            return Proposals([], [], [], lambda positions: [])
        scores = self.score(batch, cands, num_threads=1)
        affinity = self.generator.context_affinity(batch, cands)
        if affinity is not None:
            spread = float(scores.std())
            scores = scores / (spread if spread > 0 else 1.0) + CONTEXT_WEIGHT * affinity
        top = np.argsort(-scores, kind="stable")[:k]
        ids = self.state.item_ids[cands.item[top]]
        sources = [SOURCES[code] for code in cands.source[top].tolist()]
        if batch.include_items is not None:     # an included item no source proposed: there only as included
            bare = (cands.relative[top].max(axis=1) <= 0) & np.isin(cands.item[top], batch.include_items)
            sources = [INCLUDED if b else name for name, b in zip(sources, bare.tolist())]
        return Proposals([str(i) for i in ids.tolist()], scores[top].tolist(), sources,
                         lambda positions: self.generator.reasons(batch, cands, top[positions]))

    def customer_batch(self, customer_id: str, *, events: pd.DataFrame | None = None,
                       profile: Mapping[str, Any] | None = None, customer: Mapping[str, Any] | None = None,
                       chat_embedding: np.ndarray | None = None, now: object | None = None,
                       exclude: Iterable[str] = (), context: Iterable[str] = (),
                       include: Iterable[str] = ()) -> CustomerBatch:
        """A batch of one, from the saved state with the caller's fresher data laid over it. ``include``: items
        ranked as candidates whatever the sources propose (a promotion's items; unknown ids are skipped)."""
        st = self.state
        code = np.array([st.code_of("customer", str(customer_id))], dtype=np.intp)
        now_ts = st.as_of if now is None else naive_utc(now)
        batch = batch_from_state(st, code, float(to_days(now_ts)))
        if events is not None:
            own = events[events["customer_id"].astype(str) == str(customer_id)]
            x = prepare_interactions(own.assign(customer_id=own["customer_id"].astype(str),
                                                item_id=own["item_id"].astype(str)),
                                     pd.Index([str(customer_id)]), st.item_index, now_ts, st.config.event_weights)
            batch.history = build_history(x, 1, len(st.item_ids), batch.now_day, st.config.decay_half_life_days)
            batch.avg_price = customer_avg_price(x, st.item["price"], 1)
            batch.orders = customer_orders(x, 1)
        if profile is not None:
            batch.profile = np.array([[_number(profile.get(f)) for f in PROFILE_FEATURES]], dtype=np.float32)
        if customer is not None:
            for attr, field in (("age", "age_band"), ("region", "region")):
                value = customer.get(field)
                if value is not None:
                    setattr(batch, attr, np.array([st.code_of(field, str(value))], dtype=np.intp))
        if chat_embedding is not None and st.embeddings is not None:
            batch.chat = np.asarray(chat_embedding, dtype=np.float32).reshape(1, -1)
        ex = np.array([st.code_of("item", str(e)) for e in exclude], dtype=np.intp)
        ex = ex[ex >= 0]
        batch.exclude_rows, batch.exclude_items = np.zeros(len(ex), np.int64), ex.astype(np.int64)
        shown = np.array([st.code_of("item", str(c)) for c in context], dtype=np.intp)
        shown = shown[shown >= 0]
        if len(shown):
            batch.context_rows, batch.context_items = np.zeros(len(shown), np.int64), shown.astype(np.int64)
        forced = np.array([st.code_of("item", str(i)) for i in include], dtype=np.intp)
        forced = np.unique(forced[forced >= 0])
        if len(forced):
            batch.include_rows, batch.include_items = np.zeros(len(forced), np.int64), forced.astype(np.int64)
        return batch

    def score(self, batch: CustomerBatch, cands: CandidateSet, num_threads: int = 1) -> np.ndarray:
        x = build_features(self.state, batch, cands)
        if self._columns is not None:
            x = x[:, self._columns]
        if self.predictor is not None:
            raw = self.predictor.predict(x, n_jobs=num_threads)
        else:
            raw = self.booster.predict(x, num_threads=num_threads)
        return blend_prior(raw, x, self.feature_names, self.metadata.get("prior"))

    # ------------------------------------------------------------------------------------- batch path
    def recommend_batch(self, customer_ids: Sequence[str], k: int = 10, batch_size: int = 512,
                        num_threads: int = 1) -> np.ndarray:
        """Top-k item codes (state item index, -1 padded) for customers known to the state."""
        rows = self.state.customer_index.get_indexer([str(c) for c in customer_ids])
        out = np.full((len(rows), k), -1, dtype=np.int64)
        for start in range(0, len(rows), batch_size):
            part = rows[start:start + batch_size]
            batch = batch_from_state(self.state, part)
            cands = self.generator.generate(batch)
            if len(cands) == 0:
                continue
            scores = self.score(batch, cands, num_threads=num_threads)
            out[start:start + len(part)] = topk_by_group(cands.row, cands.item, scores, len(part), k)
        return out

    # ----------------------------------------------------------------------------------- persistence
    def refresh(self, events: pd.DataFrame, items: pd.DataFrame | None, customers: pd.DataFrame | None,
                as_of: object, embeddings: np.ndarray | None = None,
                profiles: pd.DataFrame | None = None) -> "Recommender":
        """The same ranker over candidate tables refitted on newer events (the nightly job)."""
        state = fit_state(events, items, customers, as_of, self.state.config, embeddings, profiles)
        meta = {**self.metadata, "state_as_of": state.as_of.isoformat()}
        return Recommender(state, self.booster, meta, self.predictor)

    def save(self, folder: str | Path) -> Path:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        self.booster.save_model(str(folder / "model.txt"))
        self.state.save(folder)
        meta = {
            "name": MODEL_NAME, "kind": "lightgbm-lambdarank", "feature_names": self.feature_names,
            "config": self.state.config.to_dict(), "state_as_of": self.state.as_of.isoformat(),
            "created": self.metadata.get("created", time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())),
            **{k: v for k, v in self.metadata.items() if k != "created"},
        }
        (folder / META_FILE).write_text(json.dumps(meta, indent=2, default=str))
        return folder

    @classmethod
    def load(cls, folder: str | Path, compiled: bool = False) -> "Recommender":
        """``compiled``: score with lleaves (the ``fast`` extra) when it is installed. The trees are compiled
        once (seconds) and the object cached in the folder's ``.cache/``, so other workers load it at once;
        scores equal LightGBM's to ~1e-12, and a booster lleaves cannot compile falls back to LightGBM."""
        folder = Path(folder)
        meta = json.loads((folder / META_FILE).read_text())
        booster = lgb.Booster(model_file=str(folder / "model.txt"))
        state = CandidateState.load(folder)
        predictor = None
        if compiled:
            from models.compiled import LleavesBatch

            predictor = LleavesBatch.build(folder / "model.txt")
        rec = cls(state, booster, meta, predictor)
        if meta.get("feature_names") != rec.feature_names:
            raise ValueError("recommender.json feature names do not match the booster's")
        return rec


def model_columns(trained: list[str], built: list[str]) -> tuple[list[str], np.ndarray | None]:
    """(the booster's feature names, the positions of those columns in ``build_features``' matrix, or None when
    the two lists are the same). A model trained before a feature was added keeps serving on the columns it
    knows; one that needs a column this code does not build is refused."""
    if trained == built:
        return list(built), None
    missing = [name for name in trained if name not in built]
    if missing:
        raise ValueError(f"the model needs features this kefu does not build ({', '.join(missing[:5])}): retrain "
                         "with `kefu train recommender`")
    return list(trained), np.array([built.index(name) for name in trained], dtype=np.intp)


def blend_prior(raw: np.ndarray, x: np.ndarray, names: list[str], prior: Mapping[str, Any] | None) -> np.ndarray:
    """raw / its spread + weight x repeat prior / its spread (spreads measured on the validation candidates at
    training, saved in the model); the raw scores when the model has no prior (weight 0, or an older model)."""
    if not prior or not prior.get("weight"):
        return raw
    return raw / prior["score_scale"] + prior["weight"] * repeat_prior(x, names) / prior["prior_scale"]


def topk_by_group(row: np.ndarray, item: np.ndarray, scores: np.ndarray, n_rows: int, k: int) -> np.ndarray:
    """For rows sorted ascending, the k best items of each row by score (-1 where fewer than k)."""
    order = np.lexsort((-scores, row))
    starts = np.r_[0, np.cumsum(np.bincount(row, minlength=n_rows))][:-1]
    rank = np.arange(len(row)) - starts[row[order]]
    keep = order[rank < k]
    out = np.full((n_rows, k), -1, dtype=np.int64)
    out[row[keep], (np.arange(len(row)) - starts[row[order]])[rank < k]] = item[keep]
    return out


def _number(value: Any) -> float:
    try:
        return float(value) if value is not None else np.nan
    except (TypeError, ValueError):
        return np.nan
