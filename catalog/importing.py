"""Catalogue CSV import and export: one row per variant, the same columns both ways.

The import reads the file twice, streaming: first it validates every row and reports each bad one
with its line number; then, only if the file is clean (or bad rows are to be skipped), it writes
in chunks inside one transaction, so a failure half-way leaves the catalogue as it was. Memory
grows with the number of SKUs (to catch duplicates), never with whole rows.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import IO, Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_unicode_slug
from django.db import transaction
from django.utils.translation import gettext as _

from catalog import events as catalog_events
from catalog.errors import InvalidCatalogData
from catalog.models import (
    Attribute,
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
from catalog.services import (
    attribute_parse_value,
    price_validate,
    product_refresh_price_from,
    product_refresh_search_document,
)
from commerce import events
from commerce.models import Channel, OutboxEvent
from commerce.money import quantize

REQUIRED_COLUMNS = ("sku", "product_slug", "product_name", "product_type")
OPTIONAL_COLUMNS = (
    "category",
    "tax_class",
    "description",
    "variant_name",
    "barcode",
    "weight_grams",
    "product_attributes",
    "variant_attributes",
)
CHANNEL_COLUMN_PREFIXES = ("price:", "compare_at_price:", "published:")
TRUE_WORDS, FALSE_WORDS = {"1", "true", "yes", "y"}, {"0", "false", "no", "n"}
# Checked with the row, so that a long value is reported on its line instead of failing the
# database write half-way.
_MAX_LENGTHS = {
    "sku": ProductVariant._meta.get_field("sku").max_length,
    "product_slug": Product._meta.get_field("slug").max_length,
    "product_name": Product._meta.get_field("name").max_length,
    "variant_name": ProductVariant._meta.get_field("name").max_length,
    "barcode": ProductVariant._meta.get_field("barcode").max_length,
}
_MAX_WEIGHT_GRAMS = 2_147_483_647  # the largest value of the integer column


@dataclass
class RowError:
    line: int
    sku: str
    messages: list[str]

    def __str__(self) -> str:
        where = _("line %(line)s") % {"line": self.line}
        sku = f" ({self.sku})" if self.sku else ""
        return f"{where}{sku}: {'; '.join(self.messages)}"


@dataclass
class ImportReport:
    rows: int = 0
    bad_rows: int = 0
    errors: list[RowError] = field(default_factory=list)
    products_created: int = 0
    products_updated: int = 0
    variants_created: int = 0
    variants_updated: int = 0
    dry_run: bool = False
    written: bool = False
    # Slugs this import created, so a product whose rows span two chunks counts as new once.
    created_slugs: set[str] = field(default_factory=set, repr=False)

    @property
    def ok(self) -> bool:
        return not self.errors

    def summary(self) -> str:
        verdict = _("Written.") if self.written else _("Nothing was written.")
        return _(
            "%(rows)s rows read, %(bad)s bad. Products: %(pc)s new, %(pu)s updated. "
            "Variants: %(vc)s new, %(vu)s updated. %(verdict)s"
        ) % {
            "rows": self.rows,
            "bad": self.bad_rows,
            "pc": self.products_created,
            "pu": self.products_updated,
            "vc": self.variants_created,
            "vu": self.variants_updated,
            "verdict": verdict,
        }


@dataclass
class _Row:
    line: int
    sku: str
    product_slug: str
    product_name: str
    product_type: ProductType
    category: Category | None
    tax_class: TaxClass | None
    description: str
    variant_name: str
    barcode: str
    weight_grams: int | None
    product_attributes: dict[Attribute, dict[str, Any]]
    variant_attributes: dict[Attribute, dict[str, Any]]
    prices: dict[Channel, tuple[Decimal, Decimal | None]]
    published: dict[Channel, bool]


class _Lookups:
    """Reference data, loaded once: categories, types, channels and attributes are few."""

    def __init__(self) -> None:
        self.categories = {c.slug: c for c in Category.objects.all()}
        self.tax_classes = {t.code: t for t in TaxClass.objects.all()}
        self.channels = {c.code: c for c in Channel.objects.all()}
        self.attributes = {a.code: a for a in Attribute.objects.prefetch_related("choices")}
        self.choices = {
            code: {c.slug: c for c in a.choices.all()} for code, a in self.attributes.items()
        }
        self.product_types = {}
        self.type_attributes: dict[str, tuple[set[str], set[str]]] = {}
        for product_type in ProductType.objects.prefetch_related(
            "product_attributes", "variant_attributes"
        ):
            self.product_types[product_type.slug] = product_type
            self.type_attributes[product_type.slug] = (
                {a.code for a in product_type.product_attributes.all()},
                {a.code for a in product_type.variant_attributes.all()},
            )


def _header_errors(header: list[str], lookups: _Lookups) -> list[str]:
    messages = [
        _("Missing column %(column)s.") % {"column": c} for c in REQUIRED_COLUMNS if c not in header
    ]
    for column in header:
        if column in REQUIRED_COLUMNS or column in OPTIONAL_COLUMNS:
            continue
        prefix = next((p for p in CHANNEL_COLUMN_PREFIXES if column.startswith(p)), None)
        if prefix is None:
            messages.append(_("Unknown column %(column)s.") % {"column": column})
        elif column[len(prefix) :] not in lookups.channels:
            messages.append(_("Column %(column)s names no channel.") % {"column": column})
    return messages


def _parse_attributes(
    raw: str, *, allowed: set[str], lookups: _Lookups, column: str, messages: list[str]
) -> dict[Attribute, dict[str, Any]]:
    parsed: dict[Attribute, dict[str, Any]] = {}
    for pair in filter(None, (p.strip() for p in raw.split(";"))):
        code, sep, value = pair.partition("=")
        code = code.strip()
        if not sep:
            messages.append(
                _("%(column)s: %(pair)s is not code=value.") % {"column": column, "pair": pair}
            )
        elif code not in allowed:
            messages.append(
                _("%(column)s: %(code)s is not an attribute of this product type.")
                % {"column": column, "code": code}
            )
        else:
            attribute = lookups.attributes[code]
            try:
                parsed[attribute] = attribute_parse_value(
                    attribute=attribute, raw=value, choices=lookups.choices[code]
                )
            except InvalidCatalogData as error:
                messages.extend(f"{column}: {m}" for ms in error.errors.values() for m in ms)
    return parsed


def _parse_row(
    record: dict[str, str], line: int, lookups: _Lookups
) -> tuple[_Row | None, list[str]]:
    def value(column: str) -> str:
        return (record.get(column) or "").strip()

    messages: list[str] = []
    for column in REQUIRED_COLUMNS:
        if not value(column):
            messages.append(_("%(column)s is empty.") % {"column": column})
    product_type = lookups.product_types.get(value("product_type"))
    if value("product_type") and product_type is None:
        messages.append(_("Unknown product type %(value)s.") % {"value": value("product_type")})
    category = lookups.categories.get(value("category")) if value("category") else None
    if value("category") and category is None:
        messages.append(_("Unknown category %(value)s.") % {"value": value("category")})
    tax_class = lookups.tax_classes.get(value("tax_class")) if value("tax_class") else None
    if value("tax_class") and tax_class is None:
        messages.append(_("Unknown tax class %(value)s.") % {"value": value("tax_class")})
    weight = None
    if value("weight_grams"):
        grams = value("weight_grams")
        if grams.isdecimal() and len(grams) <= 10 and int(grams) <= _MAX_WEIGHT_GRAMS:
            weight = int(grams)
        else:
            messages.append(
                _("weight_grams must be a whole number of grams, not %(value)s.")
                % {"value": value("weight_grams")}
            )
    for column, limit in _MAX_LENGTHS.items():
        if len(value(column)) > limit:
            messages.append(
                _("%(column)s is longer than %(limit)s characters.")
                % {"column": column, "limit": limit}
            )
    if value("product_slug"):
        try:
            validate_unicode_slug(value("product_slug"))
        except ValidationError:
            messages.append(
                _("product_slug %(value)s may only hold letters, digits, - and _.")
                % {"value": value("product_slug")}
            )
    product_attrs: dict = {}
    variant_attrs: dict = {}
    if product_type is not None:
        product_codes, variant_codes = lookups.type_attributes[product_type.slug]
        product_attrs = _parse_attributes(
            value("product_attributes"),
            allowed=product_codes,
            lookups=lookups,
            column="product_attributes",
            messages=messages,
        )
        variant_attrs = _parse_attributes(
            value("variant_attributes"),
            allowed=variant_codes,
            lookups=lookups,
            column="variant_attributes",
            messages=messages,
        )
    prices: dict[Channel, tuple[Decimal, Decimal | None]] = {}
    published: dict[Channel, bool] = {}
    for code, channel in lookups.channels.items():
        price, compare_at = value(f"price:{code}"), value(f"compare_at_price:{code}")
        if price or compare_at:
            try:
                prices[channel] = price_validate(
                    price=price, compare_at_price=compare_at, currency=channel.currency
                )
            except InvalidCatalogData as error:
                messages.extend(
                    f"{name}:{code}: {m}" for name, ms in error.errors.items() for m in ms
                )
        flag = value(f"published:{code}").lower()
        if flag in TRUE_WORDS:
            published[channel] = True
        elif flag in FALSE_WORDS:
            published[channel] = False
        elif flag:
            messages.append(
                _("published:%(code)s must be yes or no, not %(value)s.")
                % {"code": code, "value": flag}
            )
    if messages:
        return None, messages
    return _Row(
        line=line,
        sku=value("sku"),
        product_slug=value("product_slug"),
        product_name=value("product_name"),
        product_type=product_type,
        category=category,
        tax_class=tax_class,  # type: ignore[arg-type]
        description=value("description"),
        variant_name=value("variant_name"),
        barcode=value("barcode"),
        weight_grams=weight,
        product_attributes=product_attrs,
        variant_attributes=variant_attrs,
        prices=prices,
        published=published,
    ), []


def _parsed_rows(stream: IO[str], lookups: _Lookups, report: ImportReport) -> Iterator[_Row | None]:
    """Yield each row parsed (None for a bad one), recording errors in the report."""
    reader = csv.DictReader(stream)
    header = [h.strip() for h in (reader.fieldnames or [])]
    reader.fieldnames = header
    problems = _header_errors(header, lookups) if header else [_("The file is empty.")]
    if problems:
        report.errors.append(RowError(line=1, sku="", messages=problems))
        return
    seen_skus: set[str] = set()
    seen_barcodes: set[str] = set()
    product_types: dict[str, str] = {}
    for record in reader:
        line = reader.line_num
        if None in record:  # more cells than the header has
            report.rows += 1
            report.bad_rows += 1
            report.errors.append(
                RowError(line, (record.get("sku") or "").strip(), [_("More cells than columns.")])
            )
            yield None
            continue
        report.rows += 1
        row, messages = _parse_row(record, line, lookups)
        sku = (record.get("sku") or "").strip()
        if sku and sku in seen_skus:
            messages.append(_("Duplicate SKU %(sku)s in the file.") % {"sku": sku})
        if row and row.barcode:
            if row.barcode in seen_barcodes:
                messages.append(
                    _("Duplicate barcode %(barcode)s in the file.") % {"barcode": row.barcode}
                )
            seen_barcodes.add(row.barcode)
        if row:
            first_type = product_types.setdefault(row.product_slug, row.product_type.slug)
            if first_type != row.product_type.slug:
                messages.append(
                    _("Product %(slug)s has product type %(type)s on an earlier row.")
                    % {"slug": row.product_slug, "type": first_type}
                )
        seen_skus.add(sku)
        if messages:
            report.bad_rows += 1
            report.errors.append(RowError(line, sku, messages))
            yield None
        else:
            yield row


def _chunks(rows: Iterable[_Row | None], size: int) -> Iterator[list[_Row]]:
    chunk: list[_Row] = []
    for row in rows:
        if row is None:
            continue
        chunk.append(row)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _validate_against_database(chunk: list[_Row], report: ImportReport) -> list[_Row]:
    """Checks that need the database: a SKU or barcode owned by another product."""
    owners = dict(
        ProductVariant.objects.filter(sku__in=[r.sku for r in chunk]).values_list(
            "sku", "product__slug"
        )
    )
    barcode_owners = dict(
        ProductVariant.objects.filter(
            barcode__in=[r.barcode for r in chunk if r.barcode]
        ).values_list("barcode", "sku")
    )
    good = []
    for row in chunk:
        messages = []
        if row.sku in owners and owners[row.sku] != row.product_slug:
            messages.append(
                _("SKU %(sku)s belongs to product %(slug)s.")
                % {"sku": row.sku, "slug": owners[row.sku]}
            )
        if row.barcode and barcode_owners.get(row.barcode, row.sku) != row.sku:
            messages.append(
                _("Barcode %(barcode)s belongs to SKU %(sku)s.")
                % {"barcode": row.barcode, "sku": barcode_owners[row.barcode]}
            )
        if messages:
            report.bad_rows += 1
            report.errors.append(RowError(row.line, row.sku, messages))
        else:
            good.append(row)
    return good


def _write_chunk(chunk: list[_Row], report: ImportReport) -> None:
    products = {p.slug: p for p in Product.objects.filter(slug__in={r.product_slug for r in chunk})}
    new_products, changed_products = {}, {}
    for row in chunk:
        product = products.get(row.product_slug) or new_products.get(row.product_slug)
        if product is None:
            new_products[row.product_slug] = Product(
                slug=row.product_slug,
                name=row.product_name,
                product_type=row.product_type,
                category=row.category,
                tax_class=row.tax_class,
                description=row.description,
            )
        elif not (
            {row.product_slug}
            & (new_products.keys() | report.created_slugs | changed_products.keys())
        ):
            product.name, product.product_type = row.product_name, row.product_type
            product.category, product.tax_class = row.category, row.tax_class
            product.description = row.description
            changed_products[row.product_slug] = product
    Product.objects.bulk_create(new_products.values())
    Product.objects.bulk_update(
        changed_products.values(), ["name", "product_type", "category", "tax_class", "description"]
    )
    report.products_created += len(new_products)
    report.created_slugs.update(new_products)
    report.products_updated += len(changed_products)
    products.update(new_products)

    variants = {v.sku: v for v in ProductVariant.objects.filter(sku__in=[r.sku for r in chunk])}
    new_variants, changed_variants = [], []
    for row in chunk:
        variant = variants.get(row.sku)
        if variant is None:
            variant = ProductVariant(sku=row.sku, product=products[row.product_slug])
            new_variants.append(variant)
            variants[row.sku] = variant
        else:
            changed_variants.append(variant)
        variant.name, variant.barcode, variant.weight_grams = (
            row.variant_name,
            row.barcode,
            row.weight_grams,
        )
    ProductVariant.objects.bulk_create(new_variants)
    ProductVariant.objects.bulk_update(changed_variants, ["name", "barcode", "weight_grams"])
    report.variants_created += len(new_variants)
    report.variants_updated += len(changed_variants)

    _write_attributes(chunk, products, variants)
    _write_listings(chunk, products, variants)
    product_ids = {p.pk for p in products.values()}
    product_refresh_search_document(product_ids=product_ids)
    product_refresh_price_from(product_ids=product_ids)


def _write_attributes(
    chunk: list[_Row], products: dict[str, Product], variants: dict[str, ProductVariant]
) -> None:
    product_values, variant_values = {}, {}
    for row in chunk:
        product = products[row.product_slug]
        for attribute, columns in row.product_attributes.items():
            product_values[(product.pk, attribute.pk)] = ProductAttributeValue(
                product=product, attribute=attribute, **columns
            )
        for attribute, columns in row.variant_attributes.items():
            variant = variants[row.sku]
            variant_values[(variant.pk, attribute.pk)] = VariantAttributeValue(
                variant=variant, attribute=attribute, **columns
            )
    columns = ["choice", "text", "number", "boolean"]
    ProductAttributeValue.objects.bulk_create(
        product_values.values(),
        update_conflicts=True,
        unique_fields=["product", "attribute"],
        update_fields=columns,
    )
    VariantAttributeValue.objects.bulk_create(
        variant_values.values(),
        update_conflicts=True,
        unique_fields=["variant", "attribute"],
        update_fields=columns,
    )


def _write_listings(
    chunk: list[_Row], products: dict[str, Product], variants: dict[str, ProductVariant]
) -> None:
    prices = {}
    product_channels: dict[tuple[int, int], bool | None] = {}
    for row in chunk:
        product = products[row.product_slug]
        for channel, (price, compare_at) in row.prices.items():
            prices[(variants[row.sku].pk, channel.pk)] = VariantChannelListing(
                variant=variants[row.sku], channel=channel, price=price, compare_at_price=compare_at
            )
            product_channels.setdefault((product.pk, channel.pk), None)
        for channel, flag in row.published.items():
            product_channels[(product.pk, channel.pk)] = flag
    VariantChannelListing.objects.bulk_create(
        prices.values(),
        update_conflicts=True,
        unique_fields=["variant", "channel"],
        update_fields=["price", "compare_at_price"],
    )
    # A price alone lists the product unpublished; only a published column changes publication.
    ProductChannelListing.objects.bulk_create(
        [
            ProductChannelListing(product_id=p, channel_id=c, is_published=False)
            for (p, c), flag in product_channels.items()
            if flag is None
        ],
        ignore_conflicts=True,
    )
    ProductChannelListing.objects.bulk_create(
        [
            ProductChannelListing(product_id=p, channel_id=c, is_published=flag)
            for (p, c), flag in product_channels.items()
            if flag is not None
        ],
        update_conflicts=True,
        unique_fields=["product", "channel"],
        update_fields=["is_published"],
    )


def catalog_import(
    *,
    open_stream,
    dry_run: bool = False,
    skip_bad_rows: bool = False,
    source: str = "",
    chunk_size: int | None = None,
) -> ImportReport:
    """Import a catalogue CSV. `open_stream()` opens the file afresh (it is read twice).

    All or nothing: with any bad row nothing is written, unless `skip_bad_rows`, which writes the
    good rows and reports the others. `dry_run` validates and writes nothing. Publishes one
    catalog.imported event.
    """
    chunk_size = chunk_size or settings.CATALOG_IMPORT_CHUNK_SIZE
    lookups = _Lookups()
    report = ImportReport(dry_run=dry_run)
    with open_stream() as stream:
        for chunk in _chunks(_parsed_rows(stream, lookups, report), chunk_size):
            _validate_against_database(chunk, report)
    report.errors.sort(key=lambda e: e.line)
    header_is_bad = bool(report.errors) and report.errors[0].line == 1
    if dry_run or header_is_bad or (report.errors and not skip_bad_rows):
        return report

    written = ImportReport(dry_run=False)  # counts from the writing pass; errors from the first
    with transaction.atomic(), open_stream() as stream:
        for chunk in _chunks(_parsed_rows(stream, lookups, written), chunk_size):
            good = _validate_against_database(chunk, written)
            if good:
                _write_chunk(good, written)
        events.publish(
            type=catalog_events.CATALOG_IMPORTED,
            subject_type="catalog",
            # The subject id column is short; a full path often is not (the payload keeps it).
            subject_id=(os.path.basename(source) or "csv")[
                : OutboxEvent._meta.get_field("subject_id").max_length
            ],
            payload={
                "file": source,
                "rows": written.rows,
                "bad_rows": written.bad_rows,
                "products_created": written.products_created,
                "products_updated": written.products_updated,
                "variants_created": written.variants_created,
                "variants_updated": written.variants_updated,
            },
        )
    for name in ("products_created", "products_updated", "variants_created", "variants_updated"):
        setattr(report, name, getattr(written, name))
    report.written = True
    return report


def open_text(path_or_file, encoding: str = "utf-8-sig"):
    """A re-openable text stream for a path or an uploaded file (which is rewound each time)."""
    if isinstance(path_or_file, str):
        return lambda: open(path_or_file, encoding=encoding, newline="")

    class _Rewound:
        def __enter__(self):
            path_or_file.seek(0)
            self.wrapper = io.TextIOWrapper(path_or_file, encoding=encoding, newline="")
            return self.wrapper

        def __exit__(self, *exc):
            self.wrapper.detach()  # leave the uploaded file open for the second pass

    return _Rewound


# --- Export ---------------------------------------------------------------------------------


def catalog_export_header(channels: list[Channel]) -> list[str]:
    header = [*REQUIRED_COLUMNS, *OPTIONAL_COLUMNS]
    for channel in channels:
        header += [
            f"price:{channel.code}",
            f"compare_at_price:{channel.code}",
            f"published:{channel.code}",
        ]
    return header


def _attributes_text(assignments) -> str:
    parts = []
    for a in assignments:
        value = a.value
        if isinstance(value, bool):
            value = "yes" if value else "no"
        parts.append(f"{a.attribute.code}={value}")
    return ";".join(parts)


def catalog_export_rows(*, product_ids: Iterable[int] | None = None) -> Iterator[list[str]]:
    """Yield the header and then one row per variant, streaming in batches."""
    channels = list(Channel.objects.order_by("code"))
    yield catalog_export_header(channels)
    products = Product.objects.select_related("product_type", "category", "tax_class").order_by(
        "pk"
    )
    if product_ids is not None:
        products = products.filter(pk__in=list(product_ids))
    products = products.prefetch_related(
        "attribute_values__attribute",
        "attribute_values__choice",
        "channel_listings",
        "variants__attribute_values__attribute",
        "variants__attribute_values__choice",
        "variants__channel_listings",
    )
    for product in products.iterator(chunk_size=500):
        published = {
            listing.channel_id: listing.is_published for listing in product.channel_listings.all()
        }
        product_attributes = _attributes_text(product.attribute_values.all())
        for variant in product.variants.all():
            prices = {listing.channel_id: listing for listing in variant.channel_listings.all()}
            row = [
                variant.sku,
                product.slug,
                product.name,
                product.product_type.slug,
                product.category.slug if product.category else "",
                product.tax_class.code if product.tax_class else "",
                product.description,
                variant.name,
                variant.barcode,
                "" if variant.weight_grams is None else str(variant.weight_grams),
                product_attributes,
                _attributes_text(variant.attribute_values.all()),
            ]
            for channel in channels:
                listing = prices.get(channel.pk)
                row += [
                    str(quantize(listing.price, channel.currency)) if listing else "",
                    str(quantize(listing.compare_at_price, channel.currency))
                    if listing and listing.compare_at_price is not None
                    else "",
                    ("yes" if published[channel.pk] else "no") if channel.pk in published else "",
                ]
            yield row
