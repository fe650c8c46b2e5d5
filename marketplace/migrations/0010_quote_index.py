"""Quotes read one GPU model in one pricing model at a time, in price per GPU-hour: an index
of its own for that order, so that an on-demand stream does not walk past the GPU model's
cheaper spot offers first (bench: `24GB..:1` quotes 43 -> 27 ms, docs/quotes.md "Speed")."""

import django.db.models.functions.text
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('marketplace', '0009_region_expression_statistics'),
    ]

    operations = [
        migrations.AddIndex(
            model_name='offer',
            index=models.Index(models.F('gpu'), models.F('pricing'), models.F('price_per_gpu_hour'), models.F('id'), models.F('gpu_count'), models.F('suspect'), models.F('gpu_memory_gb'), models.F('provider'), models.F('country'), models.F('continent'), django.db.models.functions.text.Lower('region'), models.F('reliability'), models.F('vcpus'), models.F('memory_gb'), condition=models.Q(('status__in', ['active', 'stale'])), name='offer_quote_gpu_pricing'),
        ),
    ]
