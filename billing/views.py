"""Finance pages: the invoices (filtered, paged), one invoice with its lines and actions
(finalise, credit, void), its files, the month's exports, the credit notes and the billing
profile. Owners, admins and finance members only (`billing`)."""

from __future__ import annotations

from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST

from accounts.actors import actor_for_request
from accounts.decorators import member_required
from billing.downloads import (
    PERIOD_EXPORTS,
    credit_note_pdf_response,
    invoice_csv_response,
    invoice_pdf_response,
    period_export_response,
)
from billing.forms import BillingProfileForm, CreditNoteForm, InvoiceFilterForm, PeriodForm
from billing.periods import previous_month_start, required_period
from billing.selectors import (
    NEWEST_PERIOD_FIRST,
    billing_profile_for_org,
    credit_notes_for_org,
    credit_notes_listed,
    invoices_filtered,
    invoices_for_org,
)
from billing.selectors_payments import attempts_of_invoice, payment_account_of
from billing.services.credit_notes import (
    CREDITABLE,
    CreditRequest,
    credit_note_issue,
    invoice_require_creditable,
    invoice_void,
    invoice_voidable,
)
from billing.services.finalisation import invoice_finalize
from billing.services.profiles import BillingProfileData, billing_profile_put
from billing.tax import TaxRule, country_name, tax_decision
from common.api.errors import http_status
from common.api.pagination import NEWEST_FIRST, CursorPage, paginate
from common.errors import DomainError
from common.money import round_amount

PAGE_SIZE = 100


def _finance_org(request):
    """Whose finances the page shows; every view here is `member_required("billing")`."""
    return actor_for_request(request).org


@member_required("billing")
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


@member_required("billing")
def invoice_detail(request, invoice_id: int):
    invoice = _invoice_of(request, invoice_id)
    return _invoice_page(request, invoice, CreditNoteForm(invoice=invoice))


def _invoice_page(request, invoice, credit_form: CreditNoteForm, status: int = 200):
    credited = round_amount(invoice.amount_credited, invoice.currency)  # 0.00 when none
    context = {
        "invoice": invoice,
        "amount_credited": credited,
        "can_credit": invoice.status in CREDITABLE and credited < invoice.total,
        "can_void": invoice_voidable(invoice),
        "credit_form": credit_form,
        "attempts": attempts_of_invoice(invoice),
        "payment_account": payment_account_of(org=invoice.org),
    }
    return render(request, "billing/invoice_detail.html", context, status=status)


# The invoice's actions: POST only, each one service call, then back to the invoice with a
# message. A refusal (DomainError) is the error page with its status, nothing changed.


@member_required("billing")
@require_POST
def invoice_finalize_action(request, invoice_id: int):
    invoice = invoice_finalize(invoice_id=_invoice_of(request, invoice_id).pk)
    messages.success(request, f"Invoice {invoice.number} finalised.")
    return redirect("invoice-detail", invoice_id=invoice.pk)


@member_required("billing")
@require_POST
def invoice_credit_action(request, invoice_id: int):
    """Issue a credit note from the invoice's form. Malformed input, or an amount the service
    refuses as a 400 (more than a line has left...), is the invoice page with the error
    beside the field; any other refusal (a draft, more than the invoice) its error page."""
    invoice = _invoice_of(request, invoice_id)
    invoice_require_creditable(invoice)
    form = CreditNoteForm(request.POST, invoice=invoice)
    if not form.is_valid():
        return _invoice_page(request, invoice, form, status=400)
    data = form.cleaned_data
    try:
        note = credit_note_issue(
            invoice_id=invoice.pk,
            request=CreditRequest(
                reason=data["reason"], lines=data["lines"], amount=data["amount"]
            ),
        )
    except DomainError as error:
        if http_status(error) != 400:
            raise
        form.add_domain_error(error)
        return _invoice_page(request, invoice, form, status=400)
    messages.success(request, f"Credit note {note.number} issued on invoice {invoice.number}.")
    return redirect("credit-note-detail", credit_note_id=note.pk)


@member_required("billing")
@require_POST
def invoice_void_action(request, invoice_id: int):
    invoice = invoice_void(invoice_id=_invoice_of(request, invoice_id).pk)
    messages.success(request, f"Invoice {invoice.number} voided.")
    return redirect("invoice-detail", invoice_id=invoice.pk)


@member_required("billing")
def invoice_csv_download(request, invoice_id: int):
    return invoice_csv_response(_invoice_of(request, invoice_id))


@member_required("billing")
def invoice_pdf_download(request, invoice_id: int):
    return invoice_pdf_response(_invoice_of(request, invoice_id))


@member_required("billing")
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


@member_required("billing")
def invoice_export_download(request, name: str):
    org = _finance_org(request)
    if name not in PERIOD_EXPORTS:
        raise Http404("No such export")
    period = required_period(request.GET.get("period"))
    return period_export_response(org=org, name=name, period=period)


# --- credit notes ---------------------------------------------------------------------------


@member_required("billing")
def credit_note_list(request):
    page = paginate(
        credit_notes_listed(org=_finance_org(request)),
        keyset=NEWEST_FIRST,
        limit=PAGE_SIZE,
        cursor=request.GET.get("cursor") or None,
    )
    context = {"credit_notes": page.rows, "page": page}
    return render(request, "billing/credit_note_list.html", context)


def _credit_note_of(request, credit_note_id: int):
    note = credit_notes_for_org(org=_finance_org(request)).filter(pk=credit_note_id).first()
    if note is None:
        raise Http404("No such credit note")
    return note


@member_required("billing")
def credit_note_detail(request, credit_note_id: int):
    note = _credit_note_of(request, credit_note_id)
    return render(request, "billing/credit_note_detail.html", {"note": note})


@member_required("billing")
def credit_note_pdf_download(request, credit_note_id: int):
    return credit_note_pdf_response(_credit_note_of(request, credit_note_id))


# --- the billing profile --------------------------------------------------------------------


@member_required("billing")
@require_http_methods(["GET", "POST"])
def billing_profile(request):
    """The organization's billing profile, replaced whole by `billing_profile_put` (the API's
    checks: a bad country or VAT id is a form error beside its field, nothing saved)."""
    org = _finance_org(request)
    try:
        profile = billing_profile_for_org(org=org)
    except DomainError as error:
        if error.code != "not_found":
            raise
        profile = None
    status = 200
    if request.method == "POST":
        form = BillingProfileForm(request.POST)
        if form.is_valid():
            try:
                billing_profile_put(org=org, data=BillingProfileData(**form.cleaned_data))
            except DomainError as error:
                if http_status(error) != 400:
                    raise
                form.add_domain_error(error)
            else:
                messages.success(request, "Billing profile saved.")
                return redirect("billing-profile")
        status = 400
    else:
        fields = BillingProfileForm.base_fields
        form = BillingProfileForm(
            initial={name: getattr(profile, name) for name in fields} if profile else None
        )
    decision = tax_decision(seller_country=settings.PLATFORM_COUNTRY, buyer=profile)
    context = {"form": form, "profile": profile, "tax_rule": _tax_rule_sentence(decision, profile)}
    return render(request, "billing/billing_profile.html", context, status=status)


def _tax_rule_sentence(decision, profile) -> str:
    """Which rule of docs/billing.md ("Tax") applies to invoices finalised now, in a sentence."""
    seller = settings.PLATFORM_COUNTRY
    rate = f"{decision.rate.normalize():f} %"
    if decision.rule == TaxRule.DOMESTIC:
        return (
            f"You are established in {country_name(seller)}, as the platform is: invoices "
            f"finalised now carry its VAT at {rate}."
        )
    if decision.rule == TaxRule.REVERSE_CHARGE:
        return (
            f"You have a VAT id in {country_name(profile.country)}, another EU member state: "
            "invoices finalised now carry no VAT (reverse charge, you account for it)."
        )
    if decision.rule == TaxRule.EU_CONSUMER:
        return (
            f"Without a VAT id you are a consumer in {country_name(profile.country)}: invoices "
            f"finalised now carry its VAT at {rate}."
        )
    if decision.rule == TaxRule.OUTSIDE_EU:
        return (
            f"You are established in {country_name(profile.country)}, outside the EU: invoices "
            "finalised now carry no VAT (outside the scope of EU VAT)."
        )
    if decision.rule == TaxRule.NO_PROFILE:
        return (
            "Without a billing profile the place of supply is unknown: invoices finalised now "
            f"carry the VAT of {country_name(seller)}, the platform's country, at {rate}."
        )
    return (
        f"The platform is established in {country_name(seller)}, outside the EU: invoices "
        "finalised now carry no VAT."
    )
