"""Provider pages: register a provider, its offers (inline edit, withdraw, CSV upload with a
preview, CSV export) and its webhook. The same services and checks as the provider API
(docs/provider-api.md), for the organization the member acts for; a page that names one of
another organization's providers or offers answers 404."""

from __future__ import annotations

import secrets
from datetime import timedelta
from urllib.parse import urlencode

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.actors import Actor, actor_for_request
from accounts.decorators import member_required
from common.api.errors import http_status
from common.api.pagination import OLDEST_FIRST, paginate
from common.errors import DomainError
from marketplace.api.provider_offers import ListedOfferInput
from marketplace.forms_provider import (
    OfferUploadForm,
    ProviderRegisterForm,
    WebhookRotateForm,
    WebhookUrlForm,
)
from marketplace.models import OfferStatus, Provider
from marketplace.offer_csv import (
    MAX_CSV_BYTES,
    OfferCsv,
    offer_csv_read,
    offer_items_checked,
    offers_csv_write,
)
from marketplace.selectors.providers import (
    provider_offer,
    provider_offers,
    provider_owned,
    providers_acting,
)
from marketplace.services.offer_upload import (
    ChangeKind,
    offer_upload_apply,
    offer_upload_preview,
)
from marketplace.services.provider_offers import (
    offer_as_item,
    offers_as_items,
    provider_offer_update,
    provider_offer_withdraw,
)
from marketplace.services.providers import (
    provider_register,
    provider_webhook_secret_rotate,
    provider_webhook_url_set,
)

OFFERS_PAGE_SIZE = 100
PROVIDERS_SHOWN = 50  # an organization lists a few; the picker shows at most this many
INLINE_FIELDS = ("price_per_hour", "available")
UPLOAD_SESSION_KEY = "provider_offer_upload"


# --- which provider -------------------------------------------------------------------------


def _providers_and_chosen(
    request, actor: Actor, slug: str | None = None
) -> tuple[list[Provider], Provider | None]:
    """The organization's providers (for the picker) and the one the page is about: named by
    `slug` or `?provider=<slug>` (404 if it is not theirs), else the first."""
    providers = list(providers_acting(actor=actor)[:PROVIDERS_SHOWN])
    slug = slug or request.GET.get("provider")
    if not slug:
        return providers, providers[0] if providers else None
    chosen = next((p for p in providers if p.slug == slug), None)
    if chosen is None:
        raise DomainError("not_found", f"Your organization has no provider {slug!r}.")
    return providers, chosen


def _url(name: str, provider: Provider | None = None, **params) -> str:
    query = ({"provider": provider.slug} if provider else {}) | {
        k: v for k, v in params.items() if v
    }
    return reverse(name) + (f"?{urlencode(query)}" if query else "")


# --- register ---------------------------------------------------------------------------


@member_required("manage_org")  # as POST /api/v1/providers/: a provider is the organization's
@require_http_methods(["GET", "POST"])
def provider_register_page(request):
    actor = actor_for_request(request)
    form = ProviderRegisterForm(request.POST or None)
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            try:
                provider = provider_register(org=actor.org, **form.cleaned_data)
            except DomainError as exc:
                form.add_error(exc.extra.get("field"), exc.message)
                status = http_status(exc)
            else:
                messages.success(request, f"Provider {provider.slug} registered.")
                return _webhook_secret_page(request, provider)
    return render(request, "marketplace/provider_register.html", {"form": form}, status=status)


# --- offers -----------------------------------------------------------------------------


@member_required("provide")
@require_GET
def provider_offers_page(request):
    return _offers_page(request)


def _offers_page(request, *, slug=None, row_error: dict | None = None, status: int = 200):
    actor = actor_for_request(request)
    providers, provider = _providers_and_chosen(request, actor, slug)
    context = {"providers": providers, "provider": provider, "row_error": row_error}
    if provider is not None:
        context |= _offers_context(request, actor, provider)
    return render(request, "marketplace/provider_offers.html", context, status=status)


def _offers_context(request, actor: Actor, provider: Provider) -> dict:
    withdrawn = request.GET.get("status") == OfferStatus.WITHDRAWN
    offers = provider_offers(actor=actor).filter(provider=provider)
    offers = (
        offers.filter(status=OfferStatus.WITHDRAWN)
        if withdrawn
        else offers.exclude(status=OfferStatus.WITHDRAWN)
    )
    page = paginate(
        offers, keyset=OLDEST_FIRST, limit=OFFERS_PAGE_SIZE, cursor=request.GET.get("cursor")
    )
    items = offers_as_items(provider=provider, offers=page.rows)
    next_url = page.next and _url(
        "provider-offers", provider, status=request.GET.get("status"), cursor=page.next
    )
    return {
        "rows": [
            (o, item, item["available"] - o.available)
            for o, item in zip(page.rows, items, strict=True)
        ],
        "withdrawn": withdrawn,
        "next_url": next_url,
    }


@member_required("provide")
@require_POST
def provider_offer_update_action(request, offer_id: int):
    """Inline edit of price and capacity: `PATCH /api/v1/provider/offers/<id>/`'s checks
    and service."""
    actor = actor_for_request(request)
    offer = provider_offer(actor=actor, offer_id=offer_id)
    sent = {name: request.POST.get(name, "").strip() for name in INLINE_FIELDS}
    serializer = ListedOfferInput(data=sent, partial=True)
    if not serializer.is_valid():
        message = " ".join(f"{f}: {' '.join(map(str, e))}" for f, e in serializer.errors.items())
        error = {"offer_id": offer.pk, "message": message, "sent": sent}
        return _offers_page(request, slug=offer.provider.slug, row_error=error, status=400)
    provider_offer_update(offer=offer, item=offer_as_item(offer) | dict(serializer.validated_data))
    messages.success(request, f"Offer {offer.sku} ({offer.region}, {offer.pricing}) updated.")
    return redirect(_url("provider-offers", offer.provider))


@member_required("provide")
@require_POST
def provider_offer_withdraw_action(request, offer_id: int):
    offer = provider_offer(actor=actor_for_request(request), offer_id=offer_id)
    provider_offer_withdraw(offer=offer)
    messages.success(request, f"Offer {offer.sku} ({offer.region}, {offer.pricing}) withdrawn.")
    return redirect(_url("provider-offers", offer.provider))


@member_required("provide")
@require_GET
def provider_offers_export(request):
    """The provider's listed offers in the upload's columns: a file to edit and upload (the
    header alone, a template, before there is any)."""
    actor = actor_for_request(request)
    _, provider = _providers_and_chosen(request, actor)
    items = []
    if provider is not None:
        offers = list(
            provider_offers(actor=actor)
            .filter(provider=provider)
            .exclude(status=OfferStatus.WITHDRAWN)
            .order_by("id")
        )
        items = offers_as_items(provider=provider, offers=offers)
    response = HttpResponse(offers_csv_write(items), content_type="text/csv; charset=utf-8")
    filename = f"{provider.slug}-offers.csv" if provider else "offers.csv"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


# --- upload: preview, then apply ----------------------------------------------------------
# The checked rows wait in the session between the two steps (never in the page, where they
# could be changed), with the preview's fingerprint: the apply recomputes the diff and
# refuses if it is not the one shown.


@member_required("provide")
@require_http_methods(["GET", "POST"])
def provider_offers_upload(request):
    actor = actor_for_request(request)
    providers, provider = _providers_and_chosen(request, actor)
    form = OfferUploadForm(request.POST or None, request.FILES or None)
    context = {"providers": providers, "provider": provider, "form": form}
    if request.method == "GET" or provider is None:
        return render(request, "marketplace/provider_upload.html", context)
    if not form.is_valid():
        return render(request, "marketplace/provider_upload.html", context, status=400)
    return _preview(request, context, form.cleaned_data)


def _preview(request, context: dict, data: dict):
    provider, complete = context["provider"], data["complete"]
    try:
        parsed = _read_upload(data["file"])
    except DomainError as exc:  # the file as a whole: too large, too long, not CSV
        return _upload_refused(request, context, exc)
    if not parsed.errors:
        try:
            preview = offer_upload_preview(
                provider=provider, items=parsed.checked, complete=complete
            )
        except DomainError as exc:  # unknown GPUs, repeated offers: by row, as the API
            parsed.errors = parsed.row_errors(exc)
    if parsed.errors:
        context["row_errors"] = parsed.errors
        return render(request, "marketplace/provider_upload.html", context, status=400)
    token = _remember_upload(request, provider, parsed, complete, preview.fingerprint)
    context |= _preview_context(preview, token=token, complete=complete)
    # A preview is of one provider: no picker, which would leave it.
    context |= {"filename": data["file"].name, "providers": [provider]}
    return render(request, "marketplace/provider_upload_preview.html", context)


def _upload_refused(request, context: dict, error: DomainError):
    context["file_error"] = error.message
    status = 413 if error.code == "file_too_large" else http_status(error)
    return render(request, "marketplace/provider_upload.html", context, status=status)


def _read_upload(upload) -> OfferCsv:
    # The size is known before reading (a bigger body stays on disk, in a temporary file).
    if upload.size > MAX_CSV_BYTES:
        raise DomainError(
            "file_too_large", f"The file is {upload.size} bytes; at most {MAX_CSV_BYTES} are read."
        )
    return offer_csv_read(upload.read())


def _preview_context(preview, *, token: str, complete: bool) -> dict:
    return {
        "token": token,
        "complete": complete,
        "new": preview.of_kind(ChangeKind.NEW),
        "changed": preview.of_kind(ChangeKind.CHANGED),
        "unchanged": preview.of_kind(ChangeKind.UNCHANGED),
        "to_withdraw": preview.of_kind(ChangeKind.WITHDRAWN),
    }


def _remember_upload(request, provider, parsed: OfferCsv, complete: bool, fingerprint: str):
    token = secrets.token_urlsafe(16)
    request.session[UPLOAD_SESSION_KEY] = {
        "token": token,
        "provider": provider.pk,
        "items": parsed.items,
        "complete": complete,
        "fingerprint": fingerprint,
    }
    return token


@member_required("provide")
@require_POST
def provider_offers_upload_apply(request):
    actor = actor_for_request(request)
    pending = request.session.get(UPLOAD_SESSION_KEY) or {}
    if not pending or pending["token"] != request.POST.get("token"):
        messages.error(request, "That preview is no longer the latest: upload the file again.")
        return redirect("provider-offers-upload")
    del request.session[UPLOAD_SESSION_KEY]  # applied or refused, the preview is spent
    provider = provider_owned(actor=actor, provider_id=pending["provider"])
    try:
        counts = offer_upload_apply(
            provider=provider,
            items=offer_items_checked(pending["items"]),
            complete=pending["complete"],
            fingerprint=pending["fingerprint"],
        )
    except DomainError as exc:  # stale: the offers changed since the preview
        providers, _ = _providers_and_chosen(request, actor, provider.slug)
        context = {"providers": providers, "provider": provider, "form": OfferUploadForm()}
        return _upload_refused(request, context, exc)
    messages.success(
        request,
        f"Applied: {counts.created} new, {counts.updated} changed, {counts.unchanged} "
        f"unchanged, {counts.withdrawn} withdrawn.",
    )
    return redirect(_url("provider-offers", provider))


# --- webhook ------------------------------------------------------------------------------


@member_required("provide")
@require_http_methods(["GET", "POST"])
def provider_webhook(request):
    """Change the webhook URL: `POST /api/v1/providers/<id>/webhook/`'s service."""
    actor = actor_for_request(request)
    providers, provider = _providers_and_chosen(request, actor)
    initial = {"webhook_url": provider.webhook_url} if provider else None
    form = WebhookUrlForm(request.POST or None, initial=initial)
    status = 200
    if request.method == "POST" and provider is not None:
        status = 400
        if form.is_valid():
            try:
                provider_webhook_url_set(provider=provider, **form.cleaned_data)
            except DomainError as exc:
                form.add_error("webhook_url", exc.message)
                status = http_status(exc)
            else:
                messages.success(request, "Webhook URL saved.")
                return redirect(_url("provider-webhook", provider))
    context = {
        "providers": providers, "provider": provider, "form": form,
        "rotate_form": WebhookRotateForm(),
    }  # fmt: skip
    return render(request, "marketplace/provider_webhook.html", context, status=status)


@member_required("provide")
@require_POST
def provider_webhook_rotate(request):
    """A new secret: `.../webhook/rotate-secret/`'s service; shown on this answer only."""
    actor = actor_for_request(request)
    providers, provider = _providers_and_chosen(request, actor)
    form = WebhookRotateForm(request.POST)
    if provider is None or not form.is_valid():
        context = {
            "providers": providers, "provider": provider, "rotate_form": form,
            "form": WebhookUrlForm(initial={"webhook_url": provider.webhook_url if provider else ""}),
        }  # fmt: skip
        return render(request, "marketplace/provider_webhook.html", context, status=400)
    overlap = timedelta(seconds=form.cleaned_data["overlap_seconds"])
    provider = provider_webhook_secret_rotate(provider=provider, overlap=overlap)
    messages.success(request, "Webhook secret rotated.")
    return _webhook_secret_page(request, provider)


def _webhook_secret_page(request, provider: Provider):
    """The provider's webhook secret, shown this once (no page shows it again)."""
    response = render(request, "marketplace/provider_secret.html", {"provider": provider})
    response["Cache-Control"] = "no-store"
    return response
