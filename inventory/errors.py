from django.utils.translation import gettext_lazy as _

from commerce.errors import Conflict, DomainError, ValidationFailed


class InsufficientStock(Conflict):
    """Not enough available stock; `extra` names the variant, what was asked and what is there."""

    code = "insufficient_stock"
    title = _("Not enough stock")


class StockBusy(DomainError):
    """The stock rows stayed locked by others through every retry. Safe to try again."""

    code = "stock_busy"
    status = 503
    title = _("Stock is busy, please try again")


class InvalidStockOperation(ValidationFailed):
    pass


class InvalidTransition(Conflict):
    code = "invalid_transition"
    title = _("Not possible in the current state")


class NotEnoughOnHand(Conflict):
    """Shipping needs the goods: on hand fell below the allocation (a count, a write-off)."""

    code = "not_enough_on_hand"
    title = _("Not enough on hand to ship")


class NoSupplier(Conflict):
    """The variant has no active supplier to order it from; `extra` names the SKU."""

    code = "no_supplier"
    title = _("No supplier for this variant")
