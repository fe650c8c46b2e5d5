"""Forms of the provider pages. They only read the input; the services (and the API's
serializers, for offers) decide, so that a page refuses what the API refuses."""

from __future__ import annotations

from django import forms
from django.core.validators import URLValidator

from marketplace.models import Provider
from marketplace.offer_csv import COLUMNS, MAX_CSV_BYTES
from marketplace.services.providers import MAX_WEBHOOK_SECRET_OVERLAP

_WEBHOOK_HELP = (
    "Where launch and terminate requests are sent (https, a public host). Empty: none are "
    "sent, you poll GET /api/v1/provider/launch-requests/."
)


class ProviderRegisterForm(forms.Form):
    name = forms.CharField(max_length=Provider._meta.get_field("name").max_length)
    slug = forms.SlugField(
        max_length=Provider._meta.get_field("slug").max_length,
        help_text="Your provider's name in offers and the API, e.g. acme-gpus.",
    )
    webhook_url = forms.CharField(
        required=False, label="Webhook URL", help_text=_WEBHOOK_HELP,
        validators=[URLValidator()],  # the API's URLField's; the service checks the rest
    )  # fmt: skip


class WebhookUrlForm(forms.Form):
    webhook_url = forms.CharField(
        required=False, label="Webhook URL", help_text=_WEBHOOK_HELP,
        validators=[URLValidator()],  # the API's URLField's; the service checks the rest
    )  # fmt: skip


class WebhookRotateForm(forms.Form):
    overlap_seconds = forms.IntegerField(
        min_value=0,
        max_value=int(MAX_WEBHOOK_SECRET_OVERLAP.total_seconds()),
        initial=3600,
        label="Overlap (seconds)",
        help_text="How long deliveries are signed with the old secret too (0: it stops at "
        "once; at most 1 day).",
    )


class OfferUploadForm(forms.Form):
    file = forms.FileField(
        label="CSV file",
        help_text=f"Columns: {', '.join(COLUMNS)}. At most {MAX_CSV_BYTES // 1_000_000} MB.",
    )
    complete = forms.BooleanField(
        required=False,
        label="This is my complete list: withdraw the offers it does not name",
    )
