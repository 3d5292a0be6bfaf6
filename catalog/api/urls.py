from django.urls import path
from rest_framework.routers import SimpleRouter

from catalog.api.views import (
    StaffCompetitorPriceViewSet,
    StaffProductViewSet,
    StaffVariantViewSet,
    StorefrontCategoryTreeView,
    StorefrontProductDetailView,
    StorefrontProductListView,
)

router = SimpleRouter()
router.register("staff/products", StaffProductViewSet, basename="staff-product")
router.register("staff/variants", StaffVariantViewSet, basename="staff-variant")
router.register(
    "staff/competitor-prices", StaffCompetitorPriceViewSet, basename="staff-competitor-price"
)

urlpatterns = [
    path(
        "channels/<slug:channel>/products/",
        StorefrontProductListView.as_view(),
        name="storefront-product-list",
    ),
    path(
        "channels/<slug:channel>/products/<int:pk>/",
        StorefrontProductDetailView.as_view(),
        name="storefront-product-detail",
    ),
    path(
        "channels/<slug:channel>/products/by-slug/<str:slug>/",
        StorefrontProductDetailView.as_view(),
        name="storefront-product-by-slug",
    ),
    path(
        "channels/<slug:channel>/categories/",
        StorefrontCategoryTreeView.as_view(),
        name="storefront-category-tree",
    ),
    *router.urls,
]
