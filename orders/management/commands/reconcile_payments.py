from django.core.management.base import BaseCommand, CommandError

from commerce.errors import DomainError
from commerce.importing import open_text
from orders.placement.reconcile import (
    orders_out_of_step,
    payments_without_order,
    settlement_compare,
)


class Command(BaseCommand):
    help = (
        "List orders whose payment state does not match their transactions, payments no order "
        "holds, and (with --settlement FILE) a gateway settlement file's differences. "
        "--fix recomputes order totals and attaches or voids orphan payments. Exits non-zero "
        "while something is listed."
    )

    def add_arguments(self, parser):
        parser.add_argument("--settlement", help="CSV: reference,kind,amount,currency")
        parser.add_argument("--fix", action="store_true")

    def handle(self, *args, settlement=None, fix=False, **options):
        findings = orders_out_of_step(fix=fix) + payments_without_order(fix=fix)
        if settlement:
            try:
                with open_text(settlement) as file:
                    findings += settlement_compare(file)
            except OSError as exc:
                raise CommandError(f"Cannot read {settlement}: {exc}") from exc
            except DomainError as exc:
                raise CommandError(f"{settlement}: {exc.extra or exc.detail}") from exc
        for finding in findings:
            self.stdout.write(f"{finding.kind}\t{finding.subject}\t{finding.detail}")
        unresolved = [
            f for f in findings if not (fix and f.kind in ("totals", "unfinished_payment"))
        ]
        if unresolved:
            raise CommandError(f"{len(unresolved)} payment difference(s) found.")
        if findings:
            self.stdout.write(f"Fixed {len(findings)} difference(s).")
        else:
            self.stdout.write("Payments reconcile: every order matches its transactions.")
