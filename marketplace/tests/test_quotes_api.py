"""POST /api/v1/quotes/: all-in quotes, cheapest first, checkable by hand."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine

from marketplace.models import GpuModel, OfferStatus, Quote
from marketplace.search import clear_catalog_cache
from tests.factories import OfferFactory, ProviderFactory, make_org_with_key

pytestmark = pytest.mark.django_db
NOW = datetime(2031, 3, 4, 12, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _fresh_catalog_cache():
    clear_catalog_cache()


def h100():
    return GpuModel.objects.get(name="H100", memory_gb=80)


def a100():
    return GpuModel.objects.get(name="A100", memory_gb=80)


def offer(gpu=None, gpu_count=8, price="24", **fields):
    price = Decimal(price)
    return OfferFactory(
        gpu=gpu or h100(),
        gpu_count=gpu_count,
        price_per_hour=price,
        price_per_gpu_hour=price / gpu_count,
        **fields,
    )


def post_quote(api_client, who, body):
    return api_client.post("/api/v1/quotes/", body, format="json", **who.headers)


def test_it_quotes_all_in_with_a_breakdown_that_adds_up_by_hand(api_client, buyer):
    # given 8×H100 at $24/h from a provider with the documented default rates
    provider = ProviderFactory()
    assert (provider.disk_price_per_gb_month, provider.egress_price_per_gb) == (
        Decimal("0.10"),
        Decimal("0.01"),
    )
    assert provider.boot_seconds == 120
    h100x8 = offer(sku="h100x8", available=2)

    # when a buyer asks for 8×H100 for 24 h with a 200 GB disk and 50 GB egress
    with time_machine.travel(NOW, tick=False):
        response = post_quote(
            api_client,
            buyer,
            {"gpu": "H100:8", "hours": 24, "disk_gb": 200, "egress_gb": 50},
        )

    # then one quote: 576.00 compute + 0.80 boot + 0.66 disk + 0.50 egress = 577.96, each
    # component rounded once to cents as its invoice line will be
    assert response.status_code == 201, response.content
    (quote,) = response.json()["quotes"]
    assert quote["total"] == "577.96"
    assert quote["currency"] == "USD"
    assert quote["expires_at"] == "2031-03-04T12:02:00Z"
    assert quote["legs"] == [
        {
            "offer": h100x8.pk,
            "gpus": 8,
            "units": 1,
            "price_per_hour": "24.000000",
            "provider": "simcloud",
            "sku": "h100x8",
            "gpu": "H100",
            "region": "sim-us-east-1",
            "pricing": "on_demand",
        }
    ]
    breakdown = quote["breakdown"]
    (leg,) = breakdown["legs"]
    assert {k: leg[k] for k in ("compute", "boot", "disk", "egress", "subtotal")} == {
        "compute": "576.00",  # 24 × 24
        "boot": "0.80",  # 24 × 120 / 3600
        "disk": "0.66",  # 0.027397 (0.10 × 200 × 1 instance / 730, 6 places) × 24 = 0.657528
        "egress": "0.50",  # 0.01 × 50 × 8 / 8
        "subtotal": "577.96",
    }
    assert (leg["disk_price_per_hour"], leg["egress_gb"]) == ("0.027397", "50.000000")
    assert (leg["boot_seconds"], leg["disk_price_per_gb_month"], leg["egress_price_per_gb"]) == (
        120,
        "0.100000",
        "0.010000",
    )
    assert (breakdown["hours"], breakdown["disk_gb"], breakdown["egress_gb"]) == ("24", "200", "50")
    assert (breakdown["total_exact"], breakdown["total"]) == ("577.957528", "577.96")
    assert "compute" in breakdown["formulas"]
    assert response.json()["excluded"] == {
        "stale": 0,
        "suspect": 0,
        "unavailable": 0,
        "not_reservable": 0,
        "no_throughput": 0,
        "over_max_total": 0,
    }
    # and the quote is stored for the buyer's organization, legs as reservations read them
    stored = Quote.objects.get(pk=quote["id"])
    assert stored.org == buyer.org
    assert stored.total == Decimal("577.96")
    assert stored.legs == [
        {
            "offer": h100x8.pk,
            "gpus": 8,
            "units": 1,
            "price_per_hour": "24.000000",
            "boot_seconds": 120,
            "disk_gb": "200",
            "disk_price_per_hour": "0.027397",
            "egress_gb": "50.000000",
            "egress_price_per_gb": "0.010000",
            "subtotal": "577.96",
        }
    ]
    assert stored.expires_at == NOW + timedelta(seconds=120)
    assert stored.request["gpu"] == "H100:8"


def test_it_uses_each_providers_own_rates(api_client, buyer):
    # given a provider with dear disk and egress and a slow boot
    slow = ProviderFactory(
        slug="slowcloud",
        name="Slow",
        disk_price_per_gb_month=Decimal("0.365"),
        egress_price_per_gb=Decimal("0.09"),
        boot_seconds=600,
    )
    offer(provider=slow, gpu_count=1, price="3.600000")
    # when the buyer asks for one H100 for 10 h, 100 GB of disk, 20 GB out
    body = {"gpu": "H100", "hours": "10", "disk_gb": "100", "egress_gb": "20"}
    quote = post_quote(api_client, buyer, body).json()["quotes"][0]
    # then 36 + 0.60 (10 min boot) + 0.50 (0.365 × 100 × 10 / 730) + 1.80 = 38.90
    leg = quote["breakdown"]["legs"][0]
    assert (leg["compute"], leg["boot"], leg["disk"], leg["egress"]) == (
        "36.00",
        "0.60",
        "0.50",
        "1.80",
    )
    assert quote["total"] == "38.90"


def test_it_lists_the_cheapest_first_and_counts_what_it_left_out(api_client, buyer):
    # given five fitting offers of which two are fine, and offers that do not fit at all
    dear = offer(sku="dear", price="30")
    cheap = offer(sku="cheap", price="20")
    offer(sku="stale", price="10", status=OfferStatus.STALE)
    offer(sku="suspect", price="1", suspect=True, suspect_reason="below the bid floor")
    offer(sku="sold-out", price="15", available=0)
    comparison_only = ProviderFactory(slug="bigcloud", name="Big Cloud", launcher="")
    offer(sku="listed-only", price="12", provider=comparison_only)
    offer(sku="withdrawn", price="5", status=OfferStatus.WITHDRAWN)
    offer(sku="a100", gpu=a100(), price="9")
    offer(sku="four", gpu_count=4, price="8")
    offer(sku="spot", price="11", pricing="spot")
    # when the buyer asks for 8×H100 on demand
    body = post_quote(api_client, buyer, {"gpu": "H100:8", "hours": 1}).json()
    # then only the two good offers, cheapest first; the rest are counted with their reason
    assert [q["legs"][0]["sku"] for q in body["quotes"]] == ["cheap", "dear"]
    assert [q["total"] for q in body["quotes"]] == ["20.67", "31.00"]
    assert [q["legs"][0]["offer"] for q in body["quotes"]] == [cheap.pk, dear.pk]
    assert body["excluded"] == {
        "stale": 1,
        "suspect": 1,
        "unavailable": 1,
        "not_reservable": 1,
        "no_throughput": 0,
        "over_max_total": 0,
    }


def test_it_considers_every_pricing_model_asked_for(api_client, buyer):
    offer(sku="on-demand", price="20")
    offer(sku="spot", price="11", pricing="spot")
    offer(sku="reserved", price="9", pricing="reserved")
    body = {"gpu": "H100:8", "hours": 1, "pricing": ["spot", "on_demand"]}
    quotes = post_quote(api_client, buyer, body).json()["quotes"]
    assert [q["legs"][0]["sku"] for q in quotes] == ["spot", "on-demand"]


def test_max_total_caps_the_total_and_counts_what_it_cut(api_client, buyer):
    offer(sku="under", price="24")  # 24 × 24 + 0.80 = 576.80
    offer(sku="just-over", price="25")  # 600 + 0.83 = 600.83
    offer(sku="far-over", price="40")
    body = {"gpu": "H100:8", "hours": 24, "max_total": "600.00"}
    response = post_quote(api_client, buyer, body).json()
    assert [q["legs"][0]["sku"] for q in response["quotes"]] == ["under"]
    assert response["quotes"][0]["total"] == "576.80"
    assert response["excluded"]["over_max_total"] == 2


def test_it_returns_at_most_limit_quotes(api_client, buyer):
    for index in range(8):
        offer(sku=f"o{index}", price=str(20 + index))
    quotes = post_quote(api_client, buyer, {"gpu": "H100:8", "hours": 1}).json()["quotes"]
    assert [q["legs"][0]["sku"] for q in quotes] == ["o0", "o1", "o2", "o3", "o4"]
    quotes = post_quote(api_client, buyer, {"gpu": "H100:8", "hours": 1, "limit": 2}).json()
    assert len(quotes["quotes"]) == 2


def test_the_filter_narrows_the_offers(api_client, buyer):
    offer(sku="us", price="20", region="us-east-1", continent="NA")
    offer(sku="eu", price="24", region="eu-west-1", continent="EU")
    body = {"gpu": "H100:8", "hours": 24, "filter": "continent=EU"}
    quotes = post_quote(api_client, buyer, body).json()["quotes"]
    assert [q["legs"][0]["sku"] for q in quotes] == ["eu"]


def test_a_count_range_takes_any_instance_size_inside_it(api_client, buyer):
    offer(sku="x4", gpu_count=4, price="10")
    offer(sku="x8", gpu_count=8, price="18")
    offer(sku="x2", gpu_count=2, price="4")
    quotes = post_quote(api_client, buyer, {"gpu": "H100:4..8", "hours": 1}).json()["quotes"]
    assert [(q["legs"][0]["sku"], q["gpus"]) for q in quotes] == [("x4", 4), ("x8", 8)]


def test_cost_per_work_prefers_faster_gpus_that_do_more_per_dollar(api_client, buyer):
    # given 8×H100 at $24/h and 8×A100 at $12/h (H100: 989 / 312 = 3.170 A100s of BF16)
    offer(sku="h100x8", price="24")
    offer(sku="a100x8", gpu=a100(), price="12")
    rtx = GpuModel.objects.get(name="RTX4090")
    offer(sku="rtx4090x8", gpu=rtx, gpu_memory_gb=Decimal(24), price="3")
    body = {"gpu": "8", "hours": 24, "objective": "cost_per_work"}
    # when the buyer ranks by cost per unit of work
    response = post_quote(api_client, buyer, body).json()
    # then the H100 comes first: 576.80 / (8 × 3.170 × 24) beats 288.40 / (8 × 1 × 24)
    quotes = response["quotes"]
    assert [q["legs"][0]["sku"] for q in quotes] == ["h100x8", "a100x8"]
    assert [q["cost_per_work"] for q in quotes] == ["0.947687", "1.502083"]
    assert quotes[0]["breakdown"]["work_a100_hours"] == "608.64"
    assert quotes[0]["breakdown"]["legs"][0]["relative_throughput"] == "3.170"
    # and the GPU without a throughput figure is left out, and counted
    assert response["excluded"]["no_throughput"] == 1
    # while by total cost the cheap RTX 4090s win
    by_total = post_quote(api_client, buyer, body | {"objective": "total_cost"}).json()
    assert by_total["quotes"][0]["legs"][0]["sku"] == "rtx4090x8"


def test_it_answers_an_empty_list_when_nothing_fits(api_client, buyer):
    offer(sku="stale", status=OfferStatus.STALE)
    response = post_quote(api_client, buyer, {"gpu": "H100:8", "hours": 1})
    assert response.status_code == 201
    assert response.json()["quotes"] == []
    assert response.json()["excluded"]["stale"] == 1
    assert Quote.objects.count() == 0


def test_a_quote_can_be_read_back_by_its_organization_only(api_client, buyer):
    offer(sku="x")
    quote = post_quote(api_client, buyer, {"gpu": "H100:8", "hours": 1}).json()["quotes"][0]
    again = api_client.get(f"/api/v1/quotes/{quote['id']}/", **buyer.headers)
    assert again.json()["total"] == quote["total"] == "24.80"
    stranger = make_org_with_key(role="buyer")
    response = api_client.get(f"/api/v1/quotes/{quote['id']}/", **stranger.headers)
    assert response.status_code == 404


def test_reserving_from_a_quote_locks_its_price(api_client, buyer):
    h100x8 = offer(sku="x", price="24", available=1)
    quote = post_quote(api_client, buyer, {"gpu": "H100:8", "hours": 2}).json()["quotes"][0]
    h100x8.price_per_hour = Decimal("30")
    h100x8.save()
    response = api_client.post(
        "/api/v1/reservations/", {"quote": quote["id"]}, format="json", **buyer.headers
    )
    assert response.status_code == 201, response.content
    assert (response.json()["price_per_hour"], response.json()["gpus"]) == ("24.000000", 8)


def test_the_schema_describes_every_field_a_quote_answers_with(api_client, buyer, client):
    # given a cost_per_work quote (the breakdown then has every figure) and the API schema
    offer(sku="x")
    body = {"gpu": "H100:8", "hours": 1, "objective": "cost_per_work"}
    answer = post_quote(api_client, buyer, body).json()
    read_back = api_client.get(f"/api/v1/quotes/{answer['quotes'][0]['id']}/", **buyer.headers)
    schemas = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()["components"]

    def fields(name):
        return set(schemas["schemas"][name]["properties"])

    # then the schema names exactly the fields of the answer, at every level
    quote = answer["quotes"][0]
    assert set(answer) == fields("QuoteCreateOutput") == {"quotes", "excluded", "elsewhere"}
    assert set(answer["excluded"]) == fields("QuoteExclusionsOutput")
    assert set(quote) == set(read_back.json()) == fields("QuoteOutput")
    assert set(quote["legs"][0]) == fields("QuoteLegOutput")
    assert set(quote["breakdown"]) == fields("QuoteBreakdownOutput")
    assert set(quote["breakdown"]["legs"][0]) == fields("QuoteBreakdownLegOutput")


# --- who may ask, and what they may send ------------------------------------------------


def test_it_needs_a_buyer(api_client):
    body = {"gpu": "H100:8", "hours": 1}
    assert api_client.post("/api/v1/quotes/", body, format="json").status_code in (401, 403)
    finance = make_org_with_key(role="finance")
    response = post_quote(api_client, finance, body)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"hours": 1}, "validation_error"),
        ({"gpu": "H100:8"}, "validation_error"),
        ({"gpu": "H100:8", "hours": 0}, "validation_error"),
        ({"gpu": "H100:8", "hours": "lots"}, "validation_error"),
        ({"gpu": "H100:8", "hours": 1, "colour": "red"}, "unknown_field"),
        ({"gpu": "H100:8", "hours": 1, "pricing": ["cheap"]}, "validation_error"),
        ({"gpu": "H100:8", "hours": 1, "pricing": []}, "validation_error"),
        ({"gpu": "H100:8", "hours": 1, "objective": "speed"}, "validation_error"),
        ({"gpu": "H100:8", "hours": 1, "max_total": "-1"}, "validation_error"),
        ({"gpu": "H100:8", "hours": 1, "max_total": "1.005"}, "validation_error"),
        ({"gpu": "H100:8", "hours": 1, "disk_gb": -5}, "validation_error"),
        ({"gpu": "H100:8", "hours": 1, "currency": "usd"}, "validation_error"),
        ({"gpu": "H100:8", "hours": 1, "limit": 0}, "validation_error"),
        ({"gpu": 8, "hours": 1, "allow_split": "perhaps"}, "validation_error"),
        ([], "invalid_body"),
    ],
)
def test_it_answers_bad_input_with_a_4xx(api_client, buyer, body, code):
    response = post_quote(api_client, buyer, body)
    assert response.status_code == 400, response.content
    assert response.json()["error"]["code"] == code


@pytest.mark.parametrize(
    "body",
    ["[" * 5000 + "]" * 5000, '{"gpu":' * 5000 + "1" + "}" * 5000, "[" * 65 + "]" * 65],
    ids=["arrays-past-the-recursion-limit", "objects-past-the-recursion-limit", "65-deep"],
)
def test_it_answers_a_body_nested_too_deep_with_a_400(api_client, buyer, body):
    # given JSON nested deeper than any request needs (the deepest once raised
    # RecursionError inside the parser: a 500)
    # when it is posted
    response = api_client.generic(
        "POST", "/api/v1/quotes/", body, content_type="application/json", **buyer.headers
    )
    # then the one error format says what is wrong
    assert response.status_code == 400
    assert response.json()["error"] == {
        "code": "malformed_request",
        "message": "JSON parse error - nested deeper than 64 levels.",
    }


def test_it_points_at_a_mistake_in_the_gpu_spec(api_client, buyer):
    response = post_quote(api_client, buyer, {"gpu": "H1000:8", "hours": 1})
    assert response.status_code == 400
    assert response.json()["error"] == {
        "code": "invalid_gpu_spec",
        "message": "Unknown GPU 'H1000'.",
        "position": 0,
        "hint": "Did you mean H100?",
        "field": "gpu",
    }


def test_it_points_at_a_mistake_in_the_filter(api_client, buyer):
    body = {"gpu": "H100:8", "hours": 1, "filter": "region=eu-* prise<3"}
    error = post_quote(api_client, buyer, body).json()["error"]
    assert (error["code"], error["position"], error["field"]) == ("invalid_query", 12, "filter")
    assert error["hint"] == "Did you mean price?"
