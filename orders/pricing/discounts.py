"""Discount codes and automatic promotions: does one apply to a cart, and for how much.

A code that does not apply says why, with a stable `reason` a storefront can show or translate:
unknown, inactive, not_started, expired, code_expired (the code's own `expires_at`, with it),
code_not_yours (a personal code in someone else's cart), wrong_channel, wrong_currency,
used_up, customer_used_up, below_minimum (with the amount still missing), below_quantity (buy
X get Y), no_matching_items, no_shipping. Redemptions are written at checkout
(`placement._redeem`, which checks the code again with its row locked); the limits here count
them.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from commerce.errors import DomainError, ValidationFailed
from commerce.models import Channel
from commerce.money import currency_exponent
from customers.models import Customer
from customers.services import customer_resolve
from orders.models import Discount, DiscountCode, DiscountRedemption
from orders.pricing import split

ZERO = Decimal(0)
# No 0/O, 1/I/L: codes are read aloud on the phone and typed from printed flyers.
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
# A personal code travels by e-mail or SMS, not on a flyer: 10 characters of 31 are ~49.5 bits,
# far beyond guessing through the API, and still short enough to type.
ISSUED_CODE_LENGTH = 10
CODE_MAX_LENGTH = 40  # DiscountCode.code


class DiscountNotApplicable(DomainError):
    code = "discount_not_applicable"
    status = 400
    title = gettext_lazy("This discount does not apply")

    def __init__(self, reason: str, detail: str, **extra) -> None:
        # `code` is the problem's own member (`discount_not_applicable`): the code the buyer
        # typed goes out as `discount_code`.
        if "code" in extra:
            extra["discount_code"] = extra.pop("code")
        super().__init__(detail, reason=reason, **extra)
        self.reason = reason


@dataclass(frozen=True)
class CartLine:
    key: str  # the SKU
    product_id: int
    category_path: str  # the product's category path ("/3/17/"), "" without one
    amount: Decimal  # the line after other discounts, in the channel's price basis
    quantity: int = 1


@dataclass(frozen=True)
class Applied:
    discount: Discount
    code: DiscountCode | None
    amount: Decimal  # the whole reduction
    lines: dict[str, Decimal]  # its share per SKU (empty for a shipping discount)
    shipping: Decimal


def normalise_code(code: str) -> str:
    return "".join((code or "").split()).upper()


def code_get(code: str) -> DiscountCode:
    """The code the buyer typed, with its discount and its customer. Only finds it: whether it
    may be used in a cart (expiry, whose it is, uses left) is `discount_apply`'s to say."""
    found = (
        DiscountCode.objects.select_related("discount", "customer")
        .filter(code=normalise_code(code))
        .first()
    )
    if found is None:
        raise DiscountNotApplicable("unknown", _("There is no such code."))
    return found


def code_check(
    code: DiscountCode,
    *,
    customer_id: int | None,
    email: str,
    now: datetime,
    time_zone: str = "UTC",
) -> None:
    """Refuse a code past its own `expires_at` (`code_expired`, the time told in the channel's
    `time_zone`) or a personal code used by someone else (`code_not_yours`).

    A cart (or the order draft made from it) belongs to the code's customer when:
    - it is signed in (`customer_id` set) as that customer, or as the profile that customer
      was merged into; a cart signed in as anyone else is refused, whatever its e-mail;
    - it is a guest cart (no `customer_id`) whose e-mail is the customer's e-mail, compared
      case-insensitively: the customer checking out without signing in, as the reminder the
      code came in was sent to that address.
    The message names no one: it must not tell a stranger whose code it is.
    """
    if code.expires_at is not None and now >= code.expires_at:
        raise DiscountNotApplicable(
            "code_expired",
            _("This code expired on %(date)s.")
            % {
                "date": code.expires_at.astimezone(ZoneInfo(time_zone)).strftime(
                    "%Y-%m-%d %H:%M %Z"
                )
            },
            expires_at=code.expires_at.isoformat(),
        )
    if code.customer_id is None:
        return
    owner = code.customer
    if owner.merged_into_id is not None:
        owner = customer_resolve(owner)
    if customer_id is not None:
        mine = customer_id in {code.customer_id, owner.pk}
    else:
        mine = bool(owner.email) and (email or "").strip().casefold() == owner.email.casefold()
    if not mine:
        raise DiscountNotApplicable(
            "code_not_yours",
            _(
                "This code is personal and not for this cart: sign in as the customer it was "
                "sent to, or check out with the e-mail address it was sent to."
            ),
        )


def discount_apply(
    discount: Discount,
    *,
    channel: Channel,
    lines: list[CartLine],
    shipping: Decimal = ZERO,
    code: DiscountCode | None = None,
    customer_id: int | None = None,
    email: str = "",
    now: datetime | None = None,
) -> Applied:
    """How much `discount` (through `code`, if one was typed) takes off this cart, or why not.
    `customer_id` is the cart's signed-in customer and `email` the cart's own e-mail: together
    they decide whether a personal code is this cart's (`code_check`)."""
    now = now or timezone.now()
    currency = channel.currency
    unit = Decimal(1).scaleb(-currency_exponent(currency))
    _check_rules(
        discount, code=code, channel=channel, customer_id=customer_id, email=email, now=now
    )

    if discount.target == Discount.Target.SHIPPING:
        if shipping <= 0:
            raise DiscountNotApplicable("no_shipping", _("This order has no shipping to discount."))
        base, matching = shipping, []
    elif discount.target == Discount.Target.PRODUCTS:
        matching = _matching(discount, lines)
        if not matching:
            raise DiscountNotApplicable(
                "no_matching_items", _("Nothing in the cart is part of this offer.")
            )
        base = sum((line.amount for line in matching), ZERO)
    else:
        matching = [line for line in lines if line.amount > 0]
        base = sum((line.amount for line in matching), ZERO)

    subtotal = sum((line.amount for line in lines), ZERO)
    if discount.min_subtotal is not None and subtotal < discount.min_subtotal:
        missing = discount.min_subtotal - subtotal
        raise DiscountNotApplicable(
            "below_minimum",
            _("Add %(missing)s %(currency)s more to use this offer.")
            % {"missing": f"{missing.quantize(unit):f}", "currency": currency},
            missing=f"{missing.quantize(unit):f}",
        )

    if discount.kind == Discount.Kind.BUY_X_GET_Y:
        return _buy_x_get_y(discount, code=code, lines=matching, unit=unit)
    if discount.kind == Discount.Kind.PERCENTAGE:
        amount = (base * discount.value / 100).quantize(unit, rounding=ROUND_HALF_UP)
    else:
        amount = min(discount.value.quantize(unit, rounding=ROUND_HALF_UP), base)
    if discount.target == Discount.Target.SHIPPING:
        return Applied(discount=discount, code=code, amount=amount, lines={}, shipping=amount)
    shares = split(amount, [line.amount for line in matching], unit)
    per_line = {line.key: share for line, share in zip(matching, shares, strict=True)}
    return Applied(discount=discount, code=code, amount=amount, lines=per_line, shipping=ZERO)


def _buy_x_get_y(
    discount: Discount, *, code: DiscountCode | None, lines: list[CartLine], unit: Decimal
) -> Applied:
    """For every `buy_quantity` + `get_quantity` units of the offer's items, the cheapest
    `get_quantity` of them are `value` % off (100: free)."""
    group = discount.buy_quantity + discount.get_quantity
    units = sorted(
        ((line.amount / line.quantity, line.key) for line in lines for _ in range(line.quantity)),
        key=lambda pair: pair[0],
    )
    free_units = len(units) // group * discount.get_quantity
    if free_units == 0:
        raise DiscountNotApplicable(
            "below_quantity",
            _("Buy %(count)s of these items to get this offer.") % {"count": group},
        )
    per_line: dict[str, Decimal] = {}
    for price, key in units[:free_units]:
        per_line[key] = per_line.get(key, ZERO) + price * discount.value / 100
    per_line = {k: v.quantize(unit, rounding=ROUND_HALF_UP) for k, v in per_line.items()}
    amount = sum(per_line.values(), ZERO)
    return Applied(discount=discount, code=code, amount=amount, lines=per_line, shipping=ZERO)


def _check_rules(
    discount: Discount,
    *,
    code: DiscountCode | None,
    channel: Channel,
    customer_id: int | None,
    email: str,
    now: datetime,
) -> None:
    if not discount.is_active:
        raise DiscountNotApplicable("inactive", _("This offer has ended."))
    if discount.valid_from and now < discount.valid_from:
        raise DiscountNotApplicable("not_started", _("This offer has not started yet."))
    if discount.valid_until and now >= discount.valid_until:
        raise DiscountNotApplicable("expired", _("This offer has expired."))
    if code is not None:
        code_check(code, customer_id=customer_id, email=email, now=now, time_zone=channel.time_zone)
    channels = list(discount.channels.all())
    if channels and channel not in channels:
        raise DiscountNotApplicable("wrong_channel", _("This offer is not valid in this shop."))
    if discount.currency and discount.currency != channel.currency:
        raise DiscountNotApplicable(
            "wrong_currency",
            _("This offer is for orders in %(currency)s.") % {"currency": discount.currency},
        )
    if code is not None and code.single_use and code.times_used > 0:
        raise DiscountNotApplicable("used_up", _("This code has already been used."))
    if discount.usage_limit is not None and discount.times_used >= discount.usage_limit:
        raise DiscountNotApplicable("used_up", _("This offer has been used up."))
    if discount.per_customer_limit is not None and customer_id is not None:
        used = DiscountRedemption.objects.filter(discount=discount, customer_id=customer_id).count()
        if used >= discount.per_customer_limit:
            raise DiscountNotApplicable("customer_used_up", _("You have already used this offer."))


def _matching(discount: Discount, lines: list[CartLine]) -> list[CartLine]:
    # .all(), not values_list(): automatic promotions come with these prefetched.
    product_ids = {product.pk for product in discount.products.all()}
    paths = [category.path for category in discount.categories.all()]
    return [
        line
        for line in lines
        if line.amount > 0
        and (
            line.product_id in product_ids
            or any(line.category_path.startswith(path) for path in paths if path)
        )
    ]


def automatic_discounts(
    *,
    channel: Channel,
    lines: list[CartLine],
    shipping: Decimal = ZERO,
    customer_id: int | None = None,
    now: datetime | None = None,
) -> list[Applied]:
    """Every automatic promotion that applies to the cart (e.g. free shipping over an amount)."""
    applied = []
    for discount in automatic_candidates(channel=channel, now=now):
        try:
            applied.append(
                discount_apply(
                    discount,
                    channel=channel,
                    lines=lines,
                    shipping=shipping,
                    customer_id=customer_id,
                    now=now,
                )
            )
        except DiscountNotApplicable:
            continue
    return applied


def automatic_candidates(*, channel: Channel, now: datetime | None = None) -> list[Discount]:
    """Active promotions without a code that may apply in the channel now, oldest first."""
    now = now or timezone.now()
    return list(
        Discount.objects.filter(automatic=True, is_active=True)
        .filter(Q(valid_from__isnull=True) | Q(valid_from__lte=now))
        .filter(Q(valid_until__isnull=True) | Q(valid_until__gt=now))
        .filter(Q(channels__isnull=True) | Q(channels=channel))
        .prefetch_related("channels", "products", "categories")
        .distinct()
        .order_by("id")
    )


def _random_code(prefix: str, length: int) -> str:
    # `secrets`, not `random`: the code is the only thing between a stranger and the discount.
    return prefix + "".join(secrets.choice(CODE_ALPHABET) for _ in range(length))


def _prefix_clean(prefix: str, length: int) -> str:
    prefix = normalise_code(prefix)
    room = CODE_MAX_LENGTH - length
    if len(prefix) > room:
        raise ValidationFailed(
            {"prefix": [_("A prefix has at most %(count)s characters.") % {"count": room}]}
        )
    return prefix


@transaction.atomic
def codes_generate(
    discount: Discount, *, count: int, prefix: str = "", length: int = 8, batch: str = ""
) -> list[DiscountCode]:
    """`count` single-use codes anyone may use once (a printed batch, a newsletter). Personal
    codes with an expiry, one at a time, come from `discount_code_issue`."""
    if not 1 <= count <= 100_000:
        raise ValidationFailed({"count": [_("Generate between 1 and 100,000 codes.")]})
    if length < 6:
        raise ValidationFailed({"length": [_("Codes need at least 6 characters.")]})
    prefix = _prefix_clean(prefix, length)
    codes: list[DiscountCode] = []
    while len(codes) < count:
        wanted = count - len(codes)
        candidates = {_random_code(prefix, length) for _ in range(wanted)}
        taken = set(DiscountCode.objects.filter(code__in=candidates).values_list("code", flat=True))
        fresh = [
            DiscountCode(discount=discount, code=c, single_use=True, batch=batch)
            for c in sorted(candidates - taken)
        ]
        try:
            with transaction.atomic():
                codes += DiscountCode.objects.bulk_create(fresh)
        except IntegrityError:
            continue  # another batch took one of them at the same moment: draw again
    return codes


@transaction.atomic
def discount_code_issue(
    *,
    discount: Discount,
    customer: Customer | None,
    expires_at: datetime | None,
    prefix: str = "",
    issued_by: str = "",
) -> DiscountCode:
    """One new single-use code for `discount`, random and hard to guess (`ISSUED_CODE_LENGTH`
    characters of `CODE_ALPHABET` after `prefix`), for `customer` only when one is given, and
    refused from `expires_at` on when one is given (e.g. 72 hours after the reminder that
    carries it). `issued_by` says what issued it, for the back office ("automation run 42").

    Whose cart may use it is `code_check`'s rule; that it works once is the single-use rule
    checked again at checkout with the code's row locked (`placement._redeem`), so two orders
    racing for it cannot both get the discount. All or nothing: a drawn code that another
    writer took at the same moment is drawn again, inside a savepoint. Locks nothing;
    publishes nothing (the caller, e.g. automation, records that it sent it).
    """
    errors: dict[str, list[str]] = {}
    if discount.automatic:
        errors["discount"] = [_("An automatic promotion applies without a code.")]
    if expires_at is not None and expires_at <= timezone.now():
        errors["expires_at"] = [_("The code would be expired already: give a time to come.")]
    if len(issued_by) > 100:
        errors["issued_by"] = [_("Say what issued the code in at most 100 characters.")]
    try:
        prefix = _prefix_clean(prefix, ISSUED_CODE_LENGTH)
    except ValidationFailed as exc:
        errors.update(exc.errors)
    if errors:
        raise ValidationFailed(errors)
    while True:
        candidate = _random_code(prefix, ISSUED_CODE_LENGTH)
        if DiscountCode.objects.filter(code=candidate).exists():
            continue
        try:
            with transaction.atomic():
                return DiscountCode.objects.create(
                    discount=discount,
                    code=candidate,
                    single_use=True,
                    customer=customer,
                    expires_at=expires_at,
                    issued_by=issued_by,
                )
        except IntegrityError:
            continue  # another writer took this code at the same moment: draw again
