"""The page behind the unsubscribe link in marketing messages: no sign-in needed.

GET shows what will stop and a button; POST opts out. Mail providers' one-click unsubscribe
(RFC 8058) POSTs to the same address without a CSRF token, hence csrf_exempt: the signed token in
the address is the proof.
"""

from django.conf import settings
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt

from commerce.errors import ValidationFailed
from customers import services
from customers.models import Customer, Medium


def unsubscribe_url(customer: Customer, medium: str) -> str:
    token = services.unsubscribe_token(customer, medium)
    return settings.SITE_URL.rstrip("/") + reverse("customer-unsubscribe-page", args=[token])


@csrf_exempt
def unsubscribe_page(request, token: str):
    try:
        customer, medium = services.unsubscribe_read(token)
    except ValidationFailed:
        return render(request, "customers/unsubscribe.html", {"invalid": True}, status=400)
    done = False
    if request.method == "POST":
        customer, medium = services.unsubscribe(token)
        done = True
    context = {"medium": Medium(medium).label, "done": done, "email": customer.email}
    return render(request, "customers/unsubscribe.html", context)
