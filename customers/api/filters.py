import django_filters
from django.db.models import Exists, OuterRef
from django.utils.translation import gettext_lazy as _

from customers.models import Consent, Customer, Medium
from customers.selectors import customer_search


class CustomerFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(
        method="search", label=_("Name, reading, e-mail, phone or identifier")
    )
    tier = django_filters.CharFilter(field_name="loyalty__tier__name", label=_("Loyalty tier"))
    segment = django_filters.CharFilter(field_name="segments__slug", label=_("Segment code"))
    tag = django_filters.CharFilter(field_name="tags__name", label=_("Tag"))
    channel = django_filters.CharFilter(field_name="acquired_channel__code")
    opted_in = django_filters.ChoiceFilter(
        choices=Medium.choices, method="filter_opted_in", label=_("Opted in to")
    )
    has_account = django_filters.BooleanFilter(
        field_name="user", lookup_expr="isnull", exclude=True
    )
    updated_since = django_filters.IsoDateTimeFilter(field_name="updated_at", lookup_expr="gte")

    class Meta:
        model = Customer
        fields = ["state", "rfm_segment", "churn_risk", "language"]

    def search(self, queryset, name, value):
        return customer_search(queryset, value)

    def filter_opted_in(self, queryset, name, value):
        return queryset.filter(
            Exists(Consent.objects.filter(customer=OuterRef("pk"), medium=value, granted=True))
        )
