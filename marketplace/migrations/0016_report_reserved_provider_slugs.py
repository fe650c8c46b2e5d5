"""Report (never change) the organizations' providers that hold a cloud's slug.

Registration refuses those slugs now and the price syncs no longer give such a provider the
cloud's offers, but a provider registered before keeps its slug: an operator looks at each
one (the admin, Providers) and renames it or the cloud. Run again with
`python manage.py migrate marketplace 0015 && python manage.py migrate marketplace`.
"""

import logging

from django.db import migrations

logger = logging.getLogger("marketplace.migrations")


def report_reserved_slug_holders(apps, schema_editor):
    from marketplace.provider_slugs import reserved_slug_holders

    Provider = apps.get_model("marketplace", "Provider")
    for provider in reserved_slug_holders(Provider.objects.using(schema_editor.connection.alias)):
        message = (
            f"provider #{provider.pk} {provider.slug!r} (kind {provider.kind}, organization "
            f"#{provider.org_id}) holds a reserved cloud slug: price syncs skip its slug's "
            "rows; rename it or the cloud in the admin"
        )
        print(f"\n  {message}")
        logger.warning(message, extra={"provider_id": provider.pk, "slug": provider.slug})


class Migration(migrations.Migration):

    dependencies = [
        ("marketplace", "0015_egress_reservation_month"),
    ]

    operations = [
        migrations.RunPython(report_reserved_slug_holders, migrations.RunPython.noop),
    ]
