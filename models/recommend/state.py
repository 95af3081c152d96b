"""Fitted candidate-generator state: catalogue, customers, history, popularity and neighbour tables.

Everything the candidate sources and the features read at serving time lives here, as plain numpy
arrays, so that one ``save`` writes a JSON file plus one ``.npz`` (no pickle: a model folder can be
inspected and loaded without executing code) and ``load`` gives back exactly the same rankings.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from features.profiles.builder import build_profiles
from features.profiles.definitions import numeric_feature_names
from models.recommend.config import RecommendConfig
from models.recommend.history import (History, Interactions, build_history, naive_utc,
                                      prepare_interactions, to_days)
from models.recommend import tables as fit_tables

#: Profile fields the ranker reads. Taste and activity only: the risk fields (devices, IPs, payment
#: velocity) say nothing about what a customer wants to buy and would only add noise.
PROFILE_FEATURES: tuple[str, ...] = (
    "days_since_last_order", "days_since_last_event", "orders_total", "spend_total", "avg_order_value",
    "tenure_days", "spend_30d", "orders_30d", "orders_90d", "views_30d", "cart_adds_30d",
    "view_to_purchase_rate", "distinct_items_purchased", "repeat_purchase_rate", "avg_unit_price",
    "refund_rate", "chat_messages_total", "sentiment_trend",
)
_unknown = set(PROFILE_FEATURES) - set(numeric_feature_names())
if _unknown:
    raise ValueError(f"PROFILE_FEATURES not in the profile catalogue: {sorted(_unknown)}")

#: Neighbour tables saved as (items, scores) padded pairs.
TABLES: tuple[str, ...] = ("bought_together", "item_knn", "similar_text", "popular_age_band",
                           "popular_region", "category_items")


@dataclass
class CandidateState:
    """Arrays of a fitted candidate generator (see ``fit_state``); ``tables`` hold padded top-n lists."""

    config: RecommendConfig
    as_of: pd.Timestamp
    item_ids: np.ndarray
    categories: np.ndarray
    item: dict[str, np.ndarray]          # per-item arrays (category code, price, popularity, ...)
    customer_ids: np.ndarray
    age_bands: np.ndarray
    regions: np.ndarray
    customer: dict[str, np.ndarray]      # per-customer arrays (age/region codes, avg price)
    profile: np.ndarray                  # (customers x PROFILE_FEATURES) float32
    history: History
    popular: tuple[np.ndarray, np.ndarray]
    tables: dict[str, tuple[np.ndarray, np.ndarray]]
    segment_share: dict[str, np.ndarray] = field(default_factory=dict)  # segment x item, recent share
    item_factors: np.ndarray | None = None  # (items x k) PureSVD right singular vectors
    embeddings: np.ndarray | None = None
    _lookups: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def as_of_day(self) -> float:
        return float(to_days(self.as_of))

    @property
    def item_index(self) -> pd.Index:
        if "item" not in self._lookups:
            self._lookups["item"] = pd.Index(self.item_ids)
        return self._lookups["item"]

    @property
    def customer_index(self) -> pd.Index:
        if "customer" not in self._lookups:
            self._lookups["customer"] = pd.Index(self.customer_ids)
        return self._lookups["customer"]

    def code_of(self, kind: str, label: str) -> int:
        """The code of one label (-1 when unknown), as ``pd.Index(labels).get_indexer([label])[0]`` gives it.

        ``kind``: "customer", "item", "age_band" or "region". A dict built once per state: pandas' get_indexer
        costs ~0.1 ms a call on a one-element list (0.2 ms building an Index), and the serving path looks up
        several labels per request.
        """
        key = f"{kind}_codes"
        codes = self._lookups.get(key)
        if codes is None:
            labels = {"customer": self.customer_ids, "item": self.item_ids, "age_band": self.age_bands,
                      "region": self.regions}[kind]
            codes = {label: code for code, label in enumerate(labels.tolist())}
            if len(codes) != len(labels):     # get_indexer refuses duplicated labels too
                raise ValueError(f"the state's {kind} labels are not unique")
            self._lookups[key] = codes
        return codes.get(label, -1)

    # ------------------------------------------------------------------------------------- persistence
    def save(self, folder: str | Path) -> None:
        """``state.json`` (config, time, names) + ``state.npz`` (every array); no pickle."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        arrays: dict[str, np.ndarray] = {
            "item_ids": self.item_ids.astype(str), "categories": self.categories.astype(str),
            "customer_ids": self.customer_ids.astype(str), "age_bands": self.age_bands.astype(str),
            "regions": self.regions.astype(str), "profile": self.profile,
            "history_indptr": self.history.indptr, "history_items": self.history.items,
            "popular_items": self.popular[0], "popular_scores": self.popular[1],
        }
        arrays.update({f"item__{k}": v for k, v in self.item.items()})
        arrays.update({f"customer__{k}": v for k, v in self.customer.items()})
        arrays.update({f"history__{k}": v for k, v in self.history.layers.items()})
        for name, (items, scores) in self.tables.items():
            arrays[f"table__{name}__items"] = items
            arrays[f"table__{name}__scores"] = scores
        arrays.update({f"segment__{k}": v for k, v in self.segment_share.items()})
        if self.item_factors is not None:
            arrays["item_factors"] = self.item_factors
        if self.embeddings is not None:
            arrays["embeddings"] = self.embeddings
        np.savez(folder / "state.npz", **arrays)
        meta = {"config": self.config.to_dict(), "as_of": self.as_of.isoformat(),
                "profile_features": list(PROFILE_FEATURES), "n_items": len(self.item_ids),
                "n_customers": len(self.customer_ids), "history_entries": int(len(self.history.items)),
                "has_embeddings": self.embeddings is not None}
        (folder / "state.json").write_text(json.dumps(meta, indent=2))

    @classmethod
    def load(cls, folder: str | Path) -> "CandidateState":
        folder = Path(folder)
        meta = json.loads((folder / "state.json").read_text())
        if meta["profile_features"] != list(PROFILE_FEATURES):
            raise ValueError("the saved state was built with a different profile feature list")
        with np.load(folder / "state.npz", allow_pickle=False) as z:
            a = {k: z[k] for k in z.files}
        n_items = len(a["item_ids"])
        tables = {k.split("__")[1]: (a[k], a[k.replace("__items", "__scores")])
                  for k in a if k.startswith("table__") and k.endswith("__items")}
        return cls(
            config=RecommendConfig.from_dict(meta["config"]), as_of=pd.Timestamp(meta["as_of"]),
            item_ids=a["item_ids"].astype(object), categories=a["categories"].astype(object),
            item={k[6:]: v for k, v in a.items() if k.startswith("item__")},
            customer_ids=a["customer_ids"].astype(object), age_bands=a["age_bands"].astype(object),
            regions=a["regions"].astype(object),
            customer={k[10:]: v for k, v in a.items() if k.startswith("customer__")},
            profile=a["profile"],
            history=History(a["history_indptr"], a["history_items"],
                            {k[9:]: v for k, v in a.items() if k.startswith("history__")}, n_items),
            popular=(a["popular_items"], a["popular_scores"]), tables=tables,
            segment_share={k[9:]: v for k, v in a.items() if k.startswith("segment__")},
            item_factors=a.get("item_factors"), embeddings=a.get("embeddings"),
        )


# ------------------------------------------------------------------------------------------ catalogue
def _catalogue(items: pd.DataFrame | None, events: pd.DataFrame) -> pd.DataFrame:
    """One row per item (catalogue first, then items seen only in events), defaults filled."""
    cols = ["item_id", "category", "price", "active", "repeatable"]
    cat = (items.reindex(columns=cols) if items is not None else pd.DataFrame(columns=cols))
    cat = cat.dropna(subset=["item_id"]).drop_duplicates("item_id", keep="last")
    cat["item_id"] = cat["item_id"].astype(str)
    seen = pd.Index(events["item_id"].dropna().astype(str).unique()).difference(pd.Index(cat["item_id"]))
    if len(seen):
        cat = pd.concat([cat, pd.DataFrame({"item_id": np.asarray(seen)})], ignore_index=True)
    cat["price"] = pd.to_numeric(cat["price"], errors="coerce").astype(float)
    cat["active"] = cat["active"].map(lambda v: True if pd.isna(v) else bool(v)).astype(bool)
    cat["repeatable"] = cat["repeatable"].map(lambda v: True if pd.isna(v) else bool(v)).astype(bool)
    return cat.reset_index(drop=True)


def _customers(customers: pd.DataFrame | None, events: pd.DataFrame) -> pd.DataFrame:
    cols = ["customer_id", "age_band", "region"]
    cu = customers.reindex(columns=cols) if customers is not None else pd.DataFrame(columns=cols)
    cu = cu.dropna(subset=["customer_id"]).drop_duplicates("customer_id", keep="last")
    cu["customer_id"] = cu["customer_id"].astype(str)
    seen = pd.Index(events["customer_id"].dropna().astype(str).unique()).difference(pd.Index(cu["customer_id"]))
    if len(seen):
        cu = pd.concat([cu, pd.DataFrame({"customer_id": np.asarray(seen)})], ignore_index=True)
    return cu.reset_index(drop=True)


def _codes(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Integer codes (-1 for missing) and the sorted labels, as strings."""
    s = values.astype(object).where(values.notna(), None)
    labels = np.array(sorted({str(v) for v in s if v is not None}), dtype=object)
    index = pd.Index(labels)
    codes = index.get_indexer([None if v is None else str(v) for v in s]).astype(np.int32)
    return codes, labels


# ------------------------------------------------------------------------------------------------ fit
def fit_state(events: pd.DataFrame, items: pd.DataFrame | None, customers: pd.DataFrame | None,
              as_of: object, config: RecommendConfig | None = None, embeddings: np.ndarray | None = None,
              profiles: pd.DataFrame | None = None) -> CandidateState:
    """Fit every candidate table from events known at ``as_of`` (ts <= as_of).

    ``embeddings`` (n_items x d, aligned with ``items`` rows, L2-normalised) feeds the text source and the
    embedding-similarity feature; ``profiles`` (``build_profiles`` output indexed by customer_id) is
    computed from the events when not given.
    """
    config = config or RecommendConfig()
    as_of = naive_utc(as_of)
    events = events.assign(customer_id=events["customer_id"].astype(str),
                           item_id=events["item_id"].astype(str).where(events["item_id"].notna(), None))
    catalogue = _catalogue(items, events)
    people = _customers(customers, events)
    item_index = pd.Index(catalogue["item_id"])
    customer_index = pd.Index(people["customer_id"])
    n_items, n_customers = len(item_index), len(customer_index)
    x = prepare_interactions(events, customer_index, item_index, as_of, config.event_weights)
    as_of_day = float(to_days(as_of))
    history = build_history(x, n_customers, n_items, as_of_day, config.decay_half_life_days)

    category, categories = _codes(catalogue["category"])
    price = _fill_prices(catalogue["price"].to_numpy(dtype=float), x, n_items)
    item = fit_tables.item_arrays(x, history, category, len(categories), price, as_of_day, config)
    item["active"] = catalogue["active"].to_numpy(dtype=bool)
    item["repeatable"] = catalogue["repeatable"].to_numpy(dtype=bool)
    age, age_bands = _codes(people["age_band"])
    region, regions = _codes(people["region"])
    customer = {"age": age, "region": region, "avg_price": customer_avg_price(x, price, n_customers),
                "orders": customer_orders(x, n_customers)}

    recent = x.day > as_of_day - config.popular_window_days
    # Inactive items are never shown, so they must not take slots in the popularity lists.
    active = item["active"]
    score = item[f"pop_{config.popular_window_days}d_window"] * active
    n_pop = max(config.quotas.values())
    popular_items = np.argsort(-score, kind="stable")[:n_pop].astype(np.int32)
    popular = (popular_items, (score[popular_items] / max(score.max(initial=0), 1e-12)).astype(np.float32))
    tables = {
        "popular_age_band": fit_tables.segment_popular(x, age, len(age_bands), recent, active, n_pop),
        "popular_region": fit_tables.segment_popular(x, region, len(regions), recent, active, n_pop),
        "category_items": fit_tables.category_items(category, len(categories), score, config.n_category_items),
        "bought_together": fit_tables.bought_together(x, n_items, config),
        "item_knn": fit_tables.item_knn(history, config),
    }
    emb = None
    if embeddings is not None:
        emb = _align_embeddings(embeddings, items, item_index)
        tables["similar_text"] = fit_tables.text_neighbours(emb, config.n_text_neighbours)
    profile = _profile_matrix(events, customers, items, as_of, profiles, customer_index)
    segment_share = {"age_band": fit_tables.segment_share(x, age, len(age_bands), recent, n_items),
                     "region": fit_tables.segment_share(x, region, len(regions), recent, n_items)}
    return CandidateState(config, as_of, np.asarray(item_index, dtype=object), categories, item,
                          np.asarray(customer_index, dtype=object), age_bands, regions, customer, profile,
                          history, popular, tables, segment_share,
                          fit_tables.item_factors(history, config.svd_factors), emb)


def _fill_prices(price: np.ndarray, x: Interactions, n_items: int) -> np.ndarray:
    """Catalogue price, else the median unit price paid (amount / quantity) for the item."""
    ok = x.purchase & ~np.isnan(x.amount) & (x.quantity > 0)
    if ok.any():
        paid = pd.Series(x.amount[ok] / x.quantity[ok]).groupby(x.item[ok]).median()
        fallback = paid.reindex(np.arange(n_items)).to_numpy()
        price = np.where(np.isnan(price), fallback, price)
    return price


def customer_orders(x: Interactions, n_customers: int) -> np.ndarray:
    """Distinct purchase baskets per customer."""
    pairs = np.unique(np.stack([x.customer[x.purchase], x.basket[x.purchase]], axis=1), axis=0)
    return np.bincount(pairs[:, 0], minlength=n_customers).astype(float) if len(pairs) else np.zeros(n_customers)


def customer_avg_price(x: Interactions, price: np.ndarray, n_customers: int) -> np.ndarray:
    """Spend / units over purchases (catalogue price when a line has no amount); NaN without purchases."""
    p = x.purchase
    amount = np.where(np.isnan(x.amount[p]), x.quantity[p] * price[x.item[p]], x.amount[p])
    ok = ~np.isnan(amount)
    spend = np.bincount(x.customer[p][ok], weights=amount[ok], minlength=n_customers)
    units = np.bincount(x.customer[p][ok], weights=x.quantity[p][ok], minlength=n_customers)
    return np.divide(spend, units, out=np.full(n_customers, np.nan), where=units > 0)


def _align_embeddings(embeddings: np.ndarray, items: pd.DataFrame | None, item_index: pd.Index) -> np.ndarray:
    """Rows of ``embeddings`` follow ``items``; reorder onto the state's item index (zeros when missing)."""
    emb = np.asarray(embeddings, dtype=np.float32)
    if items is None or len(items) != len(emb):
        raise ValueError("embeddings must have one row per row of items")
    out = np.zeros((len(item_index), emb.shape[1]), dtype=np.float32)
    pos = item_index.get_indexer(items["item_id"].astype(str))
    out[pos[pos >= 0]] = emb[pos >= 0]
    return out


def _profile_matrix(events: pd.DataFrame, customers: pd.DataFrame | None, items: pd.DataFrame | None,
                    as_of: pd.Timestamp, profiles: pd.DataFrame | None, index: pd.Index) -> np.ndarray:
    if profiles is None:
        profiles = build_profiles(events, customers, items, None, as_of)
    frame = profiles.reindex(columns=list(PROFILE_FEATURES))
    frame.index = frame.index.astype(str)
    return frame.reindex(index).to_numpy(dtype=np.float32)


