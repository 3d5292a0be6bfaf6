"""Storefront endpoints: carts, checkout, the customer's orders, gateway notifications.

A cart is reached by its token. A guest's cart is open to whoever holds the token; a customer's
cart only to that customer signed in (anyone else gets 404, as for a cart that does not exist).
A signed-in customer who opens a guest cart takes it over: that is how a cart follows the buyer
through sign-in.
"""

from __future__ import annotations

import json

from django.db.models import prefetch_related_objects
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.throttling import BaseThrottle
from rest_framework.views import APIView

from commerce.api.pagination import PageNumberPagination
from commerce.api.schema import ProblemSerializer
from commerce.errors import NotFound, ValidationFailed
from commerce.selectors import channel_get_active
from customers.models import Customer
from orders import selectors, services
from orders.api.idempotent import idempotent
from orders.api.outputs import (
    CartOutputSerializer,
    NotificationResultSerializer,
    OrderOutputSerializer,
    PickupStoreOutputSerializer,
    ShippingMethodsOutputSerializer,
    TrackedOrderOutputSerializer,
)
from orders.api.serializers import (
    CartCreateInputSerializer,
    CartLineInputSerializer,
    CartLineQuantitySerializer,
    CartUpdateInputSerializer,
    CheckoutCompleteInputSerializer,
    OrderLookupInputSerializer,
    cart_json,
    money,
    order_json,
    validated,
)
from orders.carts.services import pickup_stores
from orders.fulfilment import delivery
from orders.fulfilment.routing import route_preview
from orders.models import Cart, Order
from orders.payments.gateways import UnknownGateway, gateway_get
from orders.pricing.quotes import destination_for, shipping_options

TAG_CART = ["storefront: cart and checkout"]
TAG_ORDERS = ["storefront: orders"]


def customer_for(request) -> Customer | None:
    user = request.user
    if not (user and user.is_authenticated):
        return None
    if not hasattr(request, "_orders_customer"):
        request._orders_customer = Customer.objects.filter(
            user=user, state=Customer.State.ACTIVE
        ).first()
    return request._orders_customer


def cart_for(request, token: str) -> Cart:
    cart = selectors.cart_by_token(token)
    customer = customer_for(request)
    if cart is None or (cart.customer_id and (customer is None or customer.pk != cart.customer_id)):
        raise NotFound(_("There is no such cart."))
    if cart.customer_id is None and customer is not None and cart.state == Cart.State.OPEN:
        cart = services.cart_attach(cart, customer=customer)
        cart = selectors.cart_by_token(cart.token)
    return cart


def cart_response(cart: Cart, **kwargs) -> Response:
    """The cart as it is now; one a service just changed comes with its quote (`priced`)."""
    quote = getattr(cart, "priced", None)
    if quote is None:
        cart = selectors.cart_by_token(cart.token)
        quote = services.cart_quote(cart)
    return Response(cart_json(cart, quote), **kwargs)


class StorefrontView(APIView):
    permission_classes = [AllowAny]


@extend_schema(
    tags=TAG_CART, request=CartCreateInputSerializer, responses={201: CartOutputSerializer}
)
class CartCreateView(StorefrontView):
    """Start a cart in a channel. Keep the `token`: it is the cart's only key for a guest."""

    def post(self, request, channel):
        d = validated(CartCreateInputSerializer, request.data)
        cart = services.cart_create(
            channel=channel_get_active(code=channel), customer=customer_for(request), **d
        )
        return cart_response(cart, status=status.HTTP_201_CREATED)


@extend_schema(tags=TAG_CART)
class CartView(StorefrontView):
    """The cart priced now: current prices, discounts, shipping, tax and any problems."""

    @extend_schema(responses=CartOutputSerializer)
    def get(self, request, token):
        return cart_response(cart_for(request, token))

    @extend_schema(request=CartUpdateInputSerializer, responses=CartOutputSerializer)
    def patch(self, request, token):
        cart = cart_for(request, token)
        d = validated(CartUpdateInputSerializer, request.data, partial=True)
        return cart_response(services.cart_update(cart, **d))


@extend_schema(tags=TAG_CART, request=CartLineInputSerializer, responses=CartOutputSerializer)
class CartLinesView(StorefrontView):
    """Add a variant (by id or SKU); its quantity adds to a line already there."""

    def post(self, request, token):
        cart = cart_for(request, token)
        d = validated(CartLineInputSerializer, request.data)
        return cart_response(services.cart_line_set(cart, add=True, **d))


@extend_schema(tags=TAG_CART)
class CartLineView(StorefrontView):
    @extend_schema(request=CartLineQuantitySerializer, responses=CartOutputSerializer)
    def put(self, request, token, variant_id):
        cart = cart_for(request, token)
        d = validated(CartLineQuantitySerializer, request.data)
        return cart_response(services.cart_line_set(cart, variant_id=variant_id, **d))

    @extend_schema(responses=CartOutputSerializer)
    def delete(self, request, token, variant_id):
        cart = cart_for(request, token)
        return cart_response(services.cart_line_set(cart, variant_id=variant_id, quantity=0))


@extend_schema(tags=TAG_CART, responses=ShippingMethodsOutputSerializer)
class CartShippingMethodsView(StorefrontView):
    """Shipping methods that deliver to the cart's address, with their price for this cart and
    the estimated delivery date (from where the cart would most likely ship; null when no
    location has it all now)."""

    def get(self, request, token):
        cart = cart_for(request, token)
        prefetch_related_objects([cart], "lines")  # read once: here and by the pricing
        currency = cart.channel.currency
        destination = destination_for(cart)
        ships_from = route_preview(
            channel_id=cart.channel_id,
            rows=[(line.variant_id, line.quantity) for line in cart.lines.all()],
            destination=destination,
        )
        # The parcel that leaves last decides when everything has arrived; days in transit
        # depend on the method and the destination, not on where the parcel leaves from.
        last_out = max(ships_from, key=lambda loc: delivery.dispatch_date(loc), default=None)
        return Response(
            {
                "destination": destination.country,
                "methods": [
                    {
                        "code": method.code,
                        "name": method.name,
                        "price": money(price, currency),
                        "free_over": money(method.free_over, currency),
                        "transit_days": method.transit_days,
                        "estimated_delivery": delivery.estimated_delivery(
                            last_out, method, destination
                        )
                        if last_out is not None
                        else None,
                    }
                    for method, price in shipping_options(cart)
                ],
            }
        )


@extend_schema(tags=TAG_CART, responses=PickupStoreOutputSerializer(many=True))
class CartPickupStoresView(StorefrontView):
    """Stores of the channel where the cart can be picked up, and whether each has it all now."""

    def get(self, request, token):
        return Response(
            [
                {
                    "code": entry.store.code,
                    "name": entry.store.name,
                    "city": entry.store.city,
                    "region": entry.store.region,
                    "has_everything": not entry.short,
                    "short": entry.short,
                }
                for entry in pickup_stores(cart_for(request, token))
            ]
        )


@extend_schema(tags=TAG_CART, request=None, responses=CartOutputSerializer)
class CartCheckoutView(StorefrontView):
    """POST: the buyer starts checkout; the cart's stock is held (`stock_held_until`), or 409
    names the SKU that is short. DELETE: give the held stock back."""

    def post(self, request, token):
        return cart_response(services.cart_checkout_start(cart_for(request, token)))

    def delete(self, request, token):
        return cart_response(services.cart_release(cart_for(request, token)))


@extend_schema(
    tags=TAG_CART,
    request=CheckoutCompleteInputSerializer,
    responses={201: OrderOutputSerializer, 402: ProblemSerializer, 422: ProblemSerializer},
    parameters=[
        OpenApiParameter(
            "Idempotency-Key",
            str,
            OpenApiParameter.HEADER,
            description=_(
                "Any unique string (a UUID). A retry with the same key and body returns the "
                "first response; while the first runs: 409; with another body: 422. Kept 24 h."
            ),
        )
    ],
)
class CartCompleteView(StorefrontView):
    """Place the order: re-price, hold the stock, take the payment, make the order. 201 with the
    order; 402 when the payment is declined (nothing is left behind, the cart is unchanged);
    409 when a SKU is short or the total changed (`expected_total`); 429 `too_many_declines`
    (with Retry-After) after too many declined cards on the cart, from the client or with the
    card: the gateway is not called and the cart is closed for payment (start a new cart)."""

    def post(self, request, token):
        cart = cart_for(request, token)
        d = validated(CheckoutCompleteInputSerializer, request.data)
        customer = customer_for(request)
        scope = (
            f"user:{request.user.pk}"
            if customer or request.user.is_authenticated
            else (f"cart:{cart.token}")
        )
        return idempotent(request, self, lambda: self._complete(cart, d), scope=scope)

    def _complete(self, cart: Cart, d: dict) -> Response:
        order = services.checkout_complete(
            cart,
            payment=services.PaymentInput(**d["payment"]),
            expected_total=d.get("expected_total"),
            # The address as the throttles see it (behind NUM_PROXIES proxies): card testing
            # is limited per client as well as per cart and card.
            client=services.PaymentClient(ip=(BaseThrottle().get_ident(self.request) or "")[:64]),
        )
        return Response(
            order_json(selectors.order_with_lines(order)), status=status.HTTP_201_CREATED
        )


def order_with_tracking(order: Order) -> dict:
    """The order with its parcels as the customer may see them: carrier, tracking link,
    estimated delivery, the carrier's reports, the pickup code while it is uncollected."""
    return {**order_json(order), "fulfilments": services.tracking_for(order)}


@extend_schema(tags=TAG_ORDERS, responses=OrderOutputSerializer(many=True))
class MyOrdersView(APIView):
    """The signed-in customer's orders, newest first (every channel)."""

    pagination_class = PageNumberPagination  # for the schema: the list below is paged

    def get_permissions(self):
        from customers.api.permissions import IsCustomer

        return [IsCustomer()]

    @extend_schema(operation_id="v1_orders_list")
    def get(self, request):
        paginator = PageNumberPagination()
        page = paginator.paginate_queryset(
            selectors.orders_of_customer(request.customer.pk), request, self
        )
        return paginator.get_paginated_response([order_json(o) for o in page])


@extend_schema(tags=TAG_ORDERS, responses=TrackedOrderOutputSerializer)
class MyOrderView(MyOrdersView):
    """One of the signed-in customer's orders, with its `fulfilments` (tracking)."""

    def get(self, request, number):
        order = selectors.orders_of_customer(request.customer.pk).filter(number=number).first()
        if order is None:
            raise NotFound(_("There is no such order."))
        return Response(order_with_tracking(order))


@extend_schema(
    tags=TAG_ORDERS,
    request=OrderLookupInputSerializer,
    responses={200: TrackedOrderOutputSerializer, 404: ProblemSerializer},
)
class OrderLookupView(StorefrontView):
    """A guest's order by its number and the e-mail it was placed with (404 for any mismatch),
    with its `fulfilments` (tracking)."""

    throttle_scope = "order_lookup"

    def get_throttles(self):
        from customers.api.permissions import SignInThrottle

        return [SignInThrottle()]

    def post(self, request):
        d = validated(OrderLookupInputSerializer, request.data)
        order = selectors.order_for_guest(number=d["number"], email=d["email"])
        if order is None:
            raise NotFound(_("There is no order with this number and e-mail."))
        return Response(order_with_tracking(order))


@extend_schema(
    tags=["payments"], request=OpenApiTypes.OBJECT, responses=NotificationResultSerializer
)
class PaymentNotificationView(StorefrontView):
    """The payment provider's notifications, signed (`Gateway-Signature`: HMAC-SHA256 of the
    body). Delivered twice or out of order, each has its effect once."""

    authentication_classes: list = []

    def post(self, request, gateway):
        try:
            provider = gateway_get(gateway)
        except UnknownGateway as exc:
            raise NotFound(_("Unknown gateway.")) from exc
        body = request.body
        if not provider.verify_notification(body, request.headers.get("Gateway-Signature", "")):
            return Response(
                {"code": "bad_signature", "detail": _("The signature does not match.")},
                status=status.HTTP_403_FORBIDDEN,
            )
        try:
            payload = json.loads(body or b"{}")
        except ValueError:
            payload = None
        if not isinstance(payload, dict):
            raise ValidationFailed({"body": [_("Send the notification as a JSON object.")]})
        result = services.notification_handle(gateway, payload)
        return Response({"result": result})
