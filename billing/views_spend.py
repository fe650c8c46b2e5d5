"""The organization's budget page (/org/budget/: the limit, its hard stop, the month's spend
against it and the alerts sent) and its spend page (/invoices/spend/: a month's spend by day,
GPU model and provider). For the members `PUT /api/v1/orgs/<id>/budget/` lets set it:
owners, admins and finance (`billing`), through the same service."""

from __future__ import annotations

from datetime import UTC, datetime

from django.contrib import messages
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods

from accounts.actors import actor_for_request
from accounts.decorators import member_required
from billing.charts import bar_chart
from billing.forms import BudgetForm, PeriodForm
from billing.periods import month_start, next_month_start, previous_month_start
from billing.selectors_funds import DEFAULT_CURRENCY, budget_for_org, org_month_invoiced
from billing.selectors_spend import org_month_spend_breakdown
from billing.services.audit import session_key_of
from billing.services.budgets import BudgetData, budget_put
from common.api.errors import http_status
from common.errors import DomainError
from common.money import round_amount

# The spend page's earliest month: before it there is nothing to show (and a month picker
# at year 1 would have no month before it).
FIRST_MONTH = datetime(2000, 1, 1, tzinfo=UTC)


@member_required("billing")
@require_http_methods(["GET", "POST"])
def budget(request):
    actor = actor_for_request(request)
    current = budget_for_org(org=actor.org)
    if request.method == "POST":
        form = BudgetForm(request.POST)
        if form.is_valid() and _saved(request, actor, form):
            messages.success(request, "Budget saved.")
            return redirect("org-budget")
        return _budget_page(request, actor.org, current, form, status=400)
    initial = {name: getattr(current, name) for name in BudgetForm.base_fields} if current else None
    return _budget_page(request, actor.org, current, BudgetForm(initial=initial))


def _saved(request, actor, form: BudgetForm) -> bool:
    try:
        budget_put(
            org=actor.org, data=BudgetData(**form.cleaned_data), actor=actor,
            session_key=session_key_of(request),
        )  # fmt: skip
    except DomainError as error:
        if http_status(error) != 400:
            raise
        form.add_domain_error(error)
        return False
    return True


def _budget_page(request, org, current, form: BudgetForm, status: int = 200):
    now = timezone.now()
    currency = current.currency if current else DEFAULT_CURRENCY
    spent = round_amount(org_month_invoiced(org=org, currency=currency, now=now), currency)
    context = {
        "org": org,
        "budget": current,
        "form": form,
        "month": month_start(now),
        "spent": spent,
        "currency": currency,
        "share": round(spent * 100 / current.monthly_limit) if current else None,
        "alerts": _alerts_sent(current, month_start(now).date()),
    }
    return render(request, "billing/budget.html", context, status=status)


def _alerts_sent(current, period) -> list[str]:
    if current is None:
        return []
    sent = []
    if current.alerted_80_period == period:
        sent.append("80 % of the limit: alert sent this month")
    if current.alerted_100_period == period:
        sent.append("100 % of the limit: alert sent this month")
    return sent


@member_required("billing")
@require_GET
def spend(request):
    actor = actor_for_request(request)
    now = timezone.now()
    form = PeriodForm({"period": request.GET.get("period") or f"{now:%Y-%m}"})
    if form.is_valid() and not FIRST_MONTH <= form.cleaned_data["period"] <= now:
        form.add_error("period", f"Choose a month from {FIRST_MONTH:%Y-%m} to this one.")
    if not form.is_valid():
        context = {"form": form, "spend": None}
        return render(request, "billing/spend.html", context, status=400)
    period = form.cleaned_data["period"]
    current = budget_for_org(org=actor.org)
    currency = current.currency if current else DEFAULT_CURRENCY
    month = org_month_spend_breakdown(org=actor.org, period=period, currency=currency, now=now)
    context = {
        "form": form,
        "spend": month,
        "budget": current,
        "share": round(month.total * 100 / current.monthly_limit) if current else None,
        "chart": bar_chart(month.by_day),
        "previous": previous_month_start(period),
        "next": next_month_start(period) if next_month_start(period) <= now else None,
    }
    return render(request, "billing/spend.html", context)
