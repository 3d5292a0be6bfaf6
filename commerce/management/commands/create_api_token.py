from datetime import timedelta

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from commerce import tokens


class Command(BaseCommand):
    help = (
        "Issue an API token for a staff user, valid for --days (API_TOKEN_STAFF_TTL_DAYS by "
        "default). The token is printed once: only its digest is stored."
    )

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--days", type=int, default=None, help="Days until it expires.")

    def handle(self, *args, username: str, days: int | None, **options):
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"No user {username!r}.")
        if not (user.is_active and user.is_staff):
            raise CommandError(f"{username!r} is not an active staff user; staff tokens only.")
        if days is not None and not 1 <= days <= 3650:
            raise CommandError("--days must be between 1 and 3650.")
        ttl = timedelta(days=days) if days is not None else tokens.staff_token_ttl()
        issued = tokens.token_issue(user=user, ttl=ttl)
        self.stderr.write(
            f"API token for {username}, expires {issued.expires_at:%Y-%m-%d %H:%M} UTC. "
            "Send it as `Authorization: Token <token>`; it is not shown again."
        )
        self.stdout.write(issued.token)
