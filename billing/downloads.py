"""Files sent as downloads, the same from the API and from the pages."""

from __future__ import annotations

from django.http import HttpResponse

from billing.models import CreditNote, Invoice
from billing.services.credit_note_pdf import credit_note_pdf
from billing.services.exports import invoice_csv
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
