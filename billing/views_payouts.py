"""Provider pages: its statements (earnings, the platform's fee, payouts) and one statement
with its lines. For members who may `provide` in the organization they act for; the pages
span the providers of every organization where they may (as the incoming reservations page,
marketplace/views.py); another's statement is not found."""

from __future__ import annotations

from django.db.models import Q, Sum
from django.http import Http404
from django.shortcuts import render

from accounts.decorators import member_required
from billing.models import ProviderPayoutAccount, StatementStatus
from billing.selectors import NEWEST_PERIOD_FIRST
from billing.selectors_payouts import statements_of, statements_with_lines
from common.api.pagination import paginate
from marketplace.selectors.providers import providers_of_user

PAGE_SIZE = 100


@member_required("provide")
def provider_statements(request):
    providers = providers_of_user(user=request.user)
    statements = statements_of(providers=providers)
    page = paginate(
        statements,
        keyset=NEWEST_PERIOD_FIRST,
        limit=PAGE_SIZE,
        cursor=request.GET.get("cursor") or None,
    )
    context = {
        "statements": page.rows,
        "page": page,
        "totals": _totals(statements),
        "accounts": ProviderPayoutAccount.objects.filter(provider__in=providers)
        .select_related("provider")
        .order_by("provider__slug"),
    }
    return render(request, "billing/provider_statements.html", context)


def _totals(statements) -> list[dict]:
    """Per currency: earned (gross), the fee, paid out, and waiting to be paid."""
    paid, payable = Q(status=StatementStatus.PAID), Q(status=StatementStatus.PAYABLE)
    return list(
        statements.order_by()
        .values("currency")
        .annotate(
            gross=Sum("gross"),
            fee=Sum("fee"),
            paid=Sum("net", filter=paid, default=0),
            payable=Sum("net", filter=payable, default=0),
        )
        .order_by("currency")
    )


@member_required("provide")
def provider_statement_detail(request, statement_id: int):
    statement = (
        statements_with_lines(providers=providers_of_user(user=request.user))
        .filter(pk=statement_id)
        .first()
    )
    if statement is None:
        raise Http404("No such statement")
    return render(request, "billing/provider_statement_detail.html", {"statement": statement})
