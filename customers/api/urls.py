from django.urls import path
from rest_framework.routers import SimpleRouter

from customers.api import account
from customers.api.staff import StaffCustomerViewSet, StaffSegmentViewSet

router = SimpleRouter()
router.register("staff/customers", StaffCustomerViewSet, basename="staff-customer")
router.register("staff/segments", StaffSegmentViewSet, basename="staff-segment")

urlpatterns = [
    path("customers/register/", account.RegisterView.as_view(), name="customer-register"),
    path(
        "customers/register/confirm/",
        account.RegisterConfirmView.as_view(),
        name="customer-register-confirm",
    ),
    path("customers/sign-in/", account.SignInView.as_view(), name="customer-sign-in"),
    path("customers/sign-out/", account.SignOutView.as_view(), name="customer-sign-out"),
    path(
        "customers/password-reset/",
        account.PasswordResetView.as_view(),
        name="customer-password-reset",
    ),
    path(
        "customers/password-reset/confirm/",
        account.PasswordResetConfirmView.as_view(),
        name="customer-password-reset-confirm",
    ),
    path("customers/unsubscribe/", account.UnsubscribeView.as_view(), name="customer-unsubscribe"),
    path("customers/me/", account.MeView.as_view(), name="customer-me"),
    path(
        "customers/me/password/",
        account.PasswordChangeView.as_view(),
        name="customer-password-change",
    ),
    path("customers/me/addresses/", account.AddressListView.as_view(), name="customer-addresses"),
    path(
        "customers/me/addresses/<int:pk>/",
        account.AddressDetailView.as_view(),
        name="customer-address-detail",
    ),
    path("customers/me/consents/", account.ConsentView.as_view(), name="customer-consents"),
    path(
        "customers/me/consents/history/",
        account.ConsentHistoryView.as_view(),
        name="customer-consent-history",
    ),
    path("customers/me/loyalty/", account.LoyaltyView.as_view(), name="customer-loyalty"),
    path(
        "customers/me/loyalty/join/",
        account.LoyaltyJoinView.as_view(),
        name="customer-loyalty-join",
    ),
    path(
        "customers/me/loyalty/entries/",
        account.LoyaltyEntriesView.as_view(),
        name="customer-loyalty-entries",
    ),
    path("customers/me/export/", account.ExportView.as_view(), name="customer-export"),
    *router.urls,
]
