"""The analysts' side of risk over HTTP: one scored case by id, and the review queue with its paging."""
from __future__ import annotations

import pytest

from conftest import bearer
from test_risk_api import train

CASE = {"amount": 180.0, "country": "XX", "hour": 3}
ENTRY_KEYS = {"score_id", "model", "model_version", "customer_id", "transaction_id", "score", "decision", "reasons",
              "list_match", "rule_matches", "created_at", "assigned_to", "assigned_at", "hold_expires_at"}


@pytest.fixture
def model(app):
    return train(app)


def thresholds(client, keys, review: float, decline: float) -> None:
    r = client.put("/v1/models/cards/thresholds", json={"review": review, "decline": decline},
                   headers=bearer(keys["admin"]))
    assert r.status_code == 200, r.get_json()


def score(client, keys, features: dict, **extra) -> dict:
    r = client.post("/v1/risk/scores", json={"model": "cards", "features": features, **extra},
                    headers=bearer(keys["risk"]))
    assert r.status_code == 200, r.get_json()
    return r.get_json()


def reviews(client, keys, query=None) -> dict:
    r = client.get("/v1/risk/reviews", query_string=query or {}, headers=bearer(keys["risk"]))
    assert r.status_code == 200, r.get_json()
    return r.get_json()


def test_a_score_reads_back_whole_by_its_id_with_its_shadow_score(app, client, keys):
    from service.schemas.risk import RiskScoreRecordSchema

    challenger = train(app, seed=1).version.version
    champion = train(app, seed=0).version.version                      # activated on save: the champion
    r = client.put("/v1/models/cards/challenger", json={"version": challenger, "mode": "shadow"},
                   headers=bearer(keys["admin"]))
    assert r.status_code == 200, r.get_json()
    app.extensions["kefu"].extras["risk_audit"].flush_seconds = 60      # buffered, as served: the read must flush
    answer = client.post("/v1/risk/scores", json={"model": "cards", "features": CASE, "customer_id": "c1",
                                                  "transaction_id": "t-1"},
                         headers={**bearer(keys["risk"]), "X-Request-ID": "req-read-back"})
    assert answer.status_code == 200, answer.get_json()
    body = answer.get_json()

    r = client.get(f"/v1/risk/scores/{body['score_id']}", headers=bearer(keys["risk"]))
    assert r.status_code == 200, r.get_json()
    case = r.get_json()
    for key in ("score_id", "model", "model_version", "customer_id", "transaction_id", "score", "decision",
                "reasons", "list_match"):
        assert case[key] == body[key], key
    assert case["model_version"] == champion
    assert case["features"] == CASE and case["request_id"] == "req-read-back"
    assert case["shadow_of"] is None and case["created_at"]
    assert (case["outcome"], case["outcome_at"], case["outcome_by"]) == (None, None, None)
    assert set(case) == set(RiskScoreRecordSchema().fields)
    [shadow] = case["shadows"]
    assert shadow["model_version"] == challenger and shadow["score_id"] != body["score_id"]
    challenger_model = app.extensions["kefu"].extras["models"].challenger("cards")[0]
    assert shadow["score"] == pytest.approx(challenger_model.score_one(CASE))
    assert set(shadow) == {"score_id", "model_version", "score", "decision"}

    own = client.get(f"/v1/risk/scores/{shadow['score_id']}", headers=bearer(keys["risk"])).get_json()
    assert own["shadow_of"] == body["score_id"] and own["shadows"] == [] and own["model_version"] == challenger

    r = client.post(f"/v1/risk/scores/{body['score_id']}/outcome", json={"outcome": True},
                    headers=bearer(keys["risk"]))
    assert r.status_code == 200
    after = client.get(f"/v1/risk/scores/{body['score_id']}", headers=bearer(keys["risk"])).get_json()
    assert after["outcome"] is True and after["outcome_at"] and after["outcome_by"]

    missing = client.get("/v1/risk/scores/no-such-score", headers=bearer(keys["risk"]))
    assert missing.status_code == 404
    error = missing.get_json()
    assert error["code"] == 404 and "no-such-score" in error["message"] and error["request_id"]


def test_the_queue_holds_the_open_review_cases_riskiest_first(client, keys, model):
    thresholds(client, keys, 0.0, 1.0)                                   # every case: review
    queued = [score(client, keys, {**CASE, "amount": float(a)}, customer_id=f"c{a}")
              for a in (5, 300, 40, 120, 300, 80)]                      # two with the same score
    thresholds(client, keys, 0.0, 0.0)
    declined = score(client, keys, CASE)
    thresholds(client, keys, 1.0, 1.0)
    approved = score(client, keys, CASE)
    assert {q["decision"] for q in queued} == {"review"}
    assert (declined["decision"], approved["decision"]) == ("decline", "approve")

    body = reviews(client, keys)
    assert body["open"] == 6 and body["next"] is None and body["order"] == "score" and body["since"]
    entries = body["entries"]
    assert all(set(e) == ENTRY_KEYS for e in entries)
    assert sorted(e["score_id"] for e in entries) == sorted(q["score_id"] for q in queued)
    assert [e["score"] for e in entries] == sorted((q["score"] for q in queued), reverse=True)
    tied = [e["score_id"] for e in entries if e["score"] == queued[1]["score"]]
    assert tied == [queued[4]["score_id"], queued[1]["score_id"]]       # a tie: the later-stored first
    top = next(q for q in queued if q["score_id"] == entries[0]["score_id"])
    assert {k: entries[0][k] for k in ("model", "model_version", "customer_id", "score", "decision", "reasons")} == \
        {k: top[k] for k in ("model", "model_version", "customer_id", "score", "decision", "reasons")}

    newest = reviews(client, keys, {"order": "newest"})["entries"]
    assert [e["score_id"] for e in newest] == [q["score_id"] for q in reversed(queued)]
    assert reviews(client, keys, {"model": "cards"})["entries"] == entries
    assert reviews(client, keys, {"model": "other"}) | {"since": None} == {
        "order": "score", "since": None, "open": 0, "next": None, "entries": []}
    both = reviews(client, keys, {"decisions": "review,decline"})
    assert both["open"] == 7 and declined["score_id"] in [e["score_id"] for e in both["entries"]]
    repeated = reviews(client, keys, [("decisions", "decline"), ("decisions", "review")])
    assert repeated["entries"] == both["entries"]
    assert [e["score_id"] for e in reviews(client, keys, {"decisions": "approve"})["entries"]] == [approved["score_id"]]

    # paging: every case once, in the same order, for both orders
    for order, full in (("score", entries), ("newest", newest)):
        seen, query = [], {"limit": 4, "order": order}
        while True:
            page = reviews(client, keys, query)
            assert page["open"] == 6 and len(page["entries"]) <= 4
            seen += page["entries"]
            if page["next"] is None:
                break
            query = {**query, "before": page["next"]}
        assert seen == full

    # an analyst's outcome takes the case out of the queue
    r = client.post(f"/v1/risk/scores/{entries[0]['score_id']}/outcome", json={"outcome": False},
                    headers=bearer(keys["risk"]))
    assert r.status_code == 200
    left = reviews(client, keys)
    assert left["open"] == 5 and [e["score_id"] for e in left["entries"]] == [e["score_id"] for e in entries[1:]]


def test_a_cursor_keeps_its_order_and_its_window(client, keys, model):
    thresholds(client, keys, 0.0, 1.0)
    for a in (10, 20, 30):
        score(client, keys, {**CASE, "amount": float(a)})
    first = reviews(client, keys, {"limit": 1})
    assert first["next"] and first["open"] == 3
    other_order = client.get("/v1/risk/reviews", query_string={"order": "newest", "before": first["next"]},
                             headers=bearer(keys["risk"]))
    assert other_order.status_code == 422 and "before" in other_order.get_json()["errors"]["query"]
    second = reviews(client, keys, {"limit": 1, "before": first["next"], "days": 1})
    assert second["since"] == first["since"]                             # the first page's window holds
    assert second["entries"][0]["score"] < first["entries"][0]["score"]


@pytest.mark.parametrize("query", [
    {"decisions": "maybe"}, {"decisions": ""}, {"decisions": "review,nope"}, {"days": 0}, {"days": 367},
    {"days": "week"}, {"limit": 0}, {"limit": 501}, {"order": "oldest"}, {"model": "Not A Name"},
    {"no_such_param": 1}, {"before": "not-a-cursor"}, {"before": "eyJvIjoic2NvcmUifQ"},
])
def test_bad_queries_are_422_in_the_envelope(client, keys, query):
    r = client.get("/v1/risk/reviews", query_string=query, headers=bearer(keys["risk"]))
    assert r.status_code == 422, r.get_json()
    body = r.get_json()
    assert body["code"] == 422 and body["request_id"] and next(iter(query)) in body["errors"]["query"]


@pytest.mark.parametrize("path", ["/v1/risk/reviews", "/v1/risk/scores/some-id"])
def test_both_need_the_risk_scope(client, keys, path):
    assert client.get(path).status_code == 401
    assert client.get(path, headers=bearer("kefu_not-a-real-key")).status_code == 401
    forbidden = client.get(path, headers=bearer(keys["chat"]))
    assert forbidden.status_code == 403 and forbidden.get_json()["code"] == 403


def test_openapi_documents_both(client):
    spec = client.get("/openapi.json").get_json()
    one = spec["paths"]["/v1/risk/scores/{score_id}"]["get"]
    assert one["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith("/RiskScoreRecord")
    assert "404" in one["responses"] and one["security"] == [{"bearerAuth": ["risk"]}]
    queue = spec["paths"]["/v1/risk/reviews"]["get"]
    params = {p["name"]: p for p in queue["parameters"]}
    assert set(params) == {"decisions", "model", "days", "order", "limit", "before", "assigned_to", "unassigned"}
    assert params["decisions"]["schema"]["type"] == "array"
    assert set(params["decisions"]["schema"]["items"]["enum"]) == {"approve", "review", "decline"}
    assert queue["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith("/ReviewQueueResponse")
    assert queue["summary"] and queue["description"]
