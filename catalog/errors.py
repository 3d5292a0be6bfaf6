from django.utils.translation import gettext_lazy as _

from commerce.errors import Conflict, ValidationFailed


class InvalidCatalogData(ValidationFailed):
    """A product, variant or price that breaks a catalogue rule; names the field."""


class CategoryCycle(Conflict):
    code = "category_cycle"
    title = _("A category cannot be moved below itself")
