"""``bench/eval_chat.py`` on two scripted conversations: the plumbing (world, turns, records, metrics) works.

The world is the quick one (a tiny shop, no recommender, only the demo knowledge base: the service answers by
retrieval), so the test checks what that path must get right and the metrics' bookkeeping, not model quality.
"""
from __future__ import annotations

import pytest

from bench.chat_scripts import CONVERSATIONS, CUSTOMERS, ORDERS
from bench.eval_chat import build_world, evaluate, local_subset, markdown


def _conv(cid: str):
    return next(c for c in CONVERSATIONS if c.cid == cid)


def test_the_scripts_cover_what_the_evaluation_promises():
    assert len(CONVERSATIONS) >= 40 and sum(c.language == "zh" for c in CONVERSATIONS) >= 15
    assert len({c.cid for c in CONVERSATIONS}) == len(CONVERSATIONS)
    assert all(1 <= len(c.turns) <= 4 for c in CONVERSATIONS)
    known = {c["customer_id"] for c in CUSTOMERS} | {"@sim-en", "@sim-zh"}
    assert all(c.customer in known for c in CONVERSATIONS)
    orders = {o for o, *_ in ORDERS}
    for c in CONVERSATIONS:
        for t in c.turns:
            for fact in t.facts:
                if fact.startswith("{delivery:"):
                    assert fact[len("{delivery:"):-1] in orders
    reasons = {t.handoff for c in CONVERSATIONS for t in c.turns} - {None}
    assert reasons == {"customer_asked", "angry_twice", "out_of_scope_twice", "high_risk_refund"}
    subset = local_subset(CONVERSATIONS, 40)
    assert sum(len(c.turns) for c in subset) <= 40 and {c.language for c in subset} == {"en", "zh"}


def test_two_conversations_run_through_the_chat_service(tmp_path, embedder):
    from models.chat.generator import TemplateGenerator

    world = build_world(tmp_path, embedder, n_customers=20, recommender=False, chat_models="kb",
                        echo=lambda _: None)
    convs = [_conv("en-order-number-followup"), _conv("en-high-risk-refund")]
    run = evaluate(world, convs, TemplateGenerator())
    records, summary = run["records"], run["summary"]
    assert [(r["conversation"], r["turn"]) for r in records] == [(c.cid, i) for c in convs for i in range(len(c.turns))]
    first, follow, risky_order, risky_refund = records
    # the order turns: the facts the script expects are found (the delivery date computed from the stored order)
    assert first["facts_ok"] and "1042" in first["reply"] and first["expected_facts"][-1] in first["reply"]
    assert follow["slots"]["order_number"] == "1042" and follow["facts_ok"]
    assert risky_order["facts_ok"] and "3001" in risky_order["reply"]
    # the high-risk refund request is handed over and the refund period is not stated
    assert risky_refund["predicted_handoff"] == "high_risk_refund" and risky_refund["forbid_ok"]
    # bookkeeping
    assert summary["turns"] == 4 and summary["conversations"] == 2
    assert summary["handoff"]["expected_positive"] == 1 and summary["handoff"]["recall_strict"] == 1.0
    assert summary["generator"]["kept_facts_after_check"] == 1.0 and summary["generator"]["timeouts"] == 0
    assert all(r["required_facts"] for r in (first, follow))  # the recorder saw the requests
    assert not risky_order["reached_model"]  # a high-risk customer's replies never go to a model
    assert summary["latency_s"]["p50"] is not None
    assert "intent accuracy en" in markdown({"template": run})


@pytest.mark.parametrize("cid", ["en-high-risk-refund-direct"])
def test_a_script_turn_names_its_expectations(cid):
    turn = _conv(cid).turns[0]
    assert turn.intent == "refund_timing" and turn.handoff == "high_risk_refund" and "3-5" in turn.forbid
