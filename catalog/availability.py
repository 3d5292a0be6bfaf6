"""Stock availability for storefront product lists.

The catalogue sits below the inventory in the layers, so it cannot ask it directly: the
inventory registers a provider here when it starts (`InventoryConfig.ready`). Without one (an
installation without inventory), products show no availability and the in-stock filter is off.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from django.db.models import Q

from commerce.models import Channel


class AvailabilityProvider(Protocol):
    def for_variants(
        self,
        *,
        channel: Channel | int,
        variant_ids: Iterable[int],
        components: dict[int, list[tuple[int, int]]] | None = None,
    ) -> dict[int, int]:
        """Sellable units per variant in the channel, in a fixed number of queries. A bundle's
        `components` (bundle variant id -> [(component variant id, quantity)]), when the caller
        already knows them, save the query that finds them."""

    def in_stock_condition(self, *, channel: Channel) -> Q:
        """A condition on Product rows: some variant is sellable in the channel."""


_provider: AvailabilityProvider | None = None


def register_provider(provider: AvailabilityProvider) -> None:
    global _provider
    _provider = provider


def provider() -> AvailabilityProvider | None:
    return _provider
