"""An invoice as a PDF, carrying what an EU VAT invoice must show (Directive 2006/112/EC,
Art. 226): issue date and number, the seller's and the buyer's names and addresses, the
seller's VAT id and the buyer's when it has one, the billing period and each line's service
month, each line's nature, quantity, unit price (excluding VAT) and amount, the taxable
amount, the VAT rate and amount, the total, and the reverse-charge or outside-scope note
when it applies. A finalised invoice shows the parties and the tax as kept at finalisation;
a draft's PDF says that it is a draft and not an invoice, has no number, shows the parties
as they are now and leaves the tax to finalisation.

The text is set in Noto Sans (Latin, Greek, Cyrillic) from the `fontpkg-noto-sans` wheel, so
it renders wherever the project installs; a character that font has no glyph for (Chinese,
say) is printed as "?" rather than silently dropped."""

from __future__ import annotations

import copy
import os
import tempfile
from datetime import datetime, timedelta
from decimal import Decimal
from functools import lru_cache
from pathlib import Path

import fontpkg_noto_sans
from fontTools.ttLib import TTFont
from fontTools.varLib import instancer
from fpdf import FPDF
from fpdf.fonts import FontFace

from billing.models import BillingProfile, Invoice, InvoiceStatus
from billing.periods import next_month_start
from billing.services.finalisation import invoice_parties_fill

FONT = "noto"
FONT_FILE = Path(fontpkg_noto_sans.ROOT) / "files" / "NotoSans[wdth,wght].ttf"
DRAFT_NOTICE = (
    "DRAFT - not an invoice. The amounts change as usage is metered until it is finalised."
)
LINE_COLUMNS = ("Description", "Service period", "Quantity", "Unit price", "Amount")
COLUMN_WIDTHS = (70, 30, 30, 30, 30)  # millimetres, within A4's 190 between margins


def invoice_pdf(*, invoice: Invoice) -> bytes:
    invoice = _with_parties(invoice)
    pdf = _document()
    _title(pdf, invoice)
    _parties(pdf, invoice)
    _lines(pdf, invoice)
    _totals(pdf, invoice)
    _tax_note(pdf, invoice)
    return bytes(pdf.output())


def _with_parties(invoice: Invoice) -> Invoice:
    """The invoice with its parties: those kept at finalisation, or, on a draft (and on an
    invoice finalised before they were kept), a copy with the parties as they are now."""
    if invoice.status != InvoiceStatus.DRAFT and invoice.seller_name:
        return invoice
    shown = copy.copy(invoice)
    profile = BillingProfile.objects.filter(org_id=invoice.org_id).first()
    invoice_parties_fill(invoice=shown, profile=profile)
    return shown


def _document() -> FPDF:
    pdf = FPDF(format="A4")
    pdf.set_margins(10, 12, 10)
    pdf.add_font(FONT, "", FONT_FILE)
    pdf.add_font(FONT, "B", _bold_font_file())
    pdf.add_page()
    return pdf


@lru_cache(maxsize=1)
def _bold_font_file() -> Path:
    """The variable font's bold instance as a static font file, made once and shared by
    every process: making it (fontTools' instancer, which fpdf2 runs for `variations=`)
    took seconds per document. Named after the font file's size, so a new font makes a new
    one; written under another name and renamed, so no process reads half a file."""
    version = FONT_FILE.stat().st_size
    path = Path(tempfile.gettempdir()) / f"gpumarket-{FONT_FILE.stem}-700-{version}.ttf"
    if not path.exists():
        font = instancer.instantiateVariableFont(TTFont(FONT_FILE), {"wght": 700})
        partial = path.with_name(f"{path.name}.{os.getpid()}.partial")
        font.save(partial)
        os.replace(partial, path)
    return path


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
    _party(pdf, "Seller", invoice.seller_name, invoice.seller_address, invoice.seller_vat_id)
    pdf.ln(2)
    _party(pdf, "Bill to", invoice.buyer_name, invoice.buyer_address, invoice.buyer_vat_id)
    pdf.ln(4)


def _party(pdf: FPDF, heading: str, name: str, address: str, vat_id: str) -> None:
    _write(pdf, heading, bold=True)
    _write(pdf, name)
    for line in address.splitlines():
        _write(pdf, line)
    if vat_id:
        _write(pdf, f"VAT ID: {vat_id}")


def _lines(pdf: FPDF, invoice: Invoice) -> None:
    pdf.set_font(FONT, "", 9)
    with pdf.table(
        col_widths=COLUMN_WIDTHS,
        text_align=("LEFT", "LEFT", "RIGHT", "RIGHT", "RIGHT"),
        headings_style=FontFace(emphasis="BOLD"),
    ) as table:
        table.row(LINE_COLUMNS)
        for line in invoice.lines.all():
            table.row(
                (
                    _printable(pdf, f"{line.description} ({line.kind})"),
                    _service_period(line.service_period_start),
                    f"{line.quantity} {line.unit}" + ("s" if line.unit == "hour" else ""),
                    f"{line.price_per_hour}/{line.unit}",
                    f"{line.amount}",
                )
            )
    pdf.ln(1)
    _write(pdf, f"Unit prices and amounts exclude VAT; amounts in {invoice.currency}.", size=8)
    pdf.ln(3)


def _service_period(start: datetime) -> str:
    return f"{_date(start)} to {_date(next_month_start(start) - timedelta(days=1))}"


def _totals(pdf: FPDF, invoice: Invoice) -> None:
    if invoice.status == InvoiceStatus.DRAFT:
        tax_label = "VAT (decided at finalisation)"
    else:
        tax_label = f"VAT {_percent(invoice.tax_rate)} %"
    for label, amount, bold in (
        ("Subtotal excl. VAT", invoice.subtotal, False),
        (tax_label, invoice.tax, False),
        ("Total", invoice.total, True),
        ("Amount due", invoice.amount_due, True),
    ):
        pdf.set_font(FONT, "B" if bold else "", 10)
        pdf.cell(155, 6, label, align="R")
        pdf.cell(30, 6, f"{amount} {invoice.currency}", align="R", new_x="LMARGIN", new_y="NEXT")


def _percent(rate: Decimal) -> str:
    """23.00 → "23", 25.50 → "25.5"."""
    return format(rate.normalize(), "f")


def _tax_note(pdf: FPDF, invoice: Invoice) -> None:
    if invoice.tax_note and invoice.status != InvoiceStatus.DRAFT:
        pdf.ln(4)
        _write(pdf, invoice.tax_note, bold=invoice.reverse_charge)
