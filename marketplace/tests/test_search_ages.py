"""Which filters' answers time can only shrink (marketplace/search/ages.py)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from marketplace.search import parse_query
from marketplace.search.ages import ages_that_only_drop

HOUR, DAY = Decimal(3600), Decimal(86400)


@pytest.mark.parametrize(
    ("text", "ages"),
    [
        ("", ()),
        ("gpu=H100 price<3/h", ()),
        ("observed<1h", (HOUR,)),
        ("observed<=1h gpus>=8", (HOUR,)),
        ("observed<1d or gpu=H100", (DAY,)),
        ("observed<1h observed<1d", (HOUR, DAY)),
        ("not observed>1h", (HOUR,)),
        ("not observed>=1d or not (gpu=A100 or not observed<1h)", (HOUR, DAY)),
        ("observed=any", ()),
    ],
)
def test_ages_whose_offers_only_drop_out_as_time_passes(text, ages):
    assert ages_that_only_drop(parse_query(text)) == ages


@pytest.mark.parametrize(
    "text",
    [
        "observed>1h",
        "observed>=30m gpu=H100",
        "not observed<1h",
        "observed<1d observed>1h",
        "gpu=A100 or not (gpu=H100 observed<=2h)",
    ],
)
def test_ages_that_time_can_add_offers_to(text):
    assert ages_that_only_drop(parse_query(text)) is None
