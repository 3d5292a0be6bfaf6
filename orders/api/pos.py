"""Staff endpoints for a store's till: ring up a sale, and look up a SKU's stock in this store,
the other stores and the warehouses (the endless aisle: sell what the store does not hold and
have it shipped).

Permission: `orders.add_order` (a staff account), for both; one permission runs a till. The
sale goes through `orders.services.pos_sale`, the web checkout's services.
"""

from __future__ import annotations

from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from catalog.selectors import variant_by_sku
from commerce import geo
from commerce.api.permissions import StaffModelPermissions
from commerce.api.schema import ProblemSerializer
from commerce.errors import NotFound, ValidationFailed
from commerce.selectors import channel_by_code
from customers.models import Customer
from inventory.models import StockLocation
from inventory.selectors import availability_by_location, location_by_code
from orders import selectors, services
from orders.api.idempotent import idempotent
from orders.api.outputs import PosStockOutputSerializer, StaffOrderOutputSerializer
from orders.api.serializers import PosSaleInputSerializer, order_json, validated
from orders.models import Order

TAG = ["staff: point of sale"]
IDEMPOTENCY_KEY = OpenApiParameter(
    "Idempotency-Key",
    str,
    OpenApiParameter.HEADER,
    description=_(
        "Any unique string (a UUID) per sale. A till that retries with the same key and body "
        "gets the first response and no second sale; while the first runs: 409; with another "
        "body: 422. Kept 24 h."
    ),
)


class TillPermissions(StaffModelPermissions):
    """A staff account with `orders.add_order`, for reads too."""

    perms_map = {
        **StaffModelPermissions.perms_map,
        "GET": ["%(app_label)s.add_%(model_name)s"],
        "HEAD": ["%(app_label)s.add_%(model_name)s"],
        "POST": ["%(app_label)s.add_%(model_name)s"],
    }

    def _queryset(self, view):
        return Order.objects.none()


@extend_schema(
    tags=TAG,
    request=PosSaleInputSerializer,
    responses={201: StaffOrderOutputSerializer, 402: ProblemSerializer, 422: ProblemSerializer},
    parameters=[IDEMPOTENCY_KEY],
)
class PosSaleView(APIView):
    """Ring up a sale at a store's till, paid there in cash or by card. Without `ship_to` the
    customer takes the goods from this store's stock: the order comes back paid and fulfilled.
    With `ship_to` (and `shipping_method`) it is routed like a web order and shipped. 201 with
    the order and its fulfilments; 400 names the field or line (`lines[1].sku`); 409 when a SKU
    is short; 402 when the card is declined."""

    permission_classes = [TillPermissions]

    def post(self, request):
        d = validated(PosSaleInputSerializer, request.data)
        return idempotent(
            request, self, lambda: self._sell(request, d), scope=f"pos:user:{request.user.pk}"
        )

    def _sell(self, request, d: dict) -> Response:
        customer = None
        if d.get("customer_id"):
            customer = Customer.objects.filter(
                pk=d["customer_id"], state=Customer.State.ACTIVE
            ).first()
            if customer is None:
                raise ValidationFailed(
                    {
                        "customer_id": [
                            _("There is no active customer %(id)s.") % {"id": d["customer_id"]}
                        ]
                    }
                )
        order = services.pos_sale(
            channel=d["channel"],
            store=d["store"],
            lines=[services.SkuLine(line["sku"], line["quantity"]) for line in d["lines"]],
            payment=services.PaymentInput(**d["payment"]),
            customer=customer,
            email=d["email"],
            phone=d["phone"],
            ship_to=d.get("ship_to"),
            shipping_method=d["shipping_method"],
            actor=request.user,
        )
        return Response(
            order_json(selectors.order_with_lines(order), staff=True),
            status=status.HTTP_201_CREATED,
        )


@extend_schema(
    tags=TAG,
    responses={200: PosStockOutputSerializer, 404: ProblemSerializer},
    parameters=[
        OpenApiParameter("sku", str, required=True, description="The SKU to look up"),
        OpenApiParameter("store", str, required=True, description="The till's store code"),
        OpenApiParameter(
            "channel",
            str,
            description="Only locations serving this channel (the till's, to see where a "
            "shipped sale may come from)",
        ),
    ],
)
class PosStockView(APIView):
    """The endless aisle: a SKU's availability at every active location, this store first,
    then the other stores by distance from it, then the warehouses by distance. Each says
    whether it ships to customers and whether customers can pick up there. 400 when `sku` or
    `store` is missing or the store is not a store, 404 when either is unknown."""

    permission_classes = [TillPermissions]

    def get(self, request):
        params = request.query_params
        sku, code = params.get("sku", "").strip(), params.get("store", "").strip()
        missing = {
            name: [_("This parameter is required.")]
            for name, value in (("sku", sku), ("store", code))
            if not value
        }
        if missing:
            raise ValidationFailed(missing)
        variant = variant_by_sku(sku)
        if variant is None:
            raise NotFound(_("There is no SKU %(sku)s.") % {"sku": sku}, sku=sku)
        store = location_by_code(code)
        if store is None:
            raise NotFound(_("There is no store %(code)s.") % {"code": code}, store=code)
        if store.kind != StockLocation.Kind.STORE:
            raise ValidationFailed(
                {"store": [_("%(code)s is not a store.") % {"code": store.code}]}
            )
        channel = None
        if params.get("channel"):
            channel = channel_by_code(params["channel"])
            if channel is None:
                raise NotFound(_("There is no channel %(code)s.") % {"code": params["channel"]})
        origin = _point(store)
        rows = []
        for entry in availability_by_location(variant_id=variant.pk, channel=channel):
            location = entry.location
            km = geo.distance_km(origin, _point(location))
            rows.append(
                (
                    (
                        0 if location.pk == store.pk else 1 if location.kind == store.kind else 2,
                        km is None,
                        km or 0.0,
                        location.routing_priority,
                        location.code,
                    ),
                    {
                        "code": location.code,
                        "name": location.name,
                        "kind": location.kind,
                        "city": location.city,
                        "region": location.region,
                        "country": location.country,
                        "this_store": location.pk == store.pk,
                        "distance_km": None if km is None else round(km, 1),
                        "available": entry.available,
                        "on_hand": entry.on_hand,
                        "in_stock": entry.available > 0,
                        "ships_to_customers": location.ships_to_customers,
                        "pickup": location.pickup_enabled,
                        "handling_days": location.handling_days,
                    },
                )
            )
        rows.sort(key=lambda row: row[0])
        return Response(
            {
                "sku": variant.sku,
                "variant_id": variant.pk,
                "product_name": variant.product.name,
                "variant_name": variant.name,
                "store": store.code,
                "locations": [row for _key, row in rows],
            }
        )


def _point(location: StockLocation) -> geo.Point | None:
    return geo.point_of(location.latitude, location.longitude) or geo.region_centre(
        location.country, location.region
    )
