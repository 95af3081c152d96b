"""Errors outside the endpoints, request ids, health, OpenAPI and docs."""
from __future__ import annotations

import pytest

def test_unknown_route_is_404_envelope(client):
    r = client.get("/v1/nothing-here")
    assert r.status_code == 404
    assert r.get_json()["status"] == "Not Found"


def test_wrong_method_is_405_envelope(client):
    r = client.get("/v1/events")
    assert r.status_code == 405
    assert r.get_json()["code"] == 405
    assert "POST" in r.headers["Allow"]


def test_request_id_is_echoed_or_made(client):
    r = client.get("/healthz", headers={"X-Request-ID": "abc-123"})
    assert r.headers["X-Request-ID"] == "abc-123"
    made = client.get("/v1/nothing").get_json()["request_id"]
    assert made and made != "abc-123"


def test_health_and_readiness(client):
    assert client.get("/healthz").get_json() == {"status": "ok"}
    r = client.get("/readyz")
    assert r.status_code == 200
    assert r.get_json()["checks"]["database"]["ready"] is True


def test_readiness_fails_when_the_database_is_gone(app, client):
    from features.storage.engine import make_engine
    from features.storage.store import SqlStore

    # a port where nothing listens: the connection is refused at once
    app.extensions["kefu"].store = SqlStore(make_engine("postgresql+psycopg://nobody@127.0.0.1:9/none"))
    r = client.get("/readyz")
    assert r.status_code == 503
    assert r.get_json()["checks"]["database"]["ready"] is False


def test_openapi_documents_every_endpoint_and_the_auth(client):
    spec = client.get("/openapi.json").get_json()
    assert spec["openapi"].startswith("3.")
    for path in ("/v1/events", "/v1/customers", "/v1/items", "/v1/customers/{customer_id}/profile", "/v1/profiles/features"):
        assert path in spec["paths"], path
    assert spec["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    assert spec["paths"]["/v1/events"]["post"]["security"] == [{"bearerAuth": ["events"]}]
    features = spec["components"]["schemas"]["ProfileFeatures"]["properties"]
    assert "spend_30d" in features and features["spend_30d"]["description"]


def test_docs_page_works_offline(client):
    page = client.get("/docs")
    assert page.status_code == 200 and b"swagger-ui" in page.data
    assert b"/docs/static/swagger-ui-bundle.js" in page.data
    asset = client.get("/docs/static/swagger-ui-bundle.js")
    assert asset.status_code == 200 and len(asset.data) > 100_000


JSON_ROUTES = [("post", "/v1/events"), ("post", "/v1/customers"), ("post", "/v1/items"), ("post", "/v1/risk/scores"),
               ("post", "/v1/risk/scores/batch"), ("post", "/v1/risk/scores/m/outcome"), ("put", "/v1/risk/lists/m/m"), ("put", "/v1/risk/rules/m"),
               ("post", "/v1/risk/rules/backtest"), ("post", "/v1/risk/reviews/claim"), ("post", "/v1/risk/scores/m/assign"),
               ("post", "/v1/risk/scores/m/notes"),
               ("post", "/v1/recommendations"),
               ("put", "/v1/promotions/m"),
               ("put", "/v1/models/m/thresholds"), ("post", "/v1/models/m/activate"), ("post", "/v1/models/m/rollback"),
               ("put", "/v1/models/m/challenger"),
               ("post", "/v1/chat"), ("post", "/v1/chat/completions"), ("post", "/v1/conversations/m/status")]
#: The OpenAI protocol has many optional fields (temperature, top_p, n, ...) that clients send; kefu's
#: OpenAI-compatible route ignores unknown ones, as OpenAI-compatible servers do. It still refuses a body
#: without messages (tested in test_chat_api.py).
LENIENT_ROUTES = {("post", "/v1/chat/completions")}


def test_every_body_route_is_listed_here(client):
    spec = client.get("/openapi.json").get_json()
    with_body = {(m, p.replace("{name}", "m").replace("{conversation_id}", "m").replace("{score_id}", "m").replace("{field}", "m").replace("{value}", "m")) for p, ops in spec["paths"].items() for m, op in ops.items()
                 if "requestBody" in op}
    assert with_body == set(JSON_ROUTES)


@pytest.mark.parametrize("method, path", JSON_ROUTES)
def test_malformed_json_is_400_everywhere(client, keys, method, path):
    r = getattr(client, method)(path, data="{oops", headers={"Authorization": f"Bearer {keys['admin']}",
                                                             "Content-Type": "application/json"})
    assert r.status_code == 400
    assert set(r.get_json()) >= {"code", "status", "message", "request_id"}


@pytest.mark.parametrize("method, path", [r for r in JSON_ROUTES if r not in LENIENT_ROUTES])
def test_unknown_fields_are_422_everywhere(client, keys, method, path):
    r = getattr(client, method)(path, json={"no_such_field": 1}, headers={"Authorization": f"Bearer {keys['admin']}"})
    assert r.status_code == 422
    assert "no_such_field" in str(r.get_json()["errors"])


@pytest.mark.parametrize("method, path", JSON_ROUTES)
def test_no_key_is_401_everywhere(client, method, path):
    assert getattr(client, method)(path, json={}).status_code == 401


QUERY_ROUTES = ["/v1/items/m/similar", "/v1/items/popular", "/v1/recommendations/performance", "/v1/customers/m/risk",
                "/v1/risk/reviews", "/v1/risk/rules", "/v1/risk/rules/m/backtest", "/v1/risk/models/m/monitoring", "/v1/risk/models/m/challenger",
                "/v1/conversations"]


def test_every_query_route_is_listed_here(client):
    spec = client.get("/openapi.json").get_json()
    with_query = {p.replace("{item_id}", "m").replace("{customer_id}", "m").replace("{name}", "m")
                  for p, ops in spec["paths"].items() for m, op in ops.items()
                  if m == "get" and any(q.get("in") == "query" for q in op.get("parameters", []))}
    assert with_query == set(QUERY_ROUTES)


@pytest.mark.parametrize("path", QUERY_ROUTES)
def test_unknown_query_parameters_are_422_everywhere(client, keys, path):
    r = client.get(path + "?no_such_param=1", headers={"Authorization": f"Bearer {keys['admin']}"})
    assert r.status_code == 422 and "no_such_param" in str(r.get_json()["errors"])
