"""IntentModel on a tiny hand-made English + Chinese set, with the real multilingual (e5) embedder.

The set is small on purpose: shops define intents from a handful of examples, and the model must still pick
paraphrases it never saw (in either language), refuse a message that fits no intent, and survive save/load
without pickle.
"""
from __future__ import annotations

import json

import numpy as np
import pytest

from models.chat.intent import META_FILE, WEIGHTS_FILE, IntentModel, IntentPrediction

TRAIN = {
    "refund": [
        "I want my money back", "How do I get a refund for my order?", "Please refund me, the item was broken",
        "Can I return this and get reimbursed?", "我要退款", "这个订单怎么申请退款？", "东西坏了，请把钱退给我",
        "退货以后多久能退钱",
    ],
    "track_order": [
        "Where is my package?", "Track my order please", "My parcel hasn't arrived yet",
        "When will my delivery get here?", "我的快递到哪里了", "帮我查一下物流", "包裹还没到",
        "订单什么时候能送到",
    ],
    "reset_password": [
        "I forgot my password", "How do I reset my password?", "I can't log in to my account",
        "Change my login password", "我忘记密码了", "怎么重置密码", "账号登录不上去", "我想修改登录密码",
    ],
    "change_address": [
        "I need to change my delivery address", "Update the shipping address on my order",
        "Send it to a different address", "I moved, please change my address", "我要修改收货地址",
        "帮我改一下配送地址", "地址填错了，能改吗", "把订单寄到新地址",
    ],
}

HELD_OUT = [
    ("Could you give me a refund?", "refund"),
    ("钱什么时候退回来", "refund"),
    ("Where's my parcel right now?", "track_order"),
    ("快递现在在哪", "track_order"),
    ("I've lost my password, how do I get back into my account?", "reset_password"),
    ("密码忘了怎么办", "reset_password"),
    ("Please ship my order to my new home address", "change_address"),
    ("收货地址要换一个", "change_address"),
]

UNRELATED = ["What is the boiling point of water on Mount Everest?", "今天股市行情怎么样"]


def _flatten(data: dict[str, list[str]]) -> tuple[list[str], list[str]]:
    texts, labels = [], []
    for label, examples in data.items():
        texts += examples
        labels += [label] * len(examples)
    return texts, labels


@pytest.fixture(scope="module")
def fitted(embedder) -> IntentModel:
    texts, labels = _flatten(TRAIN)
    return IntentModel().fit(texts, labels, embedder)


def test_predicts_held_out_paraphrases_in_both_languages(fitted, embedder):
    preds = fitted.predict([t for t, _ in HELD_OUT], embedder)
    assert all(isinstance(p, IntentPrediction) for p in preds)
    assert [p.name for p in preds] == [lab for _, lab in HELD_OUT]
    assert all(0.0 <= p.confidence <= 1.0 for p in preds)
    # these are clear paraphrases: most must be confidently in scope
    assert sum(not p.out_of_scope for p in preds) >= len(HELD_OUT) - 1


def test_unrelated_message_is_out_of_scope(fitted, embedder):
    preds = fitted.predict(UNRELATED, embedder)
    assert all(p.out_of_scope for p in preds), preds


def test_label_set_and_threshold_are_recorded(fitted, tmp_path):
    assert fitted.classes == sorted(TRAIN)
    assert 0.0 < fitted.threshold_ < 1.0
    assert "quantile" in fitted.threshold_source_  # no OOS validation data was given
    assert fitted.oos_score_ == "nearest"
    assert fitted.validation_["strategy"].endswith("-fold")  # 8 per intent: k-fold, not a holdout
    folder = fitted.save(tmp_path / "m")
    meta = json.loads((folder / META_FILE).read_text(encoding="utf-8"))
    assert meta["classes"] == sorted(TRAIN)
    assert meta["threshold"] == pytest.approx(fitted.threshold_)
    assert meta["embedder"] == "e5"


def test_save_load_roundtrip_without_pickle(fitted, embedder, tmp_path):
    folder = fitted.save(tmp_path / "m")
    assert sorted(p.name for p in folder.iterdir()) == sorted([META_FILE, WEIGHTS_FILE])
    with np.load(folder / WEIGHTS_FILE, allow_pickle=False) as z:  # would raise on object arrays
        assert all(z[k].dtype != object for k in z.files)
    loaded = IntentModel.load(folder)
    texts = [t for t, _ in HELD_OUT] + UNRELATED
    vectors = embedder.embed_queries(texts)
    assert loaded.predict_embedded(vectors, texts) == fitted.predict_embedded(vectors, texts)
    np.testing.assert_array_equal(loaded.predict_proba_embedded(vectors, texts),
                                  fitted.predict_proba_embedded(vectors, texts))


def test_oos_validation_data_sets_the_threshold(embedder):
    texts, labels = _flatten(TRAIN)
    oos = ["Tell me a joke", "Who won the football match yesterday?", "明天会下雨吗", "推荐一部好看的电影"]
    model = IntentModel(tfidf=False).fit(texts, labels, embedder, oos_texts=oos)
    assert model.threshold_source_ == "youden_j_on_oos_validation"
    assert model.validation_["n_oos_val"] == len(oos)
    assert all(p.out_of_scope for p in model.predict(UNRELATED, embedder))


def test_rejects_bad_input(fitted, embedder):
    with pytest.raises(TypeError):
        fitted.predict("a single string", embedder)
    with pytest.raises(ValueError):
        IntentModel().fit(["a", "b"], ["x", "x"], embedder)
    assert fitted.predict([], embedder) == []


def test_refuses_a_different_embedder(fitted):
    class Other:
        name = "minilm"
        dim = 384

        def embed_queries(self, texts):
            return np.zeros((len(texts), 384), np.float32)

    with pytest.raises(ValueError, match="fitted on"):
        fitted.predict(["hello"], Other())
