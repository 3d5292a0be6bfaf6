"""Factories for the catalogue and its kernel: only required fields, traits for states.

Catalogue rows that carry derived data (a category's `path`, a product's `search_document`,
a listing's `price_from`) are made through `catalog.services`, exactly as the product makes
them, so that tests never see a row the application could not have written.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from decimal import Decimal
from typing import Any

import factory
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from rest_framework.exceptions import AuthenticationFailed

from catalog import services
from catalog.models import (
    Attribute,
    AttributeChoice,
    Category,
    Product,
    ProductChannelListing,
    ProductImage,
    ProductType,
    ProductVariant,
    TaxClass,
    VariantChannelListing,
)
from commerce import tokens
from commerce.api.authentication import TokenAuthentication
from commerce.models import Channel

# --- Kernel ----------------------------------------------------------------------------------


class ChannelFactory(factory.django.DjangoModelFactory):
    """A JPY, tax-inclusive web shop unless a trait says otherwise."""

    class Meta:
        model = Channel
        django_get_or_create = ["code"]

    code = factory.Sequence(lambda n: f"channel-{n}")
    name = factory.LazyAttribute(lambda o: o.code.replace("-", " ").title())
    kind = Channel.Kind.WEB
    currency = "JPY"

    class Params:
        web_jp = factory.Trait(
            code="web-jp",
            name="Web shop Japan",
            kind=Channel.Kind.WEB,
            currency="JPY",
            prices_include_tax=True,
            time_zone="Asia/Tokyo",
            default_language="ja",
            country="JP",
        )
        web_us = factory.Trait(
            code="web-us",
            name="Web shop US",
            kind=Channel.Kind.WEB,
            currency="USD",
            prices_include_tax=False,
            time_zone="America/New_York",
            default_language="en",
            country="US",
        )
        pos = factory.Trait(kind=Channel.Kind.POS)
        inactive = factory.Trait(is_active=False)


# --- Catalogue reference data ----------------------------------------------------------------


class CategoryFactory(factory.django.DjangoModelFactory):
    """Goes through `category_create`, which sets the tree `path` and `depth`."""

    class Meta:
        model = Category

    name = factory.Sequence(lambda n: f"Category {n}")
    slug = factory.Sequence(lambda n: f"category-{n}")
    parent = None

    @classmethod
    def _create(cls, model_class, *args: Any, **kwargs: Any) -> Category:
        return services.category_create(**kwargs)


class TaxClassFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = TaxClass
        django_get_or_create = ["code"]

    code = factory.Sequence(lambda n: f"tax-{n}")
    name = factory.LazyAttribute(lambda o: o.code.title())

    class Params:
        standard = factory.Trait(code="standard", name="Standard rate")
        reduced = factory.Trait(code="reduced", name="Reduced rate (food)")


class AttributeFactory(factory.django.DjangoModelFactory):
    """A choice attribute unless a trait says otherwise."""

    class Meta:
        model = Attribute
        django_get_or_create = ["code"]

    code = factory.Sequence(lambda n: f"attribute_{n}")
    name = factory.LazyAttribute(lambda o: o.code.replace("_", " ").title())
    type = Attribute.Type.CHOICE

    class Params:
        text = factory.Trait(type=Attribute.Type.TEXT)
        number = factory.Trait(type=Attribute.Type.NUMBER)
        boolean = factory.Trait(type=Attribute.Type.BOOLEAN)
        not_filterable = factory.Trait(filterable=False)


class AttributeChoiceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = AttributeChoice
        django_get_or_create = ["attribute", "slug"]

    attribute = factory.SubFactory(AttributeFactory)
    slug = factory.Sequence(lambda n: f"choice-{n}")
    name = factory.LazyAttribute(lambda o: o.slug.replace("-", " ").title())


class ProductTypeFactory(factory.django.DjangoModelFactory):
    """`product_attributes` and `variant_attributes` take a list of Attribute rows."""

    class Meta:
        model = ProductType
        django_get_or_create = ["slug"]
        skip_postgeneration_save = True

    name = factory.Sequence(lambda n: f"Product type {n}")
    slug = factory.Sequence(lambda n: f"product-type-{n}")

    @factory.post_generation
    def product_attributes(self, create: bool, extracted: Iterable[Attribute] | None, **kwargs):
        if create and extracted:
            self.product_attributes.set(extracted)

    @factory.post_generation
    def variant_attributes(self, create: bool, extracted: Iterable[Attribute] | None, **kwargs):
        if create and extracted:
            self.variant_attributes.set(extracted)


# --- Products ------------------------------------------------------------------------------


class ProductFactory(factory.django.DjangoModelFactory):
    """Goes through `product_create` (search document, product.created event).

    `attributes` is a {code: raw value} mapping, as the service takes it.
    """

    class Meta:
        model = Product

    product_type = factory.SubFactory(ProductTypeFactory)
    name = factory.Sequence(lambda n: f"Product {n:04d}")
    slug = factory.Sequence(lambda n: f"product-{n:04d}")

    @classmethod
    def _create(cls, model_class, *args: Any, **kwargs: Any) -> Product:
        return services.product_create(**kwargs)


class ProductVariantFactory(factory.django.DjangoModelFactory):
    """Goes through `variant_create` (SKU checks, search document)."""

    class Meta:
        model = ProductVariant

    product = factory.SubFactory(ProductFactory)
    sku = factory.Sequence(lambda n: f"SKU-{n:05d}")

    @classmethod
    def _create(cls, model_class, *args: Any, **kwargs: Any) -> ProductVariant:
        return services.variant_create(**kwargs)


class ProductImageFactory(factory.django.DjangoModelFactory):
    """An image row; the file itself is not needed to serve its URL."""

    class Meta:
        model = ProductImage

    product = factory.SubFactory(ProductFactory)
    image = factory.Sequence(lambda n: f"products/test/image-{n}.jpg")


# --- Listing in a channel, through the services -----------------------------------------------


def variant_price_set(
    variant: ProductVariant,
    channel: Channel,
    price: Decimal | str | int,
    compare_at_price: Decimal | str | int | None = None,
) -> VariantChannelListing:
    return services.variant_price_set(
        variant=variant, channel=channel, price=price, compare_at_price=compare_at_price
    )


def product_listing_set(
    product: Product, channel: Channel, *, is_published: bool = True, **window: Any
) -> ProductChannelListing:
    return services.product_listing_set(
        product=product, channel=channel, is_published=is_published, **window
    )


def listed_product(
    channel: Channel,
    price: Decimal | str | int,
    *,
    variants: int = 1,
    is_published: bool = True,
    visible_in_listings: bool = True,
    available_from=None,
    available_until=None,
    **product_fields: Any,
) -> Product:
    """A product with `variants` variants, all at `price` in `channel`, listed there."""
    product = ProductFactory(**product_fields)
    for _ in range(variants):
        variant_price_set(ProductVariantFactory(product=product), channel, price)
    product_listing_set(
        product,
        channel,
        is_published=is_published,
        visible_in_listings=visible_in_listings,
        available_from=available_from,
        available_until=available_until,
    )
    return product


# --- People ----------------------------------------------------------------------------------


class UserFactory(factory.django.DjangoModelFactory):
    """A signed-up customer: no staff flag. `permissions` takes "app_label.codename" strings."""

    class Meta:
        model = get_user_model()
        django_get_or_create = ["username"]
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda o: f"{o.username}@example.com")
    password = factory.django.Password("correct horse battery staple")

    class Params:
        superuser = factory.Trait(is_staff=True, is_superuser=True)

    @factory.post_generation
    def permissions(self, create: bool, extracted: Iterable[str] | None, **kwargs):
        if not (create and extracted):
            return
        for name in extracted:
            app_label, codename = name.split(".")
            self.user_permissions.add(
                Permission.objects.get(content_type__app_label=app_label, codename=codename)
            )


class StaffFactory(UserFactory):
    """A staff member, with no permission unless `permissions` lists some."""

    is_staff = True


def token_for(user, *, ttl: timedelta = timedelta(days=1)) -> str:
    """A new API token of the user (knox: only its digest is stored, so each call issues one)."""
    return tokens.token_issue(user=user, ttl=ttl).token


def token_owner(token: str):
    """The user a plaintext token signs in, or None when it does not (revoked, expired, unknown):
    what the API's authentication would decide."""
    try:
        user, _auth_token = TokenAuthentication().authenticate_credentials(token.encode())
    except AuthenticationFailed:
        return None
    return user
