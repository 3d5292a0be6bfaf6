"""The operators' commands: send_test_message and replay_events."""

from __future__ import annotations

import pytest
from django.core import mail
from django.core.management import CommandError, call_command

from automation.messages import kinds
from automation.models import Message
from commerce.models import EventReceipt, OutboxEvent
from tests.automation_messages.conftest import deliver, web_order


def test_send_test_message_renders_a_real_order_and_sends_it_now(omni, capsys):
    order = web_order(omni, [("TEE-RED-M", 1)])
    call_command(
        "send_test_message",
        "order_confirmation",
        "--order",
        order.number,
        "--to",
        "ops@example.com",
    )
    [sent] = mail.outbox
    assert sent.to == ["ops@example.com"] and order.number in sent.subject
    assert "Sent order_confirmation to ops@example.com" in capsys.readouterr().out
    with pytest.raises(CommandError, match="no order 999"):
        call_command("send_test_message", "shipped", "--order", "999", "--to", "x@example.com")


def test_replay_events_offers_past_events_to_one_consumer_and_effects_stay_once(omni, capsys):
    order = web_order(omni, [("TEE-RED-M", 1)])
    deliver()
    placed = OutboxEvent.objects.get(type="order.placed", subject_id=str(order.pk))
    # As if the messages consumer had been added after the order was placed:
    EventReceipt.objects.filter(event=placed, consumer="automation.messages.orders").delete()
    Message.objects.all().delete()
    call_command(
        "replay_events",
        "--type",
        "order.placed",
        "--since",
        "2000-01-01",
        "--consumer",
        "automation.messages.orders",
    )
    assert "1 handled now, 0 handled before" in capsys.readouterr().out
    assert Message.objects.filter(kind=kinds.ORDER_CONFIRMATION, order=order).count() == 1
    call_command(
        "replay_events",
        "--type",
        "order.placed",
        "--since",
        "2000-01-01",
        "--consumer",
        "automation.messages.orders",
    )
    assert "0 handled now, 1 handled before" in capsys.readouterr().out
    assert Message.objects.filter(kind=kinds.ORDER_CONFIRMATION, order=order).count() == 1
    with pytest.raises(CommandError, match="Unknown consumer"):
        call_command(
            "replay_events", "--type", "*", "--since", "2000-01-01", "--consumer", "nobody"
        )
    with pytest.raises(CommandError, match="not a date"):
        call_command(
            "replay_events",
            "--type",
            "*",
            "--since",
            "yesterday",
            "--consumer",
            "automation.messages.orders",
        )
