"""Mask personal data (card numbers, e-mail addresses, phone numbers) in free text.

Chat messages and log lines are stored and shown to agents and engineers; card numbers, e-mail
addresses and phone numbers in them must not be. ``mask_pii`` replaces them with ``[CARD]``,
``[EMAIL]`` and ``[PHONE]`` and keeps everything else -- order ids ("O12345", "1042"), prices
("$12.50"), dates ("2026-05-03"), timestamps -- because agents and retrieval need those.

Design choices:

* Regexes are compiled once at import, and a text with no digit and no "@" returns at once:
  this runs on every log line and chat message.
* Cards: a run of digits with single spaces or dashes between them is split at the separators,
  and every span of whole groups holding 13-19 digits is a candidate, so a card followed or
  preceded by other numbers ("4111 1111 1111 1111 05/27", "qty 2 4111...") is still found.
  A candidate is masked only when **Luhn-valid** and when it starts like a payment card (3, 4,
  5, 6, or Mastercard's 2221-2720 range). The prefix rule keeps millisecond timestamps
  ("1746230400000"), "yyyymmddhhmmss" stamps and long ids from being masked by the 1-in-10
  chance that any digit string passes Luhn; every major network (Visa, Mastercard, Amex,
  Discover, JCB, Diners, UnionPay, Maestro) starts with one of those.
* Phones: international "+<country> ..." (8-15 digits, the E.164 limit), Chinese mobiles
  (1[3-9] + 9 digits, optionally grouped 3-4-4 or prefixed 86/0086), Chinese landlines with an
  area code ("010-12345678"), North-American numbers written with separators ("(555) 123-4567",
  "555-123-4567", "1-555-123-4567"). A bare 10-digit number is *not* a phone: it is as likely an
  epoch timestamp or an id.
* Boundaries are "not a digit and not an ASCII letter" rather than ``\\b``: Chinese characters are
  word characters to ``re``, so ``\\b`` finds no boundary in "我的电话是13800138000". ASCII letters
  (also before a dash: "ORD-555-123-4567") block a match, so ids such as "O13800138000" survive;
  digits after a decimal point ("0.4111111111111111") are a float, not a card.
* Full-width digits, which Chinese input methods produce ("１３８００１３８０００"), count as
  digits everywhere (``\\d`` matches them, literal digits in the patterns list both widths, and
  ``int()`` reads them for the Luhn check).
* Order: e-mail first (so "13800138000@163.com" becomes one ``[EMAIL]``, not
  "[PHONE]@163.com"), then cards, then phones.
"""
from __future__ import annotations

import re

__all__ = ["CARD_TOKEN", "EMAIL_TOKEN", "PHONE_TOKEN", "contains_pii", "luhn_valid", "mask_pii"]

CARD_TOKEN = "[CARD]"
EMAIL_TOKEN = "[EMAIL]"
PHONE_TOKEN = "[PHONE]"

# Left boundary: not after a digit, ASCII letter, "_" or "+", nor after "<digit or letter>." or
# "<digit or letter>-" (inside a decimal, a longer dotted/dashed number, or an id like "ORD-...").
_L = r"(?<![\dA-Za-z_+])(?<![\dA-Za-z][.\-])"
# Right boundary: not before a digit/letter/"_", nor before ".<digit>" / "-<digit>" (a longer
# number or a decimal), nor "-<letter>" (an id suffix).
_R = r"(?![\dA-Za-z_])(?![.\-]\d)(?!-[A-Za-z])"

# The local part starts at a boundary (the look-behind), which keeps the scan linear on long runs
# of address-like characters with no "@". Each domain label ends in a dot, so the repeated group
# cannot backtrack exponentially.
_EMAIL = re.compile(
    r"(?<![A-Za-z0-9._%+\-])[A-Za-z0-9._%+\-]+@"
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?\.)+[A-Za-z]{2,}(?![A-Za-z0-9\-])"
)

# A maximal run of digits with single spaces/dashes between them; cards are searched inside.
_DIGIT_RUN = re.compile(_L + r"\d+(?:[ \-]\d+)*" + _R)
_GROUP = re.compile(r"\d+")

_PHONE = re.compile(
    "|".join(
        [
            # international: "+" <country code> then groups; "(0)"-style parts allowed
            r"(?P<intl>(?<![\dA-Za-z_+])\+\d{1,3}(?:[ .\-]?\(\d{1,4}\)|[ .\-]?\d{1,5}){1,6}" + _R + ")",
            # Chinese mobile: 13800138000, 138 0013 8000, 138-0013-8000, 8613800138000
            r"(?P<cn_mobile>" + _L + r"(?:(?:[0０]{2})?[8８][6６][ \-]?)?[1１][3-9３-９]\d(?:[ \-]?\d{4}){2}" + _R + ")",
            # Chinese landline with area code: 010-12345678, 0755-1234567
            r"(?P<cn_land>" + _L + r"[0０]\d{2,3}-\d{7,8}" + _R + ")",
            # North America, separators required: (555) 123-4567, 555-123-4567, 1-555-123-4567
            r"(?P<nanp>" + _L + r"(?:[1１][ .\-]?)?(?:\(\d{3}\)[ .\-]?|\d{3}[ .\-])\d{3}[ .\-]\d{4}" + _R + ")",
        ]
    )
)
# Tokens of the part after "+" in an international number, for the E.164 length check.
_INTL_TOKEN = re.compile(r"[ .\-]?(?:\(\d+\)|\d+)")

_DIGIT_OR_AT = re.compile(r"[\d@]")
_NON_DIGIT = re.compile(r"\D")
_CARD_PREFIX = re.compile(r"[3-6]|2(?:2(?:2[1-9]|[3-9]\d)|[3-6]\d\d|7(?:[01]\d|20))")

_CARD_MIN, _CARD_MAX = 13, 19
_PHONE_MIN, _PHONE_MAX = 8, 15  # E.164: at most 15 digits including the country code


def luhn_valid(digits: str) -> bool:
    """Luhn checksum of a string of decimal digits (full-width digits allowed)."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def _is_card_number(digits: str) -> bool:
    """``digits`` (no separators) has a card's length, a card network prefix and a valid Luhn sum."""
    if not _CARD_MIN <= len(digits) <= _CARD_MAX:
        return False
    head = "".join(str(int(c)) for c in digits[:4])  # full-width -> ASCII for the prefix test
    return bool(_CARD_PREFIX.match(head)) and luhn_valid(digits)


def _mask_run(m: re.Match[str]) -> str:
    """Mask every card inside one digit run; spans are whole groups, leftmost then longest."""
    run = m.group(0)
    groups = [(g.start(), g.end(), g.group(0)) for g in _GROUP.finditer(run)]
    if len(groups) == 1:  # the common case: one plain number
        return CARD_TOKEN if _is_card_number(run) else run
    out: list[str] = []
    pos = 0  # index in ``run`` up to which ``out`` is written
    i = 0
    while i < len(groups):
        best = -1
        digits = ""
        for j in range(i, len(groups)):
            digits += groups[j][2]
            if len(digits) > _CARD_MAX:
                break
            if _is_card_number(digits):
                best = j
        if best < 0:
            i += 1
            continue
        out.append(run[pos : groups[i][0]])
        out.append(CARD_TOKEN)
        pos = groups[best][1]
        i = best + 1
    out.append(run[pos:])
    return "".join(out)


def _mask_phone(m: re.Match[str]) -> str:
    text = m.group(0)
    if m.group("intl") is None:
        return PHONE_TOKEN
    # Greedy groups may run into a following number ("+86 138 0013 8000 2026-05-03"): keep the
    # longest prefix of whole groups within the E.164 length and leave the rest as it was.
    count = 0
    end = 1  # after the "+"
    for tok in _INTL_TOKEN.finditer(text, 1):
        n = len(_NON_DIGIT.sub("", tok.group(0)))
        if count + n > _PHONE_MAX:
            break
        count += n
        end = tok.end()
    if count < _PHONE_MIN:
        return text
    return PHONE_TOKEN + text[end:]


def mask_pii(text: str) -> str:
    """Return ``text`` with card numbers, e-mail addresses and phone numbers masked.

    >>> mask_pii("card 4111 1111 1111 1111, mail a.b@example.com, 我的电话是13800138000")
    'card [CARD], mail [EMAIL], 我的电话是[PHONE]'
    """
    if not text or not _DIGIT_OR_AT.search(text):
        return text
    if "@" in text:
        text = _EMAIL.sub(EMAIL_TOKEN, text)
    text = _DIGIT_RUN.sub(_mask_run, text)
    return _PHONE.sub(_mask_phone, text)


def contains_pii(text: str) -> bool:
    """True if :func:`mask_pii` would change ``text``.

    Defined through ``mask_pii`` so the two can never disagree; the quick exits keep the common
    case (no digit, no "@") as cheap as there.
    """
    if not text or not _DIGIT_OR_AT.search(text):
        return False
    if "@" in text and _EMAIL.search(text):
        return True
    return mask_pii(text) != text
