from django.urls import path
from rest_framework.routers import SimpleRouter

from inventory.api.operations import (
    StaffPurchaseOrderViewSet,
    StaffReplenishmentView,
    StaffTransferViewSet,
)
from inventory.api.views import (
    StaffReservationViewSet,
    StaffStockMovementViewSet,
    StaffStockViewSet,
    StorefrontAvailabilityView,
    StorefrontLocationAvailabilityView,
)

router = SimpleRouter()
router.register("staff/stock", StaffStockViewSet, basename="staff-stock")
router.register("staff/stock-movements", StaffStockMovementViewSet, basename="staff-stock-movement")
router.register("staff/reservations", StaffReservationViewSet, basename="staff-reservation")
router.register("staff/transfers", StaffTransferViewSet, basename="staff-transfer")
router.register("staff/purchase-orders", StaffPurchaseOrderViewSet, basename="staff-purchase-order")

urlpatterns = [
    path(
        "channels/<slug:channel>/availability/",
        StorefrontAvailabilityView.as_view(),
        name="storefront-availability",
    ),
    path(
        "channels/<slug:channel>/variants/<int:variant_id>/locations/",
        StorefrontLocationAvailabilityView.as_view(),
        name="storefront-variant-locations",
    ),
    path("staff/replenishment/", StaffReplenishmentView.as_view(), name="staff-replenishment"),
    *router.urls,
]
