from django.conf import settings
from django.conf.urls.static import static
from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from commerce import health

api_v1 = [
    path("", include("commerce.api.urls")),
    path("", include("catalog.api.urls")),
    path("", include("inventory.api.urls")),
    path("", include("customers.api.urls")),
    path("", include("orders.api.urls")),
    path("", include("automation.api.urls")),
]

urlpatterns = [
    path("", RedirectView.as_view(url="/api/docs/", permanent=False)),
    path("health/live/", health.liveness, name="health-live"),
    path("health/ready/", health.readiness, name="health-ready"),
    path("admin/", admin.site.urls),
    path("api/v1/", include(api_v1)),
    path("api/auth/", include("rest_framework.urls")),
    path("", include("customers.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path(
        "api/redoc/",
        SpectacularRedocView.as_view(url_name="schema", template_name="api/redoc.html"),
        name="api-redoc",
    ),
]
# Under /api/ these answer problem+json like the API views; elsewhere Django's pages.
handler400 = "commerce.api.problems.bad_request"
handler403 = "commerce.api.problems.permission_denied"
handler404 = "commerce.api.problems.page_not_found"
handler500 = "commerce.api.problems.server_error"

if settings.DEBUG:
    urlpatterns += static(settings.MEDIA_URL, document_root=settings.MEDIA_ROOT)
