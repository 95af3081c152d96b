"""Prometheus metrics over HTTP: every request counted and timed by its route's template (through the fast lane
and Flask alike), what the risk scorer decided, and the scope that guards the scrape."""
from __future__ import annotations

import pytest
from conftest import bearer
from prometheus_client.parser import text_string_to_metric_families
from test_risk_api import CASE, train


def scrape(client, keys) -> dict:
    r = client.get("/metrics", headers=bearer(keys["metrics"]))
    assert r.status_code == 200 and r.mimetype == "text/plain", r.data[:200]
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(r.get_data(as_text=True)) for s in family.samples}


def delta(before: dict, after: dict, name: str, **labels) -> float:
    key = (name, frozenset(labels.items()))
    return after.get(key, 0.0) - before.get(key, 0.0)


def test_requests_are_counted_by_route_template_and_status(app, client, keys):
    train(app)
    before = scrape(client, keys)
    answers = [client.post("/v1/risk/scores", json={"model": "cards", "features": CASE, "customer_id": "c1"},
                           headers=bearer(keys["risk"])).get_json() for _ in range(3)]
    bad = client.post("/v1/risk/scores", json={"model": "cards"}, headers=bearer(keys["risk"]))
    assert bad.status_code == 422
    batch = client.post("/v1/risk/scores/batch", json={"model": "cards", "cases": [{"features": CASE}] * 2},
                        headers=bearer(keys["risk"]))
    assert batch.status_code == 200
    assert client.get("/v1/customers/c1/risk", headers=bearer(keys["risk"])).status_code == 200
    assert client.get("/v1/no/such/thing", headers=bearer(keys["risk"])).status_code == 404
    after = scrape(client, keys)

    total = "kefu_http_requests_total"
    assert delta(before, after, total, route="/v1/risk/scores", method="POST", status="200") == 3
    assert delta(before, after, total, route="/v1/risk/scores", method="POST", status="422") == 1
    assert delta(before, after, total, route="/v1/risk/scores/batch", method="POST", status="200") == 1
    assert delta(before, after, total, route="/v1/customers/{customer_id}/risk", method="GET", status="200") == 1
    assert delta(before, after, total, route="unmatched", method="GET", status="404") == 1
    assert delta(before, after, total, route="/metrics", method="GET", status="200") == 1     # the first scrape
    assert not any(name == total and "c1" in dict(labels)["route"] for name, labels in after)  # no raw ids
    assert delta(before, after, "kefu_http_request_duration_seconds_count", route="/v1/risk/scores",
                 method="POST") == 4
    assert delta(before, after, "kefu_http_request_duration_seconds_sum", route="/v1/risk/scores",
                 method="POST") > 0
    served = answers + batch.get_json()["results"]
    decided = [a["decision"] for a in served]
    for decision in ("approve", "review", "decline"):
        assert delta(before, after, "kefu_risk_decisions_total", model="cards",
                     decision=decision) == decided.count(decision), decision
    assert delta(before, after, "kefu_risk_score_count", model="cards") == 5
    assert delta(before, after, "kefu_risk_score_sum", model="cards") == pytest.approx(sum(a["score"] for a in served))
    for bound in ("0.05", "0.5", "1.0"):
        assert delta(before, after, "kefu_risk_score_bucket", model="cards", le=bound) == sum(
            a["score"] <= float(bound) for a in served), bound


def test_the_lane_and_flask_count_alike(app, client, keys, monkeypatch):
    """The lane answers plainly valid scores without Flask; the count and the route are the same either way."""
    train(app)
    before = scrape(client, keys)
    body = {"model": "cards", "features": CASE}
    assert client.post("/v1/risk/scores", json=body, headers=bearer(keys["risk"])).status_code == 200
    from service.api import lane

    monkeypatch.setattr(lane.FastLane, "_answer", lambda self, *a: None)          # every request to Flask
    assert client.post("/v1/risk/scores", json=body, headers=bearer(keys["risk"])).status_code == 200
    after = scrape(client, keys)
    assert delta(before, after, "kefu_http_requests_total", route="/v1/risk/scores", method="POST",
                 status="200") == 2


def test_events_are_counted_by_outcome(client, keys):
    events = [{"event_id": "m1", "type": "view", "customer_id": "c1", "item_id": "i1",
               "timestamp": "2026-05-01T10:00:00Z"},
              {"event_id": "m2", "type": "view", "customer_id": "c1", "item_id": "i2",
               "timestamp": "2026-05-01T10:01:00Z"}]
    before = scrape(client, keys)
    first = client.post("/v1/events", json={"events": events}, headers=bearer(keys["events"])).get_json()
    again = client.post("/v1/events", json={"events": events[:1]}, headers=bearer(keys["events"])).get_json()
    assert first["accepted"] == 2 and again["duplicates"] == 1
    after = scrape(client, keys)
    assert delta(before, after, "kefu_events_total", outcome="accepted") == 2
    assert delta(before, after, "kefu_events_total", outcome="duplicate") == 1


def test_the_scrape_needs_the_metrics_scope(client, keys):
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers=bearer(keys["risk"])).status_code == 403
    assert client.get("/metrics", headers=bearer(keys["admin"])).status_code == 200


def test_the_served_model_versions_and_refusals_are_gauged(app, client, keys, tmp_path):
    first = train(app).version.version
    score = lambda: client.post("/v1/risk/scores", json={"model": "cards", "features": CASE},  # noqa: E731
                                headers=bearer(keys["risk"])).get_json()["model_version"]
    assert score() == first
    serving = "kefu_model_serving"
    before = scrape(client, keys)
    assert before[(serving, frozenset({"model": "cards", "role": "version", "version": first}.items()))] == 1

    second = train(app, seed=1).version.version
    assert client.post("/v1/models/cards/reload", headers=bearer(keys["admin"])).status_code == 200
    assert score() == second
    registry = app.extensions["kefu"].extras["registry"]
    corrupt = registry.save("cards", "risk_table", lambda folder: (folder / "booster.txt").write_text("no"),
                            activate=False).version
    assert client.post("/v1/models/cards/activate", json={"version": corrupt},
                       headers=bearer(keys["admin"])).status_code == 409
    after = scrape(client, keys)
    gauge = {labels["version"]: value for (name, key), value in after.items() if name == serving
             for labels in [dict(key)] if labels["model"] == "cards" and labels["version"] in (first, second, corrupt)}
    assert gauge == {first: 0, second: 1}                     # the refused version never served
    loads = "kefu_model_loads_total"
    # the second version, and the second again when the refused activation is undone (a forced reload)
    assert delta(before, after, loads, model="cards", role="version", outcome="loaded") == 2
    assert delta(before, after, loads, model="cards", role="version", outcome="refused") == 1
