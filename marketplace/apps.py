from django.apps import AppConfig
from django.db.models.signals import post_migrate


class MarketplaceConfig(AppConfig):
    name = "marketplace"
    verbose_name = "Marketplace"

    def ready(self):
        # The canonical GPU list is data shipped with the code: keep the table in step
        # after every migrate (idempotent), instead of freezing it in a data migration.
        post_migrate.connect(_sync_gpu_catalog, sender=self)
        # Imported here, not at the top: Django imports apps.py while the app registry is
        # still loading, and the resolver imports models.
        from .search.resolver import connect_cache_invalidation

        connect_cache_invalidation()


def _sync_gpu_catalog(sender, **kwargs):
    from .services.gpus import gpu_catalog_sync  # imports models: see ready()

    gpu_catalog_sync()
