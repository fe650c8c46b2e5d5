"""ProviderHttpClient against a real local HTTP server (127.0.0.1)."""

from __future__ import annotations

import logging
import socket
import time
from decimal import Decimal

import pytest
from werkzeug import Request, Response

from brokers.http import (
    HttpError,
    PermanentHttpError,
    ProviderHttpClient,
    TransientHttpError,
)
from brokers.tests.provider_server import provider_server_fixture  # noqa: F401

SECRET = "sk-live-4f1c2b9e-secret"


def make_client(server, **options) -> tuple[ProviderHttpClient, list[float]]:
    sleeps: list[float] = []
    options = {"api_key": SECRET, "timeout": (2, 2), "sleep": sleeps.append, **options}
    return ProviderHttpClient(server.url_for("/"), **options), sleeps


def request_count(server) -> int:
    return len(server.log)


def test_it_gets_json_with_the_key_in_the_authorization_header(provider_server):
    provider_server.expect_request(
        "/v1/things", query_string="page=2", headers={"Authorization": f"Bearer {SECRET}"}
    ).respond_with_json({"price": 1.25})
    client, _ = make_client(provider_server)

    assert client.get_json("/v1/things", {"page": 2}) == {"price": 1.25}
    assert client.get_json("v1/things", {"page": 2}, parse_float=Decimal) == {
        "price": Decimal("1.25")
    }


def test_it_posts_json_and_deletes(provider_server):
    provider_server.expect_request(
        "/graphql", method="POST", json={"query": "{ a }"}
    ).respond_with_json({"data": {"a": 1}})
    provider_server.expect_request("/things/7", method="DELETE").respond_with_data("", status=204)
    client, _ = make_client(provider_server)

    assert client.post_json("/graphql", json={"query": "{ a }"}) == {"data": {"a": 1}}
    assert client.delete("/things/7") is None


@pytest.mark.parametrize("status", [429, 502, 503, 504])
def test_it_retries_transient_statuses_with_exponential_backoff(provider_server, status):
    for _ in range(2):
        provider_server.expect_ordered_request("/flaky").respond_with_data("busy", status=status)
    provider_server.expect_ordered_request("/flaky").respond_with_json({"ok": True})
    client, sleeps = make_client(provider_server, backoff=0.5)

    assert client.get_json("/flaky") == {"ok": True}
    assert sleeps == [0.5, 1.0]
    assert request_count(provider_server) == 3


def test_it_caps_the_backoff(provider_server):
    provider_server.expect_request("/down").respond_with_data("", status=503)
    client, sleeps = make_client(provider_server, max_retries=5, backoff=1, max_backoff=4)

    with pytest.raises(TransientHttpError) as caught:
        client.get_json("/down")

    assert sleeps == [1, 2, 4, 4, 4]
    assert caught.value.status == 503
    assert request_count(provider_server) == 6


@pytest.mark.parametrize(
    ("retry_after", "sleeps_wanted"),
    # "²" is a digit to str.isdigit() but not to float(): it was a ValueError, not a retry;
    # it now gets the first backoff of make_client, as no header would
    [("7", [7.0]), ("²", [0.5])],
    ids=["seconds", "no-number"],
)
def test_it_honours_retry_after(provider_server, retry_after, sleeps_wanted):
    provider_server.expect_ordered_request("/limited").respond_with_data(
        "slow down", status=429, headers={"Retry-After": retry_after}
    )
    provider_server.expect_ordered_request("/limited").respond_with_json([1])
    client, sleeps = make_client(provider_server)

    assert client.get_json("/limited") == [1]
    assert sleeps == sleeps_wanted


@pytest.mark.parametrize("status", [400, 401, 403, 404])
def test_it_never_retries_client_errors(provider_server, status):
    provider_server.expect_request("/nope").respond_with_json({"error": "denied"}, status=status)
    client, sleeps = make_client(provider_server)

    with pytest.raises(PermanentHttpError) as caught:
        client.get_json("/nope")

    assert caught.value.status == status
    assert '"denied"' in caught.value.body_excerpt
    assert f"HTTP {status}" in str(caught.value)
    assert request_count(provider_server) == 1
    assert sleeps == []


def test_it_raises_a_500_as_transient_without_hammering_the_provider(provider_server):
    provider_server.expect_request("/broken").respond_with_data("Internal Server Error", status=500)
    client, sleeps = make_client(provider_server)

    with pytest.raises(TransientHttpError) as caught:
        client.get_json("/broken")

    assert caught.value.status == 500
    assert "Internal Server Error" in str(caught.value)
    assert request_count(provider_server) == 1


def test_it_retries_a_timeout_then_gives_up(provider_server):
    def slow(request: Request) -> Response:
        time.sleep(0.4)
        return Response("{}", content_type="application/json")

    provider_server.expect_request("/slow").respond_with_handler(slow)
    client, sleeps = make_client(provider_server, timeout=(1, 0.1), max_retries=2, backoff=0)

    with pytest.raises(TransientHttpError) as caught:
        client.get_json("/slow")

    assert "timeout" in str(caught.value)
    assert caught.value.status is None
    assert len(sleeps) == 2


def test_it_reports_a_refused_connection_as_transient():
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = ProviderHttpClient(f"http://127.0.0.1:{port}", max_retries=1, sleep=lambda s: None)

    with pytest.raises(TransientHttpError, match="connection failed"):
        client.get_json("/x")


def test_it_does_not_retry_a_post_that_is_not_safe_to_repeat(provider_server):
    provider_server.expect_request("/launch", method="POST").respond_with_data("", status=503)
    client, sleeps = make_client(provider_server)

    with pytest.raises(TransientHttpError):
        client.post_json("/launch", json={"sku": "x"}, retry=False)

    assert request_count(provider_server) == 1


@pytest.mark.parametrize(
    "body",
    # JSON nested past Python's recursion limit was a RecursionError, not an HttpError
    ["<html>maintenance</html>", "[" * 100_000 + "]" * 100_000],
    ids=["html", "nested-too-deep"],
)
def test_it_reports_a_body_that_is_not_json_as_permanent(provider_server, body):
    provider_server.expect_request("/html").respond_with_data(body)
    client, _ = make_client(provider_server)

    with pytest.raises(PermanentHttpError, match="not JSON"):
        client.get_json("/html")


def test_it_never_puts_the_key_in_errors_or_logs(provider_server, caplog):
    # given a provider that echoes the key back in its error body and a retried failure
    provider_server.expect_ordered_request("/echo").respond_with_data(f"slow {SECRET}", status=503)
    provider_server.expect_ordered_request("/echo").respond_with_json(
        {"error": f"invalid api key {SECRET}"}, status=401
    )
    client, _ = make_client(provider_server)
    caplog.set_level(logging.DEBUG)

    # when
    with pytest.raises(HttpError) as caught:
        client.get_json("/echo", {"api_key": SECRET})

    # then
    assert SECRET not in str(caught.value)
    assert SECRET not in caught.value.url + caught.value.body_excerpt
    assert "***" in caught.value.body_excerpt
    ours = [r for r in caplog.records if r.name.startswith(("brokers", "urllib3", "requests"))]
    assert any(r.name == "brokers.http" for r in ours), "the retry should have been logged"
    assert any(r.name.startswith("urllib3") for r in ours), "urllib3 logs request lines"
    for record in ours:  # werkzeug's records are the fake provider's own access log
        assert SECRET not in record.getMessage()
        assert SECRET not in repr(record.__dict__)


def test_it_follows_next_links_until_there_are_none(provider_server):
    base = provider_server.url_for("")
    provider_server.expect_request("/items", query_string="").respond_with_json(
        {"Items": [1, 2], "Next": f"{base}/items?skip=2"}
    )
    provider_server.expect_request("/items", query_string="skip=2").respond_with_json(
        {"Items": [3], "Next": None}
    )
    client, _ = make_client(provider_server)

    pages = list(client.paginate("/items", next_link=lambda page: page["Next"]))

    assert [item for page in pages for item in page["Items"]] == [1, 2, 3]


def test_it_stops_a_paging_loop(provider_server):
    loop = provider_server.url_for("/items?skip=1")
    provider_server.expect_request("/items").respond_with_json({"Next": loop})
    client, _ = make_client(provider_server)

    with pytest.raises(PermanentHttpError, match="paging loop"):
        list(client.paginate("/items", next_link=lambda page: page["Next"]))


def test_it_streams_a_download_to_a_temporary_file_and_removes_it(provider_server):
    body = b"InstanceType,Price\n" + b"x,1.0\n" * 50_000
    provider_server.expect_request("/vms.csv").respond_with_data(body, content_type="text/csv")
    client, _ = make_client(provider_server)

    with client.downloaded(provider_server.url_for("/vms.csv"), suffix=".csv") as path:
        assert path.read_bytes() == body
        assert path.suffix == ".csv"
    assert not path.exists()
    assert client.get_bytes("/vms.csv") == body
