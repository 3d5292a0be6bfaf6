"""Sold out and back again: edge-triggered stock events, hide and restore only what automation
hid, one purchase order, and one back-in-stock message per shopper who asked."""

from __future__ import annotations

from decimal import Decimal

import pytest

from automation.models import AutomationHide, BackInStockRequest, Message, RuleRun
from automation.rules.library import install
from automation.rules.services import back_in_stock_request
from catalog.models import ProductChannelListing, ProductVariant
from catalog.services import product_listing_set
from commerce.models import OutboxEvent
from inventory.models import PurchaseOrderLine, Stock, StockLocation, Supplier, SupplierItem
from inventory.services import stock_adjust

from .conftest import deliver, dispatch_all

R = RuleRun.Status


@pytest.fixture
def lotion(omni) -> ProductVariant:
    variant = ProductVariant.objects.get(sku="SKN-LOT-150")
    supplier = Supplier.objects.create(code="kome", name="Kome Cosmetics", email="po@kome.example")
    SupplierItem.objects.create(
        supplier=supplier, variant=variant, cost=Decimal(1200), minimum_order_quantity=12
    )
    return variant


def tokyo(variant) -> Stock:
    return Stock.objects.get(variant=variant, location=StockLocation.objects.get(code="tokyo-wh"))


def set_on_hand(variant, level: int) -> None:
    stock = tokyo(variant)
    stock_adjust(
        variant_id=variant.pk,
        location_id=stock.location_id,
        delta=level - stock.on_hand,
        note="count",
    )
    dispatch_all()


def test_ten_to_zero_fires_one_low_and_one_out_hides_once_and_drafts_one_order(omni, lotion):
    sold_out = install("sold_out", status="active")
    set_on_hand(lotion, 10)
    OutboxEvent.objects.filter(type__startswith="stock.").delete()
    for level in range(9, -1, -1):
        set_on_hand(lotion, level)
    types = list(
        OutboxEvent.objects.filter(type__startswith="stock.").values_list("type", flat=True)
    )
    assert sorted(types) == ["stock.low", "stock.out"]
    run = RuleRun.objects.get(rule=sold_out, status=R.SUCCEEDED)
    listing = ProductChannelListing.objects.get(product=lotion.product, channel__code="web-jp")
    assert not listing.is_published
    assert (
        AutomationHide.objects.filter(product=lotion.product, restored_at__isnull=True).count() == 1
    )
    assert PurchaseOrderLine.objects.filter(variant=lotion).count() == 1
    # Redelivering the stock.out event changes nothing more.
    from automation.rules.engine import on_event

    on_event(OutboxEvent.objects.get(type="stock.out"))
    assert PurchaseOrderLine.objects.filter(variant=lotion).count() == 1
    assert RuleRun.objects.filter(rule=sold_out).exclude(status=R.SKIPPED).count() == 1
    assert run.product_id == lotion.product_id


def test_restock_restores_only_what_automation_hid_and_tells_each_shopper_once(omni, lotion):
    install("sold_out", status="active")
    install("back_in_stock", status="active")
    web_jp = omni.yamato.channel
    # Staff took the sweater off sale by hand: no rule may put it back.
    sweater = ProductVariant.objects.filter(product__name="Merino Sweater").first()
    product_listing_set(product=sweater.product, channel=web_jp, is_published=False)
    set_on_hand(lotion, 0)
    for email in ("aiko@example.jp", "ben@example.com", "aiko@example.jp"):
        back_in_stock_request(variant=lotion, channel=web_jp, email=email)
    assert BackInStockRequest.objects.filter(notified_at__isnull=True).count() == 2
    set_on_hand(lotion, 8)
    deliver()
    listing = ProductChannelListing.objects.get(product=lotion.product, channel=web_jp)
    assert listing.is_published
    assert not ProductChannelListing.objects.get(
        product=sweater.product, channel=web_jp
    ).is_published
    told = Message.objects.filter(kind="back_in_stock").order_by("recipient")
    assert [m.recipient for m in told] == ["aiko@example.jp", "ben@example.com"]
    assert all(m.status == Message.Status.SENT for m in told)
    # Out and back once more: nobody is waiting any more, so nobody is told again.
    set_on_hand(lotion, 0)
    set_on_hand(lotion, 8)
    deliver()
    assert Message.objects.filter(kind="back_in_stock").count() == 2


def test_the_sold_out_alert_names_in_stock_alternatives(omni, lotion):
    from automation.models import StaffAlert

    install("sold_out", status="active")
    set_on_hand(lotion, 0)
    alert = StaffAlert.objects.get(title__startswith="Sold out")
    assert "In-stock alternatives:" in alert.body
