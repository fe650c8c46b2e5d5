"""A price sync creates the catalog clouds we have a launcher for with that launcher, so that
their offers are reservable whenever the cloud's key is set (marketplace.reservability)."""

from __future__ import annotations

import pytest

from brokers.registry import launchers_unavailable
from brokers.services.normalise import ProviderCache
from marketplace.models import Provider

pytestmark = pytest.mark.django_db


def test_a_sync_gives_the_clouds_we_can_launch_on_their_launcher():
    providers = ProviderCache()

    for slug in ("runpod", "vast", "lambda", "aws"):
        providers.id_for(slug)

    launchers = dict(Provider.objects.values_list("slug", "launcher"))
    assert launchers == {"runpod": "runpod", "vast": "vast", "lambda": "lambda", "aws": ""}


def test_a_launcher_whose_key_is_not_set_is_unavailable(settings):
    settings.LAMBDA_API_KEY, settings.RUNPOD_API_KEY, settings.VAST_API_KEY = "k", "", ""

    assert launchers_unavailable() == {
        "runpod": "RUNPOD_API_KEY is not set",
        "vast": "VAST_API_KEY is not set",
    }
