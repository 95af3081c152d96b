"""The demo shop's own knowledge base, in English and Chinese.

The demo needs answers that agree with the rest of the demo shop (refunds take 3-5 working days,
escalations are answered within 24 hours -- the same facts the simulated agents state), and it
needs every topic in both languages so a Chinese customer is answered in Chinese. Each topic has
several example questions per language because customers phrase the same need many ways and the
retriever matches against the nearest phrasing. Facts live once in ``FACTS`` and are formatted
into both languages, so the numbers cannot drift apart.

Rows are plain dicts (``intent``, ``category``, ``language``, ``questions``, ``answer``) that
``models.chat.knowledge.entries_from_records`` turns into entries. ``{{Order Number}}``-style
slots are filled by the chat layer from the conversation's context.
"""
from __future__ import annotations

__all__ = ["FACTS", "demo_knowledge_base"]

#: Numbers stated in answers, shared by both languages.
FACTS = {
    "return_days": 30,
    "refund_days": "3-5",
    "free_shipping_over": 49,
    "standard_shipping": 4.99,
    "express_shipping": 9.99,
    "standard_days": "3-5",
    "express_days": "1-2",
    "warranty_years": 2,
    "reply_hours": 24,
    "hours_open": "9:00-18:00",
    "cancel_hours": 2,
    "email": "support@demo-shop.example",
    "phone": "400-800-1234",
}

_F = FACTS

# (intent, category, en questions, en answer, zh questions, zh answer)
_TOPICS: list[tuple[str, str, list[str], str, list[str], str]] = [
    (
        "order_status", "order",
        ["Where is my order?", "What is the status of my order?", "When will my order arrive?",
         "Can you track my package?", "Has my order shipped yet?",
         "I still have not received my package", "My delivery is late"],
        "Your order {{Order Number}} ({{Order Items}}) is {{Order Status}}; delivery date: {{Delivery Date}}. "
        "You can follow it any time under My Orders > Track.",
        ["我的订单到哪了？", "查一下我的订单状态", "我的包裹什么时候到？", "帮我查一下物流", "订单发货了吗？", "快递怎么还没到？", "包裹一直没收到"],
        "您的订单{{Order Number}}（{{Order Items}}）{{Order Status}}，送达日期：{{Delivery Date}}。您可以随时在“我的订单 > 物流跟踪”查看进度。",
    ),
    (
        "product_recommendation", "recommendation",
        ["Can you recommend something for me?", "What should I buy?", "Any product suggestions?",
         "What do you recommend?", "Show me something I might like", "I am looking for a gift idea"],
        "Here are some picks for you, based on what you like: {{Recommendations}}.",
        ["有什么推荐的吗？", "推荐一些商品给我", "我应该买什么？", "有什么适合我的商品？", "给我推荐点东西", "想买个礼物，有什么建议？"],
        "根据您的喜好，为您推荐：{{Recommendations}}。",
    ),
    (
        "return_item", "returns",
        ["How do I return an item?", "What is your return policy?", "Can I send back something I bought?",
         "How many days do I have to return a product?", "Is there a time limit for returns?"],
        f"You can return any item within {_F['return_days']} days of delivery. Start the return under "
        "My Orders > Return, print the free label and drop the parcel at any post office.",
        ["怎么退货？", "你们的退货政策是什么？", "买的东西可以退回吗？", "收货后多少天内可以退货？", "退货有期限吗？"],
        f"商品签收后{_F['return_days']}天内均可退货。请在“我的订单 > 申请退货”中提交，打印免费退货面单，把包裹交到任意邮局即可。",
    ),
    (
        "refund_timing", "returns",
        ["When will I get my refund?", "How long does a refund take?", "I returned an item but have not been refunded",
         "My refund has not arrived yet", "When do I get my money back?"],
        f"Refunds are issued within {_F['refund_days']} working days after we receive your return, "
        "to the original payment method. Your bank may need a few more days to show it.",
        ["退款什么时候到账？", "退款需要多长时间？", "我已经退货了，但是还没收到退款", "退款怎么还没到？", "钱什么时候退回给我？"],
        f"我们收到退货后{_F['refund_days']}个工作日内原路退款，银行入账可能还需要几天。",
    ),
    (
        "damaged_item", "returns",
        ["My item arrived damaged", "The product is broken", "I received a faulty item", "The package was crushed and the item is broken"],
        "We are sorry it arrived damaged. Please send a photo of the item and the packaging with your order "
        "number {{Order Number}}; we will send a replacement or a full refund, and you do not need to pay for the return.",
        ["收到的商品坏了", "东西到手就是坏的", "商品有质量问题", "包裹被压坏了，里面的东西也坏了"],
        "很抱歉商品在运输中损坏。请拍下商品和包装的照片，连同订单号{{Order Number}}发给我们；我们将免费为您换货或全额退款，退回运费由我们承担。",
    ),
    (
        "missing_item", "order",
        ["An item is missing from my order", "I did not receive everything I ordered", "My parcel is missing a product",
         "Part of my order never came"],
        "Sorry about that. Some orders ship in several parcels, so please check your tracking first. If the item is "
        "still missing, tell us which one and we will send it right away at no cost.",
        ["我的订单少了一件商品", "收到的东西不全", "包裹里少了一样东西", "有一部分商品没收到"],
        "非常抱歉。部分订单会分多个包裹发出，请先查看物流信息。如果确实缺件，请告诉我们缺少哪件商品，我们会立即免费补发。",
    ),
    (
        "change_address", "order",
        ["How do I change my delivery address?", "I need to update the shipping address on my order",
         "I moved, can I change where my order is sent?", "Wrong address on my order"],
        "You can change the delivery address under My Orders > Edit until the order ships. After it ships, "
        "contact us and we will ask the courier to redirect it.",
        ["怎么修改收货地址？", "我要改一下订单的送货地址", "我搬家了，能改寄送地址吗？", "订单地址填错了"],
        "订单发货前，您可以在“我的订单 > 修改”中更改收货地址。已发货的订单请联系我们，我们会请快递公司改派。",
    ),
    (
        "cancel_order", "order",
        ["How can I cancel my order?", "I want to cancel my purchase", "Cancel order please", "Can I still cancel an order I just placed?"],
        f"Orders can be cancelled free of charge within {_F['cancel_hours']} hours of purchase under My Orders > Cancel. "
        "If it has already shipped, simply return it within the return period.",
        ["怎么取消订单？", "我想取消购买", "请帮我取消订单", "刚下的单还能取消吗？"],
        f"下单后{_F['cancel_hours']}小时内可以在“我的订单 > 取消订单”免费取消。如果已经发货，请在退货期内退回即可。",
    ),
    (
        "payment_failed", "payment",
        ["My payment failed", "My card was declined", "I cannot pay for my order", "Payment error at checkout"],
        "Please check the card details and your card's online-payment limit, then try again. We accept Visa, "
        "Mastercard, PayPal, Alipay and WeChat Pay; if the payment still fails, try another method or contact your bank.",
        ["支付失败了", "我的银行卡被拒绝了", "订单付不了款", "结账时付款出错"],
        "请核对银行卡信息和网上支付限额后重试。我们支持 Visa、Mastercard、PayPal、支付宝和微信支付；如仍失败，请换一种支付方式或联系您的银行。",
    ),
    (
        "discount_code", "payment",
        ["How do I use a discount code?", "My coupon code does not work", "Where do I enter a promo code?",
         "Do you have any discounts?"],
        "Enter the code in the 'Discount code' field at checkout. Each code can be used once per order and cannot be "
        "combined with other offers; check its expiry date if it is rejected.",
        ["优惠码怎么用？", "我的优惠券用不了", "在哪里输入折扣码？", "有没有优惠活动？"],
        "请在结账页面的“优惠码”栏输入。每个订单只能使用一个优惠码，且不能与其他优惠同时使用；如果提示无效，请检查是否已过期。",
    ),
    (
        "shipping_cost", "shipping",
        ["How much is shipping?", "What are your delivery fees?", "Is shipping free?", "How long does delivery take?"],
        f"Standard delivery costs ${_F['standard_shipping']} and takes {_F['standard_days']} working days; express costs "
        f"${_F['express_shipping']} and takes {_F['express_days']} working days. Standard delivery is free on orders "
        f"over ${_F['free_shipping_over']}.",
        ["运费多少？", "配送费用是多少？", "包邮吗？", "送货要多久？"],
        f"标准配送运费{_F['standard_shipping']}美元，{_F['standard_days']}个工作日送达；加急配送{_F['express_shipping']}美元，"
        f"{_F['express_days']}个工作日送达。订单满{_F['free_shipping_over']}美元免标准运费。",
    ),
    (
        "warranty", "product",
        ["What warranty do your products have?", "Is my product still under warranty?", "How do I make a warranty claim?",
         "My device stopped working after a few months"],
        f"All products come with a {_F['warranty_years']}-year warranty. For a claim, send us the order number "
        "{{Order Number}} and a short description of the fault; we repair or replace the item free of charge.",
        ["你们的产品保修多久？", "我的产品还在保修期内吗？", "怎么申请保修？", "用了几个月设备就坏了"],
        f"所有商品均享受{_F['warranty_years']}年保修。申请保修请提供订单号{{{{Order Number}}}}和故障说明，我们将免费维修或更换。",
    ),
    (
        "contact_human", "contact",
        ["I want to talk to a human", "Can I speak to a real person?", "Connect me to an agent", "How can I contact customer service?"],
        f"Of course. Type 'agent' here to be connected to a colleague during opening hours, call {_F['phone']}, or e-mail "
        f"{_F['email']}; we reply within {_F['reply_hours']} hours.",
        ["我要找人工客服", "能和真人说话吗？", "帮我转人工", "怎么联系客服？"],
        f"好的。在这里输入“人工”即可在工作时间转接客服，也可以拨打{_F['phone']}或发邮件至{_F['email']}，我们会在{_F['reply_hours']}小时内回复。",
    ),
    (
        "opening_hours", "contact",
        ["What are your opening hours?", "When is customer service available?", "Are you open on weekends?", "What time does support close?"],
        f"Our customer service team is available Monday to Saturday, {_F['hours_open']} (Beijing time). "
        "This chat assistant answers around the clock.",
        ["你们的营业时间是几点？", "客服什么时候上班？", "周末有客服吗？", "客服几点下班？"],
        f"人工客服服务时间为周一至周六{_F['hours_open']}（北京时间），本智能助手全天24小时在线。",
    ),
    (
        "password_reset", "account",
        ["I forgot my password", "How do I reset my password?", "I cannot log in to my account", "My account is locked"],
        "Click 'Forgot password' on the login page and we will e-mail you a reset link valid for 1 hour. If the e-mail "
        "does not arrive, check your spam folder.",
        ["我忘记密码了", "怎么重置密码？", "我登录不了账户", "我的账号被锁了"],
        "请在登录页点击“忘记密码”，我们会发送一封重置链接邮件，1小时内有效。如果没收到，请检查垃圾邮件文件夹。",
    ),
    (
        "update_account", "account",
        ["How do I change my email address?", "How can I update my account details?", "How do I delete my account?",
         "I want to change my phone number"],
        "You can change your e-mail, phone number and other details under My Account > Profile. To delete your account, "
        "choose My Account > Privacy > Delete account.",
        ["怎么修改邮箱地址？", "怎么更新账户信息？", "怎么注销账号？", "我想换绑手机号"],
        "您可以在“我的账户 > 个人资料”中修改邮箱、手机号等信息。如需注销账户，请进入“我的账户 > 隐私 > 注销账户”。",
    ),
    (
        "invoice", "billing",
        ["How can I get an invoice?", "I need a receipt for my order", "Where can I download my invoice?",
         "Can you send me a VAT invoice?"],
        "Invoices are available under My Orders > {{Order Number}} > Download invoice as a PDF. For a company invoice, "
        "add your company name and tax number before the order ships.",
        ["怎么开发票？", "我需要订单的收据", "在哪里下载发票？", "可以开增值税发票吗？"],
        "发票可以在“我的订单 > {{Order Number}} > 下载发票”中以PDF格式下载。如需开具公司发票，请在发货前填写公司名称和税号。",
    ),
    (
        "exchange_size", "returns",
        ["Can I exchange for a different size?", "The size is wrong, can I swap it?", "I want to exchange my item for another colour"],
        f"Yes, exchanges are free within {_F['return_days']} days: choose My Orders > Exchange, pick the new size or "
        "colour, and we ship it as soon as your return is scanned.",
        ["可以换尺码吗？", "尺码不对，能换一个吗？", "我想换个颜色"],
        f"可以，{_F['return_days']}天内免费换货：在“我的订单 > 换货”中选择新的尺码或颜色，退回包裹揽收后我们立即发出新商品。",
    ),
    (
        "international_shipping", "shipping",
        ["Do you ship internationally?", "Can you deliver abroad?", "Which countries do you ship to?"],
        "We ship to over 40 countries. Delivery times and costs for your country are shown at checkout; import duties, "
        "if any, are paid by the recipient.",
        ["你们能寄到国外吗？", "支持海外配送吗？", "可以发货到哪些国家？"],
        "我们可配送至40多个国家和地区。具体运费和时效在结账时显示；如产生进口关税，由收件人承担。",
    ),
]


def demo_knowledge_base() -> list[dict]:
    """The demo shop's KB rows: one dict per (topic, language), each with several example questions."""
    rows: list[dict] = []
    for intent, category, en_q, en_a, zh_q, zh_a in _TOPICS:
        rows.append({"intent": intent, "category": category, "language": "en", "questions": list(en_q), "answer": en_a,
                     "entry_id": f"{intent}-en"})
        rows.append({"intent": intent, "category": category, "language": "zh", "questions": list(zh_q), "answer": zh_a,
                     "entry_id": f"{intent}-zh"})
    return rows
