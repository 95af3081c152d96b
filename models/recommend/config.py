"""Settings of the recommender, kept as one frozen value that is saved beside the model.

A fitted model must be refreshed (nightly) with the same source sizes and windows it was trained with,
or the features the booster sees would drift; storing the config in the artifact makes that automatic.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

#: Candidate sources in priority order: when two sources give an item the same normalised score, the
#: earlier one is named as its ``source`` (a personal reason beats a crowd reason).
SOURCES: tuple[str, ...] = (
    "repeat",
    "bought_together",
    "similar_text",
    "item_knn",
    "user_knn",
    "collaborative",
    "category",
    "popular_age_band",
    "popular_region",
    "popular",
)

#: How much one event of each type says about interest in an item (refunds and removals say nothing).
DEFAULT_EVENT_WEIGHTS: dict[str, float] = {"purchase": 1.0, "add_to_cart": 0.5, "view": 0.2}

DEFAULT_QUOTAS: dict[str, int] = {
    "repeat": 200,
    "bought_together": 200,
    "similar_text": 100,
    "item_knn": 200,
    "user_knn": 200,
    "collaborative": 100,
    "category": 150,
    "popular_age_band": 50,
    "popular_region": 50,
    "popular": 100,
}


@dataclass(frozen=True)
class RecommendConfig:
    """Sizes and windows of the candidate sources and features (all documented in the model's JSON)."""

    quotas: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_QUOTAS))
    max_candidates: int = 1000
    event_weights: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_EVENT_WEIGHTS))
    #: "popular now": the window the popular sources count over.
    popular_window_days: int = 30
    #: Windows of the item popularity features.
    popularity_windows_days: tuple[int, ...] = (7, 30)
    #: Neighbours kept per item for bought-together / item-kNN / text similarity.
    n_neighbours: int = 50
    n_text_neighbours: int = 30
    #: Shrinkage of the co-occurrence cosine (see sparse.cooccurrence_topn).
    cooc_shrink: float = 2.0
    #: Items of the customer (most recent first) whose neighbours become candidates.
    n_anchors: int = 30
    #: Favourite categories of a customer that feed the category source, and items kept per category.
    n_categories: int = 5
    n_category_items: int = 60
    #: Half-life of the recency-weighted interaction counts.
    decay_half_life_days: float = 30.0
    #: A customer's items used for item-kNN co-occurrence (most recent first): caps the cost of heavy users.
    knn_max_items_per_customer: int = 200
    #: Neighbours per customer of the "user_knn" source (customers who shop alike; 0 disables it).
    user_knn_neighbours: int = 300
    #: Rank of the PureSVD factorisation behind the "collaborative" source (0 disables it).
    svd_factors: int = 48
    #: Weight of the repeat-purchase prior added to the ranker's score (see ``features.repeat_prior``), both
    #: scaled by their spread on the validation candidates; only for catalogues with repeatable items. 0.25 since
    #: session 15 (with the units and price-paid features): January check 0.1177 against 0.1173 at 0.5, seeds 7-9.
    prior_weight: float = 0.25

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["popularity_windows_days"] = list(self.popularity_windows_days)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "RecommendConfig":
        known = {f.name for f in fields(cls)}
        kwargs = {k: v for k, v in data.items() if k in known}
        if "popularity_windows_days" in kwargs:
            kwargs["popularity_windows_days"] = tuple(kwargs["popularity_windows_days"])
        return cls(**kwargs)
