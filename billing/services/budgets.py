"""Budgets: a monthly limit per organization, its alerts, and its hard stop.

Two spends are measured (docs/billing.md, "Funds and budgets"):
- a new reservation is refused (`budget_exceeded`) when the month's spend *as it may end up*
  — invoiced so far plus what reservations not yet ended may still cost — would pass the
  limit with the reservation's quoted total (the check runs with the reservation, under the
  organization's funds lock: billing.services.funds);
- alerts and terminations look at what the month has *really* cost so far (its invoices,
  kept up to date by metering every minute): a reservation allowed to fill the budget
  exactly is not terminated for being allowed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone

from accounts.models import Membership, Role
from billing.models import AuditAction, Budget
from billing.periods import month_start
from billing.selectors_funds import budget_for_org, org_month_invoiced, org_month_spend
from billing.services.audit import audit_record
from common.errors import DomainError
from common.money import round_amount
from marketplace.models import Reservation, ReservationStatus
from marketplace.services.reservations import reservation_request_termination

ALERT_SHARE = Decimal("0.8")
# Whom the alerts are sent to: the members who look after the organization's money.
ALERTED_ROLES = (Role.OWNER, Role.ADMIN, Role.FINANCE)
# Reservations a budget stop ends; one already terminating is on its way.
STOPPED_STATUSES = (
    ReservationStatus.PENDING,
    ReservationStatus.LAUNCHING,
    ReservationStatus.RUNNING,
)


@dataclass(frozen=True)
class BudgetData:
    monthly_limit: Decimal
    currency: str
    hard_stop: bool
    terminate_running: bool


def _fields(budget: Budget | None) -> dict | None:
    if budget is None:
        return None
    return {
        "monthly_limit": str(budget.monthly_limit),
        "currency": budget.currency,
        "hard_stop": budget.hard_stop,
        "terminate_running": budget.terminate_running,
    }


@transaction.atomic
def budget_put(*, org, data: BudgetData, actor, session_key: str | None = None) -> Budget:
    """Create or replace the organization's budget, and audit the change (old and new). A
    new limit or currency starts the month's alerts afresh."""
    if data.terminate_running and not data.hard_stop:
        raise DomainError(
            "invalid_budget",
            "Only a hard-stop budget terminates running reservations.",
            field="terminate_running",
        )
    budget = Budget.objects.select_for_update().filter(org=org).first()
    old = _fields(budget)
    if budget is None:
        budget = Budget(org=org)
    if old is None or (budget.monthly_limit, budget.currency) != (
        data.monthly_limit,
        data.currency,
    ):
        budget.alerted_80_period = budget.alerted_100_period = None
    budget.monthly_limit, budget.currency = data.monthly_limit, data.currency
    budget.hard_stop, budget.terminate_running = data.hard_stop, data.terminate_running
    budget.updated_by = actor.user if actor.user.is_authenticated else None
    budget.save()
    audit_record(
        org=org,
        action=AuditAction.BUDGET_CHANGED,
        subject=f"budget:{budget.pk}",
        actor=actor,
        session_key=session_key,
        detail={"old": old, "new": _fields(budget)},
    )
    return budget


def budget_check_reservation(*, org, currency: str, amount: Decimal) -> None:
    """Refuse (`budget_exceeded`) a reservation whose quoted total would take the month's
    spend past a hard-stop budget. A budget in another currency does not count it."""
    budget = budget_for_org(org=org)
    if budget is None or not budget.hard_stop or budget.currency != currency:
        return
    spend = round_amount(org_month_spend(org=org, currency=currency), currency)
    if spend + amount > budget.monthly_limit:
        raise DomainError(
            "budget_exceeded",
            f"This reservation ({amount} {currency}) would take this month's spend "
            f"({spend} {currency}) past the organization's budget of "
            f"{budget.monthly_limit} {currency}.",
            monthly_limit=str(budget.monthly_limit),
            spend=str(spend),
            required=str(amount),
        )


def budgets_check(*, now: datetime | None = None) -> int:
    """Beat: each budget's alerts and hard stop, one budget per transaction. Returns the
    alerts sent."""
    now = now or timezone.now()
    budget_ids = Budget.objects.order_by("pk").values_list("pk", flat=True)
    return sum(budget_check_one(budget_id=pk, now=now) for pk in budget_ids)


@transaction.atomic
def budget_check_one(*, budget_id: int, now: datetime) -> int:
    """Send the month's 80 % or 100 % alert if it is due and not sent yet, and, with a hard
    stop that terminates, end the organization's reservations once the limit is reached.
    Safe to run twice, and concurrently: the alert is claimed by a conditional UPDATE (the
    second run finds it sent), and a reservation already terminating is left alone. The mail
    goes out before the claim commits, so a failed send is retried by the next run."""
    budget = Budget.objects.select_related("org").filter(pk=budget_id).first()
    if budget is None:
        return 0
    period = month_start(now).date()
    spent = org_month_invoiced(org=budget.org, currency=budget.currency, now=now)
    sent = 0
    if spent >= budget.monthly_limit:
        sent = _alert_once(budget, period, spent, reached=True)
        if budget.hard_stop and budget.terminate_running:
            _terminate_reservations(budget)
    elif spent >= budget.monthly_limit * ALERT_SHARE:
        sent = _alert_once(budget, period, spent, reached=False)
    return sent


def _alert_once(budget: Budget, period: date, spent: Decimal, *, reached: bool) -> int:
    field = "alerted_100_period" if reached else "alerted_80_period"
    # Reaching 100 % in one step sends that alert only; the 80 % one is then moot.
    claim = {field: period, "alerted_80_period": period}
    if not Budget.objects.filter(pk=budget.pk).exclude(**{field: period}).update(**claim):
        return 0  # sent this month already (by this run before, or a concurrent one)
    _send_alert(budget, spent, reached=reached)
    return 1


def _send_alert(budget: Budget, spent: Decimal, *, reached: bool) -> None:
    org, limit, currency = budget.org, budget.monthly_limit, budget.currency
    if reached:
        subject = f"[GPU Market] {org.name}: monthly budget reached"
        stop = " New reservations are blocked until next month." if budget.hard_stop else ""
    else:
        subject = f"[GPU Market] {org.name}: 80 % of the monthly budget used"
        stop = ""
    body = (
        f"{org.name} has spent {spent} {currency} this month, of a budget of "
        f"{limit} {currency}.{stop}\n"
    )
    recipients = sorted(
        Membership.objects.filter(org=org, role__in=ALERTED_ROLES).values_list(
            "user__email", flat=True
        )
    )
    if recipients:
        send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, recipients)


def _terminate_reservations(budget: Budget) -> None:
    reservations = Reservation.objects.filter(
        org=budget.org, currency=budget.currency, status__in=STOPPED_STATUSES
    ).order_by("pk")
    for reservation in reservations:
        try:
            reservation_request_termination(
                reservation=reservation, reason="The organization's monthly budget was reached."
            )
        except DomainError as error:
            # `invalid_state`: it ended meanwhile (failed, terminated), nothing to stop.
            if error.code != "invalid_state":
                raise
