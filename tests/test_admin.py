"""Operators run the marketplace from the Django admin: every model is there and its list
and add pages render."""

from __future__ import annotations

import pytest
from django.apps import apps
from django.contrib import admin

pytestmark = pytest.mark.django_db

PROJECT_APPS = ("accounts", "marketplace", "brokers", "billing")


def _project_models():
    return [m for app in PROJECT_APPS for m in apps.get_app_config(app).get_models()]


def test_every_project_model_is_in_the_admin():
    missing = [m.__name__ for m in _project_models() if not admin.site.is_registered(m)]
    assert missing == []


@pytest.mark.parametrize(
    "model", _project_models(), ids=lambda m: f"{m._meta.app_label}.{m.__name__}"
)
def test_it_renders_the_admin_list_page(admin_client, model):
    response = admin_client.get(f"/admin/{model._meta.app_label}/{model._meta.model_name}/")
    assert response.status_code == 200
    assert str(model._meta.verbose_name_plural) in response.content.decode().lower()


def test_an_offers_page_shows_its_price_history(admin_client):
    from decimal import Decimal

    from tests.factories import OfferFactory

    offer = OfferFactory(price_per_hour=Decimal("2.500000"))
    page = admin_client.get(f"/admin/marketplace/offer/{offer.pk}/change/").content.decode()
    assert f"2.500000 USD from {offer.created_at:%Y-%m-%d %H:%M}" in page
