"""Every write to customers. Re-exported here so callers import `customers.services`."""

from customers.services.accounts import (
    SignedIn,
    account_authenticate,
    account_change_password,
    account_register,
    account_sign_out,
    password_reset_confirm,
    password_reset_request,
)
from customers.services.consent import (
    consent_set,
    consent_states,
    unsubscribe,
    unsubscribe_read,
    unsubscribe_token,
)
from customers.services.loyalty import (
    loyalty_join,
    loyalty_recount,
    points_adjust,
    points_expire_due,
    points_redeem,
    programme_active,
)
from customers.services.merge import customer_merge
from customers.services.privacy import customer_erase, customer_export
from customers.services.profiles import (
    address_create,
    address_delete,
    address_update,
    customer_create,
    customer_find,
    customer_find_by_identifier,
    customer_find_or_create,
    customer_get_active,
    customer_resolve,
    customer_set_tags,
    customer_update,
    history_add,
    identifier_add,
)
from customers.services.purchases import purchase_record, purchase_refund, stats_refresh

__all__ = [
    "SignedIn",
    "account_authenticate",
    "account_change_password",
    "account_register",
    "account_sign_out",
    "address_create",
    "address_delete",
    "address_update",
    "consent_set",
    "consent_states",
    "customer_create",
    "customer_erase",
    "customer_export",
    "customer_find",
    "customer_find_by_identifier",
    "customer_find_or_create",
    "customer_get_active",
    "customer_merge",
    "customer_resolve",
    "customer_set_tags",
    "customer_update",
    "history_add",
    "identifier_add",
    "loyalty_join",
    "loyalty_recount",
    "password_reset_confirm",
    "password_reset_request",
    "points_adjust",
    "points_expire_due",
    "points_redeem",
    "programme_active",
    "purchase_record",
    "purchase_refund",
    "stats_refresh",
    "unsubscribe",
    "unsubscribe_read",
    "unsubscribe_token",
]
