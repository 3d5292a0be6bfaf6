"""Events the customers app publishes, and the order events it consumes.

Payloads carry ids and what a consumer (automation, webhooks, orders) needs to act without
querying back; personal data only where the consumer needs it to reach the person.
"""

CUSTOMER_CREATED = "customer.created"  # {customer_id, email, channel, guest}
CUSTOMER_REGISTERED = "customer.registered"  # {customer_id, email, channel, language, first_name}
CUSTOMER_UPDATED = "customer.updated"  # {customer_id, fields}
CUSTOMER_MERGED = "customer.merged"  # {survivor_id, duplicate_id}: orders/returns re-point
CUSTOMER_ERASED = "customer.erased"  # {customer_id}: other apps anonymise their copies
CONSENT_CHANGED = "consent.changed"  # {customer_id, medium, granted, source, text_version}
LOYALTY_JOINED = "loyalty.joined"  # {customer_id, account_id, programme}
LOYALTY_TIER_CHANGED = "loyalty.tier_changed"  # {customer_id, from_tier, to_tier, lifetime_points}
LOYALTY_POINTS_CHANGED = "loyalty.points_changed"  # {customer_id, kind, points, balance}

# Consumed (published by `orders` with subject_type "order", subject_id the order id). Payload
# fields this app reads:
# order.paid: {order_id, number, channel, currency, total, customer_id?, email?, phone?,
#              first_name?, last_name?, paid_at}
# order.refunded: {order_id, currency, amount, refunded_total?, refunded_at}
ORDER_PAID = "order.paid"
ORDER_REFUNDED = "order.refunded"
