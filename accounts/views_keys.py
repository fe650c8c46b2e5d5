"""The organization's API keys page (/org/keys/): list them with prefix and last use, create
one (its secret shown once, on the page that answers the form), revoke one. For members who
may manage the organization (`manage_org`), through the same services as the API."""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from .actors import actor_for_request
from .decorators import member_required
from .forms import ApiKeyForm
from .selectors import api_keys_for_orgs
from .services import api_key_create, api_key_revoke

KEYS_SHOWN = 200


@member_required("manage_org")
@require_http_methods(["GET", "POST"])
def api_keys(request):
    actor = actor_for_request(request)
    form = ApiKeyForm(request.POST or None, member_role=actor.role)
    issued, status = None, 200
    if request.method == "POST":
        if form.is_valid():
            issued = api_key_create(
                org=actor.org, created_by=request.user, name=form.cleaned_data["name"],
                role=form.cleaned_data["role"], creator_role=actor.role,
            )  # fmt: skip
            form = ApiKeyForm(member_role=actor.role)
        else:
            status = 400
    context = {
        "org": actor.org,
        "keys": api_keys_for_orgs(org_ids=[actor.org.pk]).select_related("created_by")[:KEYS_SHOWN],
        "form": form,
        "issued": issued,
    }
    return render(request, "accounts/api_keys.html", context, status=status)


@member_required("manage_org")
@require_POST
def api_key_revoke_action(request, key_id: int):
    actor = actor_for_request(request)
    api_key = api_keys_for_orgs(org_ids=[actor.org.pk]).filter(pk=key_id).first()
    if api_key is None:
        raise Http404("No such API key")
    api_key_revoke(api_key=api_key)
    messages.success(request, f"Key {api_key.name} ({api_key.prefix}…) revoked.")
    return redirect("org-api-keys")
