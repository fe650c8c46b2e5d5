"""Payment pages: the organization's card and prepaid top-ups (/invoices/payment/), and
paying an invoice from its page. Owners, admins and finance members only (`billing`).

Each action is a POST that calls the service the API calls; a refusal Stripe gives (a
declined card, Stripe unreachable) comes back to the page as a message, with the invoice
or top-up keeping the error, not as an error page."""

from __future__ import annotations

from django.contrib import messages
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from accounts.actors import actor_for_request
from accounts.decorators import member_required
from billing.forms import PaymentMethodForm, TopUpForm
from billing.selectors_funds import DEFAULT_CURRENCY, org_balance
from billing.selectors_payments import payment_account_of, top_ups_for_org
from billing.services.audit import session_key_of
from billing.services.payments import invoice_pay, payment_method_set, top_up_create
from billing.views import _invoice_of
from common.api.errors import http_status
from common.errors import DomainError

RECENT_TOP_UPS = 20
# Refusals shown as a message on the page the action came from; others are error pages.
SHOWN_AS_MESSAGE = {402, 409, 503}


def _billing_actor(request):
    """Who acts; every view here is `member_required("billing")`."""
    return actor_for_request(request)


@member_required("billing")
def payment(request, method_form=None, top_up_form=None, status=200):
    org = _billing_actor(request).org
    context = {
        "account": payment_account_of(org=org),
        "balance": org_balance(org=org, currency=DEFAULT_CURRENCY),
        "currency": DEFAULT_CURRENCY,
        "top_ups": top_ups_for_org(org=org)[:RECENT_TOP_UPS],
        "method_form": method_form or PaymentMethodForm(),
        "top_up_form": top_up_form or TopUpForm(),
    }
    return render(request, "billing/payment.html", context, status=status)


def _refused(request, error: DomainError) -> None:
    if http_status(error) not in SHOWN_AS_MESSAGE:
        raise error
    messages.error(request, error.message)


@member_required("billing")
@require_POST
def payment_method_action(request):
    actor = _billing_actor(request)
    form = PaymentMethodForm(request.POST)
    if not form.is_valid():
        return payment(request, method_form=form, status=400)
    try:
        account = payment_method_set(
            org=actor.org,
            payment_method=form.cleaned_data["payment_method"],
            actor=actor,
            session_key=session_key_of(request),
        )
    except DomainError as error:
        _refused(request, error)
    else:
        messages.success(request, f"Card {account.card_brand} …{account.card_last4} saved.")
    return redirect("billing-payment")


@member_required("billing")
@require_POST
def top_up_action(request):
    actor = _billing_actor(request)
    form = TopUpForm(request.POST)
    if not form.is_valid():
        return payment(request, top_up_form=form, status=400)
    try:
        top_up = top_up_create(
            org=actor.org,
            amount=form.cleaned_data["amount"],
            currency=DEFAULT_CURRENCY,
            actor=actor,
            session_key=session_key_of(request),
        )
    except DomainError as error:
        _refused(request, error)
    else:
        messages.success(request, f"Top-up of {top_up.amount} {top_up.currency}: {top_up.status}.")
    return redirect("billing-payment")


@member_required("billing")
@require_POST
def invoice_pay_action(request, invoice_id: int):
    actor = _billing_actor(request)
    invoice = _invoice_of(request, invoice_id)
    try:
        invoice = invoice_pay(invoice=invoice, actor=actor, session_key=session_key_of(request))
    except DomainError as error:
        _refused(request, error)
    else:
        messages.success(request, f"Invoice {invoice.number} is {invoice.status}.")
    return redirect("invoice-detail", invoice_id=invoice.pk)
