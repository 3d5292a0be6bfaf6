"""Every customer hears about their order: one message per (event, kind, recipient), in their
language, with the order's real figures."""

from __future__ import annotations

from datetime import timedelta

from django.core import mail
from django.utils import timezone

from automation.messages import kinds
from automation.models import Message, NotificationSetting
from commerce import events
from commerce.models import EventReceipt, OutboxEvent
from orders import services
from tests.automation_messages.conftest import (
    JP_ADDRESS,
    deliver,
    dispatch_all,
    messages,
    web_order,
)
from tests.inventory.conftest import receive

S = Message.Status


def yen(amount) -> str:
    """How a Japanese message prints yen."""
    return f"{amount:,.0f}円"


def test_one_order_gives_one_confirmation_in_the_customers_language_with_its_totals(omni):
    order = web_order(omni, [("TEE-RED-M", 2), ("TEA-MATCHA-100", 1)])
    assert order.language == "ja"
    assert deliver() == 1

    [sent] = mail.outbox
    assert sent.to == ["hanako@example.jp"]
    assert order.number in sent.subject and "ご注文" in sent.subject
    assert f"合計：{yen(order.total)}" in sent.body
    for line in order.lines.all():
        assert f"{line.product_name}" in sent.body
        assert yen(line.amount) in sent.body
    assert "お支払い方法：クレジットカード" in sent.body
    # Both tax bands of a Japanese receipt: 10 % on the tee, 8 % on the tea.
    assert "10%対象" in sent.body and "8%対象" in sent.body
    html = sent.alternatives[0][0]
    assert yen(order.total) in html
    [logged] = messages(kind=kinds.ORDER_CONFIRMATION)
    assert (logged.status, logged.order_id, logged.recipient) == (
        S.SENT,
        order.pk,
        "hanako@example.jp",
    )
    assert logged.template_version == "built-in" and logged.subject == sent.subject
    assert logged.event.type == "order.placed"


def test_the_same_event_dispatched_twice_still_sends_one_message(omni):
    order = web_order(omni, [("TEE-RED-M", 1)])
    deliver()
    placed = OutboxEvent.objects.get(type="order.placed", subject_id=str(order.pk))
    # A second delivery, even one that lost its receipt (a restore, a consumer renamed): the
    # unique constraint on the log row still stops a second message.
    assert events.dispatch(placed.pk) is True
    EventReceipt.objects.filter(event=placed).delete()
    OutboxEvent.objects.filter(pk=placed.pk).update(dispatched_at=None)
    events.dispatch(placed.pk)
    deliver()
    assert len(mail.outbox) == 1
    assert Message.objects.filter(kind=kinds.ORDER_CONFIRMATION).count() == 1


def test_two_parcels_give_two_shipped_messages_with_their_tracking_links(omni):
    from catalog.models import ProductVariant

    receive(ProductVariant.objects.get(sku="TEE-BLUE-M"), omni.osaka, 2)
    order = web_order(omni, [("TEE-RED-M", 1), ("TEE-BLUE-M", 52)])
    tokyo, osaka = (order.fulfilments.get(location=loc) for loc in (omni.warehouse, omni.osaka))
    services.fulfilment_ship(tokyo, carrier="yamato", tracking_number="4455-6677")
    services.fulfilment_ship(osaka, carrier="yamato", tracking_number="9988")
    deliver()
    shipped = {m.fulfilment_id: m for m in messages(kind=kinds.SHIPPED)}
    assert set(shipped) == {tokyo.pk, osaka.pk}
    bodies = {m.subject: m.body for m in mail.outbox if "発送" in m.subject}
    assert len([m for m in mail.outbox if "発送しました" in m.subject]) == 2
    tokyo_mail = next(m for m in mail.outbox if tokyo.number in m.body)
    osaka_mail = next(m for m in mail.outbox if osaka.number in m.body)
    assert "https://track.example.jp/yamato?number=4455-6677" in tokyo_mail.body
    assert "https://track.example.jp/yamato?number=9988" in osaka_mail.body
    assert "9988" not in tokyo_mail.body
    assert bodies

    services.fulfilment_deliver(tokyo)
    deliver()
    [delivered] = messages(kind=kinds.DELIVERED)
    assert delivered.fulfilment_id == tokyo.pk and delivered.status == S.SENT


def test_a_pickup_gets_ready_then_a_reminder_before_it_is_flagged_uncollected(omni, settings):
    omni.store.opening_hours = "10:00–20:00"
    omni.store.save(update_fields=["opening_hours"])
    order = web_order(omni, [("TEE-RED-M", 1)], pickup="shibuya-store")
    (pickup,) = order.fulfilments.all()
    services.fulfilment_ready(pickup)
    deliver()
    ready_mail = next(m for m in mail.outbox if "お受け取り" in m.subject)
    assert pickup.pickup_code in ready_mail.body and "10:00–20:00" in ready_mail.body
    [reminder] = messages(kind=kinds.PICKUP_REMINDER)
    pickup.refresh_from_db()
    collect_by = pickup.ready_at + timedelta(days=settings.ORDERS_PICKUP_COLLECT_DAYS)
    assert reminder.status == S.QUEUED
    assert reminder.due_at == collect_by - timedelta(hours=24)

    assert deliver(now=reminder.due_at - timedelta(minutes=1)) == 0  # not yet
    assert deliver(now=reminder.due_at + timedelta(minutes=1)) == 1
    reminder.refresh_from_db()
    assert reminder.status == S.SENT and pickup.pickup_code in reminder.body_text
    # Before the shop flags it uncollected, the customer was reminded once.
    assert services.pickups_flag_uncollected(now=collect_by + timedelta(minutes=1)) == 1
    deliver(now=collect_by + timedelta(days=1))
    assert Message.objects.filter(kind=kinds.PICKUP_REMINDER, status=S.SENT).count() == 1


def test_a_reminder_is_not_sent_once_the_order_was_collected(omni):
    order = web_order(omni, [("TEE-RED-M", 1)], pickup="shibuya-store")
    (pickup,) = order.fulfilments.all()
    services.fulfilment_ready(pickup)
    deliver()
    pickup.refresh_from_db()
    services.fulfilment_collect(pickup, code=pickup.pickup_code)
    deliver(now=timezone.now() + timedelta(days=10))
    [reminder] = messages(kind=kinds.PICKUP_REMINDER)
    assert reminder.status == S.SUPPRESSED and "collected" in reminder.reason


def test_a_delayed_fulfilment_flags_the_order_and_sends_one_delay_notice(omni):
    order = web_order(omni, [("TEE-RED-M", 1)])
    deliver()
    (parcel,) = order.fulfilments.all()
    later = parcel.ship_by + timedelta(hours=3)
    assert services.fulfilments_detect_delays(now=later) == 1
    assert services.fulfilments_detect_delays(now=later + timedelta(hours=1)) == 0
    deliver()
    order.refresh_from_db()
    assert order.flagged and parcel.number in order.flag_reason
    [notice] = messages(kind=kinds.DELAY_NOTICE)
    assert notice.status == S.SENT
    assert len([m for m in mail.outbox if "遅延" in m.subject]) == 1


def test_a_cancelled_order_is_told_and_a_refund_names_its_amount(omni):
    order = web_order(omni, [("TEE-RED-M", 1)])
    services.order_cancel(order, reason="customer asked")
    deliver()
    [cancelled] = messages(kind=kinds.ORDER_CANCELLED)
    assert cancelled.status == S.SENT and "customer asked" in cancelled.body_text

    kept = web_order(omni, [("TEE-RED-M", 2)])
    services.payment_refund(kept, amount=kept.total / 2, reason="damaged")
    deliver()
    [refund] = messages(kind=kinds.REFUNDED, order=kept)
    assert refund.status == S.SENT
    assert yen(kept.total / 2) in refund.body_text


def test_a_bank_transfer_order_hears_when_its_payment_arrives(omni):
    order = web_order(omni, [("TEE-RED-M", 1)], method="bank_transfer")
    deliver()
    confirmation = next(m for m in mail.outbox if "ご注文" in m.subject)
    assert "お支払い方法：銀行振込" in confirmation.body
    assert f"下記の口座へ {yen(order.total)} をお振り込みください" in confirmation.body
    assert messages(kind=kinds.PAYMENT_RECEIVED) == []
    services.payment_settle(order, amount=order.total)
    deliver()
    [received] = messages(kind=kinds.PAYMENT_RECEIVED)
    assert received.status == S.SENT and yen(order.total) in received.body_text


def test_a_notification_switched_off_for_the_channel_is_not_sent(omni):
    NotificationSetting.objects.create(
        channel=omni.yamato.channel, kind=kinds.ORDER_CONFIRMATION, enabled=False
    )
    web_order(omni, [("TEE-RED-M", 1)])
    deliver()
    assert mail.outbox == [] and messages(kind=kinds.ORDER_CONFIRMATION) == []


def test_a_customer_who_prefers_sms_gets_a_text_and_an_english_one_reads_english(omni):
    from automation.messages.providers import RecordingProvider
    from customers.models import Customer

    customer = Customer.objects.create(
        email="ann@example.com", phone="+819012345678", language="en", preferred_medium="sms"
    )
    cart = services.cart_create(
        channel=omni.yamato.channel, customer=customer, email="ann@example.com"
    )
    services.cart_line_set(cart, sku="TEE-RED-M", quantity=1, add=True)
    services.cart_update(cart, shipping_address=JP_ADDRESS, shipping_method="yamato")
    order = services.checkout_complete(
        cart, payment=services.PaymentInput(method="card", token="tok_visa")
    )
    deliver()
    assert mail.outbox == []
    [text] = RecordingProvider.sent
    assert text.medium == "sms" and text.recipient == "+819012345678"
    assert f"thank you for order {order.number}, ¥{order.total:,.0f}." in text.text


def test_the_log_row_is_claimed_once_so_a_worker_that_died_mid_send_is_replaced_once(
    omni, settings
):
    from automation.messages.services import _claim, messages_send_due

    order = web_order(omni, [("TEE-RED-M", 1)])
    dispatch_all()
    [message] = messages(kind=kinds.ORDER_CONFIRMATION)
    now = timezone.now()
    assert _claim(message.pk, now)  # a worker claims it ... and dies before the provider call
    assert not _claim(message.pk, now + timedelta(seconds=1))  # no second sender meanwhile
    assert messages_send_due(now=now + timedelta(seconds=10)) == 0
    later = now + timedelta(seconds=settings.MESSAGES_CLAIM_TIMEOUT + 1)
    assert messages_send_due(now=later) == 1
    assert messages_send_due(now=later + timedelta(hours=1)) == 0
    assert len(mail.outbox) == 1 and order.number in mail.outbox[0].subject
    message.refresh_from_db()
    assert (message.status, message.attempts) == (S.SENT, 2)


def test_erasing_a_customer_keeps_what_was_sent_when_but_not_to_whom_or_what(omni):
    from customers.services.privacy import customer_erase

    order = web_order(omni, [("TEE-RED-M", 1)])
    deliver()
    order.refresh_from_db()
    [sent] = messages(kind=kinds.ORDER_CONFIRMATION)
    assert sent.recipient == "hanako@example.jp" and "Hanako" in sent.body_text
    customer_erase(order.customer)
    deliver()
    sent.refresh_from_db()
    assert (sent.status, sent.kind, sent.order_id) == (S.SENT, kinds.ORDER_CONFIRMATION, order.pk)
    assert sent.recipient == "" and sent.body_text == "" and sent.subject == ""
    for event in OutboxEvent.objects.filter(type__startswith="fulfilment."):
        assert "hanako@example.jp" not in str(event.payload)
