from automation.models.messages import Message, MessageTemplate, NotificationSetting
from automation.models.webhooks import WebhookAttempt, WebhookDelivery, WebhookEndpoint

__all__ = [
    "Message",
    "MessageTemplate",
    "NotificationSetting",
    "WebhookAttempt",
    "WebhookDelivery",
    "WebhookEndpoint",
]
