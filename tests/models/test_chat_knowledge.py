"""Knowledge base: file loading, hybrid search (en/zh, language preference, exact codes), slots, persistence."""
from __future__ import annotations

import json

import numpy as np
import pytest

from features.demo.knowledge_base import FACTS, demo_knowledge_base
from models.chat.knowledge import (
    KBEntry,
    KnowledgeBase,
    entries_from_records,
    fill,
    load_kb_file,
    placeholders,
    tokenize,
)


@pytest.fixture(scope="module")
def demo_kb(embedder) -> KnowledgeBase:
    return KnowledgeBase.build(entries_from_records(demo_knowledge_base()), embedder)


# ------------------------------------------------------------------ loading


def test_load_csv_detects_language_and_keeps_category(tmp_path):
    path = tmp_path / "kb.csv"
    path.write_text(
        "question,answer,category\n"
        "Where is my order?,It ships in 2 days.,order\n"
        "我的订单在哪？,两天内发货。,order\n",
        encoding="utf-8",
    )
    entries = load_kb_file(path)
    assert [e.language for e in entries] == ["en", "zh"]
    assert entries[0] == KBEntry(entries[0].entry_id, "Where is my order?", "It ships in 2 days.", "en", None, "order")
    assert len({e.entry_id for e in entries}) == 2


def test_load_jsonl_with_intent_only_and_question_lists(tmp_path):
    path = tmp_path / "kb.jsonl"
    rows = [
        {"intent": "track_order", "answer": "Your order {{Order Number}} is on its way.", "language": "en"},
        {"intent": "refund", "questions": ["Where is my refund?", "Refund not received"], "answer": "3-5 days."},
    ]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n\n", encoding="utf-8")
    entries = load_kb_file(path)
    assert [e.question for e in entries] == ["track order", "Where is my refund?", "Refund not received"]
    assert [e.intent for e in entries] == ["track_order", "refund", "refund"]


def test_load_errors_name_columns_and_rows(tmp_path):
    no_answer = tmp_path / "a.csv"
    no_answer.write_text("question,reply\nhi,hello\n", encoding="utf-8")
    with pytest.raises(ValueError, match="missing column.*answer"):
        load_kb_file(no_answer)

    no_question = tmp_path / "b.csv"
    no_question.write_text("answer\nhello\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"question \(or intent\)"):
        load_kb_file(no_question)

    empty = tmp_path / "c.csv"
    empty.write_text("question,answer\nq1,a1\nq2,\nq3,  \n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"row 2: empty answer; row 3: empty answer"):
        load_kb_file(empty)

    bad_json = tmp_path / "d.jsonl"
    bad_json.write_text('{"question": "q", "answer": "a"}\n{oops\n', encoding="utf-8")
    with pytest.raises(ValueError, match="line 2: invalid JSON"):
        load_kb_file(bad_json)

    with pytest.raises(ValueError, match="unsupported"):
        load_kb_file(tmp_path / "kb.xlsx")


# ------------------------------------------------------------------ search


@pytest.mark.parametrize(
    ("query", "intent"),
    [
        ("I ordered last week, where is my package right now?", "order_status"),
        ("how long until the money for my return is back on my card?", "refund_timing"),
        ("the vase was smashed when the box arrived", "damaged_item"),
        ("I'd like to speak with a person, not a bot", "contact_human"),
        ("包裹到现在还没收到，能帮我看看到哪里了吗", "order_status"),
        ("退回去的东西钱多久能退给我", "refund_timing"),
        ("登录的时候密码想不起来了", "password_reset"),
        ("结账的时候一直扣款失败", "payment_failed"),
    ],
)
def test_search_finds_paraphrases_in_english_and_chinese(demo_kb, embedder, query, intent):
    hits = demo_kb.search(query, embedder, k=3)
    assert hits[0].entry.intent == intent, [(h.entry.intent, round(h.score, 3)) for h in hits]
    assert len({h.entry.intent for h in hits}) == len(hits)  # one hit per topic
    assert hits[0].score >= hits[-1].score


def test_answer_comes_in_the_query_language(demo_kb, embedder):
    zh = demo_kb.search("我想退货，有几天时间？", embedder, k=1)[0]
    assert zh.entry.intent == "return_item" and zh.entry.language == "zh"
    en = demo_kb.search("how many days do I have to send something back?", embedder, k=1)[0]
    assert en.entry.intent == "return_item" and en.entry.language == "en"
    # an explicit language overrides detection: a Chinese question answered in English
    forced = demo_kb.search("我想退货，有几天时间？", embedder, k=1, language="en")[0]
    assert forced.entry.intent == "return_item" and forced.entry.language == "en"
    # the facts agree across languages
    assert str(FACTS["return_days"]) in zh.entry.answer and str(FACTS["return_days"]) in en.entry.answer


def test_topic_in_one_language_only_still_answers(embedder):
    entries = [
        KBEntry("a", "What are your opening hours?", "We are open 9-18.", "en", "hours"),
        KBEntry("b", "How do I reset my password?", "Use the reset link.", "en", "password"),
        KBEntry("c", "怎么重置密码？", "请使用重置链接。", "zh", "password"),
    ]
    kb = KnowledgeBase.build(entries, embedder)
    # no Chinese entry for the topic: fall back to English
    hit = kb.search("When are you open?", embedder, k=1, language="zh")[0]
    assert hit.entry.entry_id == "a"
    assert kb.search("密码忘了怎么办", embedder, k=1)[0].entry.entry_id == "c"


def test_keyword_match_rescues_an_exact_product_code(embedder):
    """Look-alike item codes mentioned only in the answers: the embedding blurs them, BM25 does not."""
    products = [("AeroBlend 300 blender", "KF-2231X"), ("AeroBlend 500 blender", "KF-2231Y"),
                ("AeroBlend Pro blender", "KF-7710A"), ("FrostLine kettle", "KF-4410K"),
                ("FrostLine toaster", "KF-4410T"), ("NovaCook air fryer", "KF-9032F"),
                ("NovaCook rice cooker", "KF-9032R"), ("Breeze desk fan", "KF-1178D")]
    entries = [
        KBEntry(f"p-{sku}", f"Tell me about the {name}",
                f"The {name} (item code {sku}) comes with a 2-year warranty and ships in 2 days.", "en")
        for name, sku in products
    ]
    kb = KnowledgeBase.build(entries, embedder)
    dense_right = 0
    for _, sku in products:
        query = f"info on {sku} please"
        hits = kb.search(query, embedder, k=3)
        assert hits[0].entry.entry_id == f"p-{sku}"
        assert hits[0].keyword_score > max(h.keyword_score for h in hits[1:])
        dense_only = kb.search(query, embedder, k=1, keyword_weight=0.0)[0]
        dense_right += dense_only.entry.entry_id == f"p-{sku}"
    assert dense_right < len(products)  # the embedding alone gets some of them wrong (measured: 4 of 8)
    # a query without a code is still answered by meaning
    assert kb.search("do you sell a machine that makes rice?", embedder, k=1)[0].entry.entry_id == "p-KF-9032R"


def test_empty_query_and_bad_embedder(demo_kb, embedder):
    assert demo_kb.search("   ", embedder) == []
    assert demo_kb.search("hello", embedder, k=0) == []

    class Other:
        name = "other"
        dim = 384

    with pytest.raises(ValueError, match="built with embedder"):
        demo_kb.search("hello", Other())


def test_tokenize_words_codes_and_chinese_bigrams():
    assert tokenize("Refunds for KF-22X {{Order Number}}") == ["refund", "kf-22x", "kf", "22x"]
    assert tokenize("退款多久") == ["退款", "款多", "多久"]
    assert tokenize("好") == ["好"]


# ------------------------------------------------------------------ slots


def test_placeholders_and_fill():
    answer = "Order {{Order Number}} arrives {{ delivery date }}. Ref: {{order_number}}."
    assert placeholders(answer) == ["Order Number", "delivery date"]
    text, missing = fill(answer, {"ORDER NUMBER": "A-17"})
    assert text == "Order A-17 arrives {{ delivery date }}. Ref: A-17."
    assert missing == ["delivery date"]
    text, missing = fill(answer, {"order number": "A-17", "Delivery Date": "May 3", "Unused": "x"})
    assert (text, missing) == ("Order A-17 arrives May 3. Ref: A-17.", [])
    assert fill("no slots", {}) == ("no slots", [])
    assert fill("{{Order Number}}", {"Order Number": " "})[1] == ["Order Number"]  # blank = missing


# ------------------------------------------------------------------ persistence


def test_save_load_gives_identical_results(demo_kb, embedder, tmp_path):
    folder = demo_kb.save(tmp_path / "kb")
    assert sorted(p.name for p in folder.iterdir()) == ["kb.json", "vectors.npz"]
    loaded = KnowledgeBase.load(folder)
    assert loaded.entries == demo_kb.entries
    np.testing.assert_array_equal(loaded.question_vectors, demo_kb.question_vectors)
    for query in ("where is my parcel?", "发票在哪里下载", "BL-5068K manual"):
        assert loaded.search(query, embedder, k=3) == demo_kb.search(query, embedder, k=3)


# ------------------------------------------------------------------ demo KB


def test_demo_kb_has_both_languages_for_every_topic():
    rows = demo_knowledge_base()
    by_intent: dict[str, set[str]] = {}
    for row in rows:
        by_intent.setdefault(row["intent"], set()).add(row["language"])
        assert len(row["questions"]) >= 3
        assert row["answer"].strip()
    assert 15 <= len(by_intent) <= 25
    assert all(langs == {"en", "zh"} for langs in by_intent.values()), by_intent
    # slots are the same in both languages, so the chat layer fills either one the same way
    for intent in by_intent:
        en, zh = (next(r for r in rows if r["intent"] == intent and r["language"] == lang) for lang in ("en", "zh"))
        assert placeholders(en["answer"]) == placeholders(zh["answer"]), intent
    status = next(r for r in rows if r["intent"] == "order_status" and r["language"] == "en")
    assert placeholders(status["answer"]) == ["Order Number", "Order Items", "Order Status", "Delivery Date"]
