from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class InventoryConfig(AppConfig):
    name = "inventory"
    verbose_name = _("Inventory")

    def ready(self) -> None:
        from catalog.availability import register_provider
        from inventory.availability import InventoryAvailability

        register_provider(InventoryAvailability())
