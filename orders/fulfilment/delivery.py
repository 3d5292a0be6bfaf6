"""Delivery promises: when a location can dispatch, and when the parcel should arrive.

Dispatch is the location's handling days after the order (0: the same day), by the end of that
day in the location's time zone. Arrival adds the carrier's days in transit to the destination:
the shipping rate for the destination's region or country may set its own (Okinawa takes longer
than Tokyo), else the method's. Days are calendar days."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.utils import timezone

from inventory.models import StockLocation
from orders import pricing
from orders.models import ShippingMethod, ShippingRate


def dispatch_date(location: StockLocation, *, now: datetime | None = None) -> date:
    now = now or timezone.now()
    local = now.astimezone(ZoneInfo(location.time_zone))
    return local.date() + timedelta(days=location.handling_days)


def ship_by(location: StockLocation, *, now: datetime | None = None) -> datetime:
    """The end of the dispatch day where the location is."""
    day = dispatch_date(location, now=now)
    return datetime.combine(day, time(23, 59, 59), tzinfo=ZoneInfo(location.time_zone))


def transit_days(method: ShippingMethod | None, destination: pricing.Destination | None) -> int:
    if method is None:
        return 0
    if destination is not None and destination.country:
        days = dict(
            ShippingRate.objects.filter(
                method=method,
                country=destination.country.upper(),
                region__in={"", destination.region},
                transit_days__isnull=False,
            ).values_list("region", "transit_days")
        )
        # The region's own rate wins over the country's, as for prices.
        for region in (destination.region, ""):
            if region in days:
                return days[region]
    return method.transit_days


def estimated_delivery(
    location: StockLocation,
    method: ShippingMethod | None,
    destination: pricing.Destination | None,
    *,
    now: datetime | None = None,
) -> date:
    return dispatch_date(location, now=now) + timedelta(days=transit_days(method, destination))
