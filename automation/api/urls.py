from django.urls import path
from rest_framework.routers import SimpleRouter

from automation.api.rules import (
    BackInStockView,
    StaffApprovalViewSet,
    StaffRuleRunViewSet,
    StaffRuleViewSet,
)
from automation.api.webhooks import StaffWebhookDeliveryViewSet, StaffWebhookEndpointViewSet

router = SimpleRouter()
router.register("staff/webhooks", StaffWebhookEndpointViewSet, basename="staff-webhook")
router.register(
    "staff/webhook-deliveries", StaffWebhookDeliveryViewSet, basename="staff-webhook-delivery"
)
router.register("staff/automation/rules", StaffRuleViewSet, basename="staff-automation-rule")
router.register("staff/automation/runs", StaffRuleRunViewSet, basename="staff-automation-run")
router.register(
    "staff/automation/approvals", StaffApprovalViewSet, basename="staff-automation-approval"
)

urlpatterns = [
    path(
        "channels/<slug:channel>/back-in-stock/",
        BackInStockView.as_view(),
        name="storefront-back-in-stock",
    ),
    *router.urls,
]
