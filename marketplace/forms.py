"""Page forms. They only validate input; the services decide."""

from __future__ import annotations

from decimal import Decimal

from django import forms

from marketplace.api.quotes import QuoteInput
from marketplace.gpu_names import load_catalog
from marketplace.locations import CONTINENT_NAMES
from marketplace.models import GpuVendor, Offer, PricingModel
from marketplace.quoting.plans import COST_PER_WORK, TOTAL_COST
from marketplace.quoting.request import QuoteRequest
from marketplace.search.builder import (
    CONTINENT_CODES,
    DEFAULT_PRICE_PER,
    BuilderError,
    build_query,
)
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


class _ChoicesCheckedByTheApi:
    """A choice field that leaves the choice to QuoteInput, so a refusal reads as the API's."""

    def validate(self, value):
        pass


class _ApiChoiceField(_ChoicesCheckedByTheApi, forms.ChoiceField):
    pass


class _ApiMultipleChoiceField(_ChoicesCheckedByTheApi, forms.MultipleChoiceField):
    pass


def _number_input() -> forms.NumberInput:
    return forms.NumberInput(attrs={"step": "any", "inputmode": "decimal"})


class QuoteForm(forms.Form):
    """The request of POST /api/v1/quotes/ as a page form. The fields only collect the input:
    the API's own serializer (QuoteInput) validates it, so the page refuses what the API
    refuses, with the same messages. A blank field is left out, as an API client would."""

    gpu = forms.CharField(
        label="GPUs",
        required=False,
        strip=False,  # error positions point into the text as typed
        help_text="Model(s), memory per GPU and count, e.g. H100:8 (eight H100) or "
        "A100,H100:80GB..:4..8 (A100 or H100 with 80 GB or more, 4 to 8 GPUs).",
        widget=forms.TextInput(
            attrs={"placeholder": "H100:8", "spellcheck": "false", "autocomplete": "off"}
        ),
    )
    hours = forms.CharField(required=False, initial="24", widget=_number_input())
    filter = forms.CharField(
        required=False,
        strip=False,
        help_text="Optional, in the offers page's filter language, e.g. continent=EU or "
        "region=us-* vcpus>=32.",
        widget=forms.TextInput(
            attrs={"placeholder": "continent=EU", "spellcheck": "false", "autocomplete": "off"}
        ),
    )
    disk_gb = forms.CharField(
        label="Disk (GB)", required=False, initial="0", widget=_number_input()
    )
    egress_gb = forms.CharField(
        label="Egress (GB)", required=False, initial="0", widget=_number_input()
    )
    pricing = _ApiMultipleChoiceField(
        label="Pricing models",
        required=False,
        choices=PricingModel.choices,
        initial=[PricingModel.ON_DEMAND],
        widget=forms.CheckboxSelectMultiple,
    )
    objective = _ApiChoiceField(
        required=False,
        choices=[
            (TOTAL_COST, "Lowest total cost"),
            (COST_PER_WORK, "Lowest cost per unit of work (per A100-hour of throughput)"),
        ],
        initial=TOTAL_COST,
        widget=forms.RadioSelect,
    )
    max_total = forms.CharField(
        label="Max total",
        required=False,
        help_text="Optional: leave out plans that cost more, all-in.",
        widget=_number_input(),
    )
    allow_split = forms.BooleanField(label="Allow splitting across several offers", required=False)

    quote_request: QuoteRequest

    def clean(self):
        serializer = QuoteInput(data=self._api_body())
        if serializer.is_valid():
            self.quote_request = serializer.to_request()
            return self.cleaned_data
        for name, errors in serializer.errors.items():
            self.add_error(name if name in self.fields else None, _messages(errors))
        return self.cleaned_data

    def _api_body(self) -> dict:
        body = {}
        for name, value in self.cleaned_data.items():
            if isinstance(value, bool | list) or value not in ("", None):
                body[name] = value
        return body


def _messages(errors) -> list[str]:
    """DRF's errors as a flat list: a list field's are keyed by item, `{0: ["..."]}`."""
    if isinstance(errors, dict):
        return [message for item in errors.values() for message in _messages(item)]
    return [str(message) for message in errors]


def quote_form_initial(stored_request: dict) -> dict:
    """A quote's stored request (QuoteRequest.as_json) as the form's starting values."""
    initial = {
        name: stored_request[name] for name in QuoteForm.base_fields if name in stored_request
    }
    for name in _NUMBER_FIELDS:
        if initial.get(name) is not None:
            # "24.0000" -> "24", as the buyer would have typed it
            initial[name] = format(Decimal(initial[name]).normalize(), "f")
    return initial


_NUMBER_FIELDS = ("hours", "disk_gb", "egress_gb", "max_total")


class QuoteReserveForm(forms.Form):
    """The Reserve button of a plan: the key makes a form sent twice reserve once."""

    key = forms.UUIDField(required=False, widget=forms.HiddenInput)
    auto_relaunch = forms.BooleanField(required=False)
    # For a one-leg plan (a split plan's legs each keep the default: their price + 25%).
    max_price_per_hour = forms.DecimalField(
        required=False, min_value=Decimal(0), max_digits=14, decimal_places=6,
        label="Price limit per hour for failover",
    )  # fmt: skip

    def first_error(self) -> str:
        field, errors = next(iter(self.errors.items()))
        label = self.fields[field].label if field in self.fields else None
        return f"{label}: {errors[0]}" if label else errors[0]

    def idempotency_key(self) -> str:
        key = self.cleaned_data.get("key")
        return f"quote-page-{key}" if key else ""


# --- the offers page's filter builder ----------------------------------------------------

ANY = [("", "Any")]


def _gpu_choices() -> list:
    """The canonical GPU names, once each, grouped by vendor in the catalog file's order."""
    by_vendor: dict[str, dict[str, None]] = {}
    for spec in load_catalog():
        by_vendor.setdefault(spec.vendor, {})[spec.name] = None
    labels = dict(GpuVendor.choices)
    groups = [
        (labels.get(vendor, vendor), [(name, name) for name in names])
        for vendor, names in by_vendor.items()
    ]
    return ANY + groups


def _builder_text_input(placeholder: str, inputmode: str = "text", size: int = 6):
    attrs = {"placeholder": placeholder, "inputmode": inputmode, "size": size}
    return forms.TextInput(attrs=attrs | {"autocomplete": "off", "spellcheck": "false"})


class FilterBuilderForm(forms.Form):
    """The offers page's filter builder. Every value is text as typed: build_query checks
    and writes them (as the page's script does in the browser), so this form only collects
    them and puts each refusal at its field."""

    gpu = forms.CharField(
        label="GPU model", required=False, widget=forms.Select(choices=_gpu_choices())
    )
    gpus = forms.CharField(
        label="GPUs, at least", required=False, widget=_builder_text_input("8", "numeric", 4)
    )
    vram = forms.CharField(
        label="GB per GPU, at least", required=False, widget=_builder_text_input("80", "decimal")
    )
    continent = forms.CharField(
        required=False,
        widget=forms.Select(
            choices=ANY + [(code, CONTINENT_NAMES[code]) for code in CONTINENT_CODES]
        ),
    )
    region = forms.CharField(
        required=False,
        widget=_builder_text_input("eu-* or us-east-1", size=14),
    )
    pricing = forms.CharField(
        label="Pricing", required=False, widget=forms.Select(choices=ANY + PricingModel.choices)
    )
    max_price = forms.CharField(
        label="Max price", required=False, widget=_builder_text_input("2.5", "decimal")
    )
    price_per = forms.CharField(
        label="Price per",
        required=False,
        initial=DEFAULT_PRICE_PER,
        widget=forms.Select(choices=[("gpu_hour", "GPU-hour"), ("hour", "hour (instance)")]),
    )
    keep = forms.CharField(required=False, strip=False, widget=forms.HiddenInput)

    query: str

    def clean(self):
        try:
            self.query = build_query(self.cleaned_data)
        except BuilderError as exc:
            for name, message in exc.errors.items():
                self.add_error(name, message)
        return self.cleaned_data
