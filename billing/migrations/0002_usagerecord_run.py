# Usage intervals belong to a run of their reservation (see marketplace 0002_reservationrun).

import django.db.models.deletion
from django.db import migrations, models


def backfill_usage_runs(apps, schema_editor):
    """Intervals recorded before runs existed belong to their reservation's first run."""
    UsageRecord = apps.get_model("billing", "UsageRecord")
    ReservationRun = apps.get_model("marketplace", "ReservationRun")
    for run in ReservationRun.objects.filter(number=1).iterator():
        UsageRecord.objects.filter(reservation_id=run.reservation_id, run__isnull=True).update(
            run=run
        )


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0001_initial"),
        ("marketplace", "0002_reservationrun"),
    ]

    operations = [
        migrations.AddField(
            model_name="usagerecord",
            name="run",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="usage",
                to="marketplace.reservationrun",
            ),
        ),
        migrations.RunPython(backfill_usage_runs, migrations.RunPython.noop),
    ]
