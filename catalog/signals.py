"""What each catalogue write makes stale in the storefront cache (`catalog.storefront_cache`).

Model signals catch every save and delete, from services, the admin and the shell alike;
writes that send none (`bulk_create`, `bulk_update`, `QuerySet.update`) call the cache
themselves where they are made (the catalogue import, price and search refreshes)."""

from __future__ import annotations

from django.db.models.signals import m2m_changed, post_delete, post_save

from catalog import storefront_cache
from catalog.models import (
    Attribute,
    AttributeChoice,
    BundleComponent,
    Category,
    Product,
    ProductAttributeValue,
    ProductChannelListing,
    ProductImage,
    ProductType,
    ProductVariant,
    VariantAttributeValue,
    VariantChannelListing,
)
from commerce.models import Channel


def _product_of(sender, instance) -> int | None:
    if sender is Product:
        return instance.pk
    if sender in (ProductVariant, ProductAttributeValue, ProductChannelListing, ProductImage):
        return instance.product_id
    field = "bundle" if sender is BundleComponent else "variant"
    if sender._meta.get_field(field).is_cached(instance):  # services hand over the variant
        return getattr(instance, field).product_id
    variant_id = getattr(instance, f"{field}_id")
    return ProductVariant.objects.filter(pk=variant_id).values_list("product_id", flat=True).first()


def _product_changed(sender, instance, **kwargs):
    product_id = _product_of(sender, instance)
    if product_id is not None:
        storefront_cache.products_changed([product_id])
    else:  # the variant went with its product: stale either way
        storefront_cache.everything_changed()


def _shared_changed(sender, **kwargs):
    storefront_cache.everything_changed()


PRODUCT_MODELS = (
    Product,
    ProductVariant,
    ProductAttributeValue,
    VariantAttributeValue,
    ProductChannelListing,
    VariantChannelListing,
    ProductImage,
    BundleComponent,
)
# Shown on many cards at once, or deciding which channels show anything.
SHARED_MODELS = (Category, Attribute, AttributeChoice, ProductType, Channel)


def connect() -> None:
    for model in PRODUCT_MODELS:
        post_save.connect(_product_changed, sender=model, dispatch_uid=f"sf-{model.__name__}")
        post_delete.connect(_product_changed, sender=model, dispatch_uid=f"sf-d-{model.__name__}")
    for model in SHARED_MODELS:
        post_save.connect(_shared_changed, sender=model, dispatch_uid=f"sf-{model.__name__}")
        post_delete.connect(_shared_changed, sender=model, dispatch_uid=f"sf-d-{model.__name__}")
    m2m_changed.connect(
        _shared_changed, sender=ProductType.product_attributes.through, dispatch_uid="sf-pt-pa"
    )
    m2m_changed.connect(
        _shared_changed, sender=ProductType.variant_attributes.through, dispatch_uid="sf-pt-va"
    )
