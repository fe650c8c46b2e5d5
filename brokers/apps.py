from django.apps import AppConfig


class BrokersConfig(AppConfig):
    name = "brokers"
    verbose_name = "Brokers (pricing sources and launchers)"

    def provider_slugs_in_use(self) -> frozenset[str]:
        """The slugs our pricing sources write offers for: reserved for system providers
        (`marketplace.provider_slugs`, which cannot import us)."""
        from brokers.registry import source_provider_slugs

        return source_provider_slugs()

    def launchers_unavailable(self) -> dict[str, str]:
        """Launchers that cannot launch now, and why (`marketplace.reservability`)."""
        from brokers.registry import launchers_unavailable

        return launchers_unavailable()
