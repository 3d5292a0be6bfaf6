"""Catalogue CSV import and export: one row per variant, the same columns both ways.

The import reads the file twice, streaming: first it validates every row and reports each bad one
with its line number; then, only if the file is clean (or bad rows are to be skipped), it writes
in chunks inside one transaction, so a failure half-way leaves the catalogue as it was. Memory
grows with the number of SKUs (to catch duplicates), never with whole rows. Both passes run the
same checks, so a dry run refuses exactly what the real run would.

An import changes only the columns its file has: a column that is absent leaves that field of
every product and variant as it is, so a file of `sku,product_slug,product_name` renames products
and touches nothing else. A new product still needs its name and type, and a new variant its
product; a row that would create one without them is a row error naming the missing column.
"""

from __future__ import annotations

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
from catalog import storefront_cache
from catalog.errors import InvalidCatalogData
from catalog.models import (
    Attribute,
    AttributeAssignment,
    Category,
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
from catalog.services import (
    attribute_parse_value,
    price_validate,
    product_refresh_price_from,
    product_refresh_search_document,
)
from commerce import events
from commerce.csvsafe import cell_restore
from commerce.importing import (
    INT32_MAX,
    CsvFile,
    CsvRow,
    shown,
    text_problem,
    whole_number,
    wrap_binary,
)
from commerce.importing import open_text as _open_text_file
from commerce.models import Channel, OutboxEvent
from commerce.money import quantize

# The columns a new product needs (and the export's first columns). Only `sku` must be in every
# file: it says which variant a row is.
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
KEY_COLUMN = "sku"
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
_MAX_TEXT_ATTRIBUTE = AttributeAssignment._meta.get_field("text").max_length


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
    # Slugs of products the rows read so far would create (the first pass writes nothing).
    pending_slugs: set[str] = field(default_factory=set, repr=False)
    # Rows with bytes that are not text in the encoding the file was read with.
    undecodable_rows: int = 0
    # Prices that moved, each logged as a PriceChange of source "import".
    price_changes: int = 0
    # What the price log says about the import: the file's name, and who ran it.
    price_reference: str = field(default="", repr=False)
    changed_by: Any = field(default=None, repr=False)

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
    # None when the file has no product_slug column: the variant's own product.
    product_slug: str | None
    # Only the columns the file has, by model field.
    product_fields: dict[str, Any]
    variant_fields: dict[str, Any]
    product_attributes: dict[Attribute, dict[str, Any]]
    variant_attributes: dict[Attribute, dict[str, Any]]
    # Attribute cells waiting for the product's type, when the file has no product_type column.
    raw_attributes: dict[str, str]
    prices: dict[Channel, tuple[Decimal, Decimal | None]]
    published: dict[Channel, bool]
    header: frozenset[str]

    @property
    def barcode(self) -> str:
        return self.variant_fields.get("barcode", "")

    @property
    def product_type(self) -> ProductType | None:
        return self.product_fields.get("product_type")


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
    messages = [] if KEY_COLUMN in header else [_("Missing column sku.")]
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
                _("%(column)s: %(pair)s is not code=value.")
                % {"column": column, "pair": shown(pair)}
            )
        elif code not in allowed:
            messages.append(
                _("%(column)s: %(code)s is not an attribute of this product type.")
                % {"column": column, "code": shown(code)}
            )
        elif (
            lookups.attributes[code].type == Attribute.Type.TEXT
            and len(value.strip()) > _MAX_TEXT_ATTRIBUTE
        ):
            messages.append(
                _("%(column)s: %(code)s is longer than %(limit)s characters.")
                % {"column": column, "code": code, "limit": _MAX_TEXT_ATTRIBUTE}
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


def _parse_row(csv_row: CsvRow, lookups: _Lookups) -> tuple[_Row | None, list[str]]:
    """A row's cells as typed values; only the columns the file has are read."""
    header = frozenset(csv_row.record)

    def value(column: str) -> str:
        # Our exports escape formula-like text with an apostrophe (commerce.csvsafe); a file
        # exported here and imported back must not gain it.
        return cell_restore(csv_row.clean(column)).strip()

    messages: list[str] = []
    for column in REQUIRED_COLUMNS:
        # A present key or name column may not be empty; an absent one means "as it is".
        if column in header and not value(column):
            messages.append(_("%(column)s is empty.") % {"column": column})
    product_fields: dict[str, Any] = {}
    if value("product_name"):
        product_fields["name"] = value("product_name")
    product_type = lookups.product_types.get(value("product_type"))
    if value("product_type") and product_type is None:
        messages.append(
            _("Unknown product type %(value)s.") % {"value": shown(value("product_type"))}
        )
    if product_type is not None:
        product_fields["product_type"] = product_type
    if "category" in header:
        category = lookups.categories.get(value("category")) if value("category") else None
        if value("category") and category is None:
            messages.append(_("Unknown category %(value)s.") % {"value": shown(value("category"))})
        product_fields["category"] = category
    if "tax_class" in header:
        tax_class = lookups.tax_classes.get(value("tax_class")) if value("tax_class") else None
        if value("tax_class") and tax_class is None:
            messages.append(
                _("Unknown tax class %(value)s.") % {"value": shown(value("tax_class"))}
            )
        product_fields["tax_class"] = tax_class
    if "description" in header:
        product_fields["description"] = value("description")
    variant_fields: dict[str, Any] = {}
    if "variant_name" in header:
        variant_fields["name"] = value("variant_name")
    if "barcode" in header:
        variant_fields["barcode"] = value("barcode")
    if "weight_grams" in header:
        weight = None
        if value("weight_grams"):
            weight = whole_number(value("weight_grams"), maximum=INT32_MAX)
            if weight is None:
                messages.append(
                    _("weight_grams must be a whole number of grams, not %(value)s.")
                    % {"value": shown(value("weight_grams"))}
                )
        variant_fields["weight_grams"] = weight
    if value("product_slug"):
        try:
            validate_unicode_slug(value("product_slug"))
        except ValidationError:
            messages.append(
                _("product_slug %(value)s may only hold letters, digits, - and _.")
                % {"value": shown(value("product_slug"))}
            )
    product_attrs: dict = {}
    variant_attrs: dict = {}
    raw_attributes: dict[str, str] = {}
    if product_type is not None:
        product_attrs, variant_attrs = _typed_attributes(
            {c: value(c) for c in ("product_attributes", "variant_attributes")},
            product_type,
            lookups,
            messages,
        )
    elif "product_type" not in header:
        raw_attributes = {
            c: value(c) for c in ("product_attributes", "variant_attributes") if value(c)
        }
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
                % {"code": code, "value": shown(flag)}
            )
    if messages:
        return None, messages
    return _Row(
        line=csv_row.line,
        sku=value("sku"),
        product_slug=value("product_slug") if "product_slug" in header else None,
        product_fields=product_fields,
        variant_fields=variant_fields,
        product_attributes=product_attrs,
        variant_attributes=variant_attrs,
        raw_attributes=raw_attributes,
        prices=prices,
        published=published,
        header=header,
    ), []


def _typed_attributes(
    cells: dict[str, str], product_type: ProductType, lookups: _Lookups, messages: list[str]
) -> tuple[dict, dict]:
    product_codes, variant_codes = lookups.type_attributes[product_type.slug]
    return (
        _parse_attributes(
            cells.get("product_attributes", ""),
            allowed=product_codes,
            lookups=lookups,
            column="product_attributes",
            messages=messages,
        ),
        _parse_attributes(
            cells.get("variant_attributes", ""),
            allowed=variant_codes,
            lookups=lookups,
            column="variant_attributes",
            messages=messages,
        ),
    )


def _parsed_rows(stream: IO[str], lookups: _Lookups, report: ImportReport) -> Iterator[_Row | None]:
    """Yield each row parsed (None for a bad one), recording errors in the report."""
    reader = CsvFile(stream)
    problems = reader.header_problems or _header_errors(reader.header, lookups)
    if problems:
        report.errors.append(RowError(line=1, sku="", messages=problems))
        return
    seen_skus: set[str] = set()
    seen_barcodes: set[str] = set()
    product_types: dict[str, str] = {}
    for csv_row in reader.rows(max_lengths=_MAX_LENGTHS):
        report.rows += 1
        line = csv_row.line
        sku = csv_row.clean("sku")
        if csv_row.problems:
            # The cells may hold anything (NUL, undecodable bytes): name the SKU only if clean.
            clean = text_problem(sku, column="sku", max_length=_MAX_LENGTHS["sku"]) is None
            report.undecodable_rows += csv_row.undecodable
            report.bad_rows += 1
            report.errors.append(RowError(line, sku if clean else "", csv_row.problems))
            yield None
            continue
        row, messages = _parse_row(csv_row, lookups)
        if sku and sku in seen_skus:
            messages.append(_("Duplicate SKU %(sku)s in the file.") % {"sku": sku})
        if row and row.barcode:
            if row.barcode in seen_barcodes:
                messages.append(
                    _("Duplicate barcode %(barcode)s in the file.") % {"barcode": row.barcode}
                )
            seen_barcodes.add(row.barcode)
        if row and row.product_slug and row.product_type:
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


def _validate_against_database(
    chunk: list[_Row], report: ImportReport, lookups: _Lookups
) -> list[_Row]:
    """Checks that need the database: a SKU or barcode owned by another product, what a new
    product or variant needs, and attributes whose allowed codes come from a stored product."""
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
    slugs = {r.product_slug or owners.get(r.sku) for r in chunk} - {None}
    stored_types = dict(
        Product.objects.filter(slug__in=slugs).values_list("slug", "product_type__slug")
    )
    good = []
    for row in chunk:
        messages = []
        if row.product_slug is None:
            row.product_slug = owners.get(row.sku)
            if row.product_slug is None:
                messages.append(
                    _("SKU %(sku)s is new: a new variant needs the column product_slug.")
                    % {"sku": row.sku}
                )
        elif row.sku in owners and owners[row.sku] != row.product_slug:
            messages.append(
                _("SKU %(sku)s belongs to product %(slug)s.")
                % {"sku": row.sku, "slug": owners[row.sku]}
            )
        if row.barcode and barcode_owners.get(row.barcode, row.sku) != row.sku:
            messages.append(
                _("Barcode %(barcode)s belongs to SKU %(sku)s.")
                % {"barcode": row.barcode, "sku": barcode_owners[row.barcode]}
            )
        slug = row.product_slug
        is_new = slug is not None and slug not in stored_types and slug not in report.pending_slugs
        if is_new:
            for column, name in (("product_name", "name"), ("product_type", "product_type")):
                if name not in row.product_fields:
                    messages.append(
                        _("Product %(slug)s is new: a new product needs the column %(column)s.")
                        % {"slug": slug, "column": column}
                    )
        if row.raw_attributes and slug in stored_types:
            product_type = lookups.product_types[stored_types[slug]]
            row.product_attributes, row.variant_attributes = _typed_attributes(
                row.raw_attributes, product_type, lookups, messages
            )
        if messages:
            report.bad_rows += 1
            report.errors.append(RowError(row.line, row.sku, messages))
        else:
            if is_new:
                report.pending_slugs.add(slug)  # type: ignore[arg-type]
            good.append(row)
    return good


def _write_chunk(chunk: list[_Row], report: ImportReport) -> None:
    products = {p.slug: p for p in Product.objects.filter(slug__in={r.product_slug for r in chunk})}
    new_products: dict[str, Product] = {}
    changed_products: dict[str, Product] = {}
    # Every row of a file has the same columns, so every product is updated in the same fields.
    product_fields = list(chunk[0].product_fields)
    for row in chunk:
        slug: str = row.product_slug  # type: ignore[assignment]  # resolved by the validation
        product = products.get(slug) or new_products.get(slug)
        if product is None:
            new_products[slug] = Product(slug=slug, **row.product_fields)
        elif not ({slug} & (new_products.keys() | report.created_slugs | changed_products.keys())):
            for name, value in row.product_fields.items():
                setattr(product, name, value)
            changed_products[slug] = product
    Product.objects.bulk_create(new_products.values())
    if product_fields:
        Product.objects.bulk_update(changed_products.values(), product_fields)
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
        for name, value in row.variant_fields.items():
            setattr(variant, name, value)
    ProductVariant.objects.bulk_create(new_variants)
    if chunk[0].variant_fields:
        ProductVariant.objects.bulk_update(changed_variants, list(chunk[0].variant_fields))
    report.variants_created += len(new_variants)
    report.variants_updated += len(changed_variants)

    _write_attributes(chunk, products, variants)
    _write_listings(chunk, products, variants, report)
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
    chunk: list[_Row],
    products: dict[str, Product],
    variants: dict[str, ProductVariant],
    report: ImportReport,
) -> None:
    # Without its compare_at_price column, a price leaves the stored "was" price as it is.
    prices: dict[bool, dict[tuple[int, int], VariantChannelListing]] = {True: {}, False: {}}
    product_channels: dict[tuple[int, int], bool | None] = {}
    for row in chunk:
        product = products[row.product_slug]
        for channel, (price, compare_at) in row.prices.items():
            with_compare_at = f"compare_at_price:{channel.code}" in row.header
            prices[with_compare_at][(variants[row.sku].pk, channel.pk)] = VariantChannelListing(
                variant=variants[row.sku], channel=channel, price=price, compare_at_price=compare_at
            )
            product_channels.setdefault((product.pk, channel.pk), None)
        for channel, flag in row.published.items():
            product_channels[(product.pk, channel.pk)] = flag
    _log_price_changes([*prices[True].values(), *prices[False].values()], report)
    for with_compare_at, listings in prices.items():
        VariantChannelListing.objects.bulk_create(
            listings.values(),
            update_conflicts=True,
            unique_fields=["variant", "channel"],
            update_fields=["price", "compare_at_price"] if with_compare_at else ["price"],
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


def _log_price_changes(listings: list[VariantChannelListing], report: ImportReport) -> None:
    """A PriceChange row (source "import") for each listing whose price the import moves: read
    before the listings are written, in the same transaction."""
    if not listings:
        return
    stored = {
        (variant_id, channel_id): price
        for variant_id, channel_id, price in VariantChannelListing.objects.filter(
            variant_id__in={listing.variant.pk for listing in listings},
            channel_id__in={listing.channel.pk for listing in listings},
        ).values_list("variant_id", "channel_id", "price")
    }
    changes = [
        PriceChange(
            variant=listing.variant,
            channel=listing.channel,
            previous=stored.get((listing.variant.pk, listing.channel.pk)),
            price=listing.price,
            currency=listing.channel.currency,
            source=PriceChange.Source.IMPORT,
            reference=report.price_reference,
            changed_by=report.changed_by,
        )
        for listing in listings
        if stored.get((listing.variant.pk, listing.channel.pk)) != listing.price
    ]
    PriceChange.objects.bulk_create(changes, batch_size=1000)
    report.price_changes += len(changes)


def catalog_import(
    *,
    open_stream,
    dry_run: bool = False,
    skip_bad_rows: bool = False,
    source: str = "",
    chunk_size: int | None = None,
    changed_by=None,
) -> ImportReport:
    """Import a catalogue CSV. `open_stream()` opens the file afresh (it is read twice).

    Only the columns the file has are changed (see the module docstring). All or nothing: with
    any bad row nothing is written, unless `skip_bad_rows`, which writes the good rows and
    reports the others. `dry_run` runs every check and writes nothing. Publishes one
    catalog.imported event. Each price it moves is logged as a PriceChange of source "import",
    with the file's name as reference and `changed_by` (the staff member, or None).
    """
    chunk_size = chunk_size or settings.CATALOG_IMPORT_CHUNK_SIZE
    lookups = _Lookups()
    report = ImportReport(dry_run=dry_run)
    with open_stream() as stream:
        for chunk in _chunks(_parsed_rows(stream, lookups, report), chunk_size):
            _validate_against_database(chunk, report, lookups)
    report.errors.sort(key=lambda e: e.line)
    header_is_bad = bool(report.errors) and report.errors[0].line == 1
    if dry_run or header_is_bad or (report.errors and not skip_bad_rows):
        return report

    written = ImportReport(  # counts from the writing pass; errors from the first
        dry_run=False,
        price_reference=os.path.basename(source)[
            : PriceChange._meta.get_field("reference").max_length
        ],
        changed_by=changed_by if getattr(changed_by, "is_authenticated", False) else None,
    )
    with transaction.atomic(), open_stream() as stream:
        for chunk in _chunks(_parsed_rows(stream, lookups, written), chunk_size):
            good = _validate_against_database(chunk, written, lookups)
            if good:
                _write_chunk(good, written)
        storefront_cache.everything_changed()  # bulk writes send no model signals
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
    for name in (
        "products_created",
        "products_updated",
        "variants_created",
        "variants_updated",
        "price_changes",
    ):
        setattr(report, name, getattr(written, name))
    report.written = True
    return report


def open_text(path_or_file, encoding: str = "utf-8-sig"):
    """A re-openable text stream for a path or an uploaded file (which is rewound each time).
    Undecodable bytes are reported on their row (see `commerce.importing`)."""
    if isinstance(path_or_file, str):
        return lambda: _open_text_file(path_or_file, encoding=encoding)

    class _Rewound:
        def __enter__(self):
            path_or_file.seek(0)
            self.wrapper = wrap_binary(path_or_file, encoding=encoding)
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


def catalog_export_numeric(column: str) -> bool:
    """Columns of the export that hold numbers: their cells are written as they are (a negative
    number is data), while every text cell is escaped against spreadsheet formulas."""
    return column == "weight_grams" or column.startswith(("price:", "compare_at_price:"))


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
