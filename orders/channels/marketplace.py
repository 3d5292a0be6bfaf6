"""Marketplace orders: a marketplace's export (CSV or JSON) becomes orders in its channel.

Each marketplace order is placed in its own transaction, through the same placement as a web
checkout (`order_place`): a cart in the marketplace channel and a `Payment` (method
`marketplace`) whose snapshot holds the marketplace's prices, with tax computed by
`orders.pricing`; the customer is found or created, routing allocates the stock through the
ledger and makes the fulfilments, `order.placed` is published. The order then takes the
marketplace's order id (`Order.external_id`) and time of sale, and its payment is settled, since
the marketplace has collected it (`order.paid`).

Dedupe: the marketplace's order id is unique per channel in the database. An order already
imported is skipped, never made twice, also when two imports race: the loser's transaction hits
the unique constraint, is rolled back whole, and reports the order skipped.

A bad order (unknown SKU, bad quantity or price, no address, another currency, not enough stock)
is reported with its rows and fields and leaves nothing behind (no cart, payment, order or
allocation); the other orders go on. See docs/marketplace-import.md for the file formats.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import IO, Any
from zoneinfo import ZoneInfo

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import DataError, IntegrityError, transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _

from catalog.models import ProductVariant
from commerce.errors import DomainError, ValidationFailed
from commerce.importing import CsvFile, shown, text_problem
from commerce.models import Channel
from commerce.money import has_valid_precision
from commerce.selectors import channel_by_code
from customers.models import Address
from orders import pricing
from orders.carts.services import ADDRESS_FIELDS, MAX_LINE_QUANTITY, _clean_address, cart_lock
from orders.core.drafts import DraftLine, OrderDraft
from orders.core.records import history_add
from orders.models import Cart, CartLine, Order, Payment, PaymentMethod, ShippingMethod
from orders.payments.services import payment_settle
from orders.placement.placement import order_place

ZERO = Decimal(0)
# A marketplace's clock and ours may differ a little; a sale further in the future is a typo.
FUTURE_TOLERANCE = timedelta(hours=1)
MAX_AMOUNT = Decimal(10) ** 10  # what the money columns hold, with room for a total
EXTERNAL_ID_MAX = Order._meta.get_field("external_id").max_length
# Where the buyer's names and address end up (the customer's address book): longer is refused.
_TEXT_MAX_LENGTHS = {
    name: Address._meta.get_field(name).max_length
    for name in ADDRESS_FIELDS
    if name not in ("phone", "country")
}

# --- What an import is given, and what it reports ------------------------------------------


@dataclass(frozen=True)
class MarketplaceLine:
    """One line as the marketplace charged it: unit price in the channel's basis (tax
    included for a tax-inclusive channel). Raw values are accepted; the import checks them."""

    sku: str
    quantity: int | str
    unit_price: Decimal | str
    where: str = ""  # where it came from, for the report: "line 4", "order 2, line 1"


@dataclass(frozen=True)
class OrderProblem:
    where: str
    external_id: str
    messages: list[str]

    def __str__(self) -> str:
        """`line 4 [RK-1002]: sku: There is no SKU X.`"""
        head = " ".join(
            p for p in (self.where, f"[{self.external_id}]" if self.external_id else "") if p
        )
        return f"{head}: {' '.join(self.messages)}"


@dataclass(frozen=True)
class MarketplaceOrder:
    """One order of a marketplace's export. `shipping_address` takes the cart's address fields
    (`orders.carts.services.ADDRESS_FIELDS`); the buyer's names fill the address's blanks."""

    external_id: str
    placed_at: datetime | str
    lines: Sequence[MarketplaceLine]
    email: str = ""
    phone: str = ""
    first_name: str = ""
    last_name: str = ""
    shipping_address: dict[str, Any] | None = None
    shipping_total: Decimal | str = ZERO
    currency: str = ""  # checked against the channel's when given
    shipping_method: str = ""  # a method code of the channel; blank: the channel's only one
    where: str = ""
    # Found while reading the file (values that differ between one order's rows): reported
    # unless the order was imported already.
    problems: tuple[OrderProblem, ...] = ()


@dataclass
class ImportReport:
    orders: int = 0
    created: list[tuple[str, str]] = field(default_factory=list)  # (marketplace id, number)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # already imported as number
    failed: list[str] = field(default_factory=list)  # marketplace ids with errors
    unreadable: int = 0  # rows or records that are no order (no id, a bad header)
    errors: list[OrderProblem] = field(default_factory=list)
    dry_run: bool = False

    @property
    def ok(self) -> bool:
        return not self.errors

    def fail(self, external_id: str, problems: list[OrderProblem]) -> None:
        self.failed.append(external_id)
        self.errors.extend(problems)

    def summary(self) -> str:
        counts = {
            "orders": self.orders,
            "created": len(self.created),
            "skipped": len(self.skipped),
            "failed": len(self.failed),
        }
        if self.dry_run:
            text = _(
                "Dry run: %(orders)s orders read; %(created)s would be created, %(skipped)s "
                "already imported (skipped), %(failed)s with errors. Nothing was written."
            )
        else:
            text = _(
                "%(orders)s orders read: %(created)s created, %(skipped)s already imported "
                "(skipped), %(failed)s with errors (not imported)."
            )
        text %= counts
        if self.unreadable:
            text += " " + _("%(count)s part(s) of the file could not be read as orders.") % {
                "count": self.unreadable
            }
        return text


class _DryRun(Exception):
    """Raised inside an order's transaction to roll back what a dry run just did."""


# --- Checking one order ----------------------------------------------------------------------


@dataclass
class _Line:
    variant: ProductVariant
    quantity: int
    unit_price: Decimal


@dataclass
class _Checked:
    external_id: str
    placed_at: datetime
    email: str
    phone: str
    address: dict[str, str]
    lines: list[_Line]
    shipping_total: Decimal
    shipping_method: ShippingMethod | None


class _Problems:
    """Messages gathered per place (the order's rows, or one line's)."""

    def __init__(self, order: MarketplaceOrder, external_id: str) -> None:
        self.order, self.external_id = order, external_id
        self.by_where: dict[str, list[str]] = {}

    def add(self, field_name: str, message: str, where: str | None = None) -> None:
        where = self.order.where if where is None else where
        self.by_where.setdefault(where, []).append(f"{field_name}: {message}")

    def __bool__(self) -> bool:
        return bool(self.by_where)

    def listed(self) -> list[OrderProblem]:
        return [OrderProblem(w, self.external_id, m) for w, m in self.by_where.items()]


def _text(value: Any) -> str:
    return "" if value is None else str(value).strip()


def _money(raw: Any, *, currency: str) -> tuple[Decimal | None, str]:
    if isinstance(raw, bool) or raw is None or _text(raw) == "":
        return None, _("This field is required.")
    try:
        # A JSON number arrives as a float: its shortest text is the number that was written.
        amount = Decimal(str(raw).strip()) if not isinstance(raw, Decimal) else raw
    except InvalidOperation:
        return None, _("%(value)s is not an amount.") % {"value": raw}
    if not amount.is_finite() or amount < 0:
        return None, _("Must be an amount of 0 or more, not %(value)s.") % {"value": raw}
    if amount >= MAX_AMOUNT:
        return None, _("%(value)s is too large.") % {"value": raw}
    if not has_valid_precision(amount, currency):
        return None, _("%(value)s has more decimals than %(currency)s has.") % {
            "value": raw,
            "currency": currency,
        }
    return amount, ""


def _quantity(raw: Any) -> tuple[int | None, str]:
    text = _text(raw)
    if isinstance(raw, bool) or not (isinstance(raw, int) or text.isdecimal()):
        return None, _("Must be a whole number, not %(value)s.") % {"value": text or '""'}
    # Bounded before int(): a file may hold any number of digits.
    quantity = int(text) if len(text) <= len(str(MAX_LINE_QUANTITY)) else None
    if quantity is None or not 1 <= quantity <= MAX_LINE_QUANTITY:
        return None, _("Must be between 1 and %(max)s, not %(value)s.") % {
            "max": MAX_LINE_QUANTITY,
            "value": shown(text),
        }
    return quantity, ""


def _placed_at(raw: Any, channel: Channel, now: datetime) -> tuple[datetime | None, str]:
    if isinstance(raw, datetime):
        when = raw
    else:
        text = _text(raw)
        if not text:
            return None, _("This field is required.")
        try:
            # 2025-05-01T10:15:00+09:00, 2025-05-01 10:15, or 2025/05/01 10:15 as some export
            when = parse_datetime(text.replace("/", "-"))
        except ValueError:
            when = None
        if when is None:
            return None, _(
                "%(value)s is not a date and time; use ISO 8601, e.g. 2025-05-01T10:15:00+09:00."
            ) % {"value": text}
    if timezone.is_naive(when):
        when = timezone.make_aware(when, ZoneInfo(channel.time_zone))  # the marketplace's time
    if when > now + FUTURE_TOLERANCE:
        return None, _("%(value)s is in the future.") % {"value": when.isoformat()}
    return when, ""


def _address(order: MarketplaceOrder, phone: str, problems: _Problems) -> dict[str, str]:
    given = order.shipping_address
    if given is not None and not isinstance(given, dict):
        problems.add("shipping_address", _("Must be an object of address fields."))
        return {}
    data = dict(given or {})
    for name, value in (
        ("first_name", order.first_name),
        ("last_name", order.last_name),
        ("phone", phone),
    ):
        if not _text(data.get(name)) and _text(value):
            data[name] = value
    try:
        return _clean_address(data, "shipping_address") or {}
    except ValidationFailed as error:
        for key, messages in error.errors.items():
            for message in messages:
                problems.add(key.removeprefix("shipping_address."), str(message))
        return {}


def _text_problems(order: MarketplaceOrder, problems: _Problems) -> bool:
    """Report every value of the order that is not storable text; True if there was one."""
    found = False

    def check(value: Any, column: str, where: str | None = None) -> None:
        nonlocal found
        problem = text_problem(value, column=column, max_length=_TEXT_MAX_LENGTHS.get(column))
        if problem:
            found = True
            problems.by_where.setdefault(order.where if where is None else where, []).append(
                problem
            )

    for column in (
        "placed_at",
        "email",
        "phone",
        "first_name",
        "last_name",
        "shipping_total",
        "currency",
        "shipping_method",
    ):
        value = getattr(order, column)
        if not isinstance(value, datetime | Decimal):
            check(value, column)
    if isinstance(order.shipping_address, dict):
        for name, value in order.shipping_address.items():
            check(name, "shipping_address")
            check(value, name)
    for line in order.lines:
        for column in ("sku", "quantity", "unit_price"):
            value = getattr(line, column)
            if not isinstance(value, Decimal):
                check(value, column, line.where or order.where)
    return found


def _check(
    channel: Channel,
    order: MarketplaceOrder,
    external_id: str,
    *,
    methods: dict[str, ShippingMethod],
    now: datetime,
) -> tuple[_Checked | None, _Problems]:
    """Every rule that needs no write, with all of an order's problems at once."""
    problems = _Problems(order, external_id)
    if _text_problems(order, problems):
        # Values the database would refuse (NUL, undecodable bytes) are looked up with nothing.
        return None, problems
    currency = channel.currency
    if len(external_id) > EXTERNAL_ID_MAX:
        problems.add(
            "marketplace_order_id",
            _("Longer than %(max)s characters.") % {"max": EXTERNAL_ID_MAX},
        )
    placed_at, message = _placed_at(order.placed_at, channel, now)
    if message:
        problems.add("placed_at", message)
    email, phone = _text(order.email).lower(), _text(order.phone)
    if email:
        try:
            if len(email) > Order._meta.get_field("email").max_length:
                raise ValidationError("too long")
            validate_email(email)
        except ValidationError:
            problems.add("email", _("%(value)s is not an e-mail address.") % {"value": email})
    if len(phone) > Order._meta.get_field("phone").max_length:
        problems.add("phone", _("Too long for a phone number."))
    if not (email or phone):
        problems.add("email", _("Give the buyer's e-mail address or phone number."))
    address = _address(order, phone, problems)
    if _text(order.currency) and _text(order.currency).upper() != currency:
        problems.add(
            "currency",
            _("The order is in %(given)s; channel %(channel)s sells in %(currency)s.")
            % {"given": _text(order.currency), "channel": channel.code, "currency": currency},
        )
    shipping_total: Decimal | None = ZERO
    if _text(order.shipping_total):
        shipping_total, message = _money(order.shipping_total, currency=currency)
        if message:
            problems.add("shipping_total", message)
    method = None
    if _text(order.shipping_method):
        method = methods.get(_text(order.shipping_method))
        if method is None:
            problems.add(
                "shipping_method",
                _("Channel %(channel)s has no shipping method %(code)s.")
                % {"channel": channel.code, "code": _text(order.shipping_method)},
            )
    elif len(methods) == 1:
        (method,) = methods.values()

    if not order.lines:
        problems.add("lines", _("The order has no lines."))
    skus = {_text(line.sku) for line in order.lines}
    variants = {
        v.sku: v
        for v in ProductVariant.objects.select_related("product__tax_class").filter(sku__in=skus)
    }
    lines: list[_Line] = []
    seen: dict[str, str] = {}
    for line in order.lines:
        where = line.where or order.where
        sku = _text(line.sku)
        variant = variants.get(sku)
        if not sku:
            problems.add("sku", _("This field is required."), where)
        elif variant is None:
            problems.add("sku", _("There is no SKU %(sku)s.") % {"sku": sku}, where)
        elif sku in seen:
            problems.add(
                "sku",
                _("SKU %(sku)s is already on %(where)s of this order; give one line per SKU.")
                % {"sku": sku, "where": seen[sku]},
                where,
            )
        seen.setdefault(sku, where)
        quantity, message = _quantity(line.quantity)
        if message:
            problems.add("quantity", message, where)
        unit_price, message = _money(line.unit_price, currency=currency)
        if message:
            problems.add("unit_price", message, where)
        if variant is not None and quantity is not None and unit_price is not None:
            lines.append(_Line(variant, quantity, unit_price))
    if problems:
        return None, problems
    return _Checked(
        external_id=external_id,
        placed_at=placed_at,  # type: ignore[arg-type]
        email=email,
        phone=phone,
        address=address,
        lines=lines,
        shipping_total=shipping_total,  # type: ignore[arg-type]
        shipping_method=method,
    ), problems


# --- Placing one order -----------------------------------------------------------------------


def _draft(cart: Cart, checked: _Checked, quote: pricing.Quote, channel: Channel) -> OrderDraft:
    """The order as the marketplace sold it: its prices, our tax on them."""
    method = checked.shipping_method
    return OrderDraft(
        cart_id=cart.pk,
        channel_id=channel.pk,
        email=checked.email,
        phone=checked.phone,
        language=cart.language,
        currency=quote.currency,
        prices_include_tax=quote.prices_include_tax,
        lines=tuple(
            DraftLine(
                variant_id=line.variant.pk,
                sku=line.variant.sku,
                product_name=line.variant.product.name,
                variant_name=line.variant.name,
                tax_class=_tax_class(line.variant),
                quantity=line.quantity,
                unit_price=priced.unit_price,
                discount=priced.discount,
                amount=priced.amount,
                tax_rate=priced.tax_rate,
                tax=priced.tax,
            )
            for line, priced in zip(checked.lines, quote.lines, strict=True)
        ),
        subtotal=quote.subtotal,
        discount_total=ZERO,
        shipping_total=checked.shipping_total,
        shipping_tax=quote.shipping.tax if quote.shipping else ZERO,
        tax_total=quote.tax,
        total=quote.total,
        tax_bands=[
            {"rate": band.rate, "net": band.net, "tax": band.tax, "gross": band.gross}
            for band in quote.bands
        ],
        shipping_address=checked.address,
        shipping_method_id=method.pk if method else None,
        shipping_method_name=method.name if method else "",
        destination={"country": checked.address["country"], "region": checked.address["region"]},
        external_id=checked.external_id,
        placed_at=checked.placed_at,
    )


def _tax_class(variant: ProductVariant) -> str:
    tax_class = variant.product.tax_class
    return tax_class.code if tax_class else "standard"  # as quotes.lines_for does


def _place(channel: Channel, checked: _Checked, *, actor: AbstractBaseUser | None) -> Order:
    """In the caller's transaction: the cart, the payment, the order (routed), settled."""
    cart = Cart.objects.create(
        channel=channel,
        email=checked.email,
        phone=checked.phone,
        shipping_address=checked.address,
        shipping_method=checked.shipping_method,
        language=channel.default_language,
    )
    CartLine.objects.bulk_create(
        CartLine(cart=cart, variant=line.variant, quantity=line.quantity) for line in checked.lines
    )
    cart = cart_lock(cart)  # what order_place expects of its caller
    quote = pricing.quote(
        channel=channel,
        items=[
            pricing.Item(line.variant.sku, line.quantity, line.unit_price, _tax_class(line.variant))
            for line in checked.lines
        ],
        destination=pricing.Destination(checked.address["country"], checked.address["region"]),
        shipping=checked.shipping_total,
        # The rate of the day of the sale, in the marketplace's time zone.
        on=checked.placed_at.astimezone(ZoneInfo(channel.time_zone)).date(),
    )
    payment = Payment.objects.create(
        cart=cart,
        method=PaymentMethod.MARKETPLACE,
        idempotency_key=uuid.uuid4().hex,
        currency=quote.currency,
        amount=quote.total,
        status=Payment.Status.AWAITING,
        snapshot=_draft(cart, checked, quote, channel).as_json(),
    )
    # `order_place` takes the marketplace's id and time from the draft: the unique constraint
    # on (channel, external_id) decides a race between two imports at the order's insert.
    order = order_place(payment)
    history_add(
        order,
        "marketplace_import",
        _("Imported from %(channel)s: marketplace order %(id)s.")
        % {"channel": channel.name, "id": checked.external_id},
        actor=actor,
        external_id=checked.external_id,
    )
    if order.balance_due > 0:
        order = payment_settle(
            order,
            note=_("Collected by %(channel)s (order %(id)s)")
            % {"channel": channel.name, "id": checked.external_id},
            actor=actor,
        )
    return order


def _problems_from(
    error: DomainError, order: MarketplaceOrder, external_id: str
) -> list[OrderProblem]:
    problems = _Problems(order, external_id)
    line_where = {_text(line.sku): line.where or order.where for line in order.lines}
    if isinstance(error, ValidationFailed) and error.errors:
        for key, messages in error.errors.items():
            # pricing keys its errors by SKU (or `shipping`): name that line.
            where = line_where.get(key)
            for message in messages:
                problems.add("sku" if where else key, str(message), where)
    else:
        sku = str(error.extra.get("sku", ""))
        problems.add(
            "quantity" if sku in line_where else "order", str(error.detail), line_where.get(sku)
        )
    return problems.listed()


def _imported_as(channel: Channel, external_id: str) -> str | None:
    return (
        Order.objects.filter(channel=channel, external_id=external_id)
        .values_list("number", flat=True)
        .first()
    )


def _marketplace_channel(channel: Channel | str) -> Channel:
    if isinstance(channel, str):
        found = channel_by_code(channel)
        if found is None:
            raise ValidationFailed(
                {"channel": [_("There is no channel %(code)s.") % {"code": channel}]}
            )
        channel = found
    if channel.kind != Channel.Kind.MARKETPLACE:
        raise ValidationFailed(
            {"channel": [_("%(code)s is not a marketplace channel.") % {"code": channel.code}]}
        )
    if not channel.is_active:
        raise ValidationFailed(
            {"channel": [_("Channel %(code)s is not active.") % {"code": channel.code}]}
        )
    return channel


def marketplace_orders_import(
    channel: Channel | str,
    orders: Iterable[MarketplaceOrder],
    *,
    actor: AbstractBaseUser | None = None,
    dry_run: bool = False,
    now: datetime | None = None,
) -> ImportReport:
    """Place each order not imported yet in the marketplace `channel` (see the module's
    docstring). One transaction per order: each is placed whole or not at all, and a bad one
    does not stop the others. Locks, per order, the cart it makes, then the stock rows routing
    allocates (in the global variant order) and the order. Publishes, per order, what checkout
    does: `order.placed`, `fulfilment.created`, `order.paid`, `order.updated` (settled).

    `dry_run` places each order and rolls it back: the report says what would be created, each
    order checked against the stock as it is now, on its own."""
    channel = _marketplace_channel(channel)
    now = now or timezone.now()
    methods = {
        m.code: m
        for m in ShippingMethod.objects.select_related("carrier").filter(
            channel=channel, is_active=True
        )
    }
    report = ImportReport(dry_run=dry_run)
    seen: dict[str, str] = {}
    for order in orders:
        report.orders += 1
        external_id = _text(order.external_id)
        if not external_id:
            report.fail(
                "",
                [
                    OrderProblem(
                        order.where, "", [f"marketplace_order_id: {_('This field is required.')}"]
                    )
                ],
            )
            continue
        id_problem = text_problem(external_id, column="marketplace_order_id")
        if id_problem:
            report.fail("", [OrderProblem(order.where, "", [id_problem])])
            continue
        if external_id in seen:
            report.fail(
                external_id,
                [
                    OrderProblem(
                        order.where,
                        external_id,
                        [
                            "marketplace_order_id: "
                            + _("The same order is also at %(where)s in this file.")
                            % {"where": seen[external_id]}
                        ],
                    )
                ],
            )
            continue
        seen[external_id] = order.where
        existing = _imported_as(channel, external_id)
        if existing is not None:
            report.skipped.append((external_id, existing))
            continue
        if order.problems:
            report.fail(external_id, list(order.problems))
            continue
        checked, problems = _check(channel, order, external_id, methods=methods, now=now)
        if checked is None:
            report.fail(external_id, problems.listed())
            continue
        try:
            with transaction.atomic():
                placed = _place(channel, checked, actor=actor)
                if dry_run:
                    raise _DryRun
        except _DryRun:
            report.created.append((external_id, ""))
            continue
        except (IntegrityError, DataError, DomainError) as error:
            # Another import may have placed it meanwhile: the unique constraint stopped this
            # one, or that import took the last units first.
            existing = _imported_as(channel, external_id)
            if existing is not None:
                report.skipped.append((external_id, existing))
            elif isinstance(error, DomainError):
                report.fail(external_id, _problems_from(error, order, external_id))
            elif isinstance(error, DataError):  # a value longer than its column, say a name
                message = _("The database refused a value: %(error)s") % {
                    "error": str(error).strip().splitlines()[0] if str(error).strip() else ""
                }
                report.fail(
                    external_id, [OrderProblem(order.where, external_id, [f"order: {message}"])]
                )
            else:
                raise
            continue
        report.created.append((external_id, placed.number))
    return report


# --- Reading a file --------------------------------------------------------------------------

LINE_COLUMNS = ("sku", "quantity", "unit_price")
ORDER_COLUMNS = (
    "marketplace_order_id",
    "placed_at",
    "email",
    "phone",
    "first_name",
    "last_name",
    "first_name_reading",
    "last_name_reading",
    "company",
    "postal_code",
    "region",
    "city",
    "line1",
    "line2",
    "country",
    "shipping_total",
    "shipping_method",
    "currency",
)
REQUIRED_COLUMNS = ("marketplace_order_id", "placed_at", "sku", "quantity", "unit_price")
# Address fields in a CSV row (the buyer's names and phone fill the address's blanks).
_CSV_ADDRESS = tuple(
    name
    for name in ADDRESS_FIELDS
    if name not in ("first_name", "last_name", "phone") and name in ORDER_COLUMNS
)
_JSON_ORDER_KEYS = {
    "marketplace_order_id",
    "placed_at",
    "email",
    "phone",
    "first_name",
    "last_name",
    "shipping_address",
    "shipping_total",
    "shipping_method",
    "currency",
    "lines",
}


def _lines_label(numbers: list[int]) -> str:
    """`line 3`, `lines 3-5`, `lines 3, 7`."""
    if len(numbers) == 1:
        return _("line %(line)s") % {"line": numbers[0]}
    if numbers == list(range(numbers[0], numbers[-1] + 1)):
        return _("lines %(first)s-%(last)s") % {"first": numbers[0], "last": numbers[-1]}
    return _("lines %(lines)s") % {"lines": ", ".join(str(n) for n in numbers)}


def _read_csv(stream: IO[str]) -> tuple[list[MarketplaceOrder], list[OrderProblem]]:
    reader = CsvFile(stream)
    header = reader.header
    if reader.header_problems:
        return [], [OrderProblem(_("line 1"), "", reader.header_problems)]
    messages = [
        _("Missing column %(column)s.") % {"column": c} for c in REQUIRED_COLUMNS if c not in header
    ] + [
        _("Unknown column %(column)s.") % {"column": c}
        for c in header
        if c not in ORDER_COLUMNS and c not in LINE_COLUMNS
    ]
    if messages:
        return [], [OrderProblem(_("line 1"), "", messages)]
    groups: dict[str, list[tuple[int, dict[str, str]]]] = {}
    problems: list[OrderProblem] = []
    for row in reader.rows():
        line, record = row.line, row.record
        external_id = row.clean("marketplace_order_id")
        if row.problems:
            # A short row would lose its last cells, a long one has cells of no column: the
            # row is not an order line. Its id is named only if it is clean text.
            clean = text_problem(external_id, column="") is None
            problems.append(
                OrderProblem(_lines_label([line]), external_id if clean else "", row.problems)
            )
            continue
        if not external_id:
            problems.append(
                OrderProblem(
                    _lines_label([line]),
                    "",
                    [f"marketplace_order_id: {_('This field is required.')}"],
                )
            )
            continue
        groups.setdefault(external_id, []).append((line, record))
    orders = []
    for external_id, rows in groups.items():
        first_line, first = rows[0]
        where = _lines_label([line for line, _record in rows])
        conflicts: list[OrderProblem] = []
        for line, record in rows[1:]:
            differing = [
                column
                for column in ORDER_COLUMNS
                if column in header
                and _text(record.get(column))
                and _text(record.get(column)) != _text(first.get(column))
            ]
            if differing:
                conflicts.append(
                    OrderProblem(
                        _lines_label([line]),
                        external_id,
                        [
                            _("%(column)s differs from line %(line)s of the same order.")
                            % {"column": column, "line": first_line}
                            for column in differing
                        ],
                    )
                )
        orders.append(
            MarketplaceOrder(
                external_id=external_id,
                placed_at=_text(first.get("placed_at")),
                email=_text(first.get("email")),
                phone=_text(first.get("phone")),
                first_name=_text(first.get("first_name")),
                last_name=_text(first.get("last_name")),
                shipping_address={
                    name: _text(first.get(name)) for name in _CSV_ADDRESS if name in header
                },
                shipping_total=_text(first.get("shipping_total")),
                shipping_method=_text(first.get("shipping_method")),
                currency=_text(first.get("currency")),
                lines=[
                    MarketplaceLine(
                        sku=_text(record.get("sku")),
                        quantity=_text(record.get("quantity")),
                        unit_price=_text(record.get("unit_price")),
                        where=_lines_label([line]),
                    )
                    for line, record in rows
                ],
                where=where,
                problems=tuple(conflicts),
            )
        )
    return orders, problems


def _read_json(stream: IO[str]) -> tuple[list[MarketplaceOrder], list[OrderProblem]]:
    try:
        data = json.load(stream, parse_float=Decimal)
    except json.JSONDecodeError as error:
        return [], [
            OrderProblem(
                _("line %(line)s") % {"line": error.lineno},
                "",
                [_("Not valid JSON: %(error)s") % {"error": error.msg}],
            )
        ]
    except ValueError:
        # int() refuses a number of thousands of digits (no amount or quantity has them).
        return [], [OrderProblem(_("file"), "", [_("Not valid JSON: a number is too long.")])]
    except RecursionError:
        return [], [OrderProblem(_("file"), "", [_("Not valid JSON: nested too deeply.")])]
    items = data.get("orders") if isinstance(data, dict) else data
    if not isinstance(items, list):
        return [], [
            OrderProblem(
                _("file"), "", [_('A JSON file is a list of orders (or {"orders": [...]}).')]
            )
        ]
    orders, problems = [], []
    for index, item in enumerate(items, start=1):
        where = _("order %(n)s") % {"n": index}
        if not isinstance(item, dict):
            problems.append(OrderProblem(where, "", [_("An order is an object.")]))
            continue
        external_id = _text(item.get("marketplace_order_id"))
        messages = [
            _("Unknown field %(field)s.") % {"field": key}
            for key in item
            if key not in _JSON_ORDER_KEYS
        ]
        raw_lines = item.get("lines")
        lines = []
        if not isinstance(raw_lines, list):
            messages.append(_("lines: A list of {sku, quantity, unit_price} objects."))
            raw_lines = []
        for number, raw in enumerate(raw_lines, start=1):
            line_where = _("order %(n)s, line %(line)s") % {"n": index, "line": number}
            if not isinstance(raw, dict) or set(raw) - set(LINE_COLUMNS):
                messages.append(
                    _("line %(line)s: An object with sku, quantity and unit_price only.")
                    % {"line": number}
                )
                continue
            lines.append(
                MarketplaceLine(
                    sku=_text(raw.get("sku")),
                    quantity=raw.get("quantity"),  # type: ignore[arg-type]
                    unit_price=raw.get("unit_price"),  # type: ignore[arg-type]
                    where=line_where,
                )
            )
        orders.append(
            MarketplaceOrder(
                external_id=external_id,
                placed_at=item.get("placed_at"),  # type: ignore[arg-type]
                email=_text(item.get("email")),
                phone=_text(item.get("phone")),
                first_name=_text(item.get("first_name")),
                last_name=_text(item.get("last_name")),
                shipping_address=item.get("shipping_address"),
                shipping_total=item.get("shipping_total") or ZERO,
                shipping_method=_text(item.get("shipping_method")),
                currency=_text(item.get("currency")),
                lines=lines,
                where=where,
                problems=(OrderProblem(where, external_id, messages),) if messages else (),
            )
        )
    return orders, problems


def marketplace_orders_read(
    stream: IO[str], *, file_format: str
) -> tuple[list[MarketplaceOrder], list[OrderProblem]]:
    """A marketplace export as orders, and what could not be read as one (a bad header, a row
    with no order id). CSV: one row per line, grouped by `marketplace_order_id`; JSON: a list
    of orders with nested lines."""
    if file_format == "json":
        return _read_json(stream)
    return _read_csv(stream)


def marketplace_file_import(
    channel: Channel | str,
    stream: IO[str],
    *,
    file_format: str,
    actor: AbstractBaseUser | None = None,
    dry_run: bool = False,
) -> ImportReport:
    """`import_orders`: read the file, import its orders, report both the rows that could not
    be read and the orders that could not be placed."""
    channel = _marketplace_channel(channel)
    orders, unreadable = marketplace_orders_read(stream, file_format=file_format)
    report = marketplace_orders_import(channel, orders, actor=actor, dry_run=dry_run)
    # In file order: by the first line (CSV) or order (JSON) each problem names.
    report.errors = sorted(unreadable + report.errors, key=_first_number)
    report.unreadable = len(unreadable)
    return report


def _first_number(problem: OrderProblem) -> int:
    found = re.search(r"\d+", problem.where)
    return int(found.group()) if found else 0
