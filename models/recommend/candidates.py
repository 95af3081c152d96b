"""Candidate generation: several cheap sources, merged into a few hundred items per customer.

Each source is a sparse list of (customer, item, score) for a whole batch of customers at once (one
customer on the serving path is a batch of one), built with sorted-key numpy operations (see coo.py), so
the same code trains on 10^4 customers and answers one request in about a millisecond. Every candidate
keeps every source's score (0 when the source has nothing for it) as ranker features, and the source
whose normalised score is highest as its ``source``, from which a human-readable reason is built for the
items finally shown.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from models.recommend import coo
from models.recommend.config import SOURCES
from models.recommend.factor_search import FactorSearch
from models.recommend.history import History
from models.recommend.state import CandidateState
from models.recommend.tables import customer_vectors
from models.recommend.user_knn import CustomerNeighbours

SOURCE_INDEX = {name: i for i, name in enumerate(SOURCES)}
NEIGHBOUR_SOURCES = ("bought_together", "similar_text", "item_knn")
#: How several context items (a session) are combined in context_affinity: "together" sums their raw neighbour
#: scores and scales the sum, so an item with strong co-purchase evidence weighs more; "each" scales every item's
#: scores on their own first, so all count alike. One item: the same either way. "together" won on
#: bench/session_context.py's even Ta-Feng baskets (docs/benchmarks.md), so it is the rule.
CONTEXT_SCALING = "together"


@dataclass
class CustomerBatch:
    """The customers to generate for: their history rows and attributes, as of ``now_day``."""

    rows: np.ndarray            # state customer codes (-1: unknown to the state)
    history: History            # one row per batch customer
    age: np.ndarray             # age-band code per customer (-1 unknown)
    region: np.ndarray          # region code per customer (-1 unknown)
    profile: np.ndarray         # (B x PROFILE_FEATURES) float32
    avg_price: np.ndarray       # customer's average unit price paid
    orders: np.ndarray          # customer's distinct purchase baskets
    now_day: float
    chat: np.ndarray | None = None          # (B x d) chat-embedding centroids, rows of zeros when unknown
    exclude_rows: np.ndarray | None = None  # (row, item) pairs the caller does not want
    exclude_items: np.ndarray | None = None
    context_rows: np.ndarray | None = None  # (row, item) pairs on the customer's screen now (the item page)
    context_items: np.ndarray | None = None
    include_rows: np.ndarray | None = None  # (row, item) pairs to rank whatever the sources say (promotions)
    include_items: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.rows)


def batch_from_state(state: CandidateState, rows: np.ndarray, now_day: float | None = None) -> CustomerBatch:
    """A batch of customers known to the state, with the history and profile saved at fit time."""
    rows = np.asarray(rows, dtype=np.int64)
    known = rows >= 0
    safe = np.where(known, rows, 0)
    profile = np.where(known[:, None], state.profile[safe], np.nan).astype(np.float32)
    return CustomerBatch(
        rows=rows, history=state.history.take(rows),
        age=np.where(known, state.customer["age"][safe], -1),
        region=np.where(known, state.customer["region"][safe], -1),
        profile=profile, avg_price=np.where(known, state.customer["avg_price"][safe], np.nan),
        orders=np.where(known, state.customer["orders"][safe], 0.0),
        now_day=state.as_of_day if now_day is None else now_day,
    )


@dataclass(frozen=True)
class SegmentLists:
    """A padded per-segment table (segment x rank: item, score, best first) cut to its first ``width`` ranks and
    re-sorted by item within each segment, so that picking segments for a batch yields sorted unique keys
    directly: no sort and no summing per request."""

    items: np.ndarray    # (segments x width) item codes ascending per row, -1 padding at the end
    scores: np.ndarray   # (segments x width) float64

    @classmethod
    def build(cls, table: tuple[np.ndarray, np.ndarray], width: int, n_items: int) -> "SegmentLists":
        items, scores = (np.asarray(a)[:, :max(width, 0)] for a in table)
        ok = (items >= 0) & (scores > 0)
        out_items = np.full(items.shape, -1, np.int64)
        out_scores = np.zeros(items.shape, np.float64)
        for r in range(items.shape[0]):            # each segment as one row of a source: summed, sorted by item
            found = coo.from_triples(np.zeros(int(ok[r].sum()), np.int64), items[r][ok[r]], scores[r][ok[r]], n_items)
            out_items[r, :len(found)] = found.items
            out_scores[r, :len(found)] = found.vals
        return cls(out_items, out_scores)

    def rows(self, codes: np.ndarray, n_items: int) -> coo.Scores:
        """Each batch row's segment list (-1 code: nothing), as one source's scores."""
        codes = np.asarray(codes)
        if self.items.size == 0:
            return coo.empty(n_items)
        safe = np.clip(codes, 0, self.items.shape[0] - 1)
        it = self.items[safe]
        ok = (it >= 0) & (codes[:, None] >= 0)
        keys = (np.arange(len(codes), dtype=np.int64)[:, None] * np.int64(n_items) + it)[ok]
        return coo.Scores(keys, self.scores[safe][ok], n_items)


@dataclass
class CandidateSet:
    """Merged candidates sorted by (batch row, item); ``scores`` has one column per SOURCES."""

    row: np.ndarray
    item: np.ndarray
    scores: np.ndarray
    source: np.ndarray
    anchors: coo.Scores   # (row, anchor item) -> weight: explains neighbour-based candidates
    factors: np.ndarray | None = None  # (B x k) customers' PureSVD fold-in, for the collaborative feature
    relative: np.ndarray | None = None  # scores / the customer's best score of each source (0..1)

    def __len__(self) -> int:
        return len(self.row)


def candidate_priority(normed: np.ndarray) -> np.ndarray:
    """The order candidates are cut in: a customer's best relative source score, then how many sources agree."""
    return normed.max(axis=1) + 1e-3 * (normed > 0).sum(axis=1)


class CandidateGenerator:
    """Turns a fitted ``CandidateState`` into candidates."""

    def __init__(self, state: CandidateState) -> None:
        self.state = state
        self.n_items = len(state.item_ids)
        self.neighbours = {name: state.tables[name] for name in NEIGHBOUR_SOURCES if name in state.tables}
        self.inactive = np.flatnonzero(~state.item["active"].astype(bool))
        self.repeatable = state.item["repeatable"].astype(bool)
        k = state.config.user_knn_neighbours
        self.customers = CustomerNeighbours(state.history, k) if k > 0 and len(state.history.items) else None
        self.factor_search = FactorSearch(state.item_factors) if state.item_factors is not None else None
        width = max(state.config.quotas.values(), default=0)
        top_items, top_scores = state.popular
        self.segments = {name: SegmentLists.build(table, width, self.n_items) for name, table in (
            ("popular_age_band", state.tables["popular_age_band"]), ("popular_region", state.tables["popular_region"]),
            ("popular", (top_items[None, :], top_scores[None, :])))}

    # ---------------------------------------------------------------------------------------- sources
    def anchors(self, h: History, context: tuple[np.ndarray, np.ndarray] | None = None) -> coo.Scores:
        """The customer's most recent items, weighted by recency-discounted interest (row max 1); ``context``
        (rows, items) on the customer's screen now join them at weight 1, the strongest interest there is, so
        that what goes with the page's item is among the candidates."""
        rows = h.row_index()
        order = np.lexsort((-h.layers["decay"], -h.layers["last_day"], rows))
        rank = np.arange(len(rows)) - h.indptr[rows[order]]
        keep = np.sort(order[rank < self.state.config.n_anchors])
        value = np.maximum(h.layers["decay"][keep], 1e-6)
        peak = np.zeros(h.n_rows)
        np.maximum.at(peak, rows[keep], value)
        history = coo.from_triples(rows[keep], h.items[keep], value / peak[rows[keep]], self.n_items)
        if context is None or len(context[0]) == 0:
            return history
        shown = coo.from_triples(context[0], context[1], np.ones(len(context[0])), self.n_items).keys
        rest = ~np.isin(history.keys, shown)
        keys = np.concatenate([history.keys[rest], shown])
        by_key = np.argsort(keys, kind="stable")
        return coo.Scores(keys[by_key], np.concatenate([history.vals[rest], np.ones(len(shown))])[by_key],
                          self.n_items)

    def context_affinity(self, batch: CustomerBatch, cands: CandidateSet) -> np.ndarray | None:
        """How much each candidate goes with its row's context items: per table (bought together, item-kNN) the
        items' neighbour scores summed and scaled to their maximum over the row's candidates, the two tables
        added (0..2); None without context. With ``CONTEXT_SCALING = "each"``, each context item's scores are
        scaled on their own before the sum instead (an item given twice counts once)."""
        if batch.context_rows is None or len(batch.context_rows) == 0:
            return None
        keys = cands.row.astype(np.int64) * np.int64(self.n_items) + cands.item
        out = np.zeros(len(cands))
        for name in ("bought_together", "item_knn"):
            if name not in self.neighbours:
                continue
            items, scores = self.neighbours[name]
            if CONTEXT_SCALING == "together":           # the rule: the items' raw scores summed, then scaled
                near = coo.expand(batch.context_rows, np.ones(len(batch.context_rows)), batch.context_items,
                                  items, scores, self.n_items)
                value = coo.lookup(near, keys)
                peak = np.zeros(len(batch))
                np.maximum.at(peak, cands.row, value)
                out += np.divide(value, peak[cands.row], out=np.zeros(len(cands)), where=peak[cands.row] > 0)
                continue
            for row, anchor in sorted(set(zip(batch.context_rows.tolist(), batch.context_items.tolist()))):
                near = coo.expand(np.array([row]), np.ones(1), np.array([anchor]), items, scores, self.n_items)
                value = coo.lookup(near, keys)
                peak = value[cands.row == row].max(initial=0.0)
                if peak > 0:
                    out += value / peak
        return out

    def factors(self, h: History) -> np.ndarray | None:
        """Each customer's fold-in x V onto the PureSVD item factors (None when the state has none)."""
        v = self.state.item_factors
        if v is None:
            return None
        rows, items, vals = customer_vectors(h)
        out = np.zeros((h.n_rows, v.shape[1]), dtype=np.float32)
        np.add.at(out, rows, vals[:, None].astype(np.float32) * v[items])
        return out

    def _collaborative(self, factors: np.ndarray, n: int) -> coo.Scores:
        """The n items with the highest PureSVD score per customer (positive scores only). One customer (the
        serving path) is searched without scoring every item (see factor_search.py); a batch in one product."""
        if n <= 0:
            return coo.empty(self.n_items)
        if len(factors) == 1 and self.factor_search is not None:
            return self.factor_search.top(factors[0], n, self.n_items)
        scores = factors @ self.state.item_factors.T
        n = min(n, scores.shape[1])
        top = np.argpartition(-scores, n - 1, axis=1)[:, :n]
        val = np.take_along_axis(scores, top, axis=1)
        rows = np.broadcast_to(np.arange(len(scores))[:, None], top.shape)
        ok = val > 0
        return coo.from_triples(rows[ok], top[ok], val[ok], self.n_items)

    def sources(self, batch: CustomerBatch, anchors: coo.Scores,
                batch_factors: np.ndarray | None = None) -> dict[str, coo.Scores]:
        """Each source's full score list for the batch, before any quota."""
        cfg, n = self.state.config, self.n_items
        h = batch.history
        rows = h.row_index()
        bought = (h.layers["baskets"] > 0) & self.repeatable[h.items]
        out = {"repeat": coo.from_triples(rows[bought], h.items[bought], h.layers["decay"][bought], n)}
        a_rows, a_items = anchors.rows, anchors.items
        for name, (items, scores) in self.neighbours.items():
            out[name] = coo.expand(a_rows, anchors.vals, a_items, items, scores, n)
        out["category"] = self._category(h, rows)
        if self.customers is not None:
            out["user_knn"] = self.customers.scores(h, batch.rows)
        if batch_factors is not None:
            out["collaborative"] = self._collaborative(batch_factors, cfg.quotas.get("collaborative", 0))
        for name, codes in (("popular_age_band", batch.age), ("popular_region", batch.region),
                            ("popular", np.zeros(len(batch), np.int64))):
            out[name] = self.segments[name].rows(codes, n)
        return out

    def _category(self, h: History, rows: np.ndarray) -> coo.Scores:
        """Top items of the customer's favourite categories, weighted by the category's share."""
        st = self.state
        n_cat = max(len(st.categories), 1)
        cat = st.item["category"][h.items]
        ok = cat >= 0
        shares = coo.from_triples(rows[ok], cat[ok], h.layers["weight"][ok], n_cat)
        if len(shares) == 0:
            return coo.empty(self.n_items)
        total = np.bincount(shares.rows, weights=shares.vals, minlength=h.n_rows)
        shares = coo.Scores(shares.keys, shares.vals / total[shares.rows], n_cat)
        fav = coo.top_n(shares, st.config.n_categories)
        items, scores = st.tables["category_items"]
        return coo.expand(fav.rows, fav.vals, fav.items, items, scores, self.n_items)

    # ------------------------------------------------------------------------------------------ merge
    def generate(self, batch: CustomerBatch) -> CandidateSet:
        """All sources, merged per customer, exclusions applied, cut to ``max_candidates``.

        A source's quota decides which items it proposes; the score columns, though, hold every source's
        score for every candidate (an item proposed as popular still carries its bought-together score),
        which is what lets the ranker weigh the evidence.
        """
        cfg = self.state.config
        context = None if batch.context_rows is None else (batch.context_rows, batch.context_items)
        anchors = self.anchors(batch.history, context)
        factors = self.factors(batch.history)
        full = {name: s for name, s in self.sources(batch, anchors, factors).items() if len(s)}
        proposed = [coo.top_n(s, cfg.quotas.get(name, 0)).keys for name, s in full.items()]
        forced = np.zeros(0, np.int64)
        if batch.include_rows is not None and len(batch.include_rows):
            forced = batch.include_rows.astype(np.int64) * self.n_items + batch.include_items
            proposed.append(forced)
        keys = np.unique(np.concatenate(proposed)) if proposed else np.zeros(0, np.int64)
        keys = keys[~np.isin(keys, self._excluded_keys(batch))]
        row = keys // self.n_items
        scores = np.zeros((len(keys), len(SOURCES)), np.float32)
        normed = np.zeros((len(keys), len(SOURCES)), np.float32)
        for name, s in full.items():
            k = SOURCE_INDEX[name]
            scores[:, k] = coo.lookup(s, keys)
            peak = coo.row_max(s, len(batch))[row]
            normed[:, k] = scores[:, k] / np.where(peak > 0, peak, 1.0)
        if len(row) and np.bincount(row).max() > cfg.max_candidates:
            priority = candidate_priority(normed).astype(np.float64) + 1e-9
            priority[np.isin(keys, forced)] = np.inf          # included items survive the cut
            cut = coo.top_n(coo.Scores(keys, priority, self.n_items), cfg.max_candidates)
            keep = np.isin(keys, cut.keys)
            keys, row, scores, normed = keys[keep], row[keep], scores[keep], normed[keep]
        return CandidateSet(row, (keys % self.n_items).astype(np.int32), scores,
                            normed.argmax(axis=1).astype(np.int8), anchors, factors, normed)

    def _excluded_keys(self, batch: CustomerBatch) -> np.ndarray:
        """Keys (row * n_items + item) nobody should be shown: bought non-repeatable, inactive, asked."""
        h, n = batch.history, np.int64(self.n_items)
        done = (h.layers["baskets"] > 0) & ~self.repeatable[h.items]
        parts = [h.row_index()[done] * n + h.items[done]]
        if len(self.inactive):
            parts.append((np.arange(len(batch))[:, None] * n + self.inactive[None, :]).ravel())
        if batch.exclude_rows is not None and len(batch.exclude_rows):
            parts.append(batch.exclude_rows.astype(np.int64) * n + batch.exclude_items)
        return np.concatenate(parts)

    # ---------------------------------------------------------------------------------------- reasons
    def reasons(self, batch: CustomerBatch, cands: CandidateSet, indices: np.ndarray) -> list[tuple[str, Any]]:
        """``[self.reason(batch, cands, i) for i in indices]``, with the neighbour anchors searched once per
        (source, row) for all the indices instead of once per index (the answer's 80 proposals cost ~0.6 ms
        one at a time)."""
        indices = np.asarray(indices, dtype=np.int64)
        out: list[tuple[str, Any] | None] = [None] * len(indices)
        names = cands.source[indices]
        todo = []
        for name, items in self.neighbours.items():
            pick = np.flatnonzero(names == SOURCE_INDEX[name])
            if len(pick):
                todo.append((name, items, pick))
        if todo:
            a = cands.anchors
            a_rows = a.rows
            a_items = a.items
            for name, (items, scores), pick in todo:
                rows = cands.row[indices[pick]]
                for row in np.unique(rows):
                    at = pick[rows == row]
                    mine = a_rows == row
                    anchor_items, weights = a_items[mine], a.vals[mine]
                    anchors = self._best_anchors(anchor_items, weights, items, scores,
                                                 cands.item[indices[at]].astype(np.int64))
                    for slot, anchor in zip(at.tolist(), anchors):
                        out[slot] = (name, anchor)
        st = self.state
        rows, items = cands.row[indices].tolist(), cands.item[indices].tolist()
        for slot, (code, row, item) in enumerate(zip(names.tolist(), rows, items)):
            if out[slot] is not None:
                continue
            name = SOURCES[code]                       # the rest as in ``reason``
            if name == "category":
                category = st.item["category"][item]
                out[slot] = (name, str(st.categories[category]) if category >= 0 else None)
            elif name == "popular_age_band":
                out[slot] = (name, str(st.age_bands[batch.age[row]]))
            elif name == "popular_region":
                out[slot] = (name, str(st.regions[batch.region[row]]))
            else:
                out[slot] = (name, None)
        return out  # type: ignore[return-value]

    def _best_anchors(self, anchor_items: np.ndarray, weights: np.ndarray, items: np.ndarray, scores: np.ndarray,
                      wanted: np.ndarray) -> list[str | None]:
        """For each wanted item, the id of the anchor contributing most to it through the table (None: none);
        the same sums and first-maximum as ``reason``."""
        if len(anchor_items) == 0:
            return [None] * len(wanted)
        table_items, table_scores = items[anchor_items], scores[anchor_items]          # (A x W)
        hits = table_items[None, :, :] == wanted[:, None, None]                        # (M x A x W)
        contrib = weights[None, :] * np.where(hits, table_scores[None, :, :], 0.0).sum(axis=2)
        best = np.argmax(contrib, axis=1)
        ok = contrib.max(axis=1) > 0
        ids = self.state.item_ids
        return [str(ids[anchor_items[b]]) if good else None for b, good in zip(best.tolist(), ok.tolist())]

    def reason(self, batch: CustomerBatch, cands: CandidateSet, index: int) -> tuple[str, Any]:
        """A reason seed for one candidate: (source, anchor item / segment / category / None)."""
        name = SOURCES[int(cands.source[index])]
        row, item = int(cands.row[index]), int(cands.item[index])
        st = self.state
        if name in self.neighbours:
            a = cands.anchors
            mine = a.rows == row
            anchor_items, weights = a.items[mine], a.vals[mine]
            items, scores = self.neighbours[name]
            contrib = weights * np.where(items[anchor_items] == item, scores[anchor_items], 0.0).sum(axis=1)
            anchor = int(anchor_items[int(np.argmax(contrib))]) if len(contrib) and contrib.max() > 0 else -1
            return name, (str(st.item_ids[anchor]) if anchor >= 0 else None)
        if name == "category":
            code = st.item["category"][item]
            return name, (str(st.categories[code]) if code >= 0 else None)
        if name == "popular_age_band":
            return name, str(st.age_bands[batch.age[row]])
        if name == "popular_region":
            return name, str(st.regions[batch.region[row]])
        return name, None
