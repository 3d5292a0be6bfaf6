from decimal import Decimal

from rest_framework import serializers

from commerce.models import Channel
from commerce.money import quantize


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
