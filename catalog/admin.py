"""The catalogue back office. Saves and actions go through `catalog.services`, so the admin
publishes the same events and keeps prices and search current exactly as the API does."""

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ActionForm
from django.db import DatabaseError
from django.db.models import Count
from django.http import StreamingHttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.translation import gettext_lazy as _

from catalog import services
from catalog.errors import InvalidCatalogData
from catalog.importing import (
    catalog_export_numeric,
    catalog_export_rows,
    catalog_import,
    open_text,
)
from catalog.models import (
    Attribute,
    AttributeChoice,
    BundleComponent,
    Category,
    CompetitorPrice,
    PriceChange,
    Product,
    ProductAttributeValue,
    ProductChannelListing,
    ProductImage,
    ProductType,
    ProductVariant,
    TaxClass,
    VariantAttributeValue,
    VariantChannelListing,
)
from commerce.admin_panels import panels_for
from commerce.csvsafe import csv_writer
from commerce.models import Channel
from commerce.money import quantize


def _start_formset_log(formset) -> None:
    """A formset saved through services instead of `formset.save()` must still say what it
    saved: the admin's change message (and history) reads these three lists."""
    formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []


def _log_formset_save(formset, row_form, saved) -> None:
    if row_form.instance.pk is None or row_form.instance.pk != saved.pk:
        formset.new_objects.append(saved)
    else:
        formset.changed_objects.append((saved, row_form.changed_data))


class _Echo:
    def write(self, value):
        return value


def csv_response(rows, filename: str) -> StreamingHttpResponse:
    """The catalogue export as a download; formula-like text is escaped (commerce.csvsafe)."""
    writer = csv_writer(_Echo(), numeric=catalog_export_numeric)
    response = StreamingHttpResponse(
        (writer.writerow(row) for row in rows), content_type="text/csv; charset=utf-8"
    )
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@admin.register(Category)
class CategoryAdmin(admin.ModelAdmin):
    list_display = ["indented_name", "slug", "position"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}
    autocomplete_fields = ["parent"]

    @admin.display(description=_("name"), ordering="path")
    def indented_name(self, obj):
        return "— " * obj.depth + obj.name

    def save_model(self, request, obj, form, change):
        fields = {
            name: form.cleaned_data[name]
            for name in ("name", "slug", "parent", "description", "position")
        }
        if change:
            services.category_update(category=obj, **fields)
        else:
            obj.pk = services.category_create(**fields).pk


class AttributeChoiceInline(admin.TabularInline):
    model = AttributeChoice
    extra = 1
    prepopulated_fields = {"slug": ["name"]}


@admin.register(Attribute)
class AttributeAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "type", "unit", "filterable"]
    list_filter = ["type", "filterable"]
    search_fields = ["code", "name"]
    inlines = [AttributeChoiceInline]


@admin.register(ProductType)
class ProductTypeAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "is_shipping_required"]
    search_fields = ["name", "slug"]
    filter_horizontal = ["product_attributes", "variant_attributes"]
    prepopulated_fields = {"slug": ["name"]}


@admin.register(TaxClass)
class TaxClassAdmin(admin.ModelAdmin):
    list_display = ["code", "name"]


class ChannelActionForm(ActionForm):
    channel = forms.ModelChoiceField(
        queryset=Channel.objects.filter(is_active=True),
        required=False,
        label=_("Channel"),
        empty_label=_("(channel for publish / unpublish)"),
    )


class ProductChannelListingInline(admin.TabularInline):
    model = ProductChannelListing
    extra = 0
    fields = [
        "channel",
        "is_published",
        "visible_in_listings",
        "available_from",
        "available_until",
        "price_from",
    ]
    readonly_fields = ["price_from"]


class ProductVariantInline(admin.TabularInline):
    model = ProductVariant
    extra = 0
    fields = ["sku", "name", "barcode", "weight_grams", "position"]
    show_change_link = True


class ProductAttributeValueInline(admin.TabularInline):
    model = ProductAttributeValue
    extra = 0
    fields = ["attribute", "choice", "text", "number", "boolean"]
    autocomplete_fields = ["choice"]


class ProductImageInline(admin.TabularInline):
    model = ProductImage
    extra = 0


class PublishedInFilter(admin.SimpleListFilter):
    title = _("published in")
    parameter_name = "published_in"

    def lookups(self, request, model_admin):
        return [(c.code, c.name) for c in Channel.objects.all()]

    def queryset(self, request, queryset):
        if self.value():
            return queryset.filter(
                channel_listings__channel__code=self.value(), channel_listings__is_published=True
            )
        return queryset


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "category", "product_type", "variant_count", "updated_at"]
    list_filter = [PublishedInFilter, "product_type", "category", "tax_class"]
    search_fields = ["name", "slug", "variants__sku", "variants__barcode"]
    list_select_related = ["category", "product_type"]
    prepopulated_fields = {"slug": ["name"]}
    autocomplete_fields = ["category"]
    inlines = [
        ProductChannelListingInline,
        ProductVariantInline,
        ProductAttributeValueInline,
        ProductImageInline,
    ]
    actions = ["publish", "unpublish", "export_selected"]
    action_form = ChannelActionForm
    change_list_template = "admin/catalog/product/change_list.html"
    change_form_template = "admin/catalog/product/change_form.html"
    show_full_result_count = False

    def change_view(self, request, object_id, form_url="", extra_context=None):
        # Apps above the catalogue (automation's run log) add their panels to this page.
        product = self.get_object(request, object_id) if object_id else None
        extra_context = {
            **(extra_context or {}),
            "extra_panels": panels_for("product", request, product) if product else [],
        }
        return super().change_view(request, object_id, form_url, extra_context)

    def get_queryset(self, request):
        # distinct: a search by SKU joins the variants a second time and would multiply the count
        return (
            super().get_queryset(request).annotate(variant_total=Count("variants", distinct=True))
        )

    @admin.display(description=_("variants"), ordering="variant_total")
    def variant_count(self, obj):
        return obj.variant_total

    def get_search_results(self, request, queryset, search_term):
        queryset, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        return queryset.distinct() if may_have_duplicates else queryset, False

    def save_model(self, request, obj, form, change):
        fields = {
            n: form.cleaned_data[n]
            for n in ("product_type", "name", "slug", "category", "tax_class", "description")
        }
        if change:
            # `obj` already holds the form's values; the service compares with the stored row
            # to tell what changed (and so whether to publish product.updated).
            services.product_update(product=Product.objects.get(pk=obj.pk), **fields)
        else:
            obj.pk = services.product_create(**fields).pk

    def save_formset(self, request, form, formset, change):
        if formset.model is not ProductChannelListing:
            super().save_formset(request, form, formset, change)
            return
        _start_formset_log(formset)
        for deleted in formset.deleted_forms:
            if deleted.instance.pk:
                deleted.instance.delete()
                formset.deleted_objects.append(deleted.instance)
        for listing_form in formset.forms:
            if listing_form in formset.deleted_forms or not listing_form.has_changed():
                continue
            data = listing_form.cleaned_data
            listing = services.product_listing_set(
                product=form.instance,
                channel=data["channel"],
                is_published=data["is_published"],
                visible_in_listings=data["visible_in_listings"],
                available_from=data["available_from"],
                available_until=data["available_until"],
            )
            _log_formset_save(formset, listing_form, listing)

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        services.product_refresh_search_document(product_ids=[form.instance.pk])
        services.product_refresh_price_from(product_ids=[form.instance.pk])

    def _set_published(self, request, queryset, is_published: bool):
        channel = request.POST.get("channel")
        channel = Channel.objects.filter(pk=channel).first() if channel else None
        if channel is None:
            self.message_user(request, _("Choose a channel next to the action."), messages.ERROR)
            return
        changed = services.product_publish_bulk(
            product_ids=queryset.values_list("pk", flat=True),
            channel=channel,
            is_published=is_published,
        )
        unchanged = queryset.count() - changed
        self.message_user(
            request,
            _("%(changed)s product(s) changed in %(channel)s; %(unchanged)s already were.")
            % {"changed": changed, "channel": channel.name, "unchanged": unchanged},
            messages.SUCCESS,
        )

    @admin.action(description=_("Publish selected products in the channel"), permissions=["change"])
    def publish(self, request, queryset):
        self._set_published(request, queryset, True)

    @admin.action(
        description=_("Unpublish selected products in the channel"), permissions=["change"]
    )
    def unpublish(self, request, queryset):
        self._set_published(request, queryset, False)

    @admin.action(description=_("Export selected products as CSV"), permissions=["view"])
    def export_selected(self, request, queryset):
        return csv_response(
            catalog_export_rows(product_ids=queryset.values_list("pk", flat=True)), "catalogue.csv"
        )

    def get_urls(self):
        return [
            path(
                "import/",
                self.admin_site.admin_view(self.import_view),
                name="catalog_product_import",
            ),
            path(
                "export/",
                self.admin_site.admin_view(self.export_view),
                name="catalog_product_export",
            ),
            *super().get_urls(),
        ]

    def export_view(self, request):
        if not self.has_view_permission(request):
            return redirect("admin:index")
        return csv_response(catalog_export_rows(), "catalogue.csv")

    def import_view(self, request):
        if not (self.has_add_permission(request) and self.has_change_permission(request)):
            return redirect("admin:index")
        form = CatalogImportForm(request.POST or None, request.FILES or None)
        report = None
        if request.method == "POST" and form.is_valid():
            upload = form.cleaned_data["file"]
            try:
                report = catalog_import(
                    open_stream=open_text(upload.file, encoding=form.cleaned_data["encoding"]),
                    dry_run=form.cleaned_data["dry_run"],
                    skip_bad_rows=form.cleaned_data["skip_bad_rows"],
                    source=upload.name,
                    changed_by=request.user,
                )
            except UnicodeDecodeError:
                form.add_error("encoding", _("The file is not in this encoding."))
            except DatabaseError as error:  # the import's one transaction rolled back whole
                form.add_error(
                    None,
                    _("The database refused the import, nothing was written: %(error)s")
                    % {"error": (str(error).strip().splitlines() or [""])[0]},
                )
            else:
                if report.undecodable_rows:  # the rows say which; the form says what to try
                    form.add_error("encoding", _("The file is not in this encoding."))
                level = (
                    messages.SUCCESS
                    if report.written or (report.ok and report.dry_run)
                    else messages.ERROR
                )
                self.message_user(request, report.summary(), level)
                if report.written and report.ok:
                    return redirect(reverse("admin:catalog_product_changelist"))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "form": form,
            "report": report,
            "title": _("Import products from CSV"),
        }
        return TemplateResponse(request, "admin/catalog/product/import.html", context)


class CatalogImportForm(forms.Form):
    file = forms.FileField(label=_("CSV file"))
    encoding = forms.ChoiceField(
        label=_("Encoding"), choices=[("utf-8-sig", "UTF-8"), ("cp932", "Shift_JIS (Excel, Japan)")]
    )
    dry_run = forms.BooleanField(label=_("Only check the file"), required=False, initial=True)
    skip_bad_rows = forms.BooleanField(
        label=_("Import good rows and skip bad ones"), required=False
    )


class VariantPriceForm(forms.ModelForm):
    class Meta:
        model = VariantChannelListing
        fields = ["channel", "price", "compare_at_price"]

    def clean(self):
        data = super().clean()
        if data.get("channel") and data.get("price") is not None:
            try:
                services.price_validate(
                    price=data["price"],
                    compare_at_price=data.get("compare_at_price"),
                    currency=data["channel"].currency,
                )
            except InvalidCatalogData as error:
                for field, field_errors in error.errors.items():
                    self.add_error(field, field_errors)
        return data


class VariantPriceInline(admin.TabularInline):
    model = VariantChannelListing
    form = VariantPriceForm
    extra = 0
    verbose_name = _("price in a channel")


class VariantAttributeValueInline(admin.TabularInline):
    model = VariantAttributeValue
    extra = 0
    fields = ["attribute", "choice", "text", "number", "boolean"]
    autocomplete_fields = ["choice"]


class BundleComponentInline(admin.TabularInline):
    model = BundleComponent
    fk_name = "bundle"
    extra = 0
    autocomplete_fields = ["component"]
    verbose_name = _("bundle component")


@admin.register(ProductVariant)
class ProductVariantAdmin(admin.ModelAdmin):
    list_display = ["sku", "name", "product", "barcode", "weight_grams"]
    search_fields = ["sku", "barcode", "name", "product__name"]
    list_select_related = ["product"]
    autocomplete_fields = ["product"]
    inlines = [VariantPriceInline, VariantAttributeValueInline, BundleComponentInline]
    show_full_result_count = False

    def save_model(self, request, obj, form, change):
        fields = {
            n: form.cleaned_data[n] for n in ("sku", "name", "barcode", "weight_grams", "position")
        }
        if change:
            services.variant_update(variant=obj, **fields)
        else:
            obj.pk = services.variant_create(product=form.cleaned_data["product"], **fields).pk

    def save_formset(self, request, form, formset, change):
        if formset.model is not VariantChannelListing:
            super().save_formset(request, form, formset, change)
            return
        _start_formset_log(formset)
        for deleted in formset.deleted_forms:
            if deleted.instance.pk:
                services.variant_price_remove(
                    variant=form.instance, channel=deleted.instance.channel
                )
                formset.deleted_objects.append(deleted.instance)
        for price_form in formset.forms:
            if price_form in formset.deleted_forms or not price_form.has_changed():
                continue
            data = price_form.cleaned_data
            price = services.variant_price_set(
                variant=form.instance,
                channel=data["channel"],
                price=data["price"],
                compare_at_price=data.get("compare_at_price"),
                source=PriceChange.Source.STAFF,
                changed_by=request.user,
            )
            _log_formset_save(formset, price_form, price)


@admin.register(AttributeChoice)
class AttributeChoiceAdmin(admin.ModelAdmin):
    search_fields = ["name", "slug", "attribute__code"]
    list_display = ["attribute", "name", "slug"]

    def has_module_permission(self, request):
        return False  # reached through autocomplete and the attribute page


class _ReadOnlyAdmin(admin.ModelAdmin):
    """History: rows are written by the services only, and never edited or removed here."""

    show_full_result_count = False

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(CompetitorPrice)
class CompetitorPriceAdmin(_ReadOnlyAdmin):
    list_display = ["observed_at", "sku", "channel", "competitor", "amount", "created_at"]
    list_filter = ["competitor", "channel"]
    search_fields = ["variant__sku"]
    list_select_related = ["variant", "channel"]
    date_hierarchy = "observed_at"

    @admin.display(description=_("SKU"), ordering="variant__sku")
    def sku(self, obj):
        return obj.variant.sku

    @admin.display(description=_("price"), ordering="price")
    def amount(self, obj):
        return f"{quantize(obj.price, obj.currency)} {obj.currency}"


@admin.register(PriceChange)
class PriceChangeAdmin(_ReadOnlyAdmin):
    list_display = [
        "changed_at",
        "sku",
        "channel",
        "previous_amount",
        "amount",
        "source",
        "reference",
        "changed_by",
    ]
    list_filter = ["source", "channel"]
    search_fields = ["variant__sku", "reference"]
    list_select_related = ["variant", "channel", "changed_by"]
    date_hierarchy = "changed_at"

    @admin.display(description=_("SKU"), ordering="variant__sku")
    def sku(self, obj):
        return obj.variant.sku

    @admin.display(description=_("previous price"), ordering="previous")
    def previous_amount(self, obj):
        if obj.previous is None:
            return "-"
        return f"{quantize(obj.previous, obj.currency)} {obj.currency}"

    @admin.display(description=_("price"), ordering="price")
    def amount(self, obj):
        return f"{quantize(obj.price, obj.currency)} {obj.currency}"
