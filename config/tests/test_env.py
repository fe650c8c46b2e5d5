from __future__ import annotations

from decimal import Decimal

import pytest

from config.env import (
    ConfigError,
    database_from_url,
    env_bool,
    env_decimal,
    env_int,
    env_parsed,
    env_url,
)


def test_it_reads_well_formed_values(monkeypatch):
    monkeypatch.setenv("X_BOOL", "yes")
    monkeypatch.setenv("X_INT", "42")
    monkeypatch.setenv("X_DEC", "12.5")
    monkeypatch.setenv("X_HEX", "ff")
    assert env_bool("X_BOOL", False) is True
    assert env_int("X_INT", 0) == 42
    assert env_decimal("X_DEC", "0", minimum="0", maximum="100") == Decimal("12.5")
    assert env_parsed("X_HEX", "0", lambda raw: int(raw, 16)) == 255
    assert env_parsed("X_UNSET", "10", lambda raw: int(raw, 16)) == 16


@pytest.mark.parametrize(
    ("reader", "raw"),
    [
        (lambda: env_bool("X", False), "maybe"),
        (lambda: env_int("X", 0), "4.2"),
        (lambda: env_int("X", 0, minimum=0), "-1"),
        (lambda: env_decimal("X", "0", minimum="0", maximum="100"), "150"),
        (lambda: env_decimal("X", "0"), "NaN"),
        (lambda: env_url("X", "redis://h/0", schemes=("redis",)), "http://example.com"),
        (lambda: env_parsed("X", "0", int), "4.2"),
    ],
)
def test_it_refuses_malformed_values_naming_the_variable(monkeypatch, reader, raw):
    monkeypatch.setenv("X", raw)
    with pytest.raises(ConfigError, match="^X "):
        reader()


def test_it_parses_database_urls():
    entry = database_from_url("DATABASE_URL", "postgresql://bob:pw@db.local:6543/market")
    assert (entry["NAME"], entry["USER"], entry["PASSWORD"], entry["HOST"], entry["PORT"]) == (
        "market",
        "bob",
        "pw",
        "db.local",
        "6543",
    )
    with pytest.raises(ConfigError, match="DATABASE_URL"):
        database_from_url("DATABASE_URL", "mysql://h/db")
    with pytest.raises(ConfigError, match="DATABASE_URL"):
        database_from_url("DATABASE_URL", "postgresql://h:notaport/db")
