"""Settings, all from the environment (see README for the variables)."""

from __future__ import annotations

from pathlib import Path

from csp.constants import NONE, SELF
from kombu import Queue

from billing.tax import country_code
from brokers.schedule import parse_pricing_schedule
from common.ratelimit import valid_rate as rate

from .env import (
    database_from_url,
    env_bool,
    env_decimal,
    env_int,
    env_list,
    env_origins,
    env_parsed,
    env_proxy_ssl_header,
    env_secret_key,
    env_str,
    env_url,
    seconds_list,
)

BASE_DIR = Path(__file__).resolve().parent.parent

DEBUG = env_bool("DEBUG", False)
# A fixed development key only when DEBUG is on; with DEBUG off start-up stops without one.
SECRET_KEY = env_secret_key(
    "SECRET_KEY", debug=DEBUG, development_key="dev-only-insecure-key-change-me"
)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost,testserver")

# --- Transport security (README, "Running in production") ----------------------------------
# On by default whenever DEBUG is off; `make serve` turns the first three off because it
# serves plain http on loopback. HSTS is only ever sent on https responses.
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not DEBUG)
# Load balancers and container health checks probe the backend over plain http.
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
SESSION_COOKIE_SECURE = env_bool("SECURE_COOKIES", not DEBUG)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0 if DEBUG else 31_536_000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
# Preloading is a request to the browser vendors that is slow to undo: the operator's call.
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
# Behind a TLS-terminating proxy: which header tells the request came over https.
SECURE_PROXY_SSL_HEADER = env_proxy_ssl_header("SECURE_PROXY_SSL_HEADER")
# Origins allowed to POST forms (the site's own https origin behind a proxy, for instance).
CSRF_TRUSTED_ORIGINS = env_origins("CSRF_TRUSTED_ORIGINS", "")
# `check --deploy` warns when preload is off; that is a decision, not an oversight (above).
SILENCED_SYSTEM_CHECKS = [] if SECURE_HSTS_PRELOAD else ["security.W021"]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI and ReDoc as our own static files
    "csp",
    "accounts",
    "marketplace",
    "brokers",
    "billing",
]

MIDDLEWARE = [
    "common.middleware.ApiBodyLimitMiddleware",
    "common.db.StatementTimeoutMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Static files from the app itself, before anything touches the session or the database.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "csp.middleware.CSPMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "common.page_limits.RateLimitMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "common.middleware.DomainErrorPageMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "accounts.context_processors.member_can",
                "accounts.context_processors.org_choice",
                "billing.context_processors.funds_notice",
            ],
        },
    },
]

DATABASE_URL = env_url(
    "DATABASE_URL",
    "postgresql://postgres@127.0.0.1:5432/gpumarket",
    schemes=("postgres", "postgresql"),
)
DATABASES = {"default": database_from_url("DATABASE_URL", DATABASE_URL)}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
# Every SQL statement of a web request (API and pages) is cancelled after this long, and the
# request answers 503 query_timeout (common.db); Celery tasks and commands have no limit.
# 0: no limit.
WEB_STATEMENT_TIMEOUT_MS = env_int("WEB_STATEMENT_TIMEOUT_MS", 5000, minimum=0)

REDIS_URL = env_url("REDIS_URL", "redis://127.0.0.1:6379/0", schemes=("redis", "rediss"))

AUTH_USER_MODEL = "accounts.User"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "home"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "static/"
# Where collectstatic gathers the files WhiteNoise serves (`make serve`: .run/staticfiles).
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(BASE_DIR / "staticfiles")))
STATICFILES_DIRS = [BASE_DIR / "static"]
# collectstatic names each file by its content's hash and compresses it; WhiteNoise then
# serves those names with a year's Cache-Control, immutable (a new file gets a new name).
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

# --- Content-Security-Policy (django-csp) ---------------------------------------------------
# Pages load scripts, styles, images and fonts from this site only, no inline script or
# style: templates keep their JavaScript and CSS in static/. img-src allows data: for the
# icons Swagger UI's stylesheet embeds.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}

# --- API -----------------------------------------------------------------------------
# The largest API request body (a bulk upsert of MAX_BULK_OFFERS offers is about 2 MB): a
# larger one is refused with 413 before it is read.
API_MAX_BODY_BYTES = env_int("API_MAX_BODY_BYTES", 4 * 1024 * 1024)
# How many reverse proxies of ours stand before the app, each appending to X-Forwarded-For.
# 0: the app faces the internet and the client is REMOTE_ADDR; the header is never read.
NUM_PROXIES = env_int("NUM_PROXIES", 0, minimum=0)
# Rate limits (docs/api.md, "Limits"): "N/period", the period in s, min, h or day with an
# optional multiple ("5/15min"). Counted in Redis per API key, user, address or e-mail.
RATE_LIMITS = {
    "search": env_parsed("RATE_LIMIT_SEARCH", "600/min", rate),  # catalog, offers, quotes
    "read": env_parsed("RATE_LIMIT_READ", "1200/min", rate),  # any other API read
    "write": env_parsed("RATE_LIMIT_WRITE", "300/min", rate),  # API writes, forms sent
    "reserve": env_parsed("RATE_LIMIT_RESERVE", "60/min", rate),  # quotes, reservations
    "auth": env_parsed("RATE_LIMIT_AUTH", "30/15min", rate),  # sign-in/up forms, bad API keys
    "auth_failures": env_parsed("RATE_LIMIT_AUTH_FAILURES", "5/15min", rate),
    "auth_failures_account": env_parsed("RATE_LIMIT_AUTH_FAILURES_ACCOUNT", "30/h", rate),
}
REST_FRAMEWORK = {
    # API keys and the browser's session; no HTTP Basic: it would take a password on every
    # request, unthrottled, a free password-guessing oracle.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.authentication.ApiKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    # DRF's defaults, with a JSON parser that refuses absurdly nested bodies with a 400
    "DEFAULT_PARSER_CLASSES": [
        "common.api.parsers.JsonParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "common.api.errors.api_exception_handler",
    # Every view counts against RATE_LIMITS (common/api/throttles.py), and knows the client
    # behind NUM_PROXIES proxies the way the pages do (common.net.client_ip).
    "DEFAULT_THROTTLE_CLASSES": ["common.api.throttles.ApiThrottle"],
    "NUM_PROXIES": NUM_PROXIES,
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "GPU Market API",
    "DESCRIPTION": "Search GPU offers, get all-in quotes, reserve capacity, list capacity as a provider.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # /api/docs/ and /api/redoc/ load everything from our static files: no CDN, no internet.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # validatorUrl None: Swagger UI would otherwise send the schema to validator.swagger.io.
    "SWAGGER_UI_SETTINGS": {"deepLinking": True, "validatorUrl": None},
}

CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
    }
}

# --- Celery --------------------------------------------------------------------------
CELERY_BROKER_URL = REDIS_URL
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 3600),
    # How often a worker looks for tasks whose worker died (unacknowledged past the visibility
    # timeout). kombu 5.7 looks every interval x throttle seconds, 100 s by its defaults:
    # throttle 1 makes the interval the period.
    "unacked_restore_interval": env_int("CELERY_UNACKED_RESTORE_SECONDS", 10),
    "unacked_restore_throttle": 1,
}
CELERY_TIMEZONE = "UTC"
# Queues by what a task waits on, so that slow providers cannot starve metering and billing:
# `provider` (calls a provider's API or webhook, at its pace), `launches` (start and stop
# instances), `pricing` (catalog syncs, minutes each), `billing` (metering, invoices,
# payments), `celery` (the rest: quick sweeps). A worker started without -Q consumes all of
# them; `make run` gives the provider-facing three a worker of their own.
CELERY_QUEUE_NAMES = ("celery", "billing", "launches", "provider", "pricing")
CELERY_TASK_QUEUES = [Queue(name) for name in CELERY_QUEUE_NAMES]
CELERY_TASK_DEFAULT_QUEUE = "celery"
CELERY_TASK_ROUTES = {
    "billing.*": {"queue": "billing"},
    "brokers.launch_reservation": {"queue": "launches"},
    "brokers.terminate_reservation": {"queue": "launches"},
    "brokers.poll_reservation": {"queue": "provider"},
    "brokers.check_running_reservation": {"queue": "provider"},
    "brokers.deliver_launch_request": {"queue": "provider"},
    "brokers.refresh_prices": {"queue": "pricing"},
    "brokers.refresh_price_index": {"queue": "pricing"},  # reads the catalog, seconds to minutes
}
# Every task has a soft limit (SoftTimeLimitExceeded is raised inside it, so it can fail
# cleanly) and a hard one (its process is killed; acks_late hands the message back). A
# catalog sync or a period close may take minutes; the rest take seconds.
CELERY_TASK_SOFT_TIME_LIMIT = env_int("CELERY_TASK_SOFT_TIME_LIMIT", 120)
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 150)
_LONG_TASK_LIMITS = {"soft_time_limit": 1800, "time_limit": 1860}
CELERY_TASK_ANNOTATIONS = {
    "brokers.refresh_prices": _LONG_TASK_LIMITS,
    "brokers.offers_upkeep": _LONG_TASK_LIMITS,
    "brokers.refresh_price_index": _LONG_TASK_LIMITS,  # its first run fills 90 days
    "billing.close_billing_periods": _LONG_TASK_LIMITS,
    "billing.build_statements": _LONG_TASK_LIMITS,
}
USAGE_INTERVAL_SECONDS = env_int("USAGE_INTERVAL_SECONDS", 60)
# A reservation still terminating this long after its terminate task was queued has its task
# queued again (a broker blip or used-up retries may have lost it); the sweep looks this often.
TERMINATION_RETRY_AFTER_SECONDS = env_int("TERMINATION_RETRY_AFTER_SECONDS", 120)
TERMINATION_SWEEP_SECONDS = env_int("TERMINATION_SWEEP_SECONDS", 60)

# --- Money and billing -----------------------------------------------------------------
PLATFORM_FEE_PERCENT = env_decimal("PLATFORM_FEE_PERCENT", "10", minimum="0", maximum="100")
STRIPE_SECRET_KEY = env_str("STRIPE_SECRET_KEY", "sk_test_dev")
STRIPE_WEBHOOK_SECRET = env_str("STRIPE_WEBHOOK_SECRET", "whsec_dev")
STRIPE_API_BASE = env_str("STRIPE_API_BASE", "https://api.stripe.com")
STRIPE_TIMEOUT_SECONDS = float(
    env_decimal("STRIPE_TIMEOUT_SECONDS", "20", minimum="1", maximum="120")
)
# A month's drafts are finalised this long after it ends, so its last minutes are metered.
BILLING_GRACE_SECONDS = env_int("BILLING_GRACE_SECONDS", 3600)
BILLING_CLOSE_CHECK_SECONDS = env_int("BILLING_CLOSE_CHECK_SECONDS", 300)
INVOICE_DUE_DAYS = env_int("INVOICE_DUE_DAYS", 14)
# The seller an invoice names (EU VAT Directive 2006/112/EC, Art. 226): its legal name,
# address (lines separated by "\n" or ";") and VAT id; an empty one is left off the PDF.
PLATFORM_LEGAL_NAME = env_str("PLATFORM_LEGAL_NAME", "GPU Market")
PLATFORM_ADDRESS = env_str("PLATFORM_ADDRESS", "")
PLATFORM_VAT_ID = env_str("PLATFORM_VAT_ID", "")
# Where the seller is established for VAT (ISO 3166-1 alpha-2): billing.tax decides each
# invoice's rate from it and the buyer's billing profile.
PLATFORM_COUNTRY = env_parsed("PLATFORM_COUNTRY", "IE", country_code)
# Funds (docs/billing.md, "Funds and budgets"): what an organization may spend beyond its
# prepaid credit, in each currency it reserves in. 0: prepaid only (DESIGN.md, Money).
ORG_CREDIT_LIMIT = env_decimal("ORG_CREDIT_LIMIT", "0", minimum="0")
# How often the budgets' 80 % / 100 % alerts and hard stops are checked (billing.check_budgets).
BUDGET_CHECK_SECONDS = env_int("BUDGET_CHECK_SECONDS", 300)
# Budget alerts are mailed (billing.services.budgets): printed on the console unless a real
# backend is configured (django.core.mail.backends.smtp.EmailBackend and EMAIL_HOST...).
EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "GPU Market <billing@gpumarket.local>")

# Payments (docs/billing.md, "Payments"). Dunning: after the n-th declined collection of an
# invoice, the next is tried BILLING_RETRY_SCHEDULE[n-1] seconds later; once the schedule is
# used up the invoice is uncollectible and the organization cannot reserve until it pays.
BILLING_RETRY_SCHEDULE = env_parsed("BILLING_RETRY_SCHEDULE", "86400,259200,604800", seconds_list)
# A charge or refund whose outcome is not known (Stripe timed out or failed, the worker died)
# is sent again, with the same idempotency key, this long after it was sent.
BILLING_PENDING_RETRY_SECONDS = env_int("BILLING_PENDING_RETRY_SECONDS", 300)
# How often the beat looks for collections and refunds that are due (billing.retry_collections).
BILLING_COLLECTIONS_CHECK_SECONDS = env_int("BILLING_COLLECTIONS_CHECK_SECONDS", 60)

# Provider payouts: statements are built daily for the month that ended (after the grace
# above), and payable ones (a Stripe failure included, retried with the same key) are sent
# this often.
STATEMENTS_BUILD_SECONDS = env_int("STATEMENTS_BUILD_SECONDS", 86400)
PAYOUTS_RETRY_SECONDS = env_int("PAYOUTS_RETRY_SECONDS", 3600)

# --- Marketplace ---------------------------------------------------------------------
QUOTE_TTL_SECONDS = env_int("QUOTE_TTL_SECONDS", 120)
# Price sanity: an offer below this share of its GPU class's robust median is `suspect`.
SUSPECT_PRICE_FACTOR = env_decimal("SUSPECT_PRICE_FACTOR", "0.1", minimum="0", maximum="1")
# The price index's rows of today (and of yesterday in its first hour) are recomputed this
# often by the beat; a page uses such a row for twice as long (docs/api.md, "Price index").
PRICE_INDEX_REFRESH_SECONDS = env_int("PRICE_INDEX_REFRESH_SECONDS", 300)

# --- Providers: pricing sources and launchers ----------------------------------------------
# A provider's webhook URL is the provider's choice, so we call it as we would a stranger
# (brokers.outbound): https only and public addresses only. The first is lifted for a
# development provider without TLS, the second only for tests whose providers listen on
# loopback; never in production.
WEBHOOK_ALLOW_HTTP = env_bool("WEBHOOK_ALLOW_HTTP", False)
WEBHOOK_ALLOW_PRIVATE_ADDRESSES = env_bool("WEBHOOK_ALLOW_PRIVATE_ADDRESSES", False)
# The one place brokers reads provider keys, hosts and catalog URLs from (at use time, through
# django.conf.settings, so tests point them at local fakes with pytest-django's `settings`).
LAMBDA_API_KEY = env_str("LAMBDA_API_KEY", "")
RUNPOD_API_KEY = env_str("RUNPOD_API_KEY", "")
VAST_API_KEY = env_str("VAST_API_KEY", "")
# Where the launchers and pricing sources send those keys: settings, never `Provider.config`,
# so that no database row can point a key at another host.
_WEB = ("https", "http")
# Lambda's current API host (docs.lambda.ai); the older cloud.lambdalabs.com redirects to it.
LAMBDA_API_URL = env_url("LAMBDA_API_URL", "https://cloud.lambda.ai/api/v1", schemes=_WEB)
RUNPOD_API_URL = env_url("RUNPOD_API_URL", "https://api.runpod.io/graphql", schemes=_WEB)
VAST_API_URL = env_url("VAST_API_URL", "https://console.vast.ai/api/v0", schemes=_WEB)
# Vast's offer search as JSON; empty: the source's default search (brokers.sources.vast).
VAST_QUERY = env_str("VAST_QUERY", "")
SKYPILOT_CATALOG_URL = env_url(
    "SKYPILOT_CATALOG_URL",
    "https://raw.githubusercontent.com/skypilot-org/skypilot-catalog/master/catalogs/v8",
    schemes=_WEB,
)
# Comma-separated cloud folders; empty: the source's list (brokers.sources.skypilot).
SKYPILOT_CATALOG_CLOUDS = env_list("SKYPILOT_CATALOG_CLOUDS", "")
GPUHUNT_CATALOG_URL = env_url(
    "GPUHUNT_CATALOG_URL", "https://dstack-gpu-pricing.s3.eu-west-1.amazonaws.com/v2", schemes=_WEB
)
AZURE_PRICES_URL = env_url(
    "AZURE_PRICES_URL", "https://prices.azure.com/api/retail/prices", schemes=_WEB
)
# An OData $filter; empty: the source's, VM consumption meters (brokers.sources.azure).
AZURE_PRICES_FILTER = env_str("AZURE_PRICES_FILTER", "")
AWS_PRICE_LIST_URLS = env_list(
    "AWS_PRICE_LIST_URLS",
    "https://pricing.us-east-1.amazonaws.com/offers/v1.0/aws/AmazonEC2/current/us-east-1/index.csv",
)
# Saved DescribeSpotPriceHistory responses (the API itself needs signed requests).
AWS_SPOT_PRICE_URLS = env_list("AWS_SPOT_PRICE_URLS", "")

# --- Logging: one JSON object per line on stdout ---------------------------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": {"()": "config.logging.JsonFormatter"}},
    "handlers": {"stdout": {"class": "logging.StreamHandler", "formatter": "json"}},
    "root": {"handlers": ["stdout"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}

# --- Health ------------------------------------------------------------------------------
# /healthz shows each check's detail to staff and to callers with this token (a monitor).
HEALTHZ_TOKEN = env_str("HEALTHZ_TOKEN", "")
HEALTHZ_WORKER_CACHE_SECONDS = env_int("HEALTHZ_WORKER_CACHE_SECONDS", 5)

# --- Schedules (Celery beat) --------------------------------------------------------------
# Each pricing source runs on its own schedule: "name:seconds[:path or URL]" entries,
# comma-separated (README, configuration).
PRICING_SCHEDULE = env_parsed("PRICING_SCHEDULE", "simulated:300", parse_pricing_schedule)
CELERY_BEAT_SCHEDULE = {
    "record-usage": {"task": "billing.record_usage", "schedule": USAGE_INTERVAL_SECONDS},
    "close-billing-periods": {
        "task": "billing.close_billing_periods",
        "schedule": BILLING_CLOSE_CHECK_SECONDS,
    },
    "check-budgets": {"task": "billing.check_budgets", "schedule": BUDGET_CHECK_SECONDS},
    "build-statements": {"task": "billing.build_statements", "schedule": STATEMENTS_BUILD_SECONDS},
    "pay-statements": {"task": "billing.pay_statements", "schedule": PAYOUTS_RETRY_SECONDS},
    "retry-collections": {
        "task": "billing.retry_collections",
        "schedule": BILLING_COLLECTIONS_CHECK_SECONDS,
    },
    "end-expired-reservations": {"task": "brokers.end_expired_reservations", "schedule": 60},
    "retry-stuck-terminations": {
        "task": "brokers.retry_stuck_terminations",
        "schedule": TERMINATION_SWEEP_SECONDS,
    },
    "check-running-reservations": {
        "task": "brokers.check_running_reservations",
        "schedule": env_int("RUNNING_CHECK_SECONDS", 30),
    },
    "refresh-price-index": {
        "task": "brokers.refresh_price_index",
        "schedule": PRICE_INDEX_REFRESH_SECONDS,
    },
    # stale offers of every source (one that stopped running too) and the price check
    "offers-upkeep": {
        "task": "brokers.offers_upkeep",
        "schedule": env_int("OFFERS_UPKEEP_SECONDS", 600),
    },
}
for _index, _entry in enumerate(PRICING_SCHEDULE):
    _key = f"refresh-prices-{_entry.source}"
    if _key in CELERY_BEAT_SCHEDULE:  # the same source twice (two paths): both run
        _key = f"{_key}-{_index}"
    CELERY_BEAT_SCHEDULE[_key] = {
        "task": "brokers.refresh_prices",
        "schedule": float(_entry.seconds),
        "args": [_entry.source] + ([_entry.path] if _entry.path else []),
    }
