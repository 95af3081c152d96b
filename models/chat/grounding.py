"""The fact check around a reply generator: stream the model's words, verify the facts, fall back when needed.

Why: the filled-in knowledge-base answer is correct; a small model's re-phrasing often is not (it drops
tracking numbers and "30 days", invents places -- ``shared/MODELS.md``). So the facts that must survive are
taken from the answer itself (:func:`required_facts`), the reply is checked against them
(:func:`missing_facts`), and on any failure -- a dropped or changed fact, the deadline, an error, an empty
reply -- the customer gets the template text (greeting + answer) instead. The customer therefore never receives
a wrong fact from the model; the worst case is a plainer reply.

Matching is tolerant of form and strict about values: case, spacing, full-width digits (Chinese input
methods), thousands separators, a currency sign written as a code ("$4.99" / "4.99 USD"), "3-5" written as
"3 to 5" or "3～5" all match; "4.99" against "4.95", "30" against "300" or "30.5", "3-5" against "3-7" do not.

Streaming: :func:`stream_checked` forwards pieces as they arrive (the first words reach the client in about a
second) and, if the finished reply fails the check, emits one ``("replace", text)`` event telling the client to
replace what it showed. Each backend enforces the deadline itself (the local model runs in a worker thread,
the HTTP client bounds every socket read); here a piece that arrives after the deadline is also dropped and
turns into a timeout, so a backend that ignores its deadline is late but never wrong.
"""
from __future__ import annotations

import logging
import re
import time
import unicodedata
from functools import lru_cache
from pathlib import Path
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass

from models.chat.generator import Generator, GenerationTimeout, GroundedReply, template_text

__all__ = ["FALLBACK_REASONS", "GenerationResult", "generate_checked", "invented_facts", "missing_facts",
           "required_facts", "stream_checked"]

log = logging.getLogger(__name__)

FALLBACK_REASONS = ("missing_facts", "invented_facts", "timeout", "error", "empty")
FALLBACK_NAME = "template-fallback"


@dataclass(frozen=True)
class GenerationResult:
    """What was sent and why: ``generator`` is the backend's name, or ``template-fallback`` when it fell back."""

    text: str
    generator: str
    fell_back: bool
    fallback_reason: str | None
    missing: tuple[str, ...]
    first_piece_s: float | None
    total_s: float


# ----------------------------------------------------------------------------------------- fact extraction
_NUM = r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?"
_MONTH = (r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sep(?:t(?:ember)?)?"
          r"|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)")
_A = r"(?<![A-Za-z0-9])"  # ASCII-letter/digit boundaries: "\b" sees none between "订单" and "1042"
_Z = r"(?![A-Za-z0-9])"
# Order matters: a span taken by an earlier pattern is masked before the later ones run, so the digits of an
# e-mail, a phone number or a date are not reported again as loose numbers.
_FACT_PATTERNS = [
    re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)+"),
    re.compile(_A + r"\d{4}\s*[-/.年]\s*\d{1,2}\s*[-/.月]\s*\d{1,2}(?:\s*日)?" + r"(?!\d)"),
    re.compile(r"(?<!\d)\d{1,2}\s*月\s*\d{1,2}\s*[日号]"),
    re.compile(_A + _MONTH + r"\.?\s+\d{1,2}(?:st|nd|rd|th)?(?:,?\s+\d{4})?" + _Z, re.IGNORECASE),
    re.compile(_A + r"\d{1,2}(?:st|nd|rd|th)?\s+" + _MONTH + r"\.?(?:,?\s+\d{4})?" + _Z, re.IGNORECASE),
    re.compile(r"(?<![\dA-Za-z+])(?:\+\d{1,3}[\s\-]?)?\(?\d{2,4}\)?(?:[\s\-]\d{2,4}){2,3}" + r"(?![\d])"),
    re.compile(r"(?<![\dA-Za-z])1[3-9]\d{9}(?!\d)"),
    re.compile(_A + r"\d{1,2}:\d{2}(?:\s*[-–~]\s*\d{1,2}:\d{2})?" + r"(?!\d)"),
    # order ids and SKUs: letters and digits together ("O-1042", "KF-2231X", "ORD12345"), starting with a letter
    re.compile(_A + r"(?=[A-Za-z0-9\-]*\d)[A-Za-z][A-Za-z0-9]*(?:-[A-Za-z0-9]+)*" + _Z),
    re.compile(r"(?<![\dA-Za-z])(?<!\d[.,])(?:" + _NUM + r")(?:\s*[-–~～至到]\s*(?:" + _NUM + r"))?(?!\d)(?![.,]\d)"),
]
_PHONE_DIGITS = 7


def required_facts(answer: str, values: Mapping[str, str] | None = None) -> tuple[str, ...]:
    """The strings in a filled answer that a re-phrasing must keep, in order of appearance.

    Every filled slot value found in the answer, then e-mail addresses, dates, phone numbers, times,
    order-id-like tokens and numbers (with ranges: "3-5"; currency signs and units are left to the matcher,
    so "$4.99" gives "4.99" and "30天" gives "30"). Works on Chinese text, which has no spaces.
    """
    found: list[tuple[int, str]] = []
    masked = answer
    for value in (values or {}).values():
        value = str(value or "").strip()
        if not value:
            continue
        for m in _literal_pattern(value).finditer(_normalise(masked)):
            found.append((m.start(), answer[m.start():m.end()]))
            masked = _mask(masked, m.start(), m.end())
    for pattern in _FACT_PATTERNS:
        for m in pattern.finditer(masked):
            text = m.group(0).strip()
            if pattern is _FACT_PATTERNS[5] and sum(c.isdigit() for c in text) < _PHONE_DIGITS:
                continue
            found.append((m.start(), text))
            masked = _mask(masked, m.start(), m.end())
    facts: list[str] = []
    seen: set[str] = set()
    for _, text in sorted(found, key=lambda item: item[0]):
        key = _normalise(text)
        if key not in seen:
            seen.add(key)
            facts.append(text)
    return tuple(facts)


def _mask(text: str, start: int, end: int) -> str:
    return text[:start] + "\x00" * (end - start) + text[end:]


# ------------------------------------------------------------------------------------------------ matching
_WS = re.compile(r"\s+")
_CURRENCY = re.compile(r"^(?:\$|us\$|usd|¥|rmb|cny|€|eur|£|gbp)\s*"
                       r"|\s*(?:usd|dollars?|rmb|cny|yuan|美元|元|eur|euros?|gbp)$")
_RANGE_SEP = r"\s*(?:-|–|—|~|to|至|到)\s*"
_LOOSE_SEP = r"[\s\-./()]*"


def _normalise(text: str) -> str:
    """Per character: NFKC (full-width digits and letters become ASCII, "：" becomes ":") and casefold, each
    only where it keeps one character one character -- so positions in the result are positions in ``text``
    (``required_facts`` cuts the original text at them)."""
    return "".join(map(_normalise_char, text))


@lru_cache(maxsize=4096)
def _normalise_char(c: str) -> str:
    n = unicodedata.normalize("NFKC", c)
    if len(n) != 1:
        return c
    folded = n.casefold()
    return folded if len(folded) == 1 else n


def _number_pattern(token: str) -> str:
    """A number written with or without thousands separators; trailing decimal zeros optional ("4.90" ~ "4.9")."""
    digits, _, frac = token.replace(",", "").partition(".")
    if len(digits) > 3 and not digits.startswith("0"):
        head = len(digits) % 3 or 3
        groups = [digits[:head]] + [digits[i:i + 3] for i in range(head, len(digits), 3)]
        integer = r"[,\s]?".join(groups)
    else:
        integer = re.escape(digits)
    frac = frac.rstrip("0")
    fraction = (r"\." + frac + r"0*") if frac else r"(?:\.0+)?"
    return r"(?<!\d)(?<!\d[.,])" + integer + fraction + r"(?!\d)(?![.,]\d)"


def _literal_pattern(fact: str) -> re.Pattern[str]:
    """A regex for one fact over normalised text: numbers by value (see :func:`_number_pattern`), a dash
    between numbers as any range separator, any run of spaces as optional spaces, everything else literal,
    with ASCII word boundaries at the ends so "Anna" is not found inside "Annabel"."""
    f = _WS.sub(" ", _normalise(fact)).strip()
    digits = sum(c.isdigit() for c in f)
    if digits >= _PHONE_DIGITS and re.fullmatch(r"\+?[\d\s\-/()]+|\d{4}\.\d{1,2}\.\d{1,2}", f):
        # phone numbers and numeric dates: the same digits, any separators ("400-800-1234" ~ "400 800 1234")
        body = _LOOSE_SEP.join(re.escape(c) for c in re.sub(r"\D", "", f))
        return re.compile(r"(?<!\d)" + body + r"(?!\d)")
    f = _CURRENCY.sub("", f).strip() or f
    parts: list[str] = []
    pos = 0
    for m in re.finditer(r"\d+(?:[.,]\d+)*|\s+|-", f):
        parts.append(re.escape(f[pos:m.start()]))
        token = m.group(0)
        if token.isspace():
            parts.append(r"\s*")
        elif token == "-":
            between_numbers = m.start() > 0 and f[m.start() - 1].isdigit() and f[m.end():m.end() + 1].isdigit()
            parts.append(_RANGE_SEP if between_numbers else r"\s*-\s*")
        elif token[0] == "0" and len(token.split(",")[0].split(".")[0]) > 1:
            parts.append(r"(?<!\d)" + re.escape(token) + r"(?!\d)")  # "05" in a date, "007": literal digits
        else:
            parts.append(_number_pattern(token))
        pos = m.end()
    parts.append(re.escape(f[pos:]))
    body = "".join(parts)
    if re.match(r"[a-z0-9]", f):
        body = r"(?<![a-z0-9])" + body
    if re.search(r"[a-z0-9]$", f):
        body += r"(?![a-z0-9])"
    return re.compile(body)


def missing_facts(text: str, facts: Iterable[str]) -> list[str]:
    """The facts not found in ``text`` (tolerant of form, strict about values), in the order given."""
    normalised = _normalise(text)
    return [fact for fact in facts if fact.strip() and not _literal_pattern(fact).search(normalised)]


def invented_facts(text: str, request: GroundedReply) -> list[str]:
    """Fact-like strings in a reply (numbers, amounts, dates, ids, e-mails, phones) that appear nowhere in what
    the generator was given: the answer, the context lines, the customer's message, name and recent turns.

    The reverse of :func:`missing_facts`: a small model that keeps every required fact may still add one
    ("your refund will arrive within 30 days", an invented phone number); such a reply is not sent."""
    given = " \n ".join([request.answer, request.message, request.customer_name or "", *request.context,
                          *(t for _, t in request.history)])
    return [fact for fact in required_facts(text) if missing_facts(given, [fact])]


# -------------------------------------------------------------------------------------------- checked loop
def stream_checked(generator: Generator, request: GroundedReply, budget_s: float
                   ) -> Iterator[tuple[str, object]]:
    """``("delta", piece)`` as pieces arrive; ``("replace", fallback_text)`` if the reply fails; always a final
    ``("done", GenerationResult)``. Generator errors and timeouts never propagate: they become fallbacks."""
    started = time.monotonic()
    deadline = started + budget_s
    name = getattr(generator, "name", type(generator).__name__)
    pieces: list[str] = []
    first_piece_s: float | None = None
    reason: str | None = None
    iterator: Iterator[str] | None = None
    try:
        try:
            iterator = iter(generator.stream(request, deadline))
        except GenerationTimeout:
            reason = "timeout"
        except Exception as exc:  # noqa: BLE001 - any backend failure means "send the template instead"
            reason = "error"
            log.warning("generator %s failed to start: %s at %s", name, type(exc).__name__, _where(exc))
        while iterator is not None and reason is None:
            try:
                piece = next(iterator)
            except StopIteration:
                break
            except GenerationTimeout:
                reason = "timeout"
                break
            except Exception as exc:  # noqa: BLE001
                reason = "error"
                log.warning("generator %s failed: %s at %s", name, type(exc).__name__, _where(exc))
                break
            if time.monotonic() >= deadline:
                reason = "timeout"  # a backend that ignored the deadline: drop the late piece
                break
            if not piece:
                continue
            if first_piece_s is None:
                first_piece_s = time.monotonic() - started
            pieces.append(piece)
            yield ("delta", piece)
    finally:
        close = getattr(iterator, "close", None)
        if close is not None:
            try:
                close()
            except Exception as exc:  # noqa: BLE001 - cleanup must not turn a reply into an error
                log.warning("generator %s failed while closing: %s", name, type(exc).__name__)

    text = "".join(pieces).strip()
    missing: tuple[str, ...] = ()
    if reason is None:
        if not text:
            reason = "empty"
        else:
            missing = tuple(missing_facts(text, request.facts))
            if missing:
                reason = "missing_facts"
            elif invented_facts(text, request):
                reason = "invented_facts"
    if reason is not None:
        text = template_text(request)
        log.info("generator %s fell back to the template: %s (%d fact(s) missing)", name, reason, len(missing))
        if missing_facts(text, request.facts):
            log.warning("the fallback answer itself lacks required facts: facts must come from the answer")
        yield ("replace", text)
    yield ("done", GenerationResult(
        text=text, generator=FALLBACK_NAME if reason else name, fell_back=reason is not None,
        fallback_reason=reason, missing=missing, first_piece_s=first_piece_s,
        total_s=time.monotonic() - started))


def generate_checked(generator: Generator, request: GroundedReply, budget_s: float) -> GenerationResult:
    """The whole reply at once: :func:`stream_checked` drained; the result's ``text`` is what to send."""
    result: GenerationResult | None = None
    for kind, payload in stream_checked(generator, request, budget_s):
        if kind == "done":
            result = payload  # type: ignore[assignment]
    assert result is not None
    return result


def _where(exc: BaseException) -> str:
    """Where it was raised (file:line of the innermost frame). Neither the exception's message nor a traceback
    is logged: either may quote the prompt, which holds the customer's text."""
    tb = exc.__traceback__
    if tb is None:
        return "?"
    while tb.tb_next is not None:
        tb = tb.tb_next
    return f"{Path(tb.tb_frame.f_code.co_filename).name}:{tb.tb_lineno}"
