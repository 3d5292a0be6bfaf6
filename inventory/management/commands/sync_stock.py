from inventory.management.commands.import_stock import Command as ImportStockCommand
from inventory.models import StockMovement


class Command(ImportStockCommand):
    help = (
        "Apply an external feed (a WMS or marketplace file, CSV or JSON) of absolute quantities on "
        "hand per SKU and location. Rows already right are left alone; changes go to the ledger "
        "with reason 'sync'."
    )
    reason = StockMovement.Reason.SYNC
