"""Request parsers that turn every malformed body into a 400, never a 500."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from rest_framework import parsers
from rest_framework.exceptions import ParseError


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser, plus the one failure it lets through: nesting deep enough to exhaust
    the interpreter's recursion limit (a few thousand `[`) is a parse error like any other."""

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError(_("JSON parse error - the document is nested too deeply.")) from None


class FormParser(parsers.FormParser):
    """Form bodies read like JSON objects: a plain dict, one value per key (the last).

    From a QueryDict DRF applies HTML-form rules: a missing boolean is `false` (an unticked
    checkbox) and a missing field with a default is blank, so a form body without `granted`
    would pass where the same JSON is refused. The API has no HTML forms to serve."""

    def parse(self, stream, media_type=None, parser_context=None):
        return super().parse(stream, media_type, parser_context).dict()


class MultiPartParser(parsers.MultiPartParser):
    """As FormParser, for multipart bodies; the files stay as they are."""

    def parse(self, stream, media_type=None, parser_context=None):
        parsed = super().parse(stream, media_type, parser_context)
        return parsers.DataAndFiles(parsed.data.dict(), parsed.files)
