"""The only code that talks to Stripe.

Everything else in billing calls these functions with our own values (Decimal amounts with
their currency, our row's idempotency key) and gets back plain results or a `GatewayError`
with a code of ours. `STRIPE_API_BASE` points the client at localstripe in development and
tests, or at a recording fake in the idempotency and Connect tests.

Every call that creates something carries an idempotency key derived from our own row
("invoice-GM-2026-000001-attempt-1", "top-up-7", "statement-3"): a retry after a timeout
sends the same key, and Stripe answers with what the first request made instead of charging
twice. The client itself never retries (max_network_retries=0): our tasks decide when to
try again, always with the same key.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache

import stripe
from django.conf import settings

from common.money import currency_exponent, round_amount

# Stripe's statuses of a PaymentIntent that end it, and the one that means the money is ours.
SUCCEEDED = "succeeded"
FAILED_STATUSES = frozenset({"requires_payment_method", "canceled"})


class GatewayError(Exception):
    """A Stripe call failed. `code` is ours (the API answers with it); `retryable` says
    whether the same call may succeed later (a timeout, a 5xx, a rate limit), as opposed to
    a refusal that will not change (a declined card, a bad payment method id)."""

    def __init__(self, code: str, message: str, *, retryable: bool, stripe_code: str = ""):
        super().__init__(message)
        self.code = code
        self.message = message
        self.retryable = retryable
        self.stripe_code = stripe_code


class InvalidSignature(Exception):
    """A webhook delivery whose signature does not verify, or whose timestamp is too old."""


class InvalidEvent(Exception):
    """A signed webhook delivery whose body is not a Stripe event."""


@dataclass(frozen=True)
class PaymentMethodInfo:
    id: str
    brand: str
    last4: str


@dataclass(frozen=True)
class IntentResult:
    id: str
    status: str  # Stripe's: succeeded, processing, requires_payment_method, requires_action, ...
    error_code: str = ""
    error_message: str = ""

    @property
    def succeeded(self) -> bool:
        return self.status == SUCCEEDED

    @property
    def failed(self) -> bool:
        return self.status in FAILED_STATUSES


def to_minor_units(amount: Decimal, currency: str) -> int:
    """Stripe's integer amount: cents for USD, yen for JPY. `amount` is already rounded;
    rounding here again only guards against a caller passing a rate."""
    rounded = round_amount(amount, currency)
    return int(rounded.scaleb(currency_exponent(currency)))


def from_minor_units(amount: int, currency: str) -> Decimal:
    return Decimal(amount).scaleb(-currency_exponent(currency))


@lru_cache(maxsize=4)
def _client_for(api_key: str, api_base: str, timeout: float) -> stripe.StripeClient:
    return stripe.StripeClient(
        api_key,
        base_addresses={"api": api_base},
        max_network_retries=0,
        http_client=stripe.RequestsClient(timeout=timeout),
    )


def _client() -> stripe.StripeClient:
    return _client_for(
        settings.STRIPE_SECRET_KEY, settings.STRIPE_API_BASE, settings.STRIPE_TIMEOUT_SECONDS
    )


def _call(function, params: dict, *, idempotency_key: str | None = None):
    options = {"idempotency_key": idempotency_key} if idempotency_key else None
    try:
        return function(params, options) if options else function(params)
    except stripe.CardError as error:
        raise GatewayError(
            "card_declined",
            error.user_message or "The card was declined.",
            retryable=False,
            stripe_code=error.code or "",
        ) from error
    except (stripe.APIConnectionError, stripe.RateLimitError) as error:
        raise _unavailable(error) from error
    except stripe.StripeError as error:
        status = error.http_status or 0
        if status >= 500 or status == 0:
            raise _unavailable(error) from error
        raise GatewayError(
            "stripe_rejected",
            error.user_message or str(error) or "Stripe refused the request.",
            retryable=False,
            stripe_code=error.code or "",
        ) from error


def _unavailable(error: stripe.StripeError) -> GatewayError:
    return GatewayError(
        "stripe_unavailable",
        f"Stripe could not be reached or failed ({type(error).__name__}); try again shortly.",
        retryable=True,
    )


# --- customers and payment methods ----------------------------------------------------------


def customer_create(*, org_id: int, name: str, email: str = "") -> str:
    """A Stripe customer for an organization; returns its id. Keyed by the organization, so
    two racing requests make one customer."""
    params = {"name": name[:256], "metadata": {"org_id": str(org_id)}}
    if email:
        params["email"] = email
    customer = _call(
        _client().v1.customers.create, params, idempotency_key=f"customer-org-{org_id}"
    )
    return customer.id


def payment_method_attach(*, customer_id: str, payment_method: str) -> PaymentMethodInfo:
    """Attach a payment method to the customer and make it the default for invoices."""
    method = _call(
        lambda params, *options: _client().v1.payment_methods.attach(payment_method, params),
        {"customer": customer_id},
    )
    _call(
        lambda params, *options: _client().v1.customers.update(customer_id, params),
        {"invoice_settings": {"default_payment_method": method.id}},
    )
    card = getattr(method, "card", None)
    return PaymentMethodInfo(
        id=method.id,
        brand=(getattr(card, "brand", "") or "") if card else "",
        last4=(getattr(card, "last4", "") or "") if card else "",
    )


# --- charges ---------------------------------------------------------------------------------


def payment_intent_create(
    *,
    amount: Decimal,
    currency: str,
    customer_id: str,
    payment_method: str,
    idempotency_key: str,
    metadata: dict[str, str],
) -> IntentResult:
    """Charge a saved payment method now, off-session (the buyer is not there to
    authenticate). A declined card comes back as a result with status
    requires_payment_method and an error code, not as an exception."""
    params = {
        "amount": to_minor_units(amount, currency),
        "currency": currency.lower(),
        "customer": customer_id,
        "payment_method": payment_method,
        "confirm": True,
        "off_session": True,
        "metadata": metadata,
    }
    try:
        intent = _call(_client().v1.payment_intents.create, params, idempotency_key=idempotency_key)
    except GatewayError as error:
        if error.code != "card_declined":
            raise
        return IntentResult(
            id=_declined_intent_id(error),
            status="requires_payment_method",
            error_code=error.stripe_code or "card_declined",
            error_message=error.message,
        )
    return _intent_result(intent)


def _declined_intent_id(error: GatewayError) -> str:
    """Stripe names the PaymentIntent in a card error's body; empty if it does not."""
    cause = error.__cause__
    body = getattr(cause, "json_body", None) or {}
    intent = (body.get("error") or {}).get("payment_intent") or {}
    return intent.get("id", "") if isinstance(intent, dict) else ""


def payment_intent_retrieve(intent_id: str) -> IntentResult:
    intent = _call(lambda params: _client().v1.payment_intents.retrieve(intent_id), {})
    return _intent_result(intent)


def _intent_result(intent) -> IntentResult:
    error = getattr(intent, "last_payment_error", None) or {}
    return IntentResult(
        id=intent.id,
        status=intent.status,
        error_code=(error.get("code") or "") if error else "",
        error_message=(error.get("message") or "") if error else "",
    )


def refund_create(
    *,
    payment_intent_id: str,
    amount: Decimal,
    currency: str,
    idempotency_key: str,
    metadata: dict[str, str],
) -> str:
    """Refund part or all of a succeeded payment; returns the refund's id."""
    params = {
        "payment_intent": payment_intent_id,
        "amount": to_minor_units(amount, currency),
        "metadata": metadata,
    }
    refund = _call(_client().v1.refunds.create, params, idempotency_key=idempotency_key)
    return refund.id


# --- Connect ---------------------------------------------------------------------------------


def transfer_create(
    *,
    amount: Decimal,
    currency: str,
    destination: str,
    idempotency_key: str,
    metadata: dict[str, str],
) -> str:
    """Move a provider's net earnings to its connected account; returns the transfer id."""
    params = {
        "amount": to_minor_units(amount, currency),
        "currency": currency.lower(),
        "destination": destination,
        "metadata": metadata,
    }
    transfer = _call(_client().v1.transfers.create, params, idempotency_key=idempotency_key)
    return transfer.id


# --- webhooks --------------------------------------------------------------------------------


def webhook_event(payload: bytes, signature_header: str | None) -> dict:
    """The event of a webhook delivery, once its signature and timestamp verify (300 s
    tolerance; `InvalidSignature` otherwise) and it has an event's shape: an id, a type and
    `data.object` (`InvalidEvent` otherwise). Returns the event as a plain dict."""
    if not signature_header:
        raise InvalidSignature("The Stripe-Signature header is missing.")
    try:
        stripe.WebhookSignature.verify_header(
            payload.decode("utf-8", "replace"),
            signature_header,
            settings.STRIPE_WEBHOOK_SECRET,
            tolerance=300,
        )
    except stripe.SignatureVerificationError as error:
        raise InvalidSignature(str(error)) from error
    try:
        event = json.loads(payload)
    except ValueError as error:
        raise InvalidEvent("The body is not JSON.") from error
    if not (
        isinstance(event, dict)
        and isinstance(event.get("id"), str)
        and event["id"]
        and isinstance(event.get("type"), str)
        and isinstance(event.get("data"), dict)
        and isinstance(event["data"].get("object"), dict)
    ):
        raise InvalidEvent("The body is not a Stripe event (id, type, data.object).")
    return event
