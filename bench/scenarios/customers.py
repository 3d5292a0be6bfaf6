"""Customers: RFM scores and rule segments over N customers, in process against PostgreSQL.

No HTTP and no catalogue: the runner (in this process, one connection) generates N customers
with purchase statistics in set-based SQL unless they are already there, then measures in the
same run on the same server:

- baseline: `SELECT count(*) FROM customers_customer` (a sequential scan of the same table);
- `rfm_recompute()`: one UPDATE with window functions over every buyer, plus the prospects;
- `segment_recompute(segment)` for three rule segments: the first run fills the memberships,
  the following runs are the steady state (nothing, or next to nothing, changes).

Every figure is printed beside the count(*) of the same run, as a ratio, and as customers/s.
"""

from __future__ import annotations

import os
import statistics
import time

from bench import lib

NAME = "customers"
NEEDS_CATALOGUE = False  # the runner need not seed products for this scenario
USES_PGBENCH_S = False  # its baseline is count(*) of the customers table, not pgbench -S
EMAIL_PATTERN = "bench-customer-%@bench.invalid"
COUNT_RUNS = 5  # after one discarded warm-up
RFM_RUNS = 3
STEADY_RUNS = 3  # segment recomputes after the one that fills the memberships
TABLES = [
    "customers_customer",
    "customers_customerspend",
    "customers_purchase",
    "customers_consent",
    "customers_segmentmembership",
]

# (slug, name, rule): what the issue asks to be measured.
SEGMENTS = [
    (
        "bench-big-spenders-email",
        "Spent > 50,000 JPY in 180 days, e-mail opt-in",
        [
            {"field": "spent", "currency": "JPY", "days": 180, "op": "gt", "value": 50000},
            {"field": "consent", "medium": "email"},
        ],
    ),
    (
        "bench-at-risk",
        "At risk or cannot lose",
        [{"field": "rfm_segment", "in": ["at_risk", "cannot_lose"]}],
    ),
    (
        "bench-churning-regulars",
        "Churn risk, 3+ orders",
        [{"field": "churn_risk", "value": True}, {"field": "orders", "op": "gte", "value": 3}],
    ),
]

# --- data --------------------------------------------------------------------------------------
#
# One row of parameters per customer (random() after setseed, so every generation is the same),
# then the purchases derived from them, then customers whose statistics are aggregated from
# those purchases exactly as customers/services/purchases.py:stats_refresh computes them (one
# currency per customer), their spend row, and consent.
#
# - 10% prospects (no order); 2% heavy buyers (10-59 orders, every 5-30 days); the rest
#   geometric: half of them 1 order, a quarter 2, ... (capped at 9), every 15-165 days.
# - last order within 3 years, skewed towards recent (days ago = 1095 * u^1.6).
# - 90% buy in JPY (order value log-normal around 5,000 JPY, a sixth of the
#   orders above ~12,000), 10% in USD (the same / 150); 4% had half an order refunded.
# - consent: e-mail answered by 70% (opted in 40%), SMS by 20% (opted in 12%).

_GENERATE = [
    "SELECT setseed(0.4242)",
    """
    CREATE TEMP TABLE bench_g ON COMMIT DROP AS
    SELECT nextval(pg_get_serial_sequence('customers_customer', 'id')) AS cid, i,
        CASE WHEN u0 < 0.10 THEN 0
             WHEN u0 < 0.12 THEN 10 + floor(u1 * 50)::int
             ELSE LEAST(1 + floor(ln(1 - u1) / ln(0.5))::int, 9) END AS n,
        1095 * power(u2, 1.6) AS last_days,
        CASE WHEN u0 >= 0.10 AND u0 < 0.12 THEN 5 + 25 * u3 ELSE 15 + 150 * u3 END AS gap,
        CASE WHEN u4 < 0.9 THEN 'JPY' ELSE 'USD' END AS currency,
        exp(ln(5000) + 2 * (u5 + u6 + u7 - 1.5)) AS value_jpy,
        u8 < 0.04 AS refund,
        1095 * u9 AS prospect_days,
        u10 AS email_u, u11 AS sms_u
    FROM (
        SELECT i, random() AS u0, random() AS u1, random() AS u2, random() AS u3,
            random() AS u4, random() AS u5, random() AS u6, random() AS u7, random() AS u8,
            random() AS u9, random() AS u10, random() AS u11
        FROM generate_series(1, %(n)s) AS i
    ) AS u
    """,
    """
    CREATE TEMP TABLE bench_p ON COMMIT DROP AS
    SELECT cid, k, currency, paid_at, total,
        CASE WHEN refund AND k = 0 THEN round(total / 2, 2) ELSE 0 END AS refunded
    FROM (
        SELECT g.cid, k, g.currency, g.refund,
            %(now)s - (g.last_days + k * g.gap) * interval '1 day' AS paid_at,
            CASE WHEN g.currency = 'JPY'
                 THEN round((g.value_jpy * (0.6 + 0.8 * random()))::numeric, 0)
                 ELSE round((g.value_jpy * (0.6 + 0.8 * random()) / 150)::numeric, 2)
            END AS total
        FROM bench_g AS g, generate_series(0, g.n - 1) AS k
    ) AS p
    """,
    """
    CREATE TEMP TABLE bench_s ON COMMIT DROP AS
    SELECT cid, currency, count(*) AS orders, sum(total) AS paid, sum(refunded) AS refunded,
        min(paid_at) AS first_at, max(paid_at) AS last_at,
        CASE WHEN count(*) >= 2 THEN round((extract(epoch FROM max(paid_at) - min(paid_at))
            / 86400 / (count(*) - 1))::numeric, 1) END AS rhythm
    FROM bench_p GROUP BY cid, currency
    """,
    """
    INSERT INTO customers_customer (
        id, user_id, state, merged_into_id, first_name, last_name, first_name_reading,
        last_name_reading, email, phone, language, acquired_channel_id, acquired_at, notes,
        erased_at, updated_at, order_count, first_order_at, last_order_at, primary_currency,
        lifetime_value, average_order_value, average_days_between_orders, churn_risk_from,
        rfm_recency, rfm_frequency, rfm_monetary, rfm_segment, churn_risk, scores_computed_at)
    SELECT g.cid, NULL, 'active', NULL, 'Bench', 'Customer ' || g.i, '', '',
        'bench-customer-' || g.i || '@bench.invalid', '',
        CASE WHEN g.currency = 'USD' THEN 'en' ELSE 'ja' END, NULL,
        COALESCE(s.first_at, %(now)s - g.prospect_days * interval '1 day')
            - interval '1 hour', '', NULL, %(now)s,
        COALESCE(s.orders, 0), s.first_at, s.last_at, COALESCE(s.currency, ''),
        COALESCE(s.paid - s.refunded, 0), COALESCE((s.paid - s.refunded) / s.orders, 0),
        s.rhythm,
        s.last_at + CASE WHEN s.rhythm IS NULL THEN %(single)s
                         ELSE GREATEST(s.rhythm * %(factor)s, %(floor)s) END
            * interval '1 day',
        NULL, NULL, NULL, 'prospect', false, NULL
    FROM bench_g AS g LEFT JOIN bench_s AS s ON s.cid = g.cid
    ORDER BY g.cid
    """,
    """
    INSERT INTO customers_customerspend (
        customer_id, currency, order_count, total_spent, total_refunded)
    SELECT cid, currency, orders, paid, refunded FROM bench_s ORDER BY cid
    """,
    """
    INSERT INTO customers_purchase (
        customer_id, order_id, order_number, channel_id, currency, total, refunded, paid_at)
    SELECT cid, 'bench-' || cid || '-' || k, '', NULL, currency, total, refunded, paid_at
    FROM bench_p ORDER BY cid, k
    """,
    """
    INSERT INTO customers_consent (customer_id, medium, granted, text_version, changed_at)
    SELECT c.id, m.medium, m.granted, 'bench-v1', c.acquired_at + interval '1 minute'
    FROM bench_g AS g JOIN customers_customer AS c ON c.id = g.cid
    CROSS JOIN LATERAL (VALUES ('email', g.email_u < 0.7, g.email_u < 0.4),
                               ('sms', g.sms_u < 0.2, g.sms_u < 0.12))
        AS m (medium, answered, granted)
    WHERE m.answered
    ORDER BY c.id
    """,
]

_BENCH_IDS = f"SELECT id FROM customers_customer WHERE email LIKE '{EMAIL_PATTERN}'"
_DELETE = [
    f"DELETE FROM {table} WHERE customer_id IN ({_BENCH_IDS})"
    for table in (
        "customers_segmentmembership",
        "customers_consent",
        "customers_consentchange",
        "customers_purchase",
        "customers_customerspend",
        "customers_historyentry",
    )
] + [f"DELETE FROM customers_customer WHERE id IN ({_BENCH_IDS})"]


def _scalar(sql: str, params=None):
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()[0]


def _ensure_customers(wanted: int) -> dict:
    """Generate `wanted` bench customers unless exactly that many are there already."""
    from django.conf import settings
    from django.db import connection, transaction
    from django.utils import timezone

    there = _scalar(f"SELECT count(*) FROM ({_BENCH_IDS}) AS b")
    info = {"customers_wanted": wanted, "bench_customers_before": there}
    if there == wanted:
        lib.log(f"customers: reusing the {there:,} bench customers already there")
        info["generated"] = False
        info["generate_seconds"] = None
    else:
        lib.log(f"customers: generating {wanted:,} customers (the database holds {there:,})")
        started = time.perf_counter()
        params = {
            "n": wanted,
            "now": timezone.now(),
            "single": settings.CUSTOMERS_CHURN_SINGLE_ORDER_DAYS,
            "factor": settings.CUSTOMERS_CHURN_RHYTHM_FACTOR,
            "floor": settings.CUSTOMERS_CHURN_MIN_DAYS,
        }
        steps = []
        with transaction.atomic(), connection.cursor() as cursor:
            for sql in _DELETE:
                cursor.execute(sql)
            steps.append(("delete old bench customers", time.perf_counter() - started))
            for sql in _GENERATE:
                step_started = time.perf_counter()
                cursor.execute(sql, params if "%(" in sql else None)
                steps.append((" ".join(sql.split()[:3]), time.perf_counter() - step_started))
        info["generate_steps"] = {name: round(seconds, 2) for name, seconds in steps}
        info["generated"] = True
        info["generate_seconds"] = round(time.perf_counter() - started, 2)
        lib.log(
            f"customers: generated in {info['generate_seconds']:.1f} s: "
            + ", ".join(f"{name} {sec:.1f} s" for name, sec in info["generate_steps"].items())
        )
    started = time.perf_counter()
    with connection.cursor() as cursor:
        for table in TABLES:
            cursor.execute(f'VACUUM (ANALYZE) "{table}"')
    info["vacuum_seconds"] = round(time.perf_counter() - started, 2)
    return info


def _data_profile() -> dict:
    """What the generated data looks like (for the output and the JSON)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT count(*), count(*) FILTER (WHERE state = 'active'),
                count(*) FILTER (WHERE order_count = 0),
                count(*) FILTER (WHERE order_count = 1),
                count(*) FILTER (WHERE order_count BETWEEN 2 AND 9),
                count(*) FILTER (WHERE order_count >= 10),
                count(*) FILTER (WHERE primary_currency = 'JPY'),
                count(*) FILTER (WHERE primary_currency = 'USD'),
                min(last_order_at), max(last_order_at),
                pg_relation_size('customers_customer'),
                pg_total_relation_size('customers_customer')
            FROM customers_customer
            """
        )
        row = cursor.fetchone()
        cursor.execute(
            "SELECT (SELECT count(*) FROM customers_purchase), "
            "(SELECT count(*) FROM customers_customerspend), "
            "(SELECT count(*) FROM customers_consent WHERE medium = 'email' AND granted)"
        )
        purchases, spend, email_opt_in = cursor.fetchone()
    keys = [
        "customers",
        "active",
        "prospects",
        "one_order",
        "two_to_nine_orders",
        "ten_plus_orders",
        "jpy",
        "usd",
        "first_last_order_at",
        "last_last_order_at",
        "heap_bytes",
        "total_bytes",
    ]
    profile = dict(zip(keys, row, strict=True))
    profile.update(purchases=purchases, spend_rows=spend, email_opt_in=email_opt_in)
    for key in ("first_last_order_at", "last_last_order_at"):
        profile[key] = profile[key].isoformat(timespec="seconds") if profile[key] else None
    return profile


def prepare(options) -> lib.Plan:
    info = _ensure_customers(options.customers)
    info["data"] = _data_profile()
    return lib.Plan(workloads=[], sweep=None, checks=[], profile_paths=[], info=info)


# --- the measurements ---------------------------------------------------------------------------


class _Timed:
    """Wall time and CPU (this process, PostgreSQL) of a block."""

    def __init__(self, database_pid: int | None):
        self.database_pid = database_pid
        self.seconds = 0.0
        self.python_cpu: float | None = None
        self.postgres_cpu: float | None = None
        self.other_cores: float | None = None  # average cores used by everything else

    def __enter__(self) -> _Timed:
        self._before = lib.CpuSnapshot.take(None, self.database_pid)
        self._started = time.perf_counter()
        return self

    def __exit__(self, *exc_info) -> None:
        self.seconds = time.perf_counter() - self._started
        after = lib.CpuSnapshot.take(None, self.database_pid)
        self.python_cpu = after.client - self._before.client
        if after.database is not None and self._before.database is not None:
            self.postgres_cpu = after.database - self._before.database
        # Only meaningful over more than a few clock ticks.
        if after.system is not None and self._before.system is not None and self.seconds > 0.5:
            busy = after.system - self._before.system
            other = busy - self.python_cpu - (self.postgres_cpu or 0.0)
            self.other_cores = max(other, 0.0) / max(self.seconds, 1e-9)


def _row(name: str, runs: list[_Timed], rows: str, customers: int, **extra) -> dict:
    def median(values):
        values = [v for v in values if v is not None]
        return statistics.median(values) if values else None

    seconds = [run.seconds for run in runs]
    return {
        "name": name,
        "runs": len(runs),
        "median_ms": 1000 * statistics.median(seconds),
        "min_ms": 1000 * min(seconds),
        "max_ms": 1000 * max(seconds),
        "all_ms": [round(1000 * s, 1) for s in seconds],
        "python_cpu_ms": None
        if median([r.python_cpu for r in runs]) is None
        else 1000 * median([r.python_cpu for r in runs]),
        "postgres_cpu_ms": None
        if median([r.postgres_cpu for r in runs]) is None
        else 1000 * median([r.postgres_cpu for r in runs]),
        "other_cores": median([r.other_cores for r in runs]),
        "rows": rows,
        "customers_per_second": customers / statistics.median(seconds),
    } | extra


def _fmt_ms(value: float | None) -> str:
    if value is None:
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


def _count_plan() -> str:
    """The scan that count(*) used, e.g. `Seq Scan` or `Index Only Scan using ...`."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN SELECT count(*) FROM customers_customer")
        lines = [row[0].strip().lstrip("-> ").split("  (")[0] for row in cursor.fetchall()]
    return "; ".join(line for line in lines if "Scan" in line)


def _count_star(database_pid, runs: int = COUNT_RUNS) -> list[_Timed]:
    from django.db import connection

    timed = []
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM customers_customer")  # warm-up, discarded
        cursor.fetchone()
        for _ in range(runs):
            with _Timed(database_pid) as t:
                cursor.execute("SELECT count(*) FROM customers_customer")
                cursor.fetchone()
            timed.append(t)
    return timed


def _segments():
    from customers.models import Segment, SegmentMembership

    segments = []
    for slug, name, rule in SEGMENTS:
        segment, _ = Segment.objects.update_or_create(
            slug=slug, defaults={"name": name, "rule": rule, "is_active": True}
        )
        segments.append(segment)
    # The first recompute fills the memberships from nothing.
    SegmentMembership.objects.filter(segment__in=segments).delete()
    Segment.objects.filter(pk__in=[s.pk for s in segments]).update(member_count=0, computed_at=None)
    return segments


def run_in_process(args, plan: lib.Plan) -> tuple[dict, str, bool]:
    """Measure, print nothing; returns (results for the JSON, rendered text, had errors)."""
    from django.db import connection, connections

    from customers.models import Customer
    from customers.segments import rfm_recompute, segment_recompute

    database_pid = lib.postgres_postmaster_pid()
    customers = Customer.objects.count()
    active = Customer.objects.filter(state=Customer.State.ACTIVE).count()

    lib.log(f"customers: SELECT count(*) FROM customers_customer x {COUNT_RUNS}")
    baseline_plan = _count_plan()
    baseline_runs = _count_star(database_pid)
    baseline = _row(
        "SELECT count(*) (baseline)", baseline_runs, f"{customers:,}", customers, plan=baseline_plan
    )

    lib.log(f"customers: rfm_recompute() x {RFM_RUNS}, each after a VACUUM")
    # The first run scores customers who have none (every row is written, as after a bulk
    # import); the next ones find the scores in place and write only what changed, as the
    # nightly beat task does.
    Customer.objects.update(
        rfm_recency=None, rfm_frequency=None, rfm_monetary=None, rfm_segment="prospect"
    )
    rfm_runs, rfm_results = [], []
    for _ in range(RFM_RUNS):
        # The beat task runs once a day: autovacuum has cleaned up after the previous run.
        with connection.cursor() as cursor:
            cursor.execute("VACUUM customers_customer")
        with _Timed(database_pid) as t:
            rfm_results.append(rfm_recompute())
        rfm_runs.append(t)
        lib.log(f"    {1000 * t.seconds:,.0f} ms: {rfm_results[-1]}")
    scored, prospects = rfm_results[-1].scored, rfm_results[-1].prospects
    rfm_first = _row(
        "rfm_recompute(), first (all rows written)",
        rfm_runs[:1],
        f"{scored:,} scored ({rfm_results[0].changed:,} written) + {prospects:,} prospects",
        active,
        scored=scored,
        changed=rfm_results[0].changed,
        prospects=prospects,
    )
    rfm = _row(
        "rfm_recompute(), again (changes only)",
        rfm_runs[1:],
        f"{scored:,} scored ({rfm_results[-1].changed:,} written)",
        active,
        scored=scored,
        changed=rfm_results[-1].changed,
        prospects=prospects,
    )
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT rfm_segment, count(*) FROM customers_customer GROUP BY 1 ORDER BY 2 DESC"
        )
        rfm_bands = dict(cursor.fetchall())
        cursor.execute("SELECT pg_relation_size('customers_customer')")
        heap_after_rfm = cursor.fetchone()[0]
    # The segments run right after the scores, as in the beat task: on a table that holds the
    # old row versions of the last RFM run. The same count(*) shows what that costs a scan.
    after_rfm_plan = _count_plan()
    after_rfm = _row(
        "SELECT count(*) after RFM",
        _count_star(database_pid),
        f"{customers:,} ({heap_after_rfm / 2**20:,.1f} MiB heap)",
        customers,
        plan=after_rfm_plan,
    )

    segments = _segments()
    fill_runs: dict[str, _Timed] = {}
    steady_runs: dict[str, list[_Timed]] = {s.slug: [] for s in segments}
    members: dict[str, list[int]] = {s.slug: [] for s in segments}
    lib.log("customers: segment_recompute, first run (fills the memberships)")
    fill_total = _Timed(database_pid)
    with fill_total:
        for segment in segments:
            with _Timed(database_pid) as t:
                members[segment.slug].append(segment_recompute(segment))
            fill_runs[segment.slug] = t
            lib.log(
                f"    {segment.slug}: {1000 * t.seconds:,.0f} ms, {members[segment.slug][-1]:,}"
            )
    steady_totals = []
    for run in range(STEADY_RUNS):
        lib.log(f"customers: segment_recompute, steady state run {run + 1}/{STEADY_RUNS}")
        with _Timed(database_pid) as total:
            for segment in segments:
                with _Timed(database_pid) as t:
                    members[segment.slug].append(segment_recompute(segment))
                steady_runs[segment.slug].append(t)
                lib.log(
                    f"    {segment.slug}: {1000 * t.seconds:,.0f} ms, {members[segment.slug][-1]:,}"
                )
        steady_totals.append(total)
    connections.close_all()

    n_segments = len(segments)
    measurements = [
        baseline,
        rfm_first,
        rfm,
        after_rfm,
        _row(
            f"segments, first run ({n_segments}, fill)",
            [fill_total],
            f"{sum(m[0] for m in members.values()):,} members",
            active * n_segments,
        ),
        *(
            _row(
                f"    {s.slug}",
                [fill_runs[s.slug]],
                f"{members[s.slug][0]:,} members",
                active,
                members=members[s.slug][0],
            )
            for s in segments
        ),
        _row(
            f"segments, steady state ({n_segments})",
            steady_totals,
            f"{sum(m[-1] for m in members.values()):,} members",
            active * n_segments,
        ),
        *(
            _row(
                f"    {s.slug}",
                steady_runs[s.slug],
                f"{members[s.slug][-1]:,} members",
                active,
                members=members[s.slug][-1],
            )
            for s in segments
        ),
    ]
    base_ms = baseline["median_ms"]
    for m in measurements:
        m["vs_count"] = m["median_ms"] / base_ms if base_ms > 0 else None

    rows = [
        [
            m["name"],
            str(m["runs"]),
            _fmt_ms(m["median_ms"]),
            _fmt_ms(m["min_ms"]),
            _fmt_ms(m["max_ms"]),
            _fmt_ms(m["python_cpu_ms"]),
            _fmt_ms(m["postgres_cpu_ms"]),
            "-" if m["other_cores"] is None else f"{m['other_cores']:.2f}",
            "-" if m["vs_count"] is None else f"{m['vs_count']:,.1f}",
            f"{m['customers_per_second']:,.0f}",
            m["rows"],
        ]
        for m in measurements
    ]
    headers = ["measurement", "runs", "median ms", "min ms", "max ms", "python CPU ms"]
    headers += ["postgres CPU ms", "other cores", "x count(*)", "customers/s", "rows"]
    data = plan.info["data"]
    generated = (
        f"generated in {plan.info['generate_seconds']:.1f} s"
        if plan.info["generated"]
        else "reused (already there)"
    )
    lines = [
        "",
        f"== customers (in process, one connection, {os.cpu_count()} CPUs) ==",
        f"data: {data['customers']:,} customers ({data['active']:,} active; "
        f"{plan.info['customers_wanted']:,} bench customers {generated}; VACUUM ANALYZE "
        f"{plan.info['vacuum_seconds']:.1f} s): {data['prospects']:,} without orders, "
        f"{data['one_order']:,} with 1, {data['two_to_nine_orders']:,} with 2-9, "
        f"{data['ten_plus_orders']:,} with 10+; {data['jpy']:,} JPY, {data['usd']:,} USD; "
        f"{data['purchases']:,} purchases, {data['spend_rows']:,} spend rows, "
        f"{data['email_opt_in']:,} e-mail opt-ins; table {data['heap_bytes'] / 2**20:,.1f} MiB "
        f"heap, {data['total_bytes'] / 2**20:,.1f} MiB with indexes",
        "CPU: python and postgres CPU ms are medians per run (/proc, 10 ms ticks); other cores "
        "= average cores used by processes outside this run (above 0.25: a busy machine)",
        f"baseline: SELECT count(*) FROM customers_customer, median of {COUNT_RUNS} after a "
        f"warm-up: {base_ms:.1f} ms (freshly vacuumed table; plan: {baseline_plan}; after the "
        f"RFM runs: {after_rfm_plan})",
        f"rfm_recompute: each run after a (not timed) VACUUM of customers_customer, as the daily "
        f"task would find it; RFM runs ms: {', '.join(f'{v:,.0f}' for v in rfm_first['all_ms'] + rfm['all_ms'])}; "
        f"heap after: {heap_after_rfm / 2**20:,.1f} MiB",
        f"segments: right after the last RFM run (as in the beat task); the first run fills "
        f"the memberships from none, then {STEADY_RUNS} steady-state runs",
        f"customers/s = active customers evaluated ({active:,}; x {n_segments} for the segment "
        "totals) / median wall time; x count(*) = median ms / the baseline's",
        "",
        _table(headers, rows),
        "",
        "RFM bands after the run: "
        + ", ".join(f"{band} {count:,}" for band, count in rfm_bands.items()),
    ]
    for slug, counts in members.items():
        lines.append(f"members of {slug} per run: {', '.join(f'{c:,}' for c in counts)}")
    results = {
        "customers": customers,
        "active": active,
        "data": data,
        "rfm_bands": rfm_bands,
        "heap_bytes_after_rfm": heap_after_rfm,
        "segments": {slug: {"rule": rule, "members": members[slug]} for slug, _, rule in SEGMENTS},
        "measurements": measurements,
        "target": {"target": "none: reported only (issue #4)", "value": None, "met": None},
    }
    return results, "\n".join(lines), False
