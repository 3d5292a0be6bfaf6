"""Every write to the catalogue. Admin, API, import and demo data all come through here."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import transaction
from django.db.models import Min
from django.utils.translation import gettext as _

from catalog import events as catalog_events
from catalog import storefront_cache
from catalog.errors import CategoryCycle, InvalidCatalogData
from catalog.models import (
    Attribute,
    AttributeChoice,
    Category,
    Product,
    ProductAttributeValue,
    ProductChannelListing,
    ProductType,
    ProductVariant,
    TaxClass,
    VariantAttributeValue,
    VariantChannelListing,
)
from commerce import events
from commerce.models import Channel
from commerce.money import has_valid_precision, quantize

# --- Categories ------------------------------------------------------------------------------


@transaction.atomic
def category_create(
    *,
    name: str,
    slug: str,
    parent: Category | None = None,
    description: str = "",
    position: int = 0,
) -> Category:
    """Create a category under `parent` (or at the root) with its tree path set."""
    category = Category.objects.create(
        name=name, slug=slug, parent=parent, description=description, position=position
    )
    _category_set_path(category)
    return category


@transaction.atomic
def category_update(*, category: Category, **fields: Any) -> Category:
    """Change a category; moving it to another parent rewrites the paths of its whole subtree.

    Locks the category row so two moves of the same subtree apply one after the other.
    """
    category = Category.objects.select_for_update().get(pk=category.pk)
    new_parent = fields.get("parent", category.parent)
    if new_parent is not None and category.pk is not None:
        new_parent.refresh_from_db(fields=["path"])
        if new_parent.pk == category.pk or new_parent.path.startswith(category.path):
            raise CategoryCycle(
                _("%(category)s cannot go under %(parent)s, which is inside it.")
                % {"category": category, "parent": new_parent}
            )
    for field, value in fields.items():
        setattr(category, field, value)
    category.save()
    old_path = category.path
    _category_set_path(category)
    if old_path != category.path:
        for child in Category.objects.filter(path__startswith=old_path).exclude(pk=category.pk):
            child.path = category.path + child.path[len(old_path) :]
            child.depth = child.path.count("/") - 2
            child.save(update_fields=["path", "depth"])
    return category


def _category_set_path(category: Category) -> None:
    parent_path = category.parent.path if category.parent_id else "/"
    category.path = f"{parent_path}{category.pk}/"
    category.depth = category.path.count("/") - 2
    category.save(update_fields=["path", "depth"])


# --- Attributes ------------------------------------------------------------------------------


def attribute_parse_value(
    *, attribute: Attribute, raw: Any, choices: Mapping[str, AttributeChoice] | None = None
) -> dict[str, Any]:
    """Turn a raw value into the assignment columns for the attribute's type, or raise."""
    field = f"attributes.{attribute.code}"
    match attribute.type:
        case Attribute.Type.CHOICE:
            slug = str(raw).strip()
            choice = (
                (choices or {}).get(slug)
                if choices is not None
                else (attribute.choices.filter(slug=slug).first())
            )
            if choice is None:
                raise InvalidCatalogData(
                    {
                        field: [
                            _("%(value)s is not a choice of %(attribute)s.")
                            % {"value": slug, "attribute": attribute.code}
                        ]
                    }
                )
            return {"choice": choice}
        case Attribute.Type.NUMBER:
            try:
                number = Decimal(str(raw).strip())
            except InvalidOperation:
                raise InvalidCatalogData(
                    {field: [_("%(value)s is not a number.") % {"value": raw}]}
                ) from None
            if not number.is_finite():
                raise InvalidCatalogData(
                    {field: [_("%(value)s is not a number.") % {"value": raw}]}
                )
            # What the column holds; beyond it the write would fail instead of this check.
            column = ProductAttributeValue._meta.get_field("number")
            places = column.decimal_places
            if abs(number) >= Decimal(10) ** (column.max_digits - places) or number != (
                number.quantize(Decimal(1).scaleb(-places))
            ):
                raise InvalidCatalogData(
                    {
                        field: [
                            _("%(value)s is too large or has more than %(places)s decimals.")
                            % {"value": raw, "places": places}
                        ]
                    }
                )
            return {"number": number}
        case Attribute.Type.BOOLEAN:
            if isinstance(raw, bool):
                return {"boolean": raw}
            text = str(raw).strip().lower()
            if text in {"1", "true", "yes", "y"}:
                return {"boolean": True}
            if text in {"0", "false", "no", "n"}:
                return {"boolean": False}
            raise InvalidCatalogData({field: [_("%(value)s is not yes or no.") % {"value": raw}]})
    return {"text": str(raw).strip()[:250]}


def _assign_attributes(
    *, owner: Product | ProductVariant, allowed: Iterable[Attribute], values: Mapping[str, Any]
) -> None:
    allowed_by_code = {a.code: a for a in allowed}
    unknown = sorted(set(values) - set(allowed_by_code))
    if unknown:
        raise InvalidCatalogData(
            {
                "attributes": [
                    _("Not an attribute of this product type: %(codes)s.")
                    % {"codes": ", ".join(unknown)}
                ]
            }
        )
    model = ProductAttributeValue if isinstance(owner, Product) else VariantAttributeValue
    owner_field = "product" if isinstance(owner, Product) else "variant"
    for code, raw in values.items():
        attribute = allowed_by_code[code]
        if raw is None or raw == "":
            model.objects.filter(**{owner_field: owner, "attribute": attribute}).delete()
            continue
        columns = {"choice": None, "text": "", "number": None, "boolean": None}
        columns.update(attribute_parse_value(attribute=attribute, raw=raw))
        model.objects.update_or_create(
            **{owner_field: owner, "attribute": attribute}, defaults=columns
        )


# --- Products and variants -------------------------------------------------------------------


@transaction.atomic
def product_create(
    *,
    product_type: ProductType,
    name: str,
    slug: str,
    category: Category | None = None,
    tax_class: TaxClass | None = None,
    description: str = "",
    attributes: Mapping[str, Any] | None = None,
) -> Product:
    """Create a product with its product-level attribute values. Publishes product.created."""
    product = Product.objects.create(
        product_type=product_type,
        name=name,
        slug=slug,
        category=category,
        tax_class=tax_class,
        description=description,
    )
    if attributes:
        _assign_attributes(
            owner=product, allowed=product_type.product_attributes.all(), values=attributes
        )
    product_refresh_search_document(product_ids=[product.pk])
    events.publish(
        type=catalog_events.PRODUCT_CREATED,
        subject_type="product",
        subject_id=product.pk,
        payload={"product_id": product.pk, "slug": product.slug, "name": product.name},
    )
    return product


@transaction.atomic
def product_update(
    *, product: Product, attributes: Mapping[str, Any] | None = None, **fields: Any
) -> Product:
    """Change a product's fields and attribute values. Publishes product.updated."""
    changed = [name for name, value in fields.items() if getattr(product, name) != value]
    for name, value in fields.items():
        setattr(product, name, value)
    product.save()
    if attributes:
        _assign_attributes(
            owner=product, allowed=product.product_type.product_attributes.all(), values=attributes
        )
        changed.append("attributes")
    product_refresh_search_document(product_ids=[product.pk])
    if changed:
        events.publish(
            type=catalog_events.PRODUCT_UPDATED,
            subject_type="product",
            subject_id=product.pk,
            payload={"product_id": product.pk, "slug": product.slug, "changed": changed},
        )
    return product


@transaction.atomic
def variant_create(
    *,
    product: Product,
    sku: str,
    name: str = "",
    barcode: str = "",
    weight_grams: int | None = None,
    attributes: Mapping[str, Any] | None = None,
    position: int = 0,
) -> ProductVariant:
    _check_sku_free(sku=sku)
    _check_barcode_free(barcode=barcode)
    variant = ProductVariant.objects.create(
        product=product,
        sku=sku.strip(),
        name=name,
        barcode=barcode.strip(),
        weight_grams=weight_grams,
        position=position,
    )
    if attributes:
        _assign_attributes(
            owner=variant, allowed=product.product_type.variant_attributes.all(), values=attributes
        )
    product_refresh_search_document(product_ids=[product.pk])
    return variant


@transaction.atomic
def variant_update(
    *, variant: ProductVariant, attributes: Mapping[str, Any] | None = None, **fields: Any
) -> ProductVariant:
    if "sku" in fields and fields["sku"] != variant.sku:
        _check_sku_free(sku=fields["sku"], exclude_pk=variant.pk)
    if fields.get("barcode") and fields["barcode"] != variant.barcode:
        _check_barcode_free(barcode=fields["barcode"], exclude_pk=variant.pk)
    for name, value in fields.items():
        setattr(variant, name, value)
    variant.save()
    if attributes:
        _assign_attributes(
            owner=variant,
            allowed=variant.product.product_type.variant_attributes.all(),
            values=attributes,
        )
    product_refresh_search_document(product_ids=[variant.product_id])
    return variant


def _check_sku_free(*, sku: str, exclude_pk: int | None = None) -> None:
    if not sku or not sku.strip():
        raise InvalidCatalogData({"sku": [_("A SKU is required.")]})
    if ProductVariant.objects.filter(sku=sku.strip()).exclude(pk=exclude_pk).exists():
        raise InvalidCatalogData({"sku": [_("SKU %(sku)s is already used.") % {"sku": sku}]})


def _check_barcode_free(*, barcode: str, exclude_pk: int | None = None) -> None:
    if (
        barcode
        and ProductVariant.objects.filter(barcode=barcode.strip()).exclude(pk=exclude_pk).exists()
    ):
        raise InvalidCatalogData(
            {"barcode": [_("Barcode %(barcode)s is already used.") % {"barcode": barcode}]}
        )


def product_refresh_search_document(*, product_ids: Iterable[int]) -> None:
    """Rebuild the searchable text (name, description, SKUs, barcodes) of these products."""
    ids = list(product_ids)
    skus: dict[int, list[str]] = {pk: [] for pk in ids}
    for product_id, sku, barcode in ProductVariant.objects.filter(product_id__in=ids).values_list(
        "product_id", "sku", "barcode"
    ):
        skus[product_id].extend(filter(None, (sku, barcode)))
    products = list(Product.objects.filter(pk__in=ids).only("pk", "name", "description"))
    for product in products:
        product.search_document = " ".join([product.name, *skus[product.pk], product.description])
    Product.objects.bulk_update(products, ["search_document"], batch_size=1000)
    storefront_cache.lists_changed()  # what a search finds


# --- Channel listings and prices -------------------------------------------------------------


@transaction.atomic
def product_listing_set(
    *,
    product: Product,
    channel: Channel,
    is_published: bool,
    visible_in_listings: bool = True,
    available_from: datetime | None = None,
    available_until: datetime | None = None,
) -> ProductChannelListing:
    """Offer (or stop offering) a product in a channel, optionally within a time window."""
    if available_from and available_until and available_until <= available_from:
        raise InvalidCatalogData({"available_until": [_("Must be after available from.")]})
    listing, created = ProductChannelListing.objects.select_for_update().get_or_create(
        product=product,
        channel=channel,
        defaults={
            "is_published": is_published,
            "visible_in_listings": visible_in_listings,
            "available_from": available_from,
            "available_until": available_until,
        },
    )
    was_published = None if created else listing.is_published
    if not created:
        listing.is_published = is_published
        listing.visible_in_listings = visible_in_listings
        listing.available_from = available_from
        listing.available_until = available_until
        listing.save()
    _refresh_price_from(product_ids=[product.pk], channel=channel)
    if was_published != is_published:
        events.publish(
            type=catalog_events.PRODUCT_PUBLICATION_CHANGED,
            subject_type="product",
            subject_id=product.pk,
            payload={
                "product_id": product.pk,
                "channel": channel.code,
                "is_published": is_published,
            },
        )
    return listing


@transaction.atomic
def product_publish_bulk(
    *, product_ids: Iterable[int], channel: Channel, is_published: bool
) -> int:
    """Publish or unpublish many products in one channel (admin bulk action). Returns how many
    listings changed. Products not yet listed in the channel get a listing."""
    ids = list(product_ids)
    existing = {
        listing.product_id: listing
        for listing in ProductChannelListing.objects.select_for_update().filter(
            product_id__in=ids, channel=channel
        )
    }
    changed = 0
    for product in Product.objects.filter(pk__in=ids).only("pk"):
        listing = existing.get(product.pk)
        if listing is not None and listing.is_published == is_published:
            continue
        product_listing_set(
            product=product,
            channel=channel,
            is_published=is_published,
            visible_in_listings=listing.visible_in_listings if listing else True,
            available_from=listing.available_from if listing else None,
            available_until=listing.available_until if listing else None,
        )
        changed += 1
    return changed


def price_validate(
    *, price: Any, compare_at_price: Any, currency: str
) -> tuple[Decimal, Decimal | None]:
    """Parse and check a price pair for a currency; raise with the field that is wrong."""
    errors: dict[str, list[str]] = {}
    parsed: dict[str, Decimal | None] = {}
    for field, raw in (("price", price), ("compare_at_price", compare_at_price)):
        if raw is None or raw == "":
            parsed[field] = None
            continue
        try:
            value = Decimal(str(raw).strip())
        except InvalidOperation:
            errors[field] = [_("%(value)s is not a number.") % {"value": raw}]
            continue
        if not value.is_finite() or value < 0:
            errors[field] = [_("Must be zero or more.")]
        elif not has_valid_precision(value, currency):
            errors[field] = [
                _("%(value)s has more decimals than %(currency)s allows.")
                % {"value": raw, "currency": currency}
            ]
        elif value >= Decimal("1e15"):
            errors[field] = [_("Too large.")]
        parsed[field] = value
    if "price" not in errors and parsed.get("price") is None:
        errors["price"] = [_("A price is required.")]
    if (
        not errors
        and parsed["compare_at_price"] is not None
        and parsed["compare_at_price"] < parsed["price"]
    ):
        errors["compare_at_price"] = [_("Must not be below the price.")]
    if errors:
        raise InvalidCatalogData(errors)
    return parsed["price"], parsed["compare_at_price"]  # type: ignore[return-value]


@transaction.atomic
def variant_price_set(
    *, variant: ProductVariant, channel: Channel, price: Any, compare_at_price: Any = None
) -> VariantChannelListing:
    """Set a variant's price in a channel (in the channel's currency). Publishes
    variant.price_changed when the price moves, and keeps the product's `price_from` current."""
    amount, compare_at = price_validate(
        price=price, compare_at_price=compare_at_price, currency=channel.currency
    )
    listing = (
        VariantChannelListing.objects.select_for_update()
        .filter(variant=variant, channel=channel)
        .first()
    )
    previous = listing.price if listing else None
    if listing is None:
        listing = VariantChannelListing.objects.create(
            variant=variant, channel=channel, price=amount, compare_at_price=compare_at
        )
    else:
        listing.price, listing.compare_at_price = amount, compare_at
        listing.save(update_fields=["price", "compare_at_price"])
    _refresh_price_from(product_ids=[variant.product_id], channel=channel)
    if previous != amount:
        events.publish(
            type=catalog_events.VARIANT_PRICE_CHANGED,
            subject_type="variant",
            subject_id=variant.pk,
            payload={
                "variant_id": variant.pk,
                "sku": variant.sku,
                "channel": channel.code,
                "currency": channel.currency,
                # In the currency's minor units, as the API shows money: the column keeps 3
                # decimals, so the previous price would otherwise read "2980.000" for JPY.
                "price": quantize(amount, channel.currency),
                "previous": None if previous is None else quantize(previous, channel.currency),
            },
        )
    return listing


@transaction.atomic
def variant_price_remove(*, variant: ProductVariant, channel: Channel) -> None:
    """Stop selling a variant in a channel."""
    VariantChannelListing.objects.filter(variant=variant, channel=channel).delete()
    _refresh_price_from(product_ids=[variant.product_id], channel=channel)


def _refresh_price_from(*, product_ids: Iterable[int], channel: Channel) -> None:
    ids = list(product_ids)
    lowest = dict(
        VariantChannelListing.objects.filter(channel=channel, variant__product_id__in=ids)
        .values_list("variant__product_id")
        .annotate(low=Min("price"))
        .values_list("variant__product_id", "low")
    )
    listings = list(ProductChannelListing.objects.filter(channel=channel, product_id__in=ids))
    for listing in listings:
        listing.price_from = lowest.get(listing.product_id)
    ProductChannelListing.objects.bulk_update(listings, ["price_from"], batch_size=1000)
    storefront_cache.products_changed(ids)


def product_refresh_price_from(*, product_ids: Iterable[int]) -> None:
    """Recompute `price_from` in every channel (after a bulk import)."""
    ids = list(product_ids)
    for channel in Channel.objects.all():
        _refresh_price_from(product_ids=ids, channel=channel)
