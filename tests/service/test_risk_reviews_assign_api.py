"""Analysts sharing the review queue over HTTP: claiming the next case, assigning and releasing one, and the queue
filtered by who holds its cases."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from conftest import bearer
from test_risk_api import train
from tests_helpers_risk import age_holds

AMOUNTS = [20.0, 60.0, 120.0, 250.0, 400.0]


@pytest.fixture
def queue(app, client, keys):
    """Five cards cases, every one queued for review (review threshold 0), riskiest = largest amount."""
    train(app)
    r = client.put("/v1/models/cards/thresholds", json={"review": 0.0, "decline": 1.0}, headers=bearer(keys["admin"]))
    assert r.status_code == 200
    body = {"model": "cards", "cases": [{"customer_id": f"c{i}", "features": {"amount": a, "country": "XX", "hour": 3}}
                                        for i, a in enumerate(AMOUNTS)]}
    r = client.post("/v1/risk/scores/batch", json=body, headers=bearer(keys["risk"]))
    assert r.status_code == 200, r.get_json()
    results = r.get_json()["results"]
    assert {x["decision"] for x in results} == {"review"}
    for i, x in enumerate(results):
        x["case_id_order"] = i
    return sorted(results, key=lambda x: (-x["score"], -x["case_id_order"]))   # the queue's order


def queue_by_storage(queue: list[dict]) -> list[dict]:
    """The cases in the order they were stored (the batch's order, AMOUNTS')."""
    return sorted(queue, key=lambda x: x["case_id_order"])


def claim(client, keys, **body) -> dict:
    r = client.post("/v1/risk/reviews/claim", json=body, headers=bearer(keys["risk"]))
    assert r.status_code == 200, r.get_json()
    return r.get_json()


def reviews(client, keys, **query) -> dict:
    r = client.get("/v1/risk/reviews", query_string=query, headers=bearer(keys["risk"]))
    assert r.status_code == 200, r.get_json()
    return r.get_json()


def test_claims_hand_out_the_riskiest_unassigned_cases_one_each(client, keys, queue):
    first = claim(client, keys, analyst="alice")
    assert first["case"]["score_id"] == queue[0]["score_id"] and first["unassigned"] == 4
    assert first["case"]["assigned_to"] == "alice" and first["case"]["assigned_at"]
    assert first["case"]["features"] == {"amount": AMOUNTS[queue[0]["case_id_order"]], "country": "XX",
                                         "hour": 3}                                   # the whole case
    second = claim(client, keys, analyst="bob")
    assert second["case"]["score_id"] == queue[1]["score_id"] and second["unassigned"] == 3
    newest = claim(client, keys, analyst="bob", order="newest")       # the latest stored case not yet held
    taken = {first["case"]["score_id"], second["case"]["score_id"]}
    latest_free = next(x for x in reversed(queue_by_storage(queue)) if x["score_id"] not in taken)
    assert newest["case"]["score_id"] == latest_free["score_id"]

    everything = reviews(client, keys)
    assert everything["open"] == 5                                       # claimed cases are still open
    held = {e["score_id"]: e["assigned_to"] for e in everything["entries"]}
    assert held[queue[0]["score_id"]] == "alice" and held[queue[1]["score_id"]] == "bob"
    free = reviews(client, keys, unassigned="true")
    assert free["open"] == 2 and all(e["assigned_to"] is None for e in free["entries"])
    bobs = reviews(client, keys, assigned_to="bob")
    assert {e["score_id"] for e in bobs["entries"]} == {second["case"]["score_id"], newest["case"]["score_id"]}

    assert claim(client, keys, analyst="carol")["case"] is not None
    assert claim(client, keys, analyst="carol")["case"] is not None
    empty = claim(client, keys, analyst="carol")
    assert empty == {"case": None, "unassigned": 0}
    assert {e["assigned_to"] for e in reviews(client, keys)["entries"]} == {"alice", "bob", "carol"}


def test_a_claim_honours_the_queue_filters_and_outcomes(client, keys, queue):
    r = client.post(f"/v1/risk/scores/{queue[0]['score_id']}/outcome", json={"outcome": True},
                    headers=bearer(keys["risk"]))
    assert r.status_code == 200
    got = claim(client, keys, analyst="alice")
    assert got["case"]["score_id"] == queue[1]["score_id"]               # a decided case is not handed out
    assert claim(client, keys, analyst="alice", decisions=["decline"]) == {"case": None, "unassigned": 0}
    assert claim(client, keys, analyst="alice", model="other") == {"case": None, "unassigned": 0}
    mine = claim(client, keys)                                            # no analyst: the key's id holds it
    assert mine["case"]["assigned_to"] and mine["case"]["assigned_to"] != "alice"


def test_a_case_is_assigned_reassigned_and_released(client, keys, queue):
    target = queue[2]["score_id"]
    r = client.post(f"/v1/risk/scores/{target}/assign", json={"analyst": "dana"}, headers=bearer(keys["risk"]))
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["assigned_to"] == "dana" and r.get_json()["score_id"] == target
    case = client.get(f"/v1/risk/scores/{target}", headers=bearer(keys["risk"])).get_json()
    assert case["assigned_to"] == "dana" and case["assigned_at"]
    assert target not in {e["score_id"] for e in reviews(client, keys, unassigned="true")["entries"]}
    r = client.post(f"/v1/risk/scores/{target}/assign", json={"analyst": "erin"}, headers=bearer(keys["risk"]))
    assert r.get_json()["assigned_to"] == "erin"                        # a lead moves it
    r = client.post(f"/v1/risk/scores/{target}/assign", json={"analyst": None}, headers=bearer(keys["risk"]))
    assert r.status_code == 200 and r.get_json()["assigned_to"] is None and r.get_json()["assigned_at"] is None
    assert target in {e["score_id"] for e in reviews(client, keys, unassigned="true")["entries"]}
    missing = client.post("/v1/risk/scores/nope/assign", json={"analyst": "x"}, headers=bearer(keys["risk"]))
    assert missing.status_code == 404 and missing.get_json()["code"] == 404


@pytest.mark.parametrize("path, body", [
    ("/v1/risk/reviews/claim", {"analyst": ""}),
    ("/v1/risk/reviews/claim", {"analyst": "x" * 201}),
    ("/v1/risk/reviews/claim", {"decisions": ["maybe"]}),
    ("/v1/risk/reviews/claim", {"order": "oldest"}),
    ("/v1/risk/reviews/claim", {"days": 0}),
    ("/v1/risk/reviews/claim", {"limit": 3}),
    ("/v1/risk/reviews/claim", {"hold_hours": -1}),
    ("/v1/risk/reviews/claim", {"hold_hours": 721}),
    ("/v1/risk/reviews/claim", {"hold_hours": "soon"}),
    ("/v1/risk/scores/s1/assign", {}),
    ("/v1/risk/scores/s1/assign", {"analyst": 7}),
    ("/v1/risk/scores/s1/assign", {"analyst": "x", "hold_hours": -0.5}),
])
def test_bad_claims_and_assignments_are_422(client, keys, path, body):
    r = client.post(path, json=body, headers=bearer(keys["risk"]))
    assert r.status_code == 422 and r.get_json()["code"] == 422


def test_the_queue_takes_one_assignment_filter_and_the_risk_scope(client, keys):
    both = client.get("/v1/risk/reviews", query_string={"assigned_to": "a", "unassigned": "true"},
                      headers=bearer(keys["risk"]))
    assert both.status_code == 422 and "unassigned" in both.get_json()["errors"]["query"]
    assert client.post("/v1/risk/reviews/claim", json={}, headers=bearer(keys["chat"])).status_code == 403
    assert client.post("/v1/risk/scores/s1/assign", json={"analyst": "a"},
                       headers=bearer(keys["profiles"])).status_code == 403


def test_notes_are_left_on_a_case_and_read_with_it(client, keys, queue):
    target = queue[0]["score_id"]
    r = client.post(f"/v1/risk/scores/{target}/notes", json={"text": "Called the customer.", "author": "alice"},
                    headers=bearer(keys["risk"]))
    assert r.status_code == 201, r.get_json()
    assert r.get_json()["author"] == "alice" and r.get_json()["note_id"]
    r = client.post(f"/v1/risk/scores/{target}/outcome", json={"outcome": True, "note": "Chargeback confirmed."},
                    headers=bearer(keys["risk"]))
    assert r.status_code == 200 and r.get_json()["outcome"] is True
    case = client.get(f"/v1/risk/scores/{target}", headers=bearer(keys["risk"])).get_json()
    assert [(n["author"], n["text"]) for n in case["notes"]] == [
        ("alice", "Called the customer."), (case["outcome_by"], "Chargeback confirmed.")]
    other = client.get(f"/v1/risk/scores/{queue[1]['score_id']}", headers=bearer(keys["risk"])).get_json()
    assert other["notes"] == []
    missing = client.post("/v1/risk/scores/nope/notes", json={"text": "x"}, headers=bearer(keys["risk"]))
    assert missing.status_code == 404
    for bad in ({"text": ""}, {"text": "x" * 2001}, {}, {"text": "x", "mood": "angry"}):
        assert client.post(f"/v1/risk/scores/{target}/notes", json=bad,
                           headers=bearer(keys["risk"])).status_code == 422, bad
    assert client.post(f"/v1/risk/scores/{target}/notes", json={"text": "x"},
                       headers=bearer(keys["chat"])).status_code == 403
    assert len(client.get(f"/v1/risk/scores/{target}", headers=bearer(keys["risk"])).get_json()["notes"]) == 2


def _age_hold(app, score_id: str, hours: float) -> None:
    age_holds(app.extensions["kefu"].store.engine, [score_id], hours)


def test_a_hold_lapses_after_the_configured_hours_and_the_next_claim_takes_the_case(app, client, keys, queue):
    assert app.extensions["kefu"].settings.risk_hold_hours == 8          # the default
    first = claim(client, keys, analyst="alice")["case"]
    at = datetime.fromisoformat(first["assigned_at"])
    assert datetime.fromisoformat(first["hold_expires_at"]) == at + timedelta(hours=8)
    _age_hold(app, first["score_id"], 7)
    assert claim(client, keys, analyst="bob")["case"]["score_id"] == queue[1]["score_id"]    # alice still holds
    _age_hold(app, first["score_id"], 9)                                  # alice went home
    lapsed = client.get(f"/v1/risk/scores/{first['score_id']}", headers=bearer(keys["risk"])).get_json()
    assert lapsed["assigned_to"] == "alice" and datetime.fromisoformat(lapsed["hold_expires_at"]) < datetime.now(
        timezone.utc).replace(tzinfo=None)
    free = reviews(client, keys, unassigned="true")
    assert free["open"] == 4 and first["score_id"] in {e["score_id"] for e in free["entries"]}
    taken = claim(client, keys, analyst="carol")
    assert taken["case"]["score_id"] == first["score_id"] and taken["case"]["assigned_to"] == "carol"
    assert taken["unassigned"] == 3                                       # five, less carol's and bob's

    _age_hold(app, queue[1]["score_id"], 9)                               # bob renews his own hold in time
    renewed = client.post(f"/v1/risk/scores/{queue[1]['score_id']}/assign", json={"analyst": "bob"},
                          headers=bearer(keys["risk"])).get_json()
    assert datetime.fromisoformat(renewed["hold_expires_at"]) > datetime.fromisoformat(first["hold_expires_at"])
    assert claim(client, keys, analyst="dave")["case"]["score_id"] not in {queue[1]["score_id"], first["score_id"]}


def test_holds_never_lapse_when_the_hours_are_zero(app, client, keys, queue):
    state = app.extensions["kefu"]
    state.settings = state.settings.with_overrides({"risk_hold_hours": 0})
    first = claim(client, keys, analyst="alice")["case"]
    assert first["hold_expires_at"] is None
    _age_hold(app, first["score_id"], 24 * 30)
    assert claim(client, keys, analyst="bob")["case"]["score_id"] == queue[1]["score_id"]
    assert reviews(client, keys, unassigned="true")["open"] == 3


def test_each_claim_and_assignment_sets_its_own_hold_and_the_setting_moves_no_hold_taken(app, client, keys, queue):
    night = claim(client, keys, analyst="night", hold_hours=0.5)["case"]
    assert (datetime.fromisoformat(night["hold_expires_at"]) - datetime.fromisoformat(night["assigned_at"])
            == timedelta(minutes=30))
    day = claim(client, keys, analyst="day")["case"]                      # no hours: KEFU_RISK_HOLD_HOURS (8)
    assert datetime.fromisoformat(day["hold_expires_at"]) - datetime.fromisoformat(day["assigned_at"]) == timedelta(
        hours=8)
    _age_hold(app, night["score_id"], 1)
    _age_hold(app, day["score_id"], 1)
    assert claim(client, keys, analyst="next")["case"]["score_id"] == night["score_id"]   # only the night hold lapsed
    state = app.extensions["kefu"]
    state.settings = state.settings.with_overrides({"risk_hold_hours": 0.25})
    read = client.get(f"/v1/risk/scores/{day['score_id']}", headers=bearer(keys["risk"])).get_json()
    held_for = datetime.fromisoformat(read["hold_expires_at"]) - datetime.fromisoformat(read["assigned_at"])
    assert held_for == timedelta(hours=8) and read["assigned_to"] == "day"   # the 8 hours it was taken for, not 0.25
    kept = client.post(f"/v1/risk/scores/{day['score_id']}/assign", json={"analyst": "lead", "hold_hours": 0},
                       headers=bearer(keys["risk"]))
    assert kept.status_code == 200 and kept.get_json()["hold_expires_at"] is None     # held until released
    _age_hold(app, day["score_id"], 24 * 7)
    assert day["score_id"] not in {e["score_id"] for e in reviews(client, keys, unassigned="true")["entries"]}

