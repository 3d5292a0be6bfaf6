from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import gettext as _

from commerce.errors import DomainError
from inventory.services import (
    location_get,
    replenishment_create_purchase_orders,
    replenishment_suggestions,
)


class Command(BaseCommand):
    help = (
        "List what to reorder (demand over a window, supplier lead time, safety stock, stock on "
        "order) and optionally create draft purchase orders, one per supplier and location."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--location", metavar="CODE", help="Only this stock location.")
        parser.add_argument(
            "--window-days",
            type=int,
            metavar="N",
            help="Days of demand to look at (default: INVENTORY_DEMAND_WINDOW_DAYS).",
        )
        parser.add_argument(
            "--create-orders",
            action="store_true",
            help="Create draft purchase orders for the suggestions that have a supplier.",
        )

    def handle(self, *args, **options):
        try:
            location = location_get(code=options["location"]) if options["location"] else None
            suggestions = replenishment_suggestions(
                location=location, window_days=options["window_days"]
            )
            if not suggestions:
                self.stdout.write(_("No replenishment needed."))
                return
            self.stdout.write(_table(suggestions))
            if options["create_orders"]:
                orders = replenishment_create_purchase_orders(suggestions=suggestions)
                for order in orders:
                    self.stdout.write(
                        _("Created %(number)s: %(supplier)s to %(location)s, %(lines)s line(s).")
                        % {
                            "number": str(order),
                            "supplier": order.supplier.code,
                            "location": order.location.code,
                            "lines": order.lines.count(),
                        }
                    )
                if not orders:
                    self.stdout.write(_("No purchase order created: no suggestion has a supplier."))
        except DomainError as error:
            raise CommandError(_format_error(error)) from error


def _table(suggestions) -> str:
    headers = [
        _("SKU"),
        _("Location"),
        _("Supplier"),
        _("Available"),
        _("On order"),
        _("Daily demand"),
        _("Reorder point"),
        _("Quantity"),
        _("Unit cost"),
    ]
    rows = [
        [
            s.sku,
            s.location,
            s.supplier or "-",
            str(s.available),
            str(s.on_order),
            str(s.daily_demand),
            str(s.reorder_point),
            str(s.quantity),
            "-" if s.unit_cost is None else str(s.unit_cost),
        ]
        for s in suggestions
    ]
    widths = [max(len(row[i]) for row in [headers, *rows]) for i in range(len(headers))]
    # Text columns left, numbers right, so that digits line up.
    numeric = [False, False, False, True, True, True, True, True, True]

    def line(cells: list[str]) -> str:
        return "  ".join(
            cell.rjust(width) if right else cell.ljust(width)
            for cell, width, right in zip(cells, widths, numeric, strict=True)
        ).rstrip()

    return "\n".join(line(row) for row in [headers, *rows])


def _format_error(error: DomainError) -> str:
    errors = getattr(error, "errors", None)
    if errors:
        return "; ".join(
            f"{field}: {' '.join(map(str, messages))}" for field, messages in errors.items()
        )
    return str(error.detail)
