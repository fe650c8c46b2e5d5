"""Production settings (config.settings with DEBUG off), each read in a fresh interpreter with
only the environment a deployment would give it: Django's `check --deploy`, the refusal of
the development SECRET_KEY, and the transport-security settings read from the environment."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from config.env import ConfigError, env_origins, env_proxy_ssl_header, env_secret_key

ROOT = Path(__file__).resolve().parents[2]
DEVELOPMENT_KEY = "dev-only-insecure-key-change-me"  # config.settings' development key
# 50 characters, 20 of them different: what `check --deploy` asks of a key (security.W009).
PRODUCTION_KEY = "k3Y-for-deploy-checks_9Qw8Er7Ty6Ui5Op4As3Df2Gh1Jk0"
# Names a deployment sets; everything else the tests' own environment carries is left out.
PASSED_THROUGH = ("PATH", "HOME", "LANG", "DATABASE_URL", "REDIS_URL")

# Prints the settings a test asks about, as JSON.
READ_SETTINGS = """
import json, sys, django
from django.conf import settings
django.setup()
print(json.dumps({name: getattr(settings, name) for name in sys.argv[1:]}))
"""


def production_env(**overrides: str) -> dict[str, str]:
    env = {name: os.environ[name] for name in PASSED_THROUGH if name in os.environ}
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings",
        SECRET_KEY=PRODUCTION_KEY,
        ALLOWED_HOSTS="gpu.example.com",
        LOG_LEVEL="WARNING",
    )
    env.update(overrides)
    return {name: value for name, value in env.items() if value != ""}


def run_python(argv: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *argv], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )


def read_settings(*names: str, **env: str) -> dict:
    result = run_python(["-c", READ_SETTINGS, *names], production_env(**env))
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_check_deploy_finds_no_issue_under_production_settings():
    result = run_python(
        ["manage.py", "check", "--deploy", "--fail-level", "DEBUG"], production_env()
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues (1 silenced)." in result.stdout


def test_check_deploy_names_preload_once_it_is_asked_for_and_silences_nothing():
    # HSTS preload is the one check silenced, and only while preload is off
    assert read_settings("SILENCED_SYSTEM_CHECKS", SECURE_HSTS_PRELOAD="true") == {
        "SILENCED_SYSTEM_CHECKS": []
    }
    assert read_settings("SILENCED_SYSTEM_CHECKS") == {"SILENCED_SYSTEM_CHECKS": ["security.W021"]}


@pytest.mark.parametrize("secret_key", ["", DEVELOPMENT_KEY], ids=["unset", "development"])
def test_it_refuses_to_start_without_a_real_key_when_debug_is_off(secret_key):
    result = run_python(["manage.py", "check"], production_env(SECRET_KEY=secret_key))

    assert result.returncode != 0
    assert "SECRET_KEY must be set to a long random value when DEBUG is off" in result.stderr


def test_debug_starts_with_the_development_key():
    assert read_settings("SECRET_KEY", "DEBUG", SECRET_KEY="", DEBUG="1") == {
        "SECRET_KEY": DEVELOPMENT_KEY,
        "DEBUG": True,
    }


def test_production_defaults_to_https_only():
    assert read_settings(
        "SECURE_SSL_REDIRECT",
        "SESSION_COOKIE_SECURE",
        "CSRF_COOKIE_SECURE",
        "SECURE_HSTS_SECONDS",
        "SECURE_HSTS_INCLUDE_SUBDOMAINS",
        "SECURE_PROXY_SSL_HEADER",
        "CSRF_TRUSTED_ORIGINS",
    ) == {
        "SECURE_SSL_REDIRECT": True,
        "SESSION_COOKIE_SECURE": True,
        "CSRF_COOKIE_SECURE": True,
        "SECURE_HSTS_SECONDS": 365 * 24 * 3600,
        "SECURE_HSTS_INCLUDE_SUBDOMAINS": True,
        "SECURE_PROXY_SSL_HEADER": None,
        "CSRF_TRUSTED_ORIGINS": [],
    }


def test_a_deployment_behind_a_proxy_sets_them_from_the_environment():
    values = read_settings(
        "SECURE_SSL_REDIRECT",
        "SESSION_COOKIE_SECURE",
        "SECURE_HSTS_SECONDS",
        "SECURE_PROXY_SSL_HEADER",
        "CSRF_TRUSTED_ORIGINS",
        SECURE_SSL_REDIRECT="false",
        SECURE_COOKIES="false",
        SECURE_HSTS_SECONDS="600",
        SECURE_PROXY_SSL_HEADER="X-Forwarded-Proto: https",
        CSRF_TRUSTED_ORIGINS="https://gpu.example.com, https://admin.example.com:8443/",
    )

    assert values == {
        "SECURE_SSL_REDIRECT": False,
        "SESSION_COOKIE_SECURE": False,
        "SECURE_HSTS_SECONDS": 600,
        "SECURE_PROXY_SSL_HEADER": ["HTTP_X_FORWARDED_PROTO", "https"],  # a tuple, in JSON
        "CSRF_TRUSTED_ORIGINS": ["https://gpu.example.com", "https://admin.example.com:8443"],
    }


# --- the helpers, in this process ---------------------------------------------------------------


def test_secret_key_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv("X_KEY", PRODUCTION_KEY)
    assert env_secret_key("X_KEY", debug=False, development_key=DEVELOPMENT_KEY) == PRODUCTION_KEY
    assert env_secret_key("X_KEY", debug=True, development_key=DEVELOPMENT_KEY) == PRODUCTION_KEY


@pytest.mark.parametrize(
    ("reader", "raw"),
    [
        (lambda: env_proxy_ssl_header("X"), "X-Forwarded-Proto"),
        (lambda: env_proxy_ssl_header("X"), "X Forwarded Proto: https"),
        (lambda: env_proxy_ssl_header("X"), ": https"),
        (lambda: env_origins("X", ""), "gpu.example.com"),
        (lambda: env_origins("X", ""), "https://gpu.example.com/app"),
        (lambda: env_origins("X", ""), "ftp://gpu.example.com"),
    ],
)
def test_it_refuses_malformed_security_values_naming_the_variable(monkeypatch, reader, raw):
    monkeypatch.setenv("X", raw)
    with pytest.raises(ConfigError, match=r"^X must"):
        reader()
