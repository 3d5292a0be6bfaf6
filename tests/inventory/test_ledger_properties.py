"""Property-based tests of the stock ledger: random sequences of adjust, count, reserve, release,
ship, transfer (dispatch and receive) and purchase-order receiving, against a model of what each
operation must do to on-hand and allocated.

After every step: each stock row's on-hand and allocated are what the model says, neither is
negative, what a channel may sell is never negative and is exactly on-hand less allocated per
location (never below zero each), and `stock_reconcile()` finds the counters equal to the sum of
their ledger movements and the allocations equal to the active order reservations. A refused
operation (409 or 400) must be the one the model expects to refuse, and must change nothing.

Bounded for CI: derandomized (the same sequences every run), 30 sequences of up to 20 steps, on the
real PostgreSQL.
"""

from __future__ import annotations

from collections import defaultdict

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    initialize,
    invariant,
    multiple,
    rule,
    run_state_machine_as_test,
)

from commerce.errors import DomainError
from inventory.errors import InsufficientStock, InvalidStockOperation, NotEnoughOnHand
from inventory.models import Reservation, Stock, Supplier, Transfer
from inventory.selectors import availability_for_channel, stock_reconcile
from inventory.services import (
    ReserveLine,
    StockLevel,
    purchase_order_create,
    purchase_order_receive,
    purchase_order_send,
    stock_adjust,
    stock_release,
    stock_reserve,
    stock_set_levels,
    stock_ship,
    transfer_create,
    transfer_dispatch,
    transfer_receive,
)
from tests.factories import ChannelFactory, ProductVariantFactory
from tests.inventory.conftest import StockLocationFactory

pytestmark = pytest.mark.django_db

VARIANTS = st.sampled_from([0, 1])
LOCATIONS = st.sampled_from([0, 1])


class StockLedger(RuleBasedStateMachine):
    """Two variants in two warehouses of one channel, fresh for every sequence."""

    orders = Bundle("orders")
    in_transit = Bundle("in_transit")

    @initialize()
    def setup(self) -> None:
        self.channel = ChannelFactory()
        self.locations = [StockLocationFactory(channels=[self.channel]) for _ in range(2)]
        self.variants = [ProductVariantFactory() for _ in range(2)]
        self.supplier = Supplier.objects.create(
            code=f"sup-{self.channel.pk}", name="Supplier", currency="JPY"
        )
        self.on_hand: dict[tuple[int, int], int] = defaultdict(int)
        self.allocated: dict[tuple[int, int], int] = defaultdict(int)
        self.next_reference = 0
        # Some stock everywhere to start with, so that early steps already compete for it.
        for variant in range(2):
            for location in range(2):
                key = self.key(variant, location)
                stock_adjust(variant_id=key[0], location_id=key[1], delta=4, reason="receipt")
                self.on_hand[key] = 4

    # --- helpers ---------------------------------------------------------------------------

    def key(self, variant: int, location: int) -> tuple[int, int]:
        return (self.variants[variant].pk, self.locations[location].pk)

    def free(self, variant_id: int, location_id: int) -> int:
        key = (variant_id, location_id)
        return max(0, self.on_hand[key] - self.allocated[key])

    def sellable(self, variant: int) -> int:
        v = self.variants[variant].pk
        return sum(self.free(v, loc.pk) for loc in self.locations)

    def reference(self) -> str:
        self.next_reference += 1
        return f"order:{self.channel.pk}-{self.next_reference}"

    def refused(self, expected: type[DomainError], call) -> None:
        """`call` must raise `expected` and leave every counter as it was."""
        before = self.db_counters()
        with pytest.raises(expected):
            call()
        assert self.db_counters() == before

    def db_counters(self) -> dict[tuple[int, int], tuple[int, int]]:
        return {
            (s.variant_id, s.location_id): (s.on_hand, s.allocated)
            for s in Stock.objects.filter(variant__in=self.variants)
        }

    # --- operations ------------------------------------------------------------------------

    @rule(variant=VARIANTS, location=LOCATIONS, delta=st.integers(-6, 9).filter(bool))
    def adjust(self, variant: int, location: int, delta: int) -> None:
        variant_id, location_id = self.key(variant, location)

        def call():
            return stock_adjust(
                variant_id=variant_id, location_id=location_id, delta=delta, reason="adjustment"
            )

        if self.on_hand[(variant_id, location_id)] + delta < 0:
            self.refused(InvalidStockOperation, call)
            return
        call()
        self.on_hand[(variant_id, location_id)] += delta

    @rule(variant=VARIANTS, location=LOCATIONS, quantity=st.integers(0, 10))
    def count(self, variant: int, location: int, quantity: int) -> None:
        variant_id, location_id = self.key(variant, location)
        stock_set_levels(
            levels=[StockLevel(variant_id=variant_id, location_id=location_id, quantity=quantity)]
        )
        # Reality wins: a count may leave less on hand than is allocated.
        self.on_hand[(variant_id, location_id)] = quantity

    @rule(reference=orders, data=st.data())
    def count_below_an_allocation(self, reference: str, data) -> None:
        """A count that finds fewer units than an order has allocated there (reality wins):
        shipping that order must then be refused."""
        active = self._active(reference)
        if not active:
            return
        reservation = data.draw(st.sampled_from(active), label="allocation")
        key = (reservation.variant_id, reservation.location_id)
        quantity = data.draw(st.integers(0, reservation.quantity - 1), label="counted")
        stock_set_levels(
            levels=[StockLevel(variant_id=key[0], location_id=key[1], quantity=quantity)]
        )
        self.on_hand[key] = quantity

    @rule(
        target=orders,
        variant=VARIANTS,
        quantity=st.integers(1, 6),
        also=st.one_of(st.none(), st.integers(1, 3)),
    )
    def reserve(self, variant: int, quantity: int, also: int | None):
        """An order for one variant, or for both (`also` units of the other)."""
        demand = {self.variants[variant].pk: quantity}
        if also is not None:
            demand[self.variants[1 - variant].pk] = also
        reference = self.reference()

        def call():
            return stock_reserve(
                channel=self.channel,
                lines=[ReserveLine(variant_id=v, quantity=q) for v, q in demand.items()],
                reference=reference,
                kind=Reservation.Kind.ORDER,
            )

        short = any(
            q > sum(self.free(v, loc.pk) for loc in self.locations) for v, q in demand.items()
        )
        if short:
            self.refused(InsufficientStock, call)
            return multiple()  # no order to release or ship
        reservations = call()
        booked: dict[int, int] = defaultdict(int)
        for reservation in reservations:
            key = (reservation.variant_id, reservation.location_id)
            # Never more than was free where it was taken.
            assert reservation.quantity <= self.free(*key)
            self.allocated[key] += reservation.quantity
            booked[reservation.variant_id] += reservation.quantity
        assert dict(booked) == demand
        return reference

    def _active(self, reference: str) -> list[Reservation]:
        return list(
            Reservation.objects.filter(
                reference=reference, kind=Reservation.Kind.ORDER, state=Reservation.State.ACTIVE
            )
        )

    @rule(reference=consumes(orders))
    def release(self, reference: str) -> None:
        active = self._active(reference)
        released = stock_release(reference=reference)
        assert released == sum(r.quantity for r in active)
        for reservation in active:
            self.allocated[(reservation.variant_id, reservation.location_id)] -= (
                reservation.quantity
            )

    @rule(reference=consumes(orders))
    def ship(self, reference: str) -> None:
        active = self._active(reference)
        per_stock: dict[tuple[int, int], int] = defaultdict(int)
        for reservation in active:
            per_stock[(reservation.variant_id, reservation.location_id)] += reservation.quantity
        if any(self.on_hand[key] < units for key, units in per_stock.items()):
            # A count or a write-off left too little: 409, and the order keeps its allocation.
            self.refused(NotEnoughOnHand, lambda: stock_ship(reference=reference))
            for key, units in per_stock.items():
                self.allocated[key] -= units  # released instead, so the bundle may drop it
            stock_release(reference=reference)
            return
        shipped = stock_ship(reference=reference)
        assert shipped == sum(per_stock.values())
        for key, units in per_stock.items():
            self.on_hand[key] -= units
            self.allocated[key] -= units

    @rule(target=in_transit, variant=VARIANTS, source=LOCATIONS, quantity=st.integers(1, 5))
    def transfer(self, variant: int, source: int, quantity: int):
        variant_id, source_id = self.key(variant, source)
        destination = self.locations[1 - source]
        transfer = transfer_create(
            source=self.locations[source],
            destination=destination,
            lines=[(variant_id, quantity)],
        )
        if quantity > self.free(variant_id, source_id):
            self.refused(InsufficientStock, lambda: transfer_dispatch(transfer=transfer))
            return multiple()
        transfer_dispatch(transfer=transfer)
        self.on_hand[(variant_id, source_id)] -= quantity
        return (transfer.pk, variant_id, destination.pk, quantity)

    @rule(shipment=consumes(in_transit))
    def transfer_arrives(self, shipment) -> None:
        transfer_id, variant_id, destination_id, quantity = shipment
        transfer_receive(transfer=Transfer.objects.get(pk=transfer_id))
        self.on_hand[(variant_id, destination_id)] += quantity

    @rule(
        variant=VARIANTS,
        location=LOCATIONS,
        ordered=st.integers(1, 10),
        data=st.data(),
    )
    def purchase_receive(self, variant: int, location: int, ordered: int, data) -> None:
        variant_id, location_id = self.key(variant, location)
        order = purchase_order_create(
            supplier=self.supplier,
            location=self.locations[location],
            lines=[(variant_id, ordered, "100")],
        )
        order = purchase_order_send(purchase_order=order)
        first = data.draw(st.integers(1, ordered), label="first delivery")
        order = purchase_order_receive(purchase_order=order, received={variant_id: first})
        self.on_hand[(variant_id, location_id)] += first
        # More than is still open is refused, naming the line, and books nothing.
        if first < ordered:
            self.refused(
                InvalidStockOperation,
                lambda: purchase_order_receive(
                    purchase_order=order, received={variant_id: ordered - first + 1}
                ),
            )

    # --- what must always hold -------------------------------------------------------------

    @invariant()
    def counters_are_the_model(self) -> None:
        if not hasattr(self, "variants"):
            return
        for key, (on_hand, allocated) in self.db_counters().items():
            assert on_hand >= 0 and allocated >= 0, key
            assert (on_hand, allocated) == (self.on_hand[key], self.allocated[key]), key
        for key, units in self.on_hand.items():
            if units or self.allocated[key]:
                assert key in self.db_counters(), key

    @invariant()
    def available_is_never_negative_and_exact(self) -> None:
        if not hasattr(self, "variants"):
            return
        sellable = availability_for_channel(
            channel=self.channel, variant_ids=[v.pk for v in self.variants]
        )
        assert sellable == {v.pk: self.sellable(i) for i, v in enumerate(self.variants)}
        assert all(units >= 0 for units in sellable.values())

    @invariant()
    def ledger_reconciles(self) -> None:
        if not hasattr(self, "variants"):
            return
        assert stock_reconcile() == []


def test_random_sequences_of_stock_operations_keep_the_ledger_reconciled():
    run_state_machine_as_test(
        StockLedger,
        settings=settings(
            max_examples=30,
            stateful_step_count=20,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
        ),
    )
