"""Carts: create, change, attach to a customer, start checkout (hold the stock).

Every change publishes `cart.updated` with what automation needs to find an abandoned cart
without querying back: who (customer or e-mail), what (lines with SKU, quantity, price), value,
and when.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from catalog.models import ProductVariant
from commerce.errors import Conflict, NotFound, ValidationFailed
from commerce.events import publish
from commerce.models import Channel
from customers.models import Customer
from customers.services.profiles import ADDRESS_FIELDS as CUSTOMER_ADDRESS_FIELDS
from inventory import allocation
from inventory import services as inventory
from inventory.errors import InsufficientStock
from inventory.models import StockLocation
from inventory.selectors import availability_by_location, availability_for_channel
from orders.models import Cart, CartLine, ShippingMethod
from orders.pricing.discounts import normalise_code
from orders.pricing.quotes import CartQuote, cart_quote, destination_for, lines_for

CART_UPDATED = "cart.updated"
MAX_LINE_QUANTITY = 999


class CartCompleted(Conflict):
    code = "cart_completed"
    title = gettext_lazy("The cart has become an order")


# A cart's (and so an order's) address has the fields of a customer's address book entry: the
# one it is saved to after the order.
ADDRESS_FIELDS = CUSTOMER_ADDRESS_FIELDS


def cart_payload(cart: Cart, quote: CartQuote | None = None) -> dict[str, Any]:
    quote = quote or cart_quote(cart)
    customer = cart.customer
    return {
        "cart_id": cart.pk,
        "token_hint": cart.token[:6],
        "channel": cart.channel.code,
        "state": cart.state,
        "customer_id": cart.customer_id,
        "email": cart.email or (customer.email if customer else ""),
        "first_name": (customer.first_name if customer else "")
        or (cart.shipping_address or {}).get("first_name", ""),
        "currency": quote.currency,
        "value": quote.total,
        "subtotal": quote.subtotal,
        "lines": [
            {
                "sku": line.sku,
                "variant_id": line.variant_id,
                "name": line.product_name,
                "quantity": line.quantity,
                "unit_price": line.unit_price,
            }
            for line in quote.lines
        ],
        "discount_code": cart.discount_code,
        "checkout_started_at": cart.checkout_started_at,
        "last_activity_at": cart.last_activity_at,
    }


def _touched(
    cart: Cart, *, changed: list[str], release_hold: bool = True, created: bool = False
) -> Cart:
    """Record activity, drop a stale stock hold (the cart changed), tell automation. The cart
    comes back with `priced`, the quote it was just priced at. A cart just `created` was
    written with its activity time already."""
    if not created:
        cart.last_activity_at = timezone.now()
        fields = ["last_activity_at", *changed]
        if release_hold and cart.hold_expires_at is not None:
            inventory.stock_release(reference=cart.reference)
            cart.hold_expires_at = None
            cart.checkout_started_at = None
            fields += ["hold_expires_at", "checkout_started_at"]
        cart.save(update_fields=fields)
    quote = cart_quote(cart)
    publish(
        type=CART_UPDATED,
        subject_type="cart",
        subject_id=cart.pk,
        payload=cart_payload(cart, quote),
    )
    # The answer to this change shows these same prices: the caller need not price it again.
    cart.priced = quote
    return cart


def _open(cart: Cart) -> None:
    if cart.state != Cart.State.OPEN:
        raise CartCompleted(_("This cart has become an order and cannot change."), state=cart.state)


@transaction.atomic
def cart_create(
    *, channel: Channel, customer: Customer | None = None, email: str = "", language: str = ""
) -> Cart:
    if not channel.is_active:
        raise NotFound(_("There is no active channel %(code)s.") % {"code": channel.code})
    cart = Cart.objects.create(
        channel=channel,
        customer=customer,
        email=(email or "").strip().lower(),
        language=language or channel.default_language,
    )
    return _touched(cart, changed=[], created=True)


def cart_lock(cart: Cart | int) -> Cart:
    """Re-read the cart (or the cart with this id) locked: changes to one cart queue behind
    each other."""
    pk = cart if isinstance(cart, int) else cart.pk
    return (
        Cart.objects.select_for_update(of=("self",))
        .select_related("channel", "shipping_method")
        .get(pk=pk)
    )


def _variant_for_channel(cart: Cart, *, variant_id: int | None, sku: str | None) -> ProductVariant:
    queryset = ProductVariant.objects.select_related("product")
    variant = (
        queryset.filter(pk=variant_id).first()
        if variant_id
        else queryset.filter(sku=(sku or "").strip()).first()
    )
    if variant is None:
        raise ValidationFailed({"variant": [_("There is no such product variant.")]})
    return variant


@transaction.atomic
def cart_line_set(
    cart: Cart,
    *,
    quantity: int,
    variant_id: int | None = None,
    sku: str | None = None,
    add: bool = False,
) -> Cart:
    """Set a line's quantity (or add to it with `add`); 0 removes it. Adding checks that the
    variant is sold in the channel and that the channel has the units available now."""
    cart = cart_lock(cart)
    _open(cart)
    variant = _variant_for_channel(cart, variant_id=variant_id, sku=sku)
    line = CartLine.objects.filter(cart=cart, variant=variant).first()
    wanted = quantity + (line.quantity if line and add else 0)
    if wanted < 0 or quantity < 0:
        raise ValidationFailed({"quantity": [_("Must be 0 or more.")]})
    if wanted > MAX_LINE_QUANTITY:
        raise ValidationFailed(
            {"quantity": [_("At most %(max)s per line.") % {"max": MAX_LINE_QUANTITY}]}
        )
    if wanted == 0:
        if line is not None:
            line.delete()
        return _touched(cart, changed=[])
    (priced,) = lines_for(cart.channel, [(variant.pk, wanted)], now=timezone.now())
    if priced.unit_price is None:
        raise ValidationFailed(
            {"variant": [_("SKU %(sku)s is not sold in this shop.") % {"sku": variant.sku}]}
        )
    if cart.hold_expires_at is not None:
        # The change ends the cart's hold (`_touched`): give it back first, so that the units
        # this cart holds count as available to it (rolled back with a refused change).
        inventory.stock_release(reference=cart.reference)
    if cart.pickup_location_id is not None:
        # Collected (or sold at the till) at one store: only that store's stock counts.
        available = next(
            (
                entry.available
                for entry in availability_by_location(variant_id=variant.pk)
                if entry.location.pk == cart.pickup_location_id
            ),
            0,
        )
    else:
        available = availability_for_channel(channel=cart.channel, variant_ids=[variant.pk])[
            variant.pk
        ]
    if wanted > available:
        # The same condition, and so the same code, as checkout's and the stock services'.
        raise InsufficientStock(
            _("Only %(available)s of SKU %(sku)s are available; %(requested)s were requested.")
            % {"available": available, "sku": variant.sku, "requested": wanted},
            sku=variant.sku,
            variant_id=variant.pk,
            requested=wanted,
            available=available,
        )
    if line is None:
        CartLine.objects.create(cart=cart, variant=variant, quantity=wanted)
    else:
        line.quantity = wanted
        line.save(update_fields=["quantity"])
    return _touched(cart, changed=[])


def _clean_address(data: dict[str, Any] | None, field: str) -> dict[str, str] | None:
    if data is None:
        return None
    unknown = set(data) - set(ADDRESS_FIELDS)
    errors = {f"{field}.{name}": [_("Unknown field.")] for name in sorted(unknown)}
    address = {name: str(data.get(name) or "").strip() for name in ADDRESS_FIELDS}
    for required in ("line1", "country"):
        if not address[required]:
            errors[f"{field}.{required}"] = [_("This field is required.")]
    address["country"] = address["country"].upper()
    if address["country"] and len(address["country"]) != 2:
        errors[f"{field}.country"] = [_("Use the two-letter ISO country code, e.g. JP.")]
    if errors:
        raise ValidationFailed(errors)
    return address


@transaction.atomic
def cart_update(cart: Cart, **fields: Any) -> Cart:
    """Buyer's details: email, phone, shipping_address, billing_address, shipping_method (code),
    pickup_location (code), discount_code, note. Only the fields given change."""
    cart = cart_lock(cart)
    _open(cart)
    if not fields:
        # Nothing a buyer may set was sent (the API drops what they may not): no change, so no
        # activity, no event, and the stock hold stays.
        return cart
    changed = []
    if "email" in fields:
        cart.email = (fields["email"] or "").strip().lower()
        changed.append("email")
    if "phone" in fields:
        cart.phone = (fields["phone"] or "").strip()
        changed.append("phone")
    for name in ("shipping_address", "billing_address"):
        if name in fields:
            setattr(cart, name, _clean_address(fields[name], name))
            changed.append(name)
    if "note" in fields:
        cart.note = (fields["note"] or "")[:500]
        changed.append("note")
    if "discount_code" in fields:
        cart.discount_code = normalise_code(fields["discount_code"] or "")
        changed.append("discount_code")
    if "shipping_method" in fields:
        code = fields["shipping_method"]
        if code:
            method = ShippingMethod.objects.filter(
                channel=cart.channel, code=code, is_active=True
            ).first()
            if method is None:
                raise ValidationFailed(
                    {
                        "shipping_method": [
                            _("This shop has no shipping method %(code)s.") % {"code": code}
                        ]
                    }
                )
            cart.shipping_method, cart.pickup_location = method, None
        else:
            cart.shipping_method = None
        changed += ["shipping_method", "pickup_location"]
    if "pickup_location" in fields:
        code = fields["pickup_location"]
        if code:
            cart.pickup_location = _pickup_store(cart, code)
            cart.shipping_method = None
        else:
            cart.pickup_location = None
        changed += ["shipping_method", "pickup_location"]
    return _touched(cart, changed=sorted(set(changed)))


def _pickup_store(cart: Cart, code: str) -> StockLocation:
    store = StockLocation.objects.filter(
        code=code, is_active=True, pickup_enabled=True, channels=cart.channel
    ).first()
    if store is None:
        raise ValidationFailed(
            {
                "pickup_location": [
                    _("%(code)s is not a pickup store of this shop.") % {"code": code}
                ]
            }
        )
    return store


@dataclass(frozen=True)
class PickupStore:
    store: StockLocation
    short: dict[str, int]  # SKU -> units the store has, for lines it cannot cover now


def pickup_stores(cart: Cart) -> list[PickupStore]:
    """The channel's pickup stores, each with what it lacks for this cart (pickup needs
    everything at the one store)."""
    lines = list(cart.lines.select_related("variant"))
    here = {
        line.variant_id: {
            entry.location.pk: entry.available
            for entry in availability_by_location(variant_id=line.variant_id)
        }
        for line in lines
    }
    stores = StockLocation.objects.filter(
        is_active=True, pickup_enabled=True, channels=cart.channel
    ).order_by("routing_priority", "code")
    return [
        PickupStore(
            store=store,
            short={
                line.variant.sku: here[line.variant_id].get(store.pk, 0)
                for line in lines
                if here[line.variant_id].get(store.pk, 0) < line.quantity
            },
        )
        for store in stores
    ]


@transaction.atomic
def cart_attach(cart: Cart, *, customer: Customer) -> Cart:
    """A guest cart becomes the signed-in customer's. Lines from the customer's other open cart
    in the channel are brought in (quantities added), and that cart is emptied."""
    cart = cart_lock(cart)
    _open(cart)
    if cart.customer_id == customer.pk:
        return cart
    if cart.customer_id is not None:
        raise NotFound(_("There is no such cart."))
    older = (
        Cart.objects.select_for_update()
        .filter(customer=customer, channel=cart.channel, state=Cart.State.OPEN)
        .exclude(pk=cart.pk)
    )
    for other in older:
        for line in other.lines.all():
            mine = CartLine.objects.filter(cart=cart, variant_id=line.variant_id).first()
            if mine is None:
                CartLine.objects.create(
                    cart=cart, variant_id=line.variant_id, quantity=line.quantity
                )
            else:
                mine.quantity = min(mine.quantity + line.quantity, MAX_LINE_QUANTITY)
                mine.save(update_fields=["quantity"])
        other.lines.all().delete()
        # An emptied cart is a changed one: its hold goes back and automation hears of it.
        _touched(other, changed=[])
    cart.customer = customer
    if not cart.email:
        cart.email = customer.email
    return _touched(cart, changed=["customer", "email"])


def reserve_lines(cart: Cart, quote: CartQuote | None = None) -> list[inventory.ReserveLine]:
    """The cart's lines as holds, each named by its SKU: the order line it becomes has the same
    SKU, which is how the order takes the hold over (`stock_hold_convert`)."""
    if quote is not None:
        return [
            inventory.ReserveLine(line.variant_id, line.quantity, line_reference=line.sku)
            for line in quote.lines
        ]
    return [
        inventory.ReserveLine(line.variant_id, line.quantity, line_reference=line.variant.sku)
        for line in cart.lines.select_related("variant")
    ]


def hold_stock(cart: Cart, *, ttl: timedelta, quote: CartQuote | None = None) -> None:
    """Hold the cart's stock (replacing its earlier holds) where the order will be allocated:
    the same candidates and planner as routing (`inventory.allocation`), so the order can take
    the hold over unchanged. A pickup order holds at its store only. Sets `hold_expires_at`
    and `hold_route` for the caller to save. `quote` (the cart's, just priced) saves reading
    the lines again. Raises `InsufficientStock` (409) naming the short SKU."""
    destination = destination_for(cart)
    lines = reserve_lines(cart, quote)
    if not lines:
        raise ValidationFailed({"lines": [_("The cart is empty.")]})
    route = allocation.route_for(
        channel_id=cart.channel_id,
        destination=None
        if cart.pickup_location_id
        else allocation.Destination(destination.country, destination.region),
        pickup_location_id=cart.pickup_location_id,
    )
    route.skus = {line.variant_id: line.line_reference for line in lines}
    inventory.stock_reserve(
        channel=cart.channel, lines=lines, reference=cart.reference, ttl=ttl, route=route
    )
    now = timezone.now()
    cart.hold_expires_at = now + ttl
    cart.hold_route = {
        "at": now.isoformat(),
        "chosen": {str(location_id): reason for location_id, reason in route.chosen.items()},
        "passed_over": route.passed_over,
        "excluded": route.excluded,
    }


@transaction.atomic
def cart_checkout_start(cart: Cart) -> Cart:
    """The buyer starts checkout: hold the stock for INVENTORY_CART_HOLD_SECONDS."""
    cart = cart_lock(cart)
    _open(cart)
    hold_stock(cart, ttl=timedelta(seconds=settings.INVENTORY_CART_HOLD_SECONDS))
    cart.checkout_started_at = timezone.now()
    return _touched(
        cart, changed=["hold_expires_at", "hold_route", "checkout_started_at"], release_hold=False
    )


@transaction.atomic
def cart_release(cart: Cart) -> Cart:
    """Give the held stock back (the buyer left checkout)."""
    cart = cart_lock(cart)
    return _touched(cart, changed=[])
