"""Reads of the catalogue shared by the storefront API, the staff API and the admin."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal, InvalidOperation

from django.conf import settings
from django.contrib.postgres.search import SearchQuery, SearchRank, SearchVector
from django.db import connection
from django.db.models import (
    Count,
    Exists,
    F,
    FilteredRelation,
    Min,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
    Window,
)
from django.db.models.functions import RowNumber
from django.utils import timezone
from django.utils.translation import gettext as _

from catalog.models import (
    Attribute,
    AttributeChoice,
    BundleComponent,
    Category,
    CompetitorPrice,
    Product,
    ProductAttributeValue,
    ProductChannelListing,
    ProductImage,
    ProductVariant,
    VariantAttributeValue,
    VariantChannelListing,
)
from commerce.errors import NotFound, ValidationFailed
from commerce.models import Channel
from commerce.money import quantize

SEARCH_CONFIG = "simple"  # language-neutral: SKUs, brand names and mixed Japanese/English text


def _on_postgresql() -> bool:
    return connection.vendor == "postgresql"


def product_list_for_channel(
    *, channel: Channel, listed_only: bool = True, now: datetime | None = None
) -> QuerySet[Product]:
    """Products a storefront of `channel` may show: published, inside their availability window,
    with at least one variant priced in the channel. Annotated with `price_from`."""
    now = now or timezone.now()
    conditions = {
        "channel_listing__is_published": True,
        "channel_listing__price_from__isnull": False,
    }
    if listed_only:
        conditions["channel_listing__visible_in_listings"] = True
    # One filter() call: a second call on the FilteredRelation would join the listing again.
    queryset = (
        Product.objects.annotate(
            channel_listing=FilteredRelation(
                "channel_listings", condition=Q(channel_listings__channel=channel)
            )
        )
        .filter(
            Q(channel_listing__available_from__isnull=True)
            | Q(channel_listing__available_from__lte=now),
            Q(channel_listing__available_until__isnull=True)
            | Q(channel_listing__available_until__gt=now),
            **conditions,
        )
        .annotate(
            price_from=F("channel_listing__price_from"),
            listing_available_until=F("channel_listing__available_until"),
        )
    )
    return queryset


def listing_next_change(*, channel: Channel, now: datetime | None = None) -> datetime | None:
    """When the next listing of the channel enters or leaves its availability window: until
    then, which products the channel shows changes only by a write."""
    now = now or timezone.now()
    bounds = ProductChannelListing.objects.filter(channel=channel).aggregate(
        starts=Min("available_from", filter=Q(available_from__gt=now)),
        ends=Min("available_until", filter=Q(available_until__gt=now)),
    )
    return min(filter(None, bounds.values()), default=None)


def bundle_components(variant_ids: Iterable[int]) -> dict[int, list[tuple[int, int]]]:
    """Each bundle variant's components as (component variant id, quantity); variants that are
    not bundles are left out."""
    components: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for bundle_id, component_id, quantity in BundleComponent.objects.filter(
        bundle_id__in=list(variant_ids)
    ).values_list("bundle_id", "component_id", "quantity"):
        components[bundle_id].append((component_id, quantity))
    return dict(components)


def product_prefetch_for_channel(
    queryset: QuerySet[Product], *, channel: Channel
) -> QuerySet[Product]:
    """Load everything a storefront product card needs in a fixed number of queries, whatever
    the page size: variants priced in the channel, attribute values, images."""
    variants = (
        ProductVariant.objects.annotate(
            listing=FilteredRelation(
                "channel_listings", condition=Q(channel_listings__channel=channel)
            )
        )
        .filter(listing__isnull=False)
        .annotate(price=F("listing__price"), compare_at_price=F("listing__compare_at_price"))
        .prefetch_related(
            Prefetch(
                "attribute_values",
                queryset=VariantAttributeValue.objects.select_related("attribute", "choice"),
            )
        )
        .order_by("position", "sku")
    )
    return queryset.select_related("category", "product_type").prefetch_related(
        Prefetch("variants", queryset=variants, to_attr="channel_variants"),
        Prefetch(
            "attribute_values",
            queryset=ProductAttributeValue.objects.select_related("attribute", "choice"),
        ),
        Prefetch("images", queryset=ProductImage.objects.order_by("position", "id")),
    )


def product_get_for_channel(
    *, channel: Channel, product_id: int | None = None, slug: str | None = None
) -> Product:
    """One product as the channel's storefront sees it; 404 when unpublished, outside its
    window, or not sold in the channel."""
    queryset = product_list_for_channel(channel=channel, listed_only=False)
    queryset = (
        queryset.filter(pk=product_id) if product_id is not None else queryset.filter(slug=slug)
    )
    product = product_prefetch_for_channel(queryset, channel=channel).first()
    if product is None:
        raise NotFound(_("No such product in this channel."))
    return product


def product_search(queryset: QuerySet[Product], *, text: str) -> QuerySet[Product]:
    """Search name, SKUs, barcodes and description. PostgreSQL full text (ranked), plus a
    substring match so that partial SKUs and Japanese words (which have no spaces) are found."""
    text = text.strip()
    if not text:
        return queryset
    if not _on_postgresql():
        return queryset.filter(search_document__icontains=text)
    query = SearchQuery(text, config=SEARCH_CONFIG, search_type="websearch")
    vector = SearchVector("search_document", config=SEARCH_CONFIG)
    # `@@` against the same expression as the GIN index in migration 0002, so the index is used.
    return (
        queryset.annotate(search_vector=vector)
        .filter(Q(search_vector=query) | Q(search_document__icontains=text))
        .annotate(search_rank=SearchRank(vector, query))
    )


def category_descendant_ids(*, category: Category) -> QuerySet:
    return Category.objects.filter(path__startswith=category.path).values("pk")


def category_get(*, identifier: str) -> Category:
    lookup = Q(slug=identifier) | (Q(pk=int(identifier)) if identifier.isdigit() else Q())
    category = Category.objects.filter(lookup).first()
    if category is None:
        raise ValidationFailed({"category": [_("No category %(value)s.") % {"value": identifier}]})
    return category


def product_filter_by_attributes(
    queryset: QuerySet[Product], *, specs: Iterable[str]
) -> QuerySet[Product]:
    """Filter by attribute values given as `code:value`, `code:a|b` (any of) or `code:min..max`
    (numbers). Several specs all apply. A value may sit on the product or on any variant."""
    for spec in specs:
        code, sep, raw = spec.partition(":")
        if not sep or not raw:
            raise ValidationFailed(
                {"attr": [_("Use code:value, e.g. color:red (got %(spec)s).") % {"spec": spec}]}
            )
        attribute = Attribute.objects.filter(code=code, filterable=True).first()
        if attribute is None:
            raise ValidationFailed(
                {"attr": [_("No filterable attribute %(code)s.") % {"code": code}]}
            )
        condition = _attribute_condition(attribute, raw)
        on_product = ProductAttributeValue.objects.filter(
            condition, product=OuterRef("pk"), attribute=attribute
        )
        on_variant = VariantAttributeValue.objects.filter(
            condition, variant__product=OuterRef("pk"), attribute=attribute
        )
        queryset = queryset.filter(Exists(on_product) | Exists(on_variant))
    return queryset


def _attribute_condition(attribute: Attribute, raw: str) -> Q:
    match attribute.type:
        case Attribute.Type.CHOICE:
            return Q(choice__slug__in=raw.split("|"))
        case Attribute.Type.BOOLEAN:
            return Q(boolean=raw.lower() in {"1", "true", "yes"})
        case Attribute.Type.NUMBER:
            low, dots, high = raw.partition("..")
            try:
                if not dots:
                    return Q(number=Decimal(raw))
                condition = Q()
                if low:
                    condition &= Q(number__gte=Decimal(low))
                if high:
                    condition &= Q(number__lte=Decimal(high))
                return condition
            except InvalidOperation:
                raise ValidationFailed(
                    {"attr": [_("%(value)s is not a number or range.") % {"value": raw}]}
                ) from None
    return Q(text__iexact=raw)


def category_tree() -> list[dict]:
    """The whole category tree as nested dicts, in one query."""
    nodes: dict[int, dict] = {}
    roots: list[dict] = []
    for category in Category.objects.order_by("depth", "position", "name"):
        node = {
            "id": category.pk,
            "slug": category.slug,
            "name": category.name,
            "description": category.description,
            "children": [],
        }
        nodes[category.pk] = node
        (nodes[category.parent_id]["children"] if category.parent_id else roots).append(node)
    return roots


# Price band boundaries per currency, in major units; the last band is open-ended. A currency
# not listed gets DEFAULT_PRICE_BANDS scaled by nothing (merchants set STOREFRONT_PRICE_BANDS).
DEFAULT_PRICE_BANDS = {
    "JPY": [1000, 3000, 5000, 10000, 30000],
    "USD": [10, 25, 50, 100, 250],
    "EUR": [10, 25, 50, 100, 250],
    "GBP": [10, 25, 50, 100, 250],
}


def price_bands(currency: str) -> list[Decimal]:
    bands = getattr(settings, "STOREFRONT_PRICE_BANDS", None) or DEFAULT_PRICE_BANDS
    return [Decimal(str(b)) for b in bands.get(currency, DEFAULT_PRICE_BANDS["USD"])]


def _money(amount: Decimal, currency: str) -> dict:
    return {"amount": str(quantize(amount, currency)), "currency": currency}


def product_facets(queryset: QuerySet[Product], *, currency: str) -> dict:
    """How many of these products fall in each category, each value of a filterable choice
    attribute (on the product or any variant) and each price band: what a storefront shows
    beside a filtered list. Three queries, whatever the number of products."""
    products = queryset.order_by()
    categories = [
        {
            "id": row["category_id"],
            "slug": row["category__slug"],
            "name": row["category__name"],
            "count": row["count"],
        }
        for row in products.filter(category__isnull=False)
        .values("category_id", "category__slug", "category__name")
        .annotate(count=Count("pk"))
        .order_by("category__path")
    ]

    bounds = price_bands(currency)
    edges = [Decimal(0), *bounds]
    bands = products.aggregate(
        **{
            f"band{index}": Count(
                "pk",
                filter=Q(price_from__gte=low)
                & (Q(price_from__lt=edges[index + 1]) if index + 1 < len(edges) else Q()),
            )
            for index, low in enumerate(edges)
        }
    )
    price = [
        {
            "min": _money(low, currency),
            "max": _money(edges[index + 1], currency) if index + 1 < len(edges) else None,
            "count": bands[f"band{index}"],
        }
        for index, low in enumerate(edges)
    ]
    return {
        "categories": categories,
        "attributes": _attribute_facets(products),
        "price_bands": price,
    }


def _attribute_facets(products: QuerySet[Product]) -> list[dict]:
    ids_sql, ids_params = products.values("pk").query.sql_with_params()
    choice, attribute = AttributeChoice._meta.db_table, Attribute._meta.db_table
    # A product counts once per value, whether the product or one or more variants carry it.
    sql = f"""
        SELECT a.code, a.name, c.slug, c.name, COUNT(*)
          FROM (SELECT pav.product_id, pav.choice_id
                  FROM {ProductAttributeValue._meta.db_table} pav
                 WHERE pav.choice_id IS NOT NULL AND pav.product_id IN ({ids_sql})
                UNION
                SELECT v.product_id, vav.choice_id
                  FROM {VariantAttributeValue._meta.db_table} vav
                  JOIN {ProductVariant._meta.db_table} v ON v.id = vav.variant_id
                 WHERE vav.choice_id IS NOT NULL AND v.product_id IN ({ids_sql})) AS u
          JOIN {choice} c ON c.id = u.choice_id
          JOIN {attribute} a ON a.id = c.attribute_id
         WHERE a.filterable
         GROUP BY a.code, a.name, c.slug, c.name, c.position
         ORDER BY a.code, c.position, c.slug"""
    with connection.cursor() as cursor:
        cursor.execute(sql, [*ids_params, *ids_params])
        rows = cursor.fetchall()
    facets: dict[str, dict] = {}
    for code, name, slug, choice_name, count in rows:
        facet = facets.setdefault(code, {"code": code, "name": name, "values": []})
        facet["values"].append({"value": slug, "display": choice_name, "count": count})
    return list(facets.values())


def variant_by_sku(sku: str) -> ProductVariant | None:
    """The variant with this SKU, with its product, or None."""
    return ProductVariant.objects.select_related("product").filter(sku=(sku or "").strip()).first()


# --- Competitor prices ----------------------------------------------------------------------


def competitor_price_latest_only(queryset: QuerySet[CompetitorPrice]) -> QuerySet[CompetitorPrice]:
    """Of the observations in `queryset`, the latest of each (variant, channel, competitor): the
    greatest `observed_at`, and of two at the same instant the one recorded last. Filter the
    queryset before (on variants, channels, competitors), not after: the window ranks what is
    left of it."""
    return queryset.annotate(
        latest_rank=Window(
            RowNumber(),
            partition_by=[F("variant_id"), F("channel_id"), F("competitor")],
            order_by=[F("observed_at").desc(), F("id").desc()],
        )
    ).filter(latest_rank=1)


def competitor_price_latest(*, variant_id: int, channel_id: int) -> dict[str, CompetitorPrice]:
    """Each competitor's latest observation of a variant in a channel, by competitor code (what
    a repricing rule compares its price with). Empty when no competitor was observed."""
    rows = competitor_price_latest_only(
        CompetitorPrice.objects.filter(variant_id=variant_id, channel_id=channel_id)
    ).order_by("competitor")
    return {row.competitor: row for row in rows}


def competitor_price_latest_list(
    *, channel: Channel | None = None, sku: str | None = None, competitor: str | None = None
) -> QuerySet[CompetitorPrice]:
    """The latest observation of every (variant, channel, competitor), optionally of one
    channel, SKU or competitor (see `competitor_price_latest_of`)."""
    queryset = CompetitorPrice.objects.all()
    if channel is not None:
        queryset = queryset.filter(channel=channel)
    if sku:
        queryset = queryset.filter(variant__sku=sku.strip())
    if competitor:
        queryset = queryset.filter(competitor=competitor.strip().lower())
    return competitor_price_latest_of(queryset)


def competitor_price_latest_of(queryset: QuerySet[CompetitorPrice]) -> QuerySet[CompetitorPrice]:
    """The latest of each (variant, channel, competitor) among `queryset`'s observations, with
    the variant, the channel and `our_price` (the variant's price in the channel, None where it
    is not sold), ordered by SKU, channel and competitor: one query for any number of rows."""
    return (
        competitor_price_latest_only(queryset)
        .annotate(
            our_price=Subquery(
                VariantChannelListing.objects.filter(
                    variant_id=OuterRef("variant_id"), channel_id=OuterRef("channel_id")
                ).values("price")[:1]
            )
        )
        .select_related("variant", "channel")
        .order_by("variant__sku", "channel__code", "competitor", "id")
    )
