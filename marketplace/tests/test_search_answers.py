"""Kept search answers (marketplace/selectors/search_answers.py): a repeated search is
answered without running it, and never with an answer some committed write has changed, on
PostgreSQL with real commits and a second connection."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import psycopg
import pytest
import time_machine
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from marketplace.models import GpuModel, Offer, Provider
from marketplace.search import clear_catalog_cache
from marketplace.selectors.search_answers import SearchAnswers, search_answers
from marketplace.services.offer_inputs import OfferInput
from marketplace.services.offer_writer import offer_upsert_batch
from tests.factories import OfferFactory, ProviderFactory

pytestmark = pytest.mark.django_db(transaction=True)

URL = "/api/v1/offers/"


@pytest.fixture(autouse=True)
def _no_answers_kept_yet():
    answers = search_answers()
    answers.clear()
    yield
    answers.clear()


@pytest.fixture
def offers():
    lam = ProviderFactory(name="Lambda", slug="lambda")
    h100 = GpuModel.objects.get(name="H100", memory_gb=80)
    a100 = GpuModel.objects.get(name="A100", memory_gb=80)
    return {
        "h100": OfferFactory(provider=lam, gpu=h100, sku="h100", price_per_hour=Decimal("3")),
        "a100": OfferFactory(provider=lam, gpu=a100, sku="a100", price_per_hour=Decimal("2")),
        "sim": OfferFactory(sku="sim-h100", price_per_hour=Decimal("2.5")),
    }


def search(**params):
    """(the response, the SQL it ran besides reading the catalog's version)"""
    with CaptureQueriesContext(connection) as queries:
        response = APIClient().get(URL, params)
    assert response.status_code == 200, response.content
    ran = [q["sql"] for q in queries.captured_queries if "catalog_version()" not in q["sql"]]
    return response, ran


def prices(response) -> dict[str, str]:
    return {offer["sku"]: offer["price_per_hour"] for offer in response.json()["results"]}


def test_a_repeated_search_runs_no_query_and_answers_the_same_bytes_and_headers(offers):
    first, ran_first = search(q="gpu=H100", sort="-price")
    again, ran_again = search(q="gpu=H100", sort="-price")

    assert ran_first and not ran_again
    assert [o["sku"] for o in again.json()["results"]] == ["h100", "sim-h100"]
    assert again.content == first.content
    assert {k: again[k] for k in ("Content-Type", "Vary", "Allow")} == {
        k: first[k] for k in ("Content-Type", "Vary", "Allow")
    }


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"q": "gpu=H100"},
        {"q": "provider=lambda gpus>=1", "sort": "-price"},
        {"limit": "1"},
        {"q": "price<10/h", "format": "json"},
    ],
)
def test_a_kept_answer_is_byte_for_byte_the_answer_of_a_search_run_anew(offers, settings, params):
    search(**params)
    kept, ran = search(**params)
    settings.SEARCH_ANSWERS_KEPT = 0
    anew, _ = search(**params)

    assert not ran
    assert kept.content == anew.content
    assert kept["Content-Type"] == anew["Content-Type"] == "application/json"


def test_each_page_is_kept_under_its_cursor(offers):
    first, _ = search(limit="1")
    second, ran = search(limit="1", cursor=first.json()["next"])
    second_again, ran_again = search(limit="1", cursor=first.json()["next"])

    assert ran and not ran_again
    assert second_again.content == second.content
    assert second.json()["results"][0]["sku"] == "sim-h100"  # 2, 2.5, 3 per hour


def test_an_indented_answer_is_kept_apart_from_the_compact_one(offers):
    client = APIClient()
    compact = client.get(URL, {"q": "gpu=A100"})
    indented = client.get(URL, {"q": "gpu=A100"}, HTTP_ACCEPT="application/json; indent=2")
    indented_again = client.get(URL, {"q": "gpu=A100"}, HTTP_ACCEPT="application/json; indent=2")

    assert b"\n  " in indented.content and b"\n" not in compact.content
    assert indented_again.content == indented.content


def offer_input(offer: Offer, price: str) -> OfferInput:
    return OfferInput(
        provider_id=offer.provider_id,
        sku=offer.sku,
        gpu_id=offer.gpu_id,
        gpu_count=offer.gpu_count,
        price_per_hour=Decimal(price),
        gpu_memory_gb=offer.gpu_memory_gb,
        vcpus=offer.vcpus,
        memory_gb=offer.memory_gb,
        region=offer.region,
        country=offer.country,
        continent=offer.continent,
        available=offer.available,
    )


def raw_sql_price(offer: Offer, price: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE marketplace_offer SET price_per_hour = %s WHERE id = %s", [price, offer.pk]
        )


WRITES = {
    "save": lambda o: Offer.objects.filter(pk=o.pk).update(price_per_hour=Decimal("9")),
    "model save": lambda o: (setattr(o, "price_per_hour", Decimal("9")), o.save()),
    "raw SQL": lambda o: raw_sql_price(o, "9"),
    "bulk upsert (COPY)": lambda o: offer_upsert_batch(
        batch=[offer_input(o, "9")], observed_at=timezone.now()
    ),
}


@pytest.mark.parametrize("write", WRITES.values(), ids=WRITES.keys())
def test_a_committed_price_change_is_answered_at_once(offers, write):
    before, _ = search(q="gpu=A100")
    search(q="gpu=A100")  # kept

    write(offers["a100"])
    after, ran = search(q="gpu=A100")

    assert prices(before) == {"a100": "2.000000"}
    assert ran
    assert prices(after) == {"a100": "9.000000"}


def test_a_new_offer_a_deleted_one_and_a_renamed_provider_are_answered_at_once(offers):
    search()
    OfferFactory(sku="new-one", price_per_hour=Decimal("1"))
    assert "new-one" in prices(search()[0])

    Offer.objects.filter(sku="new-one").delete()
    assert "new-one" not in prices(search()[0])

    Provider.objects.filter(slug="lambda").update(slug="lambda-labs")
    assert {o["provider"] for o in search()[0].json()["results"]} == {"lambda-labs", "simcloud"}


def test_a_renamed_gpu_is_answered_at_once(offers):
    assert search(q="gpu=A100")[0].json()["results"][0]["gpu"] == "A100"
    search()

    gpu = GpuModel.objects.get(name="A100", memory_gb=80)
    gpu.vendor = "nvidia-renamed"
    gpu.save()

    vendors = {o["sku"]: o["gpu_vendor"] for o in search()[0].json()["results"]}
    assert vendors["a100"] == "nvidia-renamed"


@pytest.fixture
def other_connection(settings):
    db = settings.DATABASES["default"]
    with psycopg.connect(
        host=db["HOST"], port=db["PORT"], user=db["USER"], dbname=db["NAME"]
    ) as other:
        yield other


def test_nothing_is_kept_while_a_write_is_uncommitted_and_the_commit_is_answered(
    offers, other_connection
):
    # given a price change another connection has written but not committed
    other_connection.execute(
        "UPDATE marketplace_offer SET price_per_hour = 9 WHERE id = %s", [offers["a100"].pk]
    )

    # when the same search is asked twice meanwhile
    during, _ = search(q="gpu=A100")
    during_again, ran_again = search(q="gpu=A100")

    # then both show the committed price and were run: nothing was kept
    assert prices(during) == prices(during_again) == {"a100": "2.000000"}
    assert ran_again
    assert len(search_answers()) == 0

    # and once it commits, the search answers the new price
    other_connection.commit()
    assert prices(search(q="gpu=A100")[0]) == {"a100": "9.000000"}


def observed(now, **minutes_ago):
    for sku, minutes in minutes_ago.items():
        Offer.objects.filter(sku=sku).update(observed_at=now - timedelta(minutes=minutes))


def searches_at(now, moments: list[timedelta], **params) -> list[tuple]:
    """search(**params) with the clock at now + each moment, in order."""
    with time_machine.travel(now, tick=False) as clock:
        answers = []
        for moment in moments:
            clock.move_to(now + moment)
            answers.append(search(**params))
    return answers


def minutes(value: float) -> timedelta:
    return timedelta(minutes=value)


def test_a_search_by_age_is_kept_until_one_of_its_offers_may_age_out(offers):
    now = timezone.now()
    observed(now, h100=50, a100=20, **{"sim-h100": 120})
    moments = [
        minutes(0),
        minutes(9),
        minutes(10) + timedelta(seconds=1),  # h100's price is an hour old
        minutes(39),
        minutes(40) + timedelta(seconds=1),  # and a100's
        timedelta(days=30),  # no offer can come back: time only ages them
    ]
    (
        (first, _),
        (kept, ran_kept),
        (aged, ran_aged),
        (_, ran_then),
        (empty, ran_empty),
        (_, ran_later),
    ) = searches_at(now, moments, q="observed<1h")

    assert set(prices(first)) == {"a100", "h100"}
    assert not ran_kept and kept.content == first.content
    assert ran_aged and set(prices(aged)) == {"a100"}
    assert not ran_then
    assert ran_empty and prices(empty) == {}
    assert not ran_later


def test_an_aged_out_next_page_is_answered_though_the_page_is_the_same(offers):
    now = timezone.now()
    # by price per GPU-hour: a100 (2), sim-h100 (2.5, too old to match), h100 (3)
    observed(now, a100=20, h100=50, **{"sim-h100": 120})
    # at 10 min 1 s h100 is no longer a match
    moments = [minutes(0), minutes(10) + timedelta(seconds=1)]
    (first, _), (last, ran) = searches_at(now, moments, q="observed<1h", limit="1")

    assert [o["sku"] for o in first.json()["results"]] == ["a100"] and first.json()["next"]
    assert ran
    assert [o["sku"] for o in last.json()["results"]] == ["a100"]
    assert last.json()["next"] is None


def test_a_term_flipped_before_the_search_does_not_end_its_answer(offers):
    now = timezone.now()
    observed(now, a100=120, h100=50, **{"sim-h100": 240})
    moments = [minutes(0), minutes(9), minutes(10) + timedelta(seconds=1)]
    (first, _), (_, ran_kept), (aged, ran_aged) = searches_at(
        now, moments, q="observed<1h or gpu=A100"
    )

    assert set(prices(first)) == {"a100", "h100"}
    assert not ran_kept  # a100 matched by its GPU, its price long past the hour
    assert ran_aged and set(prices(aged)) == {"a100"}


def test_a_price_observed_at_the_end_of_time_is_kept_without_error(offers):
    end_of_time = datetime(9999, 12, 31, 23, 0, tzinfo=UTC)  # plus 3650 days: no datetime
    Offer.objects.filter(sku="h100").update(observed_at=end_of_time)

    first, _ = search(q="observed<3650d gpu=H100")
    _, ran = search(q="observed<3650d gpu=H100")

    assert "h100" in prices(first)
    assert not ran


@pytest.mark.parametrize("query", ["observed>1h", "not observed<1h", "observed<1d observed>1h"])
def test_a_search_that_time_can_add_offers_to_is_never_kept(offers, query):
    now = timezone.now()
    observed(now, h100=50, a100=20, **{"sim-h100": 120})
    # at 10 min 1 s h100's price becomes an hour old
    _, (later, ran) = searches_at(now, [minutes(0), minutes(10) + timedelta(seconds=1)], q=query)

    assert ran
    assert "h100" in prices(later)
    assert len(search_answers()) == 0


def test_nothing_is_kept_inside_a_transaction(offers):
    with transaction.atomic():
        search(q="gpu=A100")
        _, ran = search(q="gpu=A100")

    assert ran
    assert len(search_answers()) == 0


def test_an_answer_is_kept_only_with_the_catalog_snapshot_it_was_resolved_against(offers):
    search(q="gpu=A100")
    search()
    clear_catalog_cache()  # the process's GPU and provider names are read again

    _, ran_named = search(q="gpu=A100")
    _, ran_unnamed = search()

    assert ran_named  # resolved against the snapshot just dropped
    assert not ran_unnamed  # names no GPU nor provider: no snapshot in its answer


def test_the_browsable_api_is_not_kept(offers):
    APIClient().get(URL, {"format": "api"})

    assert len(search_answers()) == 0


FOREVER = datetime.max.replace(tzinfo=UTC)


def test_the_least_recently_used_answers_go_first_within_both_bounds():
    answers = SearchAnswers(entries=3, bytes_kept=100)
    for key in "abc":
        answers.put((key,), 1, None, b"x", until=FOREVER)
    answers.get(("a",), 1)  # used: b is now the oldest
    answers.put(("d",), 1, None, b"x", until=FOREVER)
    assert [answers.get((k,), 1) for k in "abcd"] == [b"x", None, b"x", b"x"]

    answers.put(("e",), 1, None, b"y" * 10, until=FOREVER)  # a tenth of the bytes: kept, a goes
    answers.put(("f",), 1, None, b"z" * 11, until=FOREVER)  # more than a tenth: not kept
    assert [answers.get((k,), 1) for k in "acdef"] == [None, b"x", b"x", b"y" * 10, None]
    assert answers.get(("c",), 2) is None  # another version of the catalog


def test_the_bytes_bound_drops_old_answers():
    answers = SearchAnswers(entries=100, bytes_kept=100)
    for index in range(12):
        answers.put((index,), 1, None, b"x" * 10, until=FOREVER)

    assert len(answers) == 10
    assert answers.get((0,), 1) is None and answers.get((11,), 1) == b"x" * 10


def test_an_answer_is_not_served_from_the_moment_it_may_have_changed():
    answers = SearchAnswers(entries=10, bytes_kept=100)
    until = timezone.now() + timedelta(minutes=1)
    answers.put(("a",), 1, None, b"x", until=until)

    with time_machine.travel(until - timedelta(microseconds=1), tick=False):
        assert answers.get(("a",), 1) == b"x"
    with time_machine.travel(until, tick=False):
        assert answers.get(("a",), 1) is None
