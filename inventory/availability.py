"""The catalogue's availability provider (see `catalog.availability`)."""

from collections.abc import Iterable

from django.db.models import Q

from commerce.models import Channel
from inventory import selectors


class InventoryAvailability:
    def for_variants(
        self,
        *,
        channel: Channel | int,
        variant_ids: Iterable[int],
        components: dict[int, list[tuple[int, int]]] | None = None,
    ) -> dict[int, int]:
        return selectors.availability_for_channel(
            channel=channel, variant_ids=variant_ids, components=components
        )

    def in_stock_condition(self, *, channel: Channel) -> Q:
        return selectors.product_in_stock_condition(channel=channel)
