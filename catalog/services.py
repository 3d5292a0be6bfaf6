"""Every write to the catalogue. Admin, API, import and demo data all come through here."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from django.contrib.auth.base_user import AbstractBaseUser
from django.db import transaction
from django.db.models import Min
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.translation import gettext as _

from catalog import events as catalog_events
from catalog import selectors, storefront_cache
from catalog.errors import CategoryCycle, CompetitorPricesInvalid, InvalidCatalogData, RowError
from catalog.models import (
    Attribute,
    AttributeChoice,
    Category,
    CompetitorPrice,
    PriceChange,
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
from commerce.importing import shown, text_problem
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


_PRICE_REFERENCE_MAX_LENGTH = PriceChange._meta.get_field("reference").max_length


@transaction.atomic
def variant_price_set(
    *,
    variant: ProductVariant,
    channel: Channel,
    price: Any,
    compare_at_price: Any = None,
    source: str = PriceChange.Source.STAFF,
    reference: str = "",
    changed_by: AbstractBaseUser | None = None,
) -> VariantChannelListing:
    """Set a variant's price in a channel (in the channel's currency).

    When the price moves (a first price included), writes a PriceChange row saying who or what
    moved it (`source`: staff, import, automation or api; `reference` such as "rule run 17";
    `changed_by`, a user) and publishes variant.price_changed with the same source and
    reference, both in this transaction. A new compare-at price alone is no price change. Keeps
    the product's `price_from` current. Locks the variant's listing row in the channel.
    """
    reference = (reference or "").strip()
    errors: dict[str, list[str]] = {}
    if source not in PriceChange.Source.values:
        errors["source"] = [
            _("%(value)s is not a price source; use one of %(choices)s.")
            % {"value": source, "choices": ", ".join(PriceChange.Source.values)}
        ]
    if len(reference) > _PRICE_REFERENCE_MAX_LENGTH:
        errors["reference"] = [
            _("Must be at most %(limit)s characters.") % {"limit": _PRICE_REFERENCE_MAX_LENGTH}
        ]
    if errors:
        raise InvalidCatalogData(errors)
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
        PriceChange.objects.create(
            variant=variant,
            channel=channel,
            previous=previous,
            price=amount,
            currency=channel.currency,
            source=source,
            reference=reference,
            changed_by=changed_by if getattr(changed_by, "is_authenticated", False) else None,
        )
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
                "source": source,
                "reference": reference,
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


# --- Competitor prices ------------------------------------------------------------------------

COMPETITOR_MAX_LENGTH = CompetitorPrice._meta.get_field("competitor").max_length
_COMPETITOR_CODE = re.compile(r"[a-z0-9][a-z0-9._-]*")
_competitor_price_column = CompetitorPrice._meta.get_field("price")
_COMPETITOR_PRICE_LIMIT = Decimal(10) ** (
    _competitor_price_column.max_digits - _competitor_price_column.decimal_places
)
# An observation may come from a clock a little ahead of ours; further ahead it is a mistake
# that would stay "the latest" until the day it names.
OBSERVED_AT_LEEWAY = timedelta(minutes=5)
# Real UTC offsets run from -12:00 to +14:00; PostgreSQL refuses more than 15:59.
_MAX_UTC_OFFSET = timedelta(hours=14)
# Ids per query when a batch looks up its variants and their history.
_BATCH = 1000


@dataclass
class ImportResult:
    """What a batch of competitor prices did. `observations` has one row per input row, in the
    input's order: the new row, or the stored one a repeated observation matched."""

    rows: int = 0
    recorded: int = 0
    # Rows that repeat a stored observation (same SKU, competitor, observed_at and price).
    duplicates: int = 0
    # price.competitor_changed events published.
    changes: int = 0
    written: bool = False
    observations: list[CompetitorPrice] = dataclass_field(default_factory=list, repr=False)

    def summary(self) -> str:
        verdict = _("Written.") if self.written else _("Nothing was written.")
        return _(
            "%(rows)s rows read: %(recorded)s observations recorded, %(duplicates)s already "
            "known, %(changes)s price changes published. %(verdict)s"
        ) % {
            "rows": self.rows,
            "recorded": self.recorded,
            "duplicates": self.duplicates,
            "changes": self.changes,
            "verdict": verdict,
        }


@dataclass(frozen=True)
class _Observation:
    index: int
    variant: ProductVariant
    competitor: str
    price: Decimal
    observed_at: datetime


def competitor_code_clean(raw: Any) -> str:
    """A competitor's code as stored: trimmed and lower-case, so that "Amazon-JP" and
    "amazon-jp" are one competitor. Raises naming the field `competitor`."""
    code = ("" if raw is None else str(raw)).strip().lower()
    if not code:
        message = _("A competitor is required.")
    elif len(code) > COMPETITOR_MAX_LENGTH:
        message = _("Must be at most %(limit)s characters.") % {"limit": COMPETITOR_MAX_LENGTH}
    elif not _COMPETITOR_CODE.fullmatch(code):
        message = _(
            "%(value)s is not a competitor code: use Latin letters, digits, '.', '-' and '_', "
            "like amazon-jp."
        ) % {"value": shown(code)}
    else:
        return code
    raise InvalidCatalogData({"competitor": [message]})


def competitor_price_validate(*, price: Any, currency: str) -> Decimal:
    """A competitor's price in the channel's currency: more than zero (a zero price is a
    scraping mistake a repricing rule must never follow), no more decimals than the currency
    has. Raises naming the field `price`."""
    amount, _compare_at = price_validate(price=price, compare_at_price=None, currency=currency)
    if amount <= 0:
        raise InvalidCatalogData({"price": [_("A competitor price must be more than zero.")]})
    if amount >= _COMPETITOR_PRICE_LIMIT:
        raise InvalidCatalogData({"price": [_("Too large.")]})
    return amount


def _observed_at_parse(raw: Any, *, channel: Channel, now: datetime) -> datetime:
    """When a price was seen, in UTC. Text is ISO 8601 (`2025-04-01T09:30:00+09:00`); a time
    without a UTC offset, or a date alone (its midnight), is read in the channel's time zone.
    Nothing means now."""
    if raw is None or raw == "":
        return now
    if isinstance(raw, datetime):
        value: datetime | None = raw
    else:
        text = str(raw).strip()
        try:
            value = parse_datetime(text)
            if value is None and (day := parse_date(text)) is not None:
                value = datetime.combine(day, time.min)
        except ValueError:
            value = None
        if value is None:
            raise InvalidCatalogData(
                {
                    "observed_at": [
                        _("%(value)s is not an ISO 8601 date and time, like %(example)s.")
                        % {"value": shown(text), "example": "2025-04-01T09:30:00+09:00"}
                    ]
                }
            )
    try:
        if timezone.is_naive(value):
            value = value.replace(tzinfo=ZoneInfo(channel.time_zone))
        offset = value.utcoffset()
        if offset is not None and abs(offset) > _MAX_UTC_OFFSET:
            raise InvalidCatalogData(
                {"observed_at": [_("The UTC offset must be between -14:00 and +14:00.")]}
            )
        value = value.astimezone(UTC)
    except OverflowError:
        raise InvalidCatalogData({"observed_at": [_("The date is out of range.")]}) from None
    if value > now + OBSERVED_AT_LEEWAY:
        raise InvalidCatalogData({"observed_at": [_("Must not be in the future.")]})
    return value


@transaction.atomic
def competitor_price_record(
    *,
    variant: ProductVariant,
    channel: Channel,
    competitor: str,
    price: Any,
    observed_at: datetime | None = None,
) -> CompetitorPrice:
    """Record one observation of a competitor's price for a variant in a channel (in the
    channel's currency; `observed_at` defaults to now).

    Every observation is kept as history. Publishes price.competitor_changed when the price
    differs from that competitor's latest observation of the variant in the channel, or is
    its first; an observation older than the latest is history only, and one that repeats a
    stored observation (same instant, same price) records nothing and returns the stored row.
    Locks the variant row, so concurrent feeds of one variant publish each change once.
    Raises InvalidCatalogData naming the field.
    """
    parsed, errors = _competitor_row_parse(
        {"competitor": competitor, "price": price, "observed_at": observed_at},
        channel=channel,
        now=timezone.now(),
    )
    if errors:
        raise InvalidCatalogData(errors)
    result = _competitor_observations_write(
        channel=channel, observations=[_Observation(index=0, variant=variant, **parsed)]
    )
    return result.observations[0]


def competitor_prices_import(
    *,
    rows: Iterable[Mapping[str, Any]],
    channel: Channel,
    row_numbers: Iterable[int] | None = None,
    dry_run: bool = False,
) -> ImportResult:
    """Record a batch of competitor prices in one channel: rows of `sku`, `competitor`,
    `price` and, optionally, `observed_at` (text as a CSV file has them, or typed values).

    All or nothing: every row is checked first, and with any bad row (an unknown SKU, a bad
    price or date, a missing value, the same observation twice) nothing is recorded and
    CompetitorPricesInvalid names each row, field and reason. `row_numbers` are the rows' lines
    in their file (default 1, 2, ...). The rows are then recorded in the order they were
    observed, each exactly as `competitor_price_record` would, in one transaction: one
    price.competitor_changed event per change. `dry_run` checks and writes nothing.
    """
    rows = list(rows)
    numbers = list(range(1, len(rows) + 1) if row_numbers is None else row_numbers)
    if len(numbers) != len(rows):
        raise ValueError("row_numbers must number every row.")
    skus = {str(row.get("sku") or "").strip() for row in rows} - {""}
    variants: dict[str, ProductVariant] = {}
    ordered_skus = sorted(skus)
    for start in range(0, len(ordered_skus), _BATCH):
        variants.update(
            (v.sku, v)
            for v in ProductVariant.objects.filter(sku__in=ordered_skus[start : start + _BATCH])
        )
    now = timezone.now()
    problems: list[RowError] = []
    observations: list[_Observation] = []
    first_line: dict[tuple[int, str, datetime], int] = {}
    for index, (line, row) in enumerate(zip(numbers, rows, strict=True)):
        sku = str(row.get("sku") or "").strip()
        variant = variants.get(sku)
        messages: dict[str, list[str]] = {}
        if not sku:
            messages["sku"] = [_("A SKU is required.")]
        elif variant is None:
            messages["sku"] = [_("There is no variant with SKU %(sku)s.") % {"sku": shown(sku)}]
        parsed, errors = _competitor_row_parse(row, channel=channel, now=now)
        messages.update(errors)
        if variant is not None and not errors:
            key = (variant.pk, parsed["competitor"], parsed["observed_at"])
            if key in first_line:
                messages["observed_at"] = [
                    _("The same SKU, competitor and observed_at as line %(line)s.")
                    % {"line": first_line[key]}
                ]
            first_line.setdefault(key, line)
        if messages:
            clean_sku = shown(sku) if text_problem(sku, column="sku") is None else ""
            problems.extend(
                RowError(line=line, sku=clean_sku, field=name, message=message)
                for name, field_messages in messages.items()
                for message in field_messages
            )
        elif variant is not None:
            observations.append(_Observation(index=index, variant=variant, **parsed))
    if problems:
        raise CompetitorPricesInvalid(problems)
    if dry_run or not rows:
        return ImportResult(rows=len(rows))
    with transaction.atomic():
        return _competitor_observations_write(channel=channel, observations=observations)


def _competitor_row_parse(
    row: Mapping[str, Any], *, channel: Channel, now: datetime
) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """A row's competitor, price and observed_at, checked; and the messages of its bad fields."""
    parsers = {
        "competitor": lambda: competitor_code_clean(row.get("competitor")),
        "price": lambda: competitor_price_validate(
            price=row.get("price"), currency=channel.currency
        ),
        "observed_at": lambda: _observed_at_parse(row.get("observed_at"), channel=channel, now=now),
    }
    parsed: dict[str, Any] = {}
    errors: dict[str, list[str]] = {}
    for name, parse in parsers.items():
        try:
            parsed[name] = parse()
        except InvalidCatalogData as error:
            for field_name, messages in error.errors.items():
                errors.setdefault(field_name, []).extend(messages)
    return parsed, errors


def _competitor_observations_write(
    *, channel: Channel, observations: list[_Observation]
) -> ImportResult:
    """Record checked observations, oldest first, and publish each change. Runs inside the
    caller's transaction."""
    variant_ids = sorted({o.variant.pk for o in observations})
    competitors = sorted({o.competitor for o in observations})
    latest: dict[tuple[int, str], CompetitorPrice] = {}
    stored: dict[tuple[int, str, datetime], CompetitorPrice] = {}
    our_prices: dict[int, Decimal] = {}
    first_seen = min(o.observed_at for o in observations)
    last_seen = max(o.observed_at for o in observations)
    for start in range(0, len(variant_ids), _BATCH):
        chunk = variant_ids[start : start + _BATCH]
        # Every writer of competitor prices locks the variants, in id order (no deadlock), so
        # that two feeds of one variant read each other's observations: a change publishes once.
        list(
            ProductVariant.objects.select_for_update()
            .filter(pk__in=chunk)
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        history = CompetitorPrice.objects.filter(
            channel=channel, variant_id__in=chunk, competitor__in=competitors
        )
        for row in selectors.competitor_price_latest_only(history):
            latest[(row.variant_id, row.competitor)] = row
        for row in history.filter(observed_at__gte=first_seen, observed_at__lte=last_seen):
            stored.setdefault((row.variant_id, row.competitor, row.observed_at), row)
        our_prices.update(
            VariantChannelListing.objects.filter(channel=channel, variant_id__in=chunk).values_list(
                "variant_id", "price"
            )
        )

    result = ImportResult(rows=len(observations), written=True)
    recorded: list[CompetitorPrice | None] = [None] * len(observations)
    position = {o.index: n for n, o in enumerate(observations)}
    new_rows: list[CompetitorPrice] = []
    changes: list[tuple[CompetitorPrice, CompetitorPrice | None]] = []
    for observation in sorted(observations, key=lambda o: (o.observed_at, o.index)):
        key = (observation.variant.pk, observation.competitor)
        same = stored.get((*key, observation.observed_at))
        if same is not None and same.price == observation.price:
            recorded[position[observation.index]] = same
            result.duplicates += 1
            continue
        row = CompetitorPrice(
            variant=observation.variant,
            channel=channel,
            competitor=observation.competitor,
            price=observation.price,
            currency=channel.currency,
            observed_at=observation.observed_at,
        )
        new_rows.append(row)
        recorded[position[observation.index]] = row
        stored[(*key, observation.observed_at)] = row
        previous = latest.get(key)
        if previous is not None and observation.observed_at < previous.observed_at:
            continue  # reported late: history, but not the competitor's current price
        latest[key] = row
        if previous is None or previous.price != observation.price:
            changes.append((row, previous))
    CompetitorPrice.objects.bulk_create(new_rows, batch_size=_BATCH)
    currency = channel.currency
    for row, previous in changes:
        our_price = our_prices.get(row.variant.pk)
        events.publish(
            type=catalog_events.PRICE_COMPETITOR_CHANGED,
            subject_type="variant",
            subject_id=row.variant.pk,
            payload={
                "variant_id": row.variant.pk,
                "sku": row.variant.sku,
                "channel": channel.code,
                "currency": currency,
                "competitor": row.competitor,
                "competitor_price": quantize(row.price, currency),
                "previous_competitor_price": (
                    None if previous is None else quantize(previous.price, currency)
                ),
                "our_price": None if our_price is None else quantize(our_price, currency),
                "observed_at": row.observed_at.isoformat(),
            },
        )
    result.recorded = len(new_rows)
    result.changes = len(changes)
    result.observations = recorded  # type: ignore[assignment]  # every slot is filled above
    return result
