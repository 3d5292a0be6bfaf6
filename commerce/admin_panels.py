"""Panels that apps higher up add to pages of apps below, without those apps importing them.

The order page and the customer 360 page belong to `orders`; the messages sent about them
belong to `automation`, which sits above. `automation` registers a panel at start-up; the page
renders whatever is registered for it, as events let a lower app tell a higher one what happened.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.http import HttpRequest
from django.utils.safestring import SafeString


@dataclass(frozen=True)
class Panel:
    title: Any
    render: Callable[[HttpRequest, Any], SafeString | str]
    permission: str = ""


_panels: dict[str, list[Panel]] = defaultdict(list)


def register_panel(page: str, panel: Panel) -> None:
    if panel not in _panels[page]:
        _panels[page].append(panel)


def panels_for(page: str, request: HttpRequest, subject: Any) -> list[tuple[Any, SafeString | str]]:
    """(title, html) of every panel of `page` the user may see."""
    return [
        (panel.title, panel.render(request, subject))
        for panel in _panels.get(page, ())
        if not panel.permission or request.user.has_perm(panel.permission)
    ]
