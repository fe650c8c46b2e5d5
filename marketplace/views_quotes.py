"""The buyer's quote page (/quote/): ask for all-in quotes, see the plans ranked with their
breakdowns and price lock, reserve one. The same engine and services as POST /api/v1/quotes/
and POST /api/v1/reservations/ {"quote"}, for the roles that may `reserve`.

Asking is a POST that stores quotes; its answer is kept in the session and shown by a
redirect to `/quote/?answer=<token>`, so a reload shows the same quotes (their lock counting
down, or expired) instead of sending the form again."""

from __future__ import annotations

import secrets
import uuid
from datetime import datetime

from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST

from accounts.actors import actor_for_request
from accounts.decorators import member_required
from common.api.errors import http_status
from common.errors import DomainError
from common.page_limits import rate_limited
from marketplace.forms import QuoteForm, QuoteReserveForm, quote_form_initial
from marketplace.quoting.engine import QuoteResult, quote_create
from marketplace.quoting.presentation import ElsewhereOutput
from marketplace.quoting.storage import quote_for_org, quotes_for_org
from marketplace.services.quote_reservations import reservations_create_from_quote
from marketplace.views import error_at_position

# The request fields whose errors point at a position in their text (QuoteWork._parse).
POSITIONED_FIELDS = ("gpu", "filter")
SESSION_KEY = "quote_answers"
ANSWERS_KEPT = 5  # per session: a few tabs' worth, never a growing session


# Pricing the catalog for a request is a search and the step before a booking: it counts as
# the API's quotes do.
@rate_limited(POST=("write", "reserve"))
@member_required("reserve")
@require_http_methods(["GET", "POST"])
def quote(request):
    if request.method == "GET":
        return _answer_page(request, request.GET.get("answer", ""))
    form = QuoteForm(request.POST)
    if not form.is_valid():
        return _quote_page(request, form, status=400)
    try:
        result = quote_create(org=actor_for_request(request).org, request=form.quote_request)
    except DomainError as exc:
        positioned = _add_engine_error(form, exc)
        return _quote_page(request, form, positioned=positioned, status=http_status(exc))
    token = _remember(request, form, result)
    return redirect(f"{reverse('quote')}?answer={token}")


@rate_limited(POST=("write", "reserve"))
@member_required("reserve")
@require_POST
def quote_reserve(request, quote_id: uuid.UUID):
    """Reserve every leg of the quote's plan or none; a refusal is shown on the quote page,
    its form filled in with the quote's request so that asking again is one click."""
    org = actor_for_request(request).org
    form = QuoteReserveForm(request.POST)
    try:
        if not form.is_valid():
            raise DomainError("validation_error", form.first_error())
        reservations, _ = reservations_create_from_quote(
            org=org, user=request.user, quote_id=quote_id,
            idempotency_key=form.idempotency_key(),
            auto_relaunch=form.cleaned_data["auto_relaunch"],
            max_price_per_hour=form.cleaned_data["max_price_per_hour"],
        )  # fmt: skip
    except DomainError as exc:
        if exc.code == "not_found":
            raise Http404("No such quote") from None
        messages.error(request, exc.message)
        stored = quote_for_org(org=org, quote_id=quote_id).request
        again = QuoteForm(initial=quote_form_initial(stored))
        return _quote_page(request, again, status=http_status(exc), refusal=exc.code)
    if len(reservations) == 1:
        return redirect("reservation-detail", reservation_id=reservations[0].pk)
    messages.success(request, f"Reserved {len(reservations)} reservations, one per leg.")
    return redirect("reservation-list")


def _add_engine_error(form: QuoteForm, exc: DomainError) -> dict:
    """Put the engine's refusal at its field; a bad GPU spec or filter also with the text
    and a caret under the position."""
    field = exc.extra.get("field")
    if field not in POSITIONED_FIELDS:
        form.add_error(None, exc.message)
        return {}
    text = form.cleaned_data.get(field, "")
    form.add_error(field, exc.message)
    return {field: error_at_position(exc, text=text, label=field)}


def _remember(request, form: QuoteForm, result: QuoteResult) -> str:
    """Keep what the answer page shows: the stored quotes by id, and what is not stored
    (the offers elsewhere, the counts left out, the request as asked)."""
    token = secrets.token_urlsafe(12)
    answers = request.session.get(SESSION_KEY, {})
    answers[token] = {
        "request": form.quote_request.as_json(),
        "quotes": [str(quote.pk) for quote in result.quotes],
        "elsewhere": ElsewhereOutput(result.elsewhere, many=True).data,
        "excluded": result.excluded,
    }
    request.session[SESSION_KEY] = dict(list(answers.items())[-ANSWERS_KEPT:])
    return token


def _answer_page(request, token: str):
    answer = request.session.get(SESSION_KEY, {}).get(token) if token else None
    if answer is None:
        if token:
            messages.info(request, "That answer is no longer here: ask again.")
        return _quote_page(request, QuoteForm())
    org = actor_for_request(request).org
    context = {
        "answer": answer,
        "plans": _plans(quotes_for_org(org=org, quote_ids=answer["quotes"])),
        "excluded": _left_out(answer["excluded"]),
    }
    form = QuoteForm(initial=quote_form_initial(answer["request"]))
    return _quote_page(request, form, answered=context)


def _plans(quotes) -> dict:
    """The plans, each with a fresh idempotency key (a Reserve form sent twice reserves
    once), and their price lock: the quotes of one answer share it."""
    if not quotes:
        return {"list": []}
    expires_at = quotes[0].expires_at
    return {
        "list": [
            {"quote": quote, "key": uuid.uuid4(), "observed_at": _prices_observed_at(quote)}
            for quote in quotes
        ],
        "expires_at": expires_at,
        "seconds_left": max(0, int((expires_at - timezone.now()).total_seconds())),
    }


def _prices_observed_at(quote) -> datetime | None:
    """When the oldest price of the plan was last confirmed (stored as ISO 8601 text)."""
    text = quote.breakdown.get("prices_observed_at")
    return datetime.fromisoformat(text) if text else None


def _left_out(excluded: dict) -> list[tuple[str, int]]:
    """The offers read but left out, by reason, those there were."""
    return [(reason.replace("_", " "), count) for reason, count in excluded.items() if count]


# Refusals that paying in ends: the page says where to do it.
FUNDS_REFUSALS = ("insufficient_funds", "account_past_due")


def _quote_page(
    request, form: QuoteForm, *, answered: dict | None = None, positioned: dict | None = None,
    status: int = 200, refusal: str = "",
):  # fmt: skip
    context = {
        "form": form, "positioned": positioned or {}, "answered": answered,
        "wants_funds": refusal in FUNDS_REFUSALS,
    }  # fmt: skip
    return render(request, "marketplace/quote.html", context, status=status)
