import django_filters
from django.db.models import F
from django.utils.translation import gettext_lazy as _

from catalog import availability
from catalog.models import CompetitorPrice
from catalog.selectors import (
    category_descendant_ids,
    category_get,
    product_filter_by_attributes,
    product_search,
)
from commerce.selectors import channel_get_active


class StorefrontProductFilter(django_filters.FilterSet):
    repeatable = ("attr",)  # one attr= per attribute filter (commerce.api.filters)

    category = django_filters.CharFilter(
        method="filter_category", label=_("Category slug or id; includes its subcategories")
    )
    attr = django_filters.CharFilter(
        method="filter_attributes",
        label=_("Attribute filter code:value, code:a|b or code:min..max; repeat for several"),
    )
    price_min = django_filters.NumberFilter(
        field_name="price_from", lookup_expr="gte", label=_("Lowest price")
    )
    price_max = django_filters.NumberFilter(
        field_name="price_from", lookup_expr="lte", label=_("Highest price")
    )
    q = django_filters.CharFilter(
        method="filter_search", label=_("Search name, SKU, barcode and description")
    )
    in_stock = django_filters.BooleanFilter(
        method="filter_in_stock",
        label=_("Only products with a variant sellable in this channel now"),
    )
    sort = django_filters.ChoiceFilter(
        method="filter_sort",
        choices=[
            ("price", _("Price, low to high")),
            ("-price", _("Price, high to low")),
            ("name", _("Name, A to Z")),
            ("-name", _("Name, Z to A")),
            ("newest", _("Newest first")),
            ("relevance", _("Best match (with q)")),
        ],
        label=_("Sort order"),
    )

    def filter_category(self, queryset, name, value):
        category = category_get(identifier=value)
        return queryset.filter(category_id__in=category_descendant_ids(category=category))

    def filter_attributes(self, queryset, name, value):
        return product_filter_by_attributes(queryset, specs=self.data.getlist("attr"))

    def filter_in_stock(self, queryset, name, value):
        provider = availability.provider()
        if provider is None:
            return queryset
        channel = channel_get_active(code=self.request.parser_context["kwargs"]["channel"])
        condition = provider.in_stock_condition(channel=channel)
        return queryset.filter(condition) if value else queryset.exclude(condition)

    def filter_search(self, queryset, name, value):
        return product_search(queryset, text=value)

    def filter_sort(self, queryset, name, value):
        return queryset  # applied last, in filter_queryset, once every annotation exists

    def filter_queryset(self, queryset):
        queryset = super().filter_queryset(queryset)
        sort = self.form.cleaned_data.get("sort") or (
            "relevance" if self.form.cleaned_data.get("q") else "name"
        )
        order = {
            "price": [F("price_from").asc(), "pk"],
            "-price": [F("price_from").desc(), "-pk"],
            "name": ["name", "pk"],
            "-name": ["-name", "-pk"],
            "newest": ["-created_at", "-pk"],
            "relevance": (
                ["-search_rank", "name", "pk"]
                if "search_rank" in queryset.query.annotations
                else ["name", "pk"]
            ),
        }[sort]
        return queryset.order_by(*order)


class CompetitorPriceFilter(django_filters.FilterSet):
    sku = django_filters.CharFilter(field_name="variant__sku", label=_("Variant SKU"))
    channel = django_filters.CharFilter(field_name="channel__code", label=_("Channel code"))
    competitor = django_filters.CharFilter(
        method="filter_competitor", label=_("Competitor code, e.g. amazon-jp")
    )

    class Meta:
        model = CompetitorPrice
        fields = ["sku", "channel", "competitor"]

    def filter_competitor(self, queryset, name, value):
        return queryset.filter(competitor=value.strip().lower()) if value else queryset
