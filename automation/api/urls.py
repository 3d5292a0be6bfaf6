from rest_framework.routers import SimpleRouter

from automation.api.webhooks import StaffWebhookDeliveryViewSet, StaffWebhookEndpointViewSet

router = SimpleRouter()
router.register("staff/webhooks", StaffWebhookEndpointViewSet, basename="staff-webhook")
router.register(
    "staff/webhook-deliveries", StaffWebhookDeliveryViewSet, basename="staff-webhook-delivery"
)

urlpatterns = router.urls
