from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from commerce import tokens


class Command(BaseCommand):
    help = "End every API token of a user (staff or customer); they answer 401 from now on."

    def add_arguments(self, parser):
        parser.add_argument("username")

    def handle(self, *args, username: str, **options):
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"No user {username!r}.")
        revoked = tokens.tokens_revoke(user=user)
        self.stdout.write(f"Revoked {revoked} token(s) of {username}.")
