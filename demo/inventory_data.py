"""Where the demo brand keeps its goods and who supplies them."""

JP_SALES = ["web-jp", "app-jp", "phone-jp", "marketplace-jp"]

# Where each location is (its city's coordinates: routing measures the distance from there to
# the buyer's prefecture or state), how many days it needs to send an order off (warehouses
# dispatch the next day, stores the same day), whether it ships to customers (for a store: the
# ship-from-store switch, on in Umeda only), whether buyers can collect there, whether its
# stock counts for online availability, its routing priority (lower first) and the channels it
# serves. The warehouses also serve the Shibuya till (what the shelf lacks is sent home from
# there) and the call centre.
LOCATIONS = [
    {
        "code": "wh-chiba",
        "name": "Chiba fulfilment centre",
        "kind": "warehouse",
        "region": "Chiba",
        "city": "Ichikawa",
        "postal_code": "272-0001",
        "latitude": "35.72190",
        "longitude": "139.93100",
        "handling_days": 1,
        "ships": True,
        "pickup": False,
        "online": True,
        "priority": 10,
        "channels": [*JP_SALES, "pos-shibuya"],
    },
    {
        "code": "wh-osaka",
        "name": "Osaka warehouse",
        "kind": "warehouse",
        "region": "Osaka",
        "city": "Suminoe",
        "postal_code": "559-0001",
        "latitude": "34.60970",
        "longitude": "135.48280",
        "handling_days": 1,
        "ships": True,
        "pickup": False,
        "online": True,
        "priority": 20,
        "channels": [*JP_SALES, "pos-shibuya"],
    },
    {
        "code": "wh-newjersey",
        "name": "New Jersey 3PL",
        "kind": "warehouse",
        "region": "NJ",
        "city": "Edison",
        "postal_code": "08817",
        "latitude": "40.51870",
        "longitude": "-74.41210",
        "handling_days": 1,
        "ships": True,
        "pickup": False,
        "online": True,
        "priority": 10,
        "channels": ["web-us"],
        "country": "US",
        "time_zone": "America/New_York",
    },
    {
        "code": "store-shibuya",
        "name": "Shibuya flagship store",
        "kind": "store",
        "region": "Tokyo",
        "city": "Shibuya",
        "postal_code": "150-0041",
        "latitude": "35.66400",
        "longitude": "139.69820",
        "handling_days": 0,
        "ships": False,  # ship-from-store off: its shelf is for walk-ins and pickups
        "pickup": True,
        "online": False,
        "priority": 50,
        "channels": ["pos-shibuya", "web-jp", "app-jp"],
    },
    {
        "code": "store-umeda",
        "name": "Umeda store",
        "kind": "store",
        "region": "Osaka",
        "city": "Kita",
        "postal_code": "530-0001",
        "latitude": "34.70250",
        "longitude": "135.49590",
        "handling_days": 0,
        "ships": True,  # ship-from-store on: online orders may be sent from its shelf
        "pickup": True,
        "online": True,
        "priority": 60,
        "channels": ["web-jp", "app-jp"],
    },
]

# Three goods stocked so that routing has something to show: one only in Chiba, one only in
# Osaka (an order of both leaves in two parcels), one only on the Umeda shelf (shipped from the
# store). They are picked from these categories (see `demo.services.routing_showcase`).
SHOWCASE_CATEGORIES = ["knitwear", "outerwear", "kitchen", "bedding", "makeup"]
SHOWCASE_STOCK = {
    "chiba_only": {"wh-chiba": 6},
    "osaka_only": {"wh-osaka": 6},
    "umeda_only": {"store-umeda": 4},
}

# code, name, lead time (days), categories supplied
SUPPLIERS = [
    ("kojima-textiles", "Kojima Textiles", 21, ["t-shirts", "knitwear", "outerwear", "bedding"]),
    ("yuzu-labs", "Yuzu Labs Cosmetics", 14, ["skincare", "makeup"]),
    ("seaside-nutrition", "Seaside Nutrition", 10, ["supplements"]),
    ("uji-tea-coop", "Uji Tea Cooperative", 7, ["tea", "snacks"]),
    ("hasami-kilns", "Hasami Kilns", 30, ["kitchen"]),
]
