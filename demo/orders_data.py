"""Selling in the demo: shipping methods and rates for every channel, discounts and codes, and a
plan of about a hundred orders over the last six weeks, placed through the real checkout.

Plain data and a seeded `random.Random`, like `customers_data`: the same seed gives the same
plan; only the dates move with `now`. The seeding itself, through the orders services (carts,
checkout, payments, order actions), is `demo.services.seed_orders`.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from decimal import Decimal

from demo import customers_data

# --- Shipping --------------------------------------------------------------------------------

# Prefectures farther from the Chiba and Osaka warehouses cost more. Addresses name them in
# Japanese (the demo customers) or in romaji (forms in English): both spellings are rated.
HOKKAIDO = ("北海道", "Hokkaido")
OKINAWA = ("沖縄県", "Okinawa")


# Days in transit where a rate says more than its method: the islands take longer.
TRANSIT_DAYS = {"yamato": {HOKKAIDO: 3, OKINAWA: 4}, "express": {HOKKAIDO: 2, OKINAWA: 3}}


def _by_region(
    whole_country: list[tuple[int, int]],
    regions: dict[tuple[str, ...], list[tuple[int, int]]],
    transit: dict[tuple[str, ...], int] | None = None,
) -> list[tuple[str, str, Decimal, Decimal, int | None]]:
    """Rate rows (country, region, from threshold, price, days in transit or None for the
    method's own)."""
    rates = [("JP", "", Decimal(start), Decimal(price), None) for start, price in whole_country]
    for spellings, steps in regions.items():
        days = (transit or {}).get(spellings)
        for region in spellings:
            rates += [
                ("JP", region, Decimal(start), Decimal(price), days) for start, price in steps
            ]
    return rates


# Weight steps (from grams, JPY including tax).
YAMATO_RATES = _by_region(
    [(0, 800), (2000, 1100), (5000, 1500), (10000, 2000)],
    {
        HOKKAIDO: [(0, 1200), (2000, 1500), (5000, 1900), (10000, 2500)],
        OKINAWA: [(0, 1500), (2000, 1900), (5000, 2400), (10000, 3000)],
    },
    TRANSIT_DAYS["yamato"],
)
EXPRESS_RATES = _by_region(
    [(0, 1300), (5000, 1800)],
    {HOKKAIDO: [(0, 2000), (5000, 2600)], OKINAWA: [(0, 2400), (5000, 3000)]},
    TRANSIT_DAYS["express"],
)
YU_PACK_RATES = _by_region(
    [(0, 750), (2000, 1000), (5000, 1400)],
    {HOKKAIDO: [(0, 1100), (2000, 1400), (5000, 1800)], OKINAWA: [(0, 1400), (5000, 2200)]},
    {HOKKAIDO: 4, OKINAWA: 5},
)
# Order value steps (from USD, before tax). New York is next door to the New Jersey 3PL;
# Alaska and Hawaii are far.
GROUND_RATES = [
    ("US", "", Decimal(0), Decimal("6.95"), None),
    ("US", "", Decimal(35), Decimal("8.95"), None),
    ("US", "NY", Decimal(0), Decimal("4.95"), 2),
    ("US", "NY", Decimal(35), Decimal("5.95"), 2),
    ("US", "AK", Decimal(0), Decimal("19.95"), 8),
    ("US", "HI", Decimal(0), Decimal("19.95"), 8),
]
US_EXPRESS_RATES = [
    ("US", "", Decimal(0), Decimal("19.95"), None),
    ("US", "", Decimal(100), Decimal("24.95"), None),
    ("US", "NY", Decimal(0), Decimal("12.95"), 1),
]
FREE_SHIPPING_JPY = Decimal(5500)
FREE_SHIPPING_USD = Decimal(75)

# code, name, tracking page ({number}: the tracking number)
CARRIERS = [
    (
        "yamato",
        "Yamato Transport",
        "https://toi.kuronekoyamato.co.jp/cgi-bin/tneko?number00=1&number01={number}",
    ),
    (
        "sagawa",
        "Sagawa Express",
        "https://k2k.sagawa-exp.co.jp/p/web/okurijosearch.do?okurijoNo={number}",
    ),
    (
        "japan-post",
        "Japan Post",
        "https://trackings.post.japanpost.jp/services/srv/search/direct?reqCodeNo1={number}"
        "&locale=en",
    ),
    ("ups", "UPS", "https://www.ups.com/track?tracknum={number}"),
]

JP_SHIPPING = ["web-jp", "app-jp", "phone-jp", "marketplace-jp"]
# channels, code, name, priced by, free from a subtotal of, days in transit, rates, carrier
SHIPPING_METHODS = [
    (
        JP_SHIPPING,
        "yamato",
        "Yamato TA-Q-BIN (宅急便)",
        "weight",
        FREE_SHIPPING_JPY,
        2,
        YAMATO_RATES,
        "yamato",
    ),
    (
        ["web-jp", "app-jp", "phone-jp"],
        "express",
        "Express next day",
        "weight",
        None,
        1,
        EXPRESS_RATES,
        "sagawa",
    ),
    (
        ["web-jp", "marketplace-jp"],
        "yu-pack",
        "Japan Post Yu-Pack (ゆうパック)",
        "weight",
        None,
        3,
        YU_PACK_RATES,
        "japan-post",
    ),
    # The flagship sends what the shelf lacks home from the warehouse (the endless aisle).
    (
        ["pos-shibuya"],
        "home-delivery",
        "Home delivery (Yamato)",
        "weight",
        None,
        2,
        YAMATO_RATES,
        "yamato",
    ),
    (
        ["web-us"],
        "ground",
        "Ground (3-5 business days)",
        "value",
        FREE_SHIPPING_USD,
        4,
        GROUND_RATES,
        "ups",
    ),
    (
        ["web-us"],
        "express",
        "Express (2 business days)",
        "value",
        None,
        2,
        US_EXPRESS_RATES,
        "ups",
    ),
]

# --- Discounts -------------------------------------------------------------------------------

WELCOME_CODE = "WELCOME10"
SPRING_CODE = "SPRING1000"
US_CODE = "SAVE10"
WINBACK_NAME = "We miss you: 500 JPY off (single-use codes)"
WINBACK_BATCH = "demo-winback"
WINBACK_PREFIX = "BACK"
WINBACK_CODES = 50


@dataclass(frozen=True)
class DemoDiscount:
    name: str
    kind: str
    value: Decimal
    target: str = "order"
    code: str = ""
    automatic: bool = False
    currency: str = ""
    min_subtotal: Decimal | None = None
    channels: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    buy_quantity: int = 0
    get_quantity: int = 0
    per_customer_limit: int | None = None
    days_left: int | None = None  # valid until `now` + days; None: open-ended


DISCOUNTS = [
    DemoDiscount(
        "App exclusive: free shipping from 3,980 JPY",
        "percentage",
        Decimal(100),
        target="shipping",
        automatic=True,
        currency="JPY",
        min_subtotal=Decimal(3980),
        channels=("app-jp",),
    ),
    DemoDiscount(
        "Welcome: 10 % off the first order",
        "percentage",
        Decimal(10),
        code=WELCOME_CODE,
        per_customer_limit=1,
        channels=("web-jp", "app-jp", "web-us"),
    ),
    DemoDiscount(
        "Spring: 1,000 JPY off from 8,000 JPY",
        "fixed",
        Decimal(1000),
        code=SPRING_CODE,
        currency="JPY",
        min_subtotal=Decimal(8000),
        channels=("web-jp", "app-jp", "phone-jp"),
        days_left=45,
    ),
    DemoDiscount(
        "10 USD off from 80 USD",
        "fixed",
        Decimal(10),
        code=US_CODE,
        currency="USD",
        min_subtotal=Decimal(80),
        channels=("web-us",),
    ),
    DemoDiscount(
        "Shincha season: 15 % off tea",
        "percentage",
        Decimal(15),
        target="products",
        automatic=True,
        categories=("tea",),
        channels=("web-jp", "app-jp", "phone-jp"),
        days_left=30,
    ),
    DemoDiscount(
        "T-shirts: buy 2, get the third free",
        "bxgy",
        Decimal(100),
        target="products",
        automatic=True,
        categories=("t-shirts",),
        buy_quantity=2,
        get_quantity=1,
        channels=("web-jp", "app-jp", "pos-shibuya", "web-us"),
    ),
    DemoDiscount(
        WINBACK_NAME,
        "fixed",
        Decimal(500),
        currency="JPY",
        min_subtotal=Decimal(3000),
        channels=("web-jp", "app-jp"),
    ),
]

# --- Orders ----------------------------------------------------------------------------------

HISTORY_DAYS = 42
CARD_OK, CARD_DECLINED = "tok_visa", "tok_declined"
PICKUP_STORES = {
    "web-jp": ["store-shibuya", "store-umeda"],
    "app-jp": ["store-shibuya", "store-umeda"],
}
TILL = {"pos-shibuya": "store-shibuya"}  # the store whose till a POS channel is

# How many orders each channel gets out of every 100. Sales at the Shibuya till (pos-shibuya)
# are scripted below (`pos_sale`: in cash or by card, one sent home from a warehouse); the
# stores' earlier sales are the customers' purchase history. Pickup orders from the web shop and
# the app use the stores.
CHANNEL_MIX = [
    ("web-jp", 43),
    ("app-jp", 18),
    ("web-us", 18),
    ("phone-jp", 12),
    ("marketplace-jp", 9),
]
# channel: (payment method, delivery: a shipping method code or "pickup", weight)
PAYMENT_MIX = {
    "web-jp": [
        ("card", "yamato", 60),
        ("card", "express", 8),
        ("cod", "yamato", 10),
        ("bank_transfer", "yamato", 8),
        ("pay_at_store", "pickup", 9),
        ("card", "pickup", 5),
    ],
    "app-jp": [
        ("card", "yamato", 70),
        ("card", "express", 10),
        ("pay_at_store", "pickup", 10),
        ("cod", "yamato", 10),
    ],
    "web-us": [("card", "ground", 80), ("card", "express", 20)],
    "phone-jp": [
        ("cod", "yamato", 45),
        ("bank_transfer", "yamato", 30),
        ("card", "yamato", 15),
        ("cod", "express", 10),
    ],
    "marketplace-jp": [("card", "yamato", 60), ("card", "yu-pack", 40)],
}
# What happens to a card order after it is placed: (outcome, weight).
CARD_OUTCOMES = [
    ("paid", 66),
    ("authorized", 10),  # authorized only; captured by staff after a couple of days
    ("partially_refunded", 6),
    ("refunded", 4),
    ("cancelled", 5),
    ("on_hold", 5),
    ("flagged", 4),
]

HOLD_REASONS = [
    "Customer asked us to hold delivery until they are back from a trip",
    "Address check: the room number is missing",
    "Gift order: waiting for the gift message",
]
FLAG_REASONS = [
    "Large first order: call the customer to confirm",
    "Billing and delivery addresses far apart: check before shipping",
    "Customer asked by e-mail to add gift wrapping",
]
CANCEL_REASONS = {
    "card": "Customer changed their mind before shipping",
    "authorized": "Suspected fraud: card holder did not confirm",
    "bank_transfer": "Bank transfer not received within 7 days",
    "cod": "Customer cancelled by phone",
}
PARTIAL_REFUND_REASONS = [
    "One item arrived damaged; customer keeps the rest",
    "Price adjustment: the item went on sale the next day",
    "Late delivery: goodwill refund on shipping and part of the goods",
]
FULL_REFUND_REASON = "Goodwill: refunded in full after a complaint, goods kept"
SETTLE_NOTES = {
    "cod": "Collected by Yamato on delivery",
    "bank_transfer": "Transfer received (Mizuho, account 1234567)",
    "pay_at_store": "Paid at the till when collected",
}


@dataclass
class PlannedOrder:
    """One order the seeding tries to place; the buyer and the goods are picked from the
    database when it runs. `outcome` is what staff do with the payment afterwards, `flow` what
    the warehouse or the store does with the goods."""

    key: int
    channel: str
    days_ago: float
    payment: str  # card, cod, bank_transfer, pay_at_store, cash (at the till)
    delivery: str  # a shipping method code, "pickup", or "counter" (taken home from the till)
    outcome: str  # paid, authorized, settled, awaiting, partially_refunded, refunded, ...
    buyer: str = "guest"  # hanako, member (signed in), known (a customer, as a guest), guest
    # any, tshirts (three, for buy 2 get 1), tea, big (for SPRING1000); split (two goods that
    # are in different warehouses), from-store (one only the Umeda shelf has); at the till:
    # store (from its shelf), aisle (what the shelf lacks, sent home)
    basket: str = "any"
    code: str = ""  # a discount code typed at checkout; "winback" for one of the batch
    store: str = ""  # the pickup store's code
    # "" as the order's age and payment allow (prepared, shipped on time, tracked, delivered;
    # pickups made ready and collected); pending (nobody touched it yet), picking or packed
    # (being prepared now), late (left past its promised dispatch), split (two parcels: one
    # delivered, one out for delivery today), uncollected (ready at the store for longer than
    # the collection period)
    flow: str = ""
    rng_seed: int = 0  # for the picks made when it runs


@dataclass
class PlannedCart:
    """A cart left behind: `declined` carts had a card refused at checkout."""

    key: int
    channel: str
    days_ago: float
    declined: bool = False
    buyer: str = "guest"
    rng_seed: int = 0


# Every state the demo should show, whatever the size (the seed test uses few orders):
# channel, days ago, payment, delivery, outcome, buyer, basket, code[, flow[, store]]
SCRIPT = [
    ("web-jp", 9.2, "card", "yamato", "paid", "hanako", "any", ""),
    ("app-jp", 0.4, "pay_at_store", "pickup", "awaiting", "hanako", "any", ""),
    ("web-jp", 0.2, "card", "express", "authorized", "hanako", "tea", ""),
    ("web-jp", 6.5, "card", "yamato", "paid", "guest", "any", WELCOME_CODE),
    ("web-us", 5.1, "card", "ground", "paid", "guest", "any", ""),
    ("web-us", 12.3, "card", "express", "partially_refunded", "known", "any", ""),
    ("web-jp", 15.7, "card", "yamato", "refunded", "known", "any", ""),
    ("web-jp", 3.3, "card", "yamato", "cancelled", "member", "any", ""),
    ("web-jp", 4.6, "card", "express", "cancelled_authorized", "guest", "any", ""),
    ("phone-jp", 0.6, "bank_transfer", "yamato", "awaiting", "known", "any", ""),
    ("phone-jp", 8.4, "bank_transfer", "yamato", "settled", "known", "any", ""),
    ("web-jp", 13.9, "bank_transfer", "yamato", "cancelled", "guest", "any", ""),
    ("phone-jp", 1.1, "cod", "yamato", "awaiting", "known", "any", ""),
    ("web-jp", 10.8, "cod", "yamato", "settled", "guest", "any", ""),
    ("app-jp", 2.2, "card", "yamato", "on_hold", "member", "any", ""),
    ("marketplace-jp", 1.7, "card", "yamato", "flagged", "guest", "any", ""),
    ("web-jp", 7.4, "card", "yamato", "paid", "member", "tshirts", ""),
    ("app-jp", 4.1, "card", "yamato", "paid", "guest", "tea", ""),
    ("web-jp", 3.8, "card", "pickup", "paid", "guest", "any", ""),
    ("web-jp", 2.9, "pay_at_store", "pickup", "settled", "known", "any", ""),
    ("web-jp", 11.5, "card", "yamato", "paid", "known", "big", SPRING_CODE),
    ("web-jp", 5.9, "card", "yamato", "paid", "known", "any", "winback"),
    ("web-jp", 6.8, "card", "yamato", "authorized", "guest", "any", ""),  # captured later
    ("web-us", 0.3, "card", "ground", "authorized", "member", "any", ""),
    # Fulfilment: two parcels (one delivered, one out for delivery), two parcels still to send
    # (for the README's journey), a pickup nobody collected, a late one, one sent from a store.
    ("web-jp", 3.6, "card", "yamato", "paid", "known", "split", "", "split"),
    ("web-jp", 0.04, "card", "yamato", "paid", "guest", "split", "", "pending"),  # the newest
    ("web-jp", 9.6, "card", "pickup", "paid", "known", "any", "", "uncollected", "store-umeda"),
    ("web-jp", 2.7, "card", "yamato", "paid", "member", "any", "", "late"),
    ("web-jp", 3.1, "card", "yamato", "paid", "guest", "from-store", ""),
    ("pos-shibuya", 5.2, "card", "counter", "paid", "known", "store", ""),
    # Cash at the till comes after the first 30 (what `--orders 30` places).
    ("pos-shibuya", 1.3, "cash", "counter", "settled", "guest", "store", ""),
    ("pos-shibuya", 2.1, "cash", "home-delivery", "settled", "known", "aisle", ""),
    # Being picked and packed in the warehouse right now.
    ("app-jp", 0.5, "card", "yamato", "paid", "member", "any", "", "picking"),
    ("web-jp", 0.7, "cod", "yamato", "awaiting", "known", "any", "", "packed"),
]
DECLINED_CARTS = 3
ABANDONED_CARTS = 6


def _pick(rng: random.Random, weighted: list[tuple]) -> tuple:
    return rng.choices(weighted, [row[-1] for row in weighted])[0]


def _days_ago(rng: random.Random) -> float:
    """More orders lately: the shop is growing (and the latest weeks are the busiest)."""
    return round(HISTORY_DAYS * rng.random() ** 1.4 + 0.05, 2)


def plan(count: int, *, seed: int = 23) -> tuple[list[PlannedOrder], list[PlannedCart]]:
    """`count` orders (the script first, then a mix drawn from the weights), and the carts that
    were left: refused cards and abandoned ones."""
    rng = random.Random(seed)
    orders: list[PlannedOrder] = []
    for channel, days, payment, delivery, outcome, buyer, basket, code, *more in SCRIPT[:count]:
        flow, store = (*more, "", "")[:2]
        orders.append(
            PlannedOrder(
                key=len(orders),
                channel=channel,
                days_ago=days,
                payment=payment,
                delivery=delivery,
                outcome=outcome,
                buyer=buyer,
                basket=basket,
                code=code,
                flow=flow,
                store=store,
            )
        )
    channels, weights = zip(*CHANNEL_MIX, strict=True)
    while len(orders) < count:
        channel = rng.choices(channels, weights)[0]
        payment, delivery, _weight = _pick(rng, PAYMENT_MIX[channel])
        days = _days_ago(rng)
        if payment == "card":
            outcome = _pick(rng, CARD_OUTCOMES)[0]
            if outcome == "authorized" and channel == "marketplace-jp":
                outcome = "paid"  # the marketplace hands over orders already paid
        elif payment == "bank_transfer":
            if days < 1:
                outcome = "awaiting"
            else:  # most transfers arrive; after a week without one, the order is cancelled
                outcome = "cancelled" if days > 8 and rng.random() < 0.25 else "settled"
        elif payment == "cod":
            outcome = "awaiting" if days < 4 else "settled"
        else:  # pay at the store, when the buyer comes in
            outcome = "settled" if days >= 2 else "awaiting"
        if channel == "phone-jp":
            buyer = "known"  # the call centre serves the brand's customers
        else:
            buyer = rng.choices(["member", "known", "guest"], [20, 35, 45])[0]
        basket = rng.choices(["any", "tshirts", "tea", "big"], [70, 8, 14, 8])[0]
        if channel == "web-us" and basket == "tea":
            basket = "any"
        code = ""
        if buyer == "guest" and channel != "marketplace-jp" and rng.random() < 0.25:
            code = WELCOME_CODE
        elif basket == "big" and channel in ("web-jp", "app-jp", "phone-jp"):
            code = SPRING_CODE if rng.random() < 0.6 else ""
        elif channel == "web-us" and rng.random() < 0.15:
            code = US_CODE
        elif channel in ("web-jp", "app-jp") and rng.random() < 0.05:
            code = "winback"
        orders.append(
            PlannedOrder(
                key=len(orders),
                channel=channel,
                days_ago=days,
                payment=payment,
                delivery=delivery,
                outcome=outcome,
                buyer=buyer,
                basket=basket,
                code=code,
            )
        )
    for order in orders:
        if order.delivery == "pickup" and not order.store:
            order.store = rng.choice(PICKUP_STORES[order.channel])
        order.rng_seed = rng.randrange(2**31)
    carts = [
        PlannedCart(
            key=number,
            channel=rng.choice(["web-jp", "web-jp", "app-jp", "web-us"]),
            days_ago=round(rng.uniform(0.1, 6), 2),
            declined=number < DECLINED_CARTS,
            buyer=rng.choice(["member", "known", "guest"]),
            rng_seed=rng.randrange(2**31),
        )
        for number in range(DECLINED_CARTS + ABANDONED_CARTS)
    ]
    return orders, carts


# --- Carriers' reports ---------------------------------------------------------------------

# What `demo.services` has carriers report: step -> (description, tracking status).
TRACKING_REPORTS = {
    "info": ("Shipment information received from the shipper", "info"),
    "in_transit": ("Left the shipper's sorting base", "in_transit"),
    "arrived": ("Arrived at the delivery centre", "in_transit"),
    "out_for_delivery": ("Out for delivery", "out_for_delivery"),
    "exception": ("Nobody at home: a notice was left, delivery tomorrow", "exception"),
    "delivered": ("Delivered", "delivered"),
}


def tracking_number(rng: random.Random, carrier: str) -> str:
    """A number shaped like the carrier's: 12 digits in Japan, 1Z... for UPS."""
    if carrier == "ups":
        return f"1Z4E8A97{rng.randrange(10**10):010d}"
    prefix = {"yamato": "4", "sagawa": "3", "japan-post": "1"}.get(carrier, "9")
    return f"{prefix}{rng.randrange(10**11):011d}"


# --- Guests ----------------------------------------------------------------------------------


def guest(rng: random.Random, country: str, number: int) -> dict:
    """A first-time buyer: e-mail, phone and the address they type at checkout."""
    if country == "US":
        state, city, zip_code, area, streets = rng.choice(customers_data.US_PLACES)
        first, last = (
            rng.choice(customers_data.US_FIRST_NAMES),
            rng.choice(customers_data.US_LAST_NAMES),
        )
        phone = f"+1 {area}-555-{rng.randint(100, 199):04d}"
        return {
            "email": f"{first.lower()}.{last.lower()}.{number}@example.com",
            "phone": phone,
            "address": {
                "first_name": first,
                "last_name": last,
                "line1": f"{rng.randint(10, 2999)} {rng.choice(streets)}",
                "line2": f"Apt {rng.randint(1, 6)}{rng.choice('ABCD')}"
                if rng.random() < 0.4
                else "",
                "city": city,
                "region": state,
                "postal_code": zip_code,
                "country": "US",
                "phone": phone,
            },
        }
    last = rng.choice(customers_data.JP_LAST_NAMES)
    first = rng.choice(customers_data.JP_FIRST_NAMES_F + customers_data.JP_FIRST_NAMES_M)
    prefecture, city, town, postal = rng.choice(customers_data.JP_PLACES)
    phone = (
        f"{rng.choice(['090', '080', '070'])}-{rng.randint(1000, 9999)}-{rng.randint(1000, 9999)}"
    )
    return {
        "email": f"{first[2]}.{last[2]}.{number}@example.jp",
        "phone": phone,
        "address": {
            "first_name": first[0],
            "last_name": last[0],
            "first_name_reading": first[1],
            "last_name_reading": last[1],
            "line1": f"{town}{rng.randint(1, 5)}丁目{rng.randint(1, 30)}-{rng.randint(1, 20)}",
            "line2": "",
            "city": city,
            "region": prefecture,
            "postal_code": postal,
            "country": "JP",
            "phone": phone,
        },
    }
