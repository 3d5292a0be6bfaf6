"""Storefront list and product answers from the card cache (see `catalog.storefront_cache`).

A warm list page makes no query but the stock one; on a miss the page's composition comes from
the filter set and paginator as before, and only the products whose card is missing are loaded.
Either way the answer is the same JSON, byte for byte, as `storefront_product_json` gives."""

from __future__ import annotations

import json

from django.http import HttpResponse
from rest_framework.utils.urls import remove_query_param, replace_query_param

from catalog import availability
from catalog import storefront_cache as sf
from catalog.api.serializers import storefront_product_json
from catalog.selectors import (
    bundle_components,
    product_facets,
    product_list_for_channel,
    product_prefetch_for_channel,
)
from commerce.models import Channel


def request_params(request) -> list[tuple[str, tuple[str, ...]]]:
    return sorted((key, tuple(values)) for key, values in request.GET.lists())


def cards_for(
    channel_code: str,
    product_ids: list[int],
    *,
    channel_loader,
    detail: bool = False,
    products=None,
) -> list[sf.Card]:
    """Cards of these products in this order: cached ones as they are, the others built from
    PostgreSQL (`products`, when the caller has loaded them already) and kept. A product the
    channel no longer shows is left out."""
    lookup = sf.cards_lookup(channel_code, product_ids, detail=detail)
    missing = [pk for pk in product_ids if pk not in lookup.cards]
    if missing:
        channel: Channel = channel_loader()
        if products is None:
            products = product_prefetch_for_channel(
                product_list_for_channel(channel=channel, listed_only=False).filter(pk__in=missing),
                channel=channel,
            )
        products = list(products)
        components = bundle_components(v.pk for p in products for v in p.channel_variants)
        built = [
            sf.card_build(
                storefront_product_json(p, channel=channel, detail=detail),
                product_id=p.pk,
                channel_id=channel.pk,
                components=components,
            )
            for p in products
        ]
        sf.cards_store(
            channel_code,
            built,
            lookup=lookup,
            detail=detail,
            expires={p.pk: p.listing_available_until for p in products},
        )
        lookup.cards.update((card.product_id, card) for card in built)
    return [lookup.cards[pk] for pk in product_ids if pk in lookup.cards]


def cards_json(cards: list[sf.Card], *, request) -> list[bytes]:
    """The cards with stock read now (one query for the whole page)."""
    provider = availability.provider()
    stock = None
    if provider is not None:
        variant_ids = [v for card in cards for v in card.variant_ids]
        components = {k: v for card in cards for k, v in card.components.items()}
        stock = (
            provider.for_variants(
                channel=cards[0].channel_id, variant_ids=variant_ids, components=components
            )
            if variant_ids
            else {}
        )
    return sf.cards_render(cards, stock=stock, origin=request.build_absolute_uri("/")[:-1])


def page_links(request, *, page_number: int, page_size: int, count: int) -> tuple:
    """`next` and `previous` as DRF's PageNumberPagination writes them."""
    url = request.build_absolute_uri()
    last = max(1, -(-count // page_size))
    following = replace_query_param(url, "page", page_number + 1) if page_number < last else None
    if page_number <= 1:
        preceding = None
    elif page_number == 2:
        preceding = remove_query_param(url, "page")
    else:
        preceding = replace_query_param(url, "page", page_number - 1)
    return following, preceding


def json_response(body: bytes, status: int = 200) -> HttpResponse:
    return HttpResponse(body, status=status, content_type="application/json")


def facets_json(queryset, *, channel: Channel) -> bytes:
    facets = product_facets(queryset, currency=channel.currency)
    return json.dumps(facets, ensure_ascii=False, separators=(",", ":")).encode()


def list_body(*, count: int, following, preceding, facets: bytes, cards: list[bytes]) -> bytes:
    head = json.dumps(
        {"count": count, "next": following, "previous": preceding},
        ensure_ascii=False,
        separators=(",", ":"),
    ).encode()
    return head[:-1] + b',"facets":' + facets + b',"results":[' + b",".join(cards) + b"]}"
