"""Fraud/credit risk: train on any labelled table, serve calibrated scores with reasons and thresholds.

`RiskModel` is all a service needs (load, validate_input, score, score_one, explain, decide); training lives in
`table`, the HTML report in `report` (imported on demand: it pulls in matplotlib).
"""
from __future__ import annotations

from models.risk.model import Calibrator, FeatureSpec, RiskModel
from models.risk.table import Prepared, TrainResult, prepare, train_risk_model

__all__ = ["Calibrator", "FeatureSpec", "Prepared", "RiskModel", "TrainResult", "prepare", "train_risk_model"]
