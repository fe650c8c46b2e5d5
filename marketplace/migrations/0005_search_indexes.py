"""Indexes for search and quotes over a million offers (bench: `make bench ARGS=search`).

The listed offers (active, stale) get one partial index per sort column and per GPU-model
run; quotes get their own (GPU, pricing, price) runs without suspect prices; region filters
(`region=eu-*`) compare lower(region) with LIKE. The (gpu_id, gpu_memory_gb) statistics give
the planner the memory of each GPU model, so that it can tell `gpu=A100 vram>=80GB` rules
the 40 GB A100 out. The old (status, price per GPU-hour) index is replaced by the partial
one. Plans and figures: docs/quotes.md, "Speed".
"""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("marketplace", "0004_offer_sync_write_cost"),
    ]

    operations = [
        migrations.RemoveIndex(
            model_name="offer",
            name="offer_status_gpu_price",
        ),
        migrations.AddIndex(
            model_name="offer",
            index=models.Index(
                condition=models.Q(("status__in", ["active", "stale"])),
                fields=["price_per_gpu_hour", "id"],
                name="offer_listed_gpu_price",
            ),
        ),
        migrations.AddIndex(
            model_name="offer",
            index=models.Index(
                condition=models.Q(("status__in", ["active", "stale"])),
                fields=["price_per_hour", "id"],
                name="offer_listed_price",
            ),
        ),
        migrations.AddIndex(
            model_name="offer",
            index=models.Index(
                condition=models.Q(("status__in", ["active", "stale"])),
                fields=["gpu_count", "id"],
                name="offer_listed_gpus",
            ),
        ),
        migrations.AddIndex(
            model_name="offer",
            index=models.Index(
                condition=models.Q(("status__in", ["active", "stale"])),
                fields=["gpu_memory_gb", "id"],
                name="offer_listed_vram",
            ),
        ),
        migrations.AddIndex(
            model_name="offer",
            index=models.Index(
                condition=models.Q(("status__in", ["active", "stale"])),
                fields=["gpu", "price_per_gpu_hour", "id"],
                name="offer_gpu_gpu_price",
            ),
        ),
        migrations.AddIndex(
            model_name="offer",
            index=models.Index(
                condition=models.Q(("status__in", ["active", "stale"])),
                fields=["gpu", "price_per_hour", "id"],
                name="offer_gpu_price",
            ),
        ),
        migrations.AddIndex(
            model_name="offer",
            index=models.Index(
                condition=models.Q(("status__in", ["active", "stale"])),
                fields=["gpu", "gpu_memory_gb", "gpu_count"],
                name="offer_gpu_shape",
            ),
        ),
        migrations.AddIndex(
            model_name="offer",
            index=models.Index(
                condition=models.Q(("status__in", ["active", "stale"])),
                fields=["country"],
                name="offer_listed_country",
            ),
        ),
        migrations.AddIndex(
            model_name="offer",
            index=models.Index(
                condition=models.Q(("status__in", ["active", "stale"]), ("suspect", False)),
                fields=["gpu", "pricing", "price_per_gpu_hour", "id"],
                name="offer_quote_gpu_pricing",
            ),
        ),
        migrations.AddIndex(
            model_name="offer",
            index=models.Index(
                condition=models.Q(("status__in", ["active", "stale"]), ("suspect", False)),
                fields=["pricing", "price_per_gpu_hour", "id"],
                name="offer_quote_pricing",
            ),
        ),
        migrations.AddIndex(
            model_name="offer",
            index=models.Index(
                condition=models.Q(("status__in", ["active", "stale"]), ("suspect", True)),
                fields=["gpu", "price_per_gpu_hour"],
                name="offer_suspect_gpu_price",
            ),
        ),
        # lower(region) for LIKE 'eu-%': text_pattern_ops, which Django's Index only writes
        # with django.contrib.postgres installed.
        migrations.RunSQL(
            "CREATE INDEX offer_region_lower ON marketplace_offer (lower(region) text_pattern_ops)",
            reverse_sql="DROP INDEX IF EXISTS offer_region_lower",
        ),
        migrations.RunSQL(
            "CREATE STATISTICS offer_gpu_memory_stats (mcv) ON gpu_id, gpu_memory_gb "
            "FROM marketplace_offer; "
            "ALTER STATISTICS offer_gpu_memory_stats SET STATISTICS 500",
            reverse_sql="DROP STATISTICS IF EXISTS offer_gpu_memory_stats",
        ),
    ]
