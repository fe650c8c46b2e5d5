"""Files sent as downloads, the same from the API and from the pages."""

from __future__ import annotations

from datetime import datetime

from django.http import HttpResponse

from billing.models import CreditNote, Invoice
from billing.selectors import invoices_of_period
from billing.services.credit_note_pdf import credit_note_pdf
from billing.services.exports import focus_csv, invoice_csv, invoice_lines_csv, invoices_csv
from billing.services.invoice_pdf import invoice_pdf

CSV = "text/csv; charset=utf-8"


def attachment(body: str | bytes, *, content_type: str, filename: str) -> HttpResponse:
    response = HttpResponse(body, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def _file_stem(invoice: Invoice) -> str:
    return f"invoice-{invoice.number or f'draft-{invoice.pk}'}"


def invoice_csv_response(invoice: Invoice) -> HttpResponse:
    return attachment(
        invoice_csv(invoice=invoice), content_type=CSV, filename=f"{_file_stem(invoice)}.csv"
    )


def invoice_pdf_response(invoice: Invoice) -> HttpResponse:
    return attachment(
        invoice_pdf(invoice=invoice),
        content_type="application/pdf",
        filename=f"{_file_stem(invoice)}.pdf",
    )


def credit_note_pdf_response(credit_note: CreditNote) -> HttpResponse:
    return attachment(
        credit_note_pdf(credit_note=credit_note),
        content_type="application/pdf",
        filename=f"credit-note-{credit_note.number}.pdf",
    )


# A month's exports by the name their file and URL carry.
PERIOD_EXPORTS = {
    "invoices": invoices_csv,
    "invoice-lines": invoice_lines_csv,
    "focus": focus_csv,
}


def period_export_response(*, org, name: str, period: datetime) -> HttpResponse:
    """The CSV export `name` of the organization's invoices of one month, drafts included."""
    body = PERIOD_EXPORTS[name](invoices=invoices_of_period(org=org, period_start=period))
    return attachment(body, content_type=CSV, filename=f"{name}-{period:%Y-%m}.csv")
