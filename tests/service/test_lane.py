"""The WSGI lane answers plainly valid score requests itself, exactly as Flask would, and hands everything else on."""
from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from conftest import bearer
from tests_helpers_risk import table

CASE = {"amount": 180.0, "country": "XX", "hour": 3}
VOLATILE = {"score_id", "request_id"}


@pytest.fixture(scope="module")
def apps(tmp_path_factory, embedder):
    """Two apps on one database and one model registry: the lane on, and off (one pair for the module: each
    test uses its own customers or compares answers, so they share it)."""
    from models.risk.job import train_and_register
    from service.app import create_app

    tmp_path = tmp_path_factory.mktemp("lane")

    config = {"database_url": f"sqlite:///{tmp_path / 'kefu.db'}", "data_dir": str(tmp_path / "data"),
              "log_level": "WARNING", "auth_cache_seconds": 0.0, "risk_audit_flush_seconds": 0.0,
              "max_request_bytes": 4096}
    lane, flask_only = create_app(config, embedder=embedder), create_app({**config, "fast_lane": False}, embedder=embedder)
    state = lane.extensions["kefu"]
    train_and_register(table(seed=0), registry=state.extras["registry"], name="cards", label="is_bad",
                       report_root=Path(state.settings.data_dir) / "reports", seed=0)
    yield lane, flask_only
    for app in (lane, flask_only):
        app.extensions["kefu"].store.engine.dispose()


@pytest.fixture(scope="module")
def keys(apps):
    from service.auth import create_api_key

    store = apps[0].extensions["kefu"].store
    return {scope: create_api_key(store, [scope]) for scope in ("risk", "chat")}


def _flask_hits(app) -> list:
    """Count the requests that reach Flask's own request handling (its before_request hooks)."""
    hits: list = []
    app.before_request_funcs.setdefault(None, []).append(lambda: hits.append(1) and None)
    return hits


def _without(value, volatile=VOLATILE):
    if isinstance(value, dict):
        return {k: _without(v) for k, v in value.items() if k not in volatile}
    if isinstance(value, list):
        return [_without(v) for v in value]
    return value


def test_a_valid_score_skips_flask_and_is_audited(apps, keys):
    lane, _ = apps
    hits = _flask_hits(lane)
    client = lane.test_client()
    r = client.post("/v1/risk/scores", json={"model": "cards", "features": CASE, "customer_id": "c9"},
                    headers={**bearer(keys["risk"]), "X-Request-ID": "trace-1"})
    assert r.status_code == 200 and hits == []
    assert r.headers["X-Request-ID"] == "trace-1" and r.headers["Content-Type"] == "application/json"
    body = r.get_json()
    model, _ = lane.extensions["kefu"].extras["models"].get("cards")
    assert body["score"] == pytest.approx(model.score_one(CASE))
    scores = client.get("/v1/customers/c9/risk", headers=bearer(keys["risk"])).get_json()["scores"]
    assert [s["score_id"] for s in scores] == [body["score_id"]] and hits == [1]        # that one went to Flask
    batch = client.post("/v1/risk/scores/batch", json={"model": "cards", "cases": [{"features": CASE}] * 3},
                        headers=bearer(keys["risk"]))
    assert batch.status_code == 200 and len(batch.get_json()["results"]) == 3 and hits == [1]


REQUESTS = [
    ("valid", "/v1/risk/scores", {"model": "cards", "features": CASE}, "risk", None),
    ("valid batch", "/v1/risk/scores/batch", {"model": "cards", "cases": [{"case_id": "a", "features": CASE}]}, "risk", None),
    ("a field missing", "/v1/risk/scores", {"model": "cards", "features": {"amount": 1.0, "country": "US"}}, "risk", None),
    ("unknown field", "/v1/risk/scores", {"model": "cards", "features": CASE, "colour": "red"}, "risk", None),
    ("wrong type", "/v1/risk/scores", {"model": "cards", "features": {**CASE, "amount": "lots"}}, "risk", None),
    ("unknown model", "/v1/risk/scores", {"model": "nope", "features": CASE}, "risk", None),
    ("wrong scope", "/v1/risk/scores", {"model": "cards", "features": CASE}, "chat", None),
    ("no key", "/v1/risk/scores", {"model": "cards", "features": CASE}, None, None),
    ("bad key", "/v1/risk/scores", {"model": "cards", "features": CASE}, "kefu_nope_nope", None),
    ("not JSON", "/v1/risk/scores", "{not json", "risk", None),
    ("text/plain", "/v1/risk/scores", json.dumps({"model": "cards", "features": CASE}), "risk", "text/plain"),
    ("too large", "/v1/risk/scores", {"model": "cards", "features": CASE, "pad": "x" * 5000}, "risk", None),
    ("bad batch case", "/v1/risk/scores/batch", {"model": "cards", "cases": [{"features": {"amount": 1.0}}]}, "risk", None),
]


@pytest.mark.parametrize("name, path, body, key, content_type", REQUESTS, ids=[r[0] for r in REQUESTS])
def test_the_same_answer_with_and_without_the_lane(apps, keys, name, path, body, key, content_type):
    answers = []
    for app in apps:
        headers = bearer(keys.get(key, key)) if key else {}
        data = body if isinstance(body, str) else json.dumps(body)
        r = app.test_client().post(path, data=data, headers=headers, content_type=content_type or "application/json")
        answers.append((r.status_code, r.headers.get("Content-Type"), sorted(k for k, _ in r.headers),
                        _without(r.get_json(silent=True))))
    assert answers[0] == answers[1]
    assert (answers[0][0] == 200) == name.startswith("valid")


def test_refused_requests_store_nothing(apps, keys):
    lane, _ = apps
    client = lane.test_client()
    for features, model, status in ((CASE, "nope", 404), ({"amount": 1.0}, "cards", 422)):
        r = client.post("/v1/risk/scores", json={"model": model, "features": features, "customer_id": "c5"},
                        headers=bearer(keys["risk"]))
        assert r.status_code == status
    assert lane.extensions["kefu"].extras["risk_audit"].customer_scores("c5") == []


def test_log_lines_of_a_lane_request_carry_its_request_id():
    from service.logs import RequestContextFilter, lane_request_id

    record = logging.LogRecord("x", logging.INFO, __file__, 1, "scored", None, None)
    token = lane_request_id.set("rid-7")
    try:
        RequestContextFilter().filter(record)
    finally:
        lane_request_id.reset(token)
    assert record.request_id == "rid-7"
    RequestContextFilter().filter(record)
    assert record.request_id == "-"
