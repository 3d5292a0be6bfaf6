"""From events to deliveries: who gets what (types, "*", channel filters), an order's own
`order.paid` end to end through the outbox, and the catalogue and schemas kept true to the
payloads the services publish."""

from __future__ import annotations

import pytest
from standardwebhooks.webhooks import Webhook

from automation.models import WebhookDelivery
from automation.webhooks import consumers, payloads, services
from automation.webhooks.schema import add_webhook_components
from automation.webhooks.tasks import deliver_webhook
from commerce import events
from commerce.models import Channel, EventReceipt, OutboxEvent
from orders.core.records import order_payload
from orders.fulfilment.routing import fulfilment_payload
from orders.models import Order
from tests.automation_webhooks.conftest import JP_ADDRESS, Receiver, endpoint_make, event_make
from tests.factories import ChannelFactory

pytestmark = pytest.mark.django_db


def _endpoints_of(event: OutboxEvent) -> set[str]:
    consumers.on_event(event)
    return set(WebhookDelivery.objects.filter(event=event).values_list("endpoint__name", flat=True))


def test_deliveries_follow_types_and_channel_filters(receiver: Receiver):
    web_jp = ChannelFactory(web_jp=True)
    web_us = ChannelFactory(web_us=True)
    endpoint_make(receiver, name="everything")
    endpoint_make(receiver, name="jp paid", event_types=["order.paid"], channel=web_jp)
    endpoint_make(receiver, name="us paid", event_types=["order.paid"], channel=web_us)
    endpoint_make(receiver, name="stock", event_types=["stock.low", "stock.out"])
    off, _secret = endpoint_make(receiver, name="off")
    services.endpoint_update(endpoint=off, is_active=False)

    assert _endpoints_of(event_make("order.paid", channel="web-jp")) == {"everything", "jp paid"}
    assert _endpoints_of(event_make("order.paid", channel="web-us")) == {"everything", "us paid"}
    assert _endpoints_of(event_make("order.placed", channel="web-jp")) == {"everything"}
    stock = events.publish(
        type="stock.low", subject_type="stock", subject_id=1, payload={"sku": "TEE-RED-M"}
    )
    # Stock belongs to no channel: endpoints limited to one do not get it.
    assert _endpoints_of(stock) == {"everything", "stock"}


def test_every_catalogue_type_has_the_consumer():
    for event_type in payloads.CATALOGUE:
        names = [c.name for c in events.consumers_for(event_type)]
        assert consumers.CONSUMER in names, event_type
    assert consumers.CONSUMER not in [c.name for c in events.consumers_for(payloads.PING)]


def _place_order(api_client) -> Order:
    token = api_client.post("/api/v1/channels/web-jp/carts/", {}, format="json").json()["token"]
    r = api_client.post(
        f"/api/v1/carts/{token}/lines/", {"sku": "TEE-RED-M", "quantity": 1}, format="json"
    )
    assert r.status_code == 200, r.content
    r = api_client.patch(
        f"/api/v1/carts/{token}/",
        {"email": "guest@example.jp", "shipping_address": JP_ADDRESS, "shipping_method": "yamato"},
        format="json",
    )
    assert r.status_code == 200, r.content
    assert api_client.post(f"/api/v1/carts/{token}/checkout/", format="json").status_code == 200
    r = api_client.post(
        f"/api/v1/carts/{token}/complete/",
        {"payment": {"method": "card", "token": "tok_visa"}},
        format="json",
        HTTP_IDEMPOTENCY_KEY="wh-1",
    )
    assert r.status_code == 201, r.content
    return Order.objects.get(number=r.json()["number"])


def test_an_order_paid_reaches_the_receiver_signed_with_lines_and_totals(
    api_client, shop, receiver: Receiver
):
    endpoint, secret = endpoint_make(
        receiver, event_types=["order.paid"], channel=Channel.objects.get(code="web-jp")
    )
    order = _place_order(api_client)
    event = OutboxEvent.objects.get(type="order.paid", subject_id=str(order.pk))

    events.dispatch(event.pk)
    events.dispatch(event.pk)  # a second delivery of the event (the relay racing the hand-off)
    consumers.on_event(event)  # even past the receipt, the unique constraint holds
    [delivery] = WebhookDelivery.objects.filter(event=event)
    assert delivery.endpoint == endpoint and delivery.event_type == "order.paid"
    assert EventReceipt.objects.filter(event=event, consumer=consumers.CONSUMER).count() == 1
    # Other events of the order went to nobody: the endpoint wants order.paid only.
    assert WebhookDelivery.objects.count() == 1

    assert deliver_webhook(delivery.pk) == WebhookDelivery.Status.SUCCEEDED

    [request] = receiver.requests
    assert request.headers["webhook-id"] == f"evt_{event.pk}"
    body = Webhook(secret).verify(request.body, request.headers)
    data = body["data"]
    assert body["type"] == "order.paid"
    assert data["number"] == order.number and data["channel"] == "web-jp"
    assert data["total"] == "3780" and data["shipping_total"] == "800"
    assert data["currency"] == "JPY" and data["paid_at"]
    assert data["shipping_address"]["postal_code"] == "150-0001"
    [line] = data["lines"]
    assert line["sku"] == "TEE-RED-M" and line["quantity"] == 1
    assert line["unit_price"] == "2980" and line["amount"] == "2980"


def test_the_schemas_describe_the_payloads_as_published(api_client, shop):
    order = _place_order(api_client)
    order_keys = set(order_payload(order))
    schema = payloads.DATA_SCHEMAS[payloads.ORDER]
    assert order_keys <= set(schema["properties"]), order_keys - set(schema["properties"])
    assert set(schema["required"]) <= order_keys
    line_keys = set(order_payload(order)["lines"][0])
    assert line_keys == set(schema["properties"]["lines"]["items"]["properties"])

    fulfilment = order.fulfilments.first()
    fulfilment_keys = set(fulfilment_payload(fulfilment))
    schema = payloads.DATA_SCHEMAS[payloads.FULFILMENT]
    assert fulfilment_keys <= set(schema["properties"])
    assert set(schema["required"]) <= fulfilment_keys

    # Every type names a schema, and each extra key it adds is in that schema.
    for event_type in payloads.CATALOGUE.values():
        data = payloads.DATA_SCHEMAS[event_type.data_schema]
        assert set(event_type.extra_keys) <= set(data["properties"]), event_type.name
    # Payloads of every event the order produced fit the keys their schema knows.
    for event in OutboxEvent.objects.filter(type__in=list(payloads.CATALOGUE)):
        data = payloads.DATA_SCHEMAS[payloads.CATALOGUE[event.type].data_schema]
        assert set(event.payload) <= set(data["properties"]), event.type


def test_the_openapi_document_gets_the_webhook_components():
    result = add_webhook_components({"components": {"schemas": {}}}, None, None, True)
    schemas = result["components"]["schemas"]
    assert schemas["WebhookOrderPaidEvent"]["properties"]["data"] == {
        "$ref": "#/components/schemas/WebhookOrderData"
    }
    assert schemas["WebhookOrderPaidEvent"]["properties"]["type"]["enum"] == ["order.paid"]
    for name in payloads.CATALOGUE:
        component = "Webhook" + "".join(w.capitalize() for w in name.replace(".", "_").split("_"))
        assert component + "Event" in schemas, name
    for schema in schemas.values():
        for ref in _refs(schema):
            assert ref.removeprefix("#/components/schemas/") in schemas


def _refs(schema):
    if isinstance(schema, dict):
        if "$ref" in schema:
            yield schema["$ref"]
        for value in schema.values():
            yield from _refs(value)
    elif isinstance(schema, list):
        for value in schema:
            yield from _refs(value)
