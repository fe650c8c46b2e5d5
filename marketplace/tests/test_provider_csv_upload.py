"""/provider/offers/upload/: a CSV of offers, previewed, then applied by the bulk upsert of
`PUT /api/v1/provider/offers/`."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from marketplace.models import Offer, OfferStatus
from marketplace.offer_csv import COLUMNS, MAX_CSV_BYTES, MAX_CSV_ROWS
from marketplace.tests.provider_fixtures import make_listed_provider

pytestmark = pytest.mark.django_db

UPLOAD = "/provider/offers/upload/"
APPLY = "/provider/offers/upload/apply/"
API = "/api/v1/provider/offers/"
HEADER = ",".join(COLUMNS)


def row(sku, price, available, *, gpu="H100", gpu_count=8, region="eu-west-1", pricing="on_demand"):
    return {
        "sku": sku, "gpu": gpu, "gpu_count": gpu_count, "vcpus": 96, "memory_gb": 768,
        "disk_gb": 2000, "region": region, "pricing": pricing, "price_per_hour": price,
        "available": available,
    }  # fmt: skip


def csv_file(rows: list[dict], *, header: str = HEADER) -> SimpleUploadedFile:
    lines = [header] + [",".join(str(r[c]) for c in COLUMNS) for r in rows]
    return SimpleUploadedFile("offers.csv", ("\n".join(lines) + "\n").encode(), "text/csv")


def upload(client, rows_or_file, *, complete=False, provider=None):
    file = rows_or_file if isinstance(rows_or_file, SimpleUploadedFile) else csv_file(rows_or_file)
    url = UPLOAD + (f"?provider={provider}" if provider else "")
    return client.post(url, {"file": file, **({"complete": "on"} if complete else {})})


def apply(client, preview_response):
    return client.post(APPLY, {"token": preview_response.context["token"]})


def listed(provider) -> dict:
    """The provider's offers as a buyer sees them, by identity."""
    fields = (
        "gpu_id", "gpu_count", "gpu_memory_gb", "vcpus", "memory_gb", "disk_gb", "country",
        "continent", "price_per_hour", "price_per_gpu_hour", "currency", "available", "status",
        "interconnect",
    )  # fmt: skip
    return {
        (o.sku, o.region, o.pricing): {f: getattr(o, f) for f in fields}
        for o in Offer.objects.filter(provider=provider)
    }


@pytest.fixture
def seller(api_client):
    """A provider with three offers listed through the API: a (2.00, 4), b (3.00, 2), c (1.00, 1)."""
    seller = make_listed_provider(slug="acme-gpus")
    rows = [row("a", "2.00", 4), row("b", "3.00", 2), row("c", "1.00", 1, gpu="A100-80GB")]
    response = api_client.put(API, {"offers": rows}, format="json", **seller.headers)
    assert response.status_code == 200, response.content
    return seller


def by_sku(changes) -> dict:
    return {c.sku: c for c in changes}


# --- preview ------------------------------------------------------------------------------


def test_it_previews_new_changed_unchanged_and_withdrawn_without_writing(client, seller):
    # given a file that keeps a, reprices b and adds d, sent as the complete list
    client.force_login(seller.keyed.user)
    before = listed(seller.provider)
    file_rows = [row("a", "2.00", 4), row("b", "3.50", 5), row("d", "7.25", 3)]

    # when it is uploaded
    response = upload(client, file_rows, complete=True)

    # then the preview shows, as worked out by hand: d new, b changed, a unchanged, c withdrawn
    assert response.status_code == 200, response.content.decode()
    ctx = response.context
    assert [(c.sku, c.new_price, c.new_available) for c in ctx["new"]] == [
        ("d", Decimal("7.250000"), 3)
    ]
    (changed,) = ctx["changed"]
    assert (changed.sku, changed.old_price, changed.new_price) == (
        "b", Decimal("3.000000"), Decimal("3.500000")
    )  # fmt: skip
    assert (changed.old_available, changed.new_available) == (2, 5)
    assert [c.sku for c in ctx["unchanged"]] == ["a"]
    assert [(c.sku, c.old_available, c.new_available) for c in ctx["to_withdraw"]] == [("c", 1, 0)]
    html = response.content.decode()
    assert "3.000000 → 3.500000" in html and "2 → 5" in html
    # and nothing was written
    assert listed(seller.provider) == before


def test_without_complete_it_withdraws_nothing(client, seller):
    client.force_login(seller.keyed.user)
    response = upload(client, [row("a", "2.00", 4)])
    assert response.context["to_withdraw"] == []
    assert response.context["complete"] is False


# --- apply --------------------------------------------------------------------------------


def test_applying_gives_the_same_offers_as_the_api_put_of_the_same_rows(client, api_client, seller):
    # given a second provider that sends the same list through the API
    twin = make_listed_provider(slug="twin-gpus")
    start = [row("a", "2.00", 4), row("b", "3.00", 2), row("c", "1.00", 1, gpu="A100-80GB")]
    api_client.put(API, {"offers": start}, format="json", **twin.headers)
    file_rows = [row("a", "2.00", 4), row("b", "3.50", 5), row("d", "7.25", 3, pricing="spot")]
    api = api_client.put(
        API, {"offers": file_rows, "complete": True}, format="json", **twin.headers
    ).json()

    # when the first one uploads the same rows as a file and applies the preview
    client.force_login(seller.keyed.user)
    preview = upload(client, file_rows, complete=True)
    response = apply(client, preview)

    # then both providers list exactly the same offers, and the preview counted as the API
    ctx = preview.context
    shown = [len(ctx[k]) for k in ("new", "changed", "unchanged", "to_withdraw")]
    assert shown == [api["created"], api["updated"], api["unchanged"], api["withdrawn"]]
    assert response.status_code == 302
    assert response["Location"] == "/provider/offers/?provider=acme-gpus"
    assert listed(seller.provider) == listed(twin.provider)
    assert listed(seller.provider)[("c", "eu-west-1", "on_demand")]["status"] == "withdrawn"
    assert (api["created"], api["updated"], api["unchanged"], api["withdrawn"]) == (1, 1, 1, 1)
    shown = client.get(response["Location"]).content.decode()
    assert "Applied: 1 new, 1 changed, 1 unchanged, 1 withdrawn." in shown


def test_a_spec_change_or_a_withdrawn_offer_listed_again_counts_as_changed(
    client, api_client, seller
):
    # given c withdrawn, and a file that gives a more memory and lists c again as it was
    c = Offer.objects.get(provider=seller.provider, sku="c")
    api_client.delete(f"{API}{c.pk}/", **seller.headers)
    more_memory = row("a", "2.00", 4) | {"memory_gb": 1024}
    client.force_login(seller.keyed.user)

    preview = upload(client, [more_memory, row("c", "1.00", 1, gpu="A100-80GB")])

    # then both are changed (their price and capacity as they were, a's old capacity 4, c's 0)
    changed = by_sku(preview.context["changed"])
    assert sorted(changed) == ["a", "c"]
    assert (changed["a"].old_price, changed["a"].new_price) == (Decimal(2), Decimal(2))
    assert (changed["c"].old_available, changed["c"].new_available) == (0, 1)
    # and the upsert counts them as updated
    response = apply(client, preview)
    assert (
        "Applied: 0 new, 2 changed, 0 unchanged, 0 withdrawn."
        in client.get(response["Location"]).content.decode()
    )
    c.refresh_from_db()
    assert (c.status, c.available) == (OfferStatus.ACTIVE, 1)


def test_a_preview_is_applied_once(client, seller):
    client.force_login(seller.keyed.user)
    preview = upload(client, [row("a", "9.00", 4)])
    apply(client, preview)

    again = apply(client, preview)

    assert again.status_code == 302 and again["Location"] == UPLOAD
    assert Offer.objects.get(provider=seller.provider, sku="a").price_per_hour == Decimal(9)


def test_a_stale_preview_is_refused(client, api_client, seller):
    # given a preview that changes b from 3.00 to 3.50
    client.force_login(seller.keyed.user)
    preview = upload(client, [row("b", "3.50", 2)])
    # and b repriced through the API meanwhile
    b = Offer.objects.get(provider=seller.provider, sku="b")
    api_client.patch(f"{API}{b.pk}/", {"price_per_hour": "4.00"}, format="json", **seller.headers)

    # when the preview is applied
    response = apply(client, preview)

    # then it is refused (it no longer shows what would happen) and nothing is written
    assert response.status_code == 409
    assert "changed since the preview" in response.content.decode()
    b.refresh_from_db()
    assert b.price_per_hour == Decimal("4.000000")


# --- refusals -----------------------------------------------------------------------------


def test_bad_rows_are_listed_with_their_line_and_the_apis_message(client, api_client, seller):
    # given a file whose lines 3, 4 and 6 are wrong (line 1 is the header)
    rows = [
        row("ok", "1.00", 1),
        row("free", "0", 1),
        row("weird", "2.00", 1, gpu="H1OO"),
        row("ok2", "1.00", 1),
        row("ok", "5.00", 1),
    ]
    rows[1]["available"] = "many"
    client.force_login(seller.keyed.user)

    # when it is uploaded
    response = upload(client, rows)

    # then the shape errors are reported by line, with the API's message for the same rows
    assert response.status_code == 400
    api = api_client.put(API, {"offers": rows}, format="json", **seller.headers).json()
    api_messages = [e["message"] for e in api["error"]["errors"]]
    errors = [(e.line, e.message) for e in response.context["row_errors"]]
    assert errors == [(3, api_messages[0])]
    assert api_messages[0].startswith("price_per_hour: ")
    html = response.content.decode()
    assert "Line 3: price_per_hour: " in html

    # when the shapes are right, the GPU and the repeated offer are refused by line
    rows[1] = row("free", "1.00", 1)
    response = upload(client, rows)
    api = api_client.put(API, {"offers": rows}, format="json", **seller.headers).json()
    errors = [(e.line, e.message) for e in response.context["row_errors"]]
    assert errors == [
        (4, api["error"]["errors"][0]["message"]),
        (6, api["error"]["errors"][1]["message"]),
    ]
    assert "Unknown GPU 'H1OO'" in errors[0][1]
    assert Offer.objects.filter(provider=seller.provider).count() == 3


def test_a_row_with_too_few_values_is_named_by_its_line(client, seller):
    client.force_login(seller.keyed.user)
    file = SimpleUploadedFile("o.csv", f"{HEADER}\n\na,H100,8\n".encode())
    response = upload(client, file)
    assert response.status_code == 400
    (error,) = [e for e in response.context["row_errors"] if e.line == 3]
    assert error.message == "10 values expected (the header's columns), 3 found."


@pytest.mark.parametrize(
    ("content", "status", "message"),
    [
        (b"x" * (MAX_CSV_BYTES + 1), 413, f"at most {MAX_CSV_BYTES} are read"),
        (b"\xff\xfe" + "sku".encode("utf-16-le"), 400, "not UTF-8 text"),
        (b"sku,gpu,colour\n", 400, "missing: gpu_count, region, price_per_hour, available"),
        (b"\n\n", 400, "The first line must name the columns"),
        (f"{HEADER},sku\n".encode(), 400, "(repeated: sku)"),
    ],
)
def test_a_file_it_cannot_read_is_refused_with_a_page_not_an_error(
    client, seller, content, status, message
):
    client.force_login(seller.keyed.user)
    before = listed(seller.provider)

    response = upload(client, SimpleUploadedFile("o.csv", content, "text/csv"))

    assert response.status_code == status
    assert message in response.context["file_error"]
    assert listed(seller.provider) == before


def test_a_nul_in_a_value_is_a_bad_row(client, seller):
    client.force_login(seller.keyed.user)
    content = f"{HEADER}\n".encode() + b'"a\x00b",H100,1,,,,eu-west-1,,1.00,1\n'
    response = upload(client, SimpleUploadedFile("o.csv", content))
    assert response.status_code == 400
    assert [(e.line, e.message) for e in response.context["row_errors"]] == [
        (2, "sku: Null characters are not allowed.")
    ]


def test_more_rows_than_the_api_takes_are_refused(client, seller):
    client.force_login(seller.keyed.user)
    line = "s,H100,1,,,,eu-west-1,,1.00,1\n"
    content = f"{HEADER}\n".encode() + (line * (MAX_CSV_ROWS + 1)).encode()
    assert len(content) < MAX_CSV_BYTES
    response = upload(client, SimpleUploadedFile("o.csv", content))
    assert response.status_code == 400
    assert f"At most {MAX_CSV_ROWS} offers per file" in response.context["file_error"]


def test_another_organizations_provider_is_not_found(client, seller):
    other = make_listed_provider(slug="other-gpus")
    client.force_login(other.keyed.user)

    assert client.get(f"{UPLOAD}?provider=acme-gpus").status_code == 404
    response = upload(client, [row("a", "0.01", 4)], provider="acme-gpus")

    assert response.status_code == 404
    assert Offer.objects.get(provider=seller.provider, sku="a").price_per_hour == Decimal(2)


def test_the_export_reads_back_as_an_upload_that_changes_nothing(client, seller):
    client.force_login(seller.keyed.user)

    exported = client.get("/provider/offers/export.csv")

    assert exported.status_code == 200
    assert exported["Content-Disposition"] == 'attachment; filename="acme-gpus-offers.csv"'
    lines = exported.content.decode().splitlines()
    assert lines[0] == HEADER
    assert "a,H100 80GB,8,96.0,768.0,2000.0,eu-west-1,on_demand,2.000000,4" in lines
    preview = upload(client, SimpleUploadedFile("o.csv", exported.content), complete=True)
    assert sorted(c.sku for c in preview.context["unchanged"]) == ["a", "b", "c"]
    assert preview.context["new"] == preview.context["changed"] == []
    assert preview.context["to_withdraw"] == []
