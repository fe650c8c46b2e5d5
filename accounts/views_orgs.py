"""Which organization a signed-in user acts for on the pages, and a new one of their own:
`/org/switch/` (the navigation's picker, for members of more than one) and `/org/new/`
(also the way back for someone no longer in any)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods, require_POST

from .actors import choose_org
from .forms import OrganizationForm, OrgSwitchForm
from .selectors import memberships_for_user
from .services import organization_create


@login_required
@require_POST
def org_switch(request):
    form = OrgSwitchForm(request.POST)
    membership = None
    if form.is_valid():
        membership = (
            memberships_for_user(user=request.user).filter(org_id=form.cleaned_data["org"]).first()
        )
    if membership is None:
        messages.error(request, "You are not a member of that organization.")
    else:
        choose_org(request, membership.org_id)
        messages.success(
            request,
            f"You now act for {membership.org.name} as {membership.get_role_display().lower()}.",
        )
    return redirect(_back(request))


@login_required
@require_http_methods(["GET", "POST"])
def org_create(request):
    form = OrganizationForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        org = organization_create(user=request.user, name=form.cleaned_data["name"])
        choose_org(request, org.pk)
        messages.success(request, f"{org.name} is created; you are its owner.")
        return redirect("quote")
    status = 400 if request.method == "POST" else 200
    return render(request, "accounts/org_new.html", {"form": form}, status=status)


def _back(request) -> str:
    """Where the switch was asked from, if it is one of our pages; else home."""
    target = request.POST.get("next", "")
    if url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return "home"
