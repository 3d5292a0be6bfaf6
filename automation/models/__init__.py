from automation.models.messages import Message, MessageTemplate, NotificationSetting
from automation.models.rules import (
    ActionExecution,
    Approval,
    AutomationHide,
    AutomationSwitch,
    BackInStockRequest,
    ComputedTrigger,
    Rule,
    RuleRun,
    RuleVersion,
    RunStep,
    RunWakeup,
    SimulationReport,
    StaffAlert,
)
from automation.models.webhooks import WebhookAttempt, WebhookDelivery, WebhookEndpoint

__all__ = [
    "ActionExecution",
    "Approval",
    "AutomationHide",
    "AutomationSwitch",
    "BackInStockRequest",
    "ComputedTrigger",
    "Message",
    "MessageTemplate",
    "NotificationSetting",
    "Rule",
    "RuleRun",
    "RuleVersion",
    "RunStep",
    "RunWakeup",
    "SimulationReport",
    "StaffAlert",
    "WebhookAttempt",
    "WebhookDelivery",
    "WebhookEndpoint",
]
