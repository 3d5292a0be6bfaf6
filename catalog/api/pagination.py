"""The storefront list's page: the usual count and links, and the filter's facet counts."""

from django.core.paginator import Paginator
from django.utils.functional import cached_property

from commerce.api.pagination import PageNumberPagination


class KnownCountPaginator(Paginator):
    """A paginator told how many objects there are (the storefront cache keeps a filter's
    count), so that a new page runs only its own query, not a `COUNT(*)` as well."""

    def __init__(self, *args, count: int, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._known_count = count

    @cached_property
    def count(self) -> int:
        return self._known_count


_MONEY = {
    "type": "object",
    "properties": {"amount": {"type": "string"}, "currency": {"type": "string"}},
    "required": ["amount", "currency"],
}


def _object(properties: dict, description: str = "") -> dict:
    schema = {"type": "object", "properties": properties, "required": list(properties)}
    return {**schema, "description": description} if description else schema


def _list(item: dict) -> dict:
    return {"type": "array", "items": item}


_INTEGER, _STRING = {"type": "integer"}, {"type": "string"}

FACETS_SCHEMA = _object(
    {
        "categories": _list(
            _object({"id": _INTEGER, "slug": _STRING, "name": _STRING, "count": _INTEGER})
        ),
        "attributes": _list(
            _object(
                {
                    "code": _STRING,
                    "name": _STRING,
                    "values": _list(
                        _object(
                            {
                                "value": {
                                    "type": "string",
                                    "description": "The choice's slug, as attr=code:value takes it",
                                },
                                "display": _STRING,
                                "count": _INTEGER,
                            }
                        )
                    ),
                }
            )
        ),
        "price_bands": _list(
            _object(
                {
                    "min": {**_MONEY, "description": "Lowest price_from in the band (included)"},
                    "max": {
                        **_MONEY,
                        "nullable": True,
                        "description": "Top of the band (excluded); null for the last band",
                    },
                    "count": _INTEGER,
                }
            )
        ),
    },
    "Counts over every product the filter matches, not only this page's",
)


class StorefrontProductPagination(PageNumberPagination):
    def get_paginated_response_schema(self, schema):
        page = super().get_paginated_response_schema(schema)
        page["properties"] = {**page["properties"], "facets": FACETS_SCHEMA}
        page["required"] = [*page.get("required", []), "facets"]
        return page
