"""The API key of a prefix, with its organization, its creator and the creator's current
role in that organization: what every API request signed with a key reads first.

Every request signed with a key runs it, so it is one SQL statement written once per
process from the models' own columns, not a queryset (select_related and a role subquery)
that the ORM would compile anew on each request at more CPU than the rest of a repeated
search's answer. The three models hold plain columns only (no field converts its value when
read): their instances are built from the row as the ORM builds them (`Model.from_db`).
"""

from __future__ import annotations

import functools

from django.db import connection
from django.db.models import Model

from .models import ApiKey, Membership, Organization, User

_JOINED = (ApiKey, Organization, User)


def api_key_with_creator(prefix: str) -> ApiKey | None:
    """The key of `prefix`, `org` and `created_by` loaded, and `creator_role` set (None when
    the creator is no longer a member of the key's organization); None if there is none."""
    with connection.cursor() as cursor:
        cursor.execute(_lookup_sql(), [prefix])
        row = cursor.fetchone()
    if row is None:
        return None
    key, org, creator = _instances(row)
    key.org, key.created_by = org, creator
    key.creator_role = row[-1]
    return key


def _instances(row: tuple) -> list[Model]:
    instances, start = [], 0
    for model in _JOINED:
        names = _attnames(model)
        instances.append(model.from_db(connection.alias, names, row[start : start + len(names)]))
        start += len(names)
    return instances


@functools.cache
def _attnames(model: type[Model]) -> list[str]:
    """The model's columns as the SELECT lists them, by the names its instances use."""
    return [field.attname for field in model._meta.concrete_fields]


@functools.cache
def _lookup_sql() -> str:
    quote = connection.ops.quote_name
    aliases = dict(zip(_JOINED, ("k", "o", "u"), strict=True))
    columns = [
        f"{alias}.{quote(field.column)}"
        for model, alias in aliases.items()
        for field in model._meta.concrete_fields
    ]

    def column(model, name: str) -> str:
        return quote(model._meta.get_field(name).column)

    return (
        f"SELECT {', '.join(columns)}, m.{column(Membership, 'role')} "
        f"FROM {quote(ApiKey._meta.db_table)} k "
        f"JOIN {quote(Organization._meta.db_table)} o "
        f"ON o.{quote(Organization._meta.pk.column)} = k.{column(ApiKey, 'org')} "
        f"JOIN {quote(User._meta.db_table)} u "
        f"ON u.{quote(User._meta.pk.column)} = k.{column(ApiKey, 'created_by')} "
        f"LEFT JOIN {quote(Membership._meta.db_table)} m "
        f"ON m.{column(Membership, 'org')} = k.{column(ApiKey, 'org')} "
        f"AND m.{column(Membership, 'user')} = k.{column(ApiKey, 'created_by')} "
        f"WHERE k.{column(ApiKey, 'prefix')} = %s"
    )
