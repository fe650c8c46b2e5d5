"""Throttles of the API."""

from __future__ import annotations

from rest_framework.throttling import AnonRateThrottle


class CatalogThrottle(AnonRateThrottle):
    scope = "catalog"

    def get_cache_key(self, request, view):
        ident = (
            request.auth.prefix
            if getattr(request.auth, "prefix", None)
            else self.get_ident(request)
        )
        return self.cache_format % {"scope": self.scope, "ident": ident}
