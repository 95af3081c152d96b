"""Chat over HTTP: grounded replies, slots across turns, handoff rules, personalisation, streaming, the
OpenAI-compatible route (driven by the official ``openai`` client) and the agent-desk views."""
from __future__ import annotations

import json
import re
import threading
import time
from datetime import datetime, timedelta

import pytest

from conftest import bearer


@pytest.fixture(scope="module")
def chat_app(tmp_path_factory, embedder):
    """A small simulated shop with a trained recommender and the demo chat models, plus hand-made customers
    whose orders the tests know. SQLite only: storage is tested on both databases elsewhere."""
    from features.storage.risk_audit import RiskAuditStore
    from models.chat.jobs import setup_demo_chat_models
    from service.app import create_app
    from service.demo import load_shop_into
    from service.pipelines.recommend import train_and_register

    folder = tmp_path_factory.mktemp("chat")
    app = create_app({"database_url": f"sqlite:///{folder / 'kefu.db'}", "data_dir": str(folder / "data"),
                      "log_level": "WARNING", "auth_cache_seconds": 0.0}, embedder=embedder)
    state = app.extensions["kefu"]
    load_shop_into(state, n_customers=150, seed=11, echo=lambda _: None)
    state.extras["profiles"].rebuild_all()
    train_and_register(state)
    setup_demo_chat_models(state.extras["registry"], embedder, echo=lambda _: None)

    store = state.store
    store.upsert_customers([
        {"customer_id": "c-en", "name": "Mary", "tier": "gold", "language": "en"},
        {"customer_id": "c-zh", "name": "王芳", "tier": "silver", "language": "zh"},
        {"customer_id": "c-risky", "name": "Sam", "language": "en"},
        {"customer_id": "c-new", "name": "Nina", "language": "en"},
    ])
    store.upsert_items([{"item_id": "t-tea", "name": "Jasmine tea", "category": "beverages", "price": 6.5},
                        {"item_id": "t-mug", "name": "Travel mug", "category": "home", "price": 15.0}])
    now = datetime.utcnow()

    def buy(eid, customer, order, item, days, amount):
        return {"event_id": eid, "type": "purchase", "customer_id": customer, "ts": now - timedelta(days=days),
                "item_id": item, "order_id": order, "quantity": 1.0, "amount": amount, "currency": "USD"}

    store.insert_events([
        buy("x1", "c-en", "1042", "t-tea", 2, 6.5), buy("x2", "c-en", "1042", "t-mug", 2, 15.0),
        buy("x3", "c-en", "1001", "t-mug", 20, 15.0), buy("x4", "c-zh", "2001", "t-tea", 1.5, 6.5),
        buy("x5", "c-risky", "3001", "t-mug", 10, 15.0),
    ])
    RiskAuditStore(store.engine).record_scores([{
        "score_id": "s-risky", "model": "transactions", "model_version": "v1", "customer_id": "c-risky",
        "transaction_id": None, "score": 0.93, "decision": "decline", "reasons": [], "features": {},
        "request_id": None}])
    yield app
    state.extras["profile_refresher"].flush()
    store.engine.dispose()


@pytest.fixture(scope="module")
def chat_keys(chat_app):
    from service.auth import create_api_key

    store = chat_app.extensions["kefu"].store
    return {"chat": create_api_key(store, ["chat"]), "risk": create_api_key(store, ["risk"])}


@pytest.fixture
def app_with(chat_app, embedder, tmp_path):
    """Another app on the same database and models, with its own reply generator."""
    from service.app import create_app

    made = []

    def build(generator):
        state = chat_app.extensions["kefu"]
        app = create_app({"database_url": str(state.store.engine.url), "data_dir": str(tmp_path),
                          "model_dir": str(state.settings.resolved_model_dir), "log_level": "WARNING",
                          "auth_cache_seconds": 0.0}, embedder=embedder, generator=generator)
        made.append(app)
        return app

    yield build
    for app in made:
        app.extensions["kefu"].extras["profile_refresher"].flush()
        app.extensions["kefu"].store.engine.dispose()


@pytest.fixture
def say(chat_app, chat_keys):
    client = chat_app.test_client()

    def say(customer: str, message: str, conversation: str | None = None, status: int = 200) -> dict:
        body = {"customer_id": customer, "message": message}
        if conversation:
            body["conversation_id"] = conversation
        r = client.post("/v1/chat", json=body, headers=bearer(chat_keys["chat"]))
        assert r.status_code == status, r.get_json()
        return r.get_json()

    return say


def _delivery(days_ago: float) -> str:
    from models.chat.phrases import format_date

    return format_date(datetime.utcnow() - timedelta(days=days_ago) + timedelta(days=5), "en")


def test_order_question_is_answered_with_the_customers_own_order(say):
    a = say("c-en", "Where is order 1042?")
    assert a["intent"]["name"] == "order_status" and not a["intent"]["out_of_scope"]
    assert a["language"] == "en" and a["generator"] == "template" and a["fact_check"]["passed"]
    assert a["reply"].startswith("Hi Mary, ")
    assert "1042" in a["reply"] and "on its way" in a["reply"] and _delivery(2) in a["reply"]
    assert "Jasmine tea" in a["reply"] and "Travel mug" in a["reply"]
    assert a["slots"]["order_number"] == "1042"
    assert not a["handoff"]["needed"]
    assert a["sources"] and a["sources"][0]["intent"] == "order_status"


def test_the_order_number_carries_over_to_the_next_turn(say):
    first = say("c-en", "Where is order 1001?")
    assert "delivered" in first["reply"]
    follow = say("c-en", "and when will it arrive?", first["conversation_id"])
    assert follow["conversation_id"] == first["conversation_id"]
    assert follow["slots"]["order_number"] == "1001"
    assert "1001" in follow["reply"] and "1042" not in follow["reply"]


def test_without_an_order_number_the_latest_order_is_used(say):
    assert "1042" in say("c-en", "Has my order shipped yet?")["reply"]


def test_an_order_that_is_not_the_customers_is_questioned(say):
    a = say("c-en", "where is order 99999?")
    assert "99999" in a["reply"] and "1042" in a["reply"]  # names the order it could not find and lists real ones


def test_a_customer_without_orders_is_asked_for_the_number(say):
    a = say("c-new", "Where is my order?")
    assert "order number" in a["reply"].lower()


def test_chinese_messages_get_chinese_replies(say):
    a = say("c-zh", "我的订单到哪了？")
    assert a["language"] == "zh" and a["intent"]["name"] == "order_status"
    assert a["reply"].startswith("王芳您好") and "2001" in a["reply"] and "正在配送中" in a["reply"]


def test_policy_answers_keep_their_facts(say):
    a = say("c-en", "How many days do I have to send something back?")
    assert a["intent"]["name"] == "return_item" and "30 days" in a["reply"]


def test_small_talk_is_not_sent_to_retrieval(say):
    a = say("c-en", "hello?")
    assert a["intent"]["name"] == "greeting" and a["reply"] == "Hi Mary, how can I help you today?"


def test_product_questions_bring_recommendations(say, chat_app):
    a = say("c-en", "Can you recommend something for me?")
    assert a["intent"]["name"] == "product_recommendation"
    assert 1 <= len(a["recommendations"]) <= 3
    names = [r["name"] for r in a["recommendations"]]
    assert all(n in a["reply"] for n in names)
    assert all(r["reason"] for r in a["recommendations"])


def test_a_reply_with_products_logs_a_chat_list_for_the_performance_report(say, chat_app, chat_keys):
    """The list a reply shows gets a recommendation_id and is logged once with channel chat (customer, items in
    order, sources, model version, the request's id), streamed or not; a reply without products logs nothing."""
    from datetime import timezone

    client = chat_app.test_client()
    log = chat_app.extensions["kefu"].extras["recommend_log"]

    def chat_lists() -> dict:
        now = datetime.now(timezone.utc).replace(tzinfo=None)
        return log.served(now - timedelta(hours=1), now + timedelta(minutes=1), 10_000, channel="chat").set_index(
            "recommendation_id")

    before = len(chat_lists())
    r = client.post("/v1/chat", json={"customer_id": "c-en", "message": "Can you recommend something for me?"},
                    headers={**bearer(chat_keys["chat"]), "X-Request-ID": "chat-rec-1"})
    a = r.get_json()
    assert a["recommendations"] and re.fullmatch(r"[0-9a-f]{32}", a["recommendation_id"])
    logged = chat_lists()
    assert len(logged) == before + 1
    row = logged.loc[a["recommendation_id"]]
    assert (row["customer_id"], row["channel"], row["request_id"]) == ("c-en", "chat", "chat-rec-1")
    assert row["items"] == [i["item_id"] for i in a["recommendations"]]
    assert row["sources"] == [i["source"] for i in a["recommendations"]] and row["model_version"]

    plain = say("c-en", "How many days do I have to send something back?")
    assert plain["recommendations"] == [] and plain["recommendation_id"] is None
    assert len(chat_lists()) == before + 1

    s = client.post("/v1/chat", json={"customer_id": "c-en", "message": "Can you recommend something for me?",
                                      "stream": True}, headers=bearer(chat_keys["chat"]))
    events = _sse_events(s.get_data(as_text=True))
    meta, done = events[0][1], events[-1][1]
    assert meta["recommendation_id"] and meta["recommendation_id"] == done["recommendation_id"]
    logged = chat_lists()
    assert len(logged) == before + 2 and logged.loc[meta["recommendation_id"], "items"] == [
        i["item_id"] for i in meta["recommendations"]]
    report = client.get("/v1/recommendations/performance?channel=chat",
                        headers=bearer(create_key(chat_app, "recommendations"))).get_json()
    assert report["lists"] == before + 2 and [g["channel"] for g in report["by_channel"]] == ["chat"]


def test_a_promotion_scheduled_for_chat_gets_a_place_in_product_replies(say, chat_app, chat_keys):
    """A live promotion on the chat channel keeps one of the reply's three places (round(3 × 0.34)); the list is
    logged with its name; one scheduled for the api channel only leaves chat replies alone."""
    client = chat_app.test_client()
    store = chat_app.extensions["kefu"].store
    headers = bearer(create_key(chat_app, "recommendations"))
    question = "Can you recommend something for me?"
    plain = say("c-en", question)
    assert plain["recommendations"] and all("promoted" not in r for r in plain["recommendations"])
    items = store.load_items()
    shown = {r["item_id"] for r in plain["recommendations"]} | {"t-tea", "t-mug"}
    pool = [i for i in items[items.active.astype(bool) & (items.stock > 0)].item_id if i not in shown][:20]
    put = client.put("/v1/promotions/Tea%20week", json={"items": pool, "share": 0.34, "channels": ["api"]},
                     headers=headers)
    assert put.status_code == 200
    try:
        assert all("promoted" not in r for r in say("c-en", question)["recommendations"])
        client.put("/v1/promotions/Tea%20week", json={"items": pool, "share": 0.34, "channels": ["chat"]},
                   headers=headers)
        a = say("c-en", question)
        promoted = [r for r in a["recommendations"] if r["promoted"]]
        assert len(promoted) == 1 and promoted[0]["item_id"] in pool
        assert (promoted[0]["name"] or promoted[0]["item_id"]) in a["reply"]
        log = chat_app.extensions["kefu"].extras["recommend_log"]
        now = datetime.utcnow()
        row = log.served(now - timedelta(hours=1), now + timedelta(minutes=1), 10_000, channel="chat",
                         promotion="Tea week").set_index("recommendation_id").loc[a["recommendation_id"]]
        assert row["promoted"] == [r["promoted"] for r in a["recommendations"]]
    finally:
        client.delete("/v1/promotions/Tea%20week", headers=headers)


def create_key(app, scope: str) -> str:
    from service.auth import create_api_key

    return create_api_key(app.extensions["kefu"].store, [scope])


def test_asking_for_a_person_hands_over_and_the_agent_queue_shows_it(say, chat_app, chat_keys):
    client = chat_app.test_client()
    a = say("c-new", "I want to talk to a real person")
    assert a["handoff"] == {"needed": True, "reason": "customer_asked"}
    queue = client.get("/v1/conversations?status=handoff", headers=bearer(chat_keys["chat"])).get_json()
    assert a["conversation_id"] in [c["conversation_id"] for c in queue["conversations"]]
    # while a person has it, the bot only holds the line
    held = say("c-new", "Where is my order?", a["conversation_id"])
    assert held["handoff"]["needed"] and "colleague" in held["reply"]
    back = client.post(f"/v1/conversations/{a['conversation_id']}/status", json={"status": "bot"},
                       headers=bearer(chat_keys["chat"]))
    assert back.status_code == 200 and back.get_json()["status"] == "bot"
    assert not say("c-new", "How do I reset my password?", a["conversation_id"])["handoff"]["needed"]


def test_angry_twice_hands_over_on_the_second_angry_message(say):
    first = say("c-en", "This is ridiculous!! I am furious, worst service ever, my parcel is STILL missing!")
    assert first["sentiment"]["label"] == "negative" and first["sentiment"]["angry"]
    assert not first["handoff"]["needed"]
    second = say("c-en", "Unacceptable! You people are useless and I am sick of waiting!!", first["conversation_id"])
    assert second["handoff"] == {"needed": True, "reason": "angry_twice"}


def test_out_of_scope_twice_hands_over(say):
    first = say("c-en", "What will the weather be like on Mars tomorrow?")
    assert first["intent"]["out_of_scope"] and not first["handoff"]["needed"]
    second = say("c-en", "Can you solve this integral for my maths homework?", first["conversation_id"])
    assert second["handoff"] == {"needed": True, "reason": "out_of_scope_twice"}


def test_a_high_risk_customer_is_never_promised_a_refund(say):
    risky = say("c-risky", "When will I get my refund?")
    assert risky["handoff"] == {"needed": True, "reason": "high_risk_refund"}
    assert "3-5" not in risky["reply"] and "cannot confirm a refund" in risky["reply"]
    normal = say("c-en", "When will I get my refund?")
    assert not normal["handoff"]["needed"] and "3-5 working days" in normal["reply"]


def test_pii_is_masked_in_the_stored_transcript(say, chat_app, chat_keys):
    a = say("c-en", "My card 4111 1111 1111 1111 was charged twice, call me on +44 20 7946 0958")
    detail = chat_app.test_client().get(f"/v1/conversations/{a['conversation_id']}", headers=bearer(chat_keys["chat"]))
    messages = detail.get_json()["messages"]
    assert [m["direction"] for m in messages] == ["customer", "agent"]
    assert "4111" not in messages[0]["text"] and "[CARD]" in messages[0]["text"] and "[PHONE]" in messages[0]["text"]


def test_chat_updates_the_profile(say, chat_app):
    state = chat_app.extensions["kefu"]
    say("c-zh", "我要退货，怎么操作？")
    say("c-zh", "谢谢！")
    state.extras["profile_refresher"].flush()
    features = state.store.get_profile("c-zh")["features"]
    assert "return_item" in features["recent_intents"] and features["chat_messages_total"] >= 2
    assert features["chat_embedding"] is not None


def test_a_conversation_of_another_customer_is_not_found(say):
    a = say("c-en", "hello")
    err = say("c-zh", "hello", a["conversation_id"], status=404)
    assert err["code"] == 404 and "request_id" in err


@pytest.mark.parametrize("body, field", [
    ({"customer_id": "c-en", "message": "   "}, "message"),
    ({"customer_id": "c-en"}, "message"),
    ({"message": "hi"}, "customer_id"),
    ({"customer_id": "c-en", "message": "x" * 4001}, "message"),
])
def test_bad_chat_requests_are_422(chat_app, chat_keys, body, field):
    r = chat_app.test_client().post("/v1/chat", json=body, headers=bearer(chat_keys["chat"]))
    assert r.status_code == 422 and field in r.get_json()["errors"]["json"]


def test_chat_needs_the_chat_scope(chat_app, chat_keys):
    r = chat_app.test_client().post("/v1/chat", json={"customer_id": "c-en", "message": "hi"},
                                    headers=bearer(chat_keys["risk"]))
    assert r.status_code == 403


def test_without_a_knowledge_base_chat_is_503(app, keys):
    r = app.test_client().post("/v1/chat", json={"customer_id": "c", "message": "hi"}, headers=bearer(keys["chat"]))
    assert r.status_code == 503 and "kb import" in r.get_json()["message"]


def _sse_events(data: str) -> list[tuple[str, dict]]:
    out = []
    for block in data.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines())
        out.append((lines["event"], json.loads(lines["data"])))
    return out


def test_streaming_sends_meta_then_pieces_then_the_full_answer(chat_app, chat_keys):
    r = chat_app.test_client().post("/v1/chat", json={"customer_id": "c-en", "message": "Where is order 1042?",
                                                      "stream": True}, headers=bearer(chat_keys["chat"]))
    assert r.status_code == 200 and r.mimetype == "text/event-stream"
    events = _sse_events(r.get_data(as_text=True))
    kinds = [k for k, _ in events]
    assert kinds[0] == "meta" and kinds[-1] == "done" and kinds.count("delta") >= 5 and "replace" not in kinds
    meta, done = events[0][1], events[-1][1]
    assert meta["intent"]["name"] == "order_status" and meta["reply"] is None
    assert "".join(v["text"] for k, v in events if k == "delta") == done["reply"]
    assert "1042" in done["reply"] and done["conversation_id"] == meta["conversation_id"]


class _DroppingGenerator:
    """A generator that rephrases but loses the order number, as small models do."""

    name = "dropper"

    def stream(self, request, deadline):
        yield "Your order is on its way, "
        yield "it will be there soon!"


def test_a_reply_that_loses_a_fact_is_replaced_by_the_checked_answer(app_with, chat_keys):
    app = app_with(_DroppingGenerator())
    client = app.test_client()
    r = client.post("/v1/chat", json={"customer_id": "c-en", "message": "Where is order 1042?"},
                    headers=bearer(chat_keys["chat"]))
    a = r.get_json()
    assert a["fact_check"]["passed"] is False and a["fact_check"]["fallback_reason"] == "missing_facts"
    assert "1042" in a["fact_check"]["missing"] and "1042" in a["reply"] and a["generator"] != "dropper"
    s = client.post("/v1/chat", json={"customer_id": "c-en", "message": "Where is order 1042?", "stream": True},
                    headers=bearer(chat_keys["chat"]))
    events = _sse_events(s.get_data(as_text=True))
    kinds = [k for k, _ in events]
    assert "delta" in kinds and "replace" in kinds and kinds[-1] == "done"
    replaced = next(v for k, v in events if k == "replace")["text"]
    assert replaced == events[-1][1]["reply"] and "1042" in replaced


@pytest.fixture(scope="module")
def live_server(chat_app):
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, chat_app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/v1"
    server.shutdown()


def test_the_openai_client_chats_and_streams_with_kefu(live_server, chat_keys):
    openai = pytest.importorskip("openai", reason="the openai client is in the test extra")
    client = openai.OpenAI(base_url=live_server, api_key=chat_keys["chat"], max_retries=0, timeout=60)
    messages = [{"role": "user", "content": "Where is order 1042?"}]
    first = client.chat.completions.create(model="kefu", messages=messages, user="c-en", temperature=0.2)
    reply = first.choices[0].message.content
    assert "1042" in reply and first.choices[0].finish_reason == "stop"
    assert first.model_extra["kefu"]["intent"]["name"] == "order_status"
    # the protocol resends the history; kefu finds the conversation by its last reply, so the slot carries over
    messages += [{"role": "assistant", "content": reply}, {"role": "user", "content": "and when will it arrive?"}]
    stream = client.chat.completions.create(model="kefu", messages=messages, user="c-en", stream=True)
    pieces = [c.choices[0].delta.content or "" for c in stream if c.choices]
    text = "".join(pieces)
    assert len([p for p in pieces if p]) >= 5 and "1042" in text and _delivery(2) in text


def test_the_openai_route_refuses_a_body_without_a_customer_or_user_turn(chat_app, chat_keys):
    client = chat_app.test_client()
    no_user = client.post("/v1/chat/completions", json={"messages": [{"role": "user", "content": "hi"}]},
                          headers=bearer(chat_keys["chat"]))
    assert no_user.status_code == 422 and "user" in no_user.get_json()["errors"]["json"]
    only_system = client.post("/v1/chat/completions", json={"user": "c-en", "messages": [{"role": "system", "content": "x"}]},
                              headers=bearer(chat_keys["chat"]))
    assert only_system.status_code == 422


def test_the_openai_client_sees_a_wrong_key_as_an_authentication_error(live_server):
    openai = pytest.importorskip("openai", reason="the openai client is in the test extra")
    client = openai.OpenAI(base_url=live_server, api_key="kefu_nope_nope", max_retries=0, timeout=30)
    with pytest.raises(openai.AuthenticationError):
        client.chat.completions.create(model="kefu", messages=[{"role": "user", "content": "hi"}], user="c-en")


class _BrokenLocalModel:
    """A local model whose weights fail their check: it can neither load nor generate."""

    name = "local:broken"

    def load(self):
        raise RuntimeError("joined model has the wrong sha256: refusing to load it")

    def stream(self, request, deadline):
        self.load()
        yield ""


def test_a_generator_that_cannot_load_fails_readiness_and_chat_falls_back(app_with, chat_keys):
    app = app_with(_BrokenLocalModel())
    client = app.test_client()
    ready = client.get("/readyz")
    assert ready.status_code == 503
    check = ready.get_json()["checks"]["chat_generator"]
    assert check["ready"] is False and "sha256" in check["error"]
    a = client.post("/v1/chat", json={"customer_id": "c-en", "message": "How do I return an item?"},
                    headers=bearer(chat_keys["chat"])).get_json()
    assert a["fact_check"]["fallback_reason"] == "error" and "30 days" in a["reply"]


class _Promiser:
    """A model that promises a refund whatever it is asked."""

    name = "promiser"

    def stream(self, request, deadline):
        yield "Good news: your refund will arrive within 30 days."


def test_the_bots_own_sentences_and_high_risk_customers_never_reach_the_model(app_with, chat_keys):
    app = app_with(_Promiser())
    client = app.test_client()

    def say(customer, message):
        return client.post("/v1/chat", json={"customer_id": customer, "message": message},
                           headers=bearer(chat_keys["chat"])).get_json()

    risky = say("c-risky", "When will I get my refund?")
    assert risky["handoff"]["reason"] == "high_risk_refund" and risky["generator"] == "template"
    assert "30 days" not in risky["reply"]
    assert say("c-risky", "How do I reset my password?")["generator"] == "template"  # high risk: no model at all
    assert say("c-new", "where is my order?")["generator"] == "template"  # a question back, not an answer
    model_tried = say("c-en", "Where is order 1042?")  # a filled answer: the model may phrase it, and fails the check
    assert model_tried["generator"] == "template-fallback" and model_tried["fact_check"]["fallback_reason"] == "missing_facts"


def test_an_order_number_unknown_to_a_customer_without_orders_is_not_asked_for_again(say):
    a = say("c-new", "where is order 7788?")
    assert "7788" in a["reply"] and "could you tell me the order number" not in a["reply"].lower()


def test_a_passing_mention_of_an_agent_does_not_hand_over(say):
    a = say("c-en", "My shipping agent in Canada will receive it - can you send parcels there?")
    assert not a["handoff"]["needed"]


def test_gold_customers_hear_they_go_first_and_the_queue_serves_them_first(say, chat_app, chat_keys):
    bronze = say("c-new", "connect me with a live agent")
    gold = say("c-en", "connect me with a live agent")
    assert "front of the queue" in gold["reply"] and "gold member" in gold["reply"]
    assert "front of the queue" not in bronze["reply"]
    queue = chat_app.test_client().get("/v1/conversations?status=handoff", headers=bearer(chat_keys["chat"])).get_json()
    order = [c["conversation_id"] for c in queue["conversations"]]
    assert order.index(gold["conversation_id"]) < order.index(bronze["conversation_id"])
    assert next(c for c in queue["conversations"] if c["conversation_id"] == gold["conversation_id"])["tier"] == "gold"


def test_replies_are_counted_in_the_metrics_by_handoff(say):
    from service.metrics import metrics

    def counted() -> dict[str, float]:
        out: dict[str, float] = {}
        for family in metrics().registry.collect():
            for s in family.samples:
                if s.name == "kefu_chat_replies_total":
                    out[s.labels["handoff"]] = out.get(s.labels["handoff"], 0.0) + s.value
        return out

    before = counted()
    plain = say("c-metrics", "Where is my order?")
    person = say("c-metrics-2", "I want to talk to a real person")
    after = counted()
    assert not plain["handoff"]["needed"] and person["handoff"]["needed"]
    assert after.get("false", 0) - before.get("false", 0) == 1
    assert after.get("true", 0) - before.get("true", 0) == 1


def test_what_the_customer_is_looking_at_steers_the_products_in_the_reply(chat_app, chat_keys):
    """A chat request's context (the page's item, the session's items) steers the reply's products as it does
    POST /v1/recommendations: the items on screen are never offered back, the list is the recommender's answer
    for that context on the chat channel, and the logged list keeps the page's item."""
    from datetime import timezone

    client = chat_app.test_client()
    ask = {"customer_id": "c-en", "message": "Can you recommend something for me?"}
    plain = client.post("/v1/chat", json=ask, headers=bearer(chat_keys["chat"])).get_json()
    shown = [r["item_id"] for r in plain["recommendations"]]
    assert shown
    context = {"item_id": shown[0], "items": shown[1:]}
    steered = client.post("/v1/chat", json={**ask, "context": context}, headers=bearer(chat_keys["chat"])).get_json()
    assert steered["recommendations"] and not set(shown) & {r["item_id"] for r in steered["recommendations"]}
    expected = chat_app.extensions["kefu"].extras["recommend"].recommend("c-en", k=len(steered["recommendations"]),
                                                                         channel="chat", context=context)
    assert [r["item_id"] for r in steered["recommendations"]] == [i["item_id"] for i in expected["items"]]
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    logged = chat_app.extensions["kefu"].extras["recommend_log"].served(
        now - timedelta(hours=1), now + timedelta(minutes=1), 10_000, channel="chat").set_index("recommendation_id")
    assert logged.loc[steered["recommendation_id"], "context_item_id"] == shown[0]
    bad = client.post("/v1/chat", json={**ask, "context": {"items": "x"}}, headers=bearer(chat_keys["chat"]))
    assert bad.status_code == 422
