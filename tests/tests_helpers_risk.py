"""A synthetic labelled table with a known signal, for risk tests, and its trained model shared by them."""
from __future__ import annotations

from datetime import timedelta
from functools import lru_cache

import numpy as np
import pandas as pd


def table(n: int = 800, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    amount = rng.gamma(2.0, 40.0, n)
    country = rng.choice(["US", "DE", "XX"], n, p=[0.6, 0.3, 0.1])
    hour = rng.integers(0, 24, n)
    logit = -3 + 0.02 * amount + 2.0 * (country == "XX") + 0.8 * (hour < 5)
    label = rng.random(n) < 1 / (1 + np.exp(-logit))
    return pd.DataFrame({"amount": amount.round(2), "country": country, "hour": hour, "is_bad": label.astype(int)})


@lru_cache(maxsize=None)
def fitted_table_model(seed: int = 0):
    """`train_risk_model` on ``table(seed=seed)``, run once per test session and per seed: training (~1 s here)
    was most of the set-up of the risk API tests, which only need a real model of this table in their own
    registry (see `publish`). Tests must read the result, never change it."""
    from models.risk.table import train_risk_model

    return train_risk_model(table(seed=seed), "is_bad", seed=seed)


def publish(app, name: str = "cards", seed: int = 0):
    """The session's model of ``table(seed=seed)`` saved as a new version of `name` in the app's registry
    (activated), as `models.risk.job.train_and_register` saves one, without writing the evaluation report."""
    from models.risk.job import TrainedRiskModel, register_result

    result = fitted_table_model(seed)
    version = register_result(result, registry=app.extensions["kefu"].extras["registry"], name=name, label="is_bad")
    return TrainedRiskModel(version, None, result)


_PAYMENT_MODELS: dict = {}


def publish_payments_model(state, name: str = "transactions"):
    """What `service.demo.train_transactions_model` publishes for the stored payments, with the training run once
    per distinct payments table in the session (a demo shop of one seed is the same table every time, by
    `models.risk.table.data_hash`). `test_risk_api` checks that both publish the same version metadata."""
    from features.transactions import labelled_transactions
    from models.risk.job import register_result
    from models.risk.table import data_hash, train_risk_model

    frame = labelled_transactions(state.store)
    key = data_hash(frame)
    if key not in _PAYMENT_MODELS:
        _PAYMENT_MODELS[key] = train_risk_model(frame, "is_fraud", time_column="ts")
    return register_result(_PAYMENT_MODELS[key], registry=state.extras["registry"], name=name, label="is_fraud",
                           kind="risk_transactions", source="demo payments")


def age_holds(engine, score_ids, hours: float) -> None:
    """Make the review holds on ``score_ids`` look taken ``hours`` ago: their assigned_at and hold_until move back
    together, so each keeps the length it was taken for."""
    from sqlalchemy import select

    from features.storage import schema
    from features.storage.store import utcnow

    c = schema.risk_scores.c
    taken = utcnow() - timedelta(hours=hours)
    with engine.begin() as conn:
        for row_id, at, until in conn.execute(select(c.id, c.assigned_at, c.hold_until)
                                              .where(c.score_id.in_(list(score_ids)))).all():
            conn.execute(schema.risk_scores.update().where(c.id == row_id).values(
                assigned_at=taken, hold_until=None if until is None else until - (at - taken)))


def served_margin(model, matrix: np.ndarray) -> np.ndarray:
    """The margin a risk model should serve for encoded rows, from LightGBM's own predict: the booster's,
    stacked with the model's linear part when it has one (small cross-fitted tables)."""
    raw = model.booster.predict(matrix, raw_score=True)
    return raw if model.linear is None else model.linear.blend(raw, matrix)


def served_contributions(model, matrix: np.ndarray) -> np.ndarray:
    """The per-feature contributions (bias last) it should serve, from LightGBM's own pred_contrib."""
    contrib = model.booster.predict(matrix, pred_contrib=True)
    return contrib if model.linear is None else model.linear.blend_contributions(contrib, matrix)[1]
