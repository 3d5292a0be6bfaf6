"""Checkout: orders placed per second through `POST /api/v1/carts/<token>/complete/` over HTTP.

The scenario brings its own small shop (no demo catalogue needed): the channel `bench-jp`
(JPY, prices include tax), the JP tax rates (10 %, reduced 8 %), 3,000 SKUs with prices, all
with 1,000,000 units on hand in one warehouse that serves only that channel, and one shipping
method with a JP rate. Before each measurement it makes a pool of ready carts (one line of one
unit, an e-mail, a JP address, the shipping method), so that only the completion is timed:

- uncontended: every cart holds a random SKU of the 3,000;
- hot SKU: every cart holds the same SKU (every completion queues on the same stock row).

Each completion is `{"payment": {"method": "card", "token": "tok_visa"}}` (the test gateway
approves and captures) with its own `Idempotency-Key`, sent by C concurrent keep-alive clients to
a gunicorn on this machine (a closed loop, as for the storefront). 201 is an order; a 409 (stock
ran out) or anything else is counted and reported.

In process, before any load, the SQL of one completion is captured (`execute_wrapper`: every
statement with its time, grouped by checkout step and by table), then more completions are timed
one at a time. Baseline: pgbench's TPC-B-like read-write script on the same server in the same
run; the target is uncontended orders/s at least a tenth of its TPS.

After the HTTP measurements and before the baseline, the fulfilment scenario's batch runs in
process (routing and fulfilment creation for `--fulfilment-orders` orders, see fulfilment.py),
so that its orders/s is printed beside checkout's against the same baseline.
"""

from __future__ import annotations

import cProfile
import http.client
import itertools
import json
import math
import os
import pstats
import re
import secrets
import statistics
import sys
import threading
import time
import uuid
from collections import Counter
from decimal import Decimal

from bench import lib
from bench.scenarios import fulfilment

NAME = "checkout"
NEEDS_CATALOGUE = False  # it seeds its own shop (channel, SKUs, stock, shipping)
USES_PGBENCH_S = False  # its baseline is pgbench TPC-B, run by the scenario itself

CHANNEL = "bench-jp"
LOCATION = "bench-jp-wh"
SHIPPING_METHOD = "bench-parcel"
SHIPPING_PRICE = Decimal("800")
PRODUCT_TYPE = "bench-goods"
PRODUCT_SLUG = "bench-checkout-{:03d}"
SKU = "BENCH-CO-{:03d}-{:02d}"
PRODUCTS = 100
VARIANTS_PER_PRODUCT = 30  # 3,000 SKUs
STOCK_LEVEL = 1_000_000
BATCH = 2_000
PROBE_RUNS = 10  # in-process completions timed one at a time, after the one whose SQL is kept
PROFILE_RUNS = 30  # with --profile
WARM_UP_PER_CLIENT = 2  # completions per client before the first measurement (a fresh gunicorn)
# Carts made before each measurement: enough for this many orders/s over warm-up + duration
# (more than 2 cores manage; if the pool runs out, the measurement ends there and says so).
CARTS_PER_SECOND = 150
TARGET_RATIO = 1 / 10  # uncontended orders/s >= this share of pgbench TPC-B TPS
COMPLETE_PATH = "/api/v1/carts/{token}/complete/"
BODY = {"payment": {"method": "card", "token": "tok_visa"}}
ADDRESS = {
    "first_name": "Hanako",
    "last_name": "Yamada",
    "line1": "1-2-3 Jingumae",
    "city": "Shibuya-ku",
    "region": "Tokyo",
    "postal_code": "150-0001",
    "country": "JP",
    "phone": "090-1234-5678",
}
EMAIL = "bench-checkout-{run}-{index}@bench.invalid"


# --- the shop ----------------------------------------------------------------------------------


def _ensure_shop() -> dict:
    """Create or complete the bench shop (idempotent), set every SKU to STOCK_LEVEL on hand."""
    from datetime import date

    from django.db import connection, transaction

    from catalog.models import (
        Product,
        ProductChannelListing,
        ProductType,
        ProductVariant,
        TaxClass,
        VariantChannelListing,
    )
    from commerce.models import Channel
    from inventory.models import StockLocation
    from inventory.services import StockLevel, stock_set_levels
    from orders.models import ShippingMethod, ShippingRate, TaxRate

    started = time.perf_counter()
    with transaction.atomic():
        channel, _ = Channel.objects.update_or_create(
            code=CHANNEL,
            defaults={
                "name": "Bench shop Japan (checkout)",
                "kind": "web",
                "currency": "JPY",
                "prices_include_tax": True,
                "time_zone": "Asia/Tokyo",
                "default_language": "ja",
                "country": "JP",
                "is_active": True,
            },
        )
        tax_classes = {}
        for code, name, rate, label in [
            ("standard", "Standard rate", "0.10", "消費税 10%"),
            ("reduced", "Reduced rate (food)", "0.08", "軽減税率 8%"),
        ]:
            tax_classes[code], _ = TaxClass.objects.get_or_create(
                code=code, defaults={"name": name}
            )
            TaxRate.objects.get_or_create(
                tax_class=tax_classes[code],
                country="JP",
                region="",
                valid_from=date(2000, 1, 1),
                defaults={"rate": Decimal(rate), "name": label},
            )
        product_type, _ = ProductType.objects.get_or_create(
            slug=PRODUCT_TYPE, defaults={"name": "Bench goods"}
        )
        slugs = [PRODUCT_SLUG.format(index) for index in range(PRODUCTS)]
        there = set(Product.objects.filter(slug__in=slugs).values_list("slug", flat=True))
        Product.objects.bulk_create(
            [
                Product(
                    product_type=product_type,
                    tax_class=tax_classes["reduced" if index % 4 == 3 else "standard"],
                    name=f"Bench item {index:03d}",
                    slug=slug,
                    search_document=f"bench item {index:03d}",
                )
                for index, slug in enumerate(slugs)
                if slug not in there
            ]
        )
        products = dict(Product.objects.filter(slug__in=slugs).values_list("slug", "pk"))
        skus = {
            SKU.format(index, position): (products[slug], index, position)
            for index, slug in enumerate(slugs)
            for position in range(VARIANTS_PER_PRODUCT)
        }
        there = set(ProductVariant.objects.filter(sku__in=skus).values_list("sku", flat=True))
        ProductVariant.objects.bulk_create(
            [
                ProductVariant(
                    product_id=product_id,
                    sku=sku,
                    name=f"Size {position + 1}",
                    weight_grams=200 + 50 * (position % 20),
                    position=position,
                )
                for sku, (product_id, index, position) in skus.items()
                if sku not in there
            ],
            batch_size=BATCH,
        )
        variants = dict(ProductVariant.objects.filter(sku__in=skus).values_list("sku", "pk"))

        def price(index: int) -> Decimal:
            return Decimal(1000 + 100 * ((index * 37) % 80))  # 1,000 - 8,900 JPY, tax included

        VariantChannelListing.objects.bulk_create(
            [
                VariantChannelListing(variant_id=variants[sku], channel=channel, price=price(index))
                for sku, (_, index, _) in skus.items()
            ],
            ignore_conflicts=True,
            batch_size=BATCH,
        )
        ProductChannelListing.objects.bulk_create(
            [
                ProductChannelListing(
                    product_id=products[slug],
                    channel=channel,
                    is_published=True,
                    price_from=price(index),
                )
                for index, slug in enumerate(slugs)
            ],
            ignore_conflicts=True,
        )
        location, _ = StockLocation.objects.update_or_create(
            code=LOCATION,
            defaults={
                "name": "Bench warehouse (checkout)",
                "kind": "warehouse",
                "country": "JP",
                "region": "Chiba",
                "city": "Ichikawa",
                "postal_code": "272-0001",
                "ships_to_customers": True,
                "pickup_enabled": False,
                "counts_for_online": True,
                "routing_priority": 10,
                "is_active": True,
            },
        )
        location.channels.set([channel])
        method, _ = ShippingMethod.objects.update_or_create(
            channel=channel,
            code=SHIPPING_METHOD,
            defaults={"name": "Bench parcel", "basis": "weight", "free_over": None},
        )
        method.is_active = True
        method.save(update_fields=["is_active"])
        ShippingRate.objects.update_or_create(
            method=method,
            country="JP",
            region="",
            from_threshold=0,
            defaults={"price": SHIPPING_PRICE},
        )
    variant_ids = sorted(variants.values())
    for start in range(0, len(variant_ids), BATCH):
        stock_set_levels(
            levels=[
                StockLevel(variant_id, location.pk, STOCK_LEVEL)
                for variant_id in variant_ids[start : start + BATCH]
            ],
            reference="bench-checkout",
            publish_signals=False,
        )
    with connection.cursor() as cursor:
        for table in _tables(cursor):
            cursor.execute(f'ANALYZE "{table}"')
    return {
        "channel": channel,
        "location": location,
        "method": method,
        "variant_ids": variant_ids,
        "seconds": time.perf_counter() - started,
    }


def _tables(cursor) -> list[str]:
    """The tables a checkout reads or writes (analysed after seeding, as autovacuum would)."""
    cursor.execute(
        "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() AND ("
        "tablename LIKE 'orders\\_%%' OR tablename LIKE 'inventory\\_%%' "
        "OR tablename LIKE 'customers\\_%%' OR tablename LIKE 'commerce\\_%%' "
        "OR tablename IN ('catalog_product', 'catalog_productvariant', "
        "'catalog_variantchannellisting', 'catalog_productchannellisting'))"
    )
    return [table for (table,) in cursor.fetchall()]


# --- carts -------------------------------------------------------------------------------------


def _service_cart(shop: dict, variant_id: int, email: str):
    """A cart made the way the storefront API makes it (the services behind its endpoints)."""
    from orders.services import cart_create, cart_line_set, cart_update

    cart = cart_create(channel=shop["channel"], email=email)
    cart = cart_line_set(cart, variant_id=variant_id, quantity=1, add=True)
    return cart_update(cart, shipping_address=ADDRESS, shipping_method=SHIPPING_METHOD)


def _bulk_carts(shop: dict, variant_ids: list[int], *, template, run: str) -> list[str]:
    """Carts in the state `_service_cart` leaves (the same fields, one line of one unit), made
    in bulk: thousands of them in a second or two instead of ~60 queries each."""
    from django.db import transaction
    from django.utils import timezone

    from orders.models import Cart, CartLine

    now = timezone.now()
    carts = [
        Cart(
            channel=shop["channel"],
            email=EMAIL.format(run=run, index=index),
            language=template.language,
            shipping_address=template.shipping_address,
            shipping_method=shop["method"],
            created_at=now,
            last_activity_at=now,
        )
        for index in range(len(variant_ids))
    ]
    with transaction.atomic():
        Cart.objects.bulk_create(carts, batch_size=BATCH)
        CartLine.objects.bulk_create(
            [
                CartLine(cart=cart, variant_id=variant_id, quantity=1, added_at=now)
                for cart, variant_id in zip(carts, variant_ids, strict=True)
            ],
            batch_size=BATCH,
        )
    return [cart.token for cart in carts]


def _check_bulk_cart(shop: dict, template, run: str) -> None:
    """A bulk cart must price exactly like the same cart made through the services."""
    from orders.models import Cart
    from orders.services import cart_quote

    variant_id = template.lines.get().variant_id
    (token,) = _bulk_carts(shop, [variant_id], template=template, run=f"{run}-check")
    bulk = Cart.objects.select_related("channel", "shipping_method").get(token=token)
    fields = ["channel_id", "language", "shipping_address", "shipping_method_id", "state"]
    differ = [f for f in fields if getattr(bulk, f) != getattr(template, f)]
    mine, theirs = cart_quote(bulk), cart_quote(template)
    if differ or (mine.total, mine.problems) != (theirs.total, theirs.problems):
        raise lib.BenchError(
            f"a bulk-made cart differs from one made through the services: fields {differ}, "
            f"total {mine.total} vs {theirs.total}, problems {mine.problems} vs {theirs.problems}"
        )
    bulk.delete()


# --- SQL of one completion, in process ---------------------------------------------------------

# Steps of a completion, told by the functions on the stack when a statement runs: the first
# rule whose functions are all there wins (so the specific rules come first).
_STEPS = [
    ({"cart_for"}, "0a. read the cart by its token (view)"),
    ({"idempotency_begin"}, "0b. Idempotency-Key: claim the key"),
    ({"_prepare", "cart_quote"}, "1b. re-price the cart (cart_quote)"),
    ({"_prepare", "stock_transaction"}, "1c. hold the stock (stock_reserve, cart hold)"),
    ({"_prepare"}, "1a. lock the cart, open payment?; 1d. hold expiry, payment row"),
    ({"_once"}, "2a. gateway: the test provider's own books"),
    ({"payment_authorize"}, "2b. record the gateway's answer on the payment"),
    ({"order_place", "customer_find_or_create"}, "3b. find or create the guest customer"),
    ({"order_place", "stock_transaction"}, "3d. cart hold -> order allocation (stock_reserve)"),
    ({"order_place", "payments_refresh"}, "3f. payment totals (payments_refresh)"),
    ({"order_place", "order_publish"}, "3g. order.placed / order.paid events"),
    ({"order_place", "history_add"}, "3e. order history entries"),
    ({"order_place"}, "3c. order, its number and lines; payment and cart updates"),
    ({"payment_finish"}, "3a. lock cart + payment again, look for an order"),
    ({"order_with_lines"}, "4. response: re-read the order with its lines"),
    ({"idempotency_finish"}, "5. Idempotency-Key: store the response"),
]


def _step(frames: list[tuple[str, str]]) -> str:
    names = {function for _, function in frames}
    if ("inventory/services/ledger.py", "wrapper") in frames:
        names.add("stock_transaction")  # the decorator: its savepoint and lock timeout
    return next((label for needed, label in _STEPS if needed <= names), "other")


def _statement(sql: str) -> tuple[str, str]:
    """(kind, table) of a statement, for grouping."""
    text = " ".join(sql.split())
    upper = text.upper()
    if upper.startswith(("SAVEPOINT", "RELEASE SAVEPOINT", "ROLLBACK TO SAVEPOINT")):
        return "SAVEPOINT", "-"
    if "PG_ADVISORY_XACT_LOCK" in upper:
        return "SELECT pg_advisory_xact_lock", "-"
    if upper.startswith("SELECT SET_CONFIG"):
        return "SELECT set_config (lock_timeout)", "-"
    patterns = [
        ("INSERT", r'^INSERT INTO "?([\w.]+)"?'),
        ("UPDATE", r'^UPDATE "?([\w.]+)"?'),
        ("DELETE", r'^DELETE FROM "?([\w.]+)"?'),
        ("SELECT", r'\bFROM "?([\w.]+)"?'),
    ]
    for kind, pattern in patterns:
        if upper.startswith(kind) or kind == "SELECT":
            match = re.search(pattern, text, re.IGNORECASE)
            if match:
                if kind == "SELECT" and re.search(r"\bFOR (NO KEY )?UPDATE\b", upper):
                    kind = "SELECT FOR UPDATE"
                elif kind == "SELECT" and re.search(r"\b(SUM|COUNT)\(", upper):
                    kind = "SELECT aggregate"
                return kind, match.group(1).strip('"')
    return upper.split(" ", 1)[0], "-"


def _project_frames() -> list[tuple[str, str]]:
    """(file, function) of the project's frames on the current stack, innermost first."""
    root = str(lib.REPO_ROOT) + os.sep
    frames = []
    frame = sys._getframe(2)
    while frame is not None:
        filename = frame.f_code.co_filename
        if filename.startswith(root) and "/bench/" not in filename and "/.venv/" not in filename:
            frames.append((filename[len(root) :], frame.f_code.co_name))
        frame = frame.f_back
    return frames


def _complete_in_process(client, token: str):
    return client.post(
        COMPLETE_PATH.format(token=token),
        data=json.dumps(BODY),
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY=uuid.uuid4().hex,
    )


def _probe(tokens: list[str]) -> dict:
    """After one warm-up completion, capture every statement of the next (time, step, kind,
    table; commits), then time the others one at a time: wall, time in SQL, CPU, GC."""
    from django.db import connection

    client = lib._client()
    _complete_in_process(client, tokens[0])  # warm-up: lazy imports, first connection
    tokens = tokens[1:]
    statements: list[dict] = []
    commits = [0]

    def capture(execute, sql, params, many, context):
        frames = _project_frames()
        in_atomic = connection.in_atomic_block
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            kind, table = _statement(sql)
            statements.append(
                {
                    "ms": 1000 * (time.perf_counter() - started),
                    "kind": kind,
                    "table": table,
                    "step": _step(frames),
                    "site": " < ".join(f"{file}:{function}" for file, function in frames[:3]),
                    "in_transaction": in_atomic,
                    "sql": sql,
                }
            )

    original_commit = connection.commit

    def counting_commit():
        commits[0] += 1
        return original_commit()

    connection.commit = counting_commit
    try:
        with connection.execute_wrapper(capture):
            started = time.perf_counter()
            response = _complete_in_process(client, tokens[0])
            captured_ms = 1000 * (time.perf_counter() - started)
    finally:
        del connection.commit
    if response.status_code != 201:
        raise lib.BenchError(
            f"in-process completion answered {response.status_code}: {response.content[:300]!r}"
        )

    sql_time = [0.0]

    def timed(execute, sql, params, many, context):
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            sql_time[0] += time.perf_counter() - started

    totals, sqls, statuses = [], [], Counter()
    with lib._GcTimer() as gc_timer, connection.execute_wrapper(timed):
        cpu_started = time.process_time()
        for token in tokens[1:]:
            sql_time[0] = 0.0
            started = time.perf_counter()
            statuses[_complete_in_process(client, token).status_code] += 1
            totals.append(time.perf_counter() - started)
            sqls.append(sql_time[0])
        cpu = time.process_time() - cpu_started
    runs = max(len(tokens) - 1, 1)
    autocommit = sum(1 for s in statements if not s["in_transaction"])
    return {
        "status": response.status_code,
        "order": response.json().get("number"),
        "queries": len(statements),
        "commits": commits[0],
        "autocommit_statements": autocommit,
        "transactions": commits[0] + autocommit,
        "captured_ms": captured_ms,
        "captured_sql_ms": sum(s["ms"] for s in statements),
        "runs": len(tokens) - 1,
        "run_statuses": dict(statuses),
        "total_ms": 1000 * statistics.median(totals) if totals else math.nan,
        "sql_ms": 1000 * statistics.median(sqls) if sqls else math.nan,
        "cpu_ms": 1000 * cpu / runs,
        "gc_ms": 1000 * gc_timer.seconds / runs,
        "statements": statements,
    }


def _group(statements: list[dict], key, *, by_name: bool = False) -> list[tuple[str, int, float]]:
    """(group, statements, SQL ms), in name order or most statements first."""
    groups: dict[str, list[float]] = {}
    for statement in statements:
        groups.setdefault(key(statement), []).append(statement["ms"])
    rows = [(name, len(times), sum(times)) for name, times in groups.items()]
    return sorted(rows, key=lambda row: row[0] if by_name else (-row[1], -row[2], row[0]))


# cProfile areas (own time), first match wins.
_AREAS = [
    ("PostgreSQL round trips (psycopg, incl. waiting)", ("psycopg", "select.", "poll", "wait_c")),
    ("Django ORM: SQL compilation", ("django/db/models/sql/",)),
    ("Django ORM: other (model instances, querysets, transactions)", ("django/db/",)),
    (
        "project code (orders, inventory, customers, ...)",
        tuple(
            f"{lib.REPO_ROOT}/{app}/"
            for app in ("orders", "inventory", "customers", "commerce", "catalog")
        ),
    ),
    ("decimal / money", ("decimal", "_pydecimal")),
    ("DRF + JSON", ("rest_framework/", "/json/", "json.")),
    ("Django translation (gettext)", ("django/utils/translation", "gettext")),
    ("Django test client, request/response, middleware", ("django/",)),
    ("Celery/kombu (events handed to the broker)", ("celery/", "kombu/", "redis/")),
]


# Functions of the completion whose cumulative time (with what they call) --profile shows.
_PROFILED_STEPS = [
    ("orders/api/storefront.py", "post", "CartCompleteView.post (the whole view)"),
    ("orders/api/storefront.py", "cart_for", "  read the cart by its token"),
    ("orders/core/idempotency.py", "idempotency_begin", "  Idempotency-Key: claim"),
    ("orders/placement/checkout.py", "_prepare", "  1. prepare (lock, re-price, hold, payment)"),
    ("orders/pricing/quotes.py", "cart_quote", "    cart_quote"),
    ("orders/carts/services.py", "hold_stock", "    hold_stock"),
    ("orders/placement/checkout.py", "_snapshot", "    payment snapshot"),
    ("orders/payments/services.py", "payment_authorize", "  2. payment_authorize"),
    ("orders/payments/gateways.py", "authorize", "    the test gateway"),
    ("orders/placement/checkout.py", "payment_finish", "  3. payment_finish"),
    ("orders/placement/placement.py", "order_place", "    order_place"),
    ("customers/services/profiles.py", "customer_find_or_create", "      find/create customer"),
    ("inventory/services/reservations.py", "stock_reserve", "      stock_reserve (x2: 1 and 3)"),
    ("orders/payments/services.py", "payments_refresh", "      payments_refresh"),
    ("orders/core/records.py", "order_publish", "      order_publish (events)"),
    ("orders/selectors.py", "order_with_lines", "  4. re-read the order"),
    ("orders/api/serializers.py", "order_json", "  4. order_json"),
    ("orders/core/idempotency.py", "idempotency_finish", "  5. Idempotency-Key: store"),
    ("commerce/events.py", "send_to_broker", "  events to the broker after commit"),
]


def _profile(tokens: list[str], top: int = 15) -> dict:
    client = lib._client()
    profiler = cProfile.Profile()
    started = time.perf_counter()
    profiler.enable()
    for token in tokens:
        _complete_in_process(client, token)
    profiler.disable()
    wall = time.perf_counter() - started
    stats = pstats.Stats(profiler)
    count = len(tokens)
    areas: Counter[str] = Counter()
    functions = []
    for (filename, line, function), (_, calls, own, cumulative, _) in stats.stats.items():
        where = f"{filename}:{function}"
        area = next(
            (label for label, needles in _AREAS if any(n in where for n in needles)),
            "other (stdlib, builtins)",
        )
        areas[area] += own
        short = re.sub(r".*/site-packages/", "", filename.replace(f"{lib.REPO_ROOT}/", ""))
        functions.append(
            {
                "function": f"{short}:{line}({function})",
                "calls_per_request": calls / count,
                "own_ms": 1000 * own / count,
                "cumulative_ms": 1000 * cumulative / count,
            }
        )
    functions.sort(key=lambda row: row["own_ms"], reverse=True)
    steps = []
    for suffix, name, label in _PROFILED_STEPS:
        calls = cumulative = 0.0
        for (filename, _, function), (_, ncalls, _, ctime, _) in stats.stats.items():
            if function == name and filename.endswith("/" + suffix):
                calls, cumulative = calls + ncalls, cumulative + ctime
        if calls:
            steps.append(
                {
                    "step": label,
                    "calls_per_request": calls / count,
                    "cumulative_ms": 1000 * cumulative / count,
                }
            )
    return {
        "steps": steps,
        "requests": count,
        "wall_ms_per_request": 1000 * wall / count,
        "areas_ms_per_request": {
            label: 1000 * seconds / count for label, seconds in areas.most_common()
        },
        "top_functions": functions[:top],
    }


# --- load over HTTP ----------------------------------------------------------------------------


class _Client(threading.Thread):
    """One buyer after another on a keep-alive connection: take the next cart of the pool and
    complete it, until the deadline. What finishes inside the measured window counts (latency,
    status), whenever it started: at a few orders per second and ~2 s per completion, counting by
    start would leave out the requests in flight when the window opens, whose CPU it includes.
    What finishes during the warm-up or after the deadline is only tallied."""

    def __init__(self, *, port, pool, cursor, start_at, deadline, counter, budget, stop):
        super().__init__(daemon=True)
        self.port, self.pool, self.cursor = port, pool, cursor
        self.start_at, self.deadline = start_at, deadline
        self.counter, self.budget, self.stop = counter, budget, stop
        self.latencies: list[float] = []
        self.statuses: list[int] = []
        self.outside: Counter[int] = Counter()  # statuses of the warm-up and of late finishers
        self.samples: list[str] = []
        self.last_finish = 0.0
        self.ran_out = False

    def run(self) -> None:
        body = json.dumps(BODY).encode()
        connection = None
        while not self.stop.is_set():
            started = time.perf_counter()
            if started >= self.deadline:
                break
            if started >= self.start_at and next(self.counter) >= self.budget:
                break
            index = next(self.cursor)  # atomic in CPython
            if index >= len(self.pool):
                self.ran_out = True
                break
            path = COMPLETE_PATH.format(token=self.pool[index])
            headers = {
                **lib.REQUEST_HEADERS,
                "Content-Type": "application/json",
                "Idempotency-Key": uuid.uuid4().hex,
            }
            status, answer = 0, b""
            try:
                if connection is None:
                    connection = http.client.HTTPConnection(lib.HOST, self.port, timeout=60)
                connection.request("POST", path, body=body, headers=headers)
                response = connection.getresponse()
                answer = response.read()
                status = response.status
                if response.will_close:
                    connection.close()
                    connection = None
            except (OSError, http.client.HTTPException) as error:
                if connection is not None:
                    connection.close()
                connection = None
                answer = repr(error).encode()
            finished = time.perf_counter()
            if status != 201 and len(self.samples) < 3:
                self.samples.append(f"HTTP {status or 'error'}: {answer[:300]!r}")
            if not self.start_at <= finished <= self.deadline:
                self.outside[status] += 1
                continue
            self.latencies.append(finished - started)
            self.statuses.append(status)
            self.last_finish = finished
        if connection is not None:
            connection.close()


class _SessionSampler(threading.Thread):
    """Every 50 ms, the database's client sessions by state (own connection, not counted):
    running a statement, waiting for a lock, or idle in a transaction (waiting for Python)."""

    SQL = (
        "SELECT count(*) FILTER (WHERE state = 'active' AND wait_event_type IS DISTINCT FROM "
        "'Lock'), count(*) FILTER (WHERE wait_event_type = 'Lock'), "
        "count(*) FILTER (WHERE state LIKE 'idle in transaction%') FROM pg_stat_activity "
        "WHERE datname = current_database() AND backend_type = 'client backend' "
        "AND pid <> pg_backend_pid()"
    )

    def __init__(self):
        super().__init__(daemon=True)
        self.stop = threading.Event()
        self.samples: list[tuple[int, int, int]] = []

    def run(self) -> None:
        try:
            with lib._admin_connection() as connection:
                while not self.stop.wait(0.05):
                    self.samples.append(connection.execute(self.SQL).fetchone())
        except Exception as error:  # diagnostics only: the measurement goes on without them
            lib.log(f"    (no session samples: {error})")

    def averages(self) -> dict | None:
        if not self.samples:
            return None
        count = len(self.samples)
        return {
            name: sum(sample[index] for sample in self.samples) / count
            for index, name in enumerate(["running", "lock_wait", "idle_in_transaction"])
        } | {"samples": count}


def _measure(name, description, pool, *, server, args, database_pid) -> dict:
    stop = threading.Event()
    start_at = time.perf_counter() + args.warmup
    deadline = start_at + args.duration
    counter, cursor = itertools.count(), itertools.count()
    clients = [
        _Client(
            port=server.port,
            pool=pool,
            cursor=cursor,
            start_at=start_at,
            deadline=deadline,
            counter=counter,
            budget=args.max_requests,
            stop=stop,
        )
        for _ in range(args.concurrency)
    ]
    for client in clients:
        client.start()
    try:
        time.sleep(max(start_at - time.perf_counter(), 0))
        sampler = _SessionSampler()
        before = lib.CpuSnapshot.take(server.pid, database_pid)
        sampler.start()
        for client in clients:  # until the deadline, or until all stopped early (pool, budget)
            client.join(timeout=max(deadline - time.perf_counter(), 0))
        after = lib.CpuSnapshot.take(server.pid, database_pid)
        sampler.stop.set()
        sampler.join()
        early = not any(client.is_alive() for client in clients)
        for client in clients:  # the requests in flight at the deadline finish, uncounted
            client.join()
    finally:
        stop.set()
    end = deadline
    if early:
        end = min(deadline, max((c.last_finish for c in clients), default=start_at))
    seconds = max(end - start_at, 1e-9)
    latencies = [value for client in clients for value in client.latencies]
    statuses = Counter(status for client in clients for status in client.statuses)
    outside = sum((client.outside for client in clients), Counter())
    ok = statuses.get(201, 0)
    summary = lib.Summary.of(latencies, sum(statuses.values()) - ok, seconds)
    ran_out = any(client.ran_out for client in clients)
    result = {
        "name": name,
        "description": description,
        "concurrency": args.concurrency,
        "summary": summary,
        "orders": ok,
        "orders_per_second": ok / seconds,
        "statuses": {str(code): count for code, count in sorted(statuses.items())},
        "statuses_outside_window": {str(code): n for code, n in sorted(outside.items())},
        "carts": len(pool),
        "carts_used": min(next(cursor), len(pool)),
        "pool_ran_out": ran_out,
        "error_samples": [sample for client in clients for sample in client.samples][:5],
        "cpu": lib.CpuUsage.between(before, after) if before.system is not None else None,
        "sessions": sampler.averages(),
    }
    lib.log(
        f"    {ok:,} orders in {seconds:.1f} s, {ok / seconds:,.1f}/s, p50 {summary.p50_ms:.1f} "
        f"ms, p95 {summary.p95_ms:.1f} ms, p99 {summary.p99_ms:.1f} ms, statuses "
        f"{result['statuses']}" + (" (the cart pool ran out)" if ran_out else "")
    )
    return result


def _warm_up(server, shop, template, variant_ids, *, run: str, clients: int) -> dict:
    """Before the first measurement: every worker thread of a fresh gunicorn opens its database
    connection and imports what a completion needs on its first requests (seconds at first)."""
    from django.db import connections

    pool = _bulk_carts(shop, variant_ids, template=template, run=run)
    connections.close_all()
    started = time.perf_counter()
    lib.log(f"checkout: warming up gunicorn with {len(pool)} completions")
    cursor = itertools.count()  # shared: the clients stop when the pool is used up
    threads = [
        _Client(
            port=server.port,
            pool=pool,
            cursor=cursor,
            start_at=started + 3600,  # nothing is measured
            deadline=started + 120,
            counter=itertools.count(),
            budget=len(pool),
            stop=threading.Event(),
        )
        for _ in range(clients)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    statuses = sum((thread.outside for thread in threads), Counter())
    return {
        "completions": len(pool),
        "seconds": round(time.perf_counter() - started, 2),
        "statuses": {str(code): n for code, n in sorted(statuses.items())},
    }


def _orders_for(tokens: list[str]) -> int:
    from orders.models import Order

    count = 0
    for start in range(0, len(tokens), BATCH):
        count += Order.objects.filter(cart__token__in=tokens[start : start + BATCH]).count()
    return count


def _drop_unused(tokens: list[str]) -> None:
    from orders.models import Cart

    for start in range(0, len(tokens), BATCH):
        Cart.objects.filter(
            token__in=tokens[start : start + BATCH], state=Cart.State.OPEN, payments__isnull=True
        ).delete()


# --- the scenario ------------------------------------------------------------------------------


def prepare(options) -> lib.Plan:
    lib.log(
        f"checkout: shop {CHANNEL}: {PRODUCTS * VARIANTS_PER_PRODUCT:,} SKUs at "
        f"{STOCK_LEVEL:,} on hand in {LOCATION}, shipping method {SHIPPING_METHOD}"
    )
    shop = _ensure_shop()
    lib.log(f"checkout: shop ready in {shop['seconds']:.1f} s")
    routing_shop = fulfilment.prepare_shop()  # printed beside checkout, same baseline
    return lib.Plan(
        workloads=[],
        sweep=None,
        checks=[],
        profile_paths=[],
        info={
            "channel": CHANNEL,
            "location": LOCATION,
            "shipping_method": SHIPPING_METHOD,
            "skus": len(shop["variant_ids"]),
            "stock_level": STOCK_LEVEL,
            "shop_seconds": round(shop["seconds"], 2),
            "fulfilment": fulfilment.shop_info(routing_shop),
            "_shop": shop,
            "_routing_shop": routing_shop,
        },
    )


def run_in_process(args, plan: lib.Plan) -> tuple[dict, str, bool]:
    """The in-process SQL probe, then the HTTP measurements against a gunicorn of our own, then
    the pgbench TPC-B baseline. Returns (results for the JSON, rendered text, had errors)."""
    import random

    from django.db import connections

    from bench.scenarios.inventory import pgbench_tpcb

    shop = plan.info.pop("_shop")
    routing_shop = plan.info.pop("_routing_shop")
    variant_ids: list[int] = shop["variant_ids"]
    run = secrets.token_hex(4)
    rng = random.Random(5)
    hot = variant_ids[len(variant_ids) // 2]

    # In process: carts made through the services, completed one at a time.
    probe_count = 2 + PROBE_RUNS + (PROFILE_RUNS if args.profile else 0)
    lib.log(f"checkout: {probe_count} carts through the services, completed in process")
    probe_carts = [
        _service_cart(shop, rng.choice(variant_ids), EMAIL.format(run=f"{run}-p", index=i))
        for i in range(probe_count)
    ]
    _check_bulk_cart(shop, probe_carts[0], run)
    tokens = [cart.token for cart in probe_carts]
    probe = _probe(tokens[: 2 + PROBE_RUNS])
    profile = _profile(tokens[2 + PROBE_RUNS :]) if args.profile else None
    template = probe_carts[0]
    connections.close_all()

    database_pid = lib.postgres_postmaster_pid()
    connections.close_all()
    config = lib.GunicornConfig(workers=args.workers, threads=args.threads)
    pool_size = min(
        math.ceil(CARTS_PER_SECOND * (args.warmup + args.duration)),
        args.max_requests + math.ceil(CARTS_PER_SECOND * args.warmup),
    )
    workloads = [
        (
            "checkout: uncontended",
            f"complete a cart of 1 x a random SKU of {len(variant_ids):,}",
            lambda: [rng.choice(variant_ids) for _ in range(pool_size)],
        ),
        (
            "checkout: hot SKU",
            f"complete a cart of 1 x variant {hot} (every order the same SKU)",
            lambda: [hot] * pool_size,
        ),
    ]
    measurements, checks = [], []
    lib.log(f"checkout: starting gunicorn: {config.describe()}")
    with lib.Gunicorn(config) as server:
        warm = _warm_up(
            server,
            shop,
            template,
            [rng.choice(variant_ids) for _ in range(WARM_UP_PER_CLIENT * args.concurrency)],
            run=f"{run}-w",
            clients=args.concurrency,
        )
        lib.log(f"    {warm['completions']} completions in {warm['seconds']} s: {warm['statuses']}")
        for index, (name, description, lines) in enumerate(workloads, start=1):
            started = time.perf_counter()
            pool = _bulk_carts(shop, lines(), template=template, run=f"{run}-{index}")
            connections.close_all()
            lib.log(
                f"measuring {name}: {description} ({len(pool):,} carts made in "
                f"{time.perf_counter() - started:.1f} s)"
            )
            result = _measure(
                name,
                description,
                pool,
                server=server,
                args=args,
                database_pid=database_pid,
            )
            used = pool[: result["carts_used"]]
            created = result["statuses"].get("201", 0) + result["statuses_outside_window"].get(
                "201", 0
            )
            found = _orders_for(used)
            checks.append({"name": name, "answered_201": created, "orders_found": found})
            if found != created:
                lib.log(f"    WARNING: {created} answers 201 but {found} orders for those carts")
            _drop_unused(pool[result["carts_used"] :])
            connections.close_all()
            measurements.append(result)
        server_log = server.log_tail()

    # Routing and fulfilment creation for a batch of orders, in process (see fulfilment.py).
    routed = fulfilment.measure(args, routing_shop)

    baseline, baseline_error = None, ""
    if args.no_pgbench:
        baseline_error = "skipped (--no-pgbench)"
    else:
        try:
            baseline = pgbench_tpcb(clients=args.concurrency, duration=max(1, round(args.duration)))
        except lib.BenchError as error:
            baseline_error = str(error)
            lib.log(f"no pgbench TPC-B baseline: {error}")
        finally:
            lib.drop_pgbench_database()

    uncontended = measurements[0]["orders_per_second"]
    ratio = uncontended / baseline.tps if baseline and baseline.tps > 0 else None
    target = {
        "target": f"uncontended orders/s / pgbench TPC-B TPS >= {TARGET_RATIO:.3f} (1/10)",
        "value": None if ratio is None else round(ratio, 4),
        "met": None if ratio is None else ratio >= TARGET_RATIO,
    }
    text = _render(
        args,
        plan,
        config,
        probe,
        profile,
        measurements,
        checks,
        baseline,
        baseline_error,
        target,
        routed,
    )
    text += "\n" + fulfilment.render(routed, plan.info["fulfilment"], baseline, baseline_error)
    if server_log.strip():
        text += "\n\ngunicorn log (tail, checkout):\n" + server_log
    results = {
        "gunicorn": config.describe(),
        "pgbench_tpcb": lib.asdict(baseline) if baseline else {"error": baseline_error},
        "in_process": {k: v for k, v in probe.items() if k != "statements"},
        "sql": [
            {k: (round(v, 3) if k == "ms" else v) for k, v in statement.items()}
            for statement in probe["statements"]
        ],
        "profile": profile,
        "measurements": [
            m
            | {
                "summary": lib.asdict(m["summary"]),
                "cpu": lib.asdict(m["cpu"]) if m["cpu"] else None,
                "vs_pgbench_tpcb": m["orders_per_second"] / baseline.tps if baseline else None,
            }
            for m in measurements
        ],
        "warm_up": warm,
        "order_checks": checks,
        "target": target,
        "fulfilment": fulfilment.as_json(routed),
    }
    had_errors = (
        any(m["summary"].errors for m in measurements)
        or any(code != "201" for m in measurements for code in m["statuses_outside_window"])
        or any(code != "201" for code in warm["statuses"])
        or any(c["answered_201"] != c["orders_found"] for c in checks)
        or fulfilment.had_errors(routed)
    )
    return results, text, had_errors


# --- output ------------------------------------------------------------------------------------


def _ms(value: float) -> str:
    return "-" if value != value else (f"{value:.1f}" if value < 100 else f"{value:,.0f}")


def _table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows, strict=True)]

    def line(cells):
        return " | ".join(
            str(cell).ljust(width) if index == 0 else str(cell).rjust(width)
            for index, (cell, width) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    return "\n".join(
        [line(headers), "-+-".join("-" * w for w in widths), *(line(row) for row in rows)]
    )


def _render(
    args,
    plan,
    config,
    probe,
    profile,
    measurements,
    checks,
    baseline,
    baseline_error,
    target,
    routed=None,
) -> str:
    def vs(rps: float) -> str:
        if baseline is None or baseline.tps <= 0 or rps <= 0:
            return "-"
        return f"{rps / baseline.tps:.3f} (1:{baseline.tps / rps:,.1f})"

    rows = []
    if baseline is not None:
        rows.append(
            [
                "pgbench TPC-B (baseline)",
                f"{baseline.transactions:,}",
                f"{baseline.tps:,.0f}",
                f"avg {baseline.latency_avg_ms:.2f}",
                "-",
                "-",
                "-",
                "-",
                "-",
                "1",
            ]
        )
    for m in measurements:
        s, statuses = m["summary"], m["statuses"]
        others = sum(n for code, n in statuses.items() if code not in ("201", "409"))
        rows.append(
            [
                m["name"] + (" (pool ran out)" if m["pool_ran_out"] else ""),
                f"{m['orders']:,}",
                f"{m['orders_per_second']:,.1f}",
                _ms(s.p50_ms),
                _ms(s.p95_ms),
                _ms(s.p99_ms),
                _ms(s.max_ms),
                f"{statuses.get('409', 0):,}",
                f"{others:,}",
                vs(m["orders_per_second"]),
            ]
        )
    if routed is not None:  # the fulfilment batch of the same run (details further down)
        summary = routed["summary"]
        rows.append(
            [
                f"fulfilment: route {routed['orders']:,} orders (batch, in process)",
                f"{routed['routed']:,}",
                f"{routed['orders_per_second']:,.1f}",
                _ms(summary.p50_ms),
                _ms(summary.p95_ms),
                _ms(summary.p99_ms),
                _ms(summary.max_ms),
                "-",
                f"{sum(routed['errors'].values()):,}",
                vs(routed["orders_per_second"]),
            ]
        )
    headers = ["scenario", "orders", "orders/s", "p50 ms", "p95 ms", "p99 ms", "max ms", "409"]
    cpu_rows = []
    for m in measurements:
        cpu, rate = m["cpu"], m["orders_per_second"]
        if cpu is None:
            continue

        def per_order(value, rate=rate):
            return "-" if value is None or rate <= 0 else f"{1000 * value / rate:.1f}"

        cpu_rows.append(
            [
                m["name"],
                f"{cpu.system:.2f}",
                f"{cpu.client:.2f}",
                "-" if cpu.server is None else f"{cpu.server:.2f}",
                "-" if cpu.database is None else f"{cpu.database:.2f}",
                "-" if cpu.other is None else f"{cpu.other:.2f}",
                per_order(cpu.server),
                per_order(cpu.database),
                *(
                    ["-"] * 3
                    if not m["sessions"]
                    else [
                        f"{m['sessions'][key]:.1f}"
                        for key in ("running", "lock_wait", "idle_in_transaction")
                    ]
                ),
            ]
        )
    lines = [
        "",
        f"== checkout (HTTP, {args.concurrency} concurrent keep-alive clients, "
        f"{args.duration:g} s per measurement after {args.warmup:g} s of warm-up) ==",
        f"shop: channel {CHANNEL} (JPY, prices include tax, JP 10 % / 8 %), {plan.info['skus']:,} "
        f"SKUs at {STOCK_LEVEL:,} on hand in {LOCATION}, shipping {SHIPPING_METHOD} "
        f"(JP {SHIPPING_PRICE} JPY); ready in {plan.info['shop_seconds']:.1f} s",
        f"gunicorn: {config.describe()}",
        "each request: POST /api/v1/carts/<token>/complete/ "
        f"{json.dumps(BODY)} with its own Idempotency-Key, on a cart with 1 line, an e-mail, a JP "
        "address and the shipping method (made beforehand, not timed)",
        (
            f"baseline: {baseline.command}: {baseline.tps:,.0f} TPS, average latency "
            f"{baseline.latency_avg_ms:.2f} ms"
            if baseline
            else f"baseline: none ({baseline_error})"
        ),
        "",
        _table([*headers, "other errors", "vs pgbench TPC-B"], rows),
    ]
    if cpu_rows:
        lines += [
            "",
            f"CPU during each measurement (average cores busy, of {os.cpu_count()}; client = the "
            "load generator, other = processes outside this run) and the database's sessions "
            "(average of samples every 50 ms: running a statement, waiting for a lock, idle in "
            "a transaction while Python works):",
            _table(
                [
                    "scenario",
                    "busy",
                    "client",
                    "gunicorn",
                    "postgres",
                    "other",
                    "gunicorn ms/order",
                    "postgres ms/order",
                    "pg running",
                    "pg lock wait",
                    "pg idle in tx",
                ],
                cpu_rows,
            ),
        ]
    lines += [
        "",
        f"in process (Django test client, one completion at a time; {probe['runs']} timed runs: "
        "total and SQL are medians, CPU and GC means):",
        _table(
            [
                "request",
                "SQL queries",
                "transactions",
                "total ms",
                "SQL ms",
                "CPU ms",
                "of it GC ms",
            ],
            [
                [
                    "checkout complete",
                    str(probe["queries"]),
                    f"{probe['transactions']} ({probe['commits']} commits + "
                    f"{probe['autocommit_statements']} autocommit)",
                    _ms(probe["total_ms"]),
                    _ms(probe["sql_ms"]),
                    _ms(probe["cpu_ms"]),
                    _ms(probe["gc_ms"]),
                ]
            ],
        ),
        "",
        f"SQL of one completion ({probe['queries']} statements, {probe['captured_sql_ms']:.1f} ms "
        f"in SQL of {probe['captured_ms']:.1f} ms, while capturing), by step:",
        _table(
            ["step", "statements", "SQL ms"],
            [
                [name, str(count), f"{total:.2f}"]
                for name, count, total in _group(
                    probe["statements"], lambda s: s["step"], by_name=True
                )
            ],
        ),
        "",
        "by statement and table:",
        _table(
            ["statement", "table", "count", "SQL ms"],
            [
                [*name.split(" | "), str(count), f"{total:.2f}"]
                for name, count, total in _group(
                    probe["statements"], lambda s: f"{s['kind']} | {s['table']}"
                )
            ],
        ),
    ]
    if profile:
        lines += [
            "",
            f"cProfile of {profile['requests']} completions in process: "
            f"{profile['wall_ms_per_request']:.1f} ms each under the profiler "
            "(which inflates Python-heavy code); own time per completion, by area:",
        ]
        lines += [
            f"    {value:7.2f} ms  {label}"
            for label, value in profile["areas_ms_per_request"].items()
        ]
        lines.append("  cumulative time of the completion's steps (ms per completion, calls):")
        lines += [
            f"    {row['cumulative_ms']:7.2f} ms  {row['calls_per_request']:4.1f}x  {row['step']}"
            for row in profile["steps"]
        ]
        lines.append("  top functions by own time (ms per completion, calls per completion):")
        lines += [
            f"    {row['own_ms']:7.2f} ms  {row['calls_per_request']:8.0f}x  {row['function']}"
            for row in profile["top_functions"]
        ]
    lines.append("")
    for check in checks:
        if check["answered_201"] != check["orders_found"]:
            lines.append(
                f"ERROR ({check['name']}): {check['answered_201']} answers 201, "
                f"{check['orders_found']} orders for those carts"
            )
    for m in measurements:
        if m["pool_ran_out"]:
            lines.append(
                f"note ({m['name']}): all {m['carts']:,} carts were used before the end; the "
                "figures cover the time until then"
            )
        outside = {c: n for c, n in m["statuses_outside_window"].items() if c != "201"}
        if outside:
            lines.append(
                f"error ({m['name']}): answers other than 201 during the warm-up or after the "
                f"deadline: {outside}"
            )
        for sample in m["error_samples"][:3]:
            lines.append(f"error sample ({m['name']}): {sample}")
    lines.append(
        f"target: {target['target']}: {target['value']} -> "
        + ("-" if target["met"] is None else "met" if target["met"] else "MISSED")
    )
    return "\n".join(lines)
