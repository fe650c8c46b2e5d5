"""Base serializers of the API."""

from __future__ import annotations

from rest_framework import serializers

from common.errors import DomainError


class StrictSerializer(serializers.Serializer):
    """Input serializer that refuses fields it does not know (typos must not pass silently)."""

    def to_internal_value(self, data):
        if not isinstance(data, dict):
            raise DomainError("invalid_body", "The request body must be a JSON object.")
        unknown = sorted(set(data) - set(self.fields))
        if unknown:
            raise DomainError(
                "unknown_field",
                f"Unknown field(s): {', '.join(unknown)}. Known: {', '.join(sorted(self.fields))}.",
                fields=unknown,
            )
        return super().to_internal_value(data)
