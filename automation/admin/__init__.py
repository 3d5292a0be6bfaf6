from automation.admin import messages, rules, webhooks  # noqa: F401  (registers the model admins)
