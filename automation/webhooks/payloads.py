"""What a webhook says: the catalogue of event types, the envelope and its JSON Schemas.

The envelope is ours and versioned (`VERSION`); `data` is the event's payload exactly as the
publishing service wrote it (orders/core/records.py `order_payload`, orders/fulfilment/routing.py
`fulfilment_payload`, the `*/events.py` modules), so a receiver sees what internal consumers see;
only money is written as the API writes it (the currency's minor units).
A change that removes or renames a key in an envelope or a payload raises `VERSION`; new keys do
not, so receivers must ignore keys they do not know.
"""

from __future__ import annotations

import json
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.utils.translation import gettext_lazy as _

from catalog import events as catalog_events
from commerce.models import OutboxEvent
from commerce.money import quantize
from customers import events as customer_events
from customers.services.profiles import ADDRESS_FIELDS
from inventory import events as inventory_events
from orders.carts.services import CART_UPDATED
from orders.core.records import (
    ORDER_CANCELLED,
    ORDER_PAID,
    ORDER_PLACED,
    ORDER_REFUNDED,
    ORDER_UPDATED,
)
from orders.fulfilment.routing import FULFILMENT_CREATED
from orders.fulfilment.services import (
    FULFILMENT_DELAYED,
    FULFILMENT_DELIVERED,
    FULFILMENT_SHIPPED,
    PICKUP_COLLECTED,
    PICKUP_READY,
    PICKUP_UNCOLLECTED,
)

VERSION = 1
ALL = "*"  # an endpoint subscribed to "*" gets every type in the catalogue, new ones included
# Sent only by the "send a test ping" action, to the one endpoint pinged; never subscribed to.
PING = "webhook.ping"


@dataclass(frozen=True)
class EventType:
    name: str
    description: Any
    # The component (under #/components/schemas) describing `data`.
    data_schema: str
    # Keys this type adds to the shared shape of its schema (e.g. `paid_at` on order.paid).
    extra_keys: tuple[str, ...] = ()


def _type(name, description, data_schema, *extra_keys) -> EventType:
    return EventType(name, description, data_schema, tuple(extra_keys))


ORDER = "WebhookOrderData"
FULFILMENT = "WebhookFulfilmentData"

CATALOGUE: dict[str, EventType] = {
    t.name: t
    for t in [
        _type(ORDER_PLACED, _("An order was placed (any channel)."), ORDER),
        _type(ORDER_PAID, _("An order is paid in full."), ORDER, "paid_at"),
        _type(
            ORDER_UPDATED,
            _(
                "An order changed: confirmed, held, released, flagged, edited, captured, "
                "settled, rerouted or (partially) fulfilled; `change` says which."
            ),
            ORDER,
            "change",
            "reason",
            "amount",
            "fulfilment",
            "before_total",
            "lines_before",
        ),
        _type(ORDER_CANCELLED, _("An order was cancelled."), ORDER, "reason", "cancelled_at"),
        _type(
            ORDER_REFUNDED,
            _("Money was refunded on an order."),
            ORDER,
            "amount",
            "refunded_at",
            "reason",
        ),
        _type(FULFILMENT_CREATED, _("An order's goods were allocated to a location."), FULFILMENT),
        _type(FULFILMENT_SHIPPED, _("A parcel left its location."), FULFILMENT, "shipped_at"),
        _type(
            FULFILMENT_DELIVERED, _("The carrier delivered a parcel."), FULFILMENT, "delivered_at"
        ),
        _type(
            FULFILMENT_DELAYED,
            _(
                "A fulfilment missed its promised dispatch time (late_by_hours), or a shipped "
                "parcel is past its estimated delivery (in_transit, late_by_days)."
            ),
            FULFILMENT,
            "late_by_hours",
        ),
        _type(
            PICKUP_READY,
            _("A pickup order is ready at its store."),
            FULFILMENT,
            "ready_at",
            "collect_by",
        ),
        _type(
            PICKUP_COLLECTED,
            _("The customer collected a pickup order."),
            FULFILMENT,
            "collected_at",
        ),
        _type(
            PICKUP_UNCOLLECTED,
            _("A pickup order was not collected in time."),
            FULFILMENT,
            "ready_at",
        ),
        _type(CART_UPDATED, _("A cart was created or changed."), "WebhookCartData"),
        _type(
            catalog_events.PRODUCT_CREATED, _("A product was created."), "WebhookProductCreatedData"
        ),
        _type(
            catalog_events.PRODUCT_UPDATED,
            _("A product's fields changed."),
            "WebhookProductUpdatedData",
        ),
        _type(
            catalog_events.PRODUCT_PUBLICATION_CHANGED,
            _("A product was published or unpublished in a channel."),
            "WebhookProductPublicationData",
        ),
        _type(
            catalog_events.VARIANT_PRICE_CHANGED,
            _("A variant's price in a channel changed."),
            "WebhookVariantPriceData",
        ),
        _type(
            catalog_events.CATALOG_IMPORTED,
            _("A catalogue CSV file was imported."),
            "WebhookCatalogImportedData",
        ),
        _type(
            inventory_events.STOCK_LOW,
            _("Stock at a location fell to its threshold."),
            "WebhookStockData",
        ),
        _type(inventory_events.STOCK_OUT, _("Stock at a location ran out."), "WebhookStockData"),
        _type(
            inventory_events.STOCK_RESTOCKED,
            _("Stock at a location is back above its threshold."),
            "WebhookStockData",
        ),
        _type(
            inventory_events.TRANSFER_DISPATCHED,
            _("A stock transfer left its source."),
            "WebhookTransferData",
        ),
        _type(
            inventory_events.TRANSFER_RECEIVED,
            _("A stock transfer arrived."),
            "WebhookTransferData",
        ),
        _type(
            inventory_events.PURCHASE_ORDER_SENT,
            _("A purchase order was sent to its supplier."),
            "WebhookPurchaseOrderSentData",
        ),
        _type(
            inventory_events.PURCHASE_ORDER_RECEIVED,
            _("Goods were received against a purchase order."),
            "WebhookPurchaseOrderReceivedData",
        ),
        _type(
            customer_events.CUSTOMER_CREATED,
            _("A customer profile was created."),
            "WebhookCustomerCreatedData",
        ),
        _type(
            customer_events.CUSTOMER_REGISTERED,
            _("A customer registered an account."),
            "WebhookCustomerRegisteredData",
        ),
        _type(
            customer_events.CUSTOMER_UPDATED,
            _("A customer profile changed."),
            "WebhookCustomerUpdatedData",
        ),
        _type(
            customer_events.CUSTOMER_MERGED,
            _("Two customer profiles were merged."),
            "WebhookCustomerMergedData",
        ),
        _type(
            customer_events.CUSTOMER_ERASED,
            _("A customer's personal data was erased: erase your copies."),
            "WebhookCustomerErasedData",
        ),
        _type(
            customer_events.CONSENT_CHANGED,
            _("A customer gave or withdrew consent."),
            "WebhookConsentData",
        ),
        _type(
            customer_events.LOYALTY_JOINED,
            _("A customer joined the loyalty programme."),
            "WebhookLoyaltyJoinedData",
        ),
        _type(
            customer_events.LOYALTY_TIER_CHANGED,
            _("A customer's loyalty tier changed."),
            "WebhookLoyaltyTierData",
        ),
        _type(
            customer_events.LOYALTY_POINTS_CHANGED,
            _("Loyalty points were earned, spent, adjusted or expired."),
            "WebhookLoyaltyPointsData",
        ),
    ]
}


def event_type_choices() -> list[tuple[str, str]]:
    """For forms and serializers: every type, and "*" for all of them."""
    return [(ALL, str(_("Every event type")))] + [
        (name, f"{name}: {t.description}") for name, t in CATALOGUE.items()
    ]


def message_id(event_id: int) -> str:
    """The `webhook-id` header and the envelope's `id`: one per event, the same on every retry
    and for every endpoint, so receivers can drop what they have already handled."""
    return f"evt_{event_id}"


# Money in payloads that carry a `currency`: order, cart and refund amounts are stored as their
# columns hold them (3 decimals), the API shows them in the currency's minor units.
MONEY_KEYS = frozenset(
    {
        "subtotal",
        "discount_total",
        "shipping_total",
        "tax_total",
        "total",
        "paid_total",
        "refunded_total",
        "amount",
        "before_total",
        "value",
        "unit_price",
        "price",
        "previous",
    }
)


def _money(data: Any, currency: str) -> Any:
    if isinstance(data, list):
        return [_money(item, currency) for item in data]
    if not isinstance(data, dict):
        return data
    result = {}
    for key, value in data.items():
        if key in MONEY_KEYS and isinstance(value, (str, int, Decimal)) and value != "":
            # Not an amount after all, or an unknown currency: sent as stored.
            with suppress(InvalidOperation, ValueError, KeyError):
                value = str(quantize(Decimal(str(value)), currency))
        elif isinstance(value, (dict, list)):
            value = _money(value, currency)
        result[key] = value
    return result


def data(event: OutboxEvent) -> dict[str, Any]:
    """The event's payload as published, with amounts in the currency's minor units
    ("3780" JPY, "19.99" USD), as the API writes money."""
    payload = event.payload or {}
    currency = payload.get("currency")
    return _money(payload, currency) if isinstance(currency, str) and currency else payload


def envelope(event: OutboxEvent) -> dict[str, Any]:
    return {
        "id": message_id(event.pk),
        "type": event.type,
        "version": VERSION,
        "timestamp": event.occurred_at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "data": data(event),
    }


def body(event: OutboxEvent) -> bytes:
    """The exact bytes signed and sent. Built from the stored event alone, so every retry sends
    the same body; Decimals become strings (money keeps its digits)."""
    return json.dumps(
        envelope(event), cls=DjangoJSONEncoder, ensure_ascii=False, separators=(",", ":")
    ).encode()


# --- JSON Schemas (OpenAPI 3.0 dialect: they are published as components of /api/schema/) ---

_DECIMAL = {"type": "string", "format": "decimal", "example": "3780"}
_TIME = {"type": "string", "format": "date-time"}
_NULLABLE_TIME = {**_TIME, "nullable": True}
_DATE = {"type": "string", "format": "date", "nullable": True}
_STR = {"type": "string"}
_INT = {"type": "integer"}
_NULLABLE_INT = {"type": "integer", "nullable": True}
_BOOL = {"type": "boolean"}
_SKU_QUANTITY = {
    "type": "array",
    "items": {
        "type": "object",
        "properties": {"sku": _STR, "quantity": _INT},
        "required": ["sku", "quantity"],
    },
}
_ADDRESS = {
    "type": "object",
    "nullable": True,
    "additionalProperties": True,
    "properties": dict.fromkeys(ADDRESS_FIELDS, _STR),
}


def _object(properties: dict[str, Any], required: list[str] | None = None, **more) -> dict:
    schema = {"type": "object", "properties": properties, "additionalProperties": True, **more}
    schema["required"] = list(properties) if required is None else required
    return schema


ORDER_SCHEMA = _object(
    {
        "order_id": _INT,
        "number": _STR,
        "channel": {**_STR, "description": "The channel's code, e.g. web-jp."},
        "status": _STR,
        "payment_status": _STR,
        "payment_method": _STR,
        "currency": {**_STR, "example": "JPY"},
        "subtotal": _DECIMAL,
        "discount_total": _DECIMAL,
        "shipping_total": _DECIMAL,
        "tax_total": _DECIMAL,
        "total": _DECIMAL,
        "paid_total": _DECIMAL,
        "refunded_total": _DECIMAL,
        "customer_id": _NULLABLE_INT,
        "email": _STR,
        "phone": _STR,
        "first_name": _STR,
        "last_name": _STR,
        "language": _STR,
        "shipping_country": _STR,
        "shipping_region": _STR,
        "pickup_location": {**_STR, "description": "A store's code for pickup orders, else ''."},
        "shipping_address": _ADDRESS,
        "billing_address": _ADDRESS,
        "discount_codes": {"type": "array", "items": _STR},
        "lines": {
            "type": "array",
            "items": _object(
                {
                    "sku": _STR,
                    "variant_id": _NULLABLE_INT,
                    "name": _STR,
                    "quantity": _INT,
                    "unit_price": _DECIMAL,
                    "amount": _DECIMAL,
                }
            ),
        },
        "placed_at": _NULLABLE_TIME,
        # Added by some types only (see the catalogue).
        "paid_at": _TIME,
        "change": {**_STR, "description": "order.updated: what changed."},
        "reason": _STR,
        "amount": _DECIMAL,
        "refunded_at": _TIME,
        "cancelled_at": _TIME,
        "fulfilment": {**_STR, "description": "A fulfilment's number."},
        "before_total": _DECIMAL,
        "lines_before": {"type": "array", "items": {"type": "object"}},
    },
    required=[
        "order_id",
        "number",
        "channel",
        "status",
        "payment_status",
        "currency",
        "subtotal",
        "discount_total",
        "shipping_total",
        "tax_total",
        "total",
        "paid_total",
        "refunded_total",
        "customer_id",
        "email",
        "lines",
        "shipping_address",
        "billing_address",
        "placed_at",
    ],
)

FULFILMENT_SCHEMA = _object(
    {
        "fulfilment_id": _INT,
        "number": _STR,
        "order_id": _INT,
        "order_number": _STR,
        "channel": _STR,
        "kind": {**_STR, "description": "shipping or pickup"},
        "state": _STR,
        "location": {**_STR, "description": "The location's code."},
        "location_name": _STR,
        "customer_id": _NULLABLE_INT,
        "email": _STR,
        "phone": _STR,
        "language": _STR,
        "carrier": _STR,
        "tracking_number": _STR,
        "tracking_url": _STR,
        "ship_by": _NULLABLE_TIME,
        "estimated_delivery": _DATE,
        "pickup_code": _STR,
        "lines": _SKU_QUANTITY,
        # Added by some types only (see the catalogue).
        "shipped_at": _TIME,
        "delivered_at": _TIME,
        "late_by_hours": {"type": "number"},
        "in_transit": {"type": "boolean"},
        "late_by_days": {"type": "integer"},
        "ready_at": _TIME,
        "collect_by": _TIME,
        "collected_at": _TIME,
    },
    required=[
        "fulfilment_id",
        "number",
        "order_id",
        "order_number",
        "channel",
        "kind",
        "state",
        "location",
        "lines",
    ],
)

_STOCK = _object(
    {
        "variant_id": _INT,
        "sku": _STR,
        "location": _STR,
        "available": _INT,
        "threshold": _NULLABLE_INT,
        "on_hand": _INT,
        "level": _STR,
    }
)
_NULLABLE_STR = {"type": "string", "nullable": True}

DATA_SCHEMAS: dict[str, dict[str, Any]] = {
    ORDER: ORDER_SCHEMA,
    FULFILMENT: FULFILMENT_SCHEMA,
    "WebhookCartData": _object(
        {
            "cart_id": _INT,
            "token_hint": _STR,
            "channel": _STR,
            "state": _STR,
            "customer_id": _NULLABLE_INT,
            "email": _STR,
            "first_name": _STR,
            "currency": _STR,
            "value": _DECIMAL,
            "subtotal": _DECIMAL,
            "lines": {
                "type": "array",
                "items": _object(
                    {
                        "sku": _STR,
                        "variant_id": _NULLABLE_INT,
                        "name": _STR,
                        "quantity": _INT,
                        "unit_price": _DECIMAL,
                    }
                ),
            },
            "discount_code": _STR,
            "checkout_started_at": _NULLABLE_TIME,
            "last_activity_at": _NULLABLE_TIME,
        }
    ),
    "WebhookProductCreatedData": _object({"product_id": _INT, "slug": _STR, "name": _STR}),
    "WebhookProductUpdatedData": _object(
        {"product_id": _INT, "slug": _STR, "changed": {"type": "array", "items": _STR}}
    ),
    "WebhookProductPublicationData": _object(
        {"product_id": _INT, "channel": _STR, "is_published": _BOOL}
    ),
    "WebhookVariantPriceData": _object(
        {
            "variant_id": _INT,
            "sku": _STR,
            "channel": _STR,
            "currency": _STR,
            "price": _DECIMAL,
            "previous": {**_DECIMAL, "nullable": True},
            # Who moved it (staff, import, automation, api) and with what (a rule run, a file).
            "source": _STR,
            "reference": _STR,
        }
    ),
    "WebhookCatalogImportedData": _object(
        {
            "file": _STR,
            "rows": _INT,
            "bad_rows": _INT,
            "products_created": _INT,
            "products_updated": _INT,
            "variants_created": _INT,
            "variants_updated": _INT,
        }
    ),
    "WebhookStockData": _STOCK,
    "WebhookTransferData": _object(
        {"transfer_id": _INT, "source": _STR, "destination": _STR, "lines": _SKU_QUANTITY}
    ),
    "WebhookPurchaseOrderSentData": _object(
        {
            "purchase_order_id": _INT,
            "number": _STR,
            "supplier": _STR,
            "location": _STR,
            "lines": _SKU_QUANTITY,
        }
    ),
    "WebhookPurchaseOrderReceivedData": _object(
        {
            "purchase_order_id": _INT,
            "number": _STR,
            "state": _STR,
            "location": _STR,
            "received": _SKU_QUANTITY,
        }
    ),
    "WebhookCustomerCreatedData": _object(
        {"customer_id": _INT, "email": _STR, "channel": _NULLABLE_STR, "guest": _BOOL}
    ),
    "WebhookCustomerRegisteredData": _object(
        {
            "customer_id": _INT,
            "email": _STR,
            "channel": _NULLABLE_STR,
            "language": _STR,
            "first_name": _STR,
        }
    ),
    "WebhookCustomerUpdatedData": _object(
        {"customer_id": _INT, "fields": {"type": "array", "items": _STR}}
    ),
    "WebhookCustomerMergedData": _object({"survivor_id": _INT, "duplicate_id": _INT}),
    "WebhookCustomerErasedData": _object({"customer_id": _INT}),
    "WebhookConsentData": _object(
        {
            "customer_id": _INT,
            "medium": _STR,
            "granted": _BOOL,
            "source": _STR,
            "text_version": _STR,
        }
    ),
    "WebhookLoyaltyJoinedData": _object(
        {"customer_id": _INT, "account_id": _INT, "programme": _STR, "tier": _NULLABLE_STR}
    ),
    "WebhookLoyaltyTierData": _object(
        {
            "customer_id": _INT,
            "from_tier": _NULLABLE_STR,
            "to_tier": _NULLABLE_STR,
            "lifetime_points": _INT,
        }
    ),
    "WebhookLoyaltyPointsData": _object(
        {"customer_id": _INT, "kind": _STR, "points": _INT, "balance": _INT, "reference": _STR}
    ),
    "WebhookPingData": _object({"endpoint": _STR, "message": _STR}),
}

ENVELOPE = "WebhookEnvelope"


def envelope_schema(event_type: str | None = None, data_schema: str | None = None) -> dict:
    """The envelope, for one type (its `type` is fixed and `data` points at its shape) or for
    any type (`data` is one of the shapes)."""
    if event_type is None:
        type_schema = {**_STR, "enum": [*CATALOGUE, PING]}
        data = {"oneOf": [{"$ref": f"#/components/schemas/{name}"} for name in DATA_SCHEMAS]}
    else:
        type_schema = {**_STR, "enum": [event_type]}
        data = {"$ref": f"#/components/schemas/{data_schema}"}
    return {
        "type": "object",
        "description": str(
            _("The JSON body of every webhook request; `data` is the event's payload.")
        ),
        "properties": {
            "id": {
                **_STR,
                "example": "evt_1042",
                "description": str(
                    _("The event's id, also sent as webhook-id: the same on every retry.")
                ),
            },
            "type": type_schema,
            "version": {**_INT, "enum": [VERSION]},
            "timestamp": {**_TIME, "description": str(_("When the event happened (UTC)."))},
            "data": data,
        },
        "required": ["id", "type", "version", "timestamp", "data"],
    }


def _component_name(event_type: str) -> str:
    words = event_type.replace(".", "_").split("_")
    return "Webhook" + "".join(word.capitalize() for word in words) + "Event"


def schema_components() -> dict[str, dict[str, Any]]:
    """Every webhook schema, as named components for the OpenAPI document."""
    components: dict[str, dict[str, Any]] = {ENVELOPE: envelope_schema(), **DATA_SCHEMAS}
    for name, event_type in CATALOGUE.items():
        schema = envelope_schema(name, event_type.data_schema)
        schema["description"] = str(event_type.description)
        components[_component_name(name)] = schema
    components[_component_name(PING)] = envelope_schema(PING, "WebhookPingData")
    return components
