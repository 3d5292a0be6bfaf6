"""Events the catalogue publishes. Payloads carry ids and codes, never model instances."""

PRODUCT_CREATED = "product.created"  # {product_id, slug, name}
PRODUCT_UPDATED = "product.updated"  # {product_id, slug, changed: [field, ...]}
PRODUCT_PUBLICATION_CHANGED = "product.publication_changed"  # {product_id, channel, is_published}
# {variant_id, sku, channel, currency, price, previous, source, reference}; `source` is a
# PriceChange.Source value (staff, import, automation, api).
VARIANT_PRICE_CHANGED = "variant.price_changed"
CATALOG_IMPORTED = "catalog.imported"  # {created, updated, skipped, file}
# A competitor's price for a variant in a channel differs from its previous observation (or is
# the first one): {variant_id, sku, channel, currency, competitor, competitor_price,
# previous_competitor_price (null the first time), our_price (null when not sold there),
# observed_at (ISO 8601, UTC)}. Subject: the variant.
PRICE_COMPETITOR_CHANGED = "price.competitor_changed"
