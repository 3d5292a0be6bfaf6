from django.urls import path
from rest_framework.routers import SimpleRouter

from orders.api import fulfilments, pos, storefront
from orders.api.staff import StaffOrderViewSet

router = SimpleRouter()
router.register("staff/orders", StaffOrderViewSet, basename="staff-order")
router.register(
    "staff/fulfilments", fulfilments.StaffFulfilmentViewSet, basename="staff-fulfilment"
)

urlpatterns = [
    path(
        "channels/<slug:channel>/carts/",
        storefront.CartCreateView.as_view(),
        name="storefront-cart-create",
    ),
    path("carts/<str:token>/", storefront.CartView.as_view(), name="storefront-cart"),
    path(
        "carts/<str:token>/lines/", storefront.CartLinesView.as_view(), name="storefront-cart-lines"
    ),
    path(
        "carts/<str:token>/lines/<int:variant_id>/",
        storefront.CartLineView.as_view(),
        name="storefront-cart-line",
    ),
    path(
        "carts/<str:token>/shipping-methods/",
        storefront.CartShippingMethodsView.as_view(),
        name="storefront-cart-shipping-methods",
    ),
    path(
        "carts/<str:token>/pickup-stores/",
        storefront.CartPickupStoresView.as_view(),
        name="storefront-cart-pickup-stores",
    ),
    path(
        "carts/<str:token>/checkout/",
        storefront.CartCheckoutView.as_view(),
        name="storefront-cart-checkout",
    ),
    path(
        "carts/<str:token>/complete/",
        storefront.CartCompleteView.as_view(),
        name="storefront-cart-complete",
    ),
    path("orders/", storefront.MyOrdersView.as_view(), name="storefront-my-orders"),
    path("orders/lookup/", storefront.OrderLookupView.as_view(), name="storefront-order-lookup"),
    path("orders/<str:number>/", storefront.MyOrderView.as_view(), name="storefront-my-order"),
    path(
        "payments/notifications/<slug:gateway>/",
        storefront.PaymentNotificationView.as_view(),
        name="payment-notifications",
    ),
    path(
        "staff/locations/<str:code>/pick-list/",
        fulfilments.StaffPickListView.as_view(),
        name="staff-location-pick-list",
    ),
    path(
        "staff/tracking-updates/",
        fulfilments.TrackingUpdatesView.as_view(),
        name="staff-tracking-updates",
    ),
    path("staff/pos/sales/", pos.PosSaleView.as_view(), name="staff-pos-sales"),
    path("staff/pos/stock/", pos.PosStockView.as_view(), name="staff-pos-stock"),
    *router.urls,
]
