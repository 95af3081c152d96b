"""Recommendations over HTTP on a small simulated shop, with the merchandiser's rules checked one by one."""
from __future__ import annotations

import re

import pytest

from conftest import bearer


@pytest.fixture(scope="module")
def trained(recommend_shop):
    """The session's simulated shop with a trained recommender (conftest.recommend_shop)."""
    return recommend_shop[0], recommend_shop[1]


@pytest.fixture
def app(trained, request, tmp_path, embedder):
    if "shop" in request.fixturenames:
        return trained[0]
    from service.app import create_app  # an empty app: nothing trained

    return create_app({"database_url": f"sqlite:///{tmp_path / 'kefu.db'}", "data_dir": str(tmp_path / "data"),
                       "log_level": "WARNING"}, embedder=embedder)


@pytest.fixture
def shop(trained):
    return trained[1]


def ask(client, keys, **body):
    return client.post("/v1/recommendations", json=body, headers=bearer(keys["recommendations"]))


def buyer(store) -> str:
    events = store.load_events(types=["purchase"])
    return events.customer_id.value_counts().index[0]


def test_no_model_is_404(client, keys):
    r = ask(client, keys, customer_id="c1")
    assert r.status_code == 404 and "kefu train recommender" in r.get_json()["message"]


def test_personalised_answer_follows_the_rules(client, keys, store, shop):
    customer = buyer(store)
    r = ask(client, keys, customer_id=customer, k=10)
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert body["strategy"] == "personalised" and body["model"] == "recommend" and body["model_version"]
    items = body["items"]
    assert len(items) == 10
    catalogue = store.load_items().set_index("item_id")
    bought = set(store.load_events([customer], types=["purchase"]).item_id)
    per_category: dict = {}
    for item in items:
        row = catalogue.loc[item["item_id"]]
        assert bool(row.active) and row.stock > 0
        assert item["item_id"] not in bought or bool(row.repeatable)
        assert item["reason"] and item["source"]
        per_category[item["category"]] = per_category.get(item["category"], 0) + 1
    assert max(per_category.values()) <= 3
    assert [i["score"] for i in items] == sorted((i["score"] for i in items), reverse=True)


def test_filters_are_honoured_exactly(client, keys, store, shop):
    customer = buyer(store)
    first = ask(client, keys, customer_id=customer, k=5).get_json()["items"]
    category = first[0]["category"]
    only = ask(client, keys, customer_id=customer, k=10, filters={"categories": [category]}).get_json()["items"]
    assert only and all(i["category"] == category for i in only) and len(only) <= 3
    without = ask(client, keys, customer_id=customer, k=10, filters={"exclude_categories": [category],
                                                                     "exclude_items": [first[1]["item_id"]]}).get_json()["items"]
    assert all(i["category"] != category for i in without)
    assert first[1]["item_id"] not in {i["item_id"] for i in without}
    cheap = ask(client, keys, customer_id=customer, k=10, filters={"price_min": 1, "price_max": 10}).get_json()["items"]
    assert all(1 <= i["price"] <= 10 for i in cheap)


def test_out_of_stock_items_disappear_at_once(client, keys, store, shop):
    customer = buyer(store)
    top = ask(client, keys, customer_id=customer, k=3).get_json()["items"][0]["item_id"]
    client.post("/v1/items", json={"items": [{"item_id": top, "stock": 0}]}, headers=bearer(keys["events"]))
    again = ask(client, keys, customer_id=customer, k=10).get_json()["items"]
    assert top not in {i["item_id"] for i in again}


def test_unknown_customer_gets_cold_start(client, keys, shop):
    r = ask(client, keys, customer_id="never-seen", k=5, segment={"age_band": "25-34", "region": "north"})
    body = r.get_json()
    assert r.status_code == 200 and body["strategy"] == "cold_start" and len(body["items"]) == 5


def test_context_item_is_not_recommended_back(client, keys, store, shop):
    customer = buyer(store)
    top = ask(client, keys, customer_id=customer, k=3).get_json()["items"][0]["item_id"]
    again = ask(client, keys, customer_id=customer, k=10, context={"item_id": top}).get_json()["items"]
    assert top not in {i["item_id"] for i in again}


def test_the_item_on_the_page_steers_the_answer_towards_what_goes_with_it(client, keys, store, shop):
    """The context item anchors the candidates and what goes with it moves up: its bought-together partner is
    shown, explained by it, even to a visitor the shop has never seen; without the context it is not. The
    reason comes from whichever of the two co-purchase sources ranks the partner higher for that item (the
    simulated history ends today, so which one wins a pair changes from day to day); both name the item."""
    names = store.load_items().set_index("item_id")["name"]
    shown = 0
    for a, b in shop.bundles[:5]:
        items = ask(client, keys, customer_id="page-visitor", k=10, context={"item_id": a}).get_json()["items"]
        partner = [i for i in items if i["item_id"] == b]
        if partner:
            shown += 1
            assert partner[0]["source"] in ("bought_together", "item_knn") and names[a] in partner[0]["reason"]
        assert a not in {i["item_id"] for i in items}
    plain = {i["item_id"] for i in ask(client, keys, customer_id="page-visitor", k=10).get_json()["items"]}
    assert shown >= 3 and sum(b in plain for _, b in shop.bundles[:5]) < shown


def test_an_anonymous_visitors_session_steers_the_cold_start(client, keys, store, shop):
    """The items a visitor has looked at (context.items) anchor the candidates like a page's item: an unknown
    visitor who viewed one half of several bundles is shown other halves, explained by what was viewed, and
    never the viewed items themselves. A session of one item is the page's item. (How much a session helps is
    measured on Ta-Feng by bench/session_context.py; this small shop's bundles are popular anyway.)"""
    names = store.load_items().set_index("item_id")["name"]
    viewed = [a for a, _ in shop.bundles[:3]]
    partners = {b: a for a, b in shop.bundles[:3]}
    body = ask(client, keys, customer_id="anonymous-session-1", k=10, context={"items": viewed}).get_json()
    assert body["strategy"] == "cold_start"
    items = body["items"]
    assert not set(viewed) & {i["item_id"] for i in items}
    found = [i for i in items if i["item_id"] in partners and names[partners[i["item_id"]]] in i["reason"]]
    assert found and all(i["source"] in ("bought_together", "item_knn") for i in found)
    plain = ask(client, keys, customer_id="anonymous-session-1", k=10).get_json()["items"]
    assert [i["item_id"] for i in plain] != [i["item_id"] for i in items]
    one = ask(client, keys, customer_id="anonymous-session-1", k=10, context={"items": viewed[:1]}).get_json()
    page = ask(client, keys, customer_id="anonymous-session-1", k=10, context={"item_id": viewed[0]}).get_json()
    assert one["items"] == page["items"]
    both = ask(client, keys, customer_id="anonymous-session-1", k=10,
               context={"item_id": viewed[0], "items": viewed}).get_json()
    assert both["items"] == body["items"]                      # the page's item and the session's, each once


def test_similar_items_and_unknown_item(client, keys, shop):
    a, b = shop.bundles[0]
    r = client.get(f"/v1/items/{a}/similar?k=5", headers=bearer(keys["recommendations"]))
    assert r.status_code == 200
    items = r.get_json()["items"]
    assert 0 < len(items) <= 5 and a not in {i["item_id"] for i in items}
    assert client.get("/v1/items/nope/similar", headers=bearer(keys["recommendations"])).status_code == 404


@pytest.mark.parametrize("body", [{"k": 5}, {"customer_id": "c1", "k": 0}, {"customer_id": "c1", "k": 101},
                                  {"customer_id": "c1", "filters": {"price_min": 5, "price_max": 1}},
                                  {"customer_id": "c1", "filters": {"colour": "red"}}, {"customer_id": "c1", "extra": 1},
                                  {"customer_id": "c1", "context": {"items": "i1"}},
                                  {"customer_id": "c1", "context": {"items": [f"i{n}" for n in range(21)]}},
                                  {"customer_id": "c1", "context": {"items": [""]}}])
def test_bad_requests_are_422(client, keys, body):
    r = ask(client, keys, **body)
    assert r.status_code == 422 and r.get_json()["errors"]


def test_scope(client, keys):
    assert client.post("/v1/recommendations", json={"customer_id": "c1"}, headers=bearer(keys["risk"])).status_code == 403


def test_activity_after_training_counts_at_once(client, keys, store, shop):
    cold = [i["item_id"] for i in ask(client, keys, customer_id="fresh-1", k=10).get_json()["items"]]
    a, b = shop.bundles[0]
    when = store.data_clock().isoformat() + "Z"
    r = client.post("/v1/events", json={"events": [{"event_id": "fresh-buy", "type": "purchase", "customer_id": "fresh-1",
                                                    "item_id": a, "amount": 5.0, "timestamp": when}]},
                    headers=bearer(keys["events"]))
    assert r.status_code == 202
    body = ask(client, keys, customer_id="fresh-1", k=10).get_json()
    assert body["strategy"] == "personalised"
    warm = [i["item_id"] for i in body["items"]]
    assert warm != cold
    repeatable = bool(store.load_items().set_index("item_id").loc[a, "repeatable"])
    assert repeatable or a not in warm


def test_dismissed_items_are_never_recommended_again(client, keys, store, shop):
    """A ``dismiss`` event ("not interested") takes the item out of that customer's answers, and only theirs."""
    buyers = store.load_events(types=["purchase"]).customer_id.value_counts().index
    customer, other = buyers[1], buyers[2]
    first = [i["item_id"] for i in ask(client, keys, customer_id=customer, k=10).get_json()["items"]]
    others_before = ask(client, keys, customer_id=other, k=10).get_json()["items"]
    gone = first[:2]
    when = store.data_clock().isoformat() + "Z"
    r = client.post("/v1/events", json={"events": [
        {"event_id": f"dismiss-{n}", "type": "dismiss", "customer_id": customer, "item_id": item, "timestamp": when}
        for n, item in enumerate(gone)]}, headers=bearer(keys["events"]))
    assert r.status_code == 202 and r.get_json()["accepted"] == 2
    after = [i["item_id"] for i in ask(client, keys, customer_id=customer, k=10).get_json()["items"]]
    assert len(after) == 10 and not set(gone) & set(after)
    assert set(first[2:]) <= set(after)
    assert ask(client, keys, customer_id=other, k=10).get_json()["items"] == others_before
    bad = client.post("/v1/events", json={"events": [{"event_id": "dismiss-x", "type": "dismiss", "customer_id": customer}]},
                      headers=bearer(keys["events"]))
    assert bad.status_code == 422 and "item_id" in str(bad.get_json())


def test_readiness_builds_the_catalogue_snapshot_so_no_customer_waits_for_it(app, shop):
    service = app.extensions["kefu"].extras["recommend"]
    service._snapshot = None
    assert app.test_client().get("/readyz").status_code == 200
    assert service._snapshot is not None and len(service._snapshot[1]) == len(shop.items)


def test_warming_without_a_model_does_nothing(app):
    service = app.extensions["kefu"].extras["recommend"]
    service.warm()
    assert service._snapshot is None


def test_training_compiles_the_model_once_and_workers_serve_with_it(app, shop):
    pytest.importorskip("lleaves", reason="the compiled path needs the `fast` extra (lleaves)")
    state = app.extensions["kefu"]
    model, version = state.extras["models"].get("recommend")
    assert list((version.path / ".cache").glob("lleaves-model-*.o")), "training should leave the compiled trees"
    assert model.predictor is not None


def test_every_candidate_source_has_a_readable_reason():
    from models.recommend.config import SOURCES
    from service.pipelines.recommend import reason_text

    for source in SOURCES:
        text = reason_text((source, "i1"), {"i1": {"name": "Green tea"}})
        assert text and text != source.replace("_", " "), source


def test_popular_reasons_name_the_models_window():
    from service.pipelines.recommend import reason_text

    region = ("popular_region", "north")
    assert reason_text(region, {}, 7) == "popular in your area this week"
    assert reason_text(region, {}, 30) == "popular in your area this month"
    assert reason_text(("popular_age_band", "25-34"), {}, 14) == "popular with customers aged 25-34 in the last 14 days"


def _plain_recommend(service, customer_id, k=10, filters=None, context=None, segment=None) -> dict:
    """The answer as the pipeline computed it before RecommendReads: the store's own methods, purchases read up
    front, pandas label lookups (Recommender.propose's own equality with rank is tested in tests/models)."""
    import numpy as np

    from service.pipelines.recommend import MODEL, OVERFETCH

    store = service.store
    rec, version = service._model()
    filters = dict(filters or {})
    customer = store.get_customer(customer_id)
    newest, bought = store.customer_activity(customer_id) if customer else (None, set())
    known = newest is not None
    profile = store.get_profile(customer_id) if known else None
    features = (profile or {}).get("features") or {}
    attributes = {**{a: (customer or {}).get(a) for a in ("age_band", "region")}, **dict(segment or {})}
    exclude = set(filters.get("exclude_items", ()))
    shown = list(dict.fromkeys(([context["item_id"]] if context and context.get("item_id") else [])
                               + list((context or {}).get("items") or ())))
    exclude.update(shown)
    if known:
        exclude |= set(store.load_events([customer_id], types=["dismiss"]).item_id.dropna())
    chat = features.get("chat_embedding")
    fresh = known and (newest > rec.state.as_of or customer_id not in rec.state.customer_index)
    proposals = rec.propose(customer_id, k=max(50, OVERFETCH * k), exclude=exclude,
                            events=store.load_events([customer_id]) if fresh else None, profile=features or None,
                            customer={a: v for a, v in attributes.items() if v is not None} or None,
                            chat_embedding=np.asarray(chat, dtype=np.float32) if chat else None,
                            now=store.data_clock(), context=shown)
    items = service._apply_rules(proposals, service._items(), bought, exclude, filters, k)
    return {"customer_id": customer_id, "items": items, "strategy": "personalised" if known else "cold_start",
            "model": MODEL, "model_version": version.version}


def test_answers_equal_the_plain_pipeline_and_the_schema_dump(app, client, keys, store, shop, monkeypatch):
    """The prepared reads, the purchases read only when needed, and the answer written without marshmallow's dump
    change nothing: every answer is the plain pipeline's, as RecommendationResponseSchema dumps it."""
    from service.schemas.recommend import RecommendationResponseSchema

    service = app.extensions["kefu"].extras["recommend"]
    events = store.load_events(types=["purchase"])
    customers = list(events.customer_id.value_counts().index[::25][:8])
    non_repeatable = store.load_items().query("repeatable == False").item_id.tolist()
    bodies = [{"customer_id": c, "k": k} for c in customers for k in (1, 10, 40)]
    bodies += [{"customer_id": customers[0], "k": 10, "context": {"item_id": shop.bundles[0][0]},
                "filters": {"price_max": 8.0, "exclude_items": non_repeatable[:3]}},
               {"customer_id": customers[1], "k": 20, "filters": {"exclude_categories": ["no-such-category"]}},
               {"customer_id": customers[2], "k": 10, "context": {"items": [b for _, b in shop.bundles[:3]]}},
               {"customer_id": "never-seen", "k": 10, "context": {"item_id": shop.bundles[0][0],
                                                                  "items": [shop.bundles[1][0], shop.bundles[0][0]]}},
               {"customer_id": "never-seen", "k": 5, "segment": {"age_band": "25-34", "region": "north"}},
               {"customer_id": "never-seen", "k": 5}]
    schema = RecommendationResponseSchema()
    purchases_read = []
    read = service.reads.purchased_items
    monkeypatch.setattr(service.reads, "purchased_items", lambda c: purchases_read.append(c) or read(c))
    shown = 0
    for body in bodies:
        r = ask(client, keys, **body)
        assert r.status_code == 200 and r.mimetype == "application/json" and r.data.endswith(b"\n")
        answer = r.get_json()
        assert re.fullmatch(r"[0-9a-f]{32}", answer["recommendation_id"])     # each list's own id (logged)
        expected = schema.dump({**_plain_recommend(service, body["customer_id"], body["k"], body.get("filters"),
                                                   body.get("context"), body.get("segment")),
                                "recommendation_id": answer["recommendation_id"]})
        assert answer == expected, body
        assert list(answer) == list(expected) and all(list(a) == list(e) for a, e in
                                                      zip(answer["items"], expected["items"]))   # key order too
        shown += len(answer["items"])
    assert shown > 100
    assert purchases_read, "no answer met a non-repeatable proposal: the lazy purchases read went untested"


def test_answers_are_the_same_without_orjson(client, keys, store, shop, monkeypatch):
    from features import fastjson

    body = {"customer_id": buyer(store), "k": 10}
    fast = ask(client, keys, **body)
    monkeypatch.setattr(fastjson, "orjson", None)
    plain = ask(client, keys, **body)
    assert fast.status_code == plain.status_code == 200
    assert fast.mimetype == plain.mimetype == "application/json" and plain.data.endswith(b"\n")
    assert fast.get_json().pop("recommendation_id") != plain.get_json().pop("recommendation_id")
    assert {**fast.get_json(), "recommendation_id": None} == {**plain.get_json(), "recommendation_id": None}


def test_bad_json_is_still_400(client, keys):
    r = client.post("/v1/recommendations", data="{not json", content_type="application/json",
                    headers=bearer(keys["recommendations"]))
    assert r.status_code == 400 and r.get_json()["code"] == 400


def test_performance_follows_what_customers_did_after_their_lists(client, keys, store, shop, monkeypatch):
    from datetime import datetime, timedelta, timezone

    from features.storage import recommend_log

    monkeypatch.setattr(recommend_log, "CUSTOMER_CHUNK", 1)     # the reached customers' events read in chunks

    def report(**query):
        r = client.get("/v1/recommendations/performance", query_string=query, headers=bearer(keys["recommendations"]))
        assert r.status_code == 200, r.get_json()
        return r.get_json()

    before = report()
    # Two buyers the shared shop has shown no list yet: an earlier list with the same item would take the credit.
    listed = set(recommend_log.RecommendationLogStore(store.engine).served(
        datetime(2000, 1, 1, tzinfo=timezone.utc), datetime.now(timezone.utc) + timedelta(days=1), 10**6).customer_id)
    buyers = store.load_events(types=["purchase"]).customer_id.value_counts().index[::-1]
    customers = [c for c in buyers if c not in listed][:2]
    lists = [ask(client, keys, customer_id=c, k=5).get_json() for c in customers]
    assert all(len(x["items"]) == 5 for x in lists)
    soon = (datetime.now(timezone.utc) + timedelta(seconds=1)).isoformat()
    bought, viewed = lists[0]["items"][0], lists[1]["items"][2]
    events = [{"event_id": "perf-1", "type": "purchase", "customer_id": customers[0], "item_id": bought["item_id"],
               "timestamp": soon, "amount": 1.0},
              {"event_id": "perf-2", "type": "view", "customer_id": customers[1], "item_id": viewed["item_id"],
               "timestamp": soon}]
    assert client.post("/v1/events", json={"events": events}, headers=bearer(keys["events"])).status_code == 202
    after = report()
    assert after["lists"] == before["lists"] + 2 and after["items_shown"] == before["items_shown"] + 10
    purchased_lists = round(after["purchase_rate"] * after["lists"]) - round((before["purchase_rate"] or 0) * before["lists"])
    assert purchased_lists == 1
    position = {g["position"]: g for g in after["by_position"]}
    assert position[1]["purchase_rate"] > 0 and position[3]["view_rate"] > 0
    assert bought["source"] in {g["source"] for g in after["by_source"] if g["purchase_rate"]}
    assert report(days=1, window_days=1)["lists"] >= 2
    bad = client.get("/v1/recommendations/performance?window_days=0", headers=bearer(keys["recommendations"]))
    assert bad.status_code == 422
    assert client.get("/v1/recommendations/performance", headers=bearer(keys["risk"])).status_code == 403


def test_performance_per_channel_and_for_one_channel(app, client, keys, store, shop):
    """HTTP lists are logged as api; a campaign's and a chat reply's lists (logged here directly) are reported
    per channel, and ?channel= reads one channel only. An unknown channel is a 422 in the usual envelope."""
    from datetime import timedelta

    from features.storage.recommend_log import list_row
    from features.storage.store import utcnow

    def report(**query):
        r = client.get("/v1/recommendations/performance", query_string=query, headers=bearer(keys["recommendations"]))
        assert r.status_code == 200, r.get_json()
        return r.get_json()

    def shown_by_channel(body: dict) -> dict:
        return {g["channel"]: g["shown"] for g in body["by_channel"]}

    before = report()                       # the session's shared shop may hold lists of other tests already
    before_campaign, before_chat = report(channel="campaign"), report(channel="chat")
    customers = store.load_events(types=["purchase"]).customer_id.value_counts().index[:3]
    api_id = ask(client, keys, customer_id=customers[0], k=4).get_json()["recommendation_id"]
    log = app.extensions["kefu"].extras["recommend_log"]
    campaign = {"customer_id": customers[1], "strategy": "personalised", "model_version": "v-mail",
                "items": [{"item_id": "p1", "source": "repeat"}, {"item_id": "p2", "source": "popular_segment"}]}
    log.store.record([list_row("mail-1", campaign, channel="campaign", created_at=utcnow())])
    log.record("chat-1", {**campaign, "customer_id": customers[2], "items": campaign["items"][:1]}, None, None,
               channel="chat")
    every = report()
    shown, was = shown_by_channel(every), shown_by_channel(before)
    assert shown["campaign"] - was.get("campaign", 0) == 2 and shown["chat"] - was.get("chat", 0) == 1
    assert shown["api"] - was.get("api", 0) >= 4
    assert every["channel"] is None
    only = report(channel="campaign")
    assert only["channel"] == "campaign" and only["lists"] == before_campaign["lists"] + 1
    assert only["items_shown"] == before_campaign["items_shown"] + 2
    assert [g["channel"] for g in only["by_channel"]] == ["campaign"]
    assert {g["model_version"]: g["shown"] for g in only["by_model_version"]}["v-mail"] == 2
    chat = report(channel="chat")
    assert chat["items_shown"] == before_chat["items_shown"] + 1
    api = report(channel="api")
    assert api["lists"] == every["lists"] - only["lists"] - chat["lists"]
    assert {g["channel"] for g in api["by_channel"]} == {"api"}
    logged = log.served(utcnow() - timedelta(days=1), utcnow(), 50_000).set_index("recommendation_id")
    assert logged.loc[api_id, "channel"] == "api" and logged.loc["mail-1", "channel"] == "campaign"
    bad = client.get("/v1/recommendations/performance?channel=email", headers=bearer(keys["recommendations"]))
    body = bad.get_json()
    assert bad.status_code == 422 and body["code"] == 422 and "channel" in str(body["errors"]) and body["request_id"]


def test_lists_are_counted_in_the_metrics_by_strategy(client, keys, store, shop):
    from service.metrics import metrics

    def count(strategy: str) -> float:
        return metrics().registry.get_sample_value("kefu_recommendation_lists_total", {"strategy": strategy}) or 0.0

    before = count("personalised"), count("cold_start")
    assert ask(client, keys, customer_id=buyer(store), k=5).status_code == 200
    assert ask(client, keys, customer_id="never-seen-metrics", k=5).status_code == 200
    assert ask(client, keys, customer_id="never-seen-metrics", k=5).status_code == 200
    assert (count("personalised") - before[0], count("cold_start") - before[1]) == (1, 2)


def test_popular_items_for_everyone_a_segment_and_a_category(app, client, keys, store, shop):
    """GET /v1/items/popular answers the model's popularity lists in order, under the live catalogue's rules:
    everyone's, a region's (an unknown region gets everyone's), one category's (exactly), and a region's items
    of one category."""
    service = app.extensions["kefu"].extras["recommend"]
    st = service._model()[0].state
    catalogue = service._items()

    def expected(codes, category=None) -> list[str]:
        ids = [str(st.item_ids[c]) for c in codes.tolist() if c >= 0]
        return [i for i in ids if catalogue[i]["active"] and (catalogue[i]["stock"] is None or catalogue[i]["stock"] > 0)
                and (category is None or catalogue[i]["category"] == category)]

    def popular(**query) -> dict:
        r = client.get("/v1/items/popular", query_string=query, headers=bearer(keys["recommendations"]))
        assert r.status_code == 200, r.get_json()
        return r.get_json()

    everyone = popular(k=8)
    assert everyone["basis"] == "everyone" and everyone["as_of"] and everyone["model_version"]
    assert [i["item_id"] for i in everyone["items"]] == expected(st.popular[0])[:8]
    assert all(i["source"] == "popular" and i["reason"] == "popular right now" for i in everyone["items"])

    region = str(st.regions[0])
    local = popular(k=8, region=region)
    assert local["basis"] == "region"
    assert [i["item_id"] for i in local["items"]] == expected(st.tables["popular_region"][0][0])[:8]
    assert popular(k=8, region="nowhere")["items"] == everyone["items"]

    category = everyone["items"][0]["category"]
    cat = popular(k=5, category=category)
    code = [str(c) for c in st.categories].index(category)
    assert [i["item_id"] for i in cat["items"]] == expected(st.tables["category_items"][0][code], category)[:5]
    assert all(i["category"] == category and category in i["reason"] for i in cat["items"])
    both = popular(k=5, region=region, category=category)
    assert [i["item_id"] for i in both["items"]] == expected(st.tables["popular_region"][0][0], category)[:5]
    assert popular(category="no-such-category")["items"] == []

    # the live catalogue: an item switched off leaves the list at once
    top = everyone["items"][0]["item_id"]
    r = client.post("/v1/items", json={"items": [{"item_id": top, "active": False}]}, headers=bearer(keys["events"]))
    assert r.status_code in (200, 202), r.get_json()
    try:
        after = [i["item_id"] for i in popular(k=8)["items"]]
        assert top not in after and after[:7] == [i["item_id"] for i in everyone["items"][1:8]]
    finally:
        client.post("/v1/items", json={"items": [{"item_id": top, "active": True}]}, headers=bearer(keys["events"]))


@pytest.mark.parametrize("query", [{"k": 0}, {"k": 101}, {"region": "north", "age_band": "25-34"}, {"colour": "red"},
                                   {"category": ""}])
def test_bad_popular_queries_are_422(client, keys, shop, query):
    r = client.get("/v1/items/popular", query_string=query, headers=bearer(keys["recommendations"]))
    assert r.status_code == 422 and r.get_json()["code"] == 422
