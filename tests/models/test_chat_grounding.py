"""The fact check: which facts an answer carries, tolerant-but-strict matching (en and zh), and the checked
generation loop falling back on dropped facts, slowness, errors and empty replies."""
from __future__ import annotations

import logging
import time
from collections.abc import Iterator

import pytest

from features.demo.knowledge_base import demo_knowledge_base
from models.chat.generator import GenerationTimeout, GroundedReply, TemplateGenerator, template_text
from models.chat.grounding import (
    FALLBACK_REASONS,
    GenerationResult,
    generate_checked,
    missing_facts,
    required_facts,
    stream_checked,
)
from models.chat.knowledge import fill

SECRET = "my card 4111 and my name is Zed"  # must never reach a log line
REQUEST = GroundedReply(language="en", message=SECRET,
                        answer="Refunds are issued within 3-5 working days; returns are free within 30 days.",
                        facts=("3-5", "30"), customer_name="Anna")


# --------------------------------------------------------------------------------------- required facts
@pytest.mark.parametrize("answer, values, expected", [
    ("Your order O-1042 is on its way and should arrive by 2026-05-03.",
     {"Order Number": "O-1042", "Delivery Date": "2026-05-03"}, ("O-1042", "2026-05-03")),
    ("您的订单O-1042正在配送中，预计2026-05-03送达。",
     {"Order Number": "O-1042", "Delivery Date": "2026-05-03"}, ("O-1042", "2026-05-03")),
    ("Standard delivery costs $4.99 and takes 3-5 working days; free over $1,299.00.", {}, ("4.99", "3-5", "1,299.00")),
    ("标准配送运费4.99美元，3-5个工作日送达。商品签收后30天内均可退货。", {}, ("4.99", "3-5", "30")),
    ("Call 400-800-1234 or e-mail support@demo-shop.example; we reply within 24 hours.", {},
     ("400-800-1234", "support@demo-shop.example", "24")),
    ("周一至周六9:00-18:00，拨打13800138000，5月3日前送达", {}, ("9:00-18:00", "13800138000", "5月3日")),
    ("Your parcel KF-2231X left on May 3rd, 2026.", {}, ("KF-2231X", "May 3rd, 2026")),
    ("Hi Anna, the Blue Kettle is back.", {"Customer Name": "Anna", "Product": "Blue Kettle", "Order": "O-1"},
     ("Anna", "Blue Kettle")),
    ("No numbers here at all.", {}, ()),
])
def test_required_facts(answer, values, expected):
    assert required_facts(answer, values) == expected


def test_every_demo_answer_contains_its_own_facts():
    values = {"Order Number": "O-1042", "Delivery Date": "2026-05-03"}
    for row in demo_knowledge_base():
        answer, _ = fill(row["answer"], values)
        facts = required_facts(answer, values)
        assert missing_facts(answer, facts) == [], row["entry_id"]
        if "O-1042" in answer:
            assert "O-1042" in facts


# ------------------------------------------------------------------------------------------------ matching
@pytest.mark.parametrize("text, fact", [
    ("It costs 4.99 USD.", "$4.99"),
    ("It costs $4.99.", "4.99"),
    ("运费４．９９美元", "4.99"),  # full-width digits and point
    ("We take 3 to 5 working days.", "3-5"),
    ("3～5个工作日内到账", "3-5"),
    ("Total: 1299 dollars", "1,299.00"),
    ("Total: 1,299", "1299"),
    ("ORDER o-1042 shipped", "O-1042"),
    ("Call 400 800 1234", "400-800-1234"),
    ("Write to SUPPORT@demo-shop.example.", "support@demo-shop.example"),
    ("within 30  days", "30 days"),
    ("open 9:00 – 18:00", "9:00-18:00"),
    ("退货期为30天。", "30"),
])
def test_matching_tolerates_form(text, fact):
    assert missing_facts(text, [fact]) == []


@pytest.mark.parametrize("text, fact", [
    ("It costs $4.95.", "4.99"),
    ("returns within 300 days", "30"),
    ("returns within 30.5 days", "30"),
    ("returns within 130 days", "30"),
    ("3-7 working days", "3-5"),
    ("3个工作日", "3-5"),
    ("order O-1043", "O-1042"),
    ("Dear Annabel", "Anna"),
    ("退货期为三十天。", "30"),  # written out in words: the check cannot verify it, so it is missing
    ("Call 400-800-1235", "400-800-1234"),
    ("arrives 2026-05-04", "2026-05-03"),
])
def test_matching_is_strict_about_values(text, fact):
    assert missing_facts(text, [fact]) == [fact]


def test_missing_facts_keeps_the_given_order():
    assert missing_facts("nothing", ["b", "a", "30"]) == ["b", "a", "30"]


# ------------------------------------------------------------------------------------- checked generation
class Scripted:
    """A generator that yields fixed pieces, optionally sleeping, failing, or ignoring the deadline."""

    def __init__(self, pieces, *, delay=0.0, fail_after=None, honour_deadline=True, name="scripted"):
        self.pieces, self.delay, self.fail_after = list(pieces), delay, fail_after
        self.honour_deadline, self.name, self.closed = honour_deadline, name, False

    def stream(self, request: GroundedReply, deadline: float) -> Iterator[str]:
        try:
            for i, piece in enumerate(self.pieces):
                if self.fail_after is not None and i == self.fail_after:
                    raise RuntimeError(f"backend exploded on {request.message}")
                time.sleep(self.delay)
                if self.honour_deadline and time.monotonic() >= deadline:
                    raise GenerationTimeout("late")
                yield piece
        finally:
            self.closed = True


GOOD = ["Hi Anna! ", "Refunds arrive in 3 to 5 working days, ", "and returns are free for 30 days."]


def test_a_faithful_reply_is_kept():
    result = generate_checked(Scripted(GOOD), REQUEST, budget_s=2)
    assert result == GenerationResult(text="".join(GOOD).strip(), generator="scripted", fell_back=False,
                                      fallback_reason=None, missing=(), first_piece_s=result.first_piece_s,
                                      total_s=result.total_s)
    assert 0 <= result.first_piece_s <= result.total_s < 1


def test_a_reply_that_drops_a_fact_falls_back_to_the_template():
    result = generate_checked(Scripted(["Hi Anna! Refunds take 3 to 5 days. Returns are free."]), REQUEST, 2)
    assert result.fell_back and result.fallback_reason == "missing_facts"
    assert result.missing == ("30",)
    assert result.text == template_text(REQUEST) == ("Hi Anna, refunds are issued within 3-5 working days; "
                                                     "returns are free within 30 days.")
    assert result.generator == "template-fallback"


def test_a_reply_that_changes_a_number_falls_back():
    result = generate_checked(Scripted(["Refunds take 3-5 days, returns 60 days."]), REQUEST, 2)
    assert result.fallback_reason == "missing_facts" and result.missing == ("30",)


def test_a_slow_generator_falls_back_at_the_deadline():
    slow = Scripted(GOOD, delay=0.15)
    started = time.monotonic()
    result = generate_checked(slow, REQUEST, budget_s=0.2)
    assert result.fell_back and result.fallback_reason == "timeout"
    assert result.text == template_text(REQUEST)
    assert time.monotonic() - started < 0.5
    assert slow.closed


def test_a_generator_that_ignores_the_deadline_still_times_out():
    result = generate_checked(Scripted(GOOD, delay=0.15, honour_deadline=False), REQUEST, budget_s=0.2)
    assert result.fallback_reason == "timeout" and result.text == template_text(REQUEST)


def test_a_generator_that_raises_falls_back_without_propagating_or_logging_the_message(caplog):
    caplog.set_level(logging.DEBUG, logger="models.chat.grounding")
    result = generate_checked(Scripted(GOOD, fail_after=1), REQUEST, budget_s=2)
    assert result.fell_back and result.fallback_reason == "error"
    assert result.text == template_text(REQUEST)
    assert "RuntimeError" in caplog.text
    assert "Zed" not in caplog.text and "4111" not in caplog.text


def test_a_generator_that_fails_before_streaming_falls_back():
    class Broken:
        name = "broken"

        def stream(self, request, deadline):
            raise ConnectionError("down")

    result = generate_checked(Broken(), REQUEST, budget_s=2)
    assert result.fallback_reason == "error" and result.first_piece_s is None


def test_an_empty_reply_falls_back():
    result = generate_checked(Scripted(["", "  ", "\n"]), REQUEST, budget_s=2)
    assert result.fallback_reason == "empty" and result.text == template_text(REQUEST)


def test_the_template_itself_never_falls_back():
    result = generate_checked(TemplateGenerator(), REQUEST, budget_s=1)
    assert not result.fell_back and result.generator == "template" and result.text == template_text(REQUEST)


def test_fallback_reasons_are_the_documented_ones():
    assert set(FALLBACK_REASONS) == {"missing_facts", "invented_facts", "timeout", "error", "empty"}


def test_a_reply_that_adds_a_fact_is_not_sent():
    from models.chat.generator import GroundedReply
    from models.chat.grounding import invented_facts

    handoff = GroundedReply(language="zh", message="我退回的货你们收到了吧？退款什么时候到？",
                            answer="您的请求已转交给同事审核，审核后会在这里回复您。")
    promise = "您收到的货是正确的，退款将在收到后30天内到您。"
    assert invented_facts(promise, handoff) == ["30"]
    result = generate_checked(Scripted([promise]), handoff, budget_s=2)
    assert result.fell_back and result.fallback_reason == "invented_facts" and "30" not in result.text
    phone = GroundedReply(language="en", message="what's your phone number?", answer="Call us on 400-800-1234.")
    assert invented_facts("Mary's phone number is 123-456-7890.", phone) == ["123-456-7890"]
    assert invented_facts("You can call 400 800 1234 any time.", phone) == []
    order = GroundedReply(language="en", message="where is order 1042?", answer="Order 1042 is on its way.",
                          context=("Order 1043: delivered, $4.50",))
    assert invented_facts("Your order 1042 is on its way; 1043 arrived for $4.50.", order) == []


# ---------------------------------------------------------------------------------------------- streaming
def test_stream_checked_forwards_deltas_then_done():
    events = list(stream_checked(Scripted(GOOD), REQUEST, budget_s=2))
    assert [kind for kind, _ in events] == ["delta", "delta", "delta", "done"]
    assert [payload for _, payload in events[:3]] == GOOD
    assert events[-1][1].text == "".join(GOOD).strip()


def test_stream_checked_replaces_a_failed_reply_then_finishes():
    events = list(stream_checked(Scripted(["Hi Anna! ", "Refunds take a while."]), REQUEST, budget_s=2))
    assert [kind for kind, _ in events] == ["delta", "delta", "replace", "done"]
    assert events[2][1] == template_text(REQUEST)
    done = events[-1][1]
    assert done.fell_back and done.text == events[2][1] and set(done.missing) == {"3-5", "30"}


def test_stream_checked_on_an_immediate_error_only_replaces():
    events = list(stream_checked(Scripted(GOOD, fail_after=0), REQUEST, budget_s=2))
    assert [kind for kind, _ in events] == ["replace", "done"]


def test_closing_the_stream_early_closes_the_backend():
    backend = Scripted(GOOD)
    events = stream_checked(backend, REQUEST, budget_s=2)
    assert next(events)[0] == "delta"
    events.close()  # the client went away
    assert backend.closed
