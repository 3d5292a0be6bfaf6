import json
import re
from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from automation.models import Rule, SimulationReport
from automation.rules.simulation import simulate


def since_from(text: str):
    match = re.fullmatch(r"(\d+)\s*([dh])", text.strip())
    if not match:
        raise CommandError(f"--since {text!r}: write a number of days or hours, e.g. 30d or 12h.")
    amount, unit = int(match.group(1)), match.group(2)
    return timezone.now() - (timedelta(days=amount) if unit == "d" else timedelta(hours=amount))


class Command(BaseCommand):
    help = (
        "What-if: replay the stored events against a rule's working copy (draft or edited) with "
        "a virtual clock and stubbed actions, and print the report. Nothing is sent or changed."
    )

    def add_arguments(self, parser):
        parser.add_argument("--rule", type=int, required=True, help="The rule's id.")
        parser.add_argument("--since", default="30d", help="How far back: 30d (default), 12h.")
        parser.add_argument("--json", action="store_true", help="Print the report as JSON.")
        parser.add_argument("--save", action="store_true", help="Keep the report on the rule.")

    def handle(self, *args, rule, since="30d", save=False, **options):
        as_json = options.get("json")
        found = Rule.objects.filter(pk=rule).select_related("published_version").first()
        if found is None:
            raise CommandError(f"There is no rule {rule}.")
        start = since_from(since)
        report = simulate(found, since=start)
        if save:
            SimulationReport.objects.create(rule=found, since=start, report=report)
        if as_json:
            self.stdout.write(_dumps(report))
            return
        self.stdout.write(f"Rule {found.pk} “{found.name}”, events since {report['since']}:")
        self.stdout.write(f"  runs that would start: {report['runs_started']}")
        self.stdout.write(f"  skipped: {report['skipped'] or '-'}")
        self.stdout.write(f"  outcomes: {report['outcomes'] or '-'}")
        self.stdout.write(f"  actions: {report['actions'] or '-'}")
        self.stdout.write(
            f"  recipients: {report['recipients']}; messages per customer: {report['messages_per_customer'] or '-'}"
        )
        self.stdout.write(f"  deferrals (cap / quiet hours): {report['deferrals'] or '-'}")
        self.stdout.write(
            f"  conflicts with other active rules: {report['conflicts_with_other_rules']}"
        )
        if report["evaluated_on_current_data"]:
            self.stdout.write(
                "  evaluated on current data (no history kept): "
                + ", ".join(report["evaluated_on_current_data"])
            )
        if "against_published" in report:
            self.stdout.write(f"  against the published version: {report['against_published']}")
        for sample in report["samples"][:5]:
            self.stdout.write(f"  sample: {_dumps(sample)}")


def _dumps(value) -> str:
    return json.dumps(value, ensure_ascii=False, default=str, indent=None)
