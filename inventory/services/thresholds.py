"""Seasonal low-stock thresholds: a merchant's "from this day to that day, warn earlier" rules.

Which threshold a stock row uses is a read (`inventory.selectors.stock_thresholds`); this
module only checks and saves the rules.
"""

from __future__ import annotations

import datetime

from django.db import transaction
from django.utils.translation import gettext as _

from catalog.models import Category, ProductVariant
from inventory.errors import InvalidStockOperation
from inventory.models import SeasonalThreshold, StockLocation


def seasonal_threshold_validate(
    *,
    name: str,
    starts_on: datetime.date | None,
    ends_on: datetime.date | None,
    threshold: int | None,
    variant: ProductVariant | None = None,
    category: Category | None = None,
) -> None:
    """Check a seasonal threshold before it is saved; raise `InvalidStockOperation` with every
    problem at once, each under the field it is about:

    - `name`: required;
    - `starts_on`, `ends_on`: both required dates; `ends_on` (the last day included) not before
      `starts_on` (a one-day rule has both on the same day);
    - `threshold`: a whole number of 0 or more;
    - `variant` / `category`: exactly one of them; naming both or neither is reported under
      both fields.

    Reads nothing, writes nothing. The admin form calls it from `clean()`; `seasonal_threshold_save`
    calls it again, so no door can save a rule it would refuse."""
    errors: dict[str, list[str]] = {}
    if not (name or "").strip():
        errors["name"] = [_("Give the threshold a name, e.g. “Year-end sale”.")]
    dates: dict[str, datetime.date] = {}
    for field, value in (("starts_on", starts_on), ("ends_on", ends_on)):
        if value is None:
            errors[field] = [_("This date is required.")]
        elif not isinstance(value, datetime.date) or isinstance(value, datetime.datetime):
            errors[field] = [_("Give a date, without a time.")]
        else:
            dates[field] = value
    if len(dates) == 2 and dates["ends_on"] < dates["starts_on"]:
        errors["ends_on"] = [
            _("The end date (%(ends_on)s) is before the start date (%(starts_on)s).")
            % {key: value.isoformat() for key, value in dates.items()}
        ]
    if isinstance(threshold, bool) or not isinstance(threshold, int) or threshold < 0:
        errors["threshold"] = [_("The threshold must be a whole number of 0 or more.")]
    if variant is not None and category is not None:
        message = _("Choose a variant or a category, not both.")
        errors["variant"] = [message]
        errors["category"] = [message]
    elif variant is None and category is None:
        message = _("Choose the variant or the category the threshold applies to.")
        errors["variant"] = [message]
        errors["category"] = [message]
    if errors:
        raise InvalidStockOperation(errors)


@transaction.atomic
def seasonal_threshold_save(
    *,
    seasonal_threshold: SeasonalThreshold | None = None,
    name: str,
    starts_on: datetime.date,
    ends_on: datetime.date,
    threshold: int,
    variant: ProductVariant | None = None,
    category: Category | None = None,
    location: StockLocation | None = None,
) -> SeasonalThreshold:
    """Create a seasonal threshold, or change `seasonal_threshold` to these values, after
    `seasonal_threshold_validate` (all or nothing: an invalid rule writes nothing). `location`
    None means every location.

    Locks nothing; publishes nothing. The new threshold takes effect for each stock row at its
    next change (the same as editing a row's or a variant's threshold): a rule starting or
    ending does not, by itself, publish stock.low or stock.restocked. Returns the saved rule."""
    seasonal_threshold_validate(
        name=name,
        starts_on=starts_on,
        ends_on=ends_on,
        threshold=threshold,
        variant=variant,
        category=category,
    )
    rule = seasonal_threshold if seasonal_threshold is not None else SeasonalThreshold()
    rule.name = name.strip()
    rule.starts_on = starts_on
    rule.ends_on = ends_on
    rule.threshold = threshold
    rule.variant = variant
    rule.category = category
    rule.location = location
    rule.save()
    return rule
