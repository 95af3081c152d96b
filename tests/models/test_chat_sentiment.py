"""Chat sentiment: polarity in English and Chinese, the anger flag, persistence without pickle.

The behavioural tests train on a small stratified sample of the real shared datasets (skipped when they are
absent) with the real E5 embedder, because a model trained on a handful of invented sentences would only
test itself. Persistence and input checks use a tiny hand-made training set so they always run.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from models.chat.sentiment import CLASSES, SentimentModel, anger_cues, detect_language

SHARED_DATA = Path(__file__).resolve().parents[3] / "shared" / "data"

POSITIVE = ["Thank you so much, the agent was wonderful and fixed everything quickly!",
            "Great service, I love this app.",
            "谢谢你们，服务很好，非常满意！",
            "味道很好，送餐也很快，下次还会再来。"]
NEGATIVE = ["My order arrived broken and nobody answers my emails.",
            "This is the worst service I have ever had, absolutely ridiculous. I am furious!",
            "东西坏了，客服也不回复，很失望。",
            "太差了，气死我了，我要投诉！"]
FURIOUS = ["This is absolutely ridiculous!! Worst company ever, I am furious and I want my money back NOW!",
           "I've been waiting 3 hours, this is unacceptable. Terrible, useless support!",
           "气死我了！你们的服务太差了，我要投诉！！",
           "垃圾客服，骗子公司，必须退钱！"]
CALM = ["Hi, could you tell me when my package will arrive?",
        "Thanks, that answers my question.",
        "你好，请问我的订单什么时候发货？",
        "好的，谢谢，我知道了。"]

TINY = [("I love it, thank you!", "positive"), ("Great job, very happy.", "positive"),
        ("Excellent service, wonderful people.", "positive"), ("非常好，很满意", "positive"),
        ("好吃，下次还来", "positive"), ("Terrible, I hate it.", "negative"), ("Worst experience ever.", "negative"),
        ("Broken and late, very disappointed.", "negative"), ("太差了，很失望", "negative"),
        ("难吃，送得又慢", "negative"), ("What time does the flight leave?", "neutral"),
        ("Is there a flight to Boston tomorrow?", "neutral"), ("I need to change my seat.", "neutral")]


def _sample(frame: pd.DataFrame, label: str, n: int, seed: int = 0) -> pd.DataFrame:
    """Stratified sample of n rows."""
    share = n / len(frame)
    return frame.groupby(label, group_keys=False).sample(frac=share, random_state=seed)


@pytest.fixture(scope="module")
def model(embedder) -> SentimentModel:
    if not SHARED_DATA.exists():
        pytest.skip(f"the shared datasets are not at {SHARED_DATA}")
    air = _sample(pd.read_csv(SHARED_DATA / "text/twitter-airline-sentiment/tweets.csv"), "airline_sentiment", 1500)
    wm = _sample(pd.read_csv(SHARED_DATA / "text/chinese-reviews/waimai_10k.csv").dropna(), "label", 900)
    texts = [re.sub(r"@\w+", "", t).strip() for t in air["text"]] + [str(t) for t in wm["review"]]
    labels = list(air["airline_sentiment"]) + ["positive" if v == 1 else "negative" for v in wm["label"]]
    # ~2,400 examples: below ~1,500 the TF-IDF half of the fused model (weight chosen on the full data) is
    # under-trained and the anger margins on the Chinese messages get thin. Embedding them is most of this test's
    # time: a second engine on both cores does it (the session's one is a web worker's, on one).
    from features.text.embedder import E5Embedder

    return SentimentModel().fit(texts, labels, E5Embedder(num_threads=2))


@pytest.fixture(scope="module")
def tiny_model(embedder) -> SentimentModel:
    texts, labels = zip(*TINY)
    return SentimentModel(C=4.0, tfidf_weight=0.3).fit(list(texts), list(labels), embedder)


def test_separates_clear_positive_from_negative_in_both_languages(model, embedder):
    pos = model.predict(POSITIVE, embedder)
    neg = model.predict(NEGATIVE, embedder)
    assert [p.label for p in pos] == ["positive"] * len(POSITIVE)
    assert [p.label for p in neg] == ["negative"] * len(NEGATIVE)
    assert min(p.score for p in pos) > 0.3
    assert max(p.score for p in neg) < -0.3
    # per language: every positive scores above every negative
    for lang_slice in (slice(0, 2), slice(2, 4)):
        assert min(p.score for p in pos[lang_slice]) > max(p.score for p in neg[lang_slice])


def test_angry_on_furious_messages_not_on_calm_ones(model, embedder):
    furious = model.predict(FURIOUS, embedder)
    calm = model.predict(CALM, embedder)
    assert all(p.angry for p in furious), [(t, p.probabilities) for t, p in zip(FURIOUS, furious)]
    assert not any(p.angry for p in calm), [(t, p.probabilities) for t, p in zip(CALM, calm)]
    # a plain negative without anger cues is negative but not angry
    plain = model.predict(["My order arrived broken and nobody answers my emails."], embedder)[0]
    assert plain.label == "negative" and not plain.angry


def test_score_and_probabilities_are_consistent(model, embedder):
    preds = model.predict(POSITIVE + NEGATIVE + CALM + ["", "ok", "😀", "!!!"], embedder)
    for p in preds:
        assert -1.0 <= p.score <= 1.0
        assert set(p.probabilities) == set(CLASSES)
        assert sum(p.probabilities.values()) == pytest.approx(1.0)
        assert p.score == pytest.approx(p.probabilities["positive"] - p.probabilities["negative"])
        assert p.label == max(p.probabilities, key=p.probabilities.get)


def test_chinese_questions_can_be_neutral(model, embedder):
    """The neutral head is trained on English only; it must still reach Chinese (not all polar)."""
    preds = model.predict(["请问我的订单什么时候发货？", "What time does my flight leave?"], embedder)
    assert all(p.probabilities["neutral"] > 0.3 for p in preds), [p.probabilities for p in preds]


def test_save_load_identical_without_pickle(tiny_model, embedder, tmp_path):
    folder = tiny_model.save(tmp_path / "sentiment")
    assert sorted(f.name for f in folder.iterdir()) == ["sentiment.json", "sentiment.npz"]
    json.loads((folder / "sentiment.json").read_text())
    with np.load(folder / "sentiment.npz", allow_pickle=False) as z:  # raises if anything needs pickle
        assert all(z[k].dtype != object for k in z.files)
    loaded = SentimentModel.load(folder)
    texts = POSITIVE + NEGATIVE + FURIOUS + CALM
    vecs = tiny_model.embed(texts, embedder)
    assert loaded.predict_embedded(vecs, texts) == tiny_model.predict_embedded(vecs, texts)
    np.testing.assert_array_equal(loaded.predict_proba_embedded(vecs, texts),
                                  tiny_model.predict_proba_embedded(vecs, texts))


def test_save_load_without_tfidf(embedder, tmp_path):
    texts, labels = zip(*TINY)
    m = SentimentModel(tfidf_weight=0.0).fit(list(texts), list(labels), embedder)
    loaded = SentimentModel.load(m.save(tmp_path / "m"))
    vecs = m.embed(CALM, embedder)
    assert loaded.predict_embedded(vecs, CALM) == m.predict_embedded(vecs, CALM)


def test_input_checks(tiny_model, embedder):
    assert tiny_model.predict([], embedder) == []
    with pytest.raises(TypeError):
        tiny_model.predict("one string", embedder)
    with pytest.raises(RuntimeError):
        SentimentModel().predict(["x"], embedder)
    with pytest.raises(ValueError):
        SentimentModel().fit_embedded(np.zeros((2, 4)), ["a", "b"], ["good", "bad"])
    with pytest.raises(ValueError):  # binary data only: nothing teaches neutral
        SentimentModel().fit_embedded(np.eye(4), list("abcd"), ["positive", "negative"] * 2)


def test_anger_rule_units(tiny_model):
    assert detect_language("太差了") == "zh" and detect_language("so bad") == "en"
    assert detect_language("订单 order 12345 还没到") == "zh"
    assert anger_cues("This is RIDICULOUS")["lexicon"] == ["ridiculous"]
    assert anger_cues("我要投诉")["lexicon"] == ["投诉"]
    assert anger_cues("why！！")["shouting"]
    assert anger_cues("a sued b")["lexicon"] == []  # whole words only
    # lexicon + confident negative -> angry; same words, low P(negative) -> not angry
    assert tiny_model.is_angry("worst day ever", 0.9)
    assert not tiny_model.is_angry("the worst part is over, thanks", 0.2)
    # shouting alone needs a very confident negative
    assert not tiny_model.is_angry("where is my parcel!!", 0.7)
    assert tiny_model.is_angry("where is my parcel!!", 0.95)
