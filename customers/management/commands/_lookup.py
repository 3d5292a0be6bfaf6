from django.core.management.base import CommandError

from customers.models import Customer
from customers.normalise import normalise_email


def customer_from_arg(value: str) -> Customer:
    """A customer by id or by e-mail (the operator's two ways of naming one)."""
    if value.isdigit():
        customer = Customer.objects.filter(pk=int(value)).first()
    else:
        try:
            email = normalise_email(value)
        except Exception as exc:
            raise CommandError(
                f"{value!r} is neither a customer id nor an e-mail address."
            ) from exc
        customer = Customer.objects.filter(email=email).order_by("state", "-id").first()
    if customer is None:
        raise CommandError(f"No customer {value!r}.")
    return customer
