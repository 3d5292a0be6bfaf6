"""Storefront: the anonymous product API of one channel (web-jp), as shoppers hit it.

Measurements, each with C concurrent keep-alive clients:

- channels: `/api/v1/channels/`, a one-query endpoint. Not a product figure: it shows what the
  server and this load generator manage at all, so that the client is known not to be the limit.
- list: pages of 50 products (with variants, prices and attributes), sorted by name, a random
  page among the first 100.
- list, mixed filters: the same with one of a few filters (category, price sort, search,
  attribute), a random page among the first 100 that the filter has.
- detail: one product by id, random among the products published in the channel.
"""

from __future__ import annotations

import math
import random
from urllib.parse import urlencode

from bench import lib

NAME = "storefront"
CHANNEL = "web-jp"
PAGE_SIZE = 50
MAX_PAGE = 100
LIST_PATH = f"/api/v1/channels/{CHANNEL}/products/"
DETAIL_PATH = LIST_PATH + "{id}/"
CHANNELS_PATH = "/api/v1/channels/"
QUERY_TARGET = 10  # fewer SQL queries per list page than this
P95_TARGET_MS = 50.0  # p95 of the list page at concurrency 16 on the 2-core machine

# label: query parameters (besides page and page_size)
MIXED_FILTERS = {
    "category=apparel": {"category": "apparel"},
    "sort=price": {"sort": "price"},
    "q=tea": {"q": "tea"},
    "attr=color:navy": {"attr": "color:navy"},
}


def _list_path(params: dict[str, str], page: int) -> str:
    return f"{LIST_PATH}?{urlencode({**params, 'page_size': PAGE_SIZE, 'page': page})}"


def _pages(params: dict[str, str]) -> tuple[int, int]:
    """(matching products, pages to pick from) for a filter."""
    count = lib.get_json(_list_path(params, 1))["count"]
    return count, max(1, min(MAX_PAGE, math.ceil(count / PAGE_SIZE)))


def _published_ids() -> list[int]:
    from catalog.selectors import product_list_for_channel
    from commerce.selectors import channel_get_active

    channel = channel_get_active(code=CHANNEL)
    queryset = product_list_for_channel(channel=channel, listed_only=False)
    return list(queryset.order_by("pk").values_list("pk", flat=True))


def prepare(options) -> lib.Plan:
    channels = [channel["code"] for channel in lib.get_json(CHANNELS_PATH)]
    if CHANNEL not in channels:
        raise lib.BenchError(f"channel {CHANNEL} is missing (seed_demo creates it)")

    list_count, list_pages = _pages({})
    filters = {label: (params, *_pages(params)) for label, params in MIXED_FILTERS.items()}
    ids = _published_ids()
    if not ids:
        raise lib.BenchError(f"no product is published in {CHANNEL}")
    mixed = list(filters.items())

    def channels_request(rng: random.Random) -> tuple[str, str]:
        return "channels", CHANNELS_PATH

    def list_request(rng: random.Random) -> tuple[str, str]:
        return "list", _list_path({}, rng.randint(1, list_pages))

    def mixed_request(rng: random.Random) -> tuple[str, str]:
        label, (params, _, pages) = rng.choice(mixed)
        return label, _list_path(params, rng.randint(1, pages))

    def detail_request(rng: random.Random) -> tuple[str, str]:
        return "detail", DETAIL_PATH.format(id=rng.choice(ids))

    list_workload = lib.Workload(
        "storefront: list",
        f"{LIST_PATH}?page_size={PAGE_SIZE}&page=1..{list_pages} (sorted by name)",
        list_request,
    )
    workloads = [
        lib.Workload(
            "storefront: channels (client check)",
            f"{CHANNELS_PATH} (one query; shows the server + load generator ceiling)",
            channels_request,
        ),
        list_workload,
        lib.Workload(
            "storefront: list, mixed filters",
            f"{LIST_PATH}?page_size={PAGE_SIZE} with one of: "
            + ", ".join(f"{label} (pages 1..{pages})" for label, (_, _, pages) in mixed),
            mixed_request,
        ),
        lib.Workload(
            "storefront: detail",
            f"{DETAIL_PATH} over {len(ids):,} published products",
            detail_request,
        ),
    ]

    lib.log("counting queries and timing single requests in process")
    middle = max(1, list_pages // 2)
    checks = [
        lib.check_in_process("list page", _list_path({}, middle)),
        *(
            lib.check_in_process(f"list {label}", _list_path(params, 1))
            for label, (params, _, _) in mixed
        ),
        lib.check_in_process("detail", DETAIL_PATH.format(id=ids[len(ids) // 2])),
        lib.check_in_process("channels", CHANNELS_PATH),
    ]
    rng = random.Random(7)
    profile_paths = [_list_path({}, rng.randint(1, list_pages)) for _ in range(30)]
    return lib.Plan(
        workloads=workloads,
        sweep=list_workload,
        checks=checks,
        profile_paths=profile_paths,
        query_target=("list page", QUERY_TARGET),
        p95_target=("storefront: list", P95_TARGET_MS),
        info={
            "channel": CHANNEL,
            "page_size": PAGE_SIZE,
            "listed_products": list_count,
            "list_pages": list_pages,
            "published_products": len(ids),
            "filters": {
                label: {"params": params, "products": count, "pages": pages}
                for label, (params, count, pages) in filters.items()
            },
        },
    )
