"""The catalog clouds we have a launcher for (lambda, runpod, vast) keep its name, so that
their offers are reservable whenever the cloud's API key is set (marketplace.reservability).
Only system providers: an organization's provider is never given a cloud's launcher."""

from django.db import migrations

# As in the registry today; a migration must not import it (it changes, migrations do not).
CLOUD_LAUNCHERS = ("lambda", "runpod", "vast")


def give_launchers(apps, schema_editor):
    Provider = apps.get_model("marketplace", "Provider")
    for name in CLOUD_LAUNCHERS:
        Provider.objects.filter(slug=name, kind="cloud", org__isnull=True, launcher="").update(
            launcher=name
        )


def take_launchers(apps, schema_editor):
    Provider = apps.get_model("marketplace", "Provider")
    Provider.objects.filter(slug__in=CLOUD_LAUNCHERS, kind="cloud", org__isnull=True).filter(
        launcher__in=CLOUD_LAUNCHERS
    ).update(launcher="")


class Migration(migrations.Migration):
    dependencies = [
        ("brokers", "0005_pricesync_status_skipped"),
        ("marketplace", "0017_provider_previous_webhook_secret"),
    ]

    operations = [migrations.RunPython(give_launchers, take_launchers)]
