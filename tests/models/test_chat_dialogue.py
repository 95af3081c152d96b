"""Slots that carry over turns, and the handoff rules."""
from __future__ import annotations

import pytest

from models.chat.dialogue import (
    ConversationState,
    HandoffPolicy,
    asks_for_person,
    asks_for_refund,
    extract_order_number,
    extract_product,
)
from models.chat.phrases import LANGUAGES, PHRASES, format_date, format_money, status_text


@pytest.mark.parametrize("text, expected", [
    ("Where is order 1042?", "1042"),
    ("where is my order #O-77812", "O-77812"),
    ("order number: 552210 has not arrived", "552210"),
    ("我的订单1042到哪了？", "1042"),
    ("订单号：O12345 还没发货", "O12345"),
    ("I paid 1042 dollars", None),
    ("record 12345 shows nothing", None),
])
def test_order_numbers_are_read_in_english_and_chinese(text, expected):
    assert extract_order_number(text) == expected


def test_the_customers_own_order_ids_win_even_without_the_word_order():
    assert extract_order_number("what about O-2001 and 1042?", ["O-2001"]) == "O-2001"
    assert extract_order_number("is 88123 on its way", ["88123", "77000"]) == "88123"


def test_the_longest_product_name_wins():
    names = ["Mouse", "Wireless Mouse", "Tea"]
    assert extract_product("my wireless mouse is broken", names) == "Wireless Mouse"
    assert extract_product("it is a mouse", names) == "Mouse"
    assert extract_product("nothing here", names) is None


def test_slots_carry_over_until_replaced():
    state = ConversationState()
    assert state.update_slots("where is order 1042?") == {"order_number": "1042"}
    assert state.update_slots("and when will it arrive?") == {}
    assert state.slots["order_number"] == "1042"
    state.update_slots("sorry, I meant order 1043")
    assert state.slots["order_number"] == "1043"
    again = ConversationState.from_json(state.to_json())
    assert again.slots == {"order_number": "1043"}


def test_history_keeps_the_last_turns_only():
    state = ConversationState()
    for i in range(10):
        state.remember("customer", f"m{i}")
    assert [t for _, t in state.history] == [f"m{i}" for i in range(4, 10)]


@pytest.mark.parametrize("text", ["Can I talk to a human please?", "get me a real person", "转人工", "我要找真人客服"])
def test_asking_for_a_person_is_recognised(text):
    assert asks_for_person(text)


@pytest.mark.parametrize("text", ["where is my parcel", "我的快递到哪了"])
def test_ordinary_questions_do_not_ask_for_a_person(text):
    assert not asks_for_person(text)


def test_refund_requests_in_both_languages():
    assert asks_for_refund("I want my money back") and asks_for_refund("我要退款")
    assert not asks_for_refund("where is my order")


def test_handoff_when_the_customer_asks():
    policy, state = HandoffPolicy(), ConversationState()
    assert policy.decide(state, intent="contact_human", out_of_scope=False, angry=False, text="x", high_risk=False) == "customer_asked"


def test_handoff_after_the_second_angry_turn_not_the_first():
    policy, state = HandoffPolicy(), ConversationState()
    kw = dict(intent="order_status", out_of_scope=False, text="this is a joke", high_risk=False)
    assert policy.decide(state, angry=True, **kw) is None
    assert policy.decide(state, angry=False, **kw) is None
    assert policy.decide(state, angry=True, **kw) == "angry_twice"


def test_handoff_after_the_second_out_of_scope_turn():
    policy, state = HandoffPolicy(), ConversationState()
    kw = dict(intent="order_status", angry=False, text="what is the weather", high_risk=False)
    assert policy.decide(state, out_of_scope=True, **kw) is None
    assert policy.decide(state, out_of_scope=True, **kw) == "out_of_scope_twice"


def test_high_risk_customers_asking_for_money_back_go_to_a_person():
    policy = HandoffPolicy()
    kw = dict(out_of_scope=False, angry=False)
    assert policy.decide(ConversationState(), intent="refund_timing", text="when is my refund", high_risk=True, **kw) == "high_risk_refund"
    assert policy.decide(ConversationState(), intent="refund_timing", text="when is my refund", high_risk=False, **kw) is None
    assert policy.decide(ConversationState(), intent="order_status", text="where is my order", high_risk=True, **kw) is None


def test_every_phrase_exists_in_every_language():
    for key, texts in PHRASES.items():
        assert set(texts) == set(LANGUAGES), key


def test_values_are_written_one_unambiguous_way():
    from datetime import datetime

    assert format_date(datetime(2026, 5, 3), "en") == "3 May 2026"
    assert format_date(datetime(2026, 5, 3), "zh") == "2026年5月3日"
    assert format_money(1234.5, "USD") == "$1,234.50"
    assert format_money(3.0, "SEK") == "3.00 SEK"
    assert status_text("shipped", "zh") == "正在配送中" and status_text("odd", "en") == "odd"


@pytest.mark.parametrize("text, kind", [
    ("hello?", "greeting"), ("Hi there!", "greeting"), ("您好", "greeting"), ("在吗？", "greeting"),
    ("thanks!", "thanks"), ("OK, thank you so much", "thanks"), ("谢谢！", "thanks"),
    ("hello, where is my order?", None), ("thanks but my parcel is missing", None),
])
def test_small_talk_is_only_a_whole_greeting_or_thanks(text, kind):
    from models.chat.dialogue import small_talk

    assert small_talk(text) == kind


def test_the_models_read_the_order_number_as_a_token():
    from models.chat.dialogue import delexicalise

    assert delexicalise("Where is order #1042?", {"order_number": "1042"}) == "Where is order [ORDER]?"
    assert delexicalise("订单1042什么时候到", {"order_number": "1042"}) == "订单 [ORDER]什么时候到"
    assert delexicalise("order 10420 and 1042", {"order_number": "1042"}) == "order 10420 and [ORDER]"
    assert delexicalise("no slots here", {}) == "no slots here"
    assert delexicalise("X1042 is not it", {"order_number": "1042"}) == "X1042 is not it"


@pytest.mark.parametrize("text", [
    "I want to speak to someone", "Please transfer me to an agent.", "I want to speak to a real person, not a bot.",
    "Get me a manager, this chat is useless.", "human please", "this isn't helping, get me a human please",
    "connect me with a live agent", "找你们经理来"])
def test_the_ways_customers_ask_for_a_person(text):
    assert asks_for_person(text)


@pytest.mark.parametrize("text", [
    "My shipping agent in Canada will receive it - can you send parcels there?", "我是公司采购经理，订单2001需要开发票",
    "How can I contact customer service?", "the manager at the store said I could return it"])
def test_agents_and_managers_in_passing_are_not_a_request_for_a_person(text):
    assert not asks_for_person(text)


def test_a_contact_question_is_answered_not_handed_over():
    policy = HandoffPolicy()
    kw = dict(out_of_scope=False, angry=False, high_risk=False)
    assert policy.decide(ConversationState(), intent="contact_human", text="what's your phone number?", **kw) is None
    assert policy.decide(ConversationState(), intent="contact_human", text="connect me to an agent", **kw) == "customer_asked"


@pytest.mark.parametrize("text, kind", [
    ("Thanks a lot!", "thanks"), ("ok that's all, thanks!", "thanks"), ("Hi, good evening", "greeting"),
    ("你好，在吗？", "greeting"), ("好的，谢谢您", "thanks"), ("hi, i need help", None), ("good", None)])
def test_small_talk_in_more_words(text, kind):
    from models.chat.dialogue import small_talk

    assert small_talk(text) == kind


@pytest.mark.parametrize("text, order", [
    ("订单号是8899", "8899"), ("my order number is 7788", "7788"), ("the order number is 1042", "1042")])
def test_order_numbers_after_is(text, order):
    assert extract_order_number(text) == order
