"""`Authorization: Bearer <key>` for the API."""

from rest_framework import authentication, exceptions

from .services import api_key_authenticate


class ApiKeyAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).decode("latin-1")
        if not header:
            return None
        scheme, _, secret = header.partition(" ")
        if scheme.lower() != self.keyword.lower():
            return None  # let Basic auth have a go
        secret = secret.strip()
        if not secret:
            raise exceptions.AuthenticationFailed("Empty bearer token.")
        api_key = api_key_authenticate(secret)
        if api_key is None:
            raise exceptions.AuthenticationFailed("Invalid or revoked API key.")
        if not api_key.created_by.is_active:
            raise exceptions.AuthenticationFailed("The key's owner is deactivated.")
        return (api_key.created_by, api_key)

    def authenticate_header(self, request):
        return self.keyword
