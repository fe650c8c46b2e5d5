"""`Authorization: Bearer <key>` for the API."""

from rest_framework import authentication, exceptions

from common import ratelimit
from common.net import client_ip

from .services import api_key_authenticate


class ApiKeyAuthentication(authentication.BaseAuthentication):
    """A refused key counts against `auth` per client address; while that is spent, every
    key from the address is answered 429 before it is looked up, so keys cannot be guessed
    nor the database flooded with lookups."""

    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).decode("latin-1")
        if not header:
            return None
        scheme, _, secret = header.partition(" ")
        if scheme.lower() != self.keyword.lower():
            return None  # not a key (HTTP Basic is not accepted at all: settings)
        limit = ("auth", ratelimit.address_ident(client_ip(request)))
        wait = ratelimit.peek(limit)
        if wait is not None:
            raise exceptions.Throttled(wait)
        try:
            return self._authenticate_key(secret.strip())
        except exceptions.AuthenticationFailed:
            ratelimit.record(limit)
            raise

    def _authenticate_key(self, secret: str):
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
