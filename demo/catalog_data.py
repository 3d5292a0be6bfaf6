"""A believable catalogue for the demo and the benchmarks: a Japanese D2C brand that sells
apparel, skincare, supplements, tea and homeware on its web shops, app, stores and a marketplace."""

from __future__ import annotations

import csv
import random
from collections.abc import Iterator
from decimal import Decimal

CHANNELS = [
    # code, name, kind, currency, prices include tax, time zone, language, country
    ("web-jp", "Web shop Japan", "web", "JPY", True, "Asia/Tokyo", "ja", "JP"),
    ("web-us", "Web shop US", "web", "USD", False, "America/New_York", "en", "US"),
    ("app-jp", "Mobile app", "app", "JPY", True, "Asia/Tokyo", "ja", "JP"),
    ("pos-shibuya", "Shibuya flagship store", "pos", "JPY", True, "Asia/Tokyo", "ja", "JP"),
    ("phone-jp", "Call centre", "phone", "JPY", True, "Asia/Tokyo", "ja", "JP"),
    (
        "marketplace-jp",
        "Marketplace (Rakuichi)",
        "marketplace",
        "JPY",
        True,
        "Asia/Tokyo",
        "ja",
        "JP",
    ),
]

TAX_CLASSES = [("standard", "Standard rate"), ("reduced", "Reduced rate (food)")]

TAX_RATES = [
    # tax class, country, region ("" = the whole country), rate, name on invoices
    ("standard", "JP", "", "0.10", "消費税 10%"),
    ("reduced", "JP", "", "0.08", "軽減税率 8%"),
    # US sales tax where the shop has nexus; elsewhere it collects none.
    ("standard", "US", "", "0", "No sales tax collected"),
    ("reduced", "US", "", "0", "No sales tax collected"),
    ("standard", "US", "NY", "0.08875", "NY sales tax"),
    ("reduced", "US", "NY", "0", "NY: food exempt"),
    ("standard", "US", "NJ", "0.06625", "NJ sales tax"),
    ("reduced", "US", "NJ", "0", "NJ: food exempt"),
]

CATEGORIES = {
    ("apparel", "Apparel"): [
        ("t-shirts", "T-shirts"),
        ("knitwear", "Knitwear"),
        ("outerwear", "Outerwear"),
    ],
    ("beauty", "Beauty"): [("skincare", "Skincare"), ("makeup", "Makeup")],
    ("health", "Health"): [("supplements", "Supplements")],
    ("food-drink", "Food & drink"): [("tea", "Tea"), ("snacks", "Snacks")],
    ("home", "Home"): [("kitchen", "Kitchen"), ("bedding", "Bedding")],
}

# code: (name, type, unit, choices)
ATTRIBUTES = {
    "color": ("Colour", "choice", "", ["black", "white", "navy", "grey", "beige", "red", "green"]),
    "size": ("Size", "choice", "", ["xs", "s", "m", "l", "xl"]),
    "material": (
        "Material",
        "choice",
        "",
        ["cotton", "organic-cotton", "wool", "linen", "cashmere", "ceramic", "bamboo"],
    ),
    "skin_type": ("Skin type", "choice", "", ["all", "dry", "oily", "sensitive"]),
    "volume_ml": ("Volume", "number", "ml", []),
    "pack": ("Pack", "choice", "", ["30-day", "90-day"]),
    "organic": ("Organic", "boolean", "", []),
    "origin": ("Origin", "text", "", []),
    "net_weight": ("Net weight", "choice", "", ["100g", "250g", "500g"]),
}

PRODUCT_TYPES = {
    # slug: (name, product attributes, variant attributes)
    "apparel": ("Apparel", ["material"], ["color", "size"]),
    "cosmetics": ("Cosmetics", ["skin_type", "volume_ml"], []),
    "supplement": ("Supplement", ["organic"], ["pack"]),
    "food": ("Food", ["organic", "origin"], ["net_weight"]),
    "homeware": ("Homeware", ["material"], ["color"]),
}

_LINES = {
    "t-shirts": (
        "apparel",
        "standard",
        ["Everyday", "Relaxed", "Heavyweight", "Pocket", "Crew-neck", "Long-sleeve"],
        ["T-shirt", "Tee"],
        (2980, 6980),
    ),
    "knitwear": (
        "apparel",
        "standard",
        ["Merino", "Cable", "Ribbed", "Fisherman", "Lambswool"],
        ["Sweater", "Cardigan", "Vest"],
        (8900, 24800),
    ),
    "outerwear": (
        "apparel",
        "standard",
        ["Packable", "Quilted", "Waxed", "Coach", "Field"],
        ["Jacket", "Parka", "Coat"],
        (14800, 49800),
    ),
    "skincare": (
        "cosmetics",
        "standard",
        ["Hydrating", "Brightening", "Calming", "Rice", "Yuzu"],
        ["Lotion", "Serum", "Cream", "Cleansing Oil"],
        (1980, 8800),
    ),
    "makeup": (
        "cosmetics",
        "standard",
        ["Sheer", "Matte", "Dewy", "Natural"],
        ["Foundation", "Lip Tint", "Concealer"],
        (1650, 4950),
    ),
    "supplements": (
        "supplement",
        "standard",
        ["Daily", "Collagen", "Lactic Acid", "Blue Sea", "Black Vinegar"],
        ["Tablets", "Capsules", "Powder"],
        (2480, 9800),
    ),
    "tea": (
        "food",
        "reduced",
        ["Uji", "Sayama", "Kagoshima", "Shizuoka", "Yame"],
        ["Sencha", "Matcha", "Hojicha", "Genmaicha"],
        (864, 5400),
    ),
    "snacks": (
        "food",
        "reduced",
        ["Hokkaido", "Okinawa", "Kyoto", "Sea-salt"],
        ["Rice Crackers", "Brown Sugar Drops", "Yokan"],
        (540, 2160),
    ),
    "kitchen": (
        "homeware",
        "standard",
        ["Mino", "Arita", "Hasami", "Kiln"],
        ["Rice Bowl", "Teapot", "Plate", "Mug"],
        (1320, 12100),
    ),
    "bedding": (
        "homeware",
        "standard",
        ["Gauze", "Linen", "Waffle"],
        ["Duvet Cover", "Pillowcase", "Blanket"],
        (3300, 19800),
    ),
}

_ORIGINS = ["Shizuoka", "Kagoshima", "Kyoto", "Hokkaido", "Okinawa", "Fukuoka"]


def _jpy(low: int, high: int, rng: random.Random) -> Decimal:
    return Decimal(rng.randrange(low, high) // 10 * 10)


def _usd(jpy: Decimal) -> Decimal:
    return (
        (jpy / Decimal(150)).quantize(Decimal(1)) - Decimal("0.01")
        if jpy >= 300
        else Decimal("1.99")
    )


def catalogue_rows(products: int, seed: int = 7) -> Iterator[dict[str, str]]:
    """Rows in the import format (one per variant) for `products` products. Deterministic for a
    given seed, so re-running the demo updates the same products instead of adding new ones."""
    rng = random.Random(seed)
    lines = list(_LINES.items())
    channels = [c[0] for c in CHANNELS]
    for index in range(products):
        category, (ptype, tax, adjectives, nouns, (low, high)) = lines[index % len(lines)]
        adjective, noun = rng.choice(adjectives), rng.choice(nouns)
        name = f"{adjective} {noun}"
        slug = f"{adjective}-{noun}-{index + 1:05d}".lower().replace(" ", "-")
        base = _jpy(low, high, rng)
        product_attributes = {
            "apparel": lambda: (
                f"material={rng.choice(['cotton', 'organic-cotton', 'wool', 'linen', 'cashmere'])}"
            ),
            "cosmetics": lambda: (
                f"skin_type={rng.choice(['all', 'dry', 'oily', 'sensitive'])};volume_ml={rng.choice([30, 50, 100, 150])}"
            ),
            "supplement": lambda: f"organic={rng.choice(['yes', 'no'])}",
            "food": lambda: f"organic={rng.choice(['yes', 'no'])};origin={rng.choice(_ORIGINS)}",
            "homeware": lambda: f"material={rng.choice(['ceramic', 'linen', 'cotton', 'bamboo'])}",
        }[ptype]()
        variants = {
            "apparel": [
                f"color={c};size={s}"
                for c in rng.sample(["black", "white", "navy", "grey", "beige"], 2)
                for s in ("s", "m", "l")
            ],
            "cosmetics": [""],
            "supplement": ["pack=30-day", "pack=90-day"],
            "food": [f"net_weight={w}" for w in ("100g", "250g")],
            "homeware": [f"color={c}" for c in rng.sample(["white", "navy", "grey", "green"], 2)],
        }[ptype]
        on_sale = rng.random() < 0.15
        published = {
            "web-jp": rng.random() < 0.95,
            "web-us": rng.random() < 0.6,
            "app-jp": rng.random() < 0.9,
            "pos-shibuya": ptype in ("apparel", "homeware", "cosmetics"),
            "phone-jp": ptype in ("supplement", "cosmetics", "food"),
            "marketplace-jp": rng.random() < 0.5,
        }
        for number, variant_attributes in enumerate(variants, start=1):
            price = base * 3 if "90-day" in variant_attributes else base
            price = price * Decimal("2.2") if "250g" in variant_attributes else price
            price = Decimal(int(price) // 10 * 10)
            label = (
                variant_attributes.replace("color=", "")
                .replace("size=", "")
                .replace("pack=", "")
                .replace("net_weight=", "")
                .replace(";", " / ")
                .upper()
            )
            row = {
                "sku": f"{category[:3].upper()}-{index + 1:05d}-{number:02d}",
                "product_slug": slug,
                "product_name": name,
                "product_type": ptype,
                "category": category,
                "tax_class": tax,
                "description": f"{name}: made in Japan in small batches. A customer favourite since {rng.randint(2009, 2024)}.",
                "variant_name": label,
                "barcode": f"45{index + 1:07d}{number:02d}{rng.randint(0, 9)}",
                "weight_grams": str(rng.randint(50, 1500)),
                "product_attributes": product_attributes,
                "variant_attributes": variant_attributes,
            }
            for channel in channels:
                if channel == "web-us":
                    row["price:web-us"] = str(_usd(price))
                    row["compare_at_price:web-us"] = (
                        str(_usd(price * Decimal("1.25"))) if on_sale else ""
                    )
                else:
                    row[f"price:{channel}"] = str(price)
                    row[f"compare_at_price:{channel}"] = (
                        str(Decimal(int(price * Decimal("1.25")) // 10 * 10)) if on_sale else ""
                    )
                row[f"published:{channel}"] = "yes" if published[channel] else "no"
            yield row


def write_catalogue_csv(path: str, products: int) -> None:
    rows = catalogue_rows(products)
    first = next(rows)
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(first))
        writer.writeheader()
        writer.writerow(first)
        writer.writerows(rows)
