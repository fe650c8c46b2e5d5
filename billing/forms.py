"""Page forms of the finance pages. They only read input; the selectors and services decide."""

from __future__ import annotations

from datetime import datetime

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
