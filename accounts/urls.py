from django.contrib.auth.views import LogoutView
from django.urls import path

from . import views, views_keys

urlpatterns = [
    path("login/", views.sign_in, name="login"),
    path("logout/", LogoutView.as_view(), name="logout"),
    path("signup/", views.signup, name="signup"),
    path("org/keys/", views_keys.api_keys, name="org-api-keys"),
    path(
        "org/keys/<int:key_id>/revoke/",
        views_keys.api_key_revoke_action,
        name="org-api-key-revoke",
    ),
]
