"""Dialogue state across turns: slots that carry over, and the rules that hand a conversation to a person.

Why rules and not a learned policy: a support team must be able to say exactly when the bot steps aside
("asked for a person", "angry twice", "out of scope twice", "high risk and wants money back"), and audit it.
The counters live in the conversation state, so a customer who is angry in turn 1 and again in turn 4 is
handed over in turn 4, whatever happened between.

Slots are read from the message with patterns that work in English and Chinese ("order 1042", "order #O-1042",
"订单1042", "订单号：1042") and from the customer's own order ids and product names, so "and when will it arrive?"
after "where is order 1042?" still means order 1042: a slot set in an earlier turn stays until a new value
replaces it.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Sequence

__all__ = [
    "ConversationState", "HANDOFF_REASONS", "HISTORY_TURNS", "HandoffPolicy", "extract_order_number",
    "extract_product", "asks_for_person", "asks_for_refund", "small_talk", "delexicalise", "ORDER_TOKEN",
]

#: Turns kept in the state for the generator's context (customer + assistant messages).
HISTORY_TURNS = 6

HANDOFF_REASONS = ("customer_asked", "angry_twice", "out_of_scope_twice", "high_risk_refund")

# "order 1042", "order #1042", "order no. O-1042", "order number: 1042", "订单1042", "订单号：1042", "单号 1042"
_ORDER_RE = re.compile(
    r"\b(?:order|ord)\s*(?:number|no\.?|num|id)?\s*(?:is|was|=)?\s*[:#：]?\s*#?\s*([A-Za-z]{0,3}-?\d{3,12})\b"
    r"|(?:订单号?|单号)\s*(?:是|为|:|：|#)?\s*[:：#]?\s*([A-Za-z]{0,3}-?\d{3,12})",
    re.IGNORECASE,
)
_ID_TOKEN_RE = re.compile(r"[A-Za-z]{0,3}-?\d{3,12}")

# A request for a person needs a verb or a word that only means that: "agent" or "manager" alone also appear in
# "my shipping agent" and "I am the purchasing manager".
_WHO = r"(?:a |an |the |your |some |real |live |actual )*(?:human|person|agent|representative|rep|operator|manager|supervisor|someone|somebody|staff|colleague)"
_PERSON_EN = re.compile(
    r"\b(?:(?:talk|speak|chat) (?:to|with) " + _WHO + r"|(?:transfer|connect|put|pass) me (?:to|through to|with) " + _WHO
    + r"|(?:get|give|want|need) (?:me )?" + _WHO.replace("(?:a |", "(?:a |me |") + r"\b(?! agent)"
    + r"|\b(?:human|real person|live agent|real agent|human agent)\b(?: please)?\s*[.!?]*$"
    + r"|\bnot (?:a |an |to a )?(?:bot|robot|machine)\b)", re.IGNORECASE)
_PERSON_ZH = re.compile(r"人工|真人|转接|客服人员|(?:找|叫|要|让)(?:你们|您们)?的?(?:经理|主管|负责人|客服)|不要机器人|别用机器人")
_CONTACT_INFO = re.compile(r"\b(?:phone number|e-?mail address|how (?:can|do) i (?:contact|reach|call|email|e-mail))\b"
                           r"|电话|邮箱|联系方式|怎么联系", re.IGNORECASE)
_REFUND_EN = re.compile(r"\b(?:refund|money back|reimburse|chargeback|return (?:it|this|them|my))", re.IGNORECASE)
_REFUND_ZH = re.compile(r"退款|退钱|退货|返还|赔偿")

# Small talk: a message made only of these (after punctuation is dropped) is a greeting or a thanks.
_GREETINGS = ("good morning", "good afternoon", "good evening", "hello", "hey", "hi", "你好", "您好", "在吗", "哈喽", "嗨")
_THANKS = ("thank you", "thanks", "thank", "thx", "cheers", "谢谢", "多谢", "感谢", "谢了")
_FILLERS = ("thats all", "that is all", "so much", "very much", "a lot", "again", "there", "ok", "okay",
            "great", "perfect", "cool", "alright", "all good", "kefu", "好的", "好", "嗯", "行", "您", "你", "啦", "了",
            "就这些", "没有了", "没事了", "那就这样", "客服")
_PUNCT = re.compile(r"[\s!！?？.。,，~、;；:：'\"“”‘’()（）-]+")


def small_talk(text: str) -> str | None:
    """"greeting" or "thanks" for a message that is only that ("hello?", "ok that's all, thanks!", "好的，谢谢您");
    None otherwise. Retrieval would otherwise match a greeting to whichever answer is nearest."""
    rest = " " + _PUNCT.sub(" ", text.lower().replace("'", "").replace("’", "")).strip() + " "
    if len(rest) > 60:
        return None
    found: set[str] = set()
    for kind, words in (("thanks", _THANKS), ("greeting", _GREETINGS), ("", _FILLERS)):
        for w in sorted(words, key=len, reverse=True):
            pattern = re.escape(w) if not w.isascii() else r"(?<![a-z])" + re.escape(w) + r"(?![a-z])"
            rest, n = re.subn(pattern, " ", rest)
            if n and kind:
                found.add(kind)
    if rest.strip() or not found:
        return None
    return "thanks" if "thanks" in found else "greeting"


def asks_for_person(text: str) -> bool:
    """The customer asks for a human, in English or Chinese (a backstop beside the intent model)."""
    return bool(_PERSON_EN.search(text) or _PERSON_ZH.search(text))


def asks_for_contact_info(text: str) -> bool:
    """"What's your phone number?" wants the knowledge base's contact answer, not a handoff."""
    return bool(_CONTACT_INFO.search(text))


def asks_for_refund(text: str) -> bool:
    return bool(_REFUND_EN.search(text) or _REFUND_ZH.search(text))


def extract_order_number(text: str, known_orders: Iterable[str] = ()) -> str | None:
    """An order id named in ``text``: first one of the customer's own order ids that appears as a token,
    else one written after "order"/"订单". Known ids win because they are certainly orders."""
    known = [str(o) for o in known_orders if o]
    if known:
        tokens = {t.lower() for t in _ID_TOKEN_RE.findall(text)}
        for order in known:
            if order.lower() in tokens:
                return order
    m = _ORDER_RE.search(text)
    if m:
        return m.group(1) or m.group(2)
    return None


def extract_product(text: str, product_names: Iterable[str]) -> str | None:
    """The longest of ``product_names`` that appears in ``text`` (case-insensitive), so "wireless mouse" beats
    "mouse"; names shorter than 3 characters are ignored (too many false hits)."""
    low = text.lower()
    best: str | None = None
    for name in product_names:
        if name and len(name) >= 3 and name.lower() in low and (best is None or len(name) > len(best)):
            best = name
    return best


ORDER_TOKEN = "[ORDER]"


def delexicalise(text: str, slots: Mapping[str, str]) -> str:
    """The text the models read: the order number replaced by ``[ORDER]``, as PII is by ``[CARD]``.

    Why: an unseen number drags the sentence embedding away from every example question ("Where is order
    1042?" scored below the out-of-scope threshold of the demo intent model; "Where is order [ORDER]?" did not)
    and is an unknown keyword to retrieval. The value itself lives in the slot."""
    order = slots.get("order_number")
    if not order:
        return text
    return re.sub(r"(?<![0-9A-Za-z])#?\s*" + re.escape(order) + r"(?![0-9A-Za-z])", " " + ORDER_TOKEN, text, flags=re.IGNORECASE).replace("  ", " ")


@dataclass
class ConversationState:
    """What the chat service remembers between turns of one conversation (stored as JSON)."""

    slots: dict[str, str] = field(default_factory=dict)
    last_intent: str | None = None
    angry_turns: int = 0
    out_of_scope_turns: int = 0
    history: list[list[str]] = field(default_factory=list)  # [role, text], oldest first, PII masked

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> ConversationState:
        data = dict(data or {})
        return cls(
            slots={str(k): str(v) for k, v in (data.get("slots") or {}).items()},
            last_intent=data.get("last_intent"),
            angry_turns=int(data.get("angry_turns") or 0),
            out_of_scope_turns=int(data.get("out_of_scope_turns") or 0),
            history=[[str(r), str(t)] for r, t in (data.get("history") or [])],
        )

    def to_json(self) -> dict[str, Any]:
        return {"slots": dict(self.slots), "last_intent": self.last_intent, "angry_turns": self.angry_turns,
                "out_of_scope_turns": self.out_of_scope_turns, "history": [list(h) for h in self.history]}

    def remember(self, role: str, text: str) -> None:
        self.history.append([role, text])
        del self.history[:-HISTORY_TURNS]

    def update_slots(self, text: str, known_orders: Sequence[str] = (), product_names: Iterable[str] = ()) -> dict[str, str]:
        """Read slots from ``text``; new values replace old ones, absent ones keep the old value. Returns the
        slots found in this message."""
        found: dict[str, str] = {}
        order = extract_order_number(text, known_orders)
        if order:
            found["order_number"] = order
        product = extract_product(text, product_names)
        if product:
            found["product"] = product
        self.slots.update(found)
        return found


@dataclass(frozen=True)
class HandoffPolicy:
    """When the bot hands a conversation to a person. Intent names come from the deployment's intent model;
    the defaults match the demo knowledge base and common support taxonomies (bitext, banking77)."""

    person_intents: frozenset[str] = frozenset({"contact_human", "human", "human_agent", "talk_to_agent", "contact_customer_service"})
    refund_intents: frozenset[str] = frozenset({
        "refund_timing", "return_item", "damaged_item", "get_refund", "track_refund", "check_refund_policy",
        "request_refund", "refund", "cancel_order", "payment_failed",
    })
    angry_limit: int = 2
    out_of_scope_limit: int = 2

    def wants_refund(self, intent: str | None, text: str) -> bool:
        return (intent in self.refund_intents) or asks_for_refund(text)

    def decide(self, state: ConversationState, *, intent: str | None, out_of_scope: bool, angry: bool,
               text: str, high_risk: bool) -> str | None:
        """Update the counters for this turn and return a handoff reason (one of ``HANDOFF_REASONS``) or None.

        Order matters only for which reason is reported when several hold: a direct request first, then the
        risk rule (it changes what the bot may say), then the counters."""
        if angry:
            state.angry_turns += 1
        if out_of_scope:
            state.out_of_scope_turns += 1
        if asks_for_person(text) or (not out_of_scope and intent in self.person_intents
                                     and not asks_for_contact_info(text)):
            return "customer_asked"
        if high_risk and self.wants_refund(None if out_of_scope else intent, text):
            return "high_risk_refund"
        if state.angry_turns >= self.angry_limit:
            return "angry_twice"
        if state.out_of_scope_turns >= self.out_of_scope_limit:
            return "out_of_scope_twice"
        return None
