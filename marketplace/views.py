"""Pages: home, offers table, reservations."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Count, Min
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from accounts.actors import actor_for_request
from config.api_errors import ApiError
from marketplace.models import Offer, OfferStatus, Provider
from marketplace.selectors.catalog import offer_search
from marketplace.selectors.costs import reservation_cost_so_far
from marketplace.selectors.reservations import reservations_for_org
from marketplace.services.reservations import reservation_request_termination

PAGE_SIZE = 100


def home(request):
    active = Offer.objects.filter(status=OfferStatus.ACTIVE)
    stats = active.aggregate(offers=Count("id"), cheapest=Min("price_per_gpu_hour"))
    context = {
        "offer_count": stats["offers"],
        "cheapest_gpu_hour": stats["cheapest"],
        "provider_count": Provider.objects.filter(offers__status=OfferStatus.ACTIVE)
        .distinct()
        .count(),
    }
    return render(request, "marketplace/home.html", context)


def offers(request):
    query, sort = request.GET.get("q", ""), request.GET.get("sort", "")
    error, rows = None, []
    try:
        rows = list(offer_search(query=query, sort=sort).queryset[:PAGE_SIZE])
    except ApiError as exc:
        error = {"message": exc.message, "position": exc.extra.get("position")}
    return render(
        request,
        "marketplace/offers.html",
        {"offers": rows, "q": query, "sort": sort, "error": error},
    )


def _org_of(request):
    try:
        return actor_for_request(request).org
    except ApiError:
        return None


@login_required
def reservation_list(request):
    org = _org_of(request)
    rows = reservations_for_org(org=org)[:200] if org else []
    return render(request, "marketplace/reservation_list.html", {"reservations": rows})


def _own_reservation(request, reservation_id):
    org = _org_of(request)
    reservation = reservations_for_org(org=org).filter(pk=reservation_id).first() if org else None
    if reservation is None:
        raise Http404("No such reservation")
    return reservation


@login_required
def reservation_detail(request, reservation_id: int):
    reservation = _own_reservation(request, reservation_id)
    context = {
        "reservation": reservation,
        "events": reservation.events.all(),
        "attempts": reservation.attempts.all(),
        "cost_so_far": reservation_cost_so_far(reservation=reservation),
    }
    return render(request, "marketplace/reservation_detail.html", context)


@login_required
@require_POST
def reservation_terminate(request, reservation_id: int):
    reservation = _own_reservation(request, reservation_id)
    try:
        reservation_request_termination(reservation=reservation)
        messages.success(request, "Termination requested.")
    except ApiError as exc:
        messages.error(request, exc.message)
    return redirect("reservation-detail", reservation_id=reservation.pk)
