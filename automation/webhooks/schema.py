"""The webhook bodies in the OpenAPI document (`/api/schema/`).

A drf-spectacular postprocessing hook rather than `APPEND_COMPONENTS`: settings may name apps only
as strings, and the schemas are built from the catalogue in `payloads.py`, so they can never
drift from what is sent.
"""

from __future__ import annotations

from automation.webhooks.payloads import schema_components


def add_webhook_components(result, generator, request, public):
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    for name, schema in schema_components().items():
        schemas.setdefault(name, schema)
    return result
