"""An e-mail backend for the worker subprocess of the crash test: Django's file backend, after
TEST_MAIL_DELAY seconds, so a test can kill the worker while it is handing a message over."""

import os
import time

from django.core.mail.backends.filebased import EmailBackend


class SlowFileBackend(EmailBackend):
    def send_messages(self, email_messages):
        time.sleep(float(os.environ.get("TEST_MAIL_DELAY", "0")))
        return super().send_messages(email_messages)
