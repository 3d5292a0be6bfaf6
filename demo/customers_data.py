"""Demo customers: Japanese and American shoppers with three years of purchases across the web
shops, the app, the Shibuya store, the call centre and the marketplace.

Everything here is plain data made with a seeded `random.Random`, so the same seed gives the
same people, the same orders and the same totals; only the dates move with `now`. The seeding
itself (through the customers services) is `demo.services.seed_customers`.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

DEMO_PASSWORD = "demo-password-2026"
KNOWN_LOGIN_EMAIL = "hanako@example.jp"
CONSENT_TEXT_VERSION = "2025-04"
HISTORY_DAYS = 3 * 365

PROGRAMME_NAME = "Demo Points"
POINTS_EXPIRE_AFTER_DAYS = 365
# currency, for every (spend), points
EARN_RATES = [("JPY", Decimal(100), 1), ("USD", Decimal(1), 1)]
# name, lifetime points needed, earning multiplier, benefits
TIERS = [
    ("Bronze", 0, Decimal("1.00"), "1 point per 100 JPY (1 per 1 USD). Birthday coupon."),
    (
        "Silver",
        500,
        Decimal("1.25"),
        "Points x1.25, free shipping on every web order, early access to seasonal sales.",
    ),
    (
        "Gold",
        2000,
        Decimal("1.50"),
        "Points x1.5, free shipping and gift wrapping, private sale invitations, "
        "priority line at the call centre.",
    ),
]

# slug, name, description, rule
SEGMENTS = [
    (
        "high-spenders-jpy-email",
        "High spenders JPY, e-mail opted in",
        "Spent more than 50,000 JPY (net of refunds) in the last 180 days and accept e-mail.",
        [
            {"field": "spent", "currency": "JPY", "days": 180, "op": "gt", "value": 50000},
            {"field": "consent", "medium": "email"},
        ],
    ),
    (
        "at-risk-regulars",
        "At risk regulars",
        "Bought often and well, but not lately: worth a personal win-back offer.",
        [{"field": "rfm_segment", "in": ["at_risk", "cannot_lose"]}],
    ),
    (
        "lapsing",
        "Lapsing",
        "Silent for longer than their own buying rhythm.",
        [{"field": "churn_risk", "value": True}],
    ),
]

# --- Names -----------------------------------------------------------------------------------

# kanji, katakana reading, romaji (for e-mail addresses)
JP_LAST_NAMES = [
    ("佐藤", "サトウ", "sato"),
    ("鈴木", "スズキ", "suzuki"),
    ("高橋", "タカハシ", "takahashi"),
    ("田中", "タナカ", "tanaka"),
    ("伊藤", "イトウ", "ito"),
    ("渡辺", "ワタナベ", "watanabe"),
    ("山本", "ヤマモト", "yamamoto"),
    ("中村", "ナカムラ", "nakamura"),
    ("小林", "コバヤシ", "kobayashi"),
    ("加藤", "カトウ", "kato"),
    ("吉田", "ヨシダ", "yoshida"),
    ("山田", "ヤマダ", "yamada"),
    ("佐々木", "ササキ", "sasaki"),
    ("山口", "ヤマグチ", "yamaguchi"),
    ("松本", "マツモト", "matsumoto"),
    ("井上", "イノウエ", "inoue"),
    ("木村", "キムラ", "kimura"),
    ("林", "ハヤシ", "hayashi"),
    ("斎藤", "サイトウ", "saito"),
    ("清水", "シミズ", "shimizu"),
    ("山崎", "ヤマザキ", "yamazaki"),
    ("森", "モリ", "mori"),
    ("池田", "イケダ", "ikeda"),
    ("橋本", "ハシモト", "hashimoto"),
    ("阿部", "アベ", "abe"),
    ("石川", "イシカワ", "ishikawa"),
    ("山下", "ヤマシタ", "yamashita"),
    ("中島", "ナカジマ", "nakajima"),
    ("石井", "イシイ", "ishii"),
    ("小川", "オガワ", "ogawa"),
    ("前田", "マエダ", "maeda"),
    ("岡田", "オカダ", "okada"),
    ("長谷川", "ハセガワ", "hasegawa"),
    ("藤田", "フジタ", "fujita"),
    ("後藤", "ゴトウ", "goto"),
    ("近藤", "コンドウ", "kondo"),
    ("村上", "ムラカミ", "murakami"),
    ("遠藤", "エンドウ", "endo"),
    ("青木", "アオキ", "aoki"),
    ("坂本", "サカモト", "sakamoto"),
]
JP_FIRST_NAMES_F = [
    ("陽菜", "ヒナ", "hina"),
    ("結衣", "ユイ", "yui"),
    ("美咲", "ミサキ", "misaki"),
    ("さくら", "サクラ", "sakura"),
    ("葵", "アオイ", "aoi"),
    ("凛", "リン", "rin"),
    ("真由美", "マユミ", "mayumi"),
    ("由美子", "ユミコ", "yumiko"),
    ("恵子", "ケイコ", "keiko"),
    ("明美", "アケミ", "akemi"),
    ("優子", "ユウコ", "yuko"),
    ("彩", "アヤ", "aya"),
    ("奈々", "ナナ", "nana"),
    ("麻衣", "マイ", "mai"),
    ("千尋", "チヒロ", "chihiro"),
    ("香織", "カオリ", "kaori"),
    ("智子", "トモコ", "tomoko"),
    ("愛", "アイ", "ai"),
    ("芽衣", "メイ", "mei"),
    ("莉子", "リコ", "riko"),
]
JP_FIRST_NAMES_M = [
    ("太郎", "タロウ", "taro"),
    ("翔太", "ショウタ", "shota"),
    ("大輔", "ダイスケ", "daisuke"),
    ("健太", "ケンタ", "kenta"),
    ("拓也", "タクヤ", "takuya"),
    ("直樹", "ナオキ", "naoki"),
    ("翼", "ツバサ", "tsubasa"),
    ("蓮", "レン", "ren"),
    ("悠真", "ユウマ", "yuma"),
    ("湊", "ミナト", "minato"),
    ("浩", "ヒロシ", "hiroshi"),
    ("誠", "マコト", "makoto"),
    ("隆", "タカシ", "takashi"),
    ("健一", "ケンイチ", "kenichi"),
    ("和也", "カズヤ", "kazuya"),
    ("亮", "リョウ", "ryo"),
    ("大樹", "ダイキ", "daiki"),
    ("陸", "リク", "riku"),
    ("颯太", "ソウタ", "sota"),
    ("修", "オサム", "osamu"),
]
US_FIRST_NAMES = [
    "Emily",
    "Olivia",
    "Sophia",
    "Madison",
    "Grace",
    "Chloe",
    "Hannah",
    "Abigail",
    "Megan",
    "Rachel",
    "James",
    "Michael",
    "Daniel",
    "Ethan",
    "Ryan",
    "Matthew",
    "Andrew",
    "Joshua",
    "Tyler",
    "Nathan",
]
US_LAST_NAMES = [
    "Smith",
    "Johnson",
    "Williams",
    "Brown",
    "Jones",
    "Miller",
    "Davis",
    "Garcia",
    "Wilson",
    "Anderson",
    "Taylor",
    "Thomas",
    "Moore",
    "Martin",
    "Lee",
    "Walker",
    "Hall",
    "Young",
    "King",
    "Wright",
    "Nguyen",
    "Clark",
]

# --- Addresses -------------------------------------------------------------------------------

# prefecture, city / ward, town, postal code
JP_PLACES = [
    ("東京都", "渋谷区", "神南", "150-0041"),
    ("東京都", "世田谷区", "三軒茶屋", "154-0024"),
    ("東京都", "港区", "南青山", "107-0062"),
    ("東京都", "杉並区", "高円寺南", "166-0003"),
    ("東京都", "目黒区", "自由が丘", "152-0035"),
    ("神奈川県", "横浜市中区", "元町", "231-0861"),
    ("神奈川県", "鎌倉市", "由比ガ浜", "248-0014"),
    ("埼玉県", "さいたま市浦和区", "高砂", "330-0063"),
    ("千葉県", "船橋市", "本町", "273-0005"),
    ("大阪府", "大阪市北区", "梅田", "530-0001"),
    ("大阪府", "大阪市中央区", "心斎橋筋", "542-0085"),
    ("京都府", "京都市下京区", "東塩小路町", "600-8216"),
    ("愛知県", "名古屋市中区", "栄", "460-0008"),
    ("兵庫県", "神戸市中央区", "三宮町", "650-0021"),
    ("福岡県", "福岡市中央区", "天神", "810-0001"),
    ("北海道", "札幌市中央区", "大通西", "060-0042"),
    ("宮城県", "仙台市青葉区", "中央", "980-0021"),
    ("広島県", "広島市中区", "基町", "730-0011"),
    ("沖縄県", "那覇市", "久茂地", "900-0015"),
]
JP_BUILDINGS = ["パークハイツ", "グランメゾン", "コーポ桜", "サンライズ", "メゾン・ド・ソレイユ"]
JP_OFFICES = ["株式会社ミナト企画", "有限会社さくら工房", "青葉デザイン株式会社"]
# state, city, ZIP code, area code, streets
US_PLACES = [
    ("NY", "New York", "10012", "212", ["Spring St", "Prince St", "Mercer St"]),
    ("NY", "Brooklyn", "11211", "718", ["Bedford Ave", "Grand St"]),
    ("CA", "San Francisco", "94110", "415", ["Valencia St", "Guerrero St"]),
    ("CA", "Los Angeles", "90026", "323", ["Sunset Blvd", "Echo Park Ave"]),
    ("WA", "Seattle", "98103", "206", ["Fremont Ave N", "Stone Way N"]),
    ("OR", "Portland", "97214", "503", ["SE Hawthorne Blvd", "SE Belmont St"]),
    ("IL", "Chicago", "60622", "312", ["N Milwaukee Ave", "W Division St"]),
    ("MA", "Cambridge", "02139", "617", ["Massachusetts Ave", "Prospect St"]),
    ("TX", "Austin", "78704", "512", ["S Congress Ave", "S Lamar Blvd"]),
    ("NJ", "Hoboken", "07030", "201", ["Washington St", "Bloomfield St"]),
]

# --- Channels and orders ---------------------------------------------------------------------

# Where customers first bought (or signed up): channel code, weight.
ACQUISITION = [
    ("web-jp", 34),
    ("app-jp", 10),
    ("pos-shibuya", 20),
    ("phone-jp", 6),
    ("marketplace-jp", 16),
    ("web-us", 14),
]
JP_CHANNELS = ["web-jp", "app-jp", "pos-shibuya", "phone-jp", "marketplace-jp"]
ORDER_PREFIX = {
    "web-jp": "W",
    "app-jp": "A",
    "pos-shibuya": "S",
    "phone-jp": "P",
    "marketplace-jp": "M",
    "web-us": "U",
}
# Tax-inclusive JPY order totals: median, spread (lognormal sigma), minimum.
JPY_BASKETS = {
    "web-jp": (6800, 0.55, 1480),
    "app-jp": (5200, 0.5, 1080),
    "pos-shibuya": (8400, 0.6, 880),
    "phone-jp": (9800, 0.45, 2980),
    "marketplace-jp": (4300, 0.5, 980),
}
USD_BASKET = (68, 0.5, 18)

REFUND_SHARE = 0.05
PROSPECT_SHARE = 0.08
LAPSED_SHARE = 0.4

STAFF_ADJUSTMENTS = [
    (300, "Goodwill: parcel delivered four days late"),
    (500, "Compensation: damaged mug in the gift set"),
    (200, "Birthday bonus (store visit)"),
    (150, "Correction: member card not scanned at the till"),
    (1000, "Thank-you for the magazine feature"),
    (250, "Goodwill: wrong colour sent, exchanged"),
    (100, "Survey reward"),
    (400, "Correction: marketplace order points missing"),
    (-200, "Correction: goodwill points credited twice"),
    (-100, "Correction: points for a cancelled store receipt"),
]


@dataclass
class DemoPurchase:
    channel: str
    currency: str
    total: Decimal
    paid_at: datetime
    refunded: Decimal = Decimal(0)
    order_id: str = ""


@dataclass
class DemoCustomer:
    key: int
    channel: str
    country: str
    profile: dict[str, str]
    acquired_at: datetime
    addresses: list[dict] = field(default_factory=list)
    consents: dict[str, bool] = field(default_factory=dict)
    revoked: list[str] = field(default_factory=list)  # opted in, later out
    identifiers: list[tuple[str, str, str]] = field(default_factory=list)  # channel, kind, value
    tags: list[str] = field(default_factory=list)
    login: bool = False
    purchases: list[DemoPurchase] = field(default_factory=list)
    duplicate_of: int | None = None  # the key of the same person's other profile


class _Maker:
    def __init__(self, rng: random.Random, now: datetime) -> None:
        self.rng = rng
        self.now = now
        self.emails: set[str] = set()
        self.phones: set[str] = set()
        self.cards: set[str] = set()
        self.buyer_ids: set[str] = set()

    def _unique(self, seen: set[str], make) -> str:
        while True:
            value = make()
            if value not in seen:
                seen.add(value)
                return value

    def jp_phone(self) -> str:
        rng = self.rng
        return self._unique(
            self.phones,
            lambda: (
                f"{rng.choice(['090', '080', '070'])}-{rng.randint(1000, 9999)}-"
                f"{rng.randint(1000, 9999)}"
            ),
        )

    def us_phone(self, area: str) -> str:
        # 555-0100 to 555-0199: the numbers set aside for fiction.
        return self._unique(self.phones, lambda: f"+1 {area}-555-{self.rng.randint(100, 199):04d}")

    def email(self, first: str, last: str, domain: str) -> str:
        rng = self.rng

        def make() -> str:
            style = rng.random()
            if style < 0.4:
                local = f"{first}.{last}"
            elif style < 0.7:
                local = f"{first[0]}{last}{rng.randint(1, 99)}"
            else:
                local = f"{last}.{first}{rng.randint(70, 99) if rng.random() < 0.5 else ''}"
            return f"{local}@{domain}"

        return self._unique(self.emails, make)

    def member_card(self) -> str:
        return self._unique(self.cards, lambda: f"2900{self.rng.randint(0, 10**9 - 1):09d}")

    def buyer_id(self) -> str:
        alphabet = "abcdefghijkmnpqrstuvwxyz23456789"
        return self._unique(
            self.buyer_ids, lambda: "rk-" + "".join(self.rng.choices(alphabet, k=10))
        )

    def jp_address(self, names: dict[str, str], phone: str, *, office: bool = False) -> dict:
        rng = self.rng
        prefecture, city, town, postal = rng.choice(JP_PLACES)
        line2 = ""
        if office:
            line2 = f"{rng.choice(['', '青山', '栄', '天神'])}ビル {rng.randint(2, 9)}F"
        elif rng.random() < 0.55:
            line2 = f"{rng.choice(JP_BUILDINGS)} {rng.randint(1, 12)}0{rng.randint(1, 9)}号室"
        return {
            **names,
            "company": rng.choice(JP_OFFICES) if office else "",
            "line1": f"{town}{rng.randint(1, 5)}丁目{rng.randint(1, 30)}-{rng.randint(1, 20)}",
            "line2": line2,
            "city": city,
            "region": prefecture,
            "postal_code": postal,
            "country": "JP",
            "phone": phone,
        }

    def us_address(self, names: dict[str, str], phone: str, place) -> dict:
        state, city, zip_code, _area, streets = place
        rng = self.rng
        return {
            **names,
            "line1": f"{rng.randint(10, 2999)} {rng.choice(streets)}",
            "line2": f"Apt {rng.randint(1, 6)}{rng.choice('ABCD')}" if rng.random() < 0.4 else "",
            "city": city,
            "region": state,
            "postal_code": zip_code,
            "country": "US",
            "phone": phone,
        }

    def total(self, channel: str, scale: float) -> tuple[str, Decimal]:
        rng = self.rng
        if channel == "web-us":
            median, sigma, floor = USD_BASKET
            amount = max(floor, median * scale * math.exp(rng.gauss(0, sigma)))
            return "USD", Decimal(f"{amount:.2f}")
        median, sigma, floor = JPY_BASKETS[channel]
        # Prices end in 0 before tax; totals include 10 % (8 % on food) tax.
        before_tax = max(floor, median * scale * math.exp(rng.gauss(0, sigma))) / 1.1
        rate = Decimal("1.08") if rng.random() < 0.3 else Decimal("1.10")
        return "JPY", (Decimal(round(before_tax, -1)) * rate).quantize(Decimal(1))

    def moment(self, start: datetime, end: datetime) -> datetime:
        """A time between start and end, during shop hours in Japan (01:00-13:00 UTC)."""
        span = max((end - start).total_seconds(), 0)
        when = start + timedelta(seconds=self.rng.random() * span)
        when = when.replace(hour=self.rng.randint(1, 12), minute=self.rng.randint(0, 59))
        return min(max(when, start), end)


def _names_jp(rng: random.Random, female: bool | None = None) -> tuple[dict[str, str], str, str]:
    last = rng.choice(JP_LAST_NAMES)
    female = rng.random() < 0.6 if female is None else female
    first = rng.choice(JP_FIRST_NAMES_F if female else JP_FIRST_NAMES_M)
    names = {
        "last_name": last[0],
        "first_name": first[0],
        "last_name_reading": last[1],
        "first_name_reading": first[1],
    }
    return names, first[2], last[2]


def _names_us(rng: random.Random) -> tuple[dict[str, str], str, str]:
    first, last = rng.choice(US_FIRST_NAMES), rng.choice(US_LAST_NAMES)
    return {"first_name": first, "last_name": last}, first.lower(), last.lower()


def _purchases(make: _Maker, customer: DemoCustomer, *, orders: int, scale: float) -> None:
    rng, now = make.rng, make.now
    latest = now - timedelta(hours=2)
    start = min(customer.acquired_at, latest)
    tenure = latest - start
    end = latest
    if orders > 1 and rng.random() < LAPSED_SHARE:
        end = start + tenure * rng.uniform(0.25, 0.8)  # stopped buying some time ago
    times = [start, *sorted(make.moment(start, end) for _ in range(orders - 1))]
    home = customer.channel
    for paid_at in times:
        if home == "web-us" or paid_at == start or rng.random() < 0.75:
            channel = home
        else:
            channel = rng.choice([c for c in JP_CHANNELS if c != home])
        currency, total = make.total(channel, scale)
        purchase = DemoPurchase(channel=channel, currency=currency, total=total, paid_at=paid_at)
        if rng.random() < REFUND_SHARE:
            share = Decimal(1) if rng.random() < 0.5 else Decimal(rng.randint(2, 6)) / 10
            exponent = Decimal("0.01") if currency == "USD" else Decimal(1)
            purchase.refunded = (total * share).quantize(exponent)
        customer.purchases.append(purchase)


def _order_count(rng: random.Random, tenure_days: float) -> int:
    roll = rng.random()
    if roll < 0.36:
        count = 1
    elif roll < 0.55:
        count = 2
    elif roll < 0.68:
        count = 3
    elif roll < 0.85:
        count = rng.randint(4, 6)
    elif roll < 0.96:
        count = rng.randint(7, 12)
    else:
        count = rng.randint(13, 24)
    return max(1, min(count, 1 + int(tenure_days / 12)))


def _customer(make: _Maker, key: int, channel: str) -> DemoCustomer:
    rng, now = make.rng, make.now
    us = channel == "web-us"
    if us:
        place = rng.choice(US_PLACES)
        names, first, last = _names_us(rng)
        phone = make.us_phone(place[3]) if rng.random() < 0.6 else ""
        email = make.email(first, last, rng.choice(["example.com", "example.net"]))
    else:
        names, first, last = _names_jp(rng)
        has_email = {"pos-shibuya": 0.45, "phone-jp": 0.5, "marketplace-jp": 0.35}.get(channel, 1)
        has_phone = {"pos-shibuya": 0.9, "phone-jp": 1, "marketplace-jp": 0.8}.get(channel, 0.65)
        email = make.email(first, last, "example.jp") if rng.random() < has_email else ""
        phone = make.jp_phone() if rng.random() < has_phone or not email else ""
    days_ago = HISTORY_DAYS * rng.random() ** 1.3  # more customers recently: the shop grows
    acquired_at = now - timedelta(days=days_ago, hours=rng.randint(0, 23))
    customer = DemoCustomer(
        key=key,
        channel=channel,
        country="US" if us else "JP",
        profile={**names, "email": email, "phone": phone, "language": "en" if us else "ja"},
        acquired_at=acquired_at,
    )
    address_names = dict(names)
    if us:
        customer.addresses.append(make.us_address(address_names, phone, place))
        if rng.random() < 0.2:
            customer.addresses.append(make.us_address(address_names, phone, rng.choice(US_PLACES)))
    else:
        customer.addresses.append(make.jp_address(address_names, phone))
        if rng.random() < 0.3:
            customer.addresses.append(
                make.jp_address(address_names, phone, office=rng.random() < 0.5)
            )
    if rng.random() < 0.35 and len(customer.addresses) > 1:
        customer.addresses[1]["is_default_shipping"] = True  # ships to the office now
    for medium, share in (("email", 0.72), ("sms", 0.4), ("line", 0.38), ("post", 0.12)):
        if (medium == "email" and not email) or (medium in ("sms", "line") and (us or not phone)):
            continue
        if rng.random() < share:
            customer.consents[medium] = True
    if customer.consents.get("email") and rng.random() < 0.08:
        customer.revoked.append("email")
    if channel == "pos-shibuya":
        customer.identifiers.append(("pos-shibuya", "member_card", make.member_card()))
    if channel == "marketplace-jp":
        customer.identifiers.append(("marketplace-jp", "marketplace_buyer", make.buyer_id()))
    tenure_days = (now - acquired_at).total_seconds() / 86400
    if rng.random() >= PROSPECT_SHARE or channel in ("pos-shibuya", "marketplace-jp"):
        scale = rng.choice([0.8, 1, 1, 1, 1, 1.2, 1.5, 2])
        _purchases(make, customer, orders=_order_count(rng, tenure_days), scale=scale)
    return customer


def _hanako(make: _Maker) -> DemoCustomer:
    """The known storefront login: a regular of the web shop, a Silver member by now."""
    now = make.now
    names = {
        "last_name": "山田",
        "first_name": "花子",
        "last_name_reading": "ヤマダ",
        "first_name_reading": "ハナコ",
    }
    make.emails.add(KNOWN_LOGIN_EMAIL)
    phone = make.jp_phone()
    customer = DemoCustomer(
        key=0,
        channel="web-jp",
        country="JP",
        profile={**names, "email": KNOWN_LOGIN_EMAIL, "phone": phone, "language": "ja"},
        acquired_at=now - timedelta(days=700, hours=5),
        addresses=[
            {
                **names,
                "line1": "三軒茶屋2丁目14-7",
                "line2": "パークハイツ 305号室",
                "city": "世田谷区",
                "region": "東京都",
                "postal_code": "154-0024",
                "country": "JP",
                "phone": phone,
            },
            {
                **names,
                "company": "青葉デザイン株式会社",
                "line1": "南青山3丁目1-30",
                "line2": "青山ビル 5F",
                "city": "港区",
                "region": "東京都",
                "postal_code": "107-0062",
                "country": "JP",
                "phone": phone,
            },
        ],
        consents={"email": True, "line": True},
        login=True,
        tags=["vip"],
    )
    for days, channel, total in [
        (700, "web-jp", 8580),
        (610, "web-jp", 12430),
        (540, "pos-shibuya", 23650),
        (450, "web-jp", 6270),
        (380, "app-jp", 4180),
        (300, "web-jp", 15840),
        (220, "pos-shibuya", 31900),
        (150, "web-jp", 9350),
        (80, "app-jp", 5720),
        (40, "web-jp", 18700),
        (12, "web-jp", 7150),
    ]:
        customer.purchases.append(
            DemoPurchase(
                channel=channel,
                currency="JPY",
                total=Decimal(total),
                paid_at=now - timedelta(days=days, hours=3),
            )
        )
    customer.purchases[3].refunded = Decimal(6270)  # returned: wrong size
    return customer


def _duplicate(make: _Maker, web: DemoCustomer, key: int) -> DemoCustomer:
    """The same person at the store till: a member card and their phone number, no e-mail."""
    rng, now = make.rng, make.now
    names = {k: web.profile[k] for k in ("last_name", "first_name") if web.profile.get(k)}
    names.update(
        {k: web.profile[k] for k in ("last_name_reading", "first_name_reading") if k in web.profile}
    )
    pos = DemoCustomer(
        key=key,
        channel="pos-shibuya",
        country="JP",
        profile={**names, "email": "", "phone": web.profile["phone"], "language": "ja"},
        acquired_at=now - timedelta(days=rng.randint(120, 400)),
        identifiers=[("pos-shibuya", "member_card", make.member_card())],
        duplicate_of=web.key,
    )
    _purchases(make, pos, orders=rng.randint(2, 4), scale=1)
    for purchase in pos.purchases:
        purchase.channel, purchase.refunded = "pos-shibuya", Decimal(0)
        purchase.currency, purchase.total = make.total("pos-shibuya", 1)
    return pos


def generate(count: int, *, now: datetime, seed: int = 17) -> list[DemoCustomer]:
    """About `count` customers (at least the known login), oldest acquisition first, with their
    purchases numbered per channel in time order ("DEMO-W-000123")."""
    rng = random.Random(seed)
    make = _Maker(rng, now)
    customers = [_hanako(make)]
    channels, weights = zip(*ACQUISITION, strict=True)
    for key in range(1, count):
        customers.append(_customer(make, key, rng.choices(channels, weights)[0]))
    # Deliberate duplicates: a web profile (e-mail) and a store profile (phone, member card).
    web_buyers = [
        c
        for c in customers[1:]
        if c.channel == "web-jp" and c.profile["email"] and c.profile["phone"] and c.purchases
    ]
    for web in web_buyers[: min(3, max(1, count // 100))] if count > 5 else ():
        customers.append(_duplicate(make, web, len(customers)))
    # Tags: the biggest spenders are VIPs; a few wholesale buyers, press and staff.
    spenders = sorted(
        (c for c in customers[1:] if c.purchases and c.country == "JP"),
        key=lambda c: -sum(p.total for p in c.purchases),
    )
    for customer in spenders[: max(1, len(spenders) // 20)]:
        customer.tags.append("vip")
    for customer in rng.sample(customers[1:], min(len(customers) - 1, max(1, count // 60))):
        if customer.country == "JP" and customer.purchases:
            customer.tags.append("wholesale")
            for purchase in customer.purchases[-3:]:
                purchase.currency, total = make.total(purchase.channel, 12)
                purchase.total, purchase.refunded = total, Decimal(0)
    for tag, share in (("press", 100), ("staff", 150), ("gift-buyer", 25)):
        for customer in rng.sample(customers[1:], min(len(customers) - 1, max(1, count // share))):
            customer.tags.append(tag)
    # Storefront logins: web and app customers with an e-mail, one in twenty customers (each
    # costs a deliberately slow password hash, ~0.7 s: the demo must start quickly).
    candidates = [
        c
        for c in customers[1:]
        if c.channel in ("web-jp", "app-jp", "web-us") and c.profile["email"]
    ]
    for customer in rng.sample(candidates, min(len(candidates), max(1, count // 20 - 1))):
        customer.login = True
    # Order ids per channel, in the order they were paid.
    sequence: dict[str, int] = {}
    for purchase in sorted(
        (p for c in customers for p in c.purchases), key=lambda p: (p.paid_at, p.channel)
    ):
        prefix = ORDER_PREFIX[purchase.channel]
        sequence[prefix] = sequence.get(prefix, 0) + 1
        purchase.order_id = f"DEMO-{prefix}-{sequence[prefix]:06d}"
    return customers
