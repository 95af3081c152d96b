"""Train a risk model from a table, publish it in the registry, and write its evaluation report beside it."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

import pandas as pd

from models.registry import ModelRegistry, ModelVersion
from models.risk.report import write_report
from models.risk.table import BoosterFitter, TrainResult, train_risk_model

log = logging.getLogger(__name__)
KIND = "risk_table"


@dataclass(frozen=True)
class TrainedRiskModel:
    version: ModelVersion
    report: Path | None     # None when a finished training was only registered (`register_result`)
    result: TrainResult


def train_and_register(
    frame: pd.DataFrame,
    *,
    registry: ModelRegistry,
    name: str,
    label: str,
    report_root: Path,
    id_column: str | None = None,
    time_column: str | None = None,
    drop: Iterable[str] = (),
    protected: Iterable[str] = (),
    use_protected: bool = False,
    seed: int = 0,
    activate: bool = True,
    progress: Callable[[str], None] | None = None,
    source: str | None = None,
    kind: str = KIND,
    fitter: BoosterFitter | None = None,
) -> TrainedRiskModel:
    """Train, save as a new immutable version (activated unless told not to), and report.

    The report is written first into the version folder's sibling under ``report_root/<name>/<version>/`` so
    the HTML and its plots are kept even when the artifact folder is read-only. `fitter`: where the boosting
    runs (`models.risk.table.train_risk_model`); None trains here.
    """
    result = train_risk_model(
        frame, label, id_column=id_column, time_column=time_column, drop=drop, protected=protected,
        use_protected=use_protected, seed=seed, progress=progress, fitter=fitter,
    )
    version = register_result(result, registry=registry, name=name, label=label, source=source, kind=kind,
                              activate=activate)
    report = write_report(result, Path(report_root) / name / version.version, title=f"kefu risk model '{name}' {version.version}")
    log.info("trained risk model %s version %s: %s", name, version.version, result.metrics.get("kefu", {}))
    return TrainedRiskModel(version, report, result)


def register_result(result: TrainResult, *, registry: ModelRegistry, name: str, label: str,
                    source: str | None = None, kind: str = KIND, activate: bool = True) -> ModelVersion:
    """Save a finished training as a new immutable version of `name` (activated unless told not to), with
    its metrics, thresholds, split and baselines in the version's metadata. No report: see
    `train_and_register`."""
    kefu_metrics = result.metrics.get("kefu", {})
    extra: dict[str, Any] = {
        "label": label,
        "source": source,
        "thresholds": result.model.thresholds,
        "split": result.split,
        "baselines": {k: v for k, v in result.metrics.items() if k != "kefu"},
        "trained_on": result.model.meta.get("trained_on"),
    }
    return registry.save(
        name, kind, result.model.save, features=result.model.feature_names, data_hash=result.data_hash,
        metrics=kefu_metrics, extra=extra, activate=activate,
    )
