"""One wide index per sort order instead of narrow ones per purpose (16 indexes -> 10).

Each index of SEARCH_INDEXES (marketplace/models/offers.py) is a sort order followed by the
columns filters test most (pricing, GPU count and memory, provider, country, continent,
lower(region), reliability, vCPUs, RAM): PostgreSQL tests those on the index entry while it
walks the order, instead of fetching each passed-over row. Replaces the (gpu, status, price),
(provider, status), (gpu, memory, count), country and quote-only indexes, which the wide
ones serve. The lower(region) index of 0005 (plain SQL) becomes a partial one with the
provider, GPU and shape after the region. Figures: docs/quotes.md, "Speed".
"""

import django.db.models.functions.text
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("marketplace", "0006_offer_feed"),
    ]

    operations = [
        migrations.RunSQL(
            "DROP INDEX IF EXISTS offer_region_lower; "
            "CREATE INDEX offer_region_lower ON marketplace_offer "
            "(lower(region) text_pattern_ops, provider_id, gpu_id, pricing, gpu_count, "
            "gpu_memory_gb, suspect) WHERE status IN ('active', 'stale')",
            reverse_sql="DROP INDEX IF EXISTS offer_region_lower; "
            "CREATE INDEX offer_region_lower ON marketplace_offer "
            "(lower(region) text_pattern_ops)",
        ),
        migrations.RemoveIndex(
            model_name="offer",
            name="offer_gpu_status_price",
        ),
        migrations.RemoveIndex(
            model_name="offer",
            name="offer_provider_status",
        ),
        migrations.RemoveIndex(
            model_name="offer",
            name="offer_listed_gpu_price",
        ),
        migrations.RemoveIndex(
            model_name="offer",
            name="offer_listed_price",
        ),
        migrations.RemoveIndex(
            model_name="offer",
            name="offer_listed_gpus",
        ),
        migrations.RemoveIndex(
            model_name="offer",
            name="offer_listed_vram",
        ),
        migrations.RemoveIndex(
            model_name="offer",
            name="offer_gpu_gpu_price",
        ),
        migrations.RemoveIndex(
            model_name="offer",
            name="offer_gpu_price",
        ),
        migrations.RemoveIndex(
            model_name="offer",
            name="offer_gpu_shape",
        ),
        migrations.RemoveIndex(
            model_name="offer",
            name="offer_listed_country",
        ),
        migrations.RemoveIndex(
            model_name="offer",
            name="offer_quote_gpu_pricing",
        ),
        migrations.RemoveIndex(
            model_name="offer",
            name="offer_quote_pricing",
        ),
        migrations.RemoveIndex(
            model_name="offer",
            name="offer_suspect_gpu_price",
        ),
        migrations.AddIndex(
            model_name="offer",
            index=models.Index(
                models.F("price_per_gpu_hour"),
                models.F("id"),
                models.F("gpu"),
                models.F("pricing"),
                models.F("gpu_count"),
                models.F("suspect"),
                models.F("gpu_memory_gb"),
                models.F("provider"),
                models.F("country"),
                models.F("continent"),
                django.db.models.functions.text.Lower("region"),
                models.F("reliability"),
                models.F("vcpus"),
                models.F("memory_gb"),
                condition=models.Q(("status__in", ["active", "stale"])),
                name="offer_listed_gpu_price",
            ),
        ),
        migrations.AddIndex(
            model_name="offer",
            index=models.Index(
                models.F("price_per_hour"),
                models.F("id"),
                models.F("gpu"),
                models.F("pricing"),
                models.F("gpu_count"),
                models.F("suspect"),
                models.F("gpu_memory_gb"),
                models.F("provider"),
                models.F("country"),
                models.F("continent"),
                django.db.models.functions.text.Lower("region"),
                models.F("reliability"),
                models.F("vcpus"),
                models.F("memory_gb"),
                condition=models.Q(("status__in", ["active", "stale"])),
                name="offer_listed_price",
            ),
        ),
        migrations.AddIndex(
            model_name="offer",
            index=models.Index(
                models.F("gpu_count"),
                models.F("id"),
                models.F("gpu"),
                models.F("pricing"),
                models.F("suspect"),
                models.F("gpu_memory_gb"),
                models.F("provider"),
                models.F("country"),
                models.F("continent"),
                django.db.models.functions.text.Lower("region"),
                models.F("reliability"),
                models.F("vcpus"),
                models.F("memory_gb"),
                condition=models.Q(("status__in", ["active", "stale"])),
                name="offer_listed_gpus",
            ),
        ),
        migrations.AddIndex(
            model_name="offer",
            index=models.Index(
                models.F("gpu_memory_gb"),
                models.F("id"),
                models.F("gpu"),
                models.F("pricing"),
                models.F("gpu_count"),
                models.F("suspect"),
                models.F("provider"),
                models.F("country"),
                models.F("continent"),
                django.db.models.functions.text.Lower("region"),
                models.F("reliability"),
                models.F("vcpus"),
                models.F("memory_gb"),
                condition=models.Q(("status__in", ["active", "stale"])),
                name="offer_listed_vram",
            ),
        ),
        migrations.AddIndex(
            model_name="offer",
            index=models.Index(
                models.F("gpu"),
                models.F("price_per_gpu_hour"),
                models.F("id"),
                models.F("pricing"),
                models.F("gpu_count"),
                models.F("suspect"),
                models.F("gpu_memory_gb"),
                models.F("provider"),
                models.F("country"),
                models.F("continent"),
                django.db.models.functions.text.Lower("region"),
                models.F("reliability"),
                models.F("vcpus"),
                models.F("memory_gb"),
                condition=models.Q(("status__in", ["active", "stale"])),
                name="offer_gpu_gpu_price",
            ),
        ),
        migrations.AddIndex(
            model_name="offer",
            index=models.Index(
                models.F("gpu"),
                models.F("price_per_hour"),
                models.F("id"),
                models.F("pricing"),
                models.F("gpu_count"),
                models.F("suspect"),
                models.F("gpu_memory_gb"),
                models.F("provider"),
                models.F("country"),
                models.F("continent"),
                django.db.models.functions.text.Lower("region"),
                models.F("reliability"),
                models.F("vcpus"),
                models.F("memory_gb"),
                condition=models.Q(("status__in", ["active", "stale"])),
                name="offer_gpu_price",
            ),
        ),
        migrations.AddIndex(
            model_name="offer",
            index=models.Index(
                models.F("gpu"),
                models.F("price_per_gpu_hour"),
                models.F("id"),
                models.F("pricing"),
                models.F("gpu_count"),
                models.F("suspect"),
                models.F("gpu_memory_gb"),
                models.F("provider"),
                models.F("country"),
                models.F("continent"),
                django.db.models.functions.text.Lower("region"),
                models.F("reliability"),
                models.F("vcpus"),
                models.F("memory_gb"),
                condition=models.Q(("status__in", ["active", "stale"]), ("suspect", True)),
                name="offer_suspect_gpu_price",
            ),
        ),
    ]
