"""Storefront output is built by hand from prefetched rows (a list page serialises hundreds of
variants; plain dicts keep it fast). The serializers below describe it for the OpenAPI schema and
validate staff input."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from catalog.models import (
    Category,
    CompetitorPrice,
    Product,
    ProductType,
    ProductVariant,
    TaxClass,
)
from commerce.api.serializers import MAX_INT32, money_json
from commerce.models import Channel


def _attributes_json(assignments) -> list[dict]:
    return [
        {
            "code": a.attribute.code,
            "name": a.attribute.name,
            "type": a.attribute.type,
            "value": a.value if not hasattr(a.value, "as_tuple") else str(a.value),
            "display": a.display,
        }
        for a in assignments
    ]


def storefront_product_json(
    product: Product,
    *,
    channel: Channel,
    request=None,
    detail: bool = False,
    stock: dict[int, int] | None = None,
) -> dict:
    """`stock` maps variant ids to sellable units; without it the availability fields are null
    (the storefront cache builds cards this way and fills stock in per request)."""
    currency = channel.currency
    data = {
        "id": product.pk,
        "slug": product.slug,
        "name": product.name,
        "category": (
            {
                "id": product.category.pk,
                "slug": product.category.slug,
                "name": product.category.name,
            }
            if product.category_id
            else None
        ),
        "product_type": product.product_type.slug,
        "price_from": money_json(product.price_from, currency),
        "prices_include_tax": channel.prices_include_tax,
        "attributes": _attributes_json(product.attribute_values.all()),
        "images": [
            {
                "url": request.build_absolute_uri(image.image.url) if request else image.image.url,
                "alt": image.alt,
            }
            for image in product.images.all()
        ],
        "variants": [
            {
                "id": variant.pk,
                "sku": variant.sku,
                "name": variant.name,
                "price": money_json(variant.price, currency),
                "compare_at_price": money_json(variant.compare_at_price, currency),
                "attributes": _attributes_json(variant.attribute_values.all()),
                "available": None if stock is None else stock.get(variant.pk, 0),
                "in_stock": None if stock is None else stock.get(variant.pk, 0) > 0,
            }
            for variant in product.channel_variants
        ],
    }
    data["in_stock"] = None if stock is None else any(v["in_stock"] for v in data["variants"])
    if detail:
        data["description"] = product.description
        for variant_json, variant in zip(data["variants"], product.channel_variants, strict=True):
            variant_json["barcode"] = variant.barcode
            variant_json["weight_grams"] = variant.weight_grams
    return data


class MoneyOutputSerializer(serializers.Serializer):
    amount = serializers.DecimalField(max_digits=18, decimal_places=3, coerce_to_string=True)
    currency = serializers.CharField()


class AttributeValueOutputSerializer(serializers.Serializer):
    code = serializers.CharField()
    name = serializers.CharField()
    type = serializers.CharField()
    value = serializers.JSONField()
    display = serializers.CharField()


class StorefrontVariantOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    sku = serializers.CharField()
    name = serializers.CharField()
    price = MoneyOutputSerializer()
    compare_at_price = MoneyOutputSerializer(allow_null=True)
    attributes = AttributeValueOutputSerializer(many=True)
    available = serializers.IntegerField(
        allow_null=True, help_text="Units sellable in this channel now"
    )
    in_stock = serializers.BooleanField(allow_null=True)


class CategoryRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    slug = serializers.CharField()
    name = serializers.CharField()


class ImageOutputSerializer(serializers.Serializer):
    url = serializers.URLField()
    alt = serializers.CharField()


class StorefrontProductOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    slug = serializers.CharField()
    name = serializers.CharField()
    category = CategoryRefSerializer(allow_null=True)
    product_type = serializers.CharField()
    price_from = MoneyOutputSerializer()
    prices_include_tax = serializers.BooleanField()
    attributes = AttributeValueOutputSerializer(many=True)
    images = ImageOutputSerializer(many=True)
    in_stock = serializers.BooleanField(
        allow_null=True, help_text="Some variant is sellable in this channel"
    )
    variants = StorefrontVariantOutputSerializer(many=True)


class StorefrontProductDetailVariantSerializer(StorefrontVariantOutputSerializer):
    barcode = serializers.CharField()
    weight_grams = serializers.IntegerField(allow_null=True)


class StorefrontProductDetailOutputSerializer(StorefrontProductOutputSerializer):
    description = serializers.CharField()
    variants = StorefrontProductDetailVariantSerializer(many=True)


class CategoryTreeOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    slug = serializers.CharField()
    name = serializers.CharField()
    description = serializers.CharField()
    children = serializers.ListField(child=serializers.DictField())


# --- Staff ----------------------------------------------------------------------------------


class ProductInputSerializer(serializers.Serializer):
    product_type = serializers.SlugRelatedField(
        slug_field="slug", queryset=ProductType.objects.all()
    )
    name = serializers.CharField(max_length=250)
    slug = serializers.SlugField(max_length=255, allow_unicode=True)
    category = serializers.SlugRelatedField(
        slug_field="slug", queryset=Category.objects.all(), required=False, allow_null=True
    )
    tax_class = serializers.SlugRelatedField(
        slug_field="code", queryset=TaxClass.objects.all(), required=False, allow_null=True
    )
    description = serializers.CharField(required=False, allow_blank=True)
    attributes = serializers.DictField(child=serializers.JSONField(), required=False)

    def validate_slug(self, value: str) -> str:
        instance = self.context.get("instance")
        if Product.objects.filter(slug=value).exclude(pk=getattr(instance, "pk", None)).exists():
            raise serializers.ValidationError("A product with this slug already exists.")
        return value


class VariantInputSerializer(serializers.Serializer):
    product = serializers.PrimaryKeyRelatedField(queryset=Product.objects.all())
    sku = serializers.CharField(max_length=64)
    name = serializers.CharField(max_length=250, required=False, allow_blank=True)
    barcode = serializers.CharField(max_length=32, required=False, allow_blank=True)
    weight_grams = serializers.IntegerField(
        min_value=0, max_value=MAX_INT32, required=False, allow_null=True
    )
    position = serializers.IntegerField(min_value=0, max_value=MAX_INT32, required=False)
    attributes = serializers.DictField(child=serializers.JSONField(), required=False)


class VariantUpdateInputSerializer(VariantInputSerializer):
    product = None


class ChannelField(serializers.SlugRelatedField):
    def __init__(self, **kwargs):
        super().__init__(slug_field="code", queryset=Channel.objects.all(), **kwargs)


class VariantPriceInputSerializer(serializers.Serializer):
    channel = ChannelField()
    # Strings keep the exact decimal; the service checks precision against the channel currency.
    price = serializers.CharField()
    compare_at_price = serializers.CharField(required=False, allow_null=True, allow_blank=True)
    reference = serializers.CharField(
        max_length=100,
        required=False,
        allow_blank=True,
        default="",
        help_text="What the price log records as the reason, e.g. an ERP batch number.",
    )


class ProductListingInputSerializer(serializers.Serializer):
    channel = ChannelField()
    is_published = serializers.BooleanField()
    visible_in_listings = serializers.BooleanField(default=True)
    available_from = serializers.DateTimeField(required=False, allow_null=True)
    available_until = serializers.DateTimeField(required=False, allow_null=True)


class VariantPriceOutputSerializer(serializers.Serializer):
    channel = serializers.CharField(source="channel.code")
    price = serializers.SerializerMethodField()
    compare_at_price = serializers.SerializerMethodField()

    def get_price(self, obj) -> dict:
        return money_json(obj.price, obj.channel.currency)

    def get_compare_at_price(self, obj) -> dict | None:
        return money_json(obj.compare_at_price, obj.channel.currency)


class StaffVariantOutputSerializer(serializers.ModelSerializer):
    prices = VariantPriceOutputSerializer(source="channel_listings", many=True, read_only=True)
    attributes = serializers.SerializerMethodField()

    class Meta:
        model = ProductVariant
        fields = [
            "id",
            "product",
            "sku",
            "name",
            "barcode",
            "weight_grams",
            "position",
            "attributes",
            "prices",
        ]

    def get_attributes(self, obj) -> dict:
        return {a.attribute.code: a.display for a in obj.attribute_values.all()}


class ProductListingOutputSerializer(serializers.Serializer):
    channel = serializers.CharField(source="channel.code")
    is_published = serializers.BooleanField()
    visible_in_listings = serializers.BooleanField()
    available_from = serializers.DateTimeField(allow_null=True)
    available_until = serializers.DateTimeField(allow_null=True)


class StaffProductOutputSerializer(serializers.ModelSerializer):
    product_type = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    category = serializers.SlugRelatedField(slug_field="slug", read_only=True, allow_null=True)
    tax_class = serializers.SlugRelatedField(slug_field="code", read_only=True, allow_null=True)
    attributes = serializers.SerializerMethodField()
    variants = StaffVariantOutputSerializer(many=True, read_only=True)
    channel_listings = ProductListingOutputSerializer(many=True, read_only=True)

    class Meta:
        model = Product
        fields = [
            "id",
            "slug",
            "name",
            "description",
            "product_type",
            "category",
            "tax_class",
            "attributes",
            "variants",
            "channel_listings",
            "created_at",
            "updated_at",
        ]

    def get_attributes(self, obj) -> dict:
        return {a.attribute.code: a.display for a in obj.attribute_values.all()}


# --- Competitor prices ------------------------------------------------------------------------

# Observations per request; a larger feed goes in several requests (or the CSV command).
COMPETITOR_BATCH_MAX = 1000


class CompetitorObservationInputSerializer(serializers.Serializer):
    sku = serializers.CharField(max_length=ProductVariant._meta.get_field("sku").max_length)
    competitor = serializers.CharField(
        max_length=CompetitorPrice._meta.get_field("competitor").max_length,
        help_text="The competitor's code, e.g. amazon-jp (stored in lower case).",
    )
    # A string keeps the exact decimal; the service checks it against the channel's currency.
    price = serializers.CharField(
        max_length=40, help_text="In the channel's currency and its minor units, e.g. 2980."
    )
    observed_at = serializers.DateTimeField(
        required=False,
        allow_null=True,
        help_text="When the price was seen (not in the future); now when left out.",
    )


class CompetitorPriceBatchInputSerializer(serializers.Serializer):
    channel = ChannelField(help_text="Code of the channel whose market the prices are for.")
    observations = CompetitorObservationInputSerializer(
        many=True,
        allow_empty=False,
        max_length=COMPETITOR_BATCH_MAX,
        help_text=f"1 to {COMPETITOR_BATCH_MAX} observations.",
    )


class CompetitorPriceOutputSerializer(serializers.ModelSerializer):
    sku = serializers.CharField(source="variant.sku")
    variant_id = serializers.IntegerField()
    channel = serializers.CharField(source="channel.code")
    price = serializers.SerializerMethodField()

    class Meta:
        model = CompetitorPrice
        fields = [
            "id",
            "sku",
            "variant_id",
            "channel",
            "competitor",
            "price",
            "observed_at",
            "created_at",
        ]

    @extend_schema_field(MoneyOutputSerializer)
    def get_price(self, obj) -> dict:
        return money_json(obj.price, obj.currency)


class CompetitorPriceLatestOutputSerializer(CompetitorPriceOutputSerializer):
    our_price = serializers.SerializerMethodField(
        help_text="The variant's own price in the channel; null where it is not sold there."
    )

    class Meta(CompetitorPriceOutputSerializer.Meta):
        fields = [*CompetitorPriceOutputSerializer.Meta.fields, "our_price"]

    @extend_schema_field(MoneyOutputSerializer(allow_null=True))
    def get_our_price(self, obj) -> dict | None:
        return money_json(obj.our_price, obj.channel.currency)


class CompetitorPriceBatchOutputSerializer(serializers.Serializer):
    recorded = serializers.IntegerField(help_text="New observations stored.")
    duplicates = serializers.IntegerField(
        help_text="Observations already stored (same SKU, competitor, observed_at and price)."
    )
    changes = serializers.IntegerField(help_text="price.competitor_changed events published.")
    observations = CompetitorPriceOutputSerializer(
        many=True, help_text="One per observation sent, in the order sent."
    )
