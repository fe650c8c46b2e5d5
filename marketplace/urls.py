from django.urls import path

from . import views, views_quotes

urlpatterns = [
    path("", views.home, name="home"),
    path("offers/", views.offers, name="offers"),
    path("offers/<int:offer_id>/reserve/", views.offer_reserve, name="offer-reserve"),
    path("quote/", views_quotes.quote, name="quote"),
    path("quote/<uuid:quote_id>/reserve/", views_quotes.quote_reserve, name="quote-reserve"),
    path("provider/", views.provider_reservations, name="provider-reservations"),
    path("reservations/", views.reservation_list, name="reservation-list"),
    path("reservations/<int:reservation_id>/", views.reservation_detail, name="reservation-detail"),
    path(
        "reservations/<int:reservation_id>/terminate/",
        views.reservation_terminate,
        name="reservation-terminate",
    ),
]
