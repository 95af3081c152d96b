"""Errors outside the endpoints, request ids, health, OpenAPI and docs."""
from __future__ import annotations

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
