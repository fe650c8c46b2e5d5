"""Test settings: the same as production settings, but queues and cache on a Redis
database of their own, so a test run never feeds a development worker or reads its cache."""

import os
from decimal import Decimal
from urllib.parse import urlsplit, urlunsplit

# Production settings refuse to start without a key when DEBUG is off (as it is in tests).
os.environ.setdefault("SECRET_KEY", "test-only-secret-key-never-used-to-sign-anything-real")

from .settings import *  # noqa: E402, F403
from .settings import REDIS_URL  # noqa: E402

# Parallel test runs on one machine pick different databases (TEST_REDIS_DB=14, ...).
TEST_REDIS_DB = os.environ.get("TEST_REDIS_DB", "15")


def _with_redis_db(url: str, db: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{db}", parts.query, parts.fragment))


REDIS_URL = _with_redis_db(REDIS_URL, TEST_REDIS_DB)
CELERY_BROKER_URL = REDIS_URL
CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
}
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # speed; never in production
# No test is slowed or refused by a limit it is not about; the tests of limits set low
# rates themselves (the `rate_limits` fixture).
RATE_LIMITS = dict.fromkeys(RATE_LIMITS, "1000000/min")  # noqa: F405
LOGGING = {"version": 1, "disable_existing_loggers": False, "root": {"level": "WARNING"}}
# A seller outside the EU charges no VAT, so that the tests of metering, drafts, closing and
# exports check their figures without tax; the tax tests (billing/tests/test_tax*.py) set
# the seller's country they are about.
PLATFORM_COUNTRY = "US"
# Test providers listen on loopback without TLS; the outbound tests set them back to False.
WEBHOOK_ALLOW_HTTP = True
WEBHOOK_ALLOW_PRIVATE_ADDRESSES = True
# Funds are checked at every reservation (billing.receivers): the tests about anything else
# reserve on credit; the funds tests set the limit they are about.
ORG_CREDIT_LIMIT = Decimal("1000000")
# The test client and the live server speak plain http (config/tests/test_deploy_settings.py
# checks the production defaults); templates resolve {% static %} without collectstatic.
SECURE_SSL_REDIRECT = False
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = False
STORAGES = {
    **STORAGES,  # noqa: F405
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = WHITENOISE_AUTOREFRESH = True  # from static/ and the apps, as DEBUG does
