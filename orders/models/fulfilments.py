"""Getting an order to its buyer: one fulfilment per location that serves it (a parcel from a
warehouse, a pickup at a store, a sale handed over at the till), its lines, and what carriers
report about it."""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class Fulfilment(models.Model):
    class Kind(models.TextChoices):
        SHIPMENT = "shipment", _("Shipment")
        PICKUP = "pickup", _("Store pickup")
        IN_STORE = "in_store", _("Handed over in store")

    class State(models.TextChoices):
        PENDING = "pending", _("Pending")
        PICKING = "picking", _("Picking")
        PACKED = "packed", _("Packed")
        READY = "ready", _("Ready for pickup")
        SHIPPED = "shipped", _("Shipped")
        DELIVERED = "delivered", _("Delivered / collected")
        CANCELLED = "cancelled", _("Cancelled")

    order = models.ForeignKey("orders.Order", on_delete=models.CASCADE, related_name="fulfilments")
    number = models.CharField(_("number"), max_length=40, unique=True)
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices)
    state = models.CharField(
        _("state"), max_length=10, choices=State.choices, default=State.PENDING
    )
    location = models.ForeignKey(
        "inventory.StockLocation",
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("from"),
    )
    routing_reason = models.CharField(_("why here"), max_length=500, blank=True)
    carrier = models.ForeignKey(
        "orders.Carrier",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("carrier"),
    )
    tracking_number = models.CharField(_("tracking number"), max_length=100, blank=True)
    tracking_url = models.URLField(_("tracking URL"), max_length=500, blank=True)
    ship_by = models.DateTimeField(
        _("promised dispatch"),
        null=True,
        blank=True,
        help_text=_("Not shipped (or ready for pickup) by then: the fulfilment is late."),
    )
    estimated_delivery = models.DateField(_("estimated delivery"), null=True, blank=True)
    pickup_code = models.CharField(_("pickup code"), max_length=12, blank=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)
    ready_at = models.DateTimeField(_("ready for pickup"), null=True, blank=True)
    shipped_at = models.DateTimeField(_("shipped"), null=True, blank=True)
    delivered_at = models.DateTimeField(_("delivered / collected"), null=True, blank=True)
    cancelled_at = models.DateTimeField(_("cancelled"), null=True, blank=True)
    # Set once, by whoever first notices, so each lateness and each uncollected pickup is
    # announced once however often the beat task runs.
    delayed_at = models.DateTimeField(_("reported late"), null=True, blank=True)
    uncollected_at = models.DateTimeField(_("reported uncollected"), null=True, blank=True)

    class Meta:
        verbose_name = _("fulfilment")
        verbose_name_plural = _("fulfilments")
        ordering = ["order_id", "id"]
        indexes = [
            models.Index(
                fields=["ship_by"],
                condition=Q(state__in=["pending", "picking", "packed"], delayed_at__isnull=True),
                name="fulfilment_may_be_late",
            ),
            models.Index(
                fields=["ready_at"],
                condition=Q(state="ready", uncollected_at__isnull=True),
                name="fulfilment_awaiting_pickup",
            ),
            models.Index(fields=["tracking_number"], name="fulfilment_tracking_number"),
            models.Index(fields=["location", "state"], name="fulfilment_location_state"),
        ]

    def __str__(self) -> str:
        return self.number

    @property
    def is_open(self) -> bool:
        """Not yet out of the building: it may still be re-routed or cancelled."""
        return self.state in OPEN_STATES


OPEN_STATES = {
    Fulfilment.State.PENDING,
    Fulfilment.State.PICKING,
    Fulfilment.State.PACKED,
    Fulfilment.State.READY,
}


class FulfilmentLine(models.Model):
    fulfilment = models.ForeignKey(Fulfilment, on_delete=models.CASCADE, related_name="lines")
    order_line = models.ForeignKey(
        "orders.OrderLine", on_delete=models.CASCADE, related_name="fulfilment_lines"
    )
    quantity = models.PositiveIntegerField(_("quantity"))

    class Meta:
        verbose_name = _("fulfilment line")
        verbose_name_plural = _("fulfilment lines")
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["fulfilment", "order_line"], name="fulfilment_line_once"
            ),
            models.CheckConstraint(
                condition=Q(quantity__gte=1), name="fulfilment_line_quantity_positive"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.quantity} x {self.order_line_id}"


class TrackingEvent(models.Model):
    """A carrier's or 3PL's report about a parcel. The same report twice is stored once."""

    class Status(models.TextChoices):
        INFO = "info", _("Information received")
        IN_TRANSIT = "in_transit", _("In transit")
        OUT_FOR_DELIVERY = "out_for_delivery", _("Out for delivery")
        DELIVERED = "delivered", _("Delivered")
        EXCEPTION = "exception", _("Delivery problem")
        RETURNED = "returned", _("Returned to sender")

    fulfilment = models.ForeignKey(
        Fulfilment, on_delete=models.CASCADE, related_name="tracking_events"
    )
    status = models.CharField(_("status"), max_length=20, choices=Status.choices)
    description = models.CharField(_("description"), max_length=250, blank=True)
    place = models.CharField(_("where"), max_length=100, blank=True)
    occurred_at = models.DateTimeField(_("when"))
    source = models.CharField(_("reported by"), max_length=100, blank=True)
    recorded_at = models.DateTimeField(_("recorded"), default=timezone.now)

    class Meta:
        verbose_name = _("tracking event")
        verbose_name_plural = _("tracking events")
        ordering = ["fulfilment_id", "occurred_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["fulfilment", "status", "occurred_at"], name="tracking_event_once"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.fulfilment_id} {self.status} {self.occurred_at:%Y-%m-%d %H:%M}"
