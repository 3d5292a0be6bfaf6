"""Phone orders: a call-centre agent takes an order in the back office.

One page, filled in from top to bottom while on the phone: the customer (found by e-mail, phone
or name, or a new one), the lines as "SKU quantity" with a check of the live availability per
location and the price in the phone channel, delivery (an address and a shipping method, or a
pickup store) and payment (a card through the gateway, cash on delivery, bank transfer). "Place
order" calls `services.phone_order_place`, the web checkout's own services (prices, discounts,
tax, stock holds, payment, routing). What the services refuse is shown on the form, on the field
or the row it concerns, and nothing is placed.

Served at admin/orders/order/phone/ (through `OrderAdmin.get_urls`) to staff with
`orders.add_order`; `?customer=<id>` starts with that customer chosen (the customer 360 page
links here so).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from functools import partial
from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from catalog.models import ProductVariant
from commerce.admin_helpers import money, problem
from commerce.errors import DomainError, ValidationFailed
from commerce.models import Channel
from customers import services as customers
from customers.models import Address, Customer
from customers.normalise import normalise_phone
from customers.selectors import customer_search
from inventory.models import StockLocation
from inventory.selectors import availability_by_location, availability_for_channel, location_by_code
from orders import pricing, services
from orders.fulfilment.routing import route_preview
from orders.models import Order, PaymentMethod, ShippingMethod
from orders.pricing.quotes import lines_for

PERMISSION = "orders.add_order"
PAYMENT_METHODS = [PaymentMethod.CARD, PaymentMethod.CASH_ON_DELIVERY, PaymentMethod.BANK_TRANSFER]
SHIP, PICKUP = "ship", "pickup"
MATCHES = 20
# The delivery address, in the order a Japanese address is written and read out.
ADDRESS_FIELDS = {
    "last_name": _("Family name"),
    "first_name": _("Given name"),
    "last_name_reading": _("Family name (reading)"),
    "first_name_reading": _("Given name (reading)"),
    "company": _("Company"),
    "postal_code": _("Postal code"),
    "region": _("Prefecture / region"),
    "city": _("City"),
    "line1": _("Address line 1"),
    "line2": _("Address line 2"),
    "country": _("Country"),
    "phone": _("Phone at the address"),
}
LINE_ERROR = re.compile(r"^lines\[(\d+)\]")


@dataclass(frozen=True)
class Row:
    """One line of the order as the agent typed it; `number` is its line in the text box."""

    number: int
    sku: str
    quantity: int


def row_message(row: Row, message: Any) -> str:
    return str(
        _("Row %(row)s (%(sku)s): %(message)s")
        % {"row": row.number, "sku": row.sku, "message": message}
    )


def parse_rows(text: str) -> tuple[list[Row], list[str]]:
    """ "SKU quantity" per line (the quantity may be left out for one unit; blank lines are
    skipped). Returns the rows and the errors, each naming its row."""
    rows, errors = [], []
    for number, raw in enumerate((text or "").splitlines(), 1):
        parts = raw.replace(",", " ").replace("\t", " ").split()
        if not parts:
            continue
        if len(parts) > 2:
            errors.append(
                _("Row %(row)s: write the SKU and the quantity, e.g. TEE-RED-M 2.")
                % {"row": number}
            )
            continue
        sku, quantity = parts[0], parts[1] if len(parts) == 2 else "1"
        if not quantity.isdigit() or int(quantity) < 1:
            errors.append(
                row_message(
                    Row(number, sku, 0), _("the quantity must be a whole number of at least 1.")
                )
            )
            continue
        rows.append(Row(number, sku, int(quantity)))
    return rows, errors


def customer_label(customer: Customer) -> str:
    parts = [str(customer)]
    if customer.phone:
        parts.append(customer.phone)
    parts.append(_("%(count)s orders") % {"count": customer.order_count})
    return " · ".join(parts)


def address_label(address: Address) -> str:
    name = " ".join(p for p in (address.last_name, address.first_name) if p)
    label = f"{name}: {address}" if name else str(address)
    if address.is_default_shipping:
        label = f"{label} ({_('default')})"
    return label


class PhoneOrderForm(forms.Form):
    """The whole page. `intent` is the button pressed: "find" (customers), "check"
    (availability), "place" (the order); what each needs is checked only for it."""

    channel = forms.ModelChoiceField(
        label=_("Channel"), queryset=Channel.objects.none(), empty_label=None
    )
    find = forms.CharField(
        label=_("Find a customer"),
        required=False,
        help_text=_("E-mail, phone number (any format), name or its reading, member card."),
    )
    customer = forms.TypedChoiceField(
        label=_("Customer"),
        required=False,
        coerce=int,
        empty_value=None,
        widget=forms.RadioSelect,
    )
    email = forms.EmailField(label=_("E-mail"), required=False)
    phone = forms.CharField(label=_("Phone"), max_length=30, required=False)
    last_name = forms.CharField(label=_("Family name"), max_length=100, required=False)
    first_name = forms.CharField(label=_("Given name"), max_length=100, required=False)
    lines = forms.CharField(
        label=_("Lines"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 6, "cols": 40, "placeholder": "TEE-RED-M 2"}),
        help_text=_("One SKU per line, a space, then the quantity."),
    )
    delivery = forms.ChoiceField(
        label=_("Delivery"),
        choices=[(SHIP, _("Deliver to an address")), (PICKUP, _("Pickup at a store"))],
        initial=SHIP,
        widget=forms.RadioSelect,
    )
    saved_address = forms.TypedChoiceField(
        label=_("Saved address"), required=False, coerce=int, empty_value=None
    )
    shipping_method = forms.ChoiceField(label=_("Shipping method"), required=False)
    pickup_store = forms.ChoiceField(label=_("Pickup store"), required=False)
    payment_method = forms.ChoiceField(
        label=_("Payment"),
        choices=[(m.value, m.label) for m in PAYMENT_METHODS],
        initial=PaymentMethod.CASH_ON_DELIVERY,
        widget=forms.RadioSelect,
    )
    card_token = forms.CharField(
        label=_("Card token"),
        max_length=100,
        required=False,
        help_text=_(
            "The token the payment form gives for the card the customer reads out "
            "(the test gateway takes tok_visa)."
        ),
    )
    note = forms.CharField(
        label=_("Note"),
        max_length=500,
        required=False,
        widget=forms.Textarea(attrs={"rows": 2, "cols": 60}),
    )

    customer_fields = ["find", "customer", "email", "phone", "last_name", "first_name"]
    delivery_fields = ["delivery", "saved_address", "shipping_method", "pickup_store"]
    payment_fields = ["payment_method", "card_token", "note"]

    def __init__(self, data=None, *, intent: str = "", initial=None) -> None:
        super().__init__(data, initial=initial)
        self.intent = intent
        self.rows: list[Row] = []
        self.variants: dict[str, ProductVariant] = {}
        channels = list(
            Channel.objects.filter(kind=Channel.Kind.PHONE, is_active=True).order_by("code")
        )
        self.fields["channel"].queryset = Channel.objects.filter(
            pk__in=[c.pk for c in channels]
        ).order_by("code")
        chosen = str(self._value("channel") or "")
        self.channel = next((c for c in channels if str(c.pk) == chosen), None) or (
            channels[0] if channels else None
        )
        if self.channel is not None and not self.is_bound:
            self.initial.setdefault("channel", self.channel.pk)
        for name, label in ADDRESS_FIELDS.items():
            self.fields[f"ship_{name}"] = forms.CharField(
                label=label, max_length=250 if name.startswith("line") else 100, required=False
            )
        if self.channel is not None:
            self.initial.setdefault("ship_country", self.channel.country)
        self.address_fields = [f"ship_{name}" for name in ADDRESS_FIELDS]
        self._channel_choices()
        self._customer_choices()

    def _value(self, name: str) -> Any:
        if self.is_bound:
            return self.data.get(name)
        return self.initial.get(name)

    def _channel_choices(self) -> None:
        methods = (
            ShippingMethod.objects.filter(channel=self.channel, is_active=True).order_by(
                "position", "code"
            )
            if self.channel
            else []
        )
        self.fields["shipping_method"].choices = [
            ("", "—"),
            *((m.code, m.name) for m in methods),
        ]
        stores = (
            StockLocation.objects.filter(
                is_active=True, pickup_enabled=True, channels=self.channel
            ).order_by("routing_priority", "code")
            if self.channel
            else []
        )
        self.fields["pickup_store"].choices = [("", "—"), *((s.code, s.name) for s in stores)]
        if len(self.fields["shipping_method"].choices) == 2:
            self.initial.setdefault("shipping_method", self.fields["shipping_method"].choices[1][0])

    def _customer_choices(self) -> None:
        """The customer chosen so far and the matches of the search, as radio buttons; and the
        chosen customer's saved addresses."""
        active = Customer.objects.filter(state=Customer.State.ACTIVE)
        term = (self._value("find") or "").strip()
        self.matches: list[Customer] = (
            list(customer_search(active, term).order_by("-last_order_at", "-id")[:MATCHES])
            if term
            else []
        )
        self.searched = bool(term)
        selected_id = str(self._value("customer") or "")
        self.selected: Customer | None = None
        if selected_id.isdigit():
            self.selected = (
                next((c for c in self.matches if c.pk == int(selected_id)), None)
                or active.filter(pk=int(selected_id)).first()
            )
        candidates = ([self.selected] if self.selected else []) + [
            c for c in self.matches if c != self.selected
        ]
        self.fields["customer"].choices = [
            ("", _("New customer (details below)")),
            *((c.pk, customer_label(c)) for c in candidates),
        ]
        addresses = (
            list(self.selected.addresses.order_by("-is_default_shipping", "id"))
            if (self.selected)
            else []
        )
        self.saved_addresses = {a.pk: a for a in addresses}
        self.fields["saved_address"].choices = [
            ("", _("The address typed below")),
            *((a.pk, address_label(a)) for a in addresses),
        ]

    # --- checks -------------------------------------------------------------------------------

    def clean_lines(self) -> str:
        text = self.cleaned_data.get("lines", "")
        rows, errors = parse_rows(text)
        self.variants = {
            v.sku: v
            for v in ProductVariant.objects.select_related("product").filter(
                sku__in={row.sku for row in rows}
            )
        }
        errors += [
            row_message(row, _("there is no such SKU."))
            for row in rows
            if row.sku not in self.variants
        ]
        if errors:
            raise ValidationError(errors)
        if not rows and self.intent in ("check", "place"):
            raise ValidationError(_("Add at least one line: a SKU and its quantity."))
        self.rows = rows
        return text

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if self.channel is None:
            raise ValidationError(_("There is no active phone channel: add one (kind phone)."))
        customer = self.selected if cleaned.get("customer") else None
        cleaned["customer_obj"] = customer
        if customer is None and cleaned.get("phone"):
            try:
                cleaned["phone"] = normalise_phone(cleaned["phone"], self.channel.country)
            except ValidationError as exc:
                self.add_error("phone", exc)
        if self.intent != "place":
            return cleaned
        if (
            customer is None
            and not (cleaned.get("email") or cleaned.get("phone"))
            and "phone" not in self.errors
        ):
            self.add_error(
                "email",
                _("Choose a customer above, or give an e-mail or a phone number for a new one."),
            )
        if cleaned.get("delivery") == PICKUP:
            if not cleaned.get("pickup_store"):
                self.add_error("pickup_store", _("Choose the store the customer collects from."))
        else:
            saved = cleaned.get("saved_address")
            if saved is not None and saved not in self.saved_addresses:
                self.add_error("saved_address", _("This address is not the customer's."))
            if saved is None and not cleaned.get("ship_line1"):
                self.add_error("ship_line1", _("Give the address to deliver to."))
        # Payment-method rules (a card needs its token, no cash on delivery for a pickup) and
        # a missing shipping method are the checkout's: `phone_order_place` refuses them before
        # anything is written, and `add_service_error` puts them on their fields.
        return cleaned

    # --- what the services get ----------------------------------------------------------------

    def shipping_address(self) -> dict[str, str]:
        data = self.cleaned_data
        saved = self.saved_addresses.get(data.get("saved_address"))
        if saved is not None:
            address = {name: getattr(saved, name, "") for name in ADDRESS_FIELDS}
        else:
            address = {name: data.get(f"ship_{name}", "") for name in ADDRESS_FIELDS}
        person = data["customer_obj"]
        names = (
            {"first_name": person.first_name, "last_name": person.last_name}
            if person
            else {"first_name": data.get("first_name", ""), "last_name": data.get("last_name", "")}
        )
        for name, value in names.items():
            address[name] = address[name] or value
        address["phone"] = address["phone"] or data.get("phone") or (person.phone if person else "")
        address["country"] = (address["country"] or self.channel.country).upper()
        return address

    def add_service_error(self, error: DomainError) -> None:
        """Put what a service refused on the field or row it concerns."""
        if isinstance(error, services.PaymentDeclined):
            self.add_error(
                "card_token"
                if self.cleaned_data.get("payment_method") == PaymentMethod.CARD
                else None,
                _("The payment was declined: %(reason)s") % {"reason": error.detail},
            )
            return
        if isinstance(error, ValidationFailed) and error.errors:
            for key, messages_ in error.errors.items():
                for message in messages_:
                    self._place_error(key, message)
            return
        sku = error.extra.get("sku")
        row = next((r for r in self.rows if r.sku == sku), None)
        if row is not None:
            self.add_error("lines", row_message(row, error.detail))
        else:
            self.add_error(None, problem(error))

    def _place_error(self, key: str, message: Any) -> None:
        match = LINE_ERROR.match(key)
        if match and int(match.group(1)) < len(self.rows):
            self.add_error("lines", row_message(self.rows[int(match.group(1))], message))
            return
        row = next((r for r in self.rows if r.sku == key), None)  # the quote names a SKU
        if row is not None:
            self.add_error("lines", row_message(row, message))
            return
        if key.startswith("shipping_address."):
            name = f"ship_{key.split('.', 1)[1]}"
            if self.cleaned_data.get("saved_address") is not None:
                name = "saved_address"
            self.add_error(name if name in self.fields else None, message)
            return
        field = {
            "email": "email",
            "phone": "phone",
            "channel": "channel",
            "lines": "lines",
            "variant": "lines",
            "shipping_method": "shipping_method",
            "pickup_location": "pickup_store",
            "payment.method": "payment_method",
            "payment.token": "card_token",
            "note": "note",
        }.get(key)
        self.add_error(field, message if field else f"{key}: {message}")


def availability(form: PhoneOrderForm) -> dict[str, Any]:
    """Per typed row: the price in the phone channel, what the channel can sell now, and the
    availability at each of its locations; and where routing would likely send it from."""
    channel, rows = form.channel, [r for r in form.rows if r.sku in form.variants]
    variants = [form.variants[r.sku] for r in rows]
    priced = lines_for(
        channel,
        [(v.pk, r.quantity) for v, r in zip(variants, rows, strict=True)],
        now=timezone.now(),
    )
    sellable = availability_for_channel(channel=channel, variant_ids={v.pk for v in variants})
    result, goods = [], Decimal(0)
    for row, variant, line in zip(rows, variants, priced, strict=True):
        if line.unit_price is not None:
            goods += line.unit_price * row.quantity
        result.append(
            {
                "row": row.number,
                "sku": row.sku,
                "name": " / ".join(p for p in (variant.product.name, variant.name) if p),
                "quantity": row.quantity,
                "price": money(line.unit_price, channel.currency)
                if line.unit_price is not None
                else _("not sold in this channel"),
                "amount": money(line.unit_price * row.quantity, channel.currency)
                if line.unit_price is not None
                else "—",
                "available": sellable.get(variant.pk, 0),
                "enough": sellable.get(variant.pk, 0) >= row.quantity,
                "locations": [
                    {
                        "name": entry.location.name,
                        "code": entry.location.code,
                        "kind": entry.location.get_kind_display(),
                        "available": entry.available,
                        "on_hand": entry.on_hand,
                        "ships": entry.location.ships_to_customers,
                        "pickup": entry.location.pickup_enabled,
                    }
                    for entry in availability_by_location(variant_id=variant.pk, channel=channel)
                ],
            }
        )
    data = form.cleaned_data
    pickup = data.get("delivery") == PICKUP and data.get("pickup_store")
    store = location_by_code(data["pickup_store"]) if pickup else None
    country = (data.get("ship_country") or channel.country or "").upper()
    source = route_preview(
        channel_id=channel.pk,
        rows=[(v.pk, r.quantity) for v, r in zip(variants, rows, strict=True)],
        destination=None if store else pricing.Destination(country, data.get("ship_region", "")),
        pickup_location_id=store.pk if store else None,
    )
    return {
        "rows": result,
        "goods": money(goods, channel.currency),
        "ships_from": ", ".join(location.name for location in source),
    }


def place(form: PhoneOrderForm, actor) -> Order:
    data = form.cleaned_data
    customer = data["customer_obj"]
    pickup = data["delivery"] == PICKUP
    card = data["payment_method"] == PaymentMethod.CARD
    order = services.phone_order_place(
        channel=form.channel,
        lines=[services.SkuLine(sku=row.sku, quantity=row.quantity) for row in form.rows],
        payment=services.PaymentInput(
            method=data["payment_method"], token=data["card_token"] if card else ""
        ),
        customer=customer,
        email="" if customer else data["email"],
        phone=data["phone"] or (customer.phone if customer else ""),
        shipping_address=None if pickup else form.shipping_address(),
        shipping_method="" if pickup else data["shipping_method"],
        pickup_store=data["pickup_store"] if pickup else "",
        note=data["note"],
        actor=actor,
    )
    if customer is None and order.customer_id:
        # The checkout found or created the profile by e-mail or phone, with the names of the
        # address if there was one; the names the agent took down fill what is still blank.
        names = {"first_name": data["first_name"], "last_name": data["last_name"]}
        profile = Customer.objects.get(pk=order.customer_id)
        blanks = {k: v for k, v in names.items() if v and not getattr(profile, k)}
        if blanks and profile.is_active:
            customers.customer_update(profile, actor=actor, **blanks)
    return order


def phone_order_view(order_admin, request):
    if not request.user.has_perm(PERMISSION):
        raise PermissionDenied
    intent = ""
    if request.method == "POST":
        intent = next((n for n in ("place", "check", "find") if f"_{n}" in request.POST), "find")
    initial: dict[str, Any] = {}
    wanted = request.GET.get("customer", "")
    if request.method == "GET" and wanted:
        customer = (
            Customer.objects.filter(pk=int(wanted), state=Customer.State.ACTIVE).first()
            if wanted.isdigit()
            else None
        )
        if customer is None:
            order_admin.message_user(
                request,
                _("There is no active customer #%(id)s.") % {"id": wanted},
                messages.WARNING,
            )
        else:
            default = customer.addresses.filter(is_default_shipping=True).first()
            initial = {"customer": customer.pk, "saved_address": default.pk if default else None}
    form = PhoneOrderForm(request.POST or None, intent=intent, initial=initial)
    checked = None
    if request.method == "POST" and form.is_valid():
        if intent == "check":
            checked = availability(form)
        elif intent == "place":
            try:
                order = place(form, request.user)
            except DomainError as error:
                form.add_service_error(error)
                if form.rows:
                    checked = availability(form)
            else:
                order_admin.message_user(
                    request,
                    _("Order %(number)s placed in %(channel)s: %(total)s, %(payment)s.")
                    % {
                        "number": order.number,
                        "channel": form.channel.name,
                        "total": money(order.total, order.currency),
                        "payment": order.get_payment_method_display(),
                    },
                    messages.SUCCESS,
                )
                return redirect(reverse("admin:orders_order_change", args=[order.pk]))
    context = {
        **order_admin.admin_site.each_context(request),
        "opts": order_admin.model._meta,
        "title": _("Place a phone order"),
        "form": form,
        "customer_fields": [form[name] for name in form.customer_fields],
        "address_fields": [form[name] for name in form.address_fields],
        "delivery_fields": [form[name] for name in form.delivery_fields],
        "payment_fields": [form[name] for name in form.payment_fields],
        "selected": form.selected,
        "matches": form.matches,
        "searched": form.searched,
        "checked": checked,
        "channel": form.channel,
    }
    return TemplateResponse(request, "admin/orders/order/phone.html", context)


def urls(order_admin) -> list:
    return [
        path(
            "phone/",
            order_admin.admin_site.admin_view(partial(phone_order_view, order_admin)),
            name="orders_order_phone",
        )
    ]
