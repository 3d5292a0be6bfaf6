"""Fulfilment: routing and fulfilment creation for a batch of orders, in process.

The scenario brings its own small omnichannel shop (no demo catalogue needed): the channel
`bench-routing` (JPY), 1,000 SKUs, three warehouses (Chiba and Osaka at routing priority 10,
Fukuoka at 20) and a store with ship-from-store on (Umeda, priority 50), each with its
coordinates. Every SKU is stocked (1,000,000 on hand, through the ledger: `stock_set_levels`) in
a seeded random subset of the four locations (each holds a share of the range: 70 %, 60 %,
50 %, 35 %; every SKU somewhere), so an order whose lines no single location holds is split.

Then N orders (10,000; `--quick` 1,000) are generated directly (`bulk_create` of `Order` and
`OrderLine` rows with numbers, 1-4 lines of 1-2 units of distinct SKUs, a delivery address in
one of 14 prefectures, no allocation), as an importer or a failed-over queue would leave them.
What is timed is the batch: each order is read (500 per query, with its channel and shipping
method) and `orders.services.order_route(order)` is called in its own `transaction.atomic()`:
candidate locations ranked by priority, country and distance, the allocation through the ledger
(`stock_reserve` with the routing planner, under the stock row locks), one `Fulfilment` with its
lines per location, the routing decision on the order, its history and `fulfilment.created`
(handed to the broker after commit). Before the batch, 20 more orders are routed the same way
(not timed: the warm-up) with their SQL grouped by statement and table. Afterwards the ledger is
reconciled (`stock_reconcile` must find no drift).

Printed beside the checkout scenario (`./dev bench checkout` runs both, with one pgbench
TPC-B baseline), or alone with `./dev bench fulfilment`.
"""

from __future__ import annotations

import random
import secrets
import time
from collections import Counter
from decimal import Decimal

from bench import lib

NAME = "fulfilment"
NEEDS_CATALOGUE = False  # it seeds its own shop (channel, SKUs, locations, stock)
USES_PGBENCH_S = False  # its baseline is pgbench TPC-B (shared with checkout when run with it)

CHANNEL = "bench-routing"
PRODUCT_TYPE = "bench-routing-goods"
PRODUCT_SLUG = "bench-routing-{:03d}"
SKU = "BENCH-RT-{:03d}-{:02d}"
PRODUCTS = 50
VARIANTS_PER_PRODUCT = 20  # 1,000 SKUs
STOCK_LEVEL = 1_000_000
SHIPPING_METHOD = "bench-routing-parcel"
CARRIER = "bench-routing-carrier"
BATCH = 2_000
READ_CHUNK = 500  # orders read per query in the timed batch
PROBE_ORDERS = 20  # routed before the batch (warm-up), their SQL grouped by statement and table
STOCK_SEED = 11
ORDER_SEED = 29
# code, name, kind, region, city, latitude, longitude, routing priority, handling days, share
LOCATIONS = [
    ("bench-rt-chiba", "Bench Chiba warehouse", "warehouse", "Chiba", "Ichikawa", "35.72190",
     "139.93100", 10, 1, 0.70),
    ("bench-rt-osaka", "Bench Osaka warehouse", "warehouse", "Osaka", "Suminoe", "34.60970",
     "135.48280", 10, 1, 0.60),
    ("bench-rt-fukuoka", "Bench Fukuoka warehouse", "warehouse", "Fukuoka", "Kasuya",
     "33.61090", "130.48050", 20, 1, 0.50),
    ("bench-rt-umeda", "Bench Umeda store (ship-from-store)", "store", "Osaka", "Kita",
     "34.70250", "135.49590", 50, 0, 0.35),
]  # fmt: skip
# Destination prefectures, weighted roughly by population.
DESTINATIONS = [
    ("Tokyo", 14),
    ("Kanagawa", 9),
    ("Osaka", 9),
    ("Aichi", 7),
    ("Saitama", 7),
    ("Chiba", 6),
    ("Hyogo", 5),
    ("Hokkaido", 5),
    ("Fukuoka", 5),
    ("Kyoto", 3),
    ("Hiroshima", 3),
    ("Miyagi", 2),
    ("Kagoshima", 2),
    ("Okinawa", 1),
]
LINES_PER_ORDER = (1, 4)


# --- the shop ----------------------------------------------------------------------------------


def ensure_shop() -> dict:
    """Create or complete the routing shop (idempotent) and put its stock in place through the
    ledger (a count to STOCK_LEVEL where a location holds the SKU, 0 where it does not)."""
    from datetime import date

    from django.db import connection, transaction

    from catalog.models import Product, ProductType, ProductVariant, TaxClass
    from commerce.models import Channel
    from inventory.models import StockLocation
    from inventory.services import StockLevel, stock_set_levels
    from orders.models import Carrier, ShippingMethod, ShippingRate, TaxRate

    started = time.perf_counter()
    with transaction.atomic():
        channel, _ = Channel.objects.update_or_create(
            code=CHANNEL,
            defaults={
                "name": "Bench shop Japan (routing)",
                "kind": "web",
                "currency": "JPY",
                "prices_include_tax": True,
                "time_zone": "Asia/Tokyo",
                "default_language": "ja",
                "country": "JP",
                "is_active": True,
            },
        )
        standard, _ = TaxClass.objects.get_or_create(
            code="standard", defaults={"name": "Standard rate"}
        )
        TaxRate.objects.get_or_create(
            tax_class=standard,
            country="JP",
            region="",
            valid_from=date(2000, 1, 1),
            defaults={"rate": Decimal("0.10"), "name": "消費税 10%"},
        )
        product_type, _ = ProductType.objects.get_or_create(
            slug=PRODUCT_TYPE, defaults={"name": "Bench goods (routing)"}
        )
        slugs = [PRODUCT_SLUG.format(index) for index in range(PRODUCTS)]
        there = set(Product.objects.filter(slug__in=slugs).values_list("slug", flat=True))
        Product.objects.bulk_create(
            [
                Product(
                    product_type=product_type,
                    tax_class=standard,
                    name=f"Routing item {index:03d}",
                    slug=slug,
                    search_document=f"routing item {index:03d}",
                )
                for index, slug in enumerate(slugs)
                if slug not in there
            ]
        )
        products = dict(Product.objects.filter(slug__in=slugs).values_list("slug", "pk"))
        skus = {
            SKU.format(index, position): (products[slug], position)
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
                    weight_grams=300,
                    position=position,
                )
                for sku, (product_id, position) in skus.items()
                if sku not in there
            ],
            batch_size=BATCH,
        )
        variants = dict(ProductVariant.objects.filter(sku__in=skus).values_list("sku", "pk"))
        locations = []
        for code, name, kind, region, city, lat, lon, priority, handling, _share in LOCATIONS:
            location, _ = StockLocation.objects.update_or_create(
                code=code,
                defaults={
                    "name": name,
                    "kind": kind,
                    "country": "JP",
                    "region": region,
                    "city": city,
                    "latitude": Decimal(lat),
                    "longitude": Decimal(lon),
                    "handling_days": handling,
                    "ships_to_customers": True,
                    "pickup_enabled": kind == "store",
                    "counts_for_online": True,
                    "routing_priority": priority,
                    "is_active": True,
                },
            )
            location.channels.set([channel])
            locations.append(location)
        carrier, _ = Carrier.objects.update_or_create(
            code=CARRIER,
            defaults={
                "name": "Bench carrier",
                "tracking_url_template": "https://carrier.invalid/track/{number}",
            },
        )
        method, _ = ShippingMethod.objects.update_or_create(
            channel=channel,
            code=SHIPPING_METHOD,
            defaults={
                "name": "Bench parcel (routing)",
                "basis": "weight",
                "free_over": None,
                "transit_days": 2,
                "carrier": carrier,
                "is_active": True,
            },
        )
        ShippingRate.objects.update_or_create(
            method=method, country="JP", region="", from_threshold=0, defaults={"price": 800}
        )
    # Where each SKU is: each location holds its share of the range, every SKU somewhere.
    rng = random.Random(STOCK_SEED)
    variant_ids = sorted(variants.values())
    levels, held = [], Counter()
    for variant_id in variant_ids:
        while True:
            stocked = [rng.random() < spec[-1] for spec in LOCATIONS]
            if any(stocked):
                break
        for location, here in zip(locations, stocked, strict=True):
            levels.append(StockLevel(variant_id, location.pk, STOCK_LEVEL if here else 0))
            held[location.code] += here
    for start in range(0, len(levels), BATCH):
        stock_set_levels(
            levels=levels[start : start + BATCH],
            reference="bench-fulfilment",
            publish_signals=False,
        )
    with connection.cursor() as cursor:
        for table in ("inventory_stock", "inventory_stocklocation", "catalog_productvariant"):
            cursor.execute(f"ANALYZE {table}")
    return {
        "channel_id": channel.pk,
        "method_id": method.pk,
        "variants": {pk: sku for sku, pk in variants.items()},
        "held": dict(held),
        "seconds": time.perf_counter() - started,
    }


def _generate(shop: dict, count: int, run: str) -> list[int]:
    """`count` placed orders without allocation or fulfilment, in bulk. Returns their ids."""
    from django.db import transaction
    from django.utils import timezone

    from orders.models import Order, OrderLine

    rng = random.Random(ORDER_SEED)
    regions, weights = zip(*DESTINATIONS, strict=True)
    variant_ids = sorted(shop["variants"])
    now = timezone.now()
    unit = Decimal(1100)
    orders, lines = [], []
    for index in range(count):
        picked = rng.sample(variant_ids, rng.randint(*LINES_PER_ORDER))
        quantities = [2 if rng.random() < 0.2 else 1 for _ in picked]
        subtotal = unit * sum(quantities)
        region = rng.choices(regions, weights)[0]
        orders.append(
            Order(
                number=f"RT{run}{index:06d}",
                channel_id=shop["channel_id"],
                email=f"bench-routing-{run}-{index}@bench.invalid",
                language="ja",
                status=Order.Status.UNFULFILLED,
                payment_status=Order.PaymentStatus.PAID,
                payment_method="card",
                currency="JPY",
                prices_include_tax=True,
                subtotal=subtotal,
                shipping_total=Decimal(800),
                tax_total=(subtotal + 800) / 11,
                total=subtotal + 800,
                paid_total=subtotal + 800,
                shipping_address={
                    "first_name": "Hanako",
                    "last_name": "Yamada",
                    "line1": "1-2-3",
                    "city": "City",
                    "region": region,
                    "postal_code": "100-0001",
                    "country": "JP",
                },
                shipping_method_id=shop["method_id"],
                shipping_method_name="Bench parcel (routing)",
                placed_at=now,
                paid_at=now,
            )
        )
        lines.append(list(zip(picked, quantities, strict=True)))
    with transaction.atomic():
        Order.objects.bulk_create(orders, batch_size=BATCH)
        OrderLine.objects.bulk_create(
            [
                OrderLine(
                    order=order,
                    variant_id=variant_id,
                    sku=shop["variants"][variant_id],
                    product_name="Routing item",
                    variant_name="",
                    tax_class="standard",
                    quantity=quantity,
                    unit_price=unit,
                    amount=unit * quantity,
                    tax_rate=Decimal("0.10"),
                    tax=unit * quantity / 11,
                )
                for order, rows in zip(orders, lines, strict=True)
                for variant_id, quantity in rows
            ],
            batch_size=BATCH,
        )
    return [order.pk for order in orders]


# --- the measurement ---------------------------------------------------------------------------


def measure(args, shop: dict) -> dict:
    """Generate the orders, route them one by one (each in its own transaction), check the
    ledger. Returns the figures (JSON-able)."""
    from django.db import connection, connections, transaction

    from bench.scenarios.checkout import _statement
    from inventory.selectors import stock_reconcile
    from orders.models import Fulfilment, Order
    from orders.services import order_route

    count = args.fulfilment_orders
    run = secrets.token_hex(3)
    lib.log(
        f"fulfilment: generating {count:,} orders (1-4 lines each) in {CHANNEL}, and "
        f"{PROBE_ORDERS} more to warm up"
    )
    started = time.perf_counter()
    probe_ids, ids = _split(_generate(shop, PROBE_ORDERS + count, run), PROBE_ORDERS)
    generate_seconds = time.perf_counter() - started
    lines = Order.objects.filter(pk__in=ids).values("lines").count()

    # Warm-up (not timed): the first orders, with every statement grouped.
    kinds: Counter = Counter()

    def grouping(execute, sql, params, many, context):
        kinds[" | ".join(_statement(sql))] += 1
        return execute(sql, params, many, context)

    with connection.execute_wrapper(grouping):
        for order in Order.objects.filter(pk__in=probe_ids).select_related(
            "channel", "shipping_method"
        ):
            with transaction.atomic():
                order_route(order)
    connections.close_all()
    database_pid = lib.postgres_postmaster_pid()

    statements = 0

    def counting(execute, sql, params, many, context):
        nonlocal statements
        statements += 1
        return execute(sql, params, many, context)

    lib.log(f"fulfilment: routing {count:,} orders, each in its own transaction")
    latencies: list[float] = []
    errors: Counter = Counter()
    samples: list[str] = []
    before = lib.CpuSnapshot.take(None, database_pid)
    started = time.perf_counter()
    with connection.execute_wrapper(counting):
        for start in range(0, len(ids), READ_CHUNK):
            chunk = (
                Order.objects.filter(pk__in=ids[start : start + READ_CHUNK])
                .select_related("channel", "shipping_method")
                .order_by("pk")
            )
            for order in chunk:
                began = time.perf_counter()
                try:
                    with transaction.atomic():
                        order_route(order)
                except Exception as error:  # counted and reported, the batch goes on
                    errors[type(error).__name__] += 1
                    if len(samples) < 5:
                        samples.append(f"{order.number}: {type(error).__name__}: {error}")
                    continue
                latencies.append(time.perf_counter() - began)
    seconds = time.perf_counter() - started
    after = lib.CpuSnapshot.take(None, database_pid)
    cpu = lib.CpuUsage.between(before, after)

    per_order = Counter(
        Fulfilment.objects.filter(order_id__in=ids).values_list("order_id", flat=True)
    )
    by_location = Counter(
        Fulfilment.objects.filter(order_id__in=ids).values_list("location__code", flat=True)
    )
    routed = len(per_order)
    split = sum(1 for n in per_order.values() if n > 1)
    lib.log("fulfilment: reconciling the stock ledger")
    reconcile_started = time.perf_counter()
    drift = stock_reconcile()
    reconcile_seconds = time.perf_counter() - reconcile_started
    connections.close_all()
    summary = lib.Summary.of(latencies, sum(errors.values()), seconds)
    return {
        "orders": count,
        "lines": lines,
        "generate_seconds": round(generate_seconds, 2),
        "seconds": round(seconds, 3),
        "orders_per_second": routed / seconds if seconds > 0 else 0.0,
        "summary": summary,
        "max_ms": summary.max_ms,
        "statements": statements,
        "queries_per_order": statements / count if count else 0.0,
        "fulfilments": sum(per_order.values()),
        "routed": routed,
        "split_orders": split,
        "split_ratio": split / routed if routed else 0.0,
        "fulfilments_per_location": dict(sorted(by_location.items())),
        "cpu": cpu,
        "python_ms_per_order": 1000 * cpu.client * seconds / routed if routed else None,
        "postgres_ms_per_order": (
            1000 * cpu.database * seconds / routed if routed and cpu.database is not None else None
        ),
        "errors": dict(errors),
        "error_samples": samples,
        "reconcile_seconds": round(reconcile_seconds, 2),
        "drift": len(drift),
        "drift_samples": [str(d) for d in drift[:5]],
        "sql_per_order_by_statement": {
            name: round(n / PROBE_ORDERS, 2) for name, n in kinds.most_common()
        },
    }


def _split(ids: list[int], first: int) -> tuple[list[int], list[int]]:
    return ids[:first], ids[first:]


def had_errors(result: dict) -> bool:
    return bool(result["errors"]) or bool(result["drift"])


def as_json(result: dict) -> dict:
    return result | {
        "summary": lib.asdict(result["summary"]),
        "cpu": lib.asdict(result["cpu"]) if result["cpu"] else None,
    }


# --- output ------------------------------------------------------------------------------------


def _ms(value: float | None) -> str:
    if value is None or value != value:
        return "-"
    return f"{value:.1f}" if value < 100 else f"{value:,.0f}"


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


def render(result: dict, shop_info: dict, baseline, baseline_error: str) -> str:
    """The scenario's table; `baseline` is the pgbench TPC-B result of the same run."""
    summary = result["summary"]
    rate = result["orders_per_second"]
    vs = "-"
    if baseline is not None and baseline.tps > 0 and rate > 0:
        vs = f"{rate / baseline.tps:.3f} (1:{baseline.tps / rate:,.1f})"
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
                "1",
            ]
        )
    rows.append(
        [
            f"fulfilment: route {result['orders']:,} orders (batch)",
            f"{result['routed']:,}",
            f"{rate:,.1f}",
            _ms(summary.p50_ms),
            _ms(summary.p95_ms),
            _ms(summary.p99_ms),
            _ms(result["max_ms"]),
            f"{sum(result['errors'].values()):,}",
            vs,
        ]
    )
    cpu = result["cpu"]
    held = ", ".join(f"{code} {n:,}" for code, n in shop_info.get("held", {}).items())
    lines = [
        "",
        f"== fulfilment (in process: order_route for each order of a batch, one transaction "
        f"each; {result['orders']:,} orders, {result['lines']:,} lines) ==",
        f"shop: channel {CHANNEL}, {len(shop_info.get('held', {}))} locations serving it "
        f"(SKUs held: {held}); shop ready in {shop_info.get('shop_seconds', 0):.1f} s; orders "
        f"generated in {result['generate_seconds']:.1f} s (not timed)",
        (
            f"baseline: {baseline.command}: {baseline.tps:,.0f} TPS, average latency "
            f"{baseline.latency_avg_ms:.2f} ms"
            if baseline
            else f"baseline: none ({baseline_error})"
        ),
        "",
        _table(
            [
                "scenario",
                "orders",
                "orders/s",
                "p50 ms",
                "p95 ms",
                "p99 ms",
                "max ms",
                "errors",
                "vs pgbench TPC-B",
            ],
            rows,
        ),
        "",
        _table(
            [
                "batch",
                "seconds",
                "SQL/order",
                "fulfilments",
                "split orders",
                "split ratio",
                "python ms/order",
                "postgres ms/order",
                "other cores",
            ],
            [
                [
                    "fulfilment: route",
                    f"{result['seconds']:,.1f}",
                    f"{result['queries_per_order']:.1f}",
                    f"{result['fulfilments']:,}",
                    f"{result['split_orders']:,}",
                    f"{100 * result['split_ratio']:.1f} %",
                    _ms(result["python_ms_per_order"]),
                    _ms(result["postgres_ms_per_order"]),
                    "-" if cpu is None or cpu.other is None else f"{cpu.other:.2f}",
                ]
            ],
        ),
        "fulfilments by location: "
        + ", ".join(f"{code} {n:,}" for code, n in result["fulfilments_per_location"].items()),
        f"ledger: stock_reconcile() after the batch ({result['reconcile_seconds']:.1f} s): "
        + (
            "no drift"
            if not result["drift"]
            else f"{result['drift']} rows DRIFT, e.g. {result['drift_samples'][:2]}"
        ),
    ]
    lines += [
        "",
        f"SQL of routing one order (mean of the {PROBE_ORDERS} warm-up orders), by statement and "
        "table:",
        _table(
            ["statement", "table", "per order"],
            [
                [*name.split(" | "), f"{n:.2f}"]
                for name, n in result["sql_per_order_by_statement"].items()
            ],
        ),
    ]
    for sample in result["error_samples"]:
        lines.append(f"error sample (fulfilment): {sample}")
    return "\n".join(lines)


# --- the scenario ------------------------------------------------------------------------------


def prepare_shop() -> dict:
    lib.log(
        f"fulfilment: shop {CHANNEL}: {PRODUCTS * VARIANTS_PER_PRODUCT:,} SKUs over "
        f"{len(LOCATIONS)} locations ({', '.join(spec[0] for spec in LOCATIONS)})"
    )
    shop = ensure_shop()
    lib.log(f"fulfilment: shop ready in {shop['seconds']:.1f} s")
    return shop


def shop_info(shop: dict) -> dict:
    return {
        "channel": CHANNEL,
        "skus": len(shop["variants"]),
        "held": shop["held"],
        "stock_level": STOCK_LEVEL,
        "shop_seconds": round(shop["seconds"], 2),
    }


def prepare(options) -> lib.Plan:
    shop = prepare_shop()
    return lib.Plan(
        workloads=[],
        sweep=None,
        checks=[],
        profile_paths=[],
        info=shop_info(shop) | {"_shop": shop},
    )


def run_in_process(args, plan: lib.Plan) -> tuple[dict, str, bool]:
    """Alone (`./dev bench fulfilment`): the batch, then its own pgbench TPC-B baseline. With
    the checkout scenario, that scenario runs the batch and shares its baseline."""
    from bench.scenarios.inventory import pgbench_tpcb

    shop = plan.info.pop("_shop")
    result = measure(args, shop)
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
    text = render(result, plan.info, baseline, baseline_error)
    results = {
        "result": as_json(result),
        "pgbench_tpcb": lib.asdict(baseline) if baseline else {"error": baseline_error},
        "target": {"target": "none (reported)", "value": None, "met": None},
    }
    return results, text, had_errors(result)
