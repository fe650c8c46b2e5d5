from django.urls import path

from . import views, views_prices, views_provider, views_quotes

urlpatterns = [
    path("", views.home, name="home"),
    path("offers/", views.offers, name="offers"),
    path("offers/<int:offer_id>/reserve/", views.offer_reserve, name="offer-reserve"),
    path("prices/", views_prices.prices, name="prices"),
    path("prices/index.csv", views_prices.prices_csv, name="prices-csv"),
    path("quote/", views_quotes.quote, name="quote"),
    path("quote/<uuid:quote_id>/reserve/", views_quotes.quote_reserve, name="quote-reserve"),
    path("provider/", views.provider_reservations, name="provider-reservations"),
    path("provider/register/", views_provider.provider_register_page, name="provider-register"),
    path("provider/offers/", views_provider.provider_offers_page, name="provider-offers"),
    path(
        "provider/offers/<int:offer_id>/update/",
        views_provider.provider_offer_update_action,
        name="provider-offer-update",
    ),
    path(
        "provider/offers/<int:offer_id>/withdraw/",
        views_provider.provider_offer_withdraw_action,
        name="provider-offer-withdraw",
    ),
    path(
        "provider/offers/upload/",
        views_provider.provider_offers_upload,
        name="provider-offers-upload",
    ),
    path(
        "provider/offers/upload/apply/",
        views_provider.provider_offers_upload_apply,
        name="provider-offers-upload-apply",
    ),
    path(
        "provider/offers/export.csv",
        views_provider.provider_offers_export,
        name="provider-offers-export",
    ),
    path("provider/webhook/", views_provider.provider_webhook, name="provider-webhook"),
    path(
        "provider/webhook/rotate/",
        views_provider.provider_webhook_rotate,
        name="provider-webhook-rotate",
    ),
    path("reservations/", views.reservation_list, name="reservation-list"),
    path("reservations/status.json", views.reservations_status, name="reservations-status"),
    path("reservations/<int:reservation_id>/", views.reservation_detail, name="reservation-detail"),
    path(
        "reservations/<int:reservation_id>/status.json",
        views.reservation_status,
        name="reservation-status",
    ),
    path(
        "reservations/<int:reservation_id>/terminate/",
        views.reservation_terminate,
        name="reservation-terminate",
    ),
]
