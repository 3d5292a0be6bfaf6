import time

from django.core.management.base import BaseCommand

from demo import services


class Command(BaseCommand):
    help = (
        "Load realistic demo data (channels, categories, products with prices, users). Re-runnable."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--products", type=int, default=500, help="How many products (default 500)"
        )

    def handle(self, *args, products, **options):
        started = time.monotonic()
        services.seed_reference_data()
        report = services.seed_catalogue(products=products)
        for error in report.errors[:20]:
            self.stderr.write(str(error))
        services.seed_bundles()
        counted = services.seed_inventory()
        sold = services.seed_sales_history()
        orders = services.seed_purchase_orders()
        logins = services.seed_users()
        self.stdout.write(f"Catalogue: {report.summary()}")
        self.stdout.write(
            f"Inventory: {counted} opening stock levels counted, {sold} units sold and shipped, "
            f"{orders} purchase order(s) from replenishment."
        )
        self.stdout.write(
            f"Logins: admin / {logins.admin_password} (superuser), "
            f"{logins.staff_username} / {logins.staff_password} (catalogue staff, API token {logins.staff_token})"
        )
        self.stdout.write(f"Done in {time.monotonic() - started:.1f} s.")
