"""Demo data, written through each app's services like any other data."""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.db import transaction
from rest_framework.authtoken.models import Token

from catalog import services as catalog_services
from catalog.importing import ImportReport, catalog_import, open_text
from catalog.models import (
    Attribute,
    AttributeChoice,
    BundleComponent,
    Category,
    Product,
    ProductType,
    ProductVariant,
    TaxClass,
)
from commerce.models import Channel
from demo import catalog_data


@dataclass
class DemoLogins:
    admin_username: str
    admin_password: str
    staff_username: str
    staff_password: str
    staff_token: str


@transaction.atomic
def seed_reference_data() -> None:
    """Channels, tax classes, categories, attributes and product types (idempotent)."""
    for code, name, kind, currency, tax_inclusive, tz, language in catalog_data.CHANNELS:
        Channel.objects.update_or_create(
            code=code,
            defaults={
                "name": name,
                "kind": kind,
                "currency": currency,
                "prices_include_tax": tax_inclusive,
                "time_zone": tz,
                "default_language": language,
            },
        )
    for code, name in catalog_data.TAX_CLASSES:
        TaxClass.objects.update_or_create(code=code, defaults={"name": name})
    for position, ((slug, name), children) in enumerate(catalog_data.CATEGORIES.items()):
        parent = Category.objects.filter(slug=slug).first() or catalog_services.category_create(
            name=name, slug=slug, position=position
        )
        for child_position, (child_slug, child_name) in enumerate(children):
            if not Category.objects.filter(slug=child_slug).exists():
                catalog_services.category_create(
                    name=child_name, slug=child_slug, parent=parent, position=child_position
                )
    for code, (name, kind, unit, choices) in catalog_data.ATTRIBUTES.items():
        attribute, _ = Attribute.objects.update_or_create(
            code=code, defaults={"name": name, "type": kind, "unit": unit}
        )
        for position, slug in enumerate(choices):
            AttributeChoice.objects.update_or_create(
                attribute=attribute,
                slug=slug,
                defaults={"name": slug.replace("-", " ").title(), "position": position},
            )
    for slug, (name, product_attributes, variant_attributes) in catalog_data.PRODUCT_TYPES.items():
        product_type, _ = ProductType.objects.update_or_create(slug=slug, defaults={"name": name})
        product_type.product_attributes.set(Attribute.objects.filter(code__in=product_attributes))
        product_type.variant_attributes.set(Attribute.objects.filter(code__in=variant_attributes))
    ProductType.objects.update_or_create(slug="bundle", defaults={"name": "Bundle / gift set"})


def seed_catalogue(*, products: int) -> ImportReport:
    """Generate the catalogue as CSV and load it with the catalogue import, in bulk."""
    handle, path = tempfile.mkstemp(suffix=".csv", prefix="demo-catalogue-")
    os.close(handle)
    try:
        catalog_data.write_catalogue_csv(path, products)
        return catalog_import(open_stream=open_text(path), source="seed_demo", chunk_size=2000)
    finally:
        os.unlink(path)


@transaction.atomic
def seed_bundles() -> None:
    """Gift sets made of other variants: their stock will come from the components."""
    sets = [
        ("tea-tasting-set", "Tea Tasting Gift Set", "TEA-SET-01", ["tea"], 3, "5400"),
        ("skincare-trial-kit", "Skincare Trial Kit", "SKN-KIT-01", ["skincare"], 3, "4980"),
    ]
    bundle_type = ProductType.objects.get(slug="bundle")
    web_jp = Channel.objects.get(code="web-jp")
    for slug, name, sku, categories, size, price in sets:
        if Product.objects.filter(slug=slug).exists():
            continue
        components = list(
            ProductVariant.objects.filter(product__category__slug__in=categories).order_by("pk")[
                :size
            ]
        )
        if len(components) < size:
            continue
        product = catalog_services.product_create(
            product_type=bundle_type,
            name=name,
            slug=slug,
            category=components[0].product.category,
            tax_class=components[0].product.tax_class,
            description=f"{name}: {', '.join(c.product.name for c in components)}.",
        )
        variant = catalog_services.variant_create(product=product, sku=sku, name=name)
        for component in components:
            BundleComponent.objects.create(bundle=variant, component=component, quantity=1)
        catalog_services.variant_price_set(variant=variant, channel=web_jp, price=price)
        catalog_services.product_listing_set(product=product, channel=web_jp, is_published=True)


@transaction.atomic
def seed_users() -> DemoLogins:
    """An administrator and a catalogue manager with an API token (known demo passwords)."""
    User = get_user_model()
    admin, _ = User.objects.get_or_create(username="admin", defaults={"email": "admin@example.com"})
    admin.is_staff = admin.is_superuser = True
    admin.set_password("admin")
    admin.save()
    managers, _ = Group.objects.get_or_create(name="Catalogue managers")
    managers.permissions.set(Permission.objects.filter(content_type__app_label="catalog"))
    staff, _ = User.objects.get_or_create(
        username="catalogue", defaults={"email": "catalogue@example.com"}
    )
    staff.is_staff = True
    staff.set_password("catalogue")
    staff.save()
    staff.groups.add(managers)
    token, _ = Token.objects.get_or_create(user=staff)
    return DemoLogins("admin", "admin", "catalogue", "catalogue", token.key)
