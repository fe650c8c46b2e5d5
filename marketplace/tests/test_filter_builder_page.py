"""The offers page's filter builder without JavaScript: the form sent as it is, the server
writes the filter, shows it in the query box and lists what it picks; refusals stand at their
fields; a filter in the address fills the fields it can. And paging reaches every offer."""

from __future__ import annotations

import re
from decimal import Decimal
from html import unescape

import pytest
from django.utils import timezone

from marketplace import views
from marketplace.models import GpuModel, Offer
from marketplace.search import clear_catalog_cache
from marketplace.search.builder import GPUS_MESSAGE, VRAM_MESSAGE
from tests.factories import OfferFactory, ProviderFactory

pytestmark = pytest.mark.django_db

# What the builder's form sends when only some fields are filled in (the browser sends every
# field, blank ones as "").
BLANK = {
    "gpu": "",
    "gpus": "",
    "vram": "",
    "continent": "",
    "region": "",
    "pricing": "",
    "max_price": "",
    "price_per": "gpu_hour",
    "keep": "",
}


@pytest.fixture
def offers():
    clear_catalog_cache()
    provider = ProviderFactory()
    h100 = GpuModel.objects.get(name="H100", memory_gb=80)
    a100 = GpuModel.objects.get(name="A100", memory_gb=80)
    now = timezone.now()
    rows = [
        ("h100x8-eu", h100, 8, "EU", "on_demand", "24"),
        ("h100x1-eu-spot", h100, 1, "EU", "spot", "2.2"),
        ("h100x8-us", h100, 8, "NA", "on_demand", "20"),
        ("a100x8-eu", a100, 8, "EU", "on_demand", "12"),
    ]
    created = {
        sku: OfferFactory(provider=provider, sku=sku, gpu=gpu, gpu_count=count, continent=continent,
                          region=f"{continent.lower()}-1", pricing=pricing, observed_at=now,
                          price_per_hour=Decimal(price))
        for sku, gpu, count, continent, pricing, price in rows
    }  # fmt: skip
    yield created
    clear_catalog_cache()


def listed_skus(html: str) -> list[str]:
    """The offers the table lists, in its order."""
    body = html.split('<table id="offers">')[1].split("</table>")[0]
    skus = dict(Offer.objects.values_list("pk", "sku"))
    return [skus[int(pk)] for pk in re.findall(r'<tr id="offer-([0-9]+)">', body)]


def query_box(html: str) -> str:
    return unescape(re.search(r'<input type="text" id="q" name="q" value="([^"]*)"', html).group(1))


def selected(html: str, field: str) -> str:
    select = re.search(rf'<select name="{field}" id="builder-{field}".*?</select>', html, re.S)
    chosen = re.search(r'<option value="([^"]*)" selected>', select.group(0))
    return chosen.group(1) if chosen else ""


def test_the_builder_sent_without_script_writes_the_query_and_filters(client, offers):
    response = client.get("/offers/", BLANK | {"gpu": "H100", "gpus": "8", "continent": "EU"})

    assert response.status_code == 200
    html = response.content.decode()
    assert query_box(html) == "gpu=H100 gpus>=8 continent=EU"
    assert listed_skus(html) == ["h100x8-eu"]
    # and the fields show what was chosen, read back from the query
    assert (selected(html, "gpu"), selected(html, "continent")) == ("H100", "EU")
    assert 'value="8"' in _input(html, "gpus")


def test_the_sort_is_kept_and_pages_follow_the_built_query(client, offers, monkeypatch):
    monkeypatch.setattr(views, "PAGE_SIZE", 1)
    fields = BLANK | {"gpus": "8", "max_price": "24", "price_per": "hour", "sort": "-price"}

    seen, html = [], client.get("/offers/", fields).content.decode()
    while True:
        seen += listed_skus(html)
        found = re.search(r'<a href="(\?[^"]+)" rel="next">', html)
        if not found:
            break
        html = client.get("/offers/" + unescape(found.group(1))).content.decode()
        assert query_box(html) == "gpus>=8 price<=24"

    # the three 8-GPU offers at 24/h or less, dearest first
    assert seen == ["h100x8-eu", "h100x8-us", "a100x8-eu"]


def test_paging_reaches_every_offer_when_the_search_runs_one_gpu_at_a_time(
    client, offers, monkeypatch
):
    # two GPUs sorted by price per GPU-hour: each page merges one ordered run per GPU
    monkeypatch.setattr(views, "PAGE_SIZE", 1)
    html = client.get("/offers/", {"q": "gpu in [H100, A100]"}).content.decode()
    seen, pages = [], 0
    while True:
        seen, pages = seen + listed_skus(html), pages + 1
        found = re.search(r'<a href="(\?[^"]+)" rel="next">', html)
        if not found:
            break
        html = client.get("/offers/" + unescape(found.group(1))).content.decode()
        assert '<a href="?q=gpu+in+%5BH100%2C+A100%5D" rel="first">' in html

    # per GPU-hour: 2.2, 12/8 = 1.5, 20/8 = 2.5, 24/8 = 3
    assert seen == ["a100x8-eu", "h100x1-eu-spot", "h100x8-us", "h100x8-eu"]
    assert pages == 4


def test_refused_fields_show_their_error_at_the_field_never_a_500(client, offers):
    response = client.get("/offers/", BLANK | {"gpus": "-1", "vram": "lots", "gpu": "H100"})

    assert response.status_code == 400
    html = response.content.decode()
    assert _error(html, "gpus") == GPUS_MESSAGE
    assert _error(html, "vram") == VRAM_MESSAGE
    assert 'aria-invalid="true"' in _input(html, "gpus")
    assert 'aria-describedby="builder-gpus_error"' in _input(html, "gpus")
    # what was typed stays in its field, and nothing is listed until it is fixed
    assert 'value="lots"' in _input(html, "vram")
    assert listed_skus(html) == []
    assert _error(html, "gpu") == ""


@pytest.mark.parametrize(
    "sent",
    [
        {"gpu": "<script>"},
        {"continent": "XX"},
        {"pricing": "free"},
        {"price_per": "day"},
        {"gpus": "9" * 5000},
        {"max_price": "1" * 400},
        {"region": "\x00"},
        {"keep": "(unbalanced"},
    ],
)
def test_anything_sent_to_the_builder_answers_a_page_not_a_500(client, offers, sent):
    response = client.get("/offers/", BLANK | sent)
    assert response.status_code == 400
    assert "Build a filter" in response.content.decode()


def test_a_query_in_the_address_fills_the_fields_it_can_and_keeps_the_rest(client, offers):
    html = client.get("/offers/", {"q": "gpu=H100 pricing=spot observed<1h"}).content.decode()

    assert (selected(html, "gpu"), selected(html, "pricing")) == ("H100", "spot")
    assert 'name="keep" value="observed&lt;1h"' in html
    assert "Kept from your filter: <code>observed&lt;1h</code>" in html
    assert listed_skus(html) == ["h100x1-eu-spot"]


def test_the_builder_keeps_what_it_cannot_say_when_sent_again(client, offers):
    sent = BLANK | {"gpus": "8", "continent": "EU", "keep": "(gpu=A100 or price>=24)"}

    html = client.get("/offers/", sent).content.decode()

    assert query_box(html) == "gpus>=8 continent=EU (gpu=A100 or price>=24)"
    assert listed_skus(html) == ["a100x8-eu", "h100x8-eu"]


def _input(html: str, field: str) -> str:
    return re.search(rf'<input type="text" name="{field}"[^>]*>', html).group(0)


def _error(html: str, field: str) -> str:
    found = re.search(rf'<span class="error" id="builder-{field}_error"[^>]*>([^<]*)</span>', html)
    return unescape(found.group(1))


def test_a_built_filter_the_search_refuses_shows_its_error_and_keeps_the_fields(client, offers):
    response = client.get("/offers/", BLANK | {"gpu": "H100", "keep": "(gpus>=8"})

    assert response.status_code == 400
    html = response.content.decode()
    assert "Unbalanced &#x27;(&#x27;" in html.split('id="query-error"')[1]
    assert query_box(html) == "gpu=H100 (gpus>=8"
    assert selected(html, "gpu") == "H100"
    assert 'name="keep" value="(gpus&gt;=8"' in html
