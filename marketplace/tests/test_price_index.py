"""The price index selector against percentiles worked out by hand from the small history of
price_index_fixtures.py (today 2026-12-06, a 7-day window from 2026-11-30).

percentile_cont interpolates between ranks: over n sorted prices v0..v(n-1), the p-th
percentile sits at rank h = p (n - 1), v[floor h] + (h - floor h)(v[ceil h] - v[floor h]).
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.utils import timezone

from common.errors import DomainError
from marketplace.models import GpuModel
from marketplace.selectors.price_index import (
    PriceIndexDay,
    price_index,
    price_index_compute,
    price_index_query,
)
from marketplace.tests.price_index_fixtures import NOW, build_history
from tests.factories import OfferFactory

pytestmark = pytest.mark.django_db

DAYS = [date(2026, 11, 30) + timedelta(days=n) for n in range(7)]


def _today() -> date:
    return timezone.now().date()


def _rows(**params) -> list[tuple]:
    query = price_index_query(**{"gpu": "H100", "days": "7"} | params)
    index = price_index_compute(query=query, today=NOW.date())
    return [(r.day, r.p10, r.median, r.p90, r.offers, r.providers) for r in index.rows]


def _expected(*spans) -> list[tuple]:
    """(days, (p10, median, p90, offers, providers)) spans, in order, to one row per day."""
    rows = []
    for count, (p10, median, p90, offers, providers) in spans:
        for _ in range(count):
            day = DAYS[len(rows)]
            rows.append((day, Decimal(p10), Decimal(median), Decimal(p90), offers, providers))
    return rows


def test_each_day_counts_every_offer_listed_that_day_at_its_price_at_the_days_end():
    # given
    build_history()

    # when
    rows = _rows()

    # then
    assert rows == _expected(
        # A 2, B 4, C 1, D 5 -> [1, 2, 4, 5]: P10 at rank 0.3, median 1.5, P90 2.7
        (2, ("1.30", "3.00", "4.70", 4, 3)),
        # B repriced to 3 on Dec 2 at 10:00 -> [1, 2, 3, 5]; D last seen Dec 3: still counted
        (2, ("1.30", "2.50", "4.40", 4, 3)),
        # D gone, E listed Dec 4 at 09:00 -> [1, 2, 2.5, 3]
        (3, ("1.30", "2.25", "2.85", 4, 3)),
    )


def test_a_pricing_model_filter_leaves_the_others_out():
    build_history()

    rows = _rows(pricing="on_demand")

    assert rows == _expected(
        (2, ("2.40", "4.00", "4.80", 3, 3)),  # [2, 4, 5]: ranks 0.2, 1, 1.8
        (2, ("2.20", "3.00", "4.60", 3, 3)),  # [2, 3, 5]
        (3, ("2.10", "2.50", "2.90", 3, 3)),  # [2, 2.5, 3]
    )


def test_a_continent_filter_leaves_the_others_out():
    build_history()

    rows = _rows(continent="eu")  # any case

    assert rows == _expected(
        (2, ("2.20", "3.00", "3.80", 2, 2)),  # A 2, B 4: ranks 0.1, 0.5, 0.9
        (2, ("2.10", "2.50", "2.90", 2, 2)),  # A 2, B 3
        (3, ("2.10", "2.50", "2.90", 3, 3)),  # A 2, E 2.5, B 3
    )
    assert _rows(continent="NA", pricing="spot") == _expected((7, ("1.00", "1.00", "1.00", 1, 1)))


def test_a_day_without_offers_has_no_prices():
    build_history()

    rows = _rows(gpu="RTX4090")

    assert rows == [(day, None, None, None, 0, 0) for day in DAYS]


def test_percentiles_are_exact_before_they_are_rounded_half_up_to_cents():
    # given two prices whose median is exactly 2.005 (2.00499999... as a double)
    for price in ("2.004000", "2.006000"):
        OfferFactory(price_per_hour=Decimal(price), price_per_gpu_hour=Decimal(price))

    # when
    today = price_index_compute(query=price_index_query(gpu="H100", days="7"), today=_today())

    # then: P10 2.0042, median 2.005, P90 2.0058
    assert today.rows[-1] == PriceIndexDay(
        _today(), Decimal("2.00"), Decimal("2.01"), Decimal("2.01"), 2, 1
    )


def test_the_price_per_gpu_hour_is_the_instance_price_over_its_gpus():
    OfferFactory(gpu_count=8, price_per_hour=Decimal("20.000000"))  # 2.50 per GPU-hour

    index = price_index_compute(query=price_index_query(gpu="H100", days="7"), today=_today())

    assert index.rows[-1].median == Decimal("2.50")


def test_every_memory_size_of_a_model_counts_and_aliases_name_it():
    a100s = GpuModel.objects.filter(name="A100")
    for gpu in a100s:
        OfferFactory(gpu=gpu, price_per_hour=Decimal("1.000000"))

    index = price_index_compute(
        query=price_index_query(gpu="nvidia a100-sxm4", days="7"), today=_today()
    )

    assert index.query.gpu == "A100"
    assert index.rows[-1].offers == a100s.count() >= 2


def test_it_is_cached_by_its_parameters_and_the_day(django_assert_num_queries):
    build_history()
    query = price_index_query(gpu="H100", days="7")
    spot = price_index_query(gpu="H100", days="7", pricing="spot")
    first = price_index(query=query, now=NOW)

    with django_assert_num_queries(0):
        assert price_index(query=query, now=NOW) == first
    with django_assert_num_queries(2):  # GPU ids, the index: another filter is another entry
        price_index(query=spot, now=NOW)
    with django_assert_num_queries(2):  # a new day: a new window
        price_index(query=query, now=NOW + timedelta(days=1))


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"gpu": "H1000"}, "unknown_gpu"),
        ({"gpu": "x" * 5000}, "unknown_gpu"),
        ({"gpu": "\x00"}, "unknown_gpu"),
        ({"pricing": "cheap"}, "invalid_pricing"),
        ({"continent": "XX"}, "invalid_continent"),
        ({"days": "14"}, "invalid_window"),
        ({"days": "-7"}, "invalid_window"),
        ({"days": "7.0"}, "invalid_window"),
    ],
)
def test_it_refuses_what_it_cannot_index_with_a_code(params, code):
    with pytest.raises(DomainError) as refused:
        price_index_query(**{"gpu": "H100"} | params)

    assert refused.value.code == code


def test_an_unknown_gpu_gets_a_suggestion():
    with pytest.raises(DomainError) as refused:
        price_index_query(gpu="H10")

    assert refused.value.extra["suggestion"] == "H100"


def test_the_defaults_are_h100_everywhere_30_days():
    query = price_index_query(gpu=None, pricing="", continent=None, days="")

    assert (query.gpu, query.pricing, query.continent, query.days) == ("H100", "", "", 30)


@time_machine.travel(NOW, tick=False)
def test_the_window_ends_today():
    index = price_index(query=price_index_query(gpu="H100", days="90"))

    assert [index.rows[0].day, index.rows[-1].day, len(index.rows)] == [
        NOW.date() - timedelta(days=89),
        NOW.date(),
        90,
    ]
