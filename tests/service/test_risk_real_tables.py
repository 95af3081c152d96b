"""The three real risk tables (../shared/data/risk/) trained with `kefu train risk` and served: each file is read as
it is (the vehicle one is ;-separated), the API scores one of its rows with reasons and refuses a row that lacks a
column, and `kefu score` scores the whole file. Skipped where the shared data is absent."""
from __future__ import annotations

import math

import pandas as pd
import pytest
from click.testing import CliRunner
from conftest import bearer

from models.risk import RiskModel
from service.cli.main import cli

#: name -> (file, separator, label, the training options that keep columns out of the inputs, those columns)
TABLES = {
    "taiwan": ("risk/taiwan-default/UCI_Credit_Card.csv", ",", "default.payment.next.month",
               ["--id-column", "ID"], ["ID"]),
    "vehicle": ("risk/vehicle-insurance-fraud/fraud_oracle.csv", ";", "FraudFound_P",
                ["--drop", "PolicyNumber", "--drop", "RepNumber"], ["PolicyNumber", "RepNumber"]),
    "creditcard": ("risk/creditcard-fraud-sample/creditcard_sample.csv", ",", "Class",
                   ["--drop", "Unnamed: 0"], ["Unnamed: 0"]),
}


def _plain(value):
    value = value.item() if hasattr(value, "item") else value
    return None if isinstance(value, float) and math.isnan(value) else value


@pytest.mark.parametrize("name", list(TABLES))
def test_a_real_table_trains_with_the_cli_and_is_served(name, shared_data, tmp_path, monkeypatch, embedder):
    from service.app import create_app
    from service.auth import create_api_key

    path, sep, label, options, left_out = TABLES[name]
    data = shared_data / path
    monkeypatch.setenv("KEFU_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("KEFU_DATABASE_URL", raising=False)
    monkeypatch.setenv("KEFU_LOG_LEVEL", "WARNING")
    trained = CliRunner().invoke(cli, ["train", "risk", "--name", name, "--data", str(data), "--label", label,
                                       *options], catch_exceptions=False)
    assert trained.exit_code == 0, trained.output
    assert "report:" in trained.output

    app = create_app({"data_dir": str(tmp_path / "data"), "log_level": "WARNING", "auth_cache_seconds": 0.0,
                      "risk_audit_flush_seconds": 0.0}, embedder=embedder)
    try:
        state = app.extensions["kefu"]
        key = create_api_key(state.store, ["risk"], name="risk team")
        client = app.test_client()
        frame = pd.read_csv(data, sep=sep)
        inputs = frame.drop(columns=[label, *left_out])
        features = {column: _plain(value) for column, value in inputs.iloc[3].items()}
        r = client.post("/v1/risk/scores", json={"model": name, "features": features, "customer_id": "c1"},
                        headers=bearer(key))
        assert r.status_code == 200, r.get_json()
        body = r.get_json()
        version = state.extras["registry"].current(name)
        assert body["model_version"] == version.version and body["decision"] in {"approve", "review", "decline"}
        assert body["reasons"] and {x["feature"] for x in body["reasons"]} <= set(inputs.columns)
        served = RiskModel.load(version.path, prepare=False)
        assert body["score"] == pytest.approx(float(served.score(inputs.iloc[[3]])[0]), abs=1e-6)

        lacking = {k: v for k, v in features.items() if k != inputs.columns[1]}
        bad = client.post("/v1/risk/scores", json={"model": name, "features": lacking}, headers=bearer(key))
        assert bad.status_code == 422 and inputs.columns[1] in str(bad.get_json()["errors"])
    finally:
        app.extensions["kefu"].store.engine.dispose()

    out = tmp_path / "scored.csv"
    scored = CliRunner().invoke(cli, ["score", "--name", name, str(data), "--out", str(out)], catch_exceptions=False)
    assert scored.exit_code == 0, scored.output
    result = pd.read_csv(out, sep=None, engine="python")
    assert len(result) == len(frame) and result["risk_score"].between(0, 1).all()
