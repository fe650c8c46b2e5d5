"""Cheaper price syncs, which rewrite every offer on every run (marketplace/services/offers.py):

- half of each offer page is kept free (fillfactor 50), so the `observed_at` bump of an
  unchanged offer is a heap-only (HOT) update that writes no index entry. A table whose rows
  are all rewritten each sync settles at about twice its live size anyway; this way the
  indexes do not bloat with it;
- the foreign keys lose their single-column indexes: the composite indexes start with them
  (offer_provider_status, offer_gpu_status_price, offerprice_offer_time), and each index
  is one more write per inserted row.
"""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("marketplace", "0003_launch_requests_provider_events")]

    operations = [
        migrations.AlterField(
            model_name="offer",
            name="gpu",
            field=models.ForeignKey(
                blank=True,
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                to="marketplace.gpumodel",
            ),
        ),
        migrations.AlterField(
            model_name="offer",
            name="provider",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="offers",
                to="marketplace.provider",
            ),
        ),
        migrations.AlterField(
            model_name="offerprice",
            name="offer",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="price_history",
                to="marketplace.offer",
            ),
        ),
        migrations.RunSQL(
            "ALTER TABLE marketplace_offer SET (fillfactor = 50)",
            reverse_sql="ALTER TABLE marketplace_offer RESET (fillfactor)",
        ),
    ]
