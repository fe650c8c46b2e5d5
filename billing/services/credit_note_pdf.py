"""A credit note as a PDF, laid out like the invoice it corrects (billing.services.invoice_pdf):
its number and issue date, the invoice it credits, seller and buyer, the reason, one row per
line credited, and the totals taken back."""

from __future__ import annotations

from fpdf.fonts import FontFace

from billing.models import CreditNote
from billing.services.invoice_pdf import (
    FONT,
    _date,
    _document,
    _parties,
    _printable,
    _write,
)

COLUMNS = ("Invoice line credited", "Amount")
COLUMN_WIDTHS = (155, 30)  # millimetres, within A4's 190 between margins


def credit_note_pdf(*, credit_note: CreditNote) -> bytes:
    pdf = _document()
    _write(pdf, f"Credit note {credit_note.number}", size=18, bold=True, height=9)
    _write(pdf, f"Issue date: {_date(credit_note.issued_at)}")
    invoice = credit_note.invoice
    _write(pdf, f"Credits invoice {invoice.number} of {_date(invoice.issued_at)}")
    _write(pdf, f"Currency: {credit_note.currency}")
    pdf.ln(4)
    _parties(pdf, invoice)  # the parties of the invoice it corrects, as issued
    _write(pdf, "Reason", bold=True)
    _write(pdf, credit_note.reason)
    pdf.ln(4)
    pdf.set_font(FONT, "", 9)
    with pdf.table(
        col_widths=COLUMN_WIDTHS,
        text_align=("LEFT", "RIGHT"),
        headings_style=FontFace(emphasis="BOLD"),
    ) as table:
        table.row(COLUMNS)
        for line in credit_note.lines.all():
            table.row((_printable(pdf, line.description), f"{line.amount}"))
    pdf.ln(4)
    for label, amount, bold in (
        ("Subtotal credited", credit_note.subtotal, False),
        ("Tax credited", credit_note.tax, False),
        ("Total credited", credit_note.total, True),
    ):
        pdf.set_font(FONT, "B" if bold else "", 10)
        pdf.cell(155, 6, label, align="R")
        pdf.cell(
            30, 6, f"{amount} {credit_note.currency}", align="R", new_x="LMARGIN", new_y="NEXT"
        )
    return bytes(pdf.output())
