"""A filter's cost: wildcard patterns no index can serve are charged, and a filter over the
limit is refused with 400 query_too_costly at the term that crossed it, before any SQL."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from marketplace.search import QUERY_TOO_COSTLY, QueryError, compile_filter

from .search_fakes import CATALOG, NOW
from .test_quotes_api import post_quote

# Four unanchored patterns cost 16, the limit; a fifth crosses it.
FIVE_UNANCHORED = "region=*west* or zone=*a* or sku=*h100* or interconnect=*nv* or region=*-1"
AT_THE_LIMIT = [
    "region=*west* or zone=*a* or sku=*h100* or interconnect=*nv*",
    "region in [" + ",".join(f"r{n}-*" for n in range(16)) + "]",
    "gpu in [" + ",".join(f"RTX_{n}*" for n in range(12)) + "] region=*west*",
    "provider=lambda* gpu=H1* region=eu-* zone=*a sku=us-*-1a region=*b*",
]


@pytest.mark.parametrize("query", AT_THE_LIMIT)
def test_it_runs_a_filter_at_the_limit(query):
    compile_filter(query, resolver=CATALOG, now=NOW)


@pytest.mark.parametrize(
    ("query", "position"),
    [
        # the fifth term: 5 × 4
        (FIVE_UNANCHORED, FIVE_UNANCHORED.rindex("region")),
        # one term with five patterns in its list
        ("gpus>=1 region in [*a*, *b*, *c*, *d*, *e*]", 8),
        # seventeen prefixes
        ("region in [" + ",".join(f"r{n}-*" for n in range(17)) + "]", 0),
        # patterns under not and in brackets count as well: 4 × 4 + 1
        ("not (region=*a* zone=*b*) or (sku=*c* or interconnect=*d*) provider=x*", 59),
    ],
)
def test_it_refuses_a_filter_over_the_limit_where_it_crossed(query, position):
    with pytest.raises(QueryError) as raised:
        compile_filter(query, resolver=CATALOG, now=NOW)

    error = raised.value
    assert (error.code, error.position) == ("query_too_costly", position)
    assert query[position:].startswith(("region", "provider"))
    assert "more than 16" in error.message
    assert "*west*" in error.hint


@pytest.mark.django_db
def test_the_api_refuses_it_with_400_before_any_sql(api_client):
    # given a filter of many OR'd unanchored wildcards
    query = " or ".join(f"region=*{letter}*" for letter in "abcdefghij")
    # when the catalog is searched with it
    with CaptureQueriesContext(connection) as queries:
        response = api_client.get("/api/v1/offers/", {"q": query})
    # then it is refused where the fifth pattern begins, and nothing reached the database
    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["code"], error["position"]) == (QUERY_TOO_COSTLY, 4 * len("region=*a* or "))
    assert len(queries) == 0


@pytest.mark.django_db
def test_the_offers_page_shows_it_under_the_query(client):
    query = "region in [*a*, *b*, *c*, *d*, *e*]"
    response = client.get("/offers/", {"q": query})
    assert response.status_code == 400
    assert b"This filter costs more than 16 to run." in response.content


@pytest.mark.django_db
def test_a_quote_filter_is_refused_with_its_field(api_client, buyer):
    body = {"gpu": "H100:8", "hours": 1, "filter": "gpus>=1 zone in [*a,*b,*c,*d,*e]"}
    response = post_quote(api_client, buyer, body)
    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["code"], error["position"], error["field"]) == (QUERY_TOO_COSTLY, 8, "filter")
