"""Webhook signatures (HMAC-SHA256 over "<timestamp>.<body>", Stripe style): what
providers check on every launch request we send them."""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path

import pytest

from marketplace.webhook_signing import (
    InvalidSignature,
    compute_signature,
    signature_header,
    verify_signature,
)

SECRET = "whsec_test_3b1f"
BODY = b'{"id":7,"type":"launch"}'
NOW = 1_770_000_000


def test_it_signs_the_timestamp_and_the_body_with_hmac_sha256():
    header = signature_header(SECRET, BODY, timestamp=NOW)
    expected = hmac.new(SECRET.encode(), f"{NOW}.".encode() + BODY, hashlib.sha256).hexdigest()
    assert header == f"t={NOW},v1={expected}"
    assert compute_signature(SECRET, NOW, BODY.decode()) == expected


def test_it_accepts_a_fresh_valid_signature():
    header = signature_header(SECRET, BODY, timestamp=NOW)
    assert verify_signature(SECRET, header, BODY, now=NOW + 299) == NOW
    assert verify_signature(SECRET, header, BODY.decode(), now=NOW) == NOW


@pytest.mark.parametrize(
    ("secret", "body", "reason"),
    [
        ("whsec_other", BODY, "does not match"),  # signed with another secret
        (SECRET, BODY.replace(b"launch", b"lunch"), "does not match"),  # body tampered with
        (SECRET, BODY + b" ", "does not match"),  # even a byte
    ],
)
def test_it_rejects_a_bad_signature(secret, body, reason):
    header = signature_header(secret, BODY, timestamp=NOW)
    with pytest.raises(InvalidSignature, match=reason):
        verify_signature(SECRET, header, body, now=NOW)


def test_it_rejects_a_timestamp_older_than_five_minutes():
    header = signature_header(SECRET, BODY, timestamp=NOW)
    with pytest.raises(InvalidSignature, match="301 s away from now"):
        verify_signature(SECRET, header, BODY, now=NOW + 301)


def test_it_rejects_a_replayed_header_with_a_new_timestamp():
    # an attacker who saw one delivery cannot make it fresh: the timestamp is signed
    old = signature_header(SECRET, BODY, timestamp=NOW)
    digest = old.split("v1=")[1]
    with pytest.raises(InvalidSignature, match="does not match"):
        verify_signature(SECRET, f"t={NOW + 3600},v1={digest}", BODY, now=NOW + 3600)


def test_it_rejects_timestamps_from_the_future_beyond_the_tolerance():
    header = signature_header(SECRET, BODY, timestamp=NOW + 600)
    with pytest.raises(InvalidSignature, match="away from now"):
        verify_signature(SECRET, header, BODY, now=NOW)
    assert verify_signature(SECRET, header, BODY, tolerance=900, now=NOW) == NOW + 600


@pytest.mark.parametrize(
    "header",
    # "t=²" and a 5,000-digit time were ValueErrors from int(), not InvalidSignature
    ["", "v1=abc", f"t={NOW}", "t=yesterday,v1=abc", "garbage", "t=,v1=", "t=²,v1=abc"]
    + [f"t={'9' * 5000},v1=abc"],
)
def test_it_rejects_malformed_headers(header):
    with pytest.raises(InvalidSignature, match="expected a header"):
        verify_signature(SECRET, header, BODY, now=NOW)


def test_it_accepts_any_of_several_signatures_while_a_secret_rotates():
    new = signature_header("whsec_new", BODY, timestamp=NOW)
    old_digest = compute_signature(SECRET, NOW, BODY)
    header = f"{new},v1={old_digest}"
    assert verify_signature(SECRET, header, BODY, now=NOW) == NOW
    assert verify_signature("whsec_new", header, BODY, now=NOW) == NOW


def test_it_refuses_to_check_without_a_secret():
    header = signature_header("", BODY, timestamp=NOW)
    with pytest.raises(InvalidSignature, match="no webhook secret"):
        verify_signature("", header, BODY, now=NOW)


def test_it_signs_with_the_previous_secret_too_while_a_rotation_overlaps():
    header = signature_header("whsec_new", BODY, timestamp=NOW, previous_secrets=[SECRET])

    # one v1 per secret, the new one's first, both over the same timestamp and body
    signed = f"{NOW}.".encode() + BODY
    new_digest = hmac.new(b"whsec_new", signed, hashlib.sha256).hexdigest()
    old_digest = hmac.new(SECRET.encode(), signed, hashlib.sha256).hexdigest()
    assert header == f"t={NOW},v1={new_digest},v1={old_digest}"
    # so a verifier holding either secret accepts the delivery, and no other does
    assert verify_signature("whsec_new", header, BODY, now=NOW) == NOW
    assert verify_signature(SECRET, header, BODY, now=NOW) == NOW
    with pytest.raises(InvalidSignature, match="does not match"):
        verify_signature("whsec_other", header, BODY, now=NOW)


def test_the_verifier_in_the_provider_docs_accepts_either_secret_during_a_rotation():
    # given the Python verifier docs/provider-api.md gives providers
    docs = (Path(__file__).resolve().parents[2] / "docs" / "provider-api.md").read_text()
    snippet = docs.split("```python\n", 1)[1].split("```", 1)[0]
    namespace: dict = {}
    exec(snippet, namespace)  # our own documentation
    verify = namespace["verify"]

    # when a delivery is signed by the new and the old secret
    header = signature_header("whsec_new", BODY, previous_secrets=[SECRET])

    # then the verifier accepts it with either, and refuses it with another
    verify("whsec_new", header, BODY)
    verify(SECRET, header, BODY)
    with pytest.raises(ValueError, match="bad signature"):
        verify("whsec_other", header, BODY)
