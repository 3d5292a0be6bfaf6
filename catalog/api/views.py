from functools import partial

from django.db.models import Prefetch
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.generics import GenericAPIView
from rest_framework.permissions import AllowAny
from rest_framework.response import Response

from catalog import services, storefront_cache
from catalog.api import storefront
from catalog.api.filters import CompetitorPriceFilter, StorefrontProductFilter
from catalog.api.pagination import KnownCountPaginator, StorefrontProductPagination
from catalog.api.serializers import (
    CategoryTreeOutputSerializer,
    CompetitorPriceBatchInputSerializer,
    CompetitorPriceBatchOutputSerializer,
    CompetitorPriceLatestOutputSerializer,
    ProductInputSerializer,
    ProductListingInputSerializer,
    StaffProductOutputSerializer,
    StaffVariantOutputSerializer,
    StorefrontProductDetailOutputSerializer,
    StorefrontProductOutputSerializer,
    VariantInputSerializer,
    VariantPriceInputSerializer,
    VariantUpdateInputSerializer,
)
from catalog.errors import CompetitorPricesInvalid
from catalog.models import (
    Category,
    CompetitorPrice,
    PriceChange,
    Product,
    ProductAttributeValue,
    ProductChannelListing,
    ProductVariant,
    VariantAttributeValue,
    VariantChannelListing,
)
from catalog.selectors import (
    category_tree,
    competitor_price_latest_of,
    listing_next_change,
    product_get_for_channel,
    product_list_for_channel,
)
from commerce.api.permissions import StaffChangePermissions
from commerce.errors import NotFound, ValidationFailed
from commerce.selectors import channel_get_active

CHANNEL_PARAMETER = OpenApiParameter(
    "channel", str, OpenApiParameter.PATH, description="Channel code, e.g. web-jp"
)


class StorefrontView(GenericAPIView):
    """Anonymous, read-only, scoped to one active channel (404 for an unknown one)."""

    permission_classes = [AllowAny]
    authentication_classes = []

    def get_channel(self):
        if not hasattr(self, "_channel"):
            self._channel = channel_get_active(code=self.kwargs["channel"])
        return self._channel


@extend_schema(tags=["storefront"], parameters=[CHANNEL_PARAMETER])
class StorefrontProductListView(StorefrontView):
    filterset_class = StorefrontProductFilter
    pagination_class = StorefrontProductPagination
    serializer_class = StorefrontProductOutputSerializer

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # building the schema: no channel
            return Product.objects.none()
        return product_list_for_channel(channel=self.get_channel())

    @extend_schema(
        summary="Products sold in a channel, with facet counts for the filter",
        responses=StorefrontProductOutputSerializer(many=True),
    )
    def get(self, request, *args, **kwargs):
        code = kwargs["channel"]
        params = storefront.request_params(request)
        cached = storefront_cache.list_lookup(code, params)
        keep = "in_stock" not in request.GET  # what stock can change is not kept
        queryset = None
        page = cached.page
        if page is None:
            queryset = self.filter_queryset(self.get_queryset())
            page = self._compose(queryset, count=cached.count)
            if keep:
                storefront_cache.page_store(
                    code, params, page, tag=cached.tag, until=self._next_change()
                )
                if cached.count is None:
                    storefront_cache.count_store(
                        code, params, page.count, tag=cached.tag, until=self._next_change()
                    )
        facets = cached.facets
        if facets is None:
            if queryset is None:
                queryset = self.filter_queryset(self.get_queryset())
            facets = storefront.facets_json(queryset, channel=self.get_channel())
            if keep:
                storefront_cache.facets_store(
                    code, params, facets, tag=cached.tag, until=self._next_change()
                )
        page_size = self.paginator.get_page_size(request)
        page_number = int(request.GET.get("page") or 1)
        cards = storefront.cards_for(code, page.product_ids, channel_loader=self.get_channel)
        following, preceding = storefront.page_links(
            request, page_number=page_number, page_size=page_size, count=page.count
        )
        body = storefront.list_body(
            count=page.count,
            following=following,
            preceding=preceding,
            facets=facets,
            cards=storefront.cards_json(cards, request=request) if cards else [],
        )
        return storefront.json_response(body)

    def _next_change(self):
        if not hasattr(self, "_next"):
            self._next = listing_next_change(channel=self.get_channel())
        return self._next

    def _compose(self, queryset, *, count: int | None) -> storefront_cache.Page:
        """Which products the page shows, in order, out of how many: the paginator over ids
        only (it validates `page` and `page_size` as for any list), counting them only when
        the filter's count is not known already."""
        if count is not None:
            self.paginator.django_paginator_class = partial(KnownCountPaginator, count=count)
        ids = self.paginate_queryset(queryset.values_list("pk", flat=True))
        return storefront_cache.Page(
            channel_id=self.get_channel().pk,
            count=self.paginator.page.paginator.count,
            product_ids=list(ids),
        )


@extend_schema(tags=["storefront"], parameters=[CHANNEL_PARAMETER])
class StorefrontProductDetailView(StorefrontView):
    serializer_class = StorefrontProductDetailOutputSerializer

    @extend_schema(summary="One product by id or by slug")
    def get(self, request, *args, **kwargs):
        code = kwargs["channel"]
        product = None
        if "slug" in kwargs:
            product_id, tag = storefront_cache.slug_lookup(code, kwargs["slug"])
            if product_id is None:
                product = product_get_for_channel(channel=self.get_channel(), slug=kwargs["slug"])
                product_id = product.pk
                storefront_cache.slug_store(code, kwargs["slug"], product_id, tag=tag)
        else:
            product_id = kwargs["pk"]
        cards = storefront.cards_for(
            code,
            [product_id],
            detail=True,
            channel_loader=self.get_channel,
            products=None if product is None else [product],
        )
        if not cards:
            raise NotFound(_("No such product in this channel."))
        return storefront.json_response(storefront.cards_json(cards, request=request)[0])


@extend_schema(tags=["storefront"], parameters=[CHANNEL_PARAMETER])
class StorefrontCategoryTreeView(StorefrontView):
    serializer_class = CategoryTreeOutputSerializer
    pagination_class = None
    queryset = Category.objects.none()  # for the schema only; the tree comes from a selector

    @extend_schema(summary="The category tree", responses=CategoryTreeOutputSerializer(many=True))
    def get(self, request, *args, **kwargs):
        self.get_channel()
        return Response(category_tree())


# --- Staff ----------------------------------------------------------------------------------

_attribute_values = ("attribute", "choice")


def _staff_product_queryset():
    return Product.objects.select_related("product_type", "category", "tax_class").prefetch_related(
        Prefetch(
            "attribute_values",
            queryset=ProductAttributeValue.objects.select_related(*_attribute_values),
        ),
        Prefetch(
            "channel_listings", queryset=ProductChannelListing.objects.select_related("channel")
        ),
        Prefetch("variants", queryset=_staff_variant_queryset()),
    )


def _staff_variant_queryset():
    return ProductVariant.objects.prefetch_related(
        Prefetch(
            "attribute_values",
            queryset=VariantAttributeValue.objects.select_related(*_attribute_values),
        ),
        Prefetch(
            "channel_listings", queryset=VariantChannelListing.objects.select_related("channel")
        ),
    )


@extend_schema(tags=["staff: catalogue"])
class StaffProductViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """Products for back-office integrations (ERP, PIM). Requires staff with catalogue permissions."""

    serializer_class = StaffProductOutputSerializer
    queryset = Product.objects.all()
    filterset_fields = {
        "category__slug": ["exact"],
        "product_type__slug": ["exact"],
        "updated_at": ["gte"],
    }

    def get_queryset(self):
        return _staff_product_queryset().order_by("pk")

    @extend_schema(request=ProductInputSerializer, responses={201: StaffProductOutputSerializer})
    def create(self, request):
        data = ProductInputSerializer(data=request.data, context={"request": request})
        data.is_valid(raise_exception=True)
        product = services.product_create(**data.validated_data)
        return Response(self._output(product.pk), status=status.HTTP_201_CREATED)

    @extend_schema(request=ProductInputSerializer, responses=StaffProductOutputSerializer)
    def partial_update(self, request, pk=None):
        product = self.get_object()
        data = ProductInputSerializer(
            data=request.data, partial=True, context={"request": request, "instance": product}
        )
        data.is_valid(raise_exception=True)
        services.product_update(product=product, **data.validated_data)
        return Response(self._output(product.pk))

    @extend_schema(request=ProductListingInputSerializer, responses=StaffProductOutputSerializer)
    @action(
        detail=True,
        methods=["post"],
        url_path="channel-listings",
        permission_classes=[StaffChangePermissions],
    )
    def channel_listings(self, request, pk=None):
        """Publish or unpublish the product in a channel, with an optional availability window."""
        product = self.get_object()
        data = ProductListingInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.product_listing_set(product=product, **data.validated_data)
        return Response(self._output(product.pk))

    def _output(self, pk: int) -> dict:
        return StaffProductOutputSerializer(_staff_product_queryset().get(pk=pk)).data


@extend_schema(tags=["staff: catalogue"])
class StaffVariantViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    serializer_class = StaffVariantOutputSerializer
    queryset = ProductVariant.objects.all()
    filterset_fields = {"sku": ["exact"], "barcode": ["exact"], "product": ["exact"]}

    def get_queryset(self):
        return _staff_variant_queryset().order_by("pk")

    @extend_schema(request=VariantInputSerializer, responses={201: StaffVariantOutputSerializer})
    def create(self, request):
        data = VariantInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        variant = services.variant_create(**data.validated_data)
        return Response(self._output(variant.pk), status=status.HTTP_201_CREATED)

    @extend_schema(request=VariantUpdateInputSerializer, responses=StaffVariantOutputSerializer)
    def partial_update(self, request, pk=None):
        variant = self.get_object()
        data = VariantUpdateInputSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        services.variant_update(variant=variant, **data.validated_data)
        return Response(self._output(variant.pk))

    @extend_schema(request=VariantPriceInputSerializer, responses=StaffVariantOutputSerializer)
    @action(detail=True, methods=["post"], permission_classes=[StaffChangePermissions])
    def prices(self, request, pk=None):
        """Set the variant's price in a channel (the channel's currency and its minor units).
        A price that moves is logged (source `api`, the caller, the optional `reference`)."""
        variant = self.get_object()
        data = VariantPriceInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.variant_price_set(
            variant=variant,
            **data.validated_data,
            source=PriceChange.Source.API,
            changed_by=request.user,
        )
        return Response(self._output(variant.pk))

    def _output(self, pk: int) -> dict:
        return StaffVariantOutputSerializer(_staff_variant_queryset().get(pk=pk)).data


@extend_schema(tags=["staff: catalogue"])
class StaffCompetitorPriceViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    """Competitor prices: the feed a repricing rule compares with. Reading needs the view
    permission on competitor prices, recording the add permission."""

    serializer_class = CompetitorPriceLatestOutputSerializer
    queryset = CompetitorPrice.objects.all()
    filterset_class = CompetitorPriceFilter

    def filter_queryset(self, queryset):
        # Filters pick the observations first; then the latest of each is taken, so that
        # `competitor=x` is x's latest price, not the rows where x happens to be the latest.
        return competitor_price_latest_of(super().filter_queryset(queryset))

    @extend_schema(
        summary="The latest observation of each competitor, per variant and channel",
        responses=CompetitorPriceLatestOutputSerializer(many=True),
    )
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    @extend_schema(
        summary="Record a batch of competitor prices in one channel (all or nothing)",
        request=CompetitorPriceBatchInputSerializer,
        responses={201: CompetitorPriceBatchOutputSerializer},
    )
    def create(self, request):
        """Each observation is kept as history; price.competitor_changed is published for each
        competitor whose price moved. With any bad observation nothing is recorded, and the
        problem's `errors.observations` maps the 0-based index of each bad observation to its
        fields' messages (an unknown SKU, a price the currency does not allow, a date in the
        future), as for any error in the shape of the input. An observation already stored
        (same SKU, competitor, observed_at and price) is not stored again, so a retried
        request records nothing twice."""
        data = CompetitorPriceBatchInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        observations = data.validated_data["observations"]
        try:
            result = services.competitor_prices_import(
                rows=observations, channel=data.validated_data["channel"]
            )
        except CompetitorPricesInvalid as error:
            # Shaped as DRF shapes a nested list's errors: by the 0-based index of each bad row.
            errors: dict[int, dict[str, list[str]]] = {}
            for row_error in error.row_errors:
                row = errors.setdefault(row_error.line - 1, {})
                row.setdefault(row_error.field, []).append(row_error.message)
            raise ValidationFailed({"observations": errors}, detail=error.detail) from None
        body = {
            "recorded": result.recorded,
            "duplicates": result.duplicates,
            "changes": result.changes,
            "observations": result.observations,
        }
        return Response(
            CompetitorPriceBatchOutputSerializer(body).data, status=status.HTTP_201_CREATED
        )
