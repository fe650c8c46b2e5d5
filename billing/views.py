"""Finance pages: the invoices (filtered, paged), one invoice with its lines and actions, its
files, and the month's exports. Owners, admins and finance members only (`billing`)."""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from accounts.actors import actor_for_request
from billing.downloads import (
    PERIOD_EXPORTS,
    invoice_csv_response,
    invoice_pdf_response,
    period_export_response,
)
from billing.forms import InvoiceFilterForm, PeriodForm
from billing.periods import previous_month_start, required_period
from billing.selectors import NEWEST_PERIOD_FIRST, invoices_filtered, invoices_for_org
from billing.services.finalisation import invoice_finalize
from common.api.pagination import CursorPage, paginate

PAGE_SIZE = 100


def _finance_org(request):
    actor = actor_for_request(request)
    actor.require("billing")
    return actor.org


@login_required
def invoice_list(request):
    org = _finance_org(request)
    form = InvoiceFilterForm(request.GET)
    page = CursorPage([], None)
    if form.is_valid():
        page = paginate(
            invoices_filtered(
                org=org,
                period_start=form.cleaned_data["period"],
                status=form.cleaned_data["status"],
            ),
            keyset=NEWEST_PERIOD_FIRST,
            limit=PAGE_SIZE,
            cursor=request.GET.get("cursor") or None,
        )
    context = {
        "form": form,
        "filtered": bool(form.data.get("period") or form.data.get("status")),
        "invoices": page.rows,
        "next_url": _next_url(request.GET, page.next) if page.next else None,
    }
    status = 200 if form.is_valid() else 400
    return render(request, "billing/invoice_list.html", context, status=status)


def _next_url(params, cursor: str) -> str:
    """The next page keeps the filters."""
    kept = {name: params.get(name) for name in InvoiceFilterForm.base_fields if params.get(name)}
    return "?" + urlencode(kept | {"cursor": cursor})


def _invoice_of(request, invoice_id: int):
    invoice = invoices_for_org(org=_finance_org(request)).filter(pk=invoice_id).first()
    if invoice is None:
        raise Http404("No such invoice")
    return invoice


@login_required
def invoice_detail(request, invoice_id: int):
    invoice = _invoice_of(request, invoice_id)
    return render(request, "billing/invoice_detail.html", {"invoice": invoice})


# The invoice's actions: POST only, each one service call, then back to the invoice with a
# message. A refusal (DomainError) is the error page with its status, nothing changed.


@login_required
@require_POST
def invoice_finalize_action(request, invoice_id: int):
    invoice = invoice_finalize(invoice_id=_invoice_of(request, invoice_id).pk)
    messages.success(request, f"Invoice {invoice.number} finalised.")
    return redirect("invoice-detail", invoice_id=invoice.pk)


@login_required
def invoice_csv_download(request, invoice_id: int):
    return invoice_csv_response(_invoice_of(request, invoice_id))


@login_required
def invoice_pdf_download(request, invoice_id: int):
    return invoice_pdf_response(_invoice_of(request, invoice_id))


@login_required
def invoice_exports(request):
    """The month's exports: a month picker (last month unless chosen) and a link to each."""
    _finance_org(request)
    last_month = f"{previous_month_start(timezone.now()):%Y-%m}"
    form = PeriodForm({"period": request.GET.get("period", last_month)})
    valid = form.is_valid()
    context = {
        "form": form,
        "period": form.cleaned_data["period"] if valid else None,
        "exports": list(PERIOD_EXPORTS),
    }
    return render(request, "billing/invoice_exports.html", context, status=200 if valid else 400)


@login_required
def invoice_export_download(request, name: str):
    org = _finance_org(request)
    if name not in PERIOD_EXPORTS:
        raise Http404("No such export")
    period = required_period(request.GET.get("period"))
    return period_export_response(org=org, name=name, period=period)
