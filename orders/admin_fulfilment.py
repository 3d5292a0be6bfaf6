"""The fulfilment back office: parcels and pickups per location, their actions, the pick list.

Fulfilments are read-only pages, like orders: warehouse and store staff change them only through
the actions (mark picking or packed, ship with a tracking number, ready for pickup, hand over a
pickup against its code, re-route), which call `orders.services` and report per fulfilment what
went through and what the service refused, with its message. The tables shown on the order page
(its fulfilments and the routing decisions) are built here too.

Imported at the end of `orders.admin`, whose helpers it uses.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Prefetch, Q
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import formats, timezone
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext_lazy

from commerce.admin_helpers import run_each, table, when
from inventory.models import StockLocation
from orders import selectors, services
from orders.models import (
    Carrier,
    Fulfilment,
    FulfilmentLine,
    Order,
    OrderHistory,
)

F = Fulfilment.State
# Not out of the building and not on the pickup shelf: late once the promised dispatch passes
# (what the delay detector looks at).
WAITING = [F.PENDING, F.PICKING, F.PACKED]
# What a picker still has to take off the shelves.


def is_late(fulfilment: Fulfilment, now=None) -> bool:
    return bool(
        fulfilment.state in WAITING
        and fulfilment.ship_by
        and fulfilment.ship_by < (now or timezone.now())
    )


def day(value) -> str:
    return formats.date_format(value, "Y-m-d") if value else "—"


def tracking_link(fulfilment: Fulfilment):
    if not fulfilment.tracking_number:
        return "—"
    if fulfilment.tracking_url:
        return format_html(
            '<a href="{}" target="_blank" rel="noopener">{}</a>',
            fulfilment.tracking_url,
            fulfilment.tracking_number,
        )
    return fulfilment.tracking_number


def late_marker(fulfilment: Fulfilment, now=None):
    if not is_late(fulfilment, now):
        return ""
    return format_html('<strong class="fulfilment-late">{}</strong>', _("late"))


def state_with_marker(fulfilment: Fulfilment, now=None):
    marker = late_marker(fulfilment, now)
    if not marker:
        return fulfilment.get_state_display()
    return format_html("{} {}", fulfilment.get_state_display(), marker)


def lines_text(fulfilment: Fulfilment) -> str:
    """`SKU x units` for each line, from the prefetched lines and their order lines."""
    return ", ".join(f"{line.order_line.sku} x {line.quantity}" for line in fulfilment.lines.all())


# --- On the order page ------------------------------------------------------------------------


def order_fulfilments_table(order: Order):
    """The order's fulfilments: where from, state, carrier and tracking, promises, lines."""
    fulfilments = (
        Fulfilment.objects.filter(order=order)
        .select_related("location", "carrier")
        .prefetch_related(
            Prefetch("lines", queryset=FulfilmentLine.objects.select_related("order_line"))
        )
        .order_by("id")
    )
    now = timezone.now()
    rows = [
        (
            format_html(
                '<a href="{}">{}</a>',
                reverse("admin:orders_fulfilment_change", args=[f.pk]),
                f.number,
            ),
            f.get_kind_display(),
            state_with_marker(f, now),
            f.location.name,
            f.carrier.name if f.carrier_id else "—",
            tracking_link(f),
            when(f.ship_by),
            day(f.estimated_delivery),
            lines_text(f),
            f.routing_reason or "—",
        )
        for f in fulfilments
    ]
    return table(
        [
            _("fulfilment"),
            _("kind"),
            _("state"),
            _("from"),
            _("carrier"),
            _("tracking"),
            _("promised dispatch"),
            _("estimated delivery"),
            _("lines"),
            _("why here"),
        ],
        rows,
        empty=_("Not routed yet."),
    )


def _decision_rows(decision: dict[str, Any], only: str | None = None) -> list[tuple[Any, ...]]:
    """One routing record of `Order.routing` as rows (at, decision, location, details); with
    `only`, the parts that concern that fulfilment (its choice, the alternatives passed over
    and left out in the same decision, its re-routes)."""
    at = decision.get("at", "")
    rows: list[tuple[Any, ...]] = []
    if "rerouted" in decision:
        if only and decision.get("rerouted") != only:
            return []
        moved = {"number": decision.get("rerouted", ""), "before": decision.get("from", "")}
        if decision.get("by"):
            details = _("%(number)s moved from %(before)s by %(by)s") % {
                **moved,
                "by": decision["by"],
            }
        else:
            details = _("%(number)s moved from %(before)s") % moved
        if decision.get("reason"):
            details = f"{details}: {decision['reason']}"
        rows.append((at, _("re-routed"), decision.get("to", ""), details))
        return rows
    chosen = decision.get("chosen") or []
    if only and not any(c.get("fulfilment") == only for c in chosen):
        return []
    for choice in chosen:
        if only and choice.get("fulfilment") != only:
            continue
        details = choice.get("reason") or ""
        label = _("chosen for %(number)s") % {"number": choice.get("fulfilment", "")}
        rows.append((at, label, choice.get("location", ""), details))
    for passed in decision.get("passed_over") or []:
        rows.append(
            (
                at,
                _("passed over"),
                passed.get("location", ""),
                _("lacks %(what)s") % {"what": passed.get("lacks", "")},
            )
        )
    for excluded in decision.get("excluded") or []:
        rows.append((at, _("left out"), excluded.get("location", ""), excluded.get("reason", "")))
    return rows


def _at(value: str) -> str:
    moment = None
    if value:
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return value
    return when(moment)


def routing_rows(order: Order, only: str | None = None) -> list[tuple[Any, ...]]:
    rows = []
    for decision in order.routing or []:
        if isinstance(decision, dict):
            rows += [(_at(r[0]), *r[1:]) for r in _decision_rows(decision, only)]
    return rows


def order_routing_table(order: Order):
    """Every routing decision recorded on the order, with the reasons."""
    return table(
        [_("at"), _("decision"), _("location"), _("why")],
        routing_rows(order),
        empty=_("No routing decision recorded."),
    )


# --- Fulfilments ------------------------------------------------------------------------------


class LateFilter(admin.SimpleListFilter):
    title = _("late")
    parameter_name = "late"

    def lookups(self, request, model_admin):
        return [
            ("yes", _("Late: promised dispatch passed")),
            ("no", _("Not late")),
        ]

    def queryset(self, request, queryset):
        late = Q(state__in=WAITING, ship_by__lt=timezone.now())
        if self.value() == "yes":
            return queryset.filter(late)
        if self.value() == "no":
            return queryset.exclude(late)
        return queryset


class LocationFilter(admin.SimpleListFilter):
    """By location code (the pick list is linked with the same code)."""

    title = _("location")
    parameter_name = "location"

    def lookups(self, request, model_admin):
        return [
            (location.code, location.name)
            for location in StockLocation.objects.filter(is_active=True).order_by("name")
        ]

    def queryset(self, request, queryset):
        return queryset.filter(location__code=self.value()) if self.value() else queryset


class FulfilmentsForm(forms.Form):
    """An action's form, for the selected fulfilments."""

    def __init__(self, *args: Any, fulfilments: list[Fulfilment], **kwargs: Any) -> None:
        self.fulfilments = fulfilments
        super().__init__(*args, **kwargs)


class ShipForm(FulfilmentsForm):
    carrier = forms.ModelChoiceField(
        label=_("Carrier"),
        queryset=Carrier.objects.filter(is_active=True),
        required=False,
        empty_label=_("The shipping method's carrier"),
    )

    def __init__(self, *args: Any, fulfilments: list[Fulfilment], **kwargs: Any) -> None:
        super().__init__(*args, fulfilments=fulfilments, **kwargs)
        # One parcel, one tracking number: a field per selected fulfilment.
        for fulfilment in fulfilments:
            self.fields[f"tracking_{fulfilment.pk}"] = forms.CharField(
                label=_("Tracking number of %(number)s") % {"number": fulfilment.number},
                max_length=100,
                required=False,
            )

    def tracking_number(self, fulfilment: Fulfilment) -> str:
        return self.cleaned_data.get(f"tracking_{fulfilment.pk}", "")


class PickupCodeForm(FulfilmentsForm):
    code = forms.CharField(
        label=_("Pickup code"),
        max_length=12,
        help_text=_("The code the customer shows (from the ready-for-pickup message)."),
    )


class RerouteForm(FulfilmentsForm):
    location = forms.ModelChoiceField(
        label=_("Send from"),
        queryset=StockLocation.objects.filter(is_active=True, ships_to_customers=True).order_by(
            "routing_priority", "code"
        ),
        to_field_name="code",
    )
    reason = forms.CharField(label=_("Reason"), max_length=250)


@admin.register(Carrier)
class CarrierAdmin(admin.ModelAdmin):
    list_display = ["name", "code", "tracking_url_template", "is_active"]
    list_filter = ["is_active"]
    search_fields = ["code", "name"]


@admin.register(Fulfilment)
class FulfilmentAdmin(admin.ModelAdmin):
    """Fulfilments are read-only pages; staff move them on through the actions."""

    list_display = [
        "number",
        "order_link",
        "kind",
        "state",
        "location",
        "carrier",
        "tracking",
        "ship_by",
        "estimated_delivery",
        "late",
    ]
    list_filter = ["state", "kind", LocationFilter, LateFilter]
    search_fields = ["^number", "=order__number", "=tracking_number"]
    search_help_text = _("Fulfilment number, order number or tracking number.")
    list_select_related = ["order", "location", "carrier"]
    show_full_result_count = False
    change_form_template = "admin/orders/fulfilment/change_form.html"
    change_list_template = "admin/orders/fulfilment/change_list.html"
    action_template = "admin/orders/fulfilment/action.html"
    fieldsets = [
        (
            None,
            {
                "fields": [
                    ("number", "order_link", "kind", "state"),
                    ("location", "late"),
                    # Not the pickup code: a pickup is handed over against the code the
                    # customer shows, so the counter must not read it off this page.
                    ("carrier", "tracking"),
                    ("ship_by", "estimated_delivery"),
                    ("created_at", "ready_at", "shipped_at", "delivered_at", "cancelled_at"),
                    ("delayed_at", "uncollected_at"),
                ]
            },
        ),
        (_("Lines"), {"fields": ["lines_table"]}),
        (_("Why here"), {"fields": ["routing_reason", "why_here"]}),
        (_("Tracking"), {"fields": ["tracking_table"]}),
    ]
    actions = [
        "mark_picking",
        "mark_packed",
        "ship_selected",
        "ready_selected",
        "collect_selected",
        "reroute_selected",
    ]

    # --- permissions: read-only page, no add, no delete -------------------------------------

    def has_add_permission(self, request) -> bool:
        return False  # made by routing when an order is placed

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        # As for orders: the change permission runs the actions; the page itself is view-only.
        if obj is not None:
            return False
        return super().has_change_permission(request)

    # --- columns ------------------------------------------------------------------------------

    @admin.display(description=_("order"), ordering="order__number")
    def order_link(self, obj: Fulfilment):
        url = reverse("admin:orders_order_change", args=[obj.order_id])
        return format_html('<a href="{}">{}</a>', url, obj.order)

    @admin.display(description=_("tracking"), ordering="tracking_number")
    def tracking(self, obj: Fulfilment):
        return tracking_link(obj)

    @admin.display(description=_("late"))
    def late(self, obj: Fulfilment):
        return late_marker(obj) or "—"

    # --- the fulfilment page ------------------------------------------------------------------

    def get_urls(self):
        return [
            path(
                "pick-list/",
                self.admin_site.admin_view(self.pick_list_view),
                name="orders_fulfilment_pick_list",
            ),
            *super().get_urls(),
        ]

    def changelist_view(self, request, extra_context=None):
        extra_context = {
            **(extra_context or {}),
            "pick_list_url": reverse("admin:orders_fulfilment_pick_list"),
            "pick_list_location": request.GET.get(LocationFilter.parameter_name, ""),
        }
        return super().changelist_view(request, extra_context)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = {
            **(extra_context or {}),
            "fulfilment_actions": self._page_actions(request),
            "fulfilment_changelist_url": reverse("admin:orders_fulfilment_changelist"),
        }
        return super().change_view(request, object_id, form_url, extra_context)

    def _page_actions(self, request) -> list[tuple[str, str]]:
        if not self.has_change_permission(request):
            return []
        return [(name, label) for name, label in self.get_action_choices(request) if name]

    @admin.display(description=_("lines"))
    def lines_table(self, obj: Fulfilment):
        lines = obj.lines.select_related("order_line").order_by("id")
        return table(
            [_("SKU"), _("product"), _("units in this fulfilment"), _("units ordered")],
            [
                (
                    line.order_line.sku,
                    " / ".join(
                        p for p in (line.order_line.product_name, line.order_line.variant_name) if p
                    ),
                    line.quantity,
                    line.order_line.quantity,
                )
                for line in lines
            ],
        )

    @admin.display(description=_("routing decisions and history"))
    def why_here(self, obj: Fulfilment):
        order = obj.order
        rows = routing_rows(order, obj.number)
        # The history entries that name this fulfilment (routed, picking, shipped, re-routed...).
        named = re.compile(rf"{re.escape(obj.number)}(?!\d)")
        for entry in (
            OrderHistory.objects.filter(order_id=obj.order_id, message__contains=obj.number)
            .select_related("actor")
            .order_by("created_at", "id")
        ):
            if not named.search(entry.message):
                continue  # another fulfilment whose number starts with this one's
            by = entry.actor.get_username() if entry.actor else ""
            message = f"{entry.message} ({by})" if by else entry.message
            rows.append(
                (when(entry.created_at), _("history: %(kind)s") % {"kind": entry.kind}, "", message)
            )
        return table([_("at"), _("what"), _("location"), _("details")], rows)

    @admin.display(description=_("tracking events"))
    def tracking_table(self, obj: Fulfilment):
        return table(
            [_("when"), _("status"), _("description"), _("where"), _("reported by")],
            [
                (
                    when(event.occurred_at),
                    event.get_status_display(),
                    event.description or "—",
                    event.place or "—",
                    event.source or "—",
                )
                for event in obj.tracking_events.order_by("occurred_at", "id")
            ],
            empty=_("No tracking report yet."),
        )

    # --- actions ------------------------------------------------------------------------------

    def _back(self, request, fulfilments: list[Fulfilment]):
        if request.POST.get("_from_fulfilment") and len(fulfilments) == 1:
            return redirect(reverse("admin:orders_fulfilment_change", args=[fulfilments[0].pk]))
        return None

    def _each(self, request, fulfilments: list[Fulfilment], operation, done_message):
        run_each(
            self,
            request,
            fulfilments,
            operation,
            done_message,
            _("Fulfilment %(number)s: %(problem)s"),
        )
        return self._back(request, fulfilments)

    def _selected(self, queryset) -> list[Fulfilment]:
        return list(queryset.select_related("order", "location", "carrier").order_by("pk"))

    def _with_form(self, request, queryset, form_class, title, operation, done_message, note=""):
        fulfilments = self._selected(queryset)
        data = request.POST if "apply" in request.POST else None
        form = form_class(data, fulfilments=fulfilments)
        if form.is_valid():
            return self._each(request, fulfilments, lambda f: operation(f, form), done_message)
        rows = [
            {
                "pk": f.pk,
                "number": f.number,
                "order": str(f.order),
                "order_pk": f.order_id,
                "kind": f.get_kind_display(),
                "state": f.get_state_display(),
                "location": f.location.name,
                "carrier": f.carrier.name if f.carrier_id else "—",
                "tracking": f.tracking_number or "—",
            }
            for f in fulfilments
        ]
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "form": form,
            "fulfilments": rows,
            "title": title,
            "note": note,
            "action": request.POST.get("action", ""),
            "from_fulfilment": request.POST.get("_from_fulfilment", ""),
        }
        return TemplateResponse(request, self.action_template, context)

    @admin.action(description=_("Mark picking"), permissions=["change"])
    def mark_picking(self, request, queryset):
        return self._each(
            request,
            self._selected(queryset),
            lambda f: services.fulfilment_prepare(f, state=F.PICKING, actor=request.user),
            ngettext_lazy(
                "%(count)s fulfilment is being picked.",
                "%(count)s fulfilments are being picked.",
                "count",
            ),
        )

    @admin.action(description=_("Mark packed"), permissions=["change"])
    def mark_packed(self, request, queryset):
        return self._each(
            request,
            self._selected(queryset),
            lambda f: services.fulfilment_prepare(f, state=F.PACKED, actor=request.user),
            ngettext_lazy("%(count)s fulfilment packed.", "%(count)s fulfilments packed.", "count"),
        )

    @admin.action(description=_("Ship (carrier and tracking number)"), permissions=["change"])
    def ship_selected(self, request, queryset):
        def ship(fulfilment: Fulfilment, form: ShipForm) -> None:
            services.fulfilment_ship(
                fulfilment,
                carrier=form.cleaned_data["carrier"],
                tracking_number=form.tracking_number(fulfilment),
                actor=request.user,
                source="admin",
            )

        return self._with_form(
            request,
            queryset,
            ShipForm,
            _("Ship fulfilments"),
            ship,
            ngettext_lazy(
                "%(count)s fulfilment shipped.", "%(count)s fulfilments shipped.", "count"
            ),
            note=_(
                "On-hand stock goes down at each fulfilment's location and the orders become "
                "partially fulfilled or fulfilled."
            ),
        )

    @admin.action(description=_("Mark ready for pickup"), permissions=["change"])
    def ready_selected(self, request, queryset):
        return self._each(
            request,
            self._selected(queryset),
            lambda f: services.fulfilment_ready(f, actor=request.user),
            ngettext_lazy(
                "%(count)s pickup is ready; the customer is told.",
                "%(count)s pickups are ready; the customers are told.",
                "count",
            ),
        )

    @admin.action(description=_("Hand over a pickup (pickup code)"), permissions=["change"])
    def collect_selected(self, request, queryset):
        if queryset.count() != 1:
            self.message_user(
                request,
                _("Select one pickup at a time: its code is checked against that order."),
                messages.ERROR,
            )
            return None
        return self._with_form(
            request,
            queryset,
            PickupCodeForm,
            _("Hand over a pickup"),
            lambda f, form: services.fulfilment_collect(
                f, code=form.cleaned_data["code"], actor=request.user
            ),
            ngettext_lazy(
                "%(count)s pickup handed over.", "%(count)s pickups handed over.", "count"
            ),
        )

    @admin.action(
        description=_("Re-route to another location (with a reason)"), permissions=["change"]
    )
    def reroute_selected(self, request, queryset):
        return self._with_form(
            request,
            queryset,
            RerouteForm,
            _("Re-route fulfilments"),
            lambda f, form: services.fulfilment_reroute(
                f,
                location=form.cleaned_data["location"],
                reason=form.cleaned_data["reason"],
                actor=request.user,
            ),
            ngettext_lazy(
                "%(count)s fulfilment re-routed.", "%(count)s fulfilments re-routed.", "count"
            ),
            note=_(
                "The stock allocation moves to the new location through the ledger; a location "
                "that lacks the stock is refused and nothing changes."
            ),
        )

    # --- pick list ----------------------------------------------------------------------------

    def pick_list_view(self, request):
        """What to take off the shelves at one location: the open (pending or picking)
        fulfilments there, by SKU with total units and the fulfilments they go into."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        locations = list(StockLocation.objects.filter(is_active=True).order_by("name"))
        code = (request.GET.get("location") or "").strip()
        location = next((loc for loc in locations if loc.code == code), None)
        if code and location is None:
            self.message_user(
                request, _("There is no location %(code)s.") % {"code": code}, messages.ERROR
            )
        skus: list[dict[str, Any]] = []
        fulfilments: list[dict[str, Any]] = []
        if location is not None:
            skus, fulfilments = pick_list(location)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": _("Pick list: %(location)s") % {"location": location.name}
            if location
            else _("Pick list"),
            "locations": locations,
            "location": location,
            "skus": skus,
            "fulfilments": fulfilments,
            "printed_at": when(timezone.now()),
        }
        return TemplateResponse(request, "admin/orders/fulfilment/pick_list.html", context)


def pick_list(location: StockLocation) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(rows by SKU, rows by fulfilment) of `selectors.pick_list`, for the printable page."""
    picking = selectors.pick_list(location)
    now = timezone.now()
    skus = [
        {
            "sku": row.sku,
            "name": " / ".join(p for p in (row.product_name, row.variant_name) if p),
            "quantity": row.quantity,
            "numbers": ", ".join(row.fulfilments),
            "contains": ", ".join(row.contains),
        }
        for row in picking.skus
    ]
    fulfilments = [
        {
            "pk": f.pk,
            "number": f.number,
            "order": str(f.order),
            "kind": f.get_kind_display(),
            "state": f.get_state_display(),
            "ship_by": when(f.ship_by),
            "late": is_late(f, now),
            "lines": lines_text(f),
        }
        for f in picking.fulfilments
    ]
    return skus, fulfilments


__all__ = [
    "CarrierAdmin",
    "FulfilmentAdmin",
    "order_fulfilments_table",
    "order_routing_table",
    "pick_list",
]
