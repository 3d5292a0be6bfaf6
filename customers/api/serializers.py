from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from commerce.api.serializers import MAX_POINTS
from commerce.models import Channel
from customers.models import (
    Address,
    Consent,
    ConsentChange,
    Customer,
    ExternalIdentifier,
    HistoryEntry,
    LoyaltyAccount,
    Medium,
    PointEntry,
    Segment,
)

PROFILE_INPUT_FIELDS = [
    "first_name",
    "last_name",
    "first_name_reading",
    "last_name_reading",
    "phone",
    "language",
]


def validated(serializer_class, data, **kwargs) -> dict:
    """The input's validated data, or a 400 naming the fields."""
    serializer = serializer_class(data=data, **kwargs)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


class ChannelCodeField(serializers.SlugRelatedField):
    def __init__(self, **kwargs):
        super().__init__(
            slug_field="code", queryset=Channel.objects.filter(is_active=True), **kwargs
        )


# --- Storefront ------------------------------------------------------------------------------


class ProfileSerializer(serializers.ModelSerializer):
    """The signed-in customer's own profile."""

    has_account = serializers.SerializerMethodField()

    class Meta:
        model = Customer
        fields = ["id", "email", *PROFILE_INPUT_FIELDS, "has_account", "acquired_at"]
        read_only_fields = ["id", "has_account", "acquired_at"]
        # The e-mail is how the customer signs in and resets the password: it cannot be blank.
        extra_kwargs = {"email": {"allow_blank": False}}
        validators = []  # the service normalises the e-mail before checking it is free

    def get_has_account(self, obj: Customer) -> bool:
        return obj.user_id is not None


class RegisterInputSerializer(serializers.Serializer):
    email = serializers.CharField(max_length=254)
    password = serializers.CharField(max_length=128, trim_whitespace=False, write_only=True)
    first_name = serializers.CharField(max_length=100, required=False, allow_blank=True)
    last_name = serializers.CharField(max_length=100, required=False, allow_blank=True)
    first_name_reading = serializers.CharField(max_length=100, required=False, allow_blank=True)
    last_name_reading = serializers.CharField(max_length=100, required=False, allow_blank=True)
    phone = serializers.CharField(max_length=30, required=False, allow_blank=True)
    language = serializers.CharField(max_length=10, required=False, allow_blank=True)
    channel = ChannelCodeField(required=False, allow_null=True)
    marketing_consent = serializers.DictField(
        child=serializers.BooleanField(),
        required=False,
        help_text=_('Answers per medium, e.g. {"email": true, "sms": false}.'),
    )
    consent_text_version = serializers.CharField(max_length=50, required=False, allow_blank=True)

    def validate_marketing_consent(self, value):
        unknown = sorted(set(value) - set(Medium.values))
        if unknown:
            raise serializers.ValidationError(
                _("Unknown media: %(unknown)s.") % {"unknown": ", ".join(unknown)}
            )
        return value


class SignInInputSerializer(serializers.Serializer):
    email = serializers.CharField(max_length=254)
    password = serializers.CharField(max_length=128, trim_whitespace=False)


class NewTokenSerializer(serializers.Serializer):
    token = serializers.CharField(
        help_text=_("Send as `Authorization: Token <token>`. Shown once: only a hash is kept.")
    )
    expires_at = serializers.DateTimeField(
        help_text=_(
            "When the token stops working unless used: each use moves it back by "
            "API_TOKEN_CUSTOMER_TTL_DAYS, up to API_TOKEN_CUSTOMER_MAX_DAYS after sign-in."
        )
    )


class SignedInSerializer(NewTokenSerializer):
    customer = ProfileSerializer()


class ConfirmationSentSerializer(serializers.Serializer):
    email = serializers.CharField()
    detail = serializers.CharField()


class PasswordChangeInputSerializer(serializers.Serializer):
    current_password = serializers.CharField(max_length=128, trim_whitespace=False)
    new_password = serializers.CharField(max_length=128, trim_whitespace=False)


class TokenSerializer(serializers.Serializer):
    token = serializers.CharField()


class PasswordResetInputSerializer(serializers.Serializer):
    email = serializers.CharField(max_length=254)


class PasswordResetConfirmInputSerializer(serializers.Serializer):
    uid = serializers.CharField(max_length=64)
    token = serializers.CharField(max_length=128)
    new_password = serializers.CharField(max_length=128, trim_whitespace=False)


class AddressSerializer(serializers.ModelSerializer):
    class Meta:
        model = Address
        fields = [
            "id",
            "first_name",
            "last_name",
            "first_name_reading",
            "last_name_reading",
            "company",
            "line1",
            "line2",
            "city",
            "region",
            "postal_code",
            "country",
            "phone",
            "is_default_shipping",
            "is_default_billing",
        ]
        read_only_fields = ["id"]
        # The service checks and normalises (country codes, phone numbers) with its own errors.
        extra_kwargs = {"country": {"validators": []}}


class ConsentSerializer(serializers.ModelSerializer):
    changed_at = serializers.DateTimeField(
        read_only=True, allow_null=True, help_text=_("Null: never asked.")
    )

    class Meta:
        model = Consent
        fields = ["medium", "granted", "text_version", "changed_at"]


class ConsentInputSerializer(serializers.Serializer):
    medium = serializers.ChoiceField(choices=Medium.choices)
    granted = serializers.BooleanField()
    text_version = serializers.CharField(max_length=50, required=False, allow_blank=True)


class ConsentChangeSerializer(serializers.ModelSerializer):
    class Meta:
        model = ConsentChange
        fields = ["medium", "granted", "source", "text_version", "occurred_at"]


class UnsubscribeInputSerializer(serializers.Serializer):
    token = serializers.CharField(max_length=500)


class UnsubscribedSerializer(serializers.Serializer):
    medium = serializers.CharField()
    granted = serializers.BooleanField()


class TierSerializer(serializers.Serializer):
    name = serializers.CharField()
    threshold = serializers.IntegerField()
    multiplier = serializers.DecimalField(max_digits=4, decimal_places=2)
    benefits = serializers.CharField()


class LoyaltySerializer(serializers.ModelSerializer):
    programme = serializers.CharField(source="programme.name")
    tier = TierSerializer(allow_null=True)
    next_tier = serializers.SerializerMethodField()

    class Meta:
        model = LoyaltyAccount
        fields = ["programme", "balance", "lifetime_points", "tier", "next_tier", "joined_at"]

    def get_next_tier(self, obj: LoyaltyAccount) -> dict | None:
        tier = (
            obj.programme.tiers.filter(threshold__gt=max(obj.lifetime_points, 0))
            .order_by("threshold")
            .first()
        )
        if tier is None:
            return None
        return {"name": tier.name, "points_needed": tier.threshold - obj.lifetime_points}


class PointEntrySerializer(serializers.ModelSerializer):
    class Meta:
        model = PointEntry
        fields = ["id", "kind", "points", "expires_at", "reference", "reason", "created_at"]


# --- Staff -----------------------------------------------------------------------------------


class IdentifierSerializer(serializers.ModelSerializer):
    channel = ChannelCodeField()

    class Meta:
        model = ExternalIdentifier
        fields = ["channel", "kind", "value", "created_at"]
        read_only_fields = ["created_at"]
        validators = []  # the service reports a taken identifier with the customer it belongs to


class StaffCustomerSerializer(serializers.ModelSerializer):
    acquired_channel = serializers.SlugRelatedField(
        slug_field="code", read_only=True, allow_null=True
    )
    tags = serializers.SlugRelatedField(slug_field="name", many=True, read_only=True)
    identifiers = IdentifierSerializer(many=True, read_only=True)
    has_account = serializers.SerializerMethodField()
    loyalty = serializers.SerializerMethodField()
    segments = serializers.SlugRelatedField(slug_field="slug", many=True, read_only=True)

    class Meta:
        model = Customer
        fields = [
            "id",
            "state",
            "merged_into",
            "email",
            "first_name",
            "last_name",
            "first_name_reading",
            "last_name_reading",
            "phone",
            "language",
            "notes",
            "tags",
            "acquired_channel",
            "acquired_at",
            "has_account",
            "identifiers",
            "order_count",
            "first_order_at",
            "last_order_at",
            "primary_currency",
            "lifetime_value",
            "average_order_value",
            "average_days_between_orders",
            "rfm_recency",
            "rfm_frequency",
            "rfm_monetary",
            "rfm_segment",
            "churn_risk",
            "churn_risk_from",
            "loyalty",
            "segments",
        ]

    def get_has_account(self, obj: Customer) -> bool:
        return obj.user_id is not None

    def get_loyalty(self, obj: Customer) -> dict | None:
        account = getattr(obj, "loyalty", None)
        if account is None:
            return None
        return {
            "balance": account.balance,
            "lifetime_points": account.lifetime_points,
            "tier": account.tier.name if account.tier else None,
        }


class StaffCustomerInputSerializer(serializers.Serializer):
    email = serializers.CharField(max_length=254, required=False, allow_blank=True)
    first_name = serializers.CharField(max_length=100, required=False, allow_blank=True)
    last_name = serializers.CharField(max_length=100, required=False, allow_blank=True)
    first_name_reading = serializers.CharField(max_length=100, required=False, allow_blank=True)
    last_name_reading = serializers.CharField(max_length=100, required=False, allow_blank=True)
    phone = serializers.CharField(max_length=30, required=False, allow_blank=True)
    language = serializers.CharField(max_length=10, required=False, allow_blank=True)
    notes = serializers.CharField(required=False, allow_blank=True)
    tags = serializers.ListField(child=serializers.CharField(max_length=50), required=False)
    channel = ChannelCodeField(required=False, allow_null=True)


class FindOrCreateInputSerializer(StaffCustomerInputSerializer):
    pass


class FoundSerializer(serializers.Serializer):
    created = serializers.BooleanField()
    customer = StaffCustomerSerializer()


class MergeInputSerializer(serializers.Serializer):
    duplicate = serializers.PrimaryKeyRelatedField(
        queryset=Customer.objects.all(),
        help_text=_("The profile that is merged into this one and then closed."),
    )


class EraseInputSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=250, required=False, allow_blank=True)


class PointsAdjustInputSerializer(serializers.Serializer):
    points = serializers.IntegerField(min_value=-MAX_POINTS, max_value=MAX_POINTS)
    reason = serializers.CharField(max_length=250)


class PointsRedeemInputSerializer(serializers.Serializer):
    points = serializers.IntegerField(min_value=1, max_value=MAX_POINTS)
    reference = serializers.CharField(
        max_length=64, required=False, allow_blank=True, help_text=_("e.g. a till receipt")
    )
    reason = serializers.CharField(max_length=250, required=False, allow_blank=True)


class HistorySerializer(serializers.ModelSerializer):
    class Meta:
        model = HistoryEntry
        fields = ["kind", "message", "data", "actor", "created_at"]


class SegmentSerializer(serializers.ModelSerializer):
    class Meta:
        model = Segment
        fields = [
            "id",
            "name",
            "slug",
            "description",
            "rule",
            "is_active",
            "member_count",
            "computed_at",
        ]
        read_only_fields = ["id", "member_count", "computed_at"]


class SegmentPreviewInputSerializer(serializers.Serializer):
    rule = serializers.JSONField()


class SegmentPreviewSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    sample = StaffCustomerSerializer(many=True)


class ExportOutputSerializer(serializers.Serializer):
    """Everything held about a person (a subject access request), section by section."""

    exported_at = serializers.DateTimeField()
    profile = serializers.DictField()
    statistics = serializers.DictField()
    identifiers = serializers.ListField(child=serializers.DictField())
    addresses = serializers.ListField(child=serializers.DictField())
    consents = serializers.ListField(child=serializers.DictField())
    purchases = serializers.ListField(child=serializers.DictField())
    loyalty = serializers.DictField(allow_null=True)
    segments = serializers.ListField(child=serializers.CharField())
    history = serializers.ListField(child=serializers.DictField())
