import time

from django.core.management.base import BaseCommand

from demo import services
from demo.automation import seed_automation, seed_automation_settings
from demo.messaging import seed_messaging, seed_messaging_settings


class Command(BaseCommand):
    help = (
        "Load realistic demo data (channels, categories, products with prices, stock, "
        "customers with purchases and loyalty points, shipping and carriers, discounts, orders "
        "with their fulfilments and tracking, users). "
        "Re-runnable."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--products", type=int, default=500, help="How many products (default 500)"
        )
        parser.add_argument(
            "--customers", type=int, default=300, help="About how many customers (default 300)"
        )
        parser.add_argument("--orders", type=int, default=60, help="How many orders (default 60)")

    def handle(self, *args, products, customers, orders, **options):
        started = time.monotonic()
        services.seed_reference_data()
        report = services.seed_catalogue(products=products)
        for error in report.errors[:20]:
            self.stderr.write(str(error))
        services.seed_bundles()
        counted = services.seed_inventory()
        sold = services.seed_sales_history()
        purchase_orders = services.seed_purchase_orders()
        logins = services.seed_users()
        step = time.monotonic()
        people = services.seed_customers(count=customers)
        people_seconds = time.monotonic() - step
        step = time.monotonic()
        sales = services.seed_orders(count=orders)
        sales_seconds = time.monotonic() - step
        self.stdout.write(f"Catalogue: {report.summary()}")
        self.stdout.write(
            f"Inventory: {counted} opening stock levels counted, {sold} units sold and shipped, "
            f"{purchase_orders} purchase order(s) from replenishment."
        )
        self.stdout.write(f"Customers: {people.summary()} ({people_seconds:.1f} s)")
        self.stdout.write(f"Orders: {sales.summary()} ({sales_seconds:.1f} s)")
        if sales.placed:
            self.stdout.write(
                f"Fulfilment: {sales.fulfilment_summary()} (staff and carrier steps "
                f"{sales.fulfilment_seconds:.1f} s of the orders' time)."
            )
            for journey in sales.journeys:
                self.stdout.write(f"  try: {journey}")
        self.stdout.write(
            f"Logins: admin / {logins.admin_password} (superuser), "
            f"{logins.staff_username} / {logins.staff_password} (catalogue staff, API token {logins.staff_token}), "
            f"{logins.operations_username} / {logins.operations_password} (stores, warehouses, "
            f"call centre; API token {logins.operations_token}), "
            f"{people.login_email} / {people.login_password} (storefront customer)"
        )
        # Last, so that the demo is consistent when the server starts: the buyers' purchases and
        # order counts come from the events the seed published.
        step = time.monotonic()
        seed_messaging_settings()
        seed_automation_settings()
        dispatched, failed = services.dispatch_pending_events(
            progress=lambda n: self.stdout.write(f"  events: {n} dispatched so far…")
        )
        self.stdout.write(
            f"Events: {dispatched} dispatched in {time.monotonic() - step:.1f} s"
            + (f", {failed} failed (left to the relay)." if failed else ".")
        )
        services.refresh_customer_scores()
        self.stdout.write(seed_automation())
        self.stdout.write(seed_messaging())
        self.stdout.write(f"Done in {time.monotonic() - started:.1f} s.")
