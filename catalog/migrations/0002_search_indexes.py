"""Search indexes that only PostgreSQL has: full text over `search_document` (the same expression
as `catalog.selectors.product_search`) and trigrams for substring matches of SKUs and words."""

from django.db import migrations

FORWARD = [
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    "CREATE INDEX IF NOT EXISTS product_search_fts ON catalog_product "
    "USING gin (to_tsvector('simple'::regconfig, COALESCE(search_document, '')))",
    "CREATE INDEX IF NOT EXISTS product_search_trgm ON catalog_product "
    "USING gin (UPPER(search_document) gin_trgm_ops)",
]
BACKWARD = [
    "DROP INDEX IF EXISTS product_search_trgm",
    "DROP INDEX IF EXISTS product_search_fts",
]


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for statement in FORWARD:
            schema_editor.execute(statement)


def backward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for statement in BACKWARD:
            schema_editor.execute(statement)


class Migration(migrations.Migration):
    dependencies = [("catalog", "0001_initial")]
    operations = [migrations.RunPython(forward, backward)]
