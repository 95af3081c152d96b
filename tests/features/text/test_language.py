"""Language detection: English, Chinese, and the mixed messages real customers write."""
from __future__ import annotations

import pytest

from features.text.language import HAN_WEIGHT, detect_language


@pytest.mark.parametrize(
    "text",
    [
        "Where is my order?",
        "I want a refund for order O12345, it arrived broken.",
        "Café crème, s'il vous plaît",  # accented Latin letters are Latin
        "What does 谢谢 mean?",  # a Chinese word quoted in an English sentence
        "My order 订单 O12345 hasn't arrived yet",
        "",
        "12345",
        "???!!! 😡",
        "   ",
    ],
)
def test_english_or_default(text: str) -> None:
    assert detect_language(text) == "en"


@pytest.mark.parametrize(
    "text",
    [
        "我的订单在哪里？",
        "我要退款，东西坏了",
        "好",  # a one-character reply
        "我的iPhone坏了",  # brand name in Latin letters: raw counts would say English
        "请问refund policy是什么",
        "订单O12345还没到，已经三天了",
        "我的電話號碼是多少",  # traditional characters
        "𠮷野家的外卖到了吗",  # supplementary-plane Han character
    ],
)
def test_chinese(text: str) -> None:
    assert detect_language(text) == "zh"


def test_weighting_threshold() -> None:
    """Exactly at the balance point the text counts as Chinese; one Latin letter more tips it."""
    balanced = "退" + "a" * HAN_WEIGHT
    assert detect_language(balanced) == "zh"
    assert detect_language(balanced + "a") == "en"


def test_raw_count_would_be_wrong() -> None:
    """Guards the weighting: fewer Han characters than Latin letters, still Chinese."""
    text = "我的iPhone坏了"
    han = sum("\u4e00" <= c <= "\u9fff" for c in text)
    latin = sum(c.isascii() and c.isalpha() for c in text)
    assert han < latin
    assert detect_language(text) == "zh"
