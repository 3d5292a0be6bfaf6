from django.db.models import QuerySet
from django.utils.translation import gettext as _

from commerce.errors import NotFound
from commerce.models import Channel


def channel_list_active() -> QuerySet[Channel]:
    return Channel.objects.filter(is_active=True).order_by("code")


def channel_get_active(*, code: str) -> Channel:
    channel = Channel.objects.filter(code=code, is_active=True).first()
    if channel is None:
        raise NotFound(_("There is no active channel %(code)s.") % {"code": code})
    return channel


def channel_by_code(code: str) -> Channel | None:
    """The channel with this code (active or not; spaces around it ignored), or None."""
    return Channel.objects.filter(code=(code or "").strip()).first()
