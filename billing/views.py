from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import render

from accounts.actors import actor_for_request
from billing.downloads import invoice_csv_response, invoice_pdf_response
from billing.selectors import NEWEST_PERIOD_FIRST, invoices_for_org
from common.api.pagination import paginate

PAGE_SIZE = 100


def _finance_org(request):
    actor = actor_for_request(request)
    actor.require("billing")
    return actor.org


@login_required
def invoice_list(request):
    org = _finance_org(request)
    page = paginate(
        invoices_for_org(org=org),
        keyset=NEWEST_PERIOD_FIRST,
        limit=PAGE_SIZE,
        cursor=request.GET.get("cursor") or None,
    )
    return render(request, "billing/invoice_list.html", {"invoices": page.rows, "page": page})


def _invoice_of(request, invoice_id: int):
    invoice = invoices_for_org(org=_finance_org(request)).filter(pk=invoice_id).first()
    if invoice is None:
        raise Http404("No such invoice")
    return invoice


@login_required
def invoice_csv_download(request, invoice_id: int):
    return invoice_csv_response(_invoice_of(request, invoice_id))


@login_required
def invoice_pdf_download(request, invoice_id: int):
    return invoice_pdf_response(_invoice_of(request, invoice_id))
