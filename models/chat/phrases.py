"""The bot's own sentences (not knowledge-base answers), in every reply language, and how it writes values.

Kept as data in one place so a deployment can read every sentence the bot may say on its own, and so English
and Chinese cannot drift apart: each key must exist in both (a test checks it).
"""
from __future__ import annotations

from datetime import datetime
from typing import Sequence

__all__ = ["LANGUAGES", "PHRASES", "format_date", "format_money", "join_names", "phrase",
           "status_text", "tier_text"]

LANGUAGES = ("en", "zh")

PHRASES: dict[str, dict[str, str]] = {
    "handoff.customer_asked": {
        "en": "Of course. I am passing this conversation to a colleague now; they will reply here as soon as possible.",
        "zh": "好的，我现在把对话转给人工客服同事，他们会尽快在这里回复您。",
    },
    "handoff.angry_twice": {
        "en": "I am sorry this has been so frustrating. A colleague is taking over this conversation and will reply here shortly.",
        "zh": "非常抱歉给您带来不好的体验。人工客服同事会接手这个对话，并尽快在这里回复您。",
    },
    "handoff.out_of_scope_twice": {
        "en": "I could not find the answer to that. A colleague will take over this conversation and reply here.",
        "zh": "抱歉，我没能找到答案。人工客服同事会接手这个对话，并在这里回复您。",
    },
    "handoff.high_risk_refund": {
        "en": "I have passed your request to a colleague, who will review it and reply here. I cannot confirm a refund in this chat.",
        "zh": "您的请求已转交给同事审核，审核后会在这里回复您。我无法在此对话中直接确认退款。",
    },
    "handoff.waiting": {
        "en": "A colleague has this conversation and will reply here soon. I have added your message for them.",
        "zh": "人工客服同事正在处理这个对话，会尽快回复您。您的消息已转给他们。",
    },
    "greeting": {
        "en": "How can I help you today?",
        "zh": "请问有什么可以帮您？",
    },
    "thanks": {
        "en": "You are welcome! Is there anything else I can help with?",
        "zh": "不客气！还有什么可以帮您的吗？",
    },
    "handoff.priority": {
        "en": "As a {tier} member, you are at the front of the queue.",
        "zh": "作为{tier}会员，您会被优先处理。",
    },
    "out_of_scope": {
        "en": "Sorry, I am not sure I understood. I can help with orders, delivery, returns, refunds, payments and your account.",
        "zh": "抱歉，我没太明白。我可以帮您处理订单、配送、退换货、退款、支付和账户方面的问题。",
    },
    "ask.order_number": {
        "en": "Could you tell me the order number? You can find it in your confirmation e-mail or under My Orders.",
        "zh": "请告诉我您的订单号，您可以在确认邮件或“我的订单”中找到。",
    },
    "ask.unknown_order": {
        "en": "I could not find order {order} on your account. Could you check the number? Your recent orders are: {orders}.",
        "zh": "您的账户中没有找到订单{order}，请核对一下订单号。您最近的订单有：{orders}。",
    },
    "no_recommendations": {
        "en": "I do not have personal picks for you yet; our bestsellers under Shop > Bestsellers are a good place to start.",
        "zh": "暂时还没有为您准备的个性化推荐，可以先看看“商城 > 热销榜”。",
    },
    "ask.unknown_order_none": {
        "en": "I cannot see order {order} on your account. Please check the number in your confirmation e-mail; if it is right, a colleague will look into it for you.",
        "zh": "您的账户中没有找到订单{order}。请核对确认邮件中的订单号；如果订单号无误，我们的同事会为您核查。",
    },
    "recommendations": {
        "en": "You might also like: {items}.",
        "zh": "您可能还会喜欢：{items}。",
    },
}

_STATUS = {
    "processing": {"en": "being prepared", "zh": "正在备货"},
    "shipped": {"en": "on its way", "zh": "正在配送中"},
    "delivered": {"en": "delivered", "zh": "已送达"},
    "refunded": {"en": "refunded", "zh": "已退款"},
    "cancelled": {"en": "cancelled", "zh": "已取消"},
}


#: How each tier is written, where it differs from the stored name.
_TIERS = {"bronze": {"zh": "铜卡"}, "silver": {"zh": "银卡"}, "gold": {"zh": "金卡"}, "platinum": {"zh": "白金"}}


def tier_text(tier: str, language: str) -> str:
    return _TIERS.get(tier.lower(), {}).get(_lang(language), tier.lower())


def _lang(language: str) -> str:
    return language if language in LANGUAGES else "en"


def phrase(key: str, language: str, **values: str) -> str:
    return PHRASES[key][_lang(language)].format(**values)


def status_text(status: str, language: str) -> str:
    return _STATUS.get(status, {}).get(_lang(language), status)


def format_date(value: datetime, language: str) -> str:
    """"3 May 2026" / "2026年5月3日": written out, so a reader (and the fact check) sees one unambiguous form."""
    if _lang(language) == "zh":
        return f"{value.year}年{value.month}月{value.day}日"
    return f"{value.day} {value.strftime('%B')} {value.year}"


def format_money(amount: float | None, currency: str | None) -> str:
    if amount is None:
        return ""
    symbol = {"USD": "$", "EUR": "€", "GBP": "£", "CNY": "¥", "TWD": "NT$"}.get((currency or "USD").upper())
    return f"{symbol}{amount:,.2f}" if symbol else f"{amount:,.2f} {currency}"


def join_names(names: Sequence[str], language: str) -> str:
    return ("、" if _lang(language) == "zh" else ", ").join(names)
