"""Statistics on lower(region), the expression region filters compare.

PostgreSQL keeps statistics for an index's expressions, but does not use those of a partial
index (all the offer search indexes are partial), so it guessed `region=eu-*` matched 0.5 %
of offers where 6 % do: it then read a region range in full and sorted it (20 ms) where
walking the price order finds the first matches at once (0.6 ms). Extended statistics on the
expression give the planner the real distribution.
"""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("marketplace", "0008_catalog_keys_without_constraints"),
    ]

    operations = [
        migrations.RunSQL(
            "CREATE STATISTICS IF NOT EXISTS offer_region_lower_stats ON (lower(region)) "
            "FROM marketplace_offer",
            reverse_sql="DROP STATISTICS IF EXISTS offer_region_lower_stats",
        ),
    ]
