from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AutomationConfig(AppConfig):
    name = "automation"
    verbose_name = _("Automation")

    def ready(self) -> None:
        from automation.messages import consumers as message_consumers
        from automation.messages.services import account_message_queue
        from automation.rules import consumers as rule_consumers
        from automation.webhooks import consumers as webhook_consumers
        from commerce.messaging import register_sender

        register_sender(account_message_queue)
        message_consumers.register()
        webhook_consumers.register()
        rule_consumers.register()
