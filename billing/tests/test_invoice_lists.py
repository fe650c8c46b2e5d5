"""Every invoice is reachable: the API and the invoices page page with cursors to the end."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest

from billing.models import Invoice, InvoiceLine, InvoiceStatus
from common.api.pagination import encode_cursor
from marketplace.models import Reservation
from tests.factories import InvoiceFactory, OfferFactory, make_org_with_key, month_number

pytestmark = pytest.mark.django_db

URL = "/api/v1/invoices/"


def _expected_order(invoices: list[Invoice]) -> list[int]:
    """Newest period first; invoices of one period (one per currency) by id, newest first."""
    return [i.pk for i in sorted(invoices, key=lambda i: (i.period_start, i.pk), reverse=True)]


def test_it_reaches_all_150_invoices_newest_period_first(api_client):
    # given 150 invoices over 30 months (five share each month) and another org's invoices
    finance = make_org_with_key(role="finance")
    invoices = InvoiceFactory.create_batch(150, org=finance.org)
    InvoiceFactory.create_batch(2, org=make_org_with_key().org)

    # when finance follows `next` 40 at a time
    pages, cursor = [], None
    while True:
        params = {"limit": 40} | ({"cursor": cursor} if cursor else {})
        body = api_client.get(URL, params, **finance.headers).json()
        pages.append([row["id"] for row in body["results"]])
        cursor = body["next"]
        if cursor is None:
            break

    # then each invoice comes once, in order, and only the last page has no next
    assert [len(page) for page in pages] == [40, 40, 40, 30]
    assert [iid for page in pages for iid in page] == _expected_order(invoices)


def test_it_pages_with_lines_in_a_fixed_number_of_queries(
    api_client, django_assert_max_num_queries
):
    # given 60 invoices with two lines each
    finance = make_org_with_key(role="finance")
    reservation = Reservation.objects.create(
        org=finance.org,
        offer=OfferFactory(),
        gpus=1,
        units=1,
        hours=Decimal(1),
        price_per_hour=Decimal("3600"),
        max_price_per_hour=Decimal("4500"),
        reserved_until=month_number(40),
    )
    for _ in range(60):
        # lines go on a draft, which is then paid (a finalised invoice's lines cannot change)
        invoice = InvoiceFactory(org=finance.org, status=InvoiceStatus.DRAFT)
        for seconds in (3600, 1800):
            InvoiceLine.objects.create(
                invoice=invoice,
                reservation=reservation,
                service_period_start=invoice.period_start,
                description=f"{seconds} s",
                seconds=seconds,
                price_per_hour=Decimal(seconds),
                amount=Decimal("1.00"),
            )
        Invoice.objects.filter(pk=invoice.pk).update(status=InvoiceStatus.PAID)
    first = api_client.get(URL, {"limit": 5}, **finance.headers).json()

    # when a page of 50 is read: then four queries (key, invoices, their lines, credit notes)
    with django_assert_max_num_queries(4):
        body = api_client.get(URL, {"cursor": first["next"]}, **finance.headers).json()
    assert len(body["results"]) == 50
    assert [line["seconds"] for line in body["results"][0]["lines"]] == [3600, 1800]
    assert body["results"][0]["lines"][0]["amount"] == "1.00"


@pytest.mark.parametrize(
    "cursor",
    [
        "%%%",
        encode_cursor(["not a time", 1]),
        encode_cursor(["2026-01-01T00:00:00Z", "one"]),
        encode_cursor(["2026-01-01T00:00:00Z"]),
        encode_cursor([{"a": 1}, 1]),
    ],
)
def test_it_refuses_a_forged_cursor(api_client, cursor):
    finance = make_org_with_key(role="finance")
    response = api_client.get(URL, {"cursor": cursor}, **finance.headers)
    assert (response.status_code, response.json()["error"]["code"]) == (400, "invalid_cursor")


def test_the_invoices_page_reaches_every_invoice_through_next_links(client):
    # given 150 invoices (the page shows 100 at a time)
    finance = make_org_with_key(role="finance")
    invoices = InvoiceFactory.create_batch(150, org=finance.org)
    client.force_login(finance.user)

    # when the user follows the Next link
    ids, url = [], "/invoices/"
    while url:
        html = client.get(url).content.decode()
        ids += [int(found) for found in re.findall(r'href="/invoices/(\d+)/csv/"', html)]
        next_link = re.search(r'<a href="(\?cursor=[^"]+)" rel="next">', html)
        url = "/invoices/" + next_link.group(1) if next_link else None

    # then every invoice shows once, in the API's order
    assert ids == _expected_order(invoices)
