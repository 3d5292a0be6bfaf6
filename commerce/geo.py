"""Rough geography for routing: the centre of a region (a Japanese prefecture, a US state) and
the great-circle distance between two points. Good to tens of kilometres, which is all that
choosing the nearer warehouse needs; no geocoding service is involved."""

from __future__ import annotations

import math
from decimal import Decimal

Point = tuple[float, float]

# Prefectural capitals, (latitude, longitude), by English name and by name in Japanese.
_JP = {
    ("hokkaido", "北海道"): (43.064, 141.347),
    ("aomori", "青森県"): (40.824, 140.740),
    ("iwate", "岩手県"): (39.704, 141.153),
    ("miyagi", "宮城県"): (38.269, 140.872),
    ("akita", "秋田県"): (39.719, 140.102),
    ("yamagata", "山形県"): (38.240, 140.364),
    ("fukushima", "福島県"): (37.750, 140.468),
    ("ibaraki", "茨城県"): (36.342, 140.447),
    ("tochigi", "栃木県"): (36.566, 139.884),
    ("gunma", "群馬県"): (36.391, 139.061),
    ("saitama", "埼玉県"): (35.857, 139.649),
    ("chiba", "千葉県"): (35.605, 140.123),
    ("tokyo", "東京都"): (35.690, 139.692),
    ("kanagawa", "神奈川県"): (35.448, 139.643),
    ("niigata", "新潟県"): (37.902, 139.023),
    ("toyama", "富山県"): (36.695, 137.211),
    ("ishikawa", "石川県"): (36.594, 136.626),
    ("fukui", "福井県"): (36.065, 136.222),
    ("yamanashi", "山梨県"): (35.664, 138.568),
    ("nagano", "長野県"): (36.651, 138.181),
    ("gifu", "岐阜県"): (35.391, 136.722),
    ("shizuoka", "静岡県"): (34.977, 138.383),
    ("aichi", "愛知県"): (35.180, 136.907),
    ("mie", "三重県"): (34.730, 136.509),
    ("shiga", "滋賀県"): (35.004, 135.869),
    ("kyoto", "京都府"): (35.021, 135.756),
    ("osaka", "大阪府"): (34.686, 135.520),
    ("hyogo", "兵庫県"): (34.691, 135.183),
    ("nara", "奈良県"): (34.685, 135.833),
    ("wakayama", "和歌山県"): (34.226, 135.168),
    ("tottori", "鳥取県"): (35.504, 134.238),
    ("shimane", "島根県"): (35.472, 133.051),
    ("okayama", "岡山県"): (34.662, 133.935),
    ("hiroshima", "広島県"): (34.397, 132.460),
    ("yamaguchi", "山口県"): (34.186, 131.471),
    ("tokushima", "徳島県"): (34.066, 134.559),
    ("kagawa", "香川県"): (34.340, 134.043),
    ("ehime", "愛媛県"): (33.842, 132.766),
    ("kochi", "高知県"): (33.560, 133.531),
    ("fukuoka", "福岡県"): (33.607, 130.418),
    ("saga", "佐賀県"): (33.249, 130.299),
    ("nagasaki", "長崎県"): (32.745, 129.874),
    ("kumamoto", "熊本県"): (32.790, 130.742),
    ("oita", "大分県"): (33.238, 131.613),
    ("miyazaki", "宮崎県"): (31.911, 131.424),
    ("kagoshima", "鹿児島県"): (31.560, 130.558),
    ("okinawa", "沖縄県"): (26.212, 127.681),
}
# State capitals or main cities of the states a demo or a first US warehouse needs.
_US = {
    "ny": (40.713, -74.006),
    "nj": (40.058, -74.406),
    "pa": (40.273, -76.886),
    "ma": (42.360, -71.058),
    "ca": (34.052, -118.244),
    "wa": (47.606, -122.332),
    "tx": (32.777, -96.797),
    "il": (41.878, -87.630),
    "fl": (25.762, -80.192),
    "ga": (33.749, -84.388),
}
_CENTRES: dict[tuple[str, str], Point] = {}
for names, point in _JP.items():
    for name in names:
        _CENTRES[("JP", name)] = point
for code, point in _US.items():
    _CENTRES[("US", code)] = point

_SUFFIXES = ("-to", "-fu", "-ken", " prefecture", " pref.", "都", "府", "県")


def _normal(region: str) -> str:
    name = region.strip().lower()
    for suffix in _SUFFIXES:
        if name.endswith(suffix) and name != "hokkaido":
            return name[: -len(suffix)].strip()
    return name


def region_centre(country: str, region: str) -> Point | None:
    """The centre of a region, or None when it is not one we know."""
    country = (country or "").upper()
    if not region:
        return None
    for name in (region.strip().lower(), _normal(region)):
        point = _CENTRES.get((country, name))
        if point is None and country == "JP":
            point = _CENTRES.get((country, name + "県")) or _CENTRES.get((country, name + "都"))
        if point is not None:
            return point
    return None


def point_of(latitude: Decimal | float | None, longitude: Decimal | float | None) -> Point | None:
    if latitude is None or longitude is None:
        return None
    return (float(latitude), float(longitude))


def distance_km(a: Point | None, b: Point | None) -> float | None:
    """Great-circle distance in kilometres, or None when either point is unknown."""
    if a is None or b is None:
        return None
    lat1, lon1, lat2, lon2 = map(math.radians, (*a, *b))
    h = (
        math.sin((lat2 - lat1) / 2) ** 2
        + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    )
    return 2 * 6371.0 * math.asin(math.sqrt(h))
