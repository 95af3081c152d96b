"""Word banks for the demo-shop simulator: people, products and chat phrases.

Kept apart from the simulation logic so the behaviour code stays readable and so the phrase banks can grow
(more templates = less repetitive chat, which matters because the demo embeds and searches these texts)
without touching how events are generated. Everything here is plain data; no randomness lives in this module.
"""
from __future__ import annotations

# --------------------------------------------------------------------------------------------------- people

EN_FIRST_NAMES: tuple[str, ...] = (
    "James", "Mary", "John", "Patricia", "Robert", "Jennifer", "Michael", "Linda", "William", "Elizabeth",
    "David", "Barbara", "Richard", "Susan", "Joseph", "Jessica", "Thomas", "Sarah", "Charles", "Karen",
    "Daniel", "Nancy", "Matthew", "Lisa", "Anthony", "Betty", "Mark", "Sandra", "Steven", "Ashley",
    "Paul", "Emily", "Andrew", "Donna", "Joshua", "Michelle", "Kevin", "Amanda", "Brian", "Melissa",
    "George", "Olivia", "Ryan", "Sophia", "Jacob", "Chloe", "Ethan", "Grace", "Lucas", "Hannah",
    "Noah", "Ava", "Liam", "Mia", "Owen", "Zoe", "Carlos", "Maria", "Priya", "Aisha",
)
EN_LAST_NAMES: tuple[str, ...] = (
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez", "Martinez",
    "Hernandez", "Lopez", "Wilson", "Anderson", "Thomas", "Taylor", "Moore", "Jackson", "Martin", "Lee",
    "Thompson", "White", "Harris", "Clark", "Lewis", "Robinson", "Walker", "Young", "Allen", "King",
    "Wright", "Scott", "Green", "Baker", "Adams", "Nelson", "Hill", "Campbell", "Mitchell", "Carter",
    "Roberts", "Turner", "Phillips", "Evans", "Collins", "Stewart", "Murphy", "Cook", "Patel", "Kim",
)
#: (characters, pinyin) so e-mail addresses of Chinese-speaking customers look like real ones.
ZH_SURNAMES: tuple[tuple[str, str], ...] = (
    ("王", "wang"), ("李", "li"), ("张", "zhang"), ("刘", "liu"), ("陈", "chen"), ("杨", "yang"),
    ("黄", "huang"), ("赵", "zhao"), ("吴", "wu"), ("周", "zhou"), ("徐", "xu"), ("孙", "sun"),
    ("马", "ma"), ("朱", "zhu"), ("胡", "hu"), ("郭", "guo"), ("何", "he"), ("林", "lin"),
    ("高", "gao"), ("罗", "luo"), ("郑", "zheng"), ("梁", "liang"),
)
ZH_GIVEN_NAMES: tuple[tuple[str, str], ...] = (
    ("芳", "fang"), ("伟", "wei"), ("娜", "na"), ("秀英", "xiuying"), ("敏", "min"), ("静", "jing"),
    ("丽", "li"), ("强", "qiang"), ("磊", "lei"), ("军", "jun"), ("洋", "yang"), ("勇", "yong"),
    ("艳", "yan"), ("杰", "jie"), ("娟", "juan"), ("涛", "tao"), ("明", "ming"), ("超", "chao"),
    ("秀兰", "xiulan"), ("霞", "xia"), ("平", "ping"), ("刚", "gang"), ("桂英", "guiying"), ("晓东", "xiaodong"),
    ("思远", "siyuan"), ("雨桐", "yutong"), ("子涵", "zihan"), ("浩然", "haoran"), ("欣怡", "xinyi"), ("宇轩", "yuxuan"),
)
EMAIL_DOMAINS: tuple[str, ...] = ("example.com", "example.org", "example.net", "mail.example.com")

# ------------------------------------------------------------------------------------------------- products

#: category -> (low price, high price, repeatable, relative share of the catalogue)
CATEGORIES: dict[str, tuple[float, float, bool, float]] = {
    "groceries": (1.5, 25.0, True, 0.15),
    "beverages": (1.0, 20.0, True, 0.10),
    "snacks": (1.0, 10.0, False, 0.10),
    "household": (2.0, 30.0, True, 0.10),
    "personal_care": (3.0, 40.0, True, 0.10),
    "electronics": (15.0, 1200.0, False, 0.11),
    "home": (10.0, 400.0, False, 0.10),
    "fashion": (12.0, 250.0, False, 0.10),
    "toys": (6.0, 120.0, False, 0.07),
    "books": (6.0, 60.0, False, 0.07),
}
CATEGORY_NAMES: tuple[str, ...] = tuple(CATEGORIES)

#: category -> (brands, adjectives, nouns). Names are "<brand> [<adjective>] <noun>" except books,
#: where the "brand" is a title and the noun the kind of book: "<title> (<noun>)".
PRODUCT_WORDS: dict[str, tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]] = {
    "groceries": (
        ("Green Valley", "Harvest Moon", "Golden Field", "Daily Table", "Sunny Farm", "Blue Hill"),
        ("Organic", "Classic", "Family Size", "Whole Grain", "Low Sugar", "Premium"),
        ("Basmati Rice", "Rolled Oats", "Extra Virgin Olive Oil", "Peanut Butter", "Wildflower Honey",
         "Canned Chickpeas", "Free Range Eggs", "Whole Milk", "Greek Yogurt", "Cheddar Cheese", "Sourdough Bread",
         "Frozen Berries", "Breakfast Cereal", "Jasmine Rice", "Soy Sauce", "Instant Noodles", "Maple Syrup",
         "Baking Flour", "Penne Pasta", "Chicken Stock"),
    ),
    "beverages": (
        ("Mountain Spring", "Morning Ritual", "Tea House", "Citrus Grove", "Bean & Leaf", "Fizz Co."),
        ("Organic", "Decaf", "Sparkling", "Cold Brew", "Sugar Free", "Single Origin"),
        ("Green Tea", "Oolong Tea", "Espresso Beans", "Orange Juice", "Mineral Water 12-Pack", "Oat Milk",
         "Lemonade", "Coconut Water", "Jasmine Tea", "Apple Juice", "Hot Chocolate Mix", "Ginger Ale",
         "Kombucha", "Instant Coffee"),
    ),
    "snacks": (
        ("Crunch Time", "Nutty Buddy", "Snack Shack", "Happy Bites", "Golden Crisp"),
        ("Sea Salt", "Spicy", "Honey Roasted", "Cheesy", "Family Pack", "Mini"),
        ("Potato Chips", "Mixed Nuts", "Dark Chocolate Bar", "Granola Bars", "Popcorn", "Pretzels",
         "Rice Crackers", "Gummy Bears", "Beef Jerky", "Dried Mango", "Seaweed Snacks", "Oatmeal Cookies"),
    ),
    "household": (
        ("CleanPro", "Fresh Home", "EcoNest", "Sparkle", "HomeBasics"),
        ("Lavender", "Unscented", "Eco", "Jumbo", "Concentrated", "Lemon"),
        ("Laundry Detergent", "Dish Soap", "Paper Towels", "Toilet Paper 12-Roll", "Trash Bags",
         "All-Purpose Cleaner", "Sponges", "Dishwasher Tablets", "Fabric Softener", "Glass Cleaner",
         "Light Bulbs", "Aluminium Foil"),
    ),
    "personal_care": (
        ("Pure Glow", "DermaSoft", "Fresh Face", "Herbal Garden", "Silk & Mint"),
        ("Sensitive", "Moisturising", "Travel Size", "Fragrance Free", "Vitamin C", "Charcoal"),
        ("Body Wash", "Toothpaste", "Face Cleanser", "Hand Cream", "Deodorant", "Sunscreen SPF 50",
         "Lip Balm", "Electric Toothbrush Heads", "Razor Blades", "Hair Oil", "Cotton Pads", "Night Cream"),
    ),
    "electronics": (
        ("Voltix", "Nimbus", "Apex", "Lumen", "Soundwave", "Pixelon"),
        ("Wireless", "Pro", "Compact", "Ultra", "Smart", "Portable"),
        ("Bluetooth Headphones", "Laptop 14-inch", "Tablet 10-inch", "Smartwatch", "USB-C Charger",
         "Power Bank", "Bluetooth Speaker", "Gaming Mouse", "Mechanical Keyboard", "4K Monitor", "Webcam",
         "Action Camera", "E-Reader", "Wi-Fi Router", "Earbuds"),
    ),
    "home": (
        ("Nordic Living", "Casa Bella", "Oak & Pine", "Urban Nest", "Cozy Corner"),
        ("Ceramic", "Bamboo", "Linen", "Cast Iron", "Modern", "Handmade"),
        ("Table Lamp", "Throw Blanket", "Frying Pan", "Storage Baskets", "Wall Clock", "Scented Candle",
         "Dinner Plate Set", "Bath Towel Set", "Desk Chair", "Bookshelf", "Kettle", "Coffee Maker",
         "Plant Pot", "Cutting Board"),
    ),
    "fashion": (
        ("Blue Harbor", "Metro Style", "Trailhead", "Luna & Co.", "Northwind"),
        ("Slim Fit", "Waterproof", "Cotton", "Wool", "Oversized", "Classic"),
        ("Denim Jeans", "Hoodie", "Rain Jacket", "Leather Belt", "Sneakers", "Summer Dress", "Polo Shirt",
         "Backpack", "Sunglasses", "Winter Coat", "Scarf", "Ankle Boots", "T-Shirt"),
    ),
    "toys": (
        ("Playtopia", "BrightMinds", "Tiny Titans", "FunForge", "Wonder Box"),
        ("Deluxe", "Junior", "Glow-in-the-Dark", "Wooden", "Magnetic", "Classic"),
        ("Building Blocks", "Puzzle 1000 Pieces", "Plush Bear", "Board Game", "Dollhouse", "Train Set",
         "Science Kit", "Art Set", "Toy Kitchen", "Water Blaster", "Card Game", "Kite"),
    ),
    "books": (
        ("The Quiet Harbor", "Northern Lights", "A Year in Kyoto", "Small Wins", "The Last Orchard",
         "Midnight Express", "Green Kitchen", "Stars Above Us", "The Silent River", "Paper Boats",
         "City of Glass", "Thinking in Systems", "The Long Walk Home", "Salt and Stone"),
        (),
        ("Mystery Novel", "Science Fiction Novel", "Travel Guide", "Biography", "Self-Help Guide",
         "Children's Picture Book", "Poetry Collection", "History Book", "Fantasy Novel", "Business Book"),
    ),
}

#: Pairs of (category, noun) that customers tend to buy together. The simulator makes exactly one item for each
#: noun here, so "people who bought the shampoo also bought the conditioner" is a pattern worth finding.
BUNDLE_NOUNS: tuple[tuple[tuple[str, str], tuple[str, str]], ...] = (
    (("groceries", "Spaghetti"), ("groceries", "Tomato Pasta Sauce")),
    (("snacks", "Tortilla Chips"), ("snacks", "Salsa Dip")),
    (("electronics", "Smartphone"), ("electronics", "Phone Case")),
    (("electronics", "Inkjet Printer"), ("electronics", "Ink Cartridge Set")),
    (("personal_care", "Shampoo"), ("personal_care", "Conditioner")),
    (("beverages", "Ground Coffee"), ("household", "Coffee Filters")),
    (("toys", "Remote Control Car"), ("household", "AA Batteries")),
    (("books", "Vegetarian Cookbook"), ("home", "Chef's Knife")),
    (("home", "Duvet Cover"), ("home", "Pillowcase Set")),
    (("fashion", "Running Shoes"), ("fashion", "Sports Socks")),
)

#: category -> (sentence templates, attribute banks). Templates use {name} and attribute keys.
DESCRIPTIONS: dict[str, tuple[tuple[str, ...], dict[str, tuple[str, ...]]]] = {
    "groceries": (
        ("{name} is a {size} pantry staple, great for {use}.",
         "{name}: a {size} pack for {use}, stored easily at room temperature.",
         "Stock up on {name}, a {size} everyday essential for {use}."),
        {"size": ("500 g", "1 kg", "2 kg", "750 ml", "6-pack", "family-size"),
         "use": ("quick weeknight dinners", "family breakfasts", "meal prep", "baking at home", "healthy lunches")},
    ),
    "beverages": (
        ("{name} comes in a {size} and tastes best {serve}.",
         "Enjoy {name}, a {size} drink that is lovely {serve}.",
         "{name}: a {size} favourite, perfect {serve}."),
        {"size": ("1 l bottle", "12-can pack", "250 g bag", "box of 40 bags", "6-bottle pack"),
         "serve": ("chilled on a hot day", "first thing in the morning", "with an afternoon snack",
                   "after a workout", "on a cosy evening")},
    ),
    "snacks": (
        ("{name} is a {flavour} snack in a {size}, ideal for {moment}.",
         "Grab {name}: {flavour} and crunchy, sold as a {size} for {moment}.",
         "{name} offers {flavour} taste in a {size}, made for {moment}."),
        {"flavour": ("savoury", "sweet", "lightly salted", "bold", "rich"),
         "size": ("single bag", "share pack", "multipack", "resealable pouch"),
         "moment": ("movie nights", "lunch boxes", "road trips", "office breaks", "game day")},
    ),
    "household": (
        ("{name} keeps your home clean with {feature}; one pack lasts about {duration}.",
         "{name}: {feature}, and a pack typically lasts {duration}.",
         "Household essential {name} with {feature}, enough for roughly {duration}."),
        {"feature": ("a plant-based formula", "a fresh long-lasting scent", "extra-strong performance",
                     "recyclable packaging", "a gentle formula safe for septic systems"),
         "duration": ("two weeks", "a month", "six weeks", "two months")},
    ),
    "personal_care": (
        ("{name} is {benefit}, suitable for {skin} and dermatologist tested.",
         "Care for yourself with {name}: {benefit} and made for {skin}.",
         "{name} — {benefit}, with a formula designed for {skin}."),
        {"benefit": ("gentle and hydrating", "refreshing and long-lasting", "free of parabens",
                     "enriched with aloe vera", "lightly scented with citrus"),
         "skin": ("sensitive skin", "all skin types", "dry skin", "daily use", "the whole family")},
    ),
    "electronics": (
        ("{name} features {feature} and comes with a {warranty} warranty.",
         "{name} offers {feature}, backed by a {warranty} warranty.",
         "Upgrade to {name}: {feature}, plus a {warranty} warranty."),
        {"feature": ("up to 20 hours of battery life", "fast USB-C charging", "a lightweight aluminium body",
                     "active noise cancellation", "Bluetooth 5.3 connectivity", "a crisp high-resolution display"),
         "warranty": ("one-year", "two-year", "three-year")},
    ),
    "home": (
        ("{name} is made of {material} and adds a {style} touch to any {room}.",
         "Bring a {style} look to your {room} with {name}, crafted from {material}.",
         "{name}: {material}, {style} design, a perfect fit for the {room}."),
        {"material": ("solid oak", "stoneware", "recycled cotton", "stainless steel", "natural bamboo"),
         "style": ("Scandinavian", "rustic", "minimalist", "warm", "modern"),
         "room": ("living room", "kitchen", "bedroom", "home office", "hallway")},
    ),
    "fashion": (
        ("{name} in {colour} is {fit}, made from {fabric}.",
         "{name}: a {fit} piece in {colour}, cut from {fabric}.",
         "Stay stylish in {name}, available in {colour}; {fit} and made from {fabric}."),
        {"colour": ("navy", "black", "olive green", "sand beige", "charcoal grey", "burgundy"),
         "fit": ("comfortable for all-day wear", "true to size", "a relaxed fit", "lightweight and breathable"),
         "fabric": ("organic cotton", "recycled polyester", "merino wool", "soft denim", "vegan leather")},
    ),
    "toys": (
        ("{name} is a {kind} toy for ages {ages} that encourages {skill}.",
         "Kids aged {ages} love {name}, a {kind} toy that builds {skill}.",
         "{name}: {kind} fun for ages {ages}, great for {skill}."),
        {"kind": ("colourful", "educational", "sturdy", "award-winning", "creative"),
         "ages": ("3+", "5+", "6+", "8+", "10+"),
         "skill": ("problem solving", "imagination", "fine motor skills", "teamwork", "curiosity about science")},
    ),
    "books": (
        ("{name} is a {format} of {pages} pages that readers call {praise}.",
         "{name}: a {praise} read, {format}, {pages} pages.",
         "Discover {name}, a {format} with {pages} pages, widely described as {praise}."),
        {"format": ("paperback", "hardcover", "illustrated edition", "pocket edition"),
         "pages": ("180", "240", "320", "416", "528"),
         "praise": ("gripping", "heart-warming", "beautifully written", "practical and clear", "hard to put down")},
    ),
}

# ------------------------------------------------------------------------------------------------ chat texts

#: topic -> templates. Placeholders: {order_id} {item} {days} {nth}. Templates needing {order_id} are only used
#: when the customer has an order to talk about. A leading tag limits a template to some items, so nobody asks
#: for the warranty of peanut butter: "@durable " (see DURABLE_CATEGORIES) or "@wear " (see WEAR_CATEGORIES).
DURABLE_CATEGORIES: frozenset[str] = frozenset({"electronics", "home", "toys", "fashion"})
WEAR_CATEGORIES: frozenset[str] = frozenset({"fashion"})
CHAT_EN: dict[str, tuple[str, ...]] = {
    "order_status": (
        "Where is my order {order_id}?",
        "Can you tell me the status of order {order_id}?",
        "I placed order {order_id} {days} days ago and still haven't received a shipping update.",
        "Has order {order_id} shipped yet?",
        "Any news on my order {order_id}? The tracking page shows nothing.",
        "When will order {order_id} arrive? I need the {item} by the weekend.",
        "Could you check order {order_id} for me please? It has said processing for days.",
        "I ordered the {item} last week, order {order_id}. Is it on its way?",
    ),
    "delivery_delay": (
        "My delivery for order {order_id} is late again.",
        "This is the {nth} time my delivery is late, I am furious!",
        "The courier said {order_id} would arrive yesterday, but nothing came.",
        "Order {order_id} was supposed to be delivered {days} days ago. What is going on?",
        "Tracking for {order_id} hasn't moved in {days} days.",
        "Why is my package still not here? Order {order_id}.",
        "The {item} was meant to arrive on Monday and it's now {days} days late.",
    ),
    "refund": (
        "I returned the {item} from order {order_id} but haven't got my refund yet.",
        "I want a refund for the {item}, it arrived damaged.",
        "@durable Please refund order {order_id}, the {item} does not work.",
        "How long does a refund take? I sent back the {item} last week.",
        "My refund for {order_id} shows as processed but the money is not in my account.",
        "I was promised a refund for the {item} {days} days ago. Still nothing.",
    ),
    "return": (
        "@wear How do I return the {item}? It's the wrong size.",
        "Can I return the {item} from order {order_id}? I changed my mind.",
        "The {item} I received is not what was shown on the website, I'd like to send it back.",
        "Is there a free return label for order {order_id}?",
        "What is your return policy for the {item}? The box is still sealed.",
    ),
    "complaint": (
        "This is the {nth} time my delivery is late, I am furious!",
        "@durable Terrible service. The {item} was broken and nobody answers my emails!",
        "I am very disappointed with order {order_id}. Half of it was missing.",
        "Worst experience ever. I've been waiting {days} days and no one cares!!",
        "Your delivery partner left my parcel in the rain and the {item} is ruined.",
        "@durable I'm really upset, the {item} stopped working after two days.",
        "Unacceptable. I paid for express shipping on {order_id} and it took {days} days.",
    ),
    "product_question": (
        "Is the {item} in stock?",
        "@durable Does the {item} come with a warranty?",
        "@durable What are the dimensions of the {item}?",
        "Can I buy the {item} in a bigger size?",
        "Is the {item} suitable for kids?",
        "When will the {item} be back in stock?",
        "Do you have anything similar to the {item} but cheaper?",
        "Does the {item} ship internationally?",
    ),
    "human": (
        "Can I talk to a human please?",
        "I want to speak to a real person, not a bot.",
        "Please transfer me to an agent.",
        "Is there someone I can call about order {order_id}?",
        "Get me a manager, this chat is useless.",
    ),
    "payment": (
        "I was charged twice for order {order_id}.",
        "My card was declined but the money was taken. Order {order_id}.",
        "Why was my payment declined? My card works everywhere else.",
        "The total for order {order_id} is higher than what the checkout page showed.",
    ),
    "account_security": (
        "I did not place order {order_id}! Someone got into my account.",
        "I got an email about a login from a new device. That wasn't me.",
        "There are purchases on my account I didn't make, please block it now!",
        "Somebody changed my password and ordered things with my card.",
        "Order {order_id} is not mine. Please cancel it and secure my account.",
    ),
    "followup": (                      # after an agent replied
        "Thanks, that helps.",
        "OK, I'll wait a couple more days.",
        "Thank you for the quick reply!",
        "That doesn't solve my problem.",
        "Fine, but this is the last time I order from you.",
    ),
    "nudge": (                         # nobody has answered yet
        "Still no answer?",
        "Any update?",
        "Hello? Is anyone there?",
        "I'm still waiting for a reply.",
    ),
}
CHAT_ZH: dict[str, tuple[str, ...]] = {
    "order_status": (
        "我的订单{order_id}到哪里了？",
        "请帮我查一下订单{order_id}的物流状态。",
        "订单{order_id}已经下了{days}天了，怎么还没发货？",
        "请问{order_id}什么时候能到？",
        "我买的{item}发货了吗？订单号{order_id}。",
        "订单{order_id}一直显示处理中，是什么原因？",
    ),
    "delivery_delay": (
        "订单{order_id}说昨天送到，可是到现在还没收到。",
        "物流信息{days}天都没更新了，{order_id}到底怎么回事？",
        "快递又延误了，这已经是第{nth}次了！",
        "送货太慢了，订单{order_id}等了好久。",
        "{item}说好周一到，现在已经晚了{days}天。",
    ),
    "refund": (
        "太差了，我要退款！",
        "{item}收到的时候就坏了，请给我退款。",
        "订单{order_id}的退款什么时候到账？",
        "我已经把{item}寄回去了，为什么还没退款？",
        "申请退款好几天了，一直没有处理。",
    ),
    "return": (
        "@wear {item}尺码不对，怎么退货？",
        "订单{order_id}可以退货吗？",
        "收到的{item}和图片不一样，我想退回。",
        "退货需要自己付运费吗？订单号{order_id}。",
    ),
    "complaint": (
        "太差了，我要退款！",
        "你们的服务太差了，{item}是坏的，打电话也没人接！",
        "第{nth}次送错货了，我非常生气！",
        "等了{days}天还没到，太让人失望了！",
        "@durable {item}用了两天就坏了，质量太差了。",
        "订单{order_id}少发了东西，请尽快处理！",
    ),
    "product_question": (
        "{item}有货吗？",
        "@durable {item}有保修吗？",
        "@durable 请问{item}的尺寸是多少？",
        "{item}适合小孩用吗？",
        "{item}什么时候补货？",
        "有没有和{item}差不多但便宜一点的？",
    ),
    "human": (
        "我要人工客服。",
        "请转人工，谢谢。",
        "能不能让真人来回答我？",
        "订单{order_id}的问题，我想打电话咨询。",
    ),
    "payment": (
        "订单{order_id}被扣了两次钱。",
        "付款失败了，但是钱已经扣了。",
        "为什么我的卡付款被拒绝？",
    ),
    "account_security": (
        "订单{order_id}不是我下的！我的账号被盗了。",
        "有人在新设备上登录了我的账号，不是我本人。",
        "我的账户里有我没买过的东西，请马上冻结！",
        "我的密码被人改了，还用我的卡买了东西。",
    ),
    "followup": (
        "谢谢，明白了。",
        "好的，我再等两天。",
        "这样并没有解决我的问题。",
        "谢谢你的快速回复！",
    ),
    "nudge": (
        "还没有回复吗？",
        "有进展了吗？",
        "在吗？有人吗？",
        "我还在等你们的答复。",
    ),
}
#: Agent replies, by language; placeholders {order_id} {item} {agent}.
AGENT_EN: tuple[str, ...] = (
    "Sorry for the trouble! I've checked order {order_id} and it is on its way.",
    "Thanks for reaching out. I've passed order {order_id} to our delivery team.",
    "I'm sorry to hear that. I've started a refund for the {item}; it takes 3-5 business days.",
    "Hello, I'm {agent} and I'll help you with this.",
    "I understand your frustration. Let me look into order {order_id} right away.",
    "I've escalated this to a supervisor, who will contact you within 24 hours.",
)
AGENT_ZH: tuple[str, ...] = (
    "非常抱歉给您带来不便，订单{order_id}正在配送中。",
    "您好，我是客服{agent}，马上为您处理。",
    "已为您申请{item}的退款，3-5个工作日到账。",
    "理解您的心情，我们会尽快核实订单{order_id}。",
    "已经为您升级处理，主管会在24小时内联系您。",
)
AGENT_NAMES_EN: tuple[str, ...] = ("Emma", "Liam", "Olivia", "Noah", "Ava")
AGENT_NAMES_ZH: tuple[str, ...] = ("小李", "小王", "小陈", "小张")
#: Customer-message openers and contact-detail tails (the tails are why the service masks PII).
PREFIX_EN: tuple[str, ...] = ("", "", "", "Hi, ", "Hello, ", "Hey, ", "Good morning, ")
PREFIX_ZH: tuple[str, ...] = ("", "", "你好，", "您好，", "客服，")
CONTACT_EN: tuple[str, ...] = (
    " You can reach me at {phone}.",
    " My email is {email}.",
    " Please call me back on {phone}.",
    " Contact me at {email} if you need anything.",
)
CONTACT_ZH: tuple[str, ...] = (
    "我的电话是{phone}。",
    "请联系我的邮箱{email}。",
    "有问题请打{phone}。",
)
NTH_EN: tuple[str, ...] = ("second", "third", "fourth", "fifth")
NTH_ZH: tuple[str, ...] = ("二", "三", "四", "五")

#: noun -> where its price sits inside its category's (log) price range, 0 = cheapest, 1 = dearest. Only the wide
#: categories need it: without it a smartphone could cost less than its case.
PRICE_LEVELS: dict[str, float] = {
    # electronics
    "Bluetooth Headphones": 0.55, "Laptop 14-inch": 0.95, "Tablet 10-inch": 0.8, "Smartwatch": 0.7,
    "USB-C Charger": 0.12, "Power Bank": 0.25, "Bluetooth Speaker": 0.45, "Gaming Mouse": 0.3,
    "Mechanical Keyboard": 0.45, "4K Monitor": 0.8, "Webcam": 0.35, "Action Camera": 0.7, "E-Reader": 0.6,
    "Wi-Fi Router": 0.5, "Earbuds": 0.45, "Smartphone": 0.9, "Phone Case": 0.08, "Inkjet Printer": 0.6,
    "Ink Cartridge Set": 0.3,
    # home
    "Table Lamp": 0.4, "Throw Blanket": 0.35, "Frying Pan": 0.35, "Storage Baskets": 0.25, "Wall Clock": 0.3,
    "Scented Candle": 0.1, "Dinner Plate Set": 0.45, "Bath Towel Set": 0.35, "Desk Chair": 0.85,
    "Bookshelf": 0.8, "Kettle": 0.4, "Coffee Maker": 0.65, "Plant Pot": 0.15, "Cutting Board": 0.2,
    "Chef's Knife": 0.45, "Duvet Cover": 0.5, "Pillowcase Set": 0.3,
    # fashion
    "Denim Jeans": 0.5, "Hoodie": 0.45, "Rain Jacket": 0.65, "Leather Belt": 0.35, "Sneakers": 0.6,
    "Summer Dress": 0.5, "Polo Shirt": 0.35, "Backpack": 0.5, "Sunglasses": 0.4, "Winter Coat": 0.9,
    "Scarf": 0.25, "Ankle Boots": 0.7, "T-Shirt": 0.15, "Running Shoes": 0.65, "Sports Socks": 0.05,
    # toys
    "Dollhouse": 0.8, "Train Set": 0.75, "Toy Kitchen": 0.85, "Card Game": 0.1, "Kite": 0.2,
    "Remote Control Car": 0.6,
}
