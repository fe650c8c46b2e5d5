"""An invoice as a PDF, carrying what an EU VAT invoice must show (Directive 2006/112/EC,
Art. 226) as far as the platform has the data: issue date, number, seller and buyer, the
period, each line's quantity, unit price and amount, the totals and the currency. A draft's
PDF says that it is a draft and not an invoice, and has no number.

The text is set in Noto Sans (Latin, Greek, Cyrillic) from the `fontpkg-noto-sans` wheel, so
it renders wherever the project installs; a character that font has no glyph for (Chinese,
say) is printed as "?" rather than silently dropped."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import fontpkg_noto_sans
from django.conf import settings
from fpdf import FPDF
from fpdf.fonts import FontFace

from billing.models import Invoice, InvoiceStatus

FONT = "noto"
FONT_FILE = Path(fontpkg_noto_sans.ROOT) / "files" / "NotoSans[wdth,wght].ttf"
DRAFT_NOTICE = (
    "DRAFT - not an invoice. The amounts change as usage is metered until it is finalised."
)
LINE_COLUMNS = ("Description", "Quantity", "Unit price", "Amount")
COLUMN_WIDTHS = (95, 30, 30, 30)  # millimetres, within A4's 190 between margins


def invoice_pdf(*, invoice: Invoice) -> bytes:
    pdf = _document()
    _title(pdf, invoice)
    _parties(pdf, invoice)
    _lines(pdf, invoice)
    _totals(pdf, invoice)
    return bytes(pdf.output())


def _document() -> FPDF:
    pdf = FPDF(format="A4")
    pdf.set_margins(10, 12, 10)
    pdf.add_font(FONT, "", FONT_FILE)
    pdf.add_font(FONT, "B", FONT_FILE, variations={"wght": 700})
    pdf.add_page()
    return pdf


def _printable(pdf: FPDF, text: str) -> str:
    """`text` with each character the font cannot draw replaced by "?"."""
    drawable = pdf.fonts[FONT].cmap
    return "".join(c if c == "\n" or ord(c) in drawable else "?" for c in text)


def _write(pdf: FPDF, text: str, *, size: float = 10, bold: bool = False, height: float = 5):
    pdf.set_font(FONT, "B" if bold else "", size)
    pdf.multi_cell(0, height, _printable(pdf, text), new_x="LMARGIN", new_y="NEXT")


def _date(moment: datetime | None) -> str:
    return f"{moment:%Y-%m-%d}" if moment else "-"


def _title(pdf: FPDF, invoice: Invoice) -> None:
    if invoice.status == InvoiceStatus.DRAFT:
        _write(pdf, "DRAFT", size=18, bold=True, height=9)
        _write(pdf, DRAFT_NOTICE, bold=True)
    else:
        _write(pdf, f"Invoice {invoice.number}", size=18, bold=True, height=9)
        _write(pdf, f"Issue date: {_date(invoice.issued_at)}")
        _write(pdf, f"Due date: {_date(invoice.due_at)}")
        if invoice.status != InvoiceStatus.OPEN:
            _write(pdf, f"Status: {invoice.status}")
    # The period is half-open: its last day is the one before period_end.
    last_day = _date(invoice.period_end - timedelta(days=1))
    _write(pdf, f"Billing period: {_date(invoice.period_start)} to {last_day}")
    _write(pdf, f"Currency: {invoice.currency}")
    pdf.ln(4)


def _parties(pdf: FPDF, invoice: Invoice) -> None:
    _write(pdf, "Seller", bold=True)
    _write(pdf, settings.PLATFORM_LEGAL_NAME)
    for line in _address_lines(settings.PLATFORM_ADDRESS):
        _write(pdf, line)
    if settings.PLATFORM_VAT_ID:
        _write(pdf, f"VAT ID: {settings.PLATFORM_VAT_ID}")
    pdf.ln(2)
    _write(pdf, "Bill to", bold=True)
    _write(pdf, invoice.org.name)
    pdf.ln(4)


def _address_lines(address: str) -> list[str]:
    return [part.strip() for part in address.replace(";", "\n").splitlines() if part.strip()]


def _lines(pdf: FPDF, invoice: Invoice) -> None:
    pdf.set_font(FONT, "", 9)
    with pdf.table(
        col_widths=COLUMN_WIDTHS,
        text_align=("LEFT", "RIGHT", "RIGHT", "RIGHT"),
        headings_style=FontFace(emphasis="BOLD"),
    ) as table:
        table.row(LINE_COLUMNS)
        for line in invoice.lines.all():
            table.row(
                (
                    _printable(pdf, f"{line.description} ({line.kind})"),
                    f"{line.quantity} {line.unit}s",
                    f"{line.price_per_hour}/{line.unit}",
                    f"{line.amount}",
                )
            )
    pdf.ln(4)


def _totals(pdf: FPDF, invoice: Invoice) -> None:
    for label, amount, bold in (
        ("Subtotal", invoice.subtotal, False),
        ("Tax", invoice.tax, False),
        ("Total", invoice.total, True),
        ("Amount due", invoice.amount_due, True),
    ):
        pdf.set_font(FONT, "B" if bold else "", 10)
        pdf.cell(155, 6, label, align="R")
        pdf.cell(30, 6, f"{amount} {invoice.currency}", align="R", new_x="LMARGIN", new_y="NEXT")
