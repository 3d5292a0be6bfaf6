from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CommerceConfig(AppConfig):
    name = "commerce"
    verbose_name = _("Commerce kernel")

    def ready(self) -> None:
        from commerce import checks  # noqa: F401  (registers the system checks)
        from commerce.health import connect_heartbeat_signal
        from commerce.log import connect_signals

        connect_heartbeat_signal()
        connect_signals()
