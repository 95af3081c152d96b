"""Customer segments: KMeans on recency/frequency/monetary/tenure, with readable, data-derived labels.

Segments are a coarse, explainable view of the customer base for agents and dashboards ("at risk",
"champions"), and a categorical input for models. The fitted state is a few numbers (scaling + centres +
labels), so it round-trips through JSON with ``to_dict``/``from_dict`` and the service never unpickles.
Prediction is a nearest-centre lookup done here in numpy, so a restored segmenter needs no KMeans object.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy.optimize import linear_sum_assignment
from sklearn.base import BaseEstimator
from sklearn.cluster import KMeans

#: Profile columns clustered, log1p-scaled then standardised: recency, frequency, monetary, tenure.
SEGMENT_INPUTS: tuple[str, ...] = ("days_since_last_order", "orders_total", "spend_total", "tenure_days")
PROSPECTS_ID = 0
PROSPECTS_LABEL = "prospects"
#: Label of the single segment buyers get when the segmenter was fitted without any buyer.
UNCLUSTERED_LABEL = "customers"
#: Label -> prototype centre in standardised (recency, frequency, monetary, tenure) units (std devs from the
#: buyers' mean; recency is days since the last order, so high = long ago). Clusters and labels are matched
#: one-to-one by least total squared distance, so every label is used at most once and means "the cluster
#: closest to this description", relative to this customer base.
LABEL_PROTOTYPES: dict[str, tuple[float, float, float, float]] = {
    "champions": (-1.0, 1.2, 1.2, 0.3),        # recent, frequent, big spend
    "loyal regulars": (0.0, 1.0, 0.7, 0.7),    # frequent over a long tenure
    "new customers": (-0.8, -1.0, -0.8, -2.0),  # recent, short tenure, few orders yet
    "at risk": (1.2, 0.6, 0.6, 0.5),           # used to buy a lot, not lately
    "dormant": (1.5, -1.0, -1.0, 0.5),         # long gone, little history
    "occasional": (0.3, -0.5, -0.5, 0.0),      # a little below average on everything
    "big spenders": (0.0, -0.5, 1.2, 0.0),     # few but large orders
    "one-time buyers": (0.5, -1.5, -0.8, 0.0),
}
_FORMAT = "kefu.segmenter/1"


class Segmenter(BaseEstimator):
    """Assigns each customer a segment id (0 = prospects, 1..k = clusters by decreasing value) and label.

    Customers without orders have no recency or basket to cluster on, so they are "prospects" and never
    enter KMeans. ``k`` shrinks to the number of distinct buyers when there are fewer than ``n_segments``.
    """

    def __init__(self, n_segments: int = 5, random_state: int = 0) -> None:
        self.n_segments = n_segments
        self.random_state = random_state

    # ------------------------------------------------------------------------------------------ fitting
    def fit(self, profiles: pd.DataFrame, y: Any = None) -> Segmenter:
        """Learn scaling, cluster centres and labels from the buyers in ``profiles``."""
        if self.n_segments < 1:
            raise ValueError("n_segments must be >= 1")
        raw = _log_inputs(profiles)[_is_buyer(profiles)]
        self.mean_ = raw.mean(axis=0) if len(raw) else np.zeros(len(SEGMENT_INPUTS))
        scale = raw.std(axis=0) if len(raw) else np.ones(len(SEGMENT_INPUTS))
        self.scale_ = np.where(scale > 0, scale, 1.0)
        X = self._standardise(raw)
        k = min(self.n_segments, len(np.unique(X, axis=0)))
        if k == 0:
            centres = np.empty((0, len(SEGMENT_INPUTS)))
        else:
            km = KMeans(n_clusters=k, n_init=10, random_state=self.random_state).fit(X)
            centres = km.cluster_centers_
        # Stable, meaningful ids: 1 is the most valuable cluster (frequent, big, recent).
        value = centres[:, 1] + centres[:, 2] - centres[:, 0]
        self.cluster_centers_ = centres[np.argsort(-value, kind="stable")]
        self.labels_ = {PROSPECTS_ID: PROSPECTS_LABEL, **_label_clusters(self.cluster_centers_)}
        return self

    def predict(self, profiles: pd.DataFrame) -> np.ndarray:
        """Segment id per row: nearest centre for buyers, PROSPECTS_ID for customers without orders."""
        buyer = _is_buyer(profiles)
        ids = np.full(len(profiles), PROSPECTS_ID, dtype=np.int64)
        if not buyer.any():
            return ids
        if len(self.cluster_centers_) == 0:
            ids[buyer] = PROSPECTS_ID + 1
            return ids
        X = self._standardise(_log_inputs(profiles)[buyer])
        distances = ((X[:, None, :] - self.cluster_centers_[None, :, :]) ** 2).sum(axis=2)
        ids[buyer] = np.argmin(distances, axis=1) + PROSPECTS_ID + 1
        return ids

    def fit_predict(self, profiles: pd.DataFrame, y: Any = None) -> np.ndarray:
        return self.fit(profiles).predict(profiles)

    def assign(self, profiles: pd.DataFrame) -> pd.DataFrame:
        """A copy of ``profiles`` with ``segment_id`` and ``segment`` filled in."""
        out = profiles.copy()
        ids = self.predict(profiles)
        out["segment_id"] = ids
        out["segment"] = pd.Series([self.labels_[i] for i in ids], index=out.index, dtype=object)
        return out

    def _standardise(self, raw: np.ndarray) -> np.ndarray:
        X = (raw - self.mean_) / self.scale_
        return np.nan_to_num(X, nan=0.0)  # an unknown input sits at the average, not at an extreme

    # ------------------------------------------------------------------------------------ persistence
    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable fitted state (floats survive JSON exactly, so predictions are identical)."""
        return {
            "format": _FORMAT,
            "params": {"n_segments": int(self.n_segments), "random_state": int(self.random_state)},
            "inputs": list(SEGMENT_INPUTS),
            "mean_": [float(v) for v in self.mean_],
            "scale_": [float(v) for v in self.scale_],
            "cluster_centers_": [[float(v) for v in row] for row in self.cluster_centers_],
            "labels_": {str(k): v for k, v in self.labels_.items()},
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Segmenter:
        """Rebuild a fitted segmenter from ``to_dict`` output."""
        if d.get("format") != _FORMAT or tuple(d.get("inputs", ())) != SEGMENT_INPUTS:
            raise ValueError(f"not a {_FORMAT} segmenter for inputs {SEGMENT_INPUTS}")
        seg = cls(**d["params"])
        seg.mean_ = np.asarray(d["mean_"], dtype=float)
        seg.scale_ = np.asarray(d["scale_"], dtype=float)
        seg.cluster_centers_ = np.asarray(d["cluster_centers_"], dtype=float).reshape(-1, len(SEGMENT_INPUTS))
        seg.labels_ = {int(k): v for k, v in d["labels_"].items()}
        return seg


def _is_buyer(profiles: pd.DataFrame) -> np.ndarray:
    return (pd.to_numeric(profiles["orders_total"], errors="coerce").fillna(0) > 0).to_numpy()


def _log_inputs(profiles: pd.DataFrame) -> np.ndarray:
    """log1p of the inputs: spend and frequency are heavy-tailed, and KMeans wants roughly even spreads."""
    missing = [c for c in SEGMENT_INPUTS if c not in profiles]
    if missing:
        raise KeyError(f"profiles lack segment inputs {missing}")
    values = profiles[list(SEGMENT_INPUTS)].apply(pd.to_numeric, errors="coerce").to_numpy(dtype=float)
    return np.log1p(np.clip(values, 0, None))


def _label_clusters(centres: np.ndarray) -> dict[int, str]:
    """Unique readable labels for cluster ids 1..k: the closest one-to-one match to LABEL_PROTOTYPES."""
    if len(centres) == 0:
        return {PROSPECTS_ID + 1: UNCLUSTERED_LABEL}
    names = list(LABEL_PROTOTYPES)
    prototypes = np.asarray([LABEL_PROTOTYPES[name] for name in names])
    cost = ((centres[:, None, :] - prototypes[None, :, :]) ** 2).sum(axis=2)  # (k, labels)
    rows, cols = linear_sum_assignment(cost)
    labels = {PROSPECTS_ID + 1 + int(r): names[c] for r, c in zip(rows, cols)}
    for i in range(len(centres)):  # more clusters than rules
        labels.setdefault(PROSPECTS_ID + 1 + i, f"segment {PROSPECTS_ID + 1 + i}")
    return dict(sorted(labels.items()))
