"""Merchant templates in Django's template language, checked when saved, never failing at send.

One engine of our own (not the project's TEMPLATES): debug on, so a syntax error carries its line;
no loaders, so a template cannot include files from the server; unknown variables render empty,
so a template written against an older context still sends.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from django.core.exceptions import ValidationError
from django.template import Context, Engine, Template, TemplateSyntaxError
from django.utils.translation import gettext as _

ENGINE = Engine(
    debug=True,
    loaders=[],
    string_if_invalid="",
    builtins=["django.templatetags.l10n"],
    libraries={"humanize": "django.contrib.humanize.templatetags.humanize"},
)


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str


def _line_of(error: TemplateSyntaxError, source: str) -> int | None:
    debug = getattr(error, "template_debug", None)
    if debug:
        return debug.get("line")
    return None


def template_check(source: str, *, field: str, sample: dict[str, Any] | None = None) -> None:
    """Raise a ValidationError on `field` naming the line and the reason when `source` does not
    compile, or does not render over `sample` (a filter given a wrong argument, say)."""
    try:
        template = ENGINE.from_string(source)
    except TemplateSyntaxError as error:
        raise ValidationError(
            {
                field: _("Line %(line)s: %(reason)s")
                % {"line": _line_of(error, source) or "?", "reason": error}
            }
        ) from error
    if sample is None:
        return
    try:
        template.render(Context(sample, autoescape=field == "body_html"))
    except Exception as error:  # any rendering fault is the merchant's to fix before saving
        line = _line_of(error, source) if isinstance(error, TemplateSyntaxError) else None
        reason = (
            _("Line %(line)s: %(reason)s") % {"line": line, "reason": error} if line else str(error)
        )
        raise ValidationError(
            {field: _("Does not render: %(reason)s") % {"reason": reason}}
        ) from error


@lru_cache(maxsize=512)
def _compiled(source: str) -> Template:
    """Compiled once per process and wording: a template is checked at save, so the same text
    always compiles, and a new version is a new text."""
    return ENGINE.from_string(source)


def render(source: str, context: dict[str, Any], *, html: bool = False) -> str:
    if not source:
        return ""
    return _compiled(source).render(Context(context, autoescape=html)).strip()


def render_message(*, subject: str, text: str, html: str, context: dict[str, Any]) -> Rendered:
    return Rendered(
        subject=" ".join(render(subject, context).split()),  # a header: one line
        text=render(text, context),
        html=render(html, context, html=True),
    )
