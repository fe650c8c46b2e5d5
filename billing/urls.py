from django.urls import path

from . import views

urlpatterns = [
    path("invoices/", views.invoice_list, name="invoice-list"),
    path("invoices/<int:invoice_id>/csv/", views.invoice_csv_download, name="invoice-csv"),
    path("invoices/<int:invoice_id>/pdf/", views.invoice_pdf_download, name="invoice-pdf"),
]
