"""The client's address, read the same way DRF's throttles read it (NUM_PROXIES).

Login lockouts (django-axes) and request throttles must agree on who the client is: if one
trusted X-Forwarded-For and the other did not, a client could dodge one of them by making up the
header. With NUM_PROXIES=0 the header is ignored; behind N proxies that each append the address
they saw, the N-th address from the right is the one the first trusted proxy saw.
"""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest


def client_ip(request: HttpRequest) -> str:
    remote_addr = request.META.get("REMOTE_ADDR", "") or ""
    num_proxies = settings.REST_FRAMEWORK.get("NUM_PROXIES")
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR")
    if not num_proxies or not forwarded:
        return remote_addr
    addresses = [part.strip() for part in forwarded.split(",") if part.strip()]
    if not addresses:
        return remote_addr
    return addresses[-min(num_proxies, len(addresses))]
