"""Provider payouts: where a provider is paid, its monthly statements, and their transfers.

Earnings become payable when the buyer's invoice is paid: `statements_build` puts each line
of a paid invoice on its provider's statement (once: a line has one statement line at most),
with the platform fee rounded as the ledger rounded it at finalisation, and takes back, as a
negative line, each credit note line on a paid invoice. A statement whose net is zero or less
is not paid; its net is carried into the provider's next statement in that currency.

`statement_pay` sends one Connect transfer per statement with the idempotency key
`statement-<id>`, so a retry after a timeout or a killed worker is answered by Stripe with
the transfer it already made; then it posts the payout to the ledger.

Only providers owned by an organization have statements: the system (catalog) providers
are clouds the platform buys from on its own accounts, settled outside the marketplace;
what the ledger owes them stays in provider_payable (reconciliation counts it).
"""

from __future__ import annotations

import re
from collections import defaultdict
from datetime import datetime
from decimal import Decimal

from celery import current_app
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Sum
from django.utils import timezone

from billing.models import (
    AuditAction,
    CreditNoteLine,
    InvoiceLine,
    InvoiceStatus,
    ProviderPayoutAccount,
    ProviderStatement,
    StatementLine,
    StatementStatus,
)
from billing.periods import month_start, next_month_start
from billing.services import stripe_gateway
from billing.services.audit import audit_record
from billing.services.ledger import ledger_post_payout, platform_fee
from common.errors import DomainError

ZERO = Decimal(0)
# Stripe's connected account ids: `acct_` and letters and digits (acct_1Nv0FGQ9RKHgCVdK).
STRIPE_ACCOUNT = re.compile(r"acct_[A-Za-z0-9]{1,200}")
NO_PAYOUT_ACCOUNT = "no_payout_account"


# --- the payout account ---------------------------------------------------------------------


@transaction.atomic
def payout_account_put(
    *, provider, stripe_account: str, actor=None, session_key: str | None = None
) -> ProviderPayoutAccount:
    """Set where the provider is paid, and send what it is owed there (after commit)."""
    if not isinstance(stripe_account, str) or not STRIPE_ACCOUNT.fullmatch(stripe_account):
        raise DomainError(
            "invalid_stripe_account",
            "stripe_account must be a Stripe connected account id: acct_ and letters or digits.",
        )
    account, _ = ProviderPayoutAccount.objects.update_or_create(
        provider=provider, defaults={"stripe_account": stripe_account}
    )
    audit_record(
        org=provider.org,
        action=AuditAction.PAYOUT_ACCOUNT_SET,
        subject=f"provider:{provider.pk}",
        actor=actor,
        session_key=session_key,
        detail={"stripe_account": stripe_account},
    )
    waiting = ProviderStatement.objects.filter(
        provider=provider, status=StatementStatus.PAYABLE
    ).values_list("pk", flat=True)
    for statement_id in waiting:
        _enqueue_pay(statement_id)
    return account


def _enqueue_pay(statement_id: int) -> None:
    # By name: the tasks module imports the services, not the other way round.
    transaction.on_commit(
        lambda: current_app.send_task("billing.pay_statement", args=[statement_id])
    )


# --- statements -----------------------------------------------------------------------------


def statements_build(*, period: datetime, now: datetime | None = None) -> list[ProviderStatement]:
    """Put what became payable (paid invoices' lines, credit notes on them) on each owned
    provider's statement of `period` (a month that has ended), one transaction per provider
    and currency. Safe to run twice: a line already on a statement is not taken again, and a
    statement already paid (or being paid) takes no more lines: they wait for the next one.
    Returns the statements that took lines."""
    now = now or timezone.now()
    start = month_start(period)
    if next_month_start(start) > now:
        raise DomainError(
            "period_not_ended", f"{start:%Y-%m} has not ended: its statements come after."
        )
    built = []
    for provider_id, currency in _parties_with_unstated():
        statement = _statement_build(provider_id, currency, start)
        if statement is not None:
            built.append(statement)
    return built


def _unstated_invoice_lines():
    return InvoiceLine.objects.filter(
        invoice__status=InvoiceStatus.PAID,
        reservation__offer__provider__org__isnull=False,
        statement_line__isnull=True,
    )


def _unstated_credit_lines():
    # A credit on a paid invoice: its invoice line is stated already, or is in this run.
    return CreditNoteLine.objects.filter(
        invoice_line__invoice__status=InvoiceStatus.PAID,
        invoice_line__reservation__offer__provider__org__isnull=False,
        statement_line__isnull=True,
    )


def _parties_with_unstated() -> list[tuple[int, str]]:
    lines = _unstated_invoice_lines().values_list(
        "reservation__offer__provider_id", "invoice__currency"
    )
    credits = _unstated_credit_lines().values_list(
        "invoice_line__reservation__offer__provider_id", "credit_note__currency"
    )
    return sorted(set(lines.distinct()) | set(credits.distinct()))


def _statement_build(provider_id: int, currency: str, start: datetime):
    try:
        with transaction.atomic():
            statement = _statement_locked(provider_id, currency, start)
            if not _takes_lines(statement):
                return None
            percent = statement.fee_percent
            lines = _lines_of_invoices(statement, provider_id, currency, percent)
            lines += _lines_of_credits(statement, provider_id, currency, percent)
            if not lines:
                if statement.created_now:
                    statement.delete()
                return None
            StatementLine.objects.bulk_create(lines)
            _totals_update(statement)
            return statement
    except IntegrityError:
        # Another build took these lines first (a unique line): its statement has them.
        return None


def _statement_locked(provider_id: int, currency: str, start: datetime) -> ProviderStatement:
    statement, created = ProviderStatement.objects.get_or_create(
        provider_id=provider_id,
        period_start=start,
        currency=currency,
        defaults={
            "period_end": next_month_start(start),
            "fee_percent": settings.PLATFORM_FEE_PERCENT,
        },
    )
    locked = ProviderStatement.objects.select_for_update().get(pk=statement.pk)
    locked.created_now = created
    return locked


def _takes_lines(statement: ProviderStatement) -> bool:
    """A statement takes lines until a transfer was asked for it (then its amount is what
    that request carried: a retry must send the same, under the same idempotency key), it is
    paid, or its negative net was carried into a later statement."""
    return (
        statement.status != StatementStatus.PAID
        and statement.attempts == 0
        and statement.carried_to_id is None
    )


def _lines_of_invoices(statement, provider_id, currency, percent) -> list[StatementLine]:
    rows = (
        _unstated_invoice_lines()
        .filter(reservation__offer__provider_id=provider_id, invoice__currency=currency)
        .order_by("invoice_id", "id")
        .values_list("invoice_id", "id", "amount")
    )
    return [
        StatementLine(statement=statement, invoice_line_id=line_id, gross=gross, fee=fee,
                      net=gross - fee)
        for line_id, gross, fee in _with_fees(rows, currency, percent)
    ]  # fmt: skip


def _lines_of_credits(statement, provider_id, currency, percent) -> list[StatementLine]:
    rows = (
        _unstated_credit_lines()
        .filter(
            invoice_line__reservation__offer__provider_id=provider_id,
            credit_note__currency=currency,
        )
        .order_by("credit_note_id", "id")
        .values_list("credit_note_id", "id", "amount")
    )
    # A credit takes back: negative gross and fee (the fee is given back too).
    negated = [(note_id, line_id, -amount) for note_id, line_id, amount in rows]
    return [
        StatementLine(statement=statement, credit_note_line_id=line_id, gross=gross, fee=fee,
                      net=gross - fee)
        for line_id, gross, fee in _with_fees(negated, currency, percent)
    ]  # fmt: skip


def _with_fees(rows, currency: str, percent: Decimal) -> list[tuple[int, Decimal, Decimal]]:
    """(line id, gross, fee) for rows of (group, line id, gross). The ledger rounds the fee
    once per provider and invoice (or credit note), on the sum of its lines: each group's fee
    is rounded so, then spread over its lines (each its own rounded fee, the last one the
    rest), so that the statement's fee and net are what the ledger credited, to the cent."""
    groups: dict[int, list[tuple[int, Decimal]]] = defaultdict(list)
    for group, line_id, gross in rows:
        groups[group].append((line_id, gross))
    out = []
    for lines in groups.values():
        group_fee = platform_fee(sum((gross for _, gross in lines), start=ZERO), currency, percent)
        spread = ZERO
        for index, (line_id, gross) in enumerate(lines):
            last = index == len(lines) - 1
            fee = group_fee - spread if last else platform_fee(gross, currency, percent)
            spread += fee
            out.append((line_id, gross, fee))
    return out


def _totals_update(statement: ProviderStatement) -> None:
    """Totals from the lines, and the negative nets of earlier statements carried in."""
    ProviderStatement.objects.filter(
        provider_id=statement.provider_id,
        currency=statement.currency,
        status=StatementStatus.CARRIED_OVER,
        carried_to__isnull=True,
        period_start__lt=statement.period_start,
    ).update(carried_to=statement)
    sums = statement.lines.aggregate(gross=Sum("gross"), fee=Sum("fee"))
    carried = statement.carried_from.aggregate(net=Sum("net"))["net"] or ZERO
    statement.gross, statement.fee = sums["gross"] or ZERO, sums["fee"] or ZERO
    statement.carried = carried
    statement.net = statement.gross - statement.fee + carried
    statement.status = (
        StatementStatus.PAYABLE if statement.net > 0 else StatementStatus.CARRIED_OVER
    )
    statement.save(update_fields=["gross", "fee", "carried", "net", "status", "updated_at"])


# --- payouts --------------------------------------------------------------------------------


def statement_pay(*, statement_id: int, now: datetime | None = None) -> ProviderStatement:
    """Pay a payable statement by one Connect transfer. Does nothing to a statement that is
    paid or has nothing to pay; without a payout account it records why and stays payable.
    A Stripe failure is recorded on the statement, which stays payable: the next run sends
    the same request under the same key (Stripe answers a repeat with the first result)."""
    with transaction.atomic():
        statement = _payable_locked(statement_id)
        if statement is None:
            return ProviderStatement.objects.get(pk=statement_id)
        account = ProviderPayoutAccount.objects.filter(provider_id=statement.provider_id).first()
        if account is None:
            statement.error = (
                f"{NO_PAYOUT_ACCOUNT}: the provider has not set its Stripe account yet "
                "(PUT /api/v1/provider/payout-account/)."
            )
            statement.save(update_fields=["error", "updated_at"])
            return statement
        # Committed before the request, so that the statement takes no more lines from now
        # on, even if this process dies inside the call (see _takes_lines).
        statement.attempts += 1
        statement.save(update_fields=["attempts", "updated_at"])
    return _transfer(statement_id, account.stripe_account, now)


def _payable_locked(statement_id: int) -> ProviderStatement | None:
    statement = (
        ProviderStatement.objects.select_for_update()
        .select_related("provider")
        .filter(pk=statement_id, status=StatementStatus.PAYABLE, net__gt=0)
        .first()
    )
    return statement


@transaction.atomic
def _transfer(statement_id: int, destination: str, now: datetime | None) -> ProviderStatement:
    """The transfer, under the statement's row lock: a second payer waits, then finds it
    paid. Killed inside the call, nothing here commits; the retry's same key finds the
    transfer Stripe made."""
    statement = _payable_locked(statement_id)
    if statement is None:
        return ProviderStatement.objects.get(pk=statement_id)
    try:
        transfer_id = stripe_gateway.transfer_create(
            amount=statement.net,
            currency=statement.currency,
            destination=destination,
            idempotency_key=statement.idempotency_key,
            metadata={
                "statement_id": str(statement.pk),
                "provider_id": str(statement.provider_id),
                "period": f"{statement.period_start:%Y-%m}",
            },
        )
    except stripe_gateway.GatewayError as error:
        statement.error = f"{error.code}: {error.message}"[:500]
        statement.save(update_fields=["error", "updated_at"])
        return statement
    statement.transfer = transfer_id
    statement.status = StatementStatus.PAID
    statement.paid_at = now or timezone.now()
    statement.error = ""
    statement.save(update_fields=["transfer", "status", "paid_at", "error", "updated_at"])
    ledger_post_payout(statement)
    audit_record(
        org=statement.provider.org,
        action=AuditAction.PAYOUT,
        subject=f"statement:{statement.pk}",
        detail={
            "transfer": transfer_id,
            "amount": str(statement.net),
            "currency": statement.currency,
            "destination": destination,
        },
    )
    return statement


def statements_payable_ids() -> list[int]:
    """Statements the payout run sends: payable, something to pay, and somewhere to pay it."""
    return list(
        ProviderStatement.objects.filter(
            status=StatementStatus.PAYABLE,
            net__gt=0,
            provider__payout_account__isnull=False,
        )
        .order_by("id")
        .values_list("pk", flat=True)
    )
