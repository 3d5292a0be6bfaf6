"""Selling: tax rates so far (carts, checkout, payments and orders follow, issue #5)."""

from __future__ import annotations

from datetime import date

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from catalog.models import TaxClass


class TaxRate(models.Model):
    """The rate of a tax class where goods are delivered: a whole country (`region` empty) or a
    region of it (a US state), from a date (rates change; orders keep the rate they were sold
    at)."""

    tax_class = models.ForeignKey(
        TaxClass, on_delete=models.PROTECT, related_name="rates", verbose_name=_("tax class")
    )
    country = models.CharField(_("country"), max_length=2)
    region = models.CharField(
        _("region"), max_length=100, blank=True, help_text=_("Empty: the whole country.")
    )
    rate = models.DecimalField(
        _("rate"), max_digits=6, decimal_places=5, help_text=_("0.10 for 10 %.")
    )
    name = models.CharField(_("name on invoices"), max_length=100, blank=True)
    valid_from = models.DateField(_("valid from"), default=date(2000, 1, 1))

    class Meta:
        verbose_name = _("tax rate")
        verbose_name_plural = _("tax rates")
        ordering = ["country", "region", "tax_class", "-valid_from"]
        constraints = [
            models.UniqueConstraint(
                fields=["tax_class", "country", "region", "valid_from"], name="tax_rate_once"
            ),
            models.CheckConstraint(
                condition=Q(rate__gte=0) & Q(rate__lt=1), name="tax_rate_between_0_and_1"
            ),
        ]

    def __str__(self) -> str:
        where = f"{self.country}-{self.region}" if self.region else self.country
        return f"{self.tax_class} {where}: {self.rate * 100:.3f}".rstrip("0").rstrip(".") + " %"
