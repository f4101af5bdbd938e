"""Loupe's one settings module. Production differs from `make run` only by environment variables
(DESIGN.md §9); every value is read through the strict helpers of ``agency.env``."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from agency.env import email_config, env_base_url, env_bool, env_float, env_int, env_list, env_str, installation_secret_key
from agency.storage import build_storages, storage_origins

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("LOUPE_VAR_DIR", str(BASE_DIR / "var")))

DEBUG = env_bool("DEBUG", False)
if DEBUG:
    # Only a developer's machine runs with DEBUG on. Without SECRET_KEY it gets a random key of its
    # own, kept under var/ so sessions survive restarts; a key shared by every installation would let
    # anyone forge signed file links and upload targets. With DEBUG off there is no fallback at all.
    SECRET_KEY = env_str("SECRET_KEY", None) or installation_secret_key(VAR_DIR)
else:
    SECRET_KEY = env_str("SECRET_KEY")
    if len(SECRET_KEY) < 50:
        raise ImproperlyConfigured("SECRET_KEY must be at least 50 characters long")

# HTTPS-only behaviour (secure cookies with the __Host- prefix, HSTS, redirects) is on whenever DEBUG
# is off, unless the operator says otherwise (for example the test suite over plain HTTP).
HTTPS = env_bool("LOUPE_HTTPS", not DEBUG)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])
if env_bool("LOUPE_BEHIND_PROXY", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_q",
    "axes",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "agency",
    "clients",
    "jobs",
    "billing",
    "storefront",
]

MIDDLEWARE = [
    "agency.middleware.EventStreamMiddleware",  # outermost: a live page's stream holds no database connection
    "django.middleware.security.SecurityMiddleware",
    "agency.middleware.RequestSizeLimitMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "agency.middleware.SessionLifetimeMiddleware",
    "agency.middleware.SecondFactorMiddleware",
    "agency.middleware.SecurityContextMiddleware",
    "agency.middleware.TimezoneMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "agency.middleware.ContentSecurityPolicyMiddleware",
    # after messages (a repeated page form says it was sent twice) and the headers (replays carry them)
    "agency.idempotency.IdempotencyMiddleware",
    "axes.middleware.AxesMiddleware",
    "agency.middleware.DomainErrorMiddleware",
]

ROOT_URLCONF = "agency.urls"
WSGI_APPLICATION = "agency.wsgi.application"
AUTH_USER_MODEL = "agency.User"
AUTHENTICATION_BACKENDS = [
    "agency.auth.LockoutBackend",
    "agency.auth.UserBackend",
]
CSRF_FAILURE_VIEW = "agency.views.csrf_failure"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

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
                "agency.context_processors.studio",
            ],
        },
    },
]

# Database: SQLite under var/ by default, PostgreSQL in production (DATABASE_URL).
_database_url = env_str("DATABASE_URL", f"sqlite:///{VAR_DIR / 'loupe.sqlite3'}")
DATABASES = {"default": dj_database_url.parse(_database_url, conn_max_age=600, conn_health_checks=True)}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Persistent connections are harmless for SQLite, but WAL + IMMEDIATE transactions are what make
    # concurrent writers queue instead of failing with "database is locked" (DESIGN.md §9).
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;",
    }
IS_SQLITE = DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-gb"
USE_I18N = True
USE_TZ = True
# The studio's own zone: the default display zone and the zone of its business calendar. Times are
# stored in UTC whatever this says; each user may pick their own display zone.
TIME_ZONE = env_str("LOUPE_TIME_ZONE", "Europe/Berlin")
LOUPE_COUNTRY = env_str("LOUPE_COUNTRY", "DE")
LOUPE_STUDIO_NAME = env_str("LOUPE_STUDIO_NAME", "Loupe Studio")
# Where people reach Loupe, for links in mails (invitations, password resets, notifications) and webhook
# bodies; pages and the API build their own from the request. Required in production; `make run` and
# the devserver command set it to the address they serve.
LOUPE_BASE_URL = env_base_url("LOUPE_BASE_URL", *(["http://127.0.0.1:8000"] if DEBUG else []))
# Accounting exports (docs/billing.md): Xero's sales account code and tax rate names (as they appear
# in the organisation's Xero; {rate} is the invoice's VAT rate), QuickBooks' product/service name.
LOUPE_XERO_ACCOUNT_CODE = env_str("LOUPE_XERO_ACCOUNT_CODE", "200")
LOUPE_XERO_TAX_TYPES = {"S": env_str("LOUPE_XERO_TAX_STANDARD", "{rate}% (VAT on Income)"),
                        "Z": env_str("LOUPE_XERO_TAX_ZERO", "Zero Rated Income"),
                        "AE": env_str("LOUPE_XERO_TAX_REVERSE_CHARGE", "Zero Rated EC Services")}
LOUPE_QUICKBOOKS_ITEM = env_str("LOUPE_QUICKBOOKS_ITEM", "Retouching")
# How far a version's border may be from the style guide's background colour (CIEDE2000).
LOUPE_BACKGROUND_DELTA_E = env_float("LOUPE_BACKGROUND_DELTA_E", 3.0)

STATIC_URL = "/static/"
STATIC_ROOT = VAR_DIR / "static"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = build_storages(var_dir=VAR_DIR, static_manifest=env_bool("LOUPE_STATIC_MANIFEST", not DEBUG))
LOUPE_STORAGE_ORIGINS = storage_origins(STORAGES)
LOUPE_MAX_UPLOAD_BYTES = env_int("LOUPE_MAX_UPLOAD_BYTES", 2 * 1024**3)

# Security defaults (SECURITY.md §3).
SECURE_SSL_REDIRECT = HTTPS and env_bool("LOUPE_SSL_REDIRECT", True)
SECURE_HSTS_SECONDS = 31_536_000 if HTTPS else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = HTTPS
SECURE_HSTS_PRELOAD = HTTPS and env_bool("LOUPE_HSTS_PRELOAD", True)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_SECURE = HTTPS
CSRF_COOKIE_SECURE = HTTPS
# The __Host- prefix needs Secure, so plain-HTTP development uses ordinary names.
SESSION_COOKIE_NAME = "__Host-sessionid" if HTTPS else "loupe_sessionid"
CSRF_COOKIE_NAME = "__Host-csrftoken" if HTTPS else "loupe_csrftoken"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_AGE = env_int("LOUPE_SESSION_IDLE_SECONDS", 30 * 60)
SESSION_SAVE_EVERY_REQUEST = True
LOUPE_SESSION_ABSOLUTE_SECONDS = env_int("LOUPE_SESSION_ABSOLUTE_SECONDS", 12 * 60 * 60)
LOUPE_API_TOKEN_DAYS = env_int("LOUPE_API_TOKEN_DAYS", 90)
# Webhooks: hosts allowed over plain HTTP and on private addresses (development, the test suite only),
# and how long a receiver may take to answer.
LOUPE_WEBHOOK_ALLOWED_HOSTS = env_list("LOUPE_WEBHOOK_ALLOWED_HOSTS", [])
LOUPE_WEBHOOK_TIMEOUT = env_float("LOUPE_WEBHOOK_TIMEOUT", 10.0)
# How long an API POST's answer is kept for a retry with the same Idempotency-Key.
LOUPE_IDEMPOTENCY_HOURS = env_int("LOUPE_IDEMPOTENCY_HOURS", 24)
# Retention (jobs/retention.py): the studio's default terms, days after an order completes; a client's own
# terms replace them. Invoices and their documents are kept ten years whatever these say.
LOUPE_KEEP_FILES_DAYS = env_int("LOUPE_KEEP_FILES_DAYS", 180)
LOUPE_KEEP_DELIVERIES_DAYS = env_int("LOUPE_KEEP_DELIVERIES_DAYS", 365)

# Request limits: JSON and form bodies stay small; file bytes never go through the web process.
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("LOUPE_MAX_BODY_BYTES", 2_621_440)
DATA_UPLOAD_MAX_NUMBER_FIELDS = 300
DATA_UPLOAD_MAX_NUMBER_FILES = 10
FILE_UPLOAD_MAX_MEMORY_SIZE = 2_621_440
# The one exception: the storefront's instant estimate takes up to five sample photos in its form, each at most
# this size, graded in the sandbox and deleted at once (storefront/estimates.py).
LOUPE_SAMPLE_MAX_BYTES = env_int("LOUPE_SAMPLE_MAX_BYTES", 30 * 1024**2)
# How many pictures the studio retouches free for a new company's trial (storefront/trials.py); 0: no trials.
LOUPE_TRIAL_PICTURES = env_int("LOUPE_TRIAL_PICTURES", 10)

LOUPE_MAX_IMAGE_PIXELS = env_int("LOUPE_MAX_IMAGE_PIXELS", 250_000_000)
# Smaller photographs are refused (a style guide's own resolution is only a pre-flight warning).
LOUPE_MIN_LONG_EDGE_PX = env_int("LOUPE_MIN_LONG_EDGE_PX", 500)
# Business hours promised per turnaround tier (DESIGN.md §3), overridable per studio.
LOUPE_TURNAROUND_HOURS = {
    tier: env_int(f"LOUPE_TURNAROUND_{tier.upper()}_HOURS", hours)
    for tier, hours in {"standard": 48, "express": 24, "rush": 8}.items()
}
# A revision round runs its own clock (DESIGN.md §5).
LOUPE_REVISION_HOURS = env_int("LOUPE_REVISION_HOURS", 24)

# Login lockout (django-axes): 10 failures for an account lock it for 15 minutes, from every address (and
# its pair with the address). Known and unknown accounts are counted alike, so the lockout says nothing
# about which accounts exist. An address alone is throttled only far above one person's limit
# (LOUPE_LOGIN_ADDRESS_LIMIT failures in 15 minutes, any accounts): behind a load balancer or an office's
# NAT, many people share one. The client's address is read from X-Forwarded-For only when the request
# comes from one of LOUPE_TRUSTED_PROXIES (addresses or networks of the load balancers).
AXES_FAILURE_LIMIT = env_int("LOUPE_LOGIN_FAILURE_LIMIT", 10)
AXES_COOLOFF_TIME = timedelta(minutes=15)
# Review links (jobs.review.shares): a guest also types a code mailed to the link's address, so a forwarded
# link opens for nobody else.
LOUPE_REVIEW_LINK_CODE = env_bool("LOUPE_REVIEW_LINK_CODE", False)
AXES_LOCKOUT_PARAMETERS = ["username", ["username", "ip_address"]]
AXES_CLIENT_IP_CALLABLE = "agency.auth.client_ip"
LOUPE_LOGIN_ADDRESS_LIMIT = env_int("LOUPE_LOGIN_ADDRESS_LIMIT", 100)
LOUPE_TRUSTED_PROXIES = env_list("LOUPE_TRUSTED_PROXIES", [])
AXES_USERNAME_CALLABLE = "agency.auth.axes_username"
AXES_RESET_ON_SUCCESS = True
AXES_HTTP_RESPONSE_CODE = 429
AXES_LOCKOUT_CALLABLE = "agency.auth.lockout_response"
AXES_VERBOSE = False
AXES_SENSITIVE_PARAMETERS = ["password", "token"]
# Two-factor sign-in (django-otp: TOTP authenticator apps and single-use recovery codes). Studio staff
# must set it up before anything else when this is on (the default outside DEBUG); anyone may turn it on.
LOUPE_REQUIRE_2FA_FOR_STAFF = env_bool("LOUPE_REQUIRE_2FA_FOR_STAFF", not DEBUG)
LOUPE_RECOVERY_CODES = 10
OTP_TOTP_ISSUER = LOUPE_STUDIO_NAME
# Wrong codes count towards the login lockout above (one policy for both steps), so django-otp's own
# per-device back-off, which would refuse a right code a second after a typo, is off.
OTP_TOTP_THROTTLE_FACTOR = 0
OTP_STATIC_THROTTLE_FACTOR = 0
# A password-checked sign-in waits this long for its second step.
LOUPE_2FA_PENDING_SECONDS = 300
# Password-reset mails per address and per client address an hour (more are silently not sent).
LOUPE_RESET_MAILS_PER_ADDRESS = env_int("LOUPE_RESET_MAILS_PER_ADDRESS", 3)
LOUPE_RESET_MAILS_PER_IP = env_int("LOUPE_RESET_MAILS_PER_IP", 20)

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "agency.auth.ExpiringTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    # Views declare ``action_permissions`` (permissions.py functions per action); see agency.api.
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated", "agency.permissions.ActionPermission"],
    "DEFAULT_PAGINATION_CLASS": "agency.pagination.PageNumberPagination",
    "PAGE_SIZE": 25,
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["agency.parsers.JSONParser"],
    "EXCEPTION_HANDLER": "agency.exceptions.api_exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Loupe API",
    "DESCRIPTION": "Orders, images, quotes and deliveries of a jewelry-retouching studio.",
    "VERSION": "1.0.0",
    "SCHEMA_PATH_PREFIX": "/api/v1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "POSTPROCESSING_HOOKS": ["drf_spectacular.hooks.postprocess_schema_enums", "agency.api.document_errors"],
    "ENUM_NAME_OVERRIDES": {"OrderStatusEnum": "jobs.models.OrderStatus", "RevisionKindEnum": "jobs.models.ItemKind",
                            "DeliveryKindEnum": "jobs.models.DeliveryKind", "QuoteLineKindEnum": "billing.models.LineKind",
                            "VersionStatusEnum": "jobs.models.VersionStatus", "DeliveryStatusEnum": "jobs.models.DeliveryStatus",
                            "PaymentMethodEnum": "billing.models.PaymentMethod",
                            "QcDecisionEnum": ["pass", "reject"], "AudienceEnum": "jobs.models.Audience",
                            "MarkAudienceEnum": ["client", "studio"], "ComplexityEnum": "jobs.models.Complexity",
                            "TurnaroundEnum": "jobs.models.Turnaround", "TrialStatusEnum": "storefront.models.TrialStatus",
                            "PilotStatusEnum": ["running", "approved"]},
}

# Background tasks (django-q2). `retry` stays above `timeout` plus a margin so a running task is
# never handed to a second worker; one worker on SQLite, whose ORM broker stalls under bursts.
REDIS_URL = env_str("REDIS_URL", None)
# The cache holds throttling counters: per process by default, shared through Redis in production.
CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
          if REDIS_URL else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
_q_timeout = env_int("LOUPE_TASK_TIMEOUT", 600)
Q_CLUSTER = {
    "name": "loupe",
    "workers": 1 if IS_SQLITE else env_int("LOUPE_TASK_WORKERS", 2),
    "timeout": _q_timeout,
    "retry": _q_timeout + env_int("LOUPE_TASK_RETRY_MARGIN", 120),
    "max_attempts": 3,
    "ack_failures": False,
    "catch_up": False,
    "save_limit": 500,
    "label": "Background tasks",
    "sync": env_bool("LOUPE_TASKS_SYNC", False),
}
if REDIS_URL:
    Q_CLUSTER["redis"] = REDIS_URL
else:
    Q_CLUSTER["orm"] = "default"

DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "Loupe <loupe@localhost>")
vars().update(email_config(env_str("EMAIL_URL", f"file://{VAR_DIR / 'mail'}" if DEBUG else "smtp://localhost:25")))

# Logging: everything to stderr; secrets (passwords, tokens, presigned signatures) are redacted by
# a filter on every handler, so no code path can leak them by accident.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"redact": {"()": "agency.logging.RedactSecretsFilter"}},
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s",
                             "datefmt": "%Y-%m-%dT%H:%M:%S%z"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain", "filters": ["redact"]}},
    "root": {"handlers": ["console"], "level": env_str("LOUPE_LOG_LEVEL", "INFO")},
    "loggers": {
        "django.request": {"level": "ERROR"},
        "axes": {"level": "WARNING"},
        "django-q": {"level": "WARNING"},
    },
}
