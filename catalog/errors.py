from __future__ import annotations

from dataclasses import dataclass

from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from commerce.errors import Conflict, ValidationFailed


class InvalidCatalogData(ValidationFailed):
    """A product, variant or price that breaks a catalogue rule; names the field."""


class CategoryCycle(Conflict):
    code = "category_cycle"
    title = _("A category cannot be moved below itself")


@dataclass(frozen=True)
class RowError:
    """What is wrong with one field of one row of a batch: `line` is the row's line in its file
    (the header is line 1), or its 1-based position in a batch that came from no file."""

    line: int
    sku: str
    field: str
    message: str

    def __str__(self) -> str:
        where = gettext("line %(line)s") % {"line": self.line}
        sku = f" ({self.sku})" if self.sku else ""
        field = f", {self.field}" if self.field else ""
        return f"{where}{sku}{field}: {self.message}"


class CompetitorPricesInvalid(InvalidCatalogData):
    """A batch of competitor prices with bad rows: nothing of it was recorded.

    `row_errors` names each bad row and field; `errors` holds the same as text under "rows", so
    that the problem answer reads well wherever the error ends up.
    """

    def __init__(self, row_errors: list[RowError]) -> None:
        self.row_errors = sorted(row_errors, key=lambda e: e.line)
        bad_rows = len({e.line for e in self.row_errors})
        super().__init__(
            {"rows": [str(e) for e in self.row_errors]},
            detail=gettext("%(count)s bad row(s); no competitor price was recorded.")
            % {"count": bad_rows},
        )
