from decimal import Decimal

from rest_framework import serializers

from commerce.models import Channel
from commerce.money import quantize

# Bounds for integer input. A value past its column's range would end in a database error (a
# 500); these keep every integer a client sends far inside PostgreSQL's 32-bit `integer`.
# Units in one stock movement or order line: more than any real count or delivery.
MAX_UNITS = 1_000_000
# Loyalty points moved by one adjustment or redemption.
MAX_POINTS = 10_000_000
# Grams, positions and other small counters stored as `integer`.
MAX_INT32 = 2_147_483_647
# Row ids (`bigint`).
MAX_ID = 9_223_372_036_854_775_807


class ChannelOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = Channel
        fields = [
            "code",
            "name",
            "kind",
            "currency",
            "prices_include_tax",
            "time_zone",
            "default_language",
            "country",
        ]


def money_json(amount: Decimal | None, currency: str) -> dict | None:
    if amount is None:
        return None
    return {"amount": str(quantize(amount, currency)), "currency": currency}
