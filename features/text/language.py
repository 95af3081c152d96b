"""Tell Chinese from English chat messages, cheaply and deterministically.

The service answers in the customer's language and picks language-specific templates and
knowledge-base entries, so every message needs a language tag. Only two languages are supported,
which makes a script count enough -- no model, no dependency, microseconds per message.

Rule: count Han characters and Latin letters; the text is "zh" when the Han characters, each
weighted ``HAN_WEIGHT`` (3), at least match the Latin letters, else "en". The weight exists
because one Han character carries about as much as a short English word (3-5 letters): a raw
count would call "我的iPhone坏了" English (4 Han vs 6 letters), although only a Chinese reader
wrote it, while "What does 谢谢 mean?" (2 Han vs 12 letters) stays English. Digits, punctuation
and emoji count for nothing; empty or script-less input ("12345", "???") is "en", the default
language of the service.
"""
from __future__ import annotations

import re

__all__ = ["HAN_WEIGHT", "detect_language"]

#: How many Latin letters one Han character is worth in the comparison.
HAN_WEIGHT = 3

# CJK Unified Ideographs + Extension A, compatibility ideographs, "〇", and Extensions B-G
# (supplementary plane). Kana/Hangul are not Han and not counted.
_HAN = re.compile(r"[\u3007\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f]")
# ASCII letters, Latin-1/Latin Extended-A/B letters (é, ñ, ß ...), full-width Latin letters.
_LATIN = re.compile(r"[A-Za-z\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u024f\uff21-\uff3a\uff41-\uff5a]")


def detect_language(text: str) -> str:
    """Return "zh" if ``text`` is mostly Chinese (weighted Han count >= Latin letters), else "en"."""
    if not text:
        return "en"
    han = len(_HAN.findall(text))
    if han == 0:
        return "en"
    latin = len(_LATIN.findall(text))
    return "zh" if han * HAN_WEIGHT >= latin else "en"
