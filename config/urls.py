from csp.constants import SELF, UNSAFE_INLINE
from csp.decorators import csp_update
from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import (
    SpectacularAPIView,
    SpectacularRedocView,
    SpectacularSwaggerSplitView,
)

from accounts import api as accounts_api
from billing import api as billing_api
from billing import api_funds, api_payments, api_payouts
from common.page_limits import guard_auth_form
from config.health import healthz
from marketplace.api import (
    catalog,
    prices,
    provider_offers,
    provider_requests,
    providers,
    quotes,
    reservations,
)

api_v1 = [
    path("orgs/", accounts_api.OrgListCreateApi.as_view(), name="api-orgs"),
    path("api-keys/", accounts_api.ApiKeyListCreateApi.as_view(), name="api-keys"),
    path("api-keys/<int:key_id>/", accounts_api.ApiKeyDetailApi.as_view(), name="api-key-detail"),
    path(
        "api-keys/<int:key_id>/rotate/",
        accounts_api.ApiKeyRotateApi.as_view(),
        name="api-key-rotate",
    ),
    path("providers/", providers.ProviderListCreateApi.as_view(), name="api-providers"),
    path(
        "providers/<int:provider_id>/webhook/",
        providers.ProviderWebhookApi.as_view(),
        name="api-provider-webhook",
    ),
    path(
        "providers/<int:provider_id>/webhook/rotate-secret/",
        providers.WebhookSecretRotateApi.as_view(),
        name="api-provider-webhook-rotate-secret",
    ),
    path(
        "provider/offers/",
        provider_offers.ProviderOfferListApi.as_view(),
        name="api-provider-offers",
    ),
    path(
        "provider/offers/<int:offer_id>/",
        provider_offers.ProviderOfferDetailApi.as_view(),
        name="api-provider-offer-detail",
    ),
    path(
        "provider/launch-requests/",
        provider_requests.LaunchRequestListApi.as_view(),
        name="api-provider-launch-requests",
    ),
    path(
        "provider/reservations/<int:reservation_id>/events/",
        provider_requests.ProviderReservationEventApi.as_view(),
        name="api-provider-reservation-events",
    ),
    path("gpus/", catalog.GpuListApi.as_view(), name="api-gpus"),
    path(
        "catalog/providers/",
        catalog.CatalogProviderListApi.as_view(),
        name="api-catalog-providers",
    ),
    path("offers/", catalog.OfferListApi.as_view(), name="api-offers"),
    path("offers/<int:offer_id>/", catalog.OfferDetailApi.as_view(), name="api-offer-detail"),
    path("prices/index/", prices.PriceIndexApi.as_view(), name="api-price-index"),
    path("quotes/", quotes.QuoteCreateApi.as_view(), name="api-quotes"),
    path("quotes/<uuid:quote_id>/", quotes.QuoteDetailApi.as_view(), name="api-quote-detail"),
    path("reservations/", reservations.ReservationListCreateApi.as_view(), name="api-reservations"),
    path(
        "reservations/<int:reservation_id>/",
        reservations.ReservationDetailApi.as_view(),
        name="api-reservation-detail",
    ),
    path(
        "reservations/<int:reservation_id>/terminate/",
        reservations.ReservationTerminateApi.as_view(),
        name="api-reservation-terminate",
    ),
    path(
        "orgs/<int:org_id>/billing-profile/",
        billing_api.BillingProfileApi.as_view(),
        name="api-org-billing-profile",
    ),
    path("invoices/", billing_api.InvoiceListApi.as_view(), name="api-invoices"),
    path(
        "invoices/<int:invoice_id>/",
        billing_api.InvoiceDetailApi.as_view(),
        name="api-invoice-detail",
    ),
    path(
        "invoices/<int:invoice_id>/finalize/",
        billing_api.InvoiceFinalizeApi.as_view(),
        name="api-invoice-finalize",
    ),
    path(
        "invoices/<int:invoice_id>/void/",
        billing_api.InvoiceVoidApi.as_view(),
        name="api-invoice-void",
    ),
    path(
        "invoices/<int:invoice_id>/credit-notes/",
        billing_api.InvoiceCreditNotesApi.as_view(),
        name="api-invoice-credit-notes",
    ),
    path("credit-notes/", billing_api.CreditNoteListApi.as_view(), name="api-credit-notes"),
    path(
        "credit-notes/<int:credit_note_id>/",
        billing_api.CreditNoteDetailApi.as_view(),
        name="api-credit-note-detail",
    ),
    path(
        "credit-notes/<int:credit_note_id>/pdf/",
        billing_api.CreditNotePdfApi.as_view(),
        name="api-credit-note-pdf",
    ),
    path(
        "invoices/<int:invoice_id>/csv/",
        billing_api.InvoiceCsvApi.as_view(),
        name="api-invoice-csv",
    ),
    path(
        "invoices/<int:invoice_id>/pdf/",
        billing_api.InvoicePdfApi.as_view(),
        name="api-invoice-pdf",
    ),
    path(
        "exports/invoices.csv",
        billing_api.InvoicesExportApi.as_view(),
        name="api-export-invoices",
    ),
    path(
        "exports/invoice-lines.csv",
        billing_api.InvoiceLinesExportApi.as_view(),
        name="api-export-invoice-lines",
    ),
    path("exports/focus.csv", billing_api.FocusExportApi.as_view(), name="api-export-focus"),
    # Funds and budgets
    path("billing/balance/", api_funds.BalanceApi.as_view(), name="api-billing-balance"),
    path("orgs/<int:org_id>/budget/", api_funds.BudgetApi.as_view(), name="api-org-budget"),
    # Payments (billing/api_payments.py)
    path(
        "billing/payment-method/",
        api_payments.PaymentMethodApi.as_view(),
        name="api-billing-payment-method",
    ),
    path("billing/top-ups/", api_payments.TopUpListCreateApi.as_view(), name="api-top-ups"),
    path(
        "invoices/<int:invoice_id>/pay/",
        api_payments.InvoicePayApi.as_view(),
        name="api-invoice-pay",
    ),
    path("stripe/webhook/", api_payments.StripeWebhookApi.as_view(), name="api-stripe-webhook"),
    # Provider payouts (billing/api_payouts.py)
    path(
        "provider/payout-account/",
        api_payouts.PayoutAccountApi.as_view(),
        name="api-provider-payout-account",
    ),
    path(
        "provider/statements/",
        api_payouts.StatementListApi.as_view(),
        name="api-provider-statements",
    ),
    path(
        "provider/statements/<int:statement_id>/",
        api_payouts.StatementDetailApi.as_view(),
        name="api-provider-statement-detail",
    ),
]

urlpatterns = [
    # The admin's sign-in, limited like ours (it shadows the admin's own route to the view).
    path("admin/login/", guard_auth_form(email_field="username")(admin.site.login)),
    path("admin/", admin.site.urls),
    path("healthz", healthz, name="healthz"),
    path("api/v1/", include(api_v1)),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # The split view serves its start-up script as a file of its own (?script): the
    # Content-Security-Policy allows no inline script.
    path(
        "api/docs/",
        SpectacularSwaggerSplitView.as_view(
            url_name="api-schema", template_name="api/swagger_ui.html"
        ),
        name="api-docs",
    ),
    # ReDoc styles itself with <style> elements it writes at run time (styled-components,
    # which takes no nonce) and runs its search in a worker made from a blob: both are
    # allowed on this page only. Its footer's logo (cdn.redoc.ly) stays refused by img-src.
    path(
        "api/redoc/",
        csp_update({"style-src": [UNSAFE_INLINE], "worker-src": [SELF, "blob:"]})(
            SpectacularRedocView.as_view(url_name="api-schema", template_name="api/redoc.html")
        ),
        name="api-redoc",
    ),
    path("", include("accounts.urls")),
    path("", include("marketplace.urls")),
    path("", include("billing.urls")),
]

handler404 = "common.api.errors.page_not_found"
handler500 = "common.api.errors.server_error"
