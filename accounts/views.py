from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.db import transaction
from django.shortcuts import redirect, render

from common.page_limits import guard_auth_form

from .forms import SignupForm
from .services import organization_create, user_create


class LoginView(auth_views.LoginView):
    template_name = "accounts/login.html"


sign_in = guard_auth_form(email_field="username")(LoginView.as_view())


@guard_auth_form(email_field="email")
def signup(request):
    form = SignupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        with transaction.atomic():
            user = user_create(
                email=form.cleaned_data["email"], password=form.cleaned_data["password"]
            )
            organization_create(user=user, name=form.cleaned_data["organization"])
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        # A new organization's first question is what its job would cost.
        return redirect("quote")
    return render(request, "accounts/signup.html", {"form": form})
