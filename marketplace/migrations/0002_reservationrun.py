# Run segments of reservations: usage is metered per run, so a reservation that was
# preempted and placed again is never billed for the gap between its runs.

import django.db.models.deletion
from django.db import migrations, models
from django.db.models import F, Q

RUNNING_STATUSES = ("running", "terminating")


def backfill_runs(apps, schema_editor):
    """Reservations that ran before runs existed get one run: [running_since, ended_at)."""
    Reservation = apps.get_model("marketplace", "Reservation")
    ReservationRun = apps.get_model("marketplace", "ReservationRun")
    runs = [
        ReservationRun(
            reservation_id=reservation.pk,
            number=1,
            offer_id=reservation.offer_id,
            instance_id=reservation.instance_id,
            price_per_hour=reservation.price_per_hour,
            currency=reservation.currency,
            started_at=reservation.running_since,
            ended_at=None
            if reservation.status in RUNNING_STATUSES
            else max(reservation.ended_at or reservation.running_since, reservation.running_since),
        )
        for reservation in Reservation.objects.filter(running_since__isnull=False).iterator()
    ]
    ReservationRun.objects.bulk_create(runs, batch_size=1000)


class Migration(migrations.Migration):
    dependencies = [
        ("marketplace", "0001_initial"),
    ]

    operations = [
        migrations.CreateModel(
            name="ReservationRun",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("number", models.PositiveSmallIntegerField()),
                ("instance_id", models.CharField(blank=True, max_length=200)),
                ("price_per_hour", models.DecimalField(decimal_places=6, max_digits=14)),
                ("currency", models.CharField(max_length=3)),
                ("started_at", models.DateTimeField()),
                ("ended_at", models.DateTimeField(blank=True, null=True)),
                (
                    "offer",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="marketplace.offer",
                    ),
                ),
                (
                    "reservation",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="runs",
                        to="marketplace.reservation",
                    ),
                ),
            ],
            options={
                "ordering": ["reservation", "number"],
                "constraints": [
                    models.UniqueConstraint(
                        fields=("reservation", "number"), name="uniq_run_number"
                    ),
                    models.UniqueConstraint(
                        condition=Q(("ended_at__isnull", True)),
                        fields=("reservation",),
                        name="uniq_open_run_per_reservation",
                    ),
                    models.CheckConstraint(
                        condition=Q(
                            ("ended_at__isnull", True),
                            ("ended_at__gte", F("started_at")),
                            _connector="OR",
                        ),
                        name="run_ends_after_start",
                    ),
                ],
            },
        ),
        migrations.RunPython(backfill_runs, migrations.RunPython.noop),
    ]
