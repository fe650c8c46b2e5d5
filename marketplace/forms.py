"""Page forms. They only validate input; the services decide."""

from __future__ import annotations

from decimal import Decimal

from django import forms

from marketplace.models import Offer
from marketplace.services.reservations import MAX_HOURS


class ReserveForm(forms.Form):
    gpus = forms.TypedChoiceField(coerce=int, label="GPUs")
    hours = forms.DecimalField(
        min_value=Decimal("0.0167"), max_value=MAX_HOURS, max_digits=10, decimal_places=4, initial=1
    )
    max_price_per_hour = forms.DecimalField(
        required=False,
        min_value=Decimal(0),
        max_digits=14,
        decimal_places=6,
        label="Price limit per hour for failover",
        help_text="If the launch fails for lack of capacity we try the next-best offer up to this price "
        "(default: the locked price + 25%).",
    )
    auto_relaunch = forms.BooleanField(required=False, label="Relaunch automatically if preempted")

    def __init__(self, *args, offer: Offer, **kwargs):
        super().__init__(*args, **kwargs)
        per_unit = max(offer.gpu_count, 1)
        units = range(1, max(offer.available, 1) + 1)
        self.fields["gpus"].choices = [(n * per_unit, f"{n * per_unit}") for n in units]
