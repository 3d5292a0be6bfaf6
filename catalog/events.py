"""Events the catalogue publishes. Payloads carry ids and codes, never model instances."""

PRODUCT_CREATED = "product.created"  # {product_id, slug, name}
PRODUCT_UPDATED = "product.updated"  # {product_id, slug, changed: [field, ...]}
PRODUCT_PUBLICATION_CHANGED = "product.publication_changed"  # {product_id, channel, is_published}
VARIANT_PRICE_CHANGED = (
    "variant.price_changed"  # {variant_id, sku, channel, currency, price, previous}
)
CATALOG_IMPORTED = "catalog.imported"  # {created, updated, skipped, file}
