from automation.admin import messages, webhooks  # noqa: F401  (registers the model admins)
