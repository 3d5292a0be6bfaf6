"""Storefront account endpoints: `/api/v1/customers/...`, for the signed-in customer only.

Everything is looked up through `request.customer`: another customer's address id is simply
not found (404), never forbidden, so ids reveal nothing.
"""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.generics import GenericAPIView, ListAPIView
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from commerce.api.schema import ProblemSerializer
from customers import services
from customers.api import lockout
from customers.api.permissions import IsCustomer, SignInThrottle
from customers.api.serializers import (
    PROFILE_INPUT_FIELDS,
    AddressSerializer,
    ConfirmationSentSerializer,
    ConsentChangeSerializer,
    ConsentInputSerializer,
    ConsentSerializer,
    ExportOutputSerializer,
    LoyaltySerializer,
    NewTokenSerializer,
    PasswordChangeInputSerializer,
    PasswordResetConfirmInputSerializer,
    PasswordResetInputSerializer,
    PointEntrySerializer,
    ProfileSerializer,
    RegisterInputSerializer,
    SignedInSerializer,
    SignInInputSerializer,
    TokenSerializer,
    UnsubscribedSerializer,
    UnsubscribeInputSerializer,
    validated,
)
from customers.models import (
    Address,
    Consent,
    ConsentChange,
    ConsentSource,
    LoyaltyAccount,
    PointEntry,
)

TAG = ["storefront: account"]


@extend_schema(
    tags=TAG,
    request=RegisterInputSerializer,
    responses={201: SignedInSerializer, 202: ConfirmationSentSerializer},
)
class RegisterView(APIView):
    """Create an account: 201 with a token for a new e-mail address. 202 when the address
    ordered before as a guest: a link is e-mailed, and opening it (`register/confirm/`) joins
    the account to that profile, so nobody gets another person's history by typing their
    e-mail."""

    permission_classes = [AllowAny]
    authentication_classes = []
    throttle_classes = [SignInThrottle]
    throttle_scope = "customer_register"

    def post(self, request):
        d = validated(RegisterInputSerializer, request.data)
        result = services.account_register(
            email=d.pop("email"),
            password=d.pop("password"),
            channel=d.pop("channel", None),
            marketing_consent=d.pop("marketing_consent", None),
            consent_text_version=d.pop("consent_text_version", ""),
            **d,
        )
        if isinstance(result, services.ConfirmationSent):
            return Response(
                {
                    "email": result.email,
                    "detail": _("Check your e-mail: open the link in it to finish."),
                },
                status=status.HTTP_202_ACCEPTED,
            )
        return Response(_signed_in_body(result), status=status.HTTP_201_CREATED)


@extend_schema(tags=TAG, request=TokenSerializer, responses={201: SignedInSerializer})
class RegisterConfirmView(APIView):
    """Finish an account with the e-mailed link's token (valid once, for a limited time)."""

    permission_classes = [AllowAny]
    authentication_classes = []
    throttle_classes = [SignInThrottle]
    throttle_scope = "password_reset_confirm"

    def post(self, request):
        d = validated(TokenSerializer, request.data)
        signed_in = services.account_confirm(token=d["token"])
        return Response(_signed_in_body(signed_in), status=status.HTTP_201_CREATED)


def _signed_in_body(signed_in: services.SignedIn) -> dict:
    return {
        "token": signed_in.token,
        "expires_at": signed_in.expires_at,
        "customer": ProfileSerializer(signed_in.customer).data,
    }


@extend_schema(
    tags=TAG,
    request=SignInInputSerializer,
    responses={200: SignedInSerializer, 401: ProblemSerializer},
)
class SignInView(APIView):
    """Exchange e-mail and password for a token that expires (`expires_at`; each use pushes it
    back). Throttled per client address; after AXES_FAILURE_LIMIT wrong passwords for one e-mail
    from one address, that pair is locked for AXES_COOLOFF_TIME: 429 `sign_in_locked` with
    Retry-After, even for the right password."""

    permission_classes = [AllowAny]
    authentication_classes = []
    throttle_classes = [SignInThrottle]
    throttle_scope = "customer_sign_in"

    def post(self, request):
        d = validated(SignInInputSerializer, request.data)
        signed_in = lockout.sign_in(request, email=d["email"], password=d["password"])
        return Response(_signed_in_body(signed_in))


@extend_schema(tags=TAG, request=None, responses={204: None})
class SignOutView(APIView):
    """End every session of this account (the token stops working)."""

    permission_classes = [IsCustomer]

    def post(self, request):
        services.account_sign_out(user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema(tags=TAG, request=PasswordChangeInputSerializer, responses=NewTokenSerializer)
class PasswordChangeView(APIView):
    """Change the password; the answer carries a new token, the old ones stop working."""

    permission_classes = [IsCustomer]

    def post(self, request):
        d = validated(PasswordChangeInputSerializer, request.data)
        signed_in = services.account_change_password(
            customer=request.customer,
            current_password=d["current_password"],
            new_password=d["new_password"],
        )
        return Response({"token": signed_in.token, "expires_at": signed_in.expires_at})


@extend_schema(tags=TAG, request=PasswordResetInputSerializer, responses={202: None})
class PasswordResetView(APIView):
    """Send a reset link if the address has an account. The answer is the same either way."""

    permission_classes = [AllowAny]
    authentication_classes = []
    throttle_classes = [SignInThrottle]
    throttle_scope = "password_reset"

    def post(self, request):
        d = validated(PasswordResetInputSerializer, request.data)
        services.password_reset_request(email=d["email"])
        return Response(status=status.HTTP_202_ACCEPTED)


@extend_schema(tags=TAG, request=PasswordResetConfirmInputSerializer, responses={204: None})
class PasswordResetConfirmView(APIView):
    """Set a new password with the link's uid and token (valid once, for a limited time)."""

    permission_classes = [AllowAny]
    authentication_classes = []
    throttle_classes = [SignInThrottle]
    throttle_scope = "password_reset_confirm"

    def post(self, request):
        d = validated(PasswordResetConfirmInputSerializer, request.data)
        services.password_reset_confirm(
            uid=d["uid"], token=d["token"], new_password=d["new_password"]
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema(tags=TAG)
class MeView(GenericAPIView):
    """The signed-in customer's profile."""

    permission_classes = [IsCustomer]
    serializer_class = ProfileSerializer

    def get(self, request):
        return Response(ProfileSerializer(request.customer).data)

    def patch(self, request):
        d = validated(ProfileSerializer, request.data, partial=True)
        fields = {k: v for k, v in d.items() if k in {"email", *PROFILE_INPUT_FIELDS}}
        customer = services.customer_update(request.customer, actor="customer", **fields)
        return Response(ProfileSerializer(customer).data)


@extend_schema(tags=TAG)
class AddressListView(GenericAPIView):
    """The customer's address book. The first address becomes the default for both."""

    permission_classes = [IsCustomer]
    serializer_class = AddressSerializer
    queryset = Address.objects.none()
    pagination_class = None

    @extend_schema(
        operation_id="v1_customers_me_addresses_list", responses=AddressSerializer(many=True)
    )
    def get(self, request):
        return Response(AddressSerializer(request.customer.addresses.all(), many=True).data)

    @extend_schema(responses={201: AddressSerializer})
    def post(self, request):
        d = validated(AddressSerializer, request.data)
        address = services.address_create(request.customer, **d)
        return Response(AddressSerializer(address).data, status=status.HTTP_201_CREATED)


@extend_schema(tags=TAG)
class AddressDetailView(GenericAPIView):
    """One of the customer's addresses; another customer's is not found."""

    permission_classes = [IsCustomer]
    serializer_class = AddressSerializer
    queryset = Address.objects.none()

    def get_object(self) -> Address:
        return get_object_or_404(Address, pk=self.kwargs["pk"], customer=self.request.customer)

    def get(self, request, pk):
        return Response(AddressSerializer(self.get_object()).data)

    def patch(self, request, pk):
        address = self.get_object()
        d = validated(AddressSerializer, request.data, partial=True)
        address = services.address_update(address, **d)
        return Response(AddressSerializer(address).data)

    def delete(self, request, pk):
        services.address_delete(self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema(tags=TAG)
class ConsentView(GenericAPIView):
    """Marketing consent per medium (e-mail, SMS, LINE, post). Never asked means no."""

    permission_classes = [IsCustomer]
    serializer_class = ConsentSerializer
    queryset = Consent.objects.none()
    pagination_class = None

    @extend_schema(responses=ConsentSerializer(many=True))
    def get(self, request):
        return Response(self._states(request.customer))

    @extend_schema(request=ConsentInputSerializer, responses=ConsentSerializer(many=True))
    def post(self, request):
        d = validated(ConsentInputSerializer, request.data)
        services.consent_set(
            request.customer,
            medium=d["medium"],
            granted=d["granted"],
            text_version=d.get("text_version", ""),
            source=ConsentSource.STOREFRONT,
            actor="customer",
        )
        return Response(self._states(request.customer))

    @staticmethod
    def _states(customer) -> list[dict]:
        return [
            ConsentSerializer(consent).data
            if consent is not None
            else {"medium": medium, "granted": False, "text_version": "", "changed_at": None}
            for medium, consent in services.consent_states(customer).items()
        ]


@extend_schema(tags=TAG)
class ConsentHistoryView(ListAPIView):
    """Every change of the customer's consent, newest first."""

    permission_classes = [IsCustomer]
    serializer_class = ConsentChangeSerializer

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return ConsentChange.objects.none()
        return self.request.customer.consent_changes.all()


@extend_schema(tags=TAG, request=UnsubscribeInputSerializer, responses=UnsubscribedSerializer)
class UnsubscribeView(APIView):
    """Opt out with the signed token from a message's unsubscribe link; no sign-in needed."""

    permission_classes = [AllowAny]
    authentication_classes = []

    def post(self, request):
        d = validated(UnsubscribeInputSerializer, request.data)
        _customer, medium = services.unsubscribe(d["token"])
        return Response({"medium": medium, "granted": False})


@extend_schema(tags=TAG, responses={200: LoyaltySerializer, 404: ProblemSerializer})
class LoyaltyView(GenericAPIView):
    """Points balance, tier and the next tier; 404 until the customer joins."""

    permission_classes = [IsCustomer]
    serializer_class = LoyaltySerializer

    def get(self, request):
        account = get_object_or_404(
            LoyaltyAccount.objects.select_related("programme", "tier"), customer=request.customer
        )
        return Response(LoyaltySerializer(account).data)


@extend_schema(tags=TAG, request=None, responses={201: LoyaltySerializer, 200: LoyaltySerializer})
class LoyaltyJoinView(APIView):
    permission_classes = [IsCustomer]

    def post(self, request):
        account, created = services.loyalty_join(request.customer, actor="customer")
        return Response(
            LoyaltySerializer(account).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )


@extend_schema(tags=TAG)
class LoyaltyEntriesView(ListAPIView):
    """The customer's point history, newest first."""

    permission_classes = [IsCustomer]
    serializer_class = PointEntrySerializer

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return PointEntry.objects.none()
        return PointEntry.objects.filter(account__customer=self.request.customer)


@extend_schema(tags=TAG, responses=ExportOutputSerializer)
class ExportView(APIView):
    """Everything the shop holds about the signed-in customer, as JSON."""

    permission_classes = [IsCustomer]

    def get(self, request):
        return Response(services.customer_export(request.customer))
