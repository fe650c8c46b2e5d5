from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import render

from accounts.actors import actor_for_request
from billing.selectors import NEWEST_PERIOD_FIRST, invoices_for_org
from billing.services.invoices import invoice_csv
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


@login_required
def invoice_csv_download(request, invoice_id: int):
    org = _finance_org(request)
    invoice = invoices_for_org(org=org).filter(pk=invoice_id).first()
    if invoice is None:
        raise Http404("No such invoice")
    response = HttpResponse(invoice_csv(invoice=invoice), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = (
        f'attachment; filename="invoice-{invoice.number or invoice.pk}.csv"'
    )
    return response
