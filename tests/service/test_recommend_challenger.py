"""A split test of two recommender versions over HTTP: each customer stays with one version, every answer
says which, and the online performance report sets the two side by side."""
from __future__ import annotations

from conftest import bearer
from test_recommendations_api import app, ask, shop, trained  # noqa: F401 - fixtures


def test_split_test_of_two_recommender_versions(app, client, keys, store, shop):
    """An A/A test: the candidate is a copy of the active version, which is all a split needs to be checked."""
    state = app.extensions["kefu"]
    champion = state.extras["registry"].current("recommend").version
    candidate = state.extras["registry"].clone("recommend", champion).version
    admin = bearer(keys["admin"])
    refused = client.put("/v1/models/recommend/challenger", json={"version": candidate, "mode": "shadow"},
                         headers=admin)
    assert refused.status_code == 422
    r = client.put("/v1/models/recommend/challenger", json={"version": candidate, "mode": "split", "share": 0.5},
                   headers=admin)
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["challenger"]["serving"]["state"] == "ready"
    try:
        customers = list(store.load_events(types=["purchase"]).customer_id.unique()[:60])
        answers = [ask(client, keys, customer_id=c, k=5).get_json() for c in customers * 2]
        first = {a["customer_id"]: a["model_version"] for a in answers[:len(customers)]}
        again = {a["customer_id"]: a["model_version"] for a in answers[len(customers):]}
        assert first == again and set(first.values()) == {champion, candidate}
        # each customer in the arm its hash draws (the share of 60 varies with the clone's random version id:
        # one draw put 45 of them in the challenger's half)
        drawn = state.extras["registry"].challenger("recommend")
        assert first == {c: candidate if drawn.takes(c) else champion for c in customers}
        performance = client.get("/v1/recommendations/performance", query_string={"days": 1},
                                 headers=bearer(keys["recommendations"])).get_json()
        shown = {g["model_version"]: g["shown"] for g in performance["by_model_version"]}
        assert shown[candidate] == sum(len(a["items"]) for a in answers if a["model_version"] == candidate)
        assert shown[champion] >= sum(len(a["items"]) for a in answers if a["model_version"] == champion)
        test = performance["challenge"]                     # customer by customer, since the test began
        assert (test["champion"], test["challenger"]) == (champion, candidate) and test["since"]
        arms = {a["version"]: a for a in test["arms"]}
        assert arms[candidate]["customers"] == sum(v == candidate for v in first.values())
        assert arms[candidate]["lists"] == 2 * arms[candidate]["customers"]
        assert arms[champion]["customers"] == sum(v == champion for v in first.values())
        assert test["verdict"] == "too_few_customers"        # under 50 customers an arm
    finally:
        client.delete("/v1/models/recommend/challenger", headers=admin)
    assert {ask(client, keys, customer_id=c, k=5).get_json()["model_version"] for c in customers[:10]} == {champion}
    reports = lambda **q: client.get("/v1/recommendations/performance", query_string={"days": 1, **q},  # noqa: E731
                                     headers=bearer(keys["recommendations"])).get_json()
    assert reports()["challenge"] is None                   # no test running
    past = reports(challenger=candidate)["challenge"]       # a past test, over the whole period
    assert past["since"] is None and {a["version"] for a in past["arms"]} == {champion, candidate}
    unknown = client.get("/v1/recommendations/performance", query_string={"challenger": "nope"},
                         headers=bearer(keys["recommendations"]))
    assert unknown.status_code == 404
