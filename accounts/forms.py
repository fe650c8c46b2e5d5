from django import forms
from django.contrib.auth import password_validation

from .models import Role, User, role_covers


class SignupForm(forms.Form):
    email = forms.EmailField()
    password = forms.CharField(widget=forms.PasswordInput, min_length=8)
    organization = forms.CharField(max_length=200, help_text="Your company or team.")

    def clean_email(self):
        email = self.cleaned_data["email"].lower()
        if User.objects.filter(email=email).exists():
            raise forms.ValidationError("An account with this email exists; sign in instead.")
        return email

    def clean_password(self):
        password = self.cleaned_data["password"]
        password_validation.validate_password(password)
        return password


class OrganizationForm(forms.Form):
    name = forms.CharField(max_length=200, help_text="Your company or team.")


class OrgSwitchForm(forms.Form):
    org = forms.IntegerField(min_value=1, max_value=2**63 - 1)


class ApiKeyForm(forms.Form):
    """A new API key: a name and a role no higher than the member's own."""

    name = forms.CharField(max_length=100, help_text="What uses it, e.g. ci-deploy.")
    role = forms.ChoiceField(choices=())

    def __init__(self, *args, member_role: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["role"].choices = [
            (value, label) for value, label in Role.choices if role_covers(member_role, value)
        ]
        self.fields["role"].initial = Role.BUYER if role_covers(member_role, Role.BUYER) else None


def _grantable_roles(member_role: str) -> list[tuple[str, str]]:
    return [(value, label) for value, label in Role.choices if role_covers(member_role, value)]


class MemberRoleForm(forms.Form):
    """A member's new role: one the acting member's own role covers."""

    role = forms.ChoiceField(choices=())

    def __init__(self, *args, member_role: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["role"].choices = _grantable_roles(member_role)


class InvitationForm(forms.Form):
    email = forms.EmailField(label="E-mail")
    role = forms.ChoiceField(choices=())

    def __init__(self, *args, member_role: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["role"].choices = _grantable_roles(member_role)
        self.fields["role"].initial = Role.BUYER if role_covers(member_role, Role.BUYER) else None

    def clean_email(self):
        return self.cleaned_data["email"].lower()


class InvitationSignUpForm(forms.Form):
    """The invited address is the invitation's: only a password is asked."""

    password = forms.CharField(widget=forms.PasswordInput, min_length=8)

    def clean_password(self):
        password = self.cleaned_data["password"]
        password_validation.validate_password(password)
        return password
