"""Recommendations: candidate sources + a LightGBM LambdaRank ranker, and their evaluation.

The service needs three things from here::

    from models.recommend import Recommender, train_recommender, time_period
    rec = Recommender.load(folder)                   # model.txt + recommender.json + state.json + state.npz
    rec.rank(customer_id, k=10, exclude=[...])       # -> list[Recommendation(item_id, score, source, reason)]
    rec.propose(customer_id, k=50)                   # the same, reasons worked out only for positions asked
    rec.refresh(events, items, customers, as_of)     # nightly: same ranker, candidate tables refitted

Training (offline): ``train_recommender(items, customers, train_periods, valid_period, events, as_of)``
with periods from ``time_period`` (or ``holdout_last_fraction`` for per-user splits).
"""
from __future__ import annotations

from models.recommend.config import SOURCES, RecommendConfig
from models.recommend.recommender import MODEL_NAME, Proposals, Recommendation, Recommender
from models.recommend.state import PROFILE_FEATURES, CandidateState, fit_state
from models.recommend.training import LabelPeriod, holdout_last_fraction, time_period, train_recommender

__all__ = [
    "MODEL_NAME", "PROFILE_FEATURES", "SOURCES", "CandidateState", "LabelPeriod", "Proposals", "Recommendation",
    "RecommendConfig", "Recommender", "fit_state", "holdout_last_fraction", "time_period", "train_recommender",
]
