"""Page forms of the finance pages. They only read input; the selectors and services decide."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from django import forms

from billing.models import InvoiceStatus
from billing.periods import parse_period
from common.errors import DomainError


class PeriodField(forms.CharField):
    """A month, YYYY-MM, cleaned to its first instant (UTC) by billing.periods.parse_period.

    Rendered as <input type="month">: browsers with a month picker send YYYY-MM, the others
    show a text box."""

    widget = forms.TextInput(attrs={"type": "month", "placeholder": "YYYY-MM"})

    def prepare_value(self, value):
        return f"{value:%Y-%m}" if isinstance(value, datetime) else value

    def to_python(self, value):
        text = super().to_python(value)
        if text in self.empty_values:
            return None
        try:
            return parse_period(text)
        except DomainError as exc:
            raise forms.ValidationError(exc.message, code=exc.code) from None


class InvoiceFilterForm(forms.Form):
    period = PeriodField(required=False, label="Period")
    status = forms.ChoiceField(
        required=False, choices=[("", "Any status"), *InvoiceStatus.choices], label="Status"
    )


class PeriodForm(forms.Form):
    period = PeriodField(label="Month")


class CreditNoteForm(forms.Form):
    """A credit note of an invoice: a reason, and either one amount spread over its lines or
    an amount per line (`line_<id>`, blank for nothing), before tax as the API takes them."""

    reason = forms.CharField(max_length=500, label="Reason")
    amount = forms.DecimalField(
        required=False,
        max_digits=16,
        decimal_places=2,
        min_value=Decimal("0.01"),
        label="Amount for the whole invoice",
        help_text="Before tax, spread over the lines in proportion to what each has left.",
    )

    def __init__(self, *args, invoice, **kwargs):
        super().__init__(*args, **kwargs)
        for line in invoice.lines.all():
            if line.amount <= 0:
                continue  # a line taking seconds back has nothing to credit
            name = self.line_field_name(line.pk)
            self.fields[name] = forms.DecimalField(
                required=False,
                max_digits=16,
                decimal_places=2,
                min_value=Decimal("0.01"),
                label=f"Line {line.pk}: {line.description} ({line.amount})",
            )
        self.line_names = [name for name in self.fields if name.startswith("line_")]

    @staticmethod
    def line_field_name(line_id: int) -> str:
        return f"line_{line_id}"

    def line_rows(self):
        return [self[name] for name in self.line_names]

    def clean(self):
        data = super().clean()
        lines = [
            (int(name.removeprefix("line_")), data[name])
            for name in self.line_names
            if data.get(name) is not None
        ]
        if self.errors:
            return data
        if (data.get("amount") is not None) == bool(lines):
            raise forms.ValidationError(
                "Give either an amount for the whole invoice or amounts per line, not both.",
                code="invalid",
            )
        data["lines"] = lines
        return data

    def add_domain_error(self, error: DomainError) -> None:
        """A refusal of the service (a 400) beside the field it is about."""
        line = error.extra.get("line")
        field = self.line_field_name(line) if line is not None else None
        if field not in self.fields:
            field = "amount" if self.cleaned_data.get("amount") is not None else None
        self.add_error(field, forms.ValidationError(error.message, code=error.code))


class BillingProfileForm(forms.Form):
    """The fields of `BillingProfileInput` (billing/api.py); the service checks country and
    VAT id."""

    legal_name = forms.CharField(max_length=200, label="Legal name")
    address_line1 = forms.CharField(max_length=200, label="Address")
    address_line2 = forms.CharField(max_length=200, required=False, label="Address (line 2)")
    postal_code = forms.CharField(max_length=20, label="Postal code")
    city = forms.CharField(max_length=100, label="City")
    country = forms.CharField(label="Country", help_text="ISO 3166-1 alpha-2 code: IE, DE, US...")
    vat_id = forms.CharField(
        required=False,
        label="VAT id",
        help_text="In the EU, with its member state's prefix (Greece: EL).",
    )
    email = forms.EmailField(label="Billing email")

    # Which field a refusal of billing_profile_put is about.
    FIELD_BY_CODE = {"invalid_country": "country", "invalid_vat_id": "vat_id"}

    def add_domain_error(self, error: DomainError) -> None:
        field = self.FIELD_BY_CODE.get(error.code)
        self.add_error(field, forms.ValidationError(error.message, code=error.code))


class PaymentMethodForm(forms.Form):
    payment_method = forms.RegexField(
        regex=r"^[A-Za-z0-9_]{3,255}$",
        label="Stripe payment method",
        help_text="A PaymentMethod id, pm_...; in test mode pm_card_visa is a working card.",
        error_messages={"invalid": "Enter a Stripe id such as pm_card_visa."},
    )


class TopUpForm(forms.Form):
    amount = forms.DecimalField(
        label="Amount (USD)",
        max_digits=12,
        decimal_places=2,
        min_value=Decimal("1.00"),
        max_value=Decimal("100000"),
        help_text="Charged to the payment method now; credit once Stripe confirms it.",
    )


class BudgetForm(forms.Form):
    """The fields of `BudgetInput` (billing/api_funds.py); `budget_put` checks they agree."""

    monthly_limit = forms.DecimalField(
        max_digits=16, decimal_places=2, min_value=Decimal("0.01"), label="Monthly limit"
    )
    currency = forms.RegexField(
        regex=r"^[A-Z]{3}$",
        initial="USD",
        label="Currency",
        help_text="ISO 4217, upper case, e.g. USD.",
        error_messages={"invalid": "Enter a currency code such as USD."},
    )
    hard_stop = forms.BooleanField(
        required=False,
        label="Hard stop",
        help_text="Refuse new reservations that would take the month past the limit.",
    )
    terminate_running = forms.BooleanField(
        required=False,
        label="Terminate running reservations",
        help_text="With a hard stop: end them once the limit is reached.",
    )

    def add_domain_error(self, error: DomainError) -> None:
        field = error.extra.get("field")
        self.add_error(field if field in self.fields else None, error.message)
