"""Pages: home, offers table, reservations."""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import messages
from django.http import Http404, JsonResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from accounts.actors import actor_for_request
from accounts.decorators import member_required
from common.api.errors import json_error_response
from common.api.pagination import NEWEST_FIRST, CursorPage, paginate
from common.errors import DomainError
from common.page_limits import rate_limited
from marketplace.forms import FilterBuilderForm, ReserveForm
from marketplace.models import Offer
from marketplace.reservability import reservable_provider_ids
from marketplace.search.builder import BUILDER_FIELDS, builder_fields
from marketplace.selectors.catalog import offer_search
from marketplace.selectors.catalog_providers import catalog_providers
from marketplace.selectors.catalog_summary import catalog_summary
from marketplace.selectors.providers import launch_requests_incoming, reservations_incoming
from marketplace.selectors.reservations import (
    reservation_live_state,
    reservations_for_org,
    reservations_live,
)
from marketplace.services.reservations import (
    ReservationRequest,
    reservation_create,
    reservation_request_termination,
)

PAGE_SIZE = 100
LAUNCH_REQUESTS_SHOWN = 50
# The builder's field ids (builder-gpu, ...), which its script and error messages point at.
BUILDER_IDS = "builder-%s"


def home(request):
    summary = catalog_summary()
    context = {
        "offer_count": summary.offers,
        "cheapest_gpu_hour": summary.cheapest_gpu_hour,
        "provider_count": summary.providers,
    }
    return render(request, "marketplace/home.html", context)


# (label, sort key, numeric column). Sortable where an index serves the sort (SEARCH_INDEXES
# in marketplace/models/offers.py): over a million offers any other sort reads them all.
OFFER_COLUMNS = [
    ("Provider", None, False),
    ("GPU", None, False),
    ("GPUs", "gpus", True),
    ("VRAM/GPU", "vram", True),
    ("Region", None, False),
    ("Pricing", None, False),
    ("$/h", "price", True),
    ("$/GPU-h", "gpu_price", True),
    ("Avail.", None, True),
    ("Seen", None, False),
    ("Status", None, False),
]


@rate_limited(GET=("search",))
def offers(request):
    builder = _sent_builder(request)
    if builder is not None:
        if not builder.is_valid():
            return _offers_page(request, query="", builder=builder, status=400)
        return _offers_page(request, query=builder.query, builder=builder)
    query = request.GET.get("q", "")
    # The fields show what they can of a filter typed or linked to.
    shown = FilterBuilderForm(initial=builder_fields(query), auto_id=BUILDER_IDS)
    return _offers_page(request, query=query, builder=shown)


def _sent_builder(request) -> FilterBuilderForm | None:
    """The filter builder's form when it was sent (it then stands for q), else None."""
    if not any(name in request.GET for name in BUILDER_FIELDS):
        return None
    return FilterBuilderForm(request.GET, auto_id=BUILDER_IDS)


def _offers_page(request, *, query: str, builder: FilterBuilderForm, status: int = 200):
    sort = request.GET.get("sort", "")
    error, page = None, CursorPage([], None)
    if not builder.errors:
        try:
            search = offer_search(query=query, sort=sort)
            page = search.page(limit=PAGE_SIZE, cursor=request.GET.get("cursor") or None)
        except DomainError as exc:
            error, status = _query_error(exc, query=query, sort=sort), 400
    context = {
        "offers": page.rows,
        "q": query,
        "sort": sort,
        "error": error,
        "builder": builder,
        "columns": _offer_columns(query, sort),
        "first_url": _offers_url(query, sort) if request.GET.get("cursor") else None,
        "next_url": _offers_url(query, sort, page.next) if page.next else None,
        "reservable_providers": reservable_provider_ids(),
        "providers": catalog_providers(),
        "now": timezone.now(),
    }
    return render(request, "marketplace/offers.html", context, status=status)


def _query_error(exc: DomainError, *, query: str, sort: str) -> dict:
    if exc.code == "invalid_sort":
        return error_at_position(exc, text=sort, label="sort")
    return error_at_position(exc, text=query, label="q")


def error_at_position(exc: DomainError, *, text: str, label: str) -> dict:
    """The error with the text it points into, so the page can put a caret under it."""
    position = exc.extra.get("position")
    caret = None
    if position is not None:
        position = max(0, min(int(position), len(text)))
        caret = " " * (len(label) + 2 + position) + "^"
    return {
        "message": exc.message,
        "hint": exc.extra.get("hint", ""),
        "text": text,
        "label": label,
        "position": position,
        "caret": caret,
    }


def _offer_columns(query: str, sort: str) -> list[dict]:
    first = sort.split(",")[0].strip() or "gpu_price"
    current, descending = first.lstrip("+-"), first.startswith("-")
    columns = []
    for label, key, numeric in OFFER_COLUMNS:
        column = {"label": label, "numeric": numeric, "url": None, "arrow": ""}
        if key:
            active = key == current
            column["url"] = _offers_url(query, f"-{key}" if active and not descending else key)
            column["arrow"] = ("▼" if descending else "▲") if active else ""
        columns.append(column)
    return columns


def _offers_url(query: str, sort: str, cursor: str | None = None) -> str:
    params = {"q": query, "sort": sort} | ({"cursor": cursor} if cursor else {})
    return "?" + urlencode({k: v for k, v in params.items() if v})


@member_required("read_reservations")
def reservation_list(request):
    org = actor_for_request(request).org
    page = paginate(
        reservations_for_org(org=org),
        keyset=NEWEST_FIRST,
        limit=PAGE_SIZE,
        cursor=request.GET.get("cursor") or None,
    )
    context = {"reservations": page.rows, "page": page}
    return render(request, "marketplace/reservation_list.html", context)


def _own_reservation(request, reservation_id):
    org = actor_for_request(request).org
    reservation = reservations_for_org(org=org).filter(pk=reservation_id).first()
    if reservation is None:
        raise Http404("No such reservation")
    return reservation


@member_required("read_reservations")
def reservation_detail(request, reservation_id: int):
    reservation = _own_reservation(request, reservation_id)
    may_connect = actor_for_request(request).can("connect")
    context = {
        "reservation": reservation,
        # Left out of the page, not only of the template, for roles that may not `connect`.
        "connect": reservation.ssh_command if may_connect else None,
        "events": reservation.events.all(),
        "attempts": reservation.attempts.select_related("offer", "offer__provider"),
        "runs": reservation.runs.all(),
    }
    return render(request, "marketplace/reservation_detail.html", context)


@member_required("read_reservations")
def reservation_status(request, reservation_id: int):
    """The reservation page's live part, polled by static/js/reservation_live.js."""
    actor = actor_for_request(request)
    reservation = reservations_live(org=actor.org, ids=[reservation_id]).first()
    if reservation is None:
        raise Http404("No such reservation")
    return JsonResponse(reservation_live_state(reservation, may_connect=actor.can("connect")))


@member_required("read_reservations")
def reservations_status(request):
    """The live part of a page of reservations (`?ids=3,2,1`, at most a page's worth)."""
    ids = _reservation_ids(request.GET.get("ids", ""))
    if ids is None:
        message = f"ids: up to {PAGE_SIZE} reservation numbers, comma-separated."
        return json_error_response("invalid_ids", message, 400)
    actor = actor_for_request(request)
    rows = reservations_live(org=actor.org, ids=ids)
    may_connect = actor.can("connect")
    return JsonResponse(
        {"reservations": [reservation_live_state(r, may_connect=may_connect) for r in rows]}
    )


def _reservation_ids(text: str) -> list[int] | None:
    parts = [part.strip() for part in text.split(",") if part.strip()]
    if len(parts) > PAGE_SIZE or not all(part.isdigit() and len(part) < 19 for part in parts):
        return None
    return [int(part) for part in parts]


@member_required("reserve")
@require_POST
def reservation_terminate(request, reservation_id: int):
    reservation = _own_reservation(request, reservation_id)
    try:
        reservation_request_termination(reservation=reservation)
        messages.success(request, "Termination requested.")
    except DomainError as exc:
        messages.error(request, exc.message)
    return redirect("reservation-detail", reservation_id=reservation.pk)


@member_required("provide")
def provider_reservations(request):
    """For providers: reservations of the offers their organizations list (all of those where
    they may `provide`; the page is for members who may in the organization they act for)."""
    page = paginate(
        reservations_incoming(user=request.user),
        keyset=NEWEST_FIRST,
        limit=PAGE_SIZE,
        cursor=request.GET.get("cursor") or None,
    )
    context = {
        "reservations": page.rows,
        "page": page,
        "launch_requests": launch_requests_incoming(user=request.user)[:LAUNCH_REQUESTS_SHOWN],
    }
    return render(request, "marketplace/provider_reservations.html", context)


@rate_limited(POST=("write", "reserve"))
@member_required("reserve")
def offer_reserve(request, offer_id: int):
    """Reserve an offer from the browser: the same service as POST /api/v1/reservations/."""
    offer = Offer.objects.select_related("provider", "gpu").filter(pk=offer_id).first()
    if offer is None:
        raise Http404("No such offer")
    form = ReserveForm(request.POST or None, offer=offer)
    error = None
    if request.method == "POST" and form.is_valid():
        try:
            actor = actor_for_request(request)
            reservation, _ = reservation_create(
                org=actor.org,
                user=request.user,
                request=_reservation_request(form.cleaned_data, offer),
            )
            return redirect("reservation-detail", reservation_id=reservation.pk)
        except DomainError as exc:
            error = exc.message
    return render(
        request, "marketplace/offer_reserve.html", {"offer": offer, "form": form, "error": error}
    )


def _reservation_request(data: dict, offer: Offer) -> ReservationRequest:
    return ReservationRequest(
        offer_id=offer.pk,
        gpus=data["gpus"],
        hours=data["hours"],
        max_price_per_hour=data.get("max_price_per_hour"),
        auto_relaunch=data.get("auto_relaunch", False),
    )
