from django.urls import path

from . import views, views_payments, views_payouts, views_spend

urlpatterns = [
    path("invoices/", views.invoice_list, name="invoice-list"),
    path("invoices/exports/", views.invoice_exports, name="invoice-exports"),
    path(
        "invoices/exports/<slug:name>.csv",
        views.invoice_export_download,
        name="invoice-export-download",
    ),
    path("invoices/<int:invoice_id>/", views.invoice_detail, name="invoice-detail"),
    path(
        "invoices/<int:invoice_id>/finalize/",
        views.invoice_finalize_action,
        name="invoice-finalize",
    ),
    path(
        "invoices/<int:invoice_id>/credit-notes/",
        views.invoice_credit_action,
        name="invoice-credit",
    ),
    path("invoices/<int:invoice_id>/void/", views.invoice_void_action, name="invoice-void"),
    path("invoices/credit-notes/", views.credit_note_list, name="credit-note-list"),
    path(
        "invoices/credit-notes/<int:credit_note_id>/",
        views.credit_note_detail,
        name="credit-note-detail",
    ),
    path(
        "invoices/credit-notes/<int:credit_note_id>/pdf/",
        views.credit_note_pdf_download,
        name="credit-note-pdf",
    ),
    path("invoices/billing-profile/", views.billing_profile, name="billing-profile"),
    path("invoices/payment/", views_payments.payment, name="billing-payment"),
    path(
        "invoices/payment/method/",
        views_payments.payment_method_action,
        name="billing-payment-method",
    ),
    path("invoices/payment/top-up/", views_payments.top_up_action, name="billing-top-up"),
    path("invoices/<int:invoice_id>/pay/", views_payments.invoice_pay_action, name="invoice-pay"),
    path("invoices/<int:invoice_id>/csv/", views.invoice_csv_download, name="invoice-csv"),
    path("invoices/<int:invoice_id>/pdf/", views.invoice_pdf_download, name="invoice-pdf"),
    path("org/budget/", views_spend.budget, name="org-budget"),
    path("invoices/spend/", views_spend.spend, name="billing-spend"),
    path("provider/statements/", views_payouts.provider_statements, name="provider-statements"),
    path(
        "provider/statements/<int:statement_id>/",
        views_payouts.provider_statement_detail,
        name="provider-statement-detail",
    ),
]
