import re

from django.utils.translation import gettext_lazy as _
from rest_framework import pagination

from commerce.errors import ValidationFailed

_WHOLE_NUMBER = re.compile(r"[0-9]+")


class PageNumberPagination(pagination.PageNumberPagination):
    """`page` and `page_size` as the schema says: one whole number each. DRF would quietly use
    its default for `page_size=abc` or a repeated parameter; here they are a 400 naming it.
    A `page_size` over `max_page_size` is cut to it; a page past the end is a 404."""

    page_size_query_param = "page_size"
    max_page_size = 100
    last_page_strings = ()  # `page=last` is not a number: a 404 like any other bad page
    page_size_query_description = _("Number of results per page (1 to 100; more is cut to 100).")

    def paginate_queryset(self, queryset, request, view=None):
        params = request.query_params
        if len(params.getlist(self.page_query_param)) > 1:
            raise ValidationFailed({self.page_query_param: [_("Give one page number.")]})
        return super().paginate_queryset(queryset, request, view)

    def get_page_size(self, request):
        values = request.query_params.getlist(self.page_size_query_param)
        if not values:
            return self.page_size
        if len(values) > 1 or not _WHOLE_NUMBER.fullmatch(values[0]) or int(values[0]) < 1:
            raise ValidationFailed(
                {self.page_size_query_param: [_("A whole number of at least 1.")]}
            )
        return min(int(values[0]), self.max_page_size)

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] in (self.page_query_param, self.page_size_query_param):
                parameter["schema"] = {**parameter["schema"], "minimum": 1}
        return parameters
