"""Scripted support conversations (English and Chinese) for ``bench/eval_chat.py``, as data.

Each conversation is run turn by turn through the real chat service, in one conversation (slots and handoff
counters carry over). Per turn the script states:

* ``intent``: the intent the turn should be understood as -- a demo knowledge-base topic
  (``features/demo/knowledge_base.py``), ``"out_of_scope"``, ``"greeting"`` or ``"thanks"``;
* ``handoff``: the handoff reason expected on that turn (``models.chat.dialogue.HANDOFF_REASONS``) or None.
  A conversation already handed over keeps its reason on later turns, so those turns expect it too;
* ``facts``: strings the reply must contain (matched like the service's own fact check: tolerant of form,
  strict about values). ``{delivery:ORDER}`` is the order's expected delivery date (purchase time + the
  service's delivery days, written as the reply language writes dates), ``{recommendations}`` the names of the
  recommendations the answer returned (and at least one must be returned);
* ``forbid``: strings the reply must not contain (e.g. the refund period in a reply to a high-risk customer).

The messages were written for this benchmark: they paraphrase the knowledge-base topics and do not copy the
KB's example questions or the demo training sentences (``features/demo/chat_training.py``). They were written
from what a customer would say, not tuned to what the demo models get right; some probe known weak spots
(a number given without the word "order", "agent"/"经理" in a sentence that does not ask for a person, small
talk with extra words); those are tagged ``probe``. The expectations follow the product rules as documented in
``models/chat/dialogue.py`` and ``service/pipelines/chat.py``, with one deliberate exception: ``en-contact-phone``
("what's your phone number?") expects the contact answer with the phone number, not a handoff, although the
policy hands over every ``contact_human`` turn (so the KB's contact answer is never shown).

Customers: hand-made ones with known orders (``CUSTOMERS``, ``ORDERS``, ``HIGH_RISK``) and, for
recommendations, ``@sim-en`` / ``@sim-zh`` = a simulated shop customer of that language with purchases.
"""
from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["CONVERSATIONS", "CUSTOMERS", "HIGH_RISK", "ITEMS", "ORDERS", "Conversation", "Turn"]


@dataclass(frozen=True)
class Turn:
    message: str
    intent: str
    handoff: str | None = None
    facts: tuple[str, ...] = ()
    forbid: tuple[str, ...] = ()


@dataclass(frozen=True)
class Conversation:
    cid: str
    customer: str
    language: str
    turns: tuple[Turn, ...]
    tags: tuple[str, ...] = field(default_factory=tuple)


T = Turn  # short alias for the data below

#: Hand-made customers (besides the simulated shop's).
CUSTOMERS = [
    {"customer_id": "c-en", "name": "Mary", "tier": "gold", "language": "en"},
    {"customer_id": "c-zh", "name": "王芳", "tier": "silver", "language": "zh"},
    {"customer_id": "c-new", "name": "Nina", "language": "en"},
    {"customer_id": "c-zh-new", "name": "赵敏", "language": "zh"},
    {"customer_id": "c-risky", "name": "Sam", "language": "en"},
    {"customer_id": "c-risky-zh", "name": "李强", "language": "zh"},
]
ITEMS = [
    {"item_id": "t-tea", "name": "Jasmine tea", "category": "beverages", "price": 6.5},
    {"item_id": "t-mug", "name": "Travel mug", "category": "home", "price": 15.0},
    {"item_id": "t-bowl", "name": "Ceramic bowl", "category": "home", "price": 12.0},
]
#: (order id, customer, days ago, [(item id, amount)]): purchases stored at now - days ago.
ORDERS = [
    ("1042", "c-en", 2.0, [("t-tea", 6.5), ("t-mug", 15.0)]),
    ("1001", "c-en", 20.0, [("t-mug", 15.0)]),
    ("2001", "c-zh", 1.5, [("t-tea", 6.5), ("t-bowl", 12.0)]),
    ("3001", "c-risky", 10.0, [("t-mug", 15.0)]),
    ("4001", "c-risky-zh", 3.0, [("t-bowl", 12.0)]),
]
#: Customers whose latest risk decision is review/decline: they must be handed over, never promised a refund.
HIGH_RISK = {"c-risky": "decline", "c-risky-zh": "review"}

#: What a reply to a high-risk customer asking for money back must not say: the refund period, the return
#: window, or that a refund will come (checked as facts are: "30 days" also matches "30 Days", "30天" "30天内").
_NO_REFUND_EN = ("3-5", "30 days", "refund will", "will be refunded", "will get your refund", "refund is on its way")
_NO_REFUND_ZH = ("3-5", "30天", "退款将", "将退款", "会退款", "退款会", "给您退款")

CONVERSATIONS: list[Conversation] = [
    # ------------------------------------------------------------------------------------------ English
    Conversation("en-order-number-followup", "c-en", "en", (
        T("Hi, could you check on order 1042 for me?", "order_status",
          facts=("1042", "on its way", "{delivery:1042}")),
        T("ok and what day should I expect it?", "order_status", facts=("1042", "{delivery:1042}")),
    ), ("order", "slot_carry_over")),
    Conversation("en-order-no-number", "c-en", "en", (
        T("my parcel still hasn't turned up, what's going on?", "order_status", facts=("1042", "{delivery:1042}")),
    ), ("order",)),
    Conversation("en-order-switch", "c-en", "en", (
        T("what's the status of order #1001?", "order_status", facts=("1001", "delivered")),
        T("and the other one, 1042?", "order_status", facts=("1042", "on its way")),
    ), ("order", "slot_carry_over")),
    Conversation("en-order-then-return", "c-en", "en", (
        T("Did order 1001 ever arrive?", "order_status", facts=("1001", "delivered")),
        T("I'd like to send it back, how long do I have?", "return_item", facts=("30",)),
    ), ("order", "returns", "slot_carry_over")),
    Conversation("en-order-unknown-number", "c-en", "en", (
        T("where is order 5555?", "order_status", facts=("5555", "1042")),
    ), ("order",)),
    Conversation("en-no-orders-gives-number", "c-new", "en", (
        T("where's my package?", "order_status", facts=("order number",)),
        T("it's order 7788", "order_status", facts=("7788",)),
    ), ("order", "slot_carry_over", "probe")),
    Conversation("en-refund-timing", "c-en", "en", (
        T("I sent the shoes back last week, how soon does the money come back?", "refund_timing", facts=("3-5",)),
    ), ("returns",)),
    Conversation("en-return-window", "c-en", "en", (
        T("Is it too late to return something I got a month ago?", "return_item", facts=("30",)),
    ), ("returns",)),
    Conversation("en-damaged", "c-en", "en", (
        T("The mug from order 1042 arrived with a big crack in it", "damaged_item", facts=("1042",)),
    ), ("returns",)),
    Conversation("en-missing-item", "c-en", "en", (
        T("I only got one of the two things I ordered", "missing_item"),
    ), ("order",)),
    Conversation("en-change-address", "c-en", "en", (
        T("I typed the wrong street name, can I fix where it's going?", "change_address"),
    ), ("order",)),
    Conversation("en-cancel", "c-en", "en", (
        T("I ordered by mistake an hour ago, can I undo it?", "cancel_order", facts=("2",)),
    ), ("order",)),
    Conversation("en-payment", "c-en", "en", (
        T("my Mastercard keeps getting rejected when I try to pay", "payment_failed", facts=("PayPal",)),
    ), ("payment",)),
    Conversation("en-discount", "c-en", "en", (
        T("the promo code from your newsletter says it's invalid", "discount_code"),
    ), ("payment",)),
    Conversation("en-shipping", "c-en", "en", (
        T("do I have to pay for delivery on a $60 order?", "shipping_cost", facts=("49", "4.99")),
        T("and how fast is the express option?", "shipping_cost", facts=("1-2", "9.99")),
    ), ("shipping", "slot_carry_over")),
    Conversation("en-warranty", "c-en", "en", (
        T("the lid of my travel mug broke after three months, is that covered?", "warranty", facts=("2",)),
    ), ("product",)),
    Conversation("en-account", "c-en", "en", (
        T("I've got a new email address, where do I put it in my profile?", "update_account"),
    ), ("account",)),
    Conversation("en-password", "c-en", "en", (
        T("I'm locked out, the site keeps saying my password is wrong", "password_reset", facts=("1",)),
    ), ("account",)),
    Conversation("en-invoice", "c-en", "en", (
        T("I need a proper bill for order 1042 for my expense report", "invoice", facts=("1042",)),
    ), ("billing",)),
    Conversation("en-exchange", "c-en", "en", (
        T("these jeans are too tight, can I swap them for a bigger pair?", "exchange_size", facts=("30",)),
    ), ("returns",)),
    Conversation("en-international-agent-word", "c-en", "en", (
        T("My shipping agent in Canada will receive it - can you send parcels there?", "international_shipping",
          facts=("40",)),
    ), ("shipping", "probe")),
    Conversation("en-opening-hours", "c-en", "en", (
        T("what time does your support team start in the morning?", "opening_hours", facts=("9:00-18:00",)),
    ), ("contact",)),
    Conversation("en-contact-phone", "c-en", "en", (
        T("what's your phone number?", "contact_human", facts=("400-800-1234",)),
    ), ("contact", "probe")),
    Conversation("en-ask-person", "c-en", "en", (
        T("can I please speak with someone from your team, not a bot", "contact_human", "customer_asked"),
    ), ("handoff",)),
    Conversation("en-ask-person-after-question", "c-en", "en", (
        T("where's order 1001?", "order_status", facts=("1001",)),
        T("this isn't helping, get me a human please", "contact_human", "customer_asked"),
        T("meanwhile, how long do I have to return things?", "return_item", "customer_asked"),
    ), ("handoff", "slot_carry_over")),
    Conversation("en-angry-twice", "c-en", "en", (
        T("I've waited two weeks for my order and nobody tells me anything, this is a disgrace!", "order_status"),
        T("Absolutely pathetic, I'm furious - where is my parcel?!", "order_status", "angry_twice"),
    ), ("handoff", "angry")),
    Conversation("en-out-of-scope-twice", "c-en", "en", (
        T("who won the tennis final yesterday?", "out_of_scope"),
        T("can you help me write a birthday speech for my dad?", "out_of_scope", "out_of_scope_twice"),
    ), ("handoff", "out_of_scope")),
    Conversation("en-high-risk-refund", "c-risky", "en", (
        T("Where is order 3001?", "order_status", facts=("3001",)),
        T("it's not what I wanted, I want my money back", "refund_timing", "high_risk_refund", forbid=_NO_REFUND_EN),
    ), ("handoff", "high_risk")),
    Conversation("en-high-risk-refund-direct", "c-risky", "en", (
        T("I returned order 3001 last week, when is my refund coming?", "refund_timing", "high_risk_refund",
          forbid=_NO_REFUND_EN),
    ), ("handoff", "high_risk")),
    Conversation("en-recommend", "c-en", "en", (
        T("I need a birthday present for my sister, any ideas?", "product_recommendation",
          facts=("{recommendations}",)),
    ), ("recommendation",)),
    Conversation("en-recommend-sim", "@sim-en", "en", (
        T("what else from your shop do you think I'd like?", "product_recommendation", facts=("{recommendations}",)),
    ), ("recommendation",)),
    Conversation("en-greet-order-thanks", "c-en", "en", (
        T("hey!", "greeting"),
        T("has order 1042 left the warehouse yet?", "order_status", facts=("1042",)),
        T("thank you so much", "thanks"),
    ), ("small_talk", "order")),
    Conversation("en-greet-thanks-wordy", "c-en", "en", (
        T("Hi, good evening", "greeting"),
        T("ok that's all, thanks!", "thanks"),
    ), ("small_talk", "probe")),
    # ------------------------------------------------------------------------------------------ Chinese
    Conversation("zh-order-number-followup", "c-zh", "zh", (
        T("帮我看看订单2001现在什么情况", "order_status", facts=("2001", "正在配送中", "{delivery:2001}")),
        T("那大概哪天能收到？", "order_status", facts=("2001", "{delivery:2001}")),
    ), ("order", "slot_carry_over")),
    Conversation("zh-order-no-number", "c-zh", "zh", (
        T("我买的茶叶怎么还没寄到？", "order_status", facts=("2001", "{delivery:2001}")),
    ), ("order",)),
    Conversation("zh-no-orders-gives-number", "c-zh-new", "zh", (
        T("我下的单到哪儿了？", "order_status", facts=("订单号",)),
        T("订单号是8899", "order_status", facts=("8899",)),
    ), ("order", "slot_carry_over", "probe")),
    Conversation("zh-refund-timing", "c-zh", "zh", (
        T("退回去的钱几天能到我卡上？", "refund_timing", facts=("3-5",)),
    ), ("returns",)),
    Conversation("zh-return-window", "c-zh", "zh", (
        T("买的鞋子不合适，还能退吗？多久之内要寄回？", "return_item", facts=("30",)),
    ), ("returns",)),
    Conversation("zh-damaged", "c-zh", "zh", (
        T("收到的碗裂了一道缝", "damaged_item", facts=("2001",)),
    ), ("returns",)),
    Conversation("zh-missing-item", "c-zh", "zh", (
        T("订单2001少发了一个东西", "missing_item"),
    ), ("order",)),
    Conversation("zh-cancel", "c-zh", "zh", (
        T("刚才下错单了，能撤回吗？", "cancel_order", facts=("2",)),
    ), ("order",)),
    Conversation("zh-payment", "c-zh", "zh", (
        T("微信付款一直失败怎么办", "payment_failed"),
    ), ("payment",)),
    Conversation("zh-shipping", "c-zh", "zh", (
        T("买多少钱以上可以免运费？", "shipping_cost", facts=("49",)),
        T("加急的话要几天？", "shipping_cost", facts=("1-2",)),
    ), ("shipping", "slot_carry_over")),
    Conversation("zh-account", "c-zh", "zh", (
        T("手机号换了，账户里的号码怎么改？", "update_account"),
    ), ("account",)),
    Conversation("zh-password", "c-zh", "zh", (
        T("登不上去了，密码好像输错太多次", "password_reset"),
    ), ("account",)),
    Conversation("zh-invoice-manager-word", "c-zh", "zh", (
        T("我是公司采购经理，订单2001需要开发票", "invoice", facts=("2001",)),
    ), ("billing", "probe")),
    Conversation("zh-exchange", "c-zh", "zh", (
        T("裤子太长了，能换短一点的吗？", "exchange_size", facts=("30",)),
    ), ("returns",)),
    Conversation("zh-international", "c-zh", "zh", (
        T("能寄到日本吗？", "international_shipping", facts=("40",)),
    ), ("shipping",)),
    Conversation("zh-opening-hours", "c-zh", "zh", (
        T("你们几点开始营业？", "opening_hours", facts=("9:00-18:00",)),
    ), ("contact",)),
    Conversation("zh-ask-person", "c-zh", "zh", (
        T("别跟我绕了，给我接个真人客服", "contact_human", "customer_asked"),
    ), ("handoff",)),
    Conversation("zh-ask-person-staff", "c-zh", "zh", (
        T("订单2001怎么还没到？", "order_status", facts=("2001",)),
        T("我想找你们的工作人员当面说清楚", "contact_human", "customer_asked"),
    ), ("handoff",)),
    Conversation("zh-angry-twice", "c-zh", "zh", (
        T("等了半个月还没到货，你们到底怎么回事！太气人了！", "order_status"),
        T("我的包裹到底在哪？垃圾服务，气死我了！", "order_status", "angry_twice"),
    ), ("handoff", "angry")),
    Conversation("zh-out-of-scope-twice", "c-zh", "zh", (
        T("今晚的球赛谁会赢？", "out_of_scope"),
        T("帮我写一份年终工作总结", "out_of_scope", "out_of_scope_twice"),
    ), ("handoff", "out_of_scope")),
    Conversation("zh-high-risk-refund", "c-risky-zh", "zh", (
        T("我退回的货你们收到了吧？退款什么时候到？", "refund_timing", "high_risk_refund", forbid=_NO_REFUND_ZH),
    ), ("handoff", "high_risk")),
    Conversation("zh-high-risk-return", "c-risky-zh", "zh", (
        T("订单4001到哪了？", "order_status", facts=("4001",)),
        T("算了，这个碗我不要了，怎么退？", "return_item", "high_risk_refund", forbid=_NO_REFUND_ZH),
    ), ("handoff", "high_risk")),
    Conversation("zh-recommend", "c-zh", "zh", (
        T("最近有什么值得入手的好东西？", "product_recommendation", facts=("{recommendations}",)),
    ), ("recommendation",)),
    Conversation("zh-recommend-sim", "@sim-zh", "zh", (
        T("想给我妈妈挑个礼物，帮我出出主意", "product_recommendation", facts=("{recommendations}",)),
    ), ("recommendation",)),
    Conversation("zh-greet-order-thanks", "c-zh", "zh", (
        T("您好！", "greeting"),
        T("订单2001发出来了没有", "order_status", facts=("2001",)),
        T("多谢！", "thanks"),
    ), ("small_talk", "order")),
    Conversation("zh-greet-thanks-wordy", "c-zh", "zh", (
        T("你好，在吗？", "greeting"),
        T("好的，谢谢您", "thanks"),
    ), ("small_talk", "probe")),
]
