"""PII masking: what must be masked, and -- as important -- what must survive.

Over-masking hides order ids, prices and dates that agents need; under-masking leaks card
numbers and phones into logs. Both directions are tested, in English and in Chinese.
"""
from __future__ import annotations


import pytest

from features.text.pii import contains_pii, luhn_valid, mask_pii

# Public test card numbers (all Luhn-valid), one per network.
VALID_CARDS = [
    "4111111111111111",  # Visa 16
    "4222222222222",  # Visa 13
    "5555555555554444",  # Mastercard
    "2223003122003222",  # Mastercard 2-series
    "378282246310005",  # Amex 15
    "6011111111111117",  # Discover
    "3530111333300000",  # JCB
    "30569309025904",  # Diners 14
    "6200000000000005",  # UnionPay
    "4111111111111111110",  # 19 digits (Visa allows 19)
]


@pytest.mark.parametrize("card", VALID_CARDS)
def test_luhn_valid_cards_are_masked(card: str) -> None:
    assert luhn_valid(card)
    assert mask_pii(f"my card is {card} thanks") == "my card is [CARD] thanks"
    assert contains_pii(card)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("card 4111 1111 1111 1111.", "card [CARD]."),
        ("card 4111-1111-1111-1111", "card [CARD]"),
        ("amex 3782 822463 10005", "amex [CARD]"),
        ("卡号4111111111111111，过期", "卡号[CARD]，过期"),
        ("卡号：4111 1111 1111 1111", "卡号：[CARD]"),
        # other numbers right next to the card must not hide it
        ("4111 1111 1111 1111 05/27", "[CARD] 05/27"),
        ("4111 1111 1111 1111 123", "[CARD] 123"),
        ("qty 2 4111 1111 1111 1111", "qty 2 [CARD]"),
        ("99 99 4111 1111 1111 1111", "99 99 [CARD]"),
        ("4111111111111111 5555555555554444", "[CARD] [CARD]"),
        ("卡号４１１１１１１１１１１１１１１１", "卡号[CARD]"),  # full-width digits
    ],
)
def test_card_in_context(text: str, expected: str) -> None:
    assert mask_pii(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "4111 1111 1111 1112",  # Luhn-invalid 16 digits (one typo)
        "4111111111111112",
        "1234567812345678",  # Luhn-invalid
        "1746230400001",  # ms timestamp: 13 digits, Luhn-valid, but no card network starts with 1
        "8888888888888888",  # Luhn-valid, not a card prefix
        "411111111111",  # 12 digits: too short
        "41111111111111111111",  # 20 digits: too long (and not split inside a group)
        "SKU4111111111111111",  # glued to letters: an id
        "score=0.4111111111111111",  # a float's fraction
        "order O12345 shipped",
        "order 1042 shipped",
    ],
)
def test_non_cards_survive(text: str) -> None:
    assert mask_pii(text) == text
    assert not contains_pii(text)


def test_the_timestamp_negative_is_really_luhn_valid() -> None:
    """Guards the test above: the prefix rule, not Luhn, is what keeps it."""
    for number in ("1746230400001", "8888888888888888", "20260503123040"):
        assert luhn_valid(number)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("mail me: john.doe+kefu@example.com", "mail me: [EMAIL]"),
        ("Contact: A_B@Sub.Example.co.uk.", "Contact: [EMAIL]."),
        ("我的邮箱是zhang.san@qq.com谢谢", "我的邮箱是[EMAIL]谢谢"),
        ("13800138000@163.com", "[EMAIL]"),  # one e-mail, not a phone plus a domain
    ],
)
def test_emails_are_masked(text: str, expected: str) -> None:
    assert mask_pii(text) == expected
    assert contains_pii(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("call +1-555-123-4567", "call [PHONE]"),
        ("call +86 138 0013 8000 please", "call [PHONE] please"),
        ("+8613800138000", "[PHONE]"),
        ("tel: +44 (0) 20 7946 0958", "tel: [PHONE]"),
        ("13800138000", "[PHONE]"),
        ("我的电话是13800138000", "我的电话是[PHONE]"),
        ("电话13800138000，请尽快联系", "电话[PHONE]，请尽快联系"),
        ("手机：138-0013-8000", "手机：[PHONE]"),
        ("手机 138 0013 8000", "手机 [PHONE]"),
        ("8613800138000", "[PHONE]"),
        ("我的电话是１３８００１３８０００", "我的电话是[PHONE]"),  # full-width digits
        ("座机010-12345678", "座机[PHONE]"),
        ("(555) 123-4567", "[PHONE]"),
        ("call me at 555-123-4567.", "call me at [PHONE]."),
        ("1-555-123-4567", "[PHONE]"),
        # the international pattern must stop at 15 digits, not swallow the date after it
        ("+86 138 0013 8000 2026-05-03", "[PHONE] 2026-05-03"),
    ],
)
def test_phones_are_masked(text: str, expected: str) -> None:
    assert mask_pii(text) == expected
    assert contains_pii(text)


@pytest.mark.parametrize(
    "text",
    [
        "order O12345 costs $12.50",
        "order #1042 delivered on 2026-05-03 at 14:05",
        "2026-05-03T12:30:45Z",
        "refund ¥1,299.00 on 2026/05/03",
        "O13800138000",  # order id that contains a mobile-like number
        "ORD-555-123-4567",  # dashed order id
        "ts=1746230400 took 12.5 ms",  # 10-digit epoch seconds
        "server 192.168.1.100 port 8080",
        "build 20260503123040 (yyyymmddhhmmss, Luhn-valid, year 20xx is no card prefix)",
        "version 1.2.3 released",
        "I ordered 3 items, 2 arrived",
        "+1 5",
        "订单号1042已发货，金额¥99.50",
        "no digits here at all",
        "",
    ],
)
def test_non_pii_survives(text: str) -> None:
    assert mask_pii(text) == text
    assert not contains_pii(text)


def test_multiple_pii_in_one_text() -> None:
    text = (
        "Hi, order O12345 ($12.50, 2026-05-03): card 4111 1111 1111 1111, "
        "mail a.b@example.com, phone +1 (555) 123-4567, 我的电话是13800138000。"
    )
    assert mask_pii(text) == (
        "Hi, order O12345 ($12.50, 2026-05-03): card [CARD], "
        "mail [EMAIL], phone [PHONE], 我的电话是[PHONE]。"
    )
    assert contains_pii(text)


def test_masking_is_idempotent() -> None:
    text = "card 4111111111111111, mail x@y.com, 电话13800138000"
    once = mask_pii(text)
    assert mask_pii(once) == once
    assert not contains_pii(once)
