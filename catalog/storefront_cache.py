"""Storefront product cards and list pages, cached in Redis and never stale.

A storefront list page or product page is mostly catalogue data that changes a few times a day
(names, prices, images, attributes) next to stock that changes with every cart. So the catalogue
part of each product's JSON (its *card*, per channel, list or detail form) and each list page's
*composition* (which products, in which order, out of how many) are kept in Redis, while the
stock figures are read fresh from PostgreSQL in one query per request and put into the cards'
placeholders. A warm list page is two Redis round trips and that one query.

Never stale: every card carries the product's version and the global epoch it was built from,
every composition the list generation; a catalogue write bumps them (immediately and again on
commit, so that a reader who rebuilt a card from the rows before the commit stored it under a
version that is already old), and a reader uses a record only when its tags match the current
ones. Which write bumps what is wired in `catalog.signals`. Time-driven changes (a listing's
availability window) end the record's life by its expiry. A Redis that does not answer is a miss
(the page is built from PostgreSQL) and a write that cannot reach it is logged; records never
outlive `STOREFRONT_CACHE_TTL`, which bounds what such an outage can leave behind.

Why by hand: the card cache must know the catalogue's own invalidation events and splice fresh
stock into cached JSON; the generic caches (django-cacheops, cachalot) invalidate on every
write to a table, which stock and cart writes would make constant.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from functools import cache

from django.conf import settings
from django.db import transaction
from django.utils import timezone

logger = logging.getLogger(__name__)

EPOCH = "sf:epoch"
LIST_GENERATION = "sf:lg"
_SLOT = "\x00\x01"  # starts every placeholder string; see _PLACEHOLDER
_PLACEHOLDER = re.compile(rb'"\\u0000\\u0001([ASPU])(\d+)\\u0000"')


@cache
def _client():
    url = getattr(settings, "STOREFRONT_CACHE_URL", "")
    if not url:
        return None
    import redis

    return redis.Redis.from_url(url, socket_connect_timeout=0.5, socket_timeout=0.5)


def enabled() -> bool:
    return _client() is not None


def _safely(operation, default=None):
    try:
        return operation(_client())
    except Exception as error:  # a cache that does not answer is a miss, never a failure
        logger.warning("storefront cache unavailable: %s", error)
        return default


# --- Invalidation ---------------------------------------------------------------------------


def _bump(keys: list[str]) -> None:
    def run(client):
        pipe = client.pipeline(transaction=False)
        for key in keys:
            pipe.incr(key)
        pipe.execute()

    if not enabled() or not keys:
        return
    _safely(run)
    transaction.on_commit(lambda: _safely(run))


def products_changed(product_ids: Iterable[int]) -> None:
    """These products' cards are stale, and any list page may have changed."""
    _bump([f"sf:pv:{pk}" for pk in set(product_ids)] + [LIST_GENERATION])


def lists_changed() -> None:
    """Which products a list shows, or their order, may have changed (a search text)."""
    _bump([LIST_GENERATION])


def everything_changed() -> None:
    """A change that reaches across products: a category, an attribute, a channel, an import."""
    _bump([EPOCH])


# --- Records --------------------------------------------------------------------------------


def _tag(*numbers) -> bytes:
    return b".".join(b"%d" % int(n or 0) for n in numbers)


def _card_key(channel_code: str, product_id: int, detail: bool) -> str:
    return f"sf:c:{channel_code}:{product_id}:{'d' if detail else 'l'}"


def _page_key(channel_code: str, params: list[tuple[str, str]]) -> str:
    digest = hashlib.sha1(repr(params).encode(), usedforsecurity=False).hexdigest()
    return f"sf:p:{channel_code}:{digest}"


def _slug_key(channel_code: str, slug: str) -> str:
    return f"sf:s:{channel_code}:{hashlib.sha1(slug.encode(), usedforsecurity=False).hexdigest()}"


def _ttl_ms(until: datetime | None) -> int:
    ttl = settings.STOREFRONT_CACHE_TTL * 1000
    if until is not None:
        ttl = min(ttl, int((until - timezone.now()).total_seconds() * 1000))
    return ttl


@dataclass
class Card:
    """A product's JSON with placeholders for stock and image origins, and what filling them
    needs: the channel, the variants and the bundles' components."""

    product_id: int
    channel_id: int
    variant_ids: list[int]
    components: dict[int, list[tuple[int, int]]]
    image_paths: list[str]
    template: bytes

    def encode(self, tag: bytes) -> bytes:
        meta = {
            "p": self.product_id,
            "c": self.channel_id,
            "v": self.variant_ids,
            "b": {str(k): v for k, v in self.components.items()},
            "i": self.image_paths,
        }
        return (
            tag + b"\n" + json.dumps(meta, separators=(",", ":")).encode() + b"\n" + self.template
        )

    @classmethod
    def decode(cls, record: bytes, tag: bytes) -> Card | None:
        head, _, rest = record.partition(b"\n")
        if head != tag:
            return None
        meta, _, template = rest.partition(b"\n")
        meta = json.loads(meta)
        return cls(
            product_id=meta["p"],
            channel_id=meta["c"],
            variant_ids=meta["v"],
            components={int(k): [tuple(c) for c in v] for k, v in meta["b"].items()},
            image_paths=meta["i"],
            template=template,
        )


def card_build(product_json: dict, *, product_id: int, channel_id: int, components) -> Card:
    """Turn a product's JSON (as `storefront_product_json` builds it without stock) into a card:
    its stock fields and relative image URLs become placeholders."""
    image_paths = []
    for image in product_json["images"]:
        if image["url"].startswith("/"):
            image_paths.append(image["url"])
            image["url"] = f"{_SLOT}U{len(image_paths) - 1}\x00"
    variant_ids = []
    for variant in product_json["variants"]:
        variant_ids.append(variant["id"])
        variant["available"] = f"{_SLOT}A{variant['id']}\x00"
        variant["in_stock"] = f"{_SLOT}S{variant['id']}\x00"
    product_json["in_stock"] = f"{_SLOT}P{product_id}\x00"
    template = json.dumps(product_json, ensure_ascii=False, separators=(",", ":")).encode()
    return Card(
        product_id=product_id,
        channel_id=channel_id,
        variant_ids=variant_ids,
        components={k: v for k, v in components.items() if k in set(variant_ids)},
        image_paths=image_paths,
        template=template,
    )


_JSON = {None: b"null", True: b"true", False: b"false"}


def cards_render(cards: list[Card], *, stock: dict[int, int] | None, origin: str) -> list[bytes]:
    """The cards' JSON with this request's stock figures and origin put in."""
    origin_json = json.dumps(origin, ensure_ascii=False)[:-1].encode()  # the opening quote on
    rendered = []
    for card in cards:
        in_stock = None if stock is None else any(stock.get(v, 0) > 0 for v in card.variant_ids)

        def fill(match, card=card, in_stock=in_stock):
            kind, number = match.group(1), int(match.group(2))
            if kind == b"U":
                path = json.dumps(card.image_paths[number], ensure_ascii=False)
                return origin_json + path[1:].encode()
            if kind == b"P":
                return _JSON[in_stock]
            if stock is None:
                return b"null"
            units = stock.get(number, 0)
            return b"%d" % units if kind == b"A" else _JSON[units > 0]

        rendered.append(_PLACEHOLDER.sub(fill, card.template))
    return rendered


# --- Reads and writes of records ------------------------------------------------------------


@dataclass
class CardLookup:
    cards: dict[int, Card]  # current cached cards by product id; stale and missing left out
    tags: dict[int, bytes]  # the tag a card built now is stored under, by product id


def cards_lookup(channel_code: str, product_ids: list[int], *, detail: bool) -> CardLookup:
    lookup = CardLookup(cards={}, tags={})
    if not enabled() or not product_ids:
        return lookup
    count = len(product_ids)
    keys = [EPOCH] + [f"sf:pv:{pk}" for pk in product_ids]
    keys += [_card_key(channel_code, pk, detail) for pk in product_ids]
    values = _safely(lambda client: client.mget(keys))
    if values is None:
        return lookup
    epoch = values[0]
    for pk, version, record in zip(
        product_ids, values[1 : count + 1], values[count + 1 :], strict=True
    ):
        lookup.tags[pk] = _tag(epoch, version)
        card = Card.decode(record, lookup.tags[pk]) if record else None
        if card is not None:
            lookup.cards[pk] = card
    return lookup


def cards_store(
    channel_code: str,
    cards: list[Card],
    *,
    lookup: CardLookup,
    detail: bool,
    expires: dict[int, datetime | None],
) -> None:
    """Keep fresh cards under the tags read before their rows were (see the module's doc)."""

    def run(client):
        pipe = client.pipeline(transaction=False)
        for card in cards:
            ttl = _ttl_ms(expires.get(card.product_id))
            if ttl > 0:
                key = _card_key(channel_code, card.product_id, detail)
                pipe.set(key, card.encode(lookup.tags[card.product_id]), px=ttl)
        pipe.execute()

    if enabled() and cards and lookup.tags:
        _safely(run)


@dataclass
class Page:
    channel_id: int
    count: int
    product_ids: list[int]


def _generation_tag(values) -> bytes:
    return _tag(values[0], values[1])


def _current(record: bytes | None, tag: bytes) -> bytes | None:
    """A record's body if it was stored under `tag`."""
    head, _, body = (record or b"").partition(b"\n")
    return body if head == tag else None


def _store(key: str, body: bytes, *, tag: bytes, until: datetime | None = None) -> None:
    ttl = _ttl_ms(until)
    if tag and ttl > 0:
        _safely(lambda client: client.set(key, tag + b"\n" + body, px=ttl))


@dataclass
class ListLookup:
    page: Page | None  # the composition, if current
    facets: bytes | None  # the facets' JSON, if current
    count: int | None  # how many products the filter finds, if current
    tag: bytes  # what fresh records are stored under


def _filter_key(prefix: str, channel_code: str, params: list[tuple[str, str]]) -> str:
    """A record shared by every page (and page size) of one filter and sort."""
    kept = [p for p in params if p[0] not in ("page", "page_size")]
    return _page_key(channel_code, kept).replace("sf:p:", prefix, 1)


def _facets_key(channel_code: str, params: list[tuple[str, str]]) -> str:
    return _filter_key("sf:f:", channel_code, params)


def _count_key(channel_code: str, params: list[tuple[str, str]]) -> str:
    return _filter_key("sf:n:", channel_code, params)


def list_lookup(channel_code: str, params: list[tuple[str, str]]) -> ListLookup:
    """A list page's composition, its filter's facets and its filter's count for these query
    parameters (one round trip), each if current. The count spares a new page of a known
    filter the `COUNT(*)`."""
    lookup = ListLookup(page=None, facets=None, count=None, tag=b"")
    if not enabled():
        return lookup
    keys = [EPOCH, LIST_GENERATION, _page_key(channel_code, params)]
    keys += [_facets_key(channel_code, params), _count_key(channel_code, params)]
    values = _safely(lambda client: client.mget(keys))
    if values is None:
        return lookup
    lookup.tag = _generation_tag(values)
    page = _current(values[2], lookup.tag)
    if page is not None:
        channel_id, count, ids = page.split(b"\n")
        lookup.page = Page(int(channel_id), int(count), [int(i) for i in ids.split(b",") if i])
    lookup.facets = _current(values[3], lookup.tag)
    count = _current(values[4], lookup.tag)
    lookup.count = None if count is None else int(count)
    return lookup


def page_store(
    channel_code: str,
    params: list[tuple[str, str]],
    page: Page,
    *,
    tag: bytes,
    until: datetime | None,
) -> None:
    ids = ",".join(str(pk) for pk in page.product_ids).encode()
    body = b"%d\n%d\n%s" % (page.channel_id, page.count, ids)
    _store(_page_key(channel_code, params), body, tag=tag, until=until)


def count_store(
    channel_code: str,
    params: list[tuple[str, str]],
    count: int,
    *,
    tag: bytes,
    until: datetime | None,
) -> None:
    _store(_count_key(channel_code, params), b"%d" % count, tag=tag, until=until)


def facets_store(
    channel_code: str,
    params: list[tuple[str, str]],
    facets: bytes,
    *,
    tag: bytes,
    until: datetime | None,
) -> None:
    _store(_facets_key(channel_code, params), facets, tag=tag, until=until)


def slug_lookup(channel_code: str, slug: str) -> tuple[int | None, bytes]:
    """The product id a slug named when its card was built, if still current."""
    if not enabled():
        return None, b""
    values = _safely(
        lambda client: client.mget([EPOCH, LIST_GENERATION, _slug_key(channel_code, slug)])
    )
    if values is None:
        return None, b""
    tag = _generation_tag(values)
    body = _current(values[2], tag)
    return (None if body is None else int(body)), tag


def slug_store(channel_code: str, slug: str, product_id: int, *, tag: bytes) -> None:
    _store(_slug_key(channel_code, slug), b"%d" % product_id, tag=tag)


def reset() -> None:
    """Forget every record (tests start from an empty cache this way)."""
    if enabled():
        _safely(lambda client: client.incr(EPOCH))
