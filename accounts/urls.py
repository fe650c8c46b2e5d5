from django.contrib.auth.views import LogoutView
from django.urls import path

from . import views, views_keys, views_members, views_orgs

urlpatterns = [
    path("login/", views.sign_in, name="login"),
    path("logout/", LogoutView.as_view(), name="logout"),
    path("signup/", views.signup, name="signup"),
    path("org/switch/", views_orgs.org_switch, name="org-switch"),
    path("org/new/", views_orgs.org_create, name="org-new"),
    path("org/keys/", views_keys.api_keys, name="org-api-keys"),
    path(
        "org/keys/<int:key_id>/revoke/",
        views_keys.api_key_revoke_action,
        name="org-api-key-revoke",
    ),
    path("org/members/", views_members.members, name="org-members"),
    path(
        "org/members/<int:member_id>/role/",
        views_members.member_role_action,
        name="org-member-role",
    ),
    path(
        "org/members/<int:member_id>/remove/",
        views_members.member_remove_action,
        name="org-member-remove",
    ),
    path("org/invitations/", views_members.invitation_create_action, name="org-invitation-create"),
    path(
        "org/invitations/<int:invitation_id>/revoke/",
        views_members.invitation_revoke_action,
        name="org-invitation-revoke",
    ),
    path("invites/<str:token>/", views_members.invitation, name="invitation"),
]
