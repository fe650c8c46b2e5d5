from django.apps import AppConfig

from marketplace.signals import reservation_creating, run_closed


class BillingConfig(AppConfig):
    name = "billing"
    verbose_name = "Billing"

    def ready(self):
        # Imported here, not at the top: Django imports apps.py before any model is loaded.
        from .receivers import on_reservation_creating, on_run_closed

        run_closed.connect(on_run_closed, dispatch_uid="billing-run-closed")
        reservation_creating.connect(
            on_reservation_creating, dispatch_uid="billing-reservation-creating"
        )
