"""Recommendation orchestration: the ranker's candidates, then the merchandiser's rules, then reasons.

The ranker proposes more than asked; the rules are applied on the live catalogue (stock and activity change
faster than models are retrained): never out of stock or inactive, bought items only again when their item is
repeatable, the caller's filters exactly (even if fewer than k remain), and at most N items per category. A
promotion keeps some of the k places for its items, chosen by the same ranker and rules: the request's own, or
else the scheduled one live on the list's channel (service.pipelines.promotions).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Container, Mapping

import numpy as np

from features.errors import NotFound
from features.storage.recommend_reads import RecommendReads
from models.challenger import SPLIT
from models.recommend import Proposals
from models.recommend.recommender import INCLUDED
from models.registry import ModelNotFound, _iso, _utcnow
from models.serving import LoadedModels
from service.pipelines.promotions import DEFAULT_SHARE, ScheduledPromotions

log = logging.getLogger(__name__)

MODEL = "recommend"
KIND = "recommender"
OVERFETCH = 8  # ask the ranker for this many times k, so rules and filters still leave k
#: ``recommend(promotion=SCHEDULED)``: the scheduled promotion live on the channel, if any (the default).
SCHEDULED: Any = object()


def _name(catalogue: Mapping[str, dict], item_id: Any) -> str:
    name = (catalogue.get(item_id) or {}).get("name")
    return name if isinstance(name, str) and name else str(item_id)


def _clean(value: Any) -> Any:
    return None if value is None or (isinstance(value, float) and np.isnan(value)) else value


@dataclass(frozen=True)
class Promotion:
    """A list's promotion (the request's own or the scheduled one): its items and categories, and how many of the
    k places it keeps."""

    name: str
    items: frozenset
    categories: frozenset
    slots: int

    @classmethod
    def of(cls, body: Mapping[str, Any] | None, k: int) -> "Promotion | None":
        if not body:
            return None
        share = float(body.get("share", DEFAULT_SHARE))
        return cls(body["name"], frozenset(body.get("items") or ()),
                   frozenset(body.get("categories") or ()), min(k, max(1, round(k * share))))

    def covers(self, item: Mapping[str, Any]) -> bool:
        return item["item_id"] in self.items or item["category"] in self.categories


def context_items(context: Mapping[str, Any] | None) -> list[str]:
    """The items a request's context puts on the customer's screen: the page's item, then the session's, each
    once; they are never recommended back and what goes with them is moved up."""
    if not context:
        return []
    items = ([context["item_id"]] if context.get("item_id") else []) + list(context.get("items") or ())
    return list(dict.fromkeys(items))


def _sellable(item: Mapping[str, Any]) -> bool:
    stock = item["stock"]
    return bool(item["active"]) and (stock is None or stock > 0)


def _period(days: int) -> str:
    return {1: "today", 7: "this week", 30: "this month"}.get(days, f"in the last {days} days")


def reason_text(reason: tuple[str, Any], catalogue: Mapping[str, dict], window_days: int = 30) -> str:
    """A sentence a customer or a merchandiser can read, from the ranker's reason seed. ``window_days``: the
    model's popularity window, which the popular-in-a-segment reasons name."""
    kind, anchor = reason
    texts = {
        "repeat": lambda: "you buy this regularly",
        "bought_together": lambda: f"often bought together with {_name(catalogue, anchor)}",
        "similar_text": lambda: f"similar to {_name(catalogue, anchor)} you looked at",
        "item_knn": lambda: f"customers who bought {_name(catalogue, anchor)} also bought this",
        "user_knn": lambda: "bought by customers who shop like you",
        "collaborative": lambda: "customers with tastes like yours bought this",
        "category": lambda: f"popular in {anchor}, a category you like",
        "popular_age_band": lambda: f"popular with customers aged {anchor} {_period(window_days)}",
        "popular_region": lambda: f"popular in your area {_period(window_days)}",
        "popular": lambda: "popular right now",
        "popular_category": lambda: f"popular in {anchor} right now",
        INCLUDED: lambda: f"featured in {anchor}",          # the anchor: the promotion's name
    }
    return texts.get(kind, lambda: kind.replace("_", " "))()


class _Purchases:
    """The customer's purchased items (``in`` only), read from the store on the first question: the rules need
    them only for proposals of items that are not repeatable, and it is the request's costliest read."""

    def __init__(self, reads: RecommendReads, customer_id: str) -> None:
        self._reads, self._customer_id = reads, customer_id
        self._items: set[str] | None = None

    def __contains__(self, item_id: object) -> bool:
        if self._items is None:
            self._items = self._reads.purchased_items(self._customer_id)
        return item_id in self._items


class RecommendationService:
    def __init__(self, store, models: LoadedModels, catalogue, max_per_category: int = 3,
                 promotions: ScheduledPromotions | None = None) -> None:
        """``catalogue``: a callable returning the live items table (cached by the profile service).
        ``promotions``: the scheduled promotions; None schedules none."""
        self.store = store
        self.promotions = promotions
        self.models = models
        self.catalogue = catalogue
        self.max_per_category = max_per_category
        self.reads = RecommendReads(store.engine)
        self._snapshot: tuple[int, dict[str, dict]] | None = None

    def _model(self, customer_id: str | None = None):
        """The active version, or its challenger in a split test when the customer falls in its share
        (models.challenger: the same customer stays with one version for the whole test)."""
        try:
            rec, version = self.models.get(MODEL)
        except ModelNotFound as exc:
            if MODEL not in self.models.registry.names():
                raise NotFound("No recommendation model yet. Train one with `kefu train recommender`.") from exc
            raise
        if customer_id is not None:
            found = self.models.challenger(MODEL)
            if found is not None and found[2].mode == SPLIT and found[2].takes(customer_id):
                return found[0], found[1]
        return rec, version

    def _items(self) -> dict[str, dict]:
        """item_id → item record, rebuilt only when the (cached) catalogue frame changes: per-row pandas
        lookups cost more than the ranking itself."""
        frame = self.catalogue()
        snapshot = self._snapshot
        if snapshot is None or snapshot[0] != id(frame):
            records = {r["item_id"]: {k: _clean(v) for k, v in r.items()} for r in frame.to_dict("records")}
            snapshot = self._snapshot = (id(frame), records)
        return snapshot[1]

    def warm(self) -> None:
        """Build the per-worker catalogue snapshot before the first request (~0.3 s on Ta-Feng's 24k items)."""
        try:
            self._model()
        except (ModelNotFound, NotFound):
            return
        self._items()

    def recommend(
        self, customer_id: str, k: int = 10, *, filters: Mapping[str, Any] | None = None,
        context: Mapping[str, Any] | None = None, segment: Mapping[str, Any] | None = None,
        promotion: Mapping[str, Any] | None = SCHEDULED, channel: str = "api",
    ) -> dict:
        """The customer's top k after every rule. ``promotion``: the request's own (a PromotionSchema body), None
        for none, or SCHEDULED for the one live on ``channel``."""
        rec, version = self._model(customer_id)
        if promotion is SCHEDULED:
            promotion = self.promotions.current(channel) if self.promotions is not None else None
        filters = dict(filters or {})
        catalogue = self._items()
        seen = self.reads.customer(customer_id)
        newest = seen.newest_event
        known = newest is not None
        features = seen.profile_features or {}
        attributes = {"age_band": seen.age_band, "region": seen.region, **dict(segment or {})}
        exclude = set(filters.get("exclude_items", ()))
        shown = context_items(context)
        exclude.update(shown)
        exclude |= seen.dismissed
        chat = features.get("chat_embedding")
        # The model keeps each customer's history as of its training; only a customer with newer activity (or
        # one the model has never seen) needs the events read and passed in, which costs more than ranking.
        fresh = known and (newest > rec.state.as_of or rec.state.code_of("customer", customer_id) < 0)
        promoted = Promotion.of(promotion, k)
        proposals = rec.propose(
            # a promotion's best items may rank anywhere among the candidates: all of them are proposed
            customer_id, k=max(50, OVERFETCH * k) if promoted is None else 1 << 30, exclude=exclude,
            include=sorted(promoted.items) if promoted is not None else (),
            events=self.store.load_events([customer_id]) if fresh else None,
            profile=features or None,
            customer={k: v for k, v in attributes.items() if v is not None} or None,
            chat_embedding=np.asarray(chat, dtype=np.float32) if chat else None,
            now=seen.data_clock, context=shown,
        )
        bought = _Purchases(self.reads, customer_id) if seen.exists else frozenset()
        items = self._apply_rules(proposals, catalogue, bought, exclude, filters, k, promoted,
                                  rec.state.config.popular_window_days)
        answer = {
            "customer_id": customer_id,
            "items": items,
            "strategy": "personalised" if known else "cold_start",
            "model": MODEL,
            "model_version": version.version,
        }
        if promoted is not None:
            answer["promotion"] = promoted.name      # for the log (features.storage.recommend_log.list_row)
        return answer

    def _apply_rules(self, proposals: Proposals, catalogue: Mapping[str, dict], bought: Container[str],
                     exclude: set, filters: Mapping[str, Any], k: int,
                     promotion: Promotion | None = None, window_days: int = 30) -> list[dict]:
        """The first k proposals that pass every rule and filter, at most ``max_per_category`` a category; with a
        promotion, its best passing items then take the lowest non-promoted places until it has its slots."""
        categories = set(filters.get("categories") or ())
        excluded_categories = set(filters.get("exclude_categories") or ())
        price_min, price_max = filters.get("price_min"), filters.get("price_max")
        per_category: dict[str, int] = {}
        kept: list[tuple[int, dict]] = []
        waiting: list[tuple[int, dict]] = []        # promoted items the cap or k left out, best first
        slots = promotion.slots if promotion is not None else 0
        promoted_kept = 0
        for position, item_id in enumerate(proposals.item_ids):
            item = catalogue.get(item_id)
            if item_id in exclude or item is None or not _sellable(item):
                continue
            if not item["repeatable"] and item_id in bought:       # bought: read only when it matters
                continue
            category = item["category"]
            if categories and category not in categories:
                continue
            if category in excluded_categories:
                continue
            price = item["price"]
            if price_min is not None and (price is None or price < price_min):
                continue
            if price_max is not None and (price is None or price > price_max):
                continue
            promoted = promotion is not None and promotion.covers(item)
            if len(kept) < k and per_category.get(category, 0) < self.max_per_category:
                per_category[category] = per_category.get(category, 0) + 1
                kept.append((position, item))
                promoted_kept += promoted
            elif promoted and len(waiting) < slots:
                waiting.append((position, item))
            if len(kept) == k and promoted_kept + len(waiting) >= slots:
                break
        pulled: set[int] = set()
        if promotion is not None:
            pulled = {position for position, _ in waiting[:max(0, slots - promoted_kept)]}
            plain = [i for i, (_, item) in enumerate(kept) if not promotion.covers(item)]
            over = len(kept) + len(pulled) - k          # never more than the plain places (slots <= k)
            drop = set(plain[-over:]) if over > 0 else set()
            kept = sorted([e for i, e in enumerate(kept) if i not in drop] +
                          [e for e in waiting if e[0] in pulled], key=lambda e: e[0])
        # an item shown for the promotion alone is explained by it; only the others need their reason searched
        featured = {position for position, _ in kept if position in pulled or proposals.sources[position] == INCLUDED}
        searched = [position for position, _ in kept if position not in featured]
        reasons = dict(zip(searched, proposals.reasons(searched)))
        answer = []
        for position, item in kept:
            if position in featured:
                source, reason = INCLUDED, (INCLUDED, promotion.name)
            else:
                source, reason = proposals.sources[position], reasons[position]
            out = self._answer_item(item, proposals.scores[position], source, reason, catalogue, window_days)
            if promotion is not None:
                out["promoted"] = promotion.covers(item)
            answer.append(out)
        return answer

    @staticmethod
    def _answer_item(item: Mapping[str, Any], score: float, source: str, reason: tuple, catalogue,
                     window_days: int = 30) -> dict:
        return {"item_id": item["item_id"], "name": item["name"], "score": round(float(score), 6), "source": source,
                "reason": reason_text(reason, catalogue, window_days), "category": item["category"],
                "price": item["price"]}

    def popular(self, k: int = 10, *, category: str | None = None, region: str | None = None,
                age_band: str | None = None) -> dict:
        """What sells now, not personalised: the model's popularity lists (its recent window, as of its training
        or refresh) for everyone, a region or an age band, optionally in one category, under the live catalogue's
        rules (active, in stock). A segment the model does not know gets everyone's list (``basis`` says which
        list answered); a category filters exactly, even to nothing."""
        rec, version = self._model()
        catalogue = self._items()
        st = rec.state
        basis, items, scores, source, anchor = "everyone", st.popular[0], st.popular[1], "popular", None
        for field, value, table in (("region", region, "popular_region"), ("age_band", age_band, "popular_age_band")):
            code = st.code_of(field, str(value)) if value is not None else -1
            if code >= 0 and table in st.tables:
                basis, source, anchor = field, table, value
                items, scores = st.tables[table][0][code], st.tables[table][1][code]
        if category is not None and basis == "everyone":
            codes = {str(c): i for i, c in enumerate(st.categories)}
            if category in codes and "category_items" in st.tables:
                items, scores = (st.tables["category_items"][0][codes[category]],
                                 st.tables["category_items"][1][codes[category]])
            else:
                items, scores = items[:0], scores[:0]
        out = []
        for code, score in zip(items.tolist(), scores.tolist()):
            if code < 0:
                continue
            item = catalogue.get(str(st.item_ids[code]))
            if item is None or not _sellable(item) or (category is not None and item["category"] != category):
                continue
            kind, seed = (source, anchor) if category is None or basis != "everyone" else ("popular_category",
                                                                                      category)
            out.append(self._answer_item(item, score, source, (kind, seed), catalogue, st.config.popular_window_days))
            if len(out) == k:
                break
        return {"items": out, "basis": basis, "category": category, "as_of": st.as_of, "model": MODEL,
                "model_version": version.version}

    def similar(self, item_id: str, k: int = 10) -> dict:
        """Items for an item page: bought together first, then similar by description, from the model's tables."""
        rec, version = self._model()
        catalogue = self._items()
        state = rec.state
        code = state.item_index.get_indexer([item_id])[0]
        if code < 0:
            if item_id not in catalogue:
                raise NotFound(f"No item '{item_id}'.")
            return {"item_id": item_id, "items": [], "model": MODEL, "model_version": version.version}
        seen, out = {item_id}, []
        for source in ("bought_together", "similar_text", "item_knn"):
            if source not in state.tables:
                continue
            neighbours, scores = state.tables[source]
            for other, score in zip(neighbours[code], scores[code]):
                if other < 0:
                    continue
                other_id = str(state.item_ids[other])
                item = catalogue.get(other_id)
                if other_id in seen or item is None or not _sellable(item):
                    continue
                seen.add(other_id)
                out.append(self._answer_item(item, score, source, (source, item_id), catalogue))
                if len(out) == k:
                    return {"item_id": item_id, "items": out, "model": MODEL, "model_version": version.version}
        return {"item_id": item_id, "items": out, "model": MODEL, "model_version": version.version}


def train_and_register(state, progress=None, activate: bool = True):
    """Train on the stored events (time split), publish as a new version of ``recommend``; returns the version."""
    from models.recommend.from_store import load_store_data, train_from_data

    read_at = _iso(_utcnow())         # what is stored after this is not in the version (recommend_schedule)
    data = load_store_data(state.store, state.embedder, progress)
    rec = train_from_data(data, progress=progress)
    training = rec.metadata.get("training", {})
    metrics = {"valid_ndcg_at_10": training.get("valid_ndcg_at_10"), "trees": training.get("best_iteration"),
               "training_seconds": training.get("seconds")}
    return _publish(state, rec, metrics, {"state_as_of": str(data.as_of),
                                          "label_window_days": rec.metadata.get("label_window_days"),
                                          "text_embeddings": data.embeddings is not None,
                                          "data_read_at": read_at}, activate)


def refresh_and_register(state, progress=None, activate: bool = True, scheduled: bool = False):
    """Refit the active version's candidate tables on everything stored now and publish them with the same
    ranker as a new version (``models.recommend.from_store.refresh_from_data``): items added to the catalogue
    since the last training can then be shown (similar descriptions, bought together, promotions) and the
    co-purchase and popularity tables follow the latest events, in the time of one candidate fit instead of a
    training. ``scheduled``: marks the version as the schedule's (service.pipelines.recommend_schedule), which
    may delete it later. Returns (the new version, the refreshed one)."""
    import time

    from models.recommend.from_store import load_store_data, refresh_from_data
    from models.recommend.recommender import Recommender

    base = state.extras["registry"].current(MODEL)
    if base is None:
        raise NotFound("No recommender to refresh yet. Train one with `kefu train recommender`.")
    started = time.perf_counter()
    rec = Recommender.load(base.path)
    read_at = _iso(_utcnow())
    data = load_store_data(state.store, state.embedder, progress)
    refreshed = refresh_from_data(rec, data)
    items = refreshed.state.item_ids
    extra = {"state_as_of": str(data.as_of), "label_window_days": base.meta.get("label_window_days"),
             "text_embeddings": data.embeddings is not None, "refreshed_from": base.version, "data_read_at": read_at,
             "refresh_seconds": round(time.perf_counter() - started, 1), "items": len(items),
             "new_items": len(set(map(str, items)) - set(map(str, rec.state.item_ids)))}
    if scheduled:
        from service.pipelines.recommend_schedule import SCHEDULED

        extra["refreshed_by"] = SCHEDULED
    return _publish(state, refreshed, base.metrics, extra, activate), base


def _publish(state, rec, metrics: dict, extra: dict, activate: bool):
    version = state.extras["registry"].save(MODEL, KIND, rec.save, features=rec.feature_names, metrics=metrics,
                                            extra=extra, activate=activate)
    state.store.record_model_version(MODEL, version.version, KIND, path=str(version.path), metrics=metrics)
    if state.settings.recommend_compiled:
        # compile the trees now, once, so that serving workers load the cached object instead of each compiling
        from models.compiled import LleavesBatch

        LleavesBatch.build(version.path / "model.txt")
    return version
