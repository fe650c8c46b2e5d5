"""Provider payout reads, always scoped to the providers an organization owns."""

from __future__ import annotations

from django.db.models import Prefetch, QuerySet

from billing.models import ProviderPayoutAccount, ProviderStatement, StatementLine
from common.errors import DomainError


def statements_of(*, providers) -> QuerySet[ProviderStatement]:
    """The providers' statements, without their lines (lists)."""
    return ProviderStatement.objects.filter(provider__in=providers).select_related("provider")


def statements_with_lines(*, providers) -> QuerySet[ProviderStatement]:
    """The providers' statements with their lines and what each line traces to: the invoice
    line (and its invoice), or the credit note line (its note, its invoice line, invoice)."""
    lines = StatementLine.objects.select_related(
        "invoice_line__invoice",
        "credit_note_line__credit_note",
        "credit_note_line__invoice_line__invoice",
    ).order_by("id")
    return statements_of(providers=providers).prefetch_related(Prefetch("lines", lines))


def statement_of(*, providers, statement_id: int) -> ProviderStatement:
    statement = statements_with_lines(providers=providers).filter(pk=statement_id).first()
    if statement is None:
        raise DomainError("not_found", f"Statement {statement_id} is not one of yours.")
    return statement


def payout_account_of(*, provider) -> ProviderPayoutAccount:
    account = ProviderPayoutAccount.objects.filter(provider=provider).first()
    if account is None:
        raise DomainError(
            "not_found",
            f"Provider {provider.slug} has no payout account yet: PUT its stripe_account.",
        )
    return account
