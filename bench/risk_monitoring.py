"""Does risk monitoring tell a shifted population from an unchanged one, on real tables?

    python bench/risk_monitoring.py [--data ../shared/data] [--datasets taiwan vehicle bank]

Each table is cut in two: the model trains (`kefu train risk`'s code, `models.risk.job.train_and_register`) on
the first part, the second part is scored through the service's scorer in batches of 1,000 (every score
audited, as over HTTP), every served case's true label is recorded as its outcome, and the monitoring report
(`service.pipelines.risk_monitor.monitoring_report`, what `GET /v1/risk/models/<name>/monitoring` answers)
compares the served scores with the training reference.

- ``taiwan`` (the control): a random 70/30 cut of one population. Nothing should read as drift.
- ``vehicle``: claims of 1994-1995 train, 1996's claims are served (the table's `Year` column, kept out of the
  inputs).
- ``bank``: the bank-marketing calls are in time order (May 2008 to November 2010, through the financial
  crisis); the first 70 % train, the last 30 % are served. `duration` is dropped (only known after the call).

Printed per table: the status, the score's PSI, the three most shifted features, the alert rate served against
the held-out one, the realised ROC-AUC on the recorded outcomes against the test ROC-AUC at training, and how
long the report took to compute.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import DEFAULT_DATA, write_result  # noqa: E402

CHUNK = 1_000

TABLES = {
    "taiwan": {"path": "risk/taiwan-default/UCI_Credit_Card.csv", "sep": ",", "label": "default.payment.next.month",
               "drop": ("ID",)},
    "vehicle": {"path": "risk/vehicle-insurance-fraud/fraud_oracle.csv", "sep": ";", "label": "FraudFound_P",
                "drop": ("PolicyNumber", "RepNumber", "Year")},
    "bank": {"path": "risk/bank-marketing/bank-additional-full.csv", "sep": ";", "label": "y", "drop": ("duration",)},
}


def cut(name: str, frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    if name == "taiwan":
        served = frame.sample(frac=0.3, random_state=0)
        return frame.drop(served.index), served
    if name == "vehicle":
        return frame[frame["Year"] < 1996], frame[frame["Year"] == 1996]
    n = int(len(frame) * 0.7)
    return frame.iloc[:n], frame.iloc[n:]


def run(name: str, frame: pd.DataFrame, state) -> dict:
    from models.risk.job import train_and_register
    from service.pipelines.risk_monitor import monitoring_report

    spec = TABLES[name]
    train, served = cut(name, frame)
    started = time.perf_counter()
    trained = train_and_register(train.reset_index(drop=True), registry=state.extras["registry"], name=name,
                                 label=spec["label"], drop=spec["drop"],
                                 report_root=Path(state.settings.data_dir) / "reports")
    train_s = time.perf_counter() - started
    model = trained.result.model
    positive = model.label.get("positive")
    inputs = served[list(model.feature_names)].astype(object).where(served[list(model.feature_names)].notna(), None)
    records = inputs.to_dict("records")
    truth = (served[spec["label"]] == positive).to_numpy()   # as models.risk.table encodes the label
    scorer, audit = state.extras["risk"], state.extras["risk_audit"]
    ids = []
    for start in range(0, len(records), CHUNK):
        batch = [{"features": r} for r in records[start:start + CHUNK]]
        ids += [r["score_id"] for r in scorer.score_batch(name, batch)["results"]]
    audit.flush()
    for score_id, outcome in zip(ids, truth):
        audit.record_outcome(score_id, bool(outcome), by="bench")
    started = time.perf_counter()
    report = monitoring_report(state.extras["registry"], scorer, audit, name, days=1)
    report_s = time.perf_counter() - started
    top = [(f["feature"], f["psi"], f["largest_shift"]) for f in report["features"][:3]]
    return {"trained_rows": len(train), "served_rows": len(served), "train_seconds": round(train_s, 1),
            "report_seconds": round(report_s, 3), "status": report["status"], "score_psi": report["score_psi"],
            "top_features": top, "features_over_0.25": sum(f["psi"] >= 0.25 for f in report["features"]),
            "features": len(report["features"]), "alert_rate": report["alert_rate"],
            "served_positive_rate": round(float(truth.mean()), 4),
            "trained_positive_rate": round(float((train[spec["label"]] == positive).mean()), 4),
            "realised_roc_auc": report["outcomes"]["roc_auc"], "trained_roc_auc": report["outcomes"]["trained_roc_auc"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--datasets", nargs="+", default=list(TABLES), choices=list(TABLES))
    args = parser.parse_args()
    results: dict = {"command": "python bench/risk_monitoring.py " + " ".join(sys.argv[1:])}
    with tempfile.TemporaryDirectory(prefix="kefu-monitor-") as tmp:
        os.environ["KEFU_DATA_DIR"] = tmp
        os.environ.setdefault("KEFU_LOG_LEVEL", "WARNING")
        from service.app import create_app

        state = create_app().extensions["kefu"]
        for name in args.datasets:
            spec = TABLES[name]
            frame = pd.read_csv(args.data / spec["path"], sep=spec["sep"])
            res = run(name, frame, state)
            results[name] = res
            alert = res["alert_rate"]
            print(f"{name}: trained on {res['trained_rows']:,}, served {res['served_rows']:,}: status {res['status']}, "
                  f"score PSI {res['score_psi']}, {res['features_over_0.25']}/{res['features']} features over 0.25")
            for feature, value, shift in res["top_features"]:
                print(f"    {feature:<24} PSI {value:.3f}  {shift['bin']}: {shift['expected']:.1%} -> {shift['served']:.1%}")
            print(f"    alert rate served {alert['served']:.1%} (held-out {alert['expected']:.1%}); positives "
                  f"{res['served_positive_rate']:.1%} served, {res['trained_positive_rate']:.1%} in training; ROC-AUC "
                  f"realised {res['realised_roc_auc']} (test at training {res['trained_roc_auc']}); report "
                  f"{res['report_seconds']} s")
    write_result("risk_monitoring", results)


if __name__ == "__main__":
    main()
