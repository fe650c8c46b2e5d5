"""The registry: the only way into a provider module. Names map to sources and launchers."""

from __future__ import annotations

from brokers.launchers.base import Launcher
from brokers.launchers.lambda_cloud import LambdaLauncher
from brokers.launchers.listed import ListedLauncher
from brokers.launchers.runpod import RunPodLauncher
from brokers.launchers.vast import VastLauncher
from brokers.simulated import SimulatedCloudSource, SimulatedLauncher
from brokers.sources import SOURCES
from brokers.sources.base import PricingSource


class UnknownIntegration(LookupError):
    pass


def _sources() -> dict[str, type[PricingSource]]:
    return {**SOURCES, SimulatedCloudSource.name: SimulatedCloudSource}


def _launchers() -> dict[str, type[Launcher]]:
    launchers = [SimulatedLauncher, ListedLauncher, LambdaLauncher, RunPodLauncher, VastLauncher]
    return {launcher.name: launcher for launcher in launchers}


def source_names() -> list[str]:
    return sorted(_sources())


def source_provider_slugs() -> frozenset[str]:
    """Every provider slug a pricing source is known to write offers for."""
    return frozenset().union(*(source.provider_slugs() for source in _sources().values()))


def get_source(name: str) -> PricingSource:
    try:
        return _sources()[name]()
    except KeyError:
        raise UnknownIntegration(
            f"unknown pricing source {name!r}; known: {', '.join(source_names())}"
        ) from None


def get_launcher(name: str) -> Launcher:
    try:
        return _launchers()[name]()
    except KeyError:
        raise UnknownIntegration(f"unknown launcher {name!r}") from None


def launchers_unavailable() -> dict[str, str]:
    """Launcher name -> why it cannot launch now: a catalog cloud's key that is not set."""
    return {
        name: f"{launcher.credential_setting} is not set"
        for name, launcher in _launchers().items()
        if launcher.credential_setting and not launcher.configured()
    }


def cloud_launcher_for(slug: str) -> str:
    """The launcher a catalog cloud's provider keeps (its key decides whether it is ready),
    or "" for a cloud we cannot launch on."""
    launcher = _launchers().get(slug)
    return launcher.name if launcher is not None and launcher.credential_setting else ""
