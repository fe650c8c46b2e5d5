"""The client's address (common.net.client_ip), which every per-address limit counts by:
X-Forwarded-For is read only behind NUM_PROXIES proxies of ours, and then only the entry
the outermost of them wrote."""

from __future__ import annotations

import pytest
from django.test import RequestFactory

from common.net import client_ip


def _request(remote: str = "198.51.100.1", forwarded: str | None = None):
    headers = {"REMOTE_ADDR": remote}
    if forwarded is not None:
        headers["HTTP_X_FORWARDED_FOR"] = forwarded
    return RequestFactory().get("/", **headers)


def test_without_proxies_it_is_the_peer_whatever_the_client_claims(settings):
    settings.NUM_PROXIES = 0
    assert client_ip(_request("198.51.100.1", "203.0.113.9")) == "198.51.100.1"


@pytest.mark.parametrize(
    ("proxies", "forwarded", "client"),
    [
        (1, "203.0.113.7", "203.0.113.7"),
        # the client wrote the left entries itself; our proxy appended the last
        (1, "10.0.0.1, 192.0.2.66, 203.0.113.7", "203.0.113.7"),
        # two proxies: the outer one appended the client, the inner one the outer one
        (2, "192.0.2.66, 203.0.113.7, 10.1.0.5", "203.0.113.7"),
        # a request that skipped the outer proxy: the leftmost entry
        (2, "203.0.113.7", "203.0.113.7"),
        # ports some proxies add; IPv6 in its written form
        (1, "203.0.113.7:51234", "203.0.113.7"),
        (1, "[2001:DB8::7]:443", "2001:db8::7"),
        (1, "2001:db8::7", "2001:db8::7"),
    ],
)
def test_behind_proxies_it_is_the_address_the_outermost_one_saw(
    settings, proxies, forwarded, client
):
    settings.NUM_PROXIES = proxies
    assert client_ip(_request("10.0.0.2", forwarded)) == client


@pytest.mark.parametrize("forwarded", [None, "", "not-an-address", " , "])
def test_behind_a_proxy_without_a_usable_header_it_is_the_peer(settings, forwarded):
    settings.NUM_PROXIES = 1
    assert client_ip(_request("10.0.0.2", forwarded)) == "10.0.0.2"
