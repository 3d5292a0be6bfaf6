"""One settings module for every environment, configured from environment variables.

The defaults give the embedded runtime (SQLite file, a filesystem broker) so that the demo needs
no server; production sets DATABASE_URL, REDIS_URL and the security variables.
"""

from datetime import timedelta
from pathlib import Path

import environ
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"

env = environ.Env()
if (BASE_DIR / ".env").is_file():
    environ.Env.read_env(BASE_DIR / ".env")

DEBUG = env.bool("DEBUG", default=False)

# Only ever used with DEBUG on: a server must never run on a key that is public in the code.
_DEVELOPMENT_SECRET_KEY = "django-insecure-development-only-never-use-in-production"
SECRET_KEY = env.str("SECRET_KEY", default=_DEVELOPMENT_SECRET_KEY)
if not DEBUG and (
    SECRET_KEY == _DEVELOPMENT_SECRET_KEY or SECRET_KEY.startswith("django-insecure")
):
    raise ImproperlyConfigured(
        "SECRET_KEY is the development key while DEBUG is off. Set SECRET_KEY to a long random "
        "value (e.g. `python -c 'import secrets; print(secrets.token_urlsafe(50))'`), or set "
        "DEBUG=1 for local development."
    )

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "rest_framework",
    "knox",
    "axes",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI and ReDoc served from our static files, no CDN
    "django_celery_beat",
    # The product, bottom layer first (see docs/architecture.md).
    "commerce",
    "catalog",
    "inventory",
    "customers",
    "orders",
    "returns",
    "automation",
    "demo",
]

MIDDLEWARE = [
    # First, so that every log line of the request, other middleware's included, carries its id.
    "commerce.middleware.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes asks: it turns a locked-out sign-in into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "commerce.urls"
WSGI_APPLICATION = "commerce.wsgi.application"

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
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The embedded runtime shares one file between the web server, the worker and beat: WAL lets
    # readers proceed during a write, IMMEDIATE takes the write lock at BEGIN so two writers queue
    # on the busy timeout instead of failing with "database is locked" half-way through.
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
    }
else:
    # Short OLTP queries: JIT compilation and parallel workers cost more than they save here
    # (measured in bench/: PostgreSQL CPU per storefront list page 92 ms -> 51 ms).
    DATABASES["default"].setdefault("OPTIONS", {})["options"] = env.str(
        "DATABASE_SESSION_OPTIONS", default="-c jit=off -c max_parallel_workers_per_gather=0"
    )
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=60)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Throttling counts live here: give production a shared cache (CACHE_URL=redis://host:6379/1,
# another database than the broker's), or each process counts on its own.
CACHES = {"default": env.cache_url("CACHE_URL", default="locmemcache://")}
if CACHES["default"]["BACKEND"].endswith("RedisCache"):
    # A Redis that hangs must not hold the request: the throttles fall back after this long.
    CACHES["default"].setdefault("OPTIONS", {}).update(socket_connect_timeout=1, socket_timeout=1)

# --- Security -------------------------------------------------------------------------------

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=not DEBUG)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=not DEBUG)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=not DEBUG)
SECURE_CONTENT_TYPE_NOSNIFF = True
# Container and load-balancer probes speak plain HTTP to the server itself.
SECURE_REDIRECT_EXEMPT = [r"^health/"]
X_FRAME_OPTIONS = "DENY"

# --- Sign-in: lockouts and API tokens --------------------------------------------------------

# Axes first: it refuses a locked-out sign-in before any password is checked. Every
# authenticate() call must pass request= (Axes needs it to know who is asking).
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
# Failures are counted in the database, not the cache: a lockout must hold while Redis is down
# (with the cache handler an outage would forget every count and let guessing resume), and it
# must be shared by every process and survive restarts. A failure costs a few small writes.
AXES_HANDLER = "axes.handlers.database.AxesDatabaseHandler"
AXES_USERNAME_FORM_FIELD = "username"
AXES_VERBOSE = False  # no banner on every manage.py command
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("AXES_COOLOFF_MINUTES", default=30))
# Counted per user name and client address together: a guesser is stopped, but nobody can lock
# a colleague (or a customer) out from another address by typing their name.
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
# The lock lasts the cool-off stated on the page, however often the locked client retries.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
# The same client address as the API throttles (NUM_PROXIES below).
AXES_CLIENT_IP_CALLABLE = "commerce.client_ip.client_ip"
AXES_LOCKOUT_CALLABLE = "commerce.lockout.lockout_response"

# API tokens (django-rest-knox) are stored as SHA-512 digests and expire. A customer's token
# lasts TOKEN_TTL from its last use, but never longer than AUTO_REFRESH_MAX_TTL after sign-in;
# staff tokens (`manage.py create_api_token`) keep the expiry they were issued with.
REST_KNOX = {
    "TOKEN_TTL": timedelta(days=env.int("API_TOKEN_CUSTOMER_TTL_DAYS", default=14)),
    "AUTO_REFRESH": True,
    "AUTO_REFRESH_MAX_TTL": timedelta(days=env.int("API_TOKEN_CUSTOMER_MAX_DAYS", default=90)),
    # Clients keep sending `Authorization: Token <token>`.
    "AUTH_HEADER_PREFIX": "Token",
}
API_TOKEN_STAFF_TTL_DAYS = env.int("API_TOKEN_STAFF_TTL_DAYS", default=30)

# --- Language, time, money ------------------------------------------------------------------

LANGUAGE_CODE = env.str("LANGUAGE_CODE", default="en")
LANGUAGES = [("en", _("English")), ("ja", _("Japanese"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

# --- Static and media -----------------------------------------------------------------------

STATIC_URL = "static/"
STATIC_ROOT = env.path("STATIC_ROOT", default=BASE_DIR / "staticfiles")
MEDIA_URL = "media/"
MEDIA_ROOT = env.path("MEDIA_ROOT", default=VAR_DIR / "media")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = DEBUG

# --- E-mail ---------------------------------------------------------------------------------

EMAIL_CONFIG = env.email_url(
    "EMAIL_URL", default="consolemail://" if DEBUG else "smtp://localhost:25"
)
vars().update(EMAIL_CONFIG)
# Any backend by its path (an ESP's, say), beside what EMAIL_URL can name.
EMAIL_BACKEND = env.str("EMAIL_BACKEND", default=EMAIL_CONFIG["EMAIL_BACKEND"])
EMAIL_FILE_PATH = env.str("EMAIL_FILE_PATH", default=str(VAR_DIR / "mail"))
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="shop@localhost")
SERVER_EMAIL = env.str("SERVER_EMAIL", default=DEFAULT_FROM_EMAIL)

# --- Messages and webhooks (automation; docs/messages.md, docs/webhooks.md) ------------------

MESSAGES_SHOP_NAME = env.str("MESSAGES_SHOP_NAME", default="")  # blank: the channel's name
MESSAGES_SUPPORT_EMAIL = env.str("MESSAGES_SUPPORT_EMAIL", default="")
MESSAGES_BANK_ACCOUNT = env.str(
    "MESSAGES_BANK_ACCOUNT", default="Example Bank, Shibuya branch, ordinary 1234567, Shop K.K."
)
MESSAGES_ORDER_URL = env.str(
    "MESSAGES_ORDER_URL", default="http://localhost:8000/api/v1/orders/track/?number={number}"
)
MESSAGES_MESSAGE_ID_DOMAIN = env.str("MESSAGES_MESSAGE_ID_DOMAIN", default="shop.localhost")
LINE_CHANNEL_ACCESS_TOKEN = env.str("LINE_CHANNEL_ACCESS_TOKEN", default="")
LINE_API_URL = env.str("LINE_API_URL", default="https://api.line.me")
LINE_RETRY_KEY_NAMESPACE = env.str("LINE_RETRY_KEY_NAMESPACE", default="commerce")
# A class per medium. SMS records what it would send until a provider is configured; LINE
# pushes through the Messaging API once it has a token.
MESSAGES_PROVIDERS = {
    "email": "automation.messages.providers.EmailProvider",
    "sms": env.str(
        "MESSAGES_SMS_PROVIDER", default="automation.messages.providers.RecordingProvider"
    ),
    "line": env.str(
        "MESSAGES_LINE_PROVIDER",
        default="automation.messages.providers.LinePushProvider"
        if LINE_CHANNEL_ACCESS_TOKEN
        else "automation.messages.providers.RecordingProvider",
    ),
}
# A claim older than this is a worker that died mid-send: the sweeper claims the message again.
MESSAGES_CLAIM_TIMEOUT = env.int("MESSAGES_CLAIM_TIMEOUT", default=300)
# Marketing only: hours between two messages per customer and medium; quiet hours (local).
MESSAGES_FREQUENCY_CAP_HOURS = {"email": 16, "sms": 24, "line": 24}
MESSAGES_QUIET_HOURS = (
    env.int("MESSAGES_QUIET_HOURS_START", default=21),
    env.int("MESSAGES_QUIET_HOURS_END", default=9),
)
# The related products of an order confirmation, per channel and category, kept this long.
MESSAGES_UPSELL_CACHE_SECONDS = env.int("MESSAGES_UPSELL_CACHE_SECONDS", default=300)
MESSAGES_PICKUP_REMINDER_HOURS_BEFORE = env.int("MESSAGES_PICKUP_REMINDER_HOURS_BEFORE", default=24)
# Where the demo's webhook receiver listens (demo/webhook_receiver.py, started by run_demo).
DEMO_WEBHOOK_URL = env.str("DEMO_WEBHOOK_URL", default="http://127.0.0.1:8001/webhooks/")
WEBHOOK_TIMEOUT_SECONDS = env.float("WEBHOOK_TIMEOUT_SECONDS", default=10.0)
WEBHOOK_BREAKER_THRESHOLD = env.int("WEBHOOK_BREAKER_THRESHOLD", default=20)
WEBHOOK_RETRY_WINDOW_SECONDS = env.int("WEBHOOK_RETRY_WINDOW_SECONDS", default=24 * 3600)
WEBHOOK_RETRY_BASE_SECONDS = 30
WEBHOOK_RETRY_MAX_DELAY_SECONDS = 3600  # also caps a receiver's Retry-After
WEBHOOK_KEEP_SUCCEEDED_DAYS = 7
WEBHOOK_KEEP_FAILED_DAYS = 30

# --- REST API -------------------------------------------------------------------------------

# A body larger than this (files aside) is refused with a 413 problem before it is parsed.
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("DATA_UPLOAD_MAX_MEMORY_SIZE", default=2_621_440)

REST_FRAMEWORK = {
    # Token first: its WWW-Authenticate header makes anonymous calls to staff endpoints 401.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "commerce.api.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["commerce.api.permissions.StaffModelPermissions"],
    # django-filter, strict about booleans, repeated parameters and UTC offsets.
    "DEFAULT_FILTER_BACKENDS": ["commerce.api.filters.FilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "commerce.api.pagination.PageNumberPagination",
    "PAGE_SIZE": 20,
    # drf-spectacular, plus the problem answers each operation can give (commerce/api/schema.py).
    "DEFAULT_SCHEMA_CLASS": "commerce.api.schema.AutoSchema",
    "EXCEPTION_HANDLER": "commerce.api.problems.problem_exception_handler",
    # JSON (over-deep nesting is a 400, not a RecursionError) and forms read as plain objects.
    "DEFAULT_PARSER_CLASSES": [
        "commerce.api.parsers.JSONParser",
        "commerce.api.parsers.FormParser",
        "commerce.api.parsers.MultiPartParser",
    ],
    # OPTIONS lists the allowed methods even on actions without a serializer class.
    "DEFAULT_METADATA_CLASS": "commerce.api.metadata.SafeMetadata",
    "DEFAULT_THROTTLE_RATES": {
        "anon": "600/min",
        "user": "1200/min",
        # Sign-in and password reset, per client address: slows down password guessing.
        "customer_sign_in": env.str("THROTTLE_CUSTOMER_SIGN_IN", default="10/min"),
        # Buckets of their own, so a burst of sign-ups or order look-ups locks nobody out of
        # signing in. Registrations: an office or a mobile network shares one address.
        "customer_register": env.str("THROTTLE_CUSTOMER_REGISTER", default="20/hour"),
        # A guest's order by number and e-mail: slows down guessing either.
        "order_lookup": env.str("THROTTLE_ORDER_LOOKUP", default="10/min"),
        "password_reset": env.str("THROTTLE_PASSWORD_RESET", default="5/hour"),
        # Using a link: its token is unguessable, so this only stops hammering.
        "password_reset_confirm": env.str("THROTTLE_PASSWORD_RESET_CONFIRM", default="20/hour"),
    },
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
    # Throttles key on the client address. 0 trusts no X-Forwarded-For (a client could make up
    # one per request); behind N proxies that append to it, set NUM_PROXIES=N.
    "NUM_PROXIES": env.int("NUM_PROXIES", default=0),
}
# While the cache holding the throttle counters is unreachable: "local" counts in each process's
# memory (customers can still sign in; guessing stays limited, per process), "refuse" answers 503
# with Retry-After. See docs/customers.md.
THROTTLE_WHEN_CACHE_DOWN = env.str("THROTTLE_WHEN_CACHE_DOWN", default="local")
THROTTLE_CACHE_DOWN_RETRY_AFTER = env.int("THROTTLE_CACHE_DOWN_RETRY_AFTER", default=30)
if THROTTLE_WHEN_CACHE_DOWN not in ("local", "refuse"):
    raise ImproperlyConfigured('THROTTLE_WHEN_CACHE_DOWN must be "local" or "refuse".')

SPECTACULAR_SETTINGS = {
    "TITLE": "Unified Commerce API",
    "DESCRIPTION": "Storefront (per channel, anonymous) and staff APIs. Errors are RFC 9457 "
    "problem details with a stable `code`.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # The docs pages load Swagger UI and ReDoc from our own static files (a pinned copy in
    # drf-spectacular-sidecar), so they work without internet and never change under us.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Several models have a `kind`: name each enum after its model instead of a hashed name
    # ("KindD1bEnum") that changes whenever the choices do.
    "ENUM_NAME_OVERRIDES": {
        "ChannelKindEnum": "commerce.models.Channel.Kind",
        "StockLocationKindEnum": "inventory.models.StockLocation.Kind",
        "ReservationKindEnum": "inventory.models.Reservation.Kind",
        "RuleStatusEnum": "automation.models.rules.Rule.Status",
        "RuleRunStatusEnum": "automation.models.rules.RuleRun.Status",
        "ApprovalStatusEnum": "automation.models.rules.Approval.Status",
        "WebhookDeliveryStatusEnum": "automation.models.webhooks.WebhookDelivery.Status",
    },
    # The webhook bodies' JSON Schemas as components (automation/webhooks/schema.py).
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "automation.webhooks.schema.add_webhook_components",
    ],
}

# --- Celery ---------------------------------------------------------------------------------

REDIS_URL = env.str("REDIS_URL", default="")
# Storefront product cards and list pages (catalog.storefront_cache). Without a Redis that every
# process shares there is no cache: the pages are built from PostgreSQL each time.
STOREFRONT_CACHE_URL = env.str("STOREFRONT_CACHE_URL", default=REDIS_URL)
STOREFRONT_CACHE_TTL = env.int("STOREFRONT_CACHE_TTL", default=3600)  # seconds, at most
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=REDIS_URL or "filesystem://")
BROKER_DIR = VAR_DIR / "broker"
CELERY_TASK_TIME_LIMIT = 600
CELERY_TASK_SOFT_TIME_LIMIT = 540
if CELERY_BROKER_URL.startswith("filesystem://"):
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(BROKER_DIR / "queue"),
        "data_folder_out": str(BROKER_DIR / "queue"),
        "processed_folder": str(BROKER_DIR / "processed"),
        "control_folder": str(BROKER_DIR / "control"),
        "store_processed": False,
    }
    for folder in ("queue", "processed", "control"):
        (BROKER_DIR / folder).mkdir(parents=True, exist_ok=True)
else:
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        # Longer than any task may run, or a slow task would be handed to a second worker.
        "visibility_timeout": 2 * CELERY_TASK_TIME_LIMIT + 600,
        "socket_connect_timeout": 2,
        "socket_timeout": 5,
    }
if CELERY_BROKER_URL.startswith("redis://"):
    # kombu's Redis transport, fixed so that a broker outage cannot stop the worker with
    # "Unrecoverable error: AttributeError(... 'hostname')" (celery 5.7.0; see commerce/broker.py).
    CELERY_BROKER_TRANSPORT = "commerce.broker:RedisTransport"
# Publishing after commit must never hold a request: the outbox relay covers a failed publish.
OUTBOX_PUBLISH_TIMEOUT = env.float("OUTBOX_PUBLISH_TIMEOUT", default=1.0)
OUTBOX_RELAY_GRACE_SECONDS = env.int("OUTBOX_RELAY_GRACE_SECONDS", default=30)
OUTBOX_RELAY_BATCH = env.int("OUTBOX_RELAY_BATCH", default=500)
# An event whose consumers failed this many times is dead-lettered: shown in the admin, which can
# retry it, and no longer taken by the relay.
OUTBOX_MAX_ATTEMPTS = env.int("OUTBOX_MAX_ATTEMPTS", default=10)

CELERY_TASK_ACKS_LATE = True
# Celery's Django fix-up would close every database connection around every task; connections
# follow CONN_MAX_AGE instead (commerce/celery.py). The fix-up still recycles them after this
# many tasks.
CELERY_DB_REUSE_MAX = 10_000
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# --- Automation rules (automation/rules; docs/automation.md) ----------------------------------

# A cart with contact details idle this long, with no order, is abandoned (cart.abandoned).
AUTOMATION_CART_IDLE_MINUTES = env.int("AUTOMATION_CART_IDLE_MINUTES", default=60)
# Loop guard: a run caused (through events) by this many runs before it is refused; and a rule
# runs at most this many times for one subject in ten minutes.
AUTOMATION_MAX_CAUSATION_DEPTH = env.int("AUTOMATION_MAX_CAUSATION_DEPTH", default=3)
AUTOMATION_MAX_RUNS_PER_SUBJECT_10MIN = 3
AUTOMATION_KEEP_SUCCEEDED_DAYS = env.int("AUTOMATION_KEEP_SUCCEEDED_DAYS", default=90)
AUTOMATION_KEEP_FAILED_DAYS = env.int("AUTOMATION_KEEP_FAILED_DAYS", default=180)
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_IGNORE_RESULT = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# On a lost broker connection, tasks already running finish (they are idempotent: a redelivery
# has no second effect) rather than being killed; chosen explicitly, as Celery 6 changes the
# default, and its cancelling path has a crash of its own on reconnect (celery/celery#9250).
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = False
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
# Defaults that django-celery-beat copies into the database; staff edit them in the admin.
CELERY_BEAT_SCHEDULE = {
    "relay-outbox": {"task": "commerce.relay_outbox", "schedule": 15.0},
    "expire-cart-holds": {"task": "inventory.expire_cart_holds", "schedule": 60.0},
    "recompute-customer-segments": {
        "task": "customers.recompute_segments",
        "schedule": crontab(minute=30, hour=3),
    },
    "expire-loyalty-points": {
        "task": "customers.expire_points",
        "schedule": crontab(minute=15, hour=3),
    },
    "finish-unfinished-payments": {"task": "orders.finish_unfinished_payments", "schedule": 300.0},
    "detect-late-fulfilments": {"task": "orders.detect_late_fulfilments", "schedule": 600.0},
    "flag-uncollected-pickups": {
        "task": "orders.flag_uncollected_pickups",
        "schedule": crontab(minute=5),
    },
    "purge-idempotency-keys": {
        "task": "orders.purge_idempotency_keys",
        "schedule": crontab(minute=45, hour=3),
    },
    # Messages and webhook deliveries whose hand-off was lost, deferred or retried come due.
    "send-due-messages": {"task": "automation.send_due_messages", "schedule": 30.0},
    "deliver-due-webhooks": {"task": "automation.deliver_due_webhooks", "schedule": 15.0},
    "prune-webhook-attempts": {
        "task": "automation.prune_webhook_attempts",
        "schedule": crontab(minute=50, hour=3),
    },
    # Automation rules: waiting runs that are due, computed triggers, schedules, retention.
    "automation-run-due": {"task": "automation.run_due", "schedule": 10.0},
    "automation-sweep-abandoned-carts": {
        "task": "automation.sweep_abandoned_carts",
        "schedule": 60.0,
    },
    "automation-time-rules": {"task": "automation.time_rules", "schedule": 60.0},
    "automation-prune-runs": {
        "task": "automation.prune_runs",
        "schedule": crontab(minute=55, hour=3),
    },
    # Beat's and a worker's sign of life for /health/ready/ (commerce/health.py).
    "record-heartbeat": {"task": "commerce.record_heartbeat", "schedule": 30.0},
}
# Messages and webhooks have queues of their own: a slow mail server or receiver fills its own
# queue and never delays event dispatch or checkout. A worker started without -Q takes all
# three; production may run one worker per queue (docker-compose.yml).
CELERY_TASK_DEFAULT_QUEUE = "celery"
CELERY_TASK_QUEUES = {"celery": {}, "messages": {}, "webhooks": {}}
CELERY_TASK_ROUTES = {
    "automation.send_message": {"queue": "messages"},
    "automation.send_due_messages": {"queue": "messages"},
    "automation.deliver_webhook": {"queue": "webhooks"},
    "automation.deliver_due_webhooks": {"queue": "webhooks"},
    "automation.prune_webhook_attempts": {"queue": "webhooks"},
}
# Celery logs through LOGGING below (JSON in production) instead of its own root handler.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False

# --- Health ---------------------------------------------------------------------------------

# /health/ready/ answers 503 when beat or a worker has not been heard of for this long (the
# heartbeat runs every 30 s), or an event has been due for dispatch this long (the relay runs
# every 15 s: it is stuck, or the workers cannot keep up).
HEALTH_HEARTBEAT_MAX_AGE_SECONDS = env.int("HEALTH_HEARTBEAT_MAX_AGE_SECONDS", default=120)
HEALTH_OUTBOX_MAX_DELAY_SECONDS = env.int("HEALTH_OUTBOX_MAX_DELAY_SECONDS", default=300)
# Each dependency's probe gives up after this long.
HEALTH_CHECK_TIMEOUT_SECONDS = env.float("HEALTH_CHECK_TIMEOUT_SECONDS", default=3.0)

# --- Logging --------------------------------------------------------------------------------

# One JSON object per line in production (for a log collector), plain text with DEBUG; every
# line carries the id of the request (X-Request-ID) or Celery task it belongs to.
LOG_FORMAT = env.str("LOG_FORMAT", default="plain" if DEBUG else "json")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "commerce.log.RequestIdFilter"}},
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s]: %(message)s"},
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
            "timestamp": False,
        },
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": LOG_FORMAT,
            "filters": ["request_id"],
        }
    },
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        "django.db.backends": {"level": "INFO"},
        # A failing check is reported once by commerce.health, without a traceback per check.
        "health_check": {"level": "ERROR"},
    },
}

# --- Error reporting ------------------------------------------------------------------------

# Off unless SENTRY_DSN is set: any Sentry-compatible service (Sentry, GlitchTip, ...) takes
# the web's and the workers' unhandled errors. No personal data is sent.
SENTRY_DSN = env.str("SENTRY_DSN", default="")
SENTRY_ENVIRONMENT = env.str("SENTRY_ENVIRONMENT", default="development" if DEBUG else "production")
SENTRY_TRACES_SAMPLE_RATE = env.float("SENTRY_TRACES_SAMPLE_RATE", default=0.0)
if SENTRY_DSN:
    import sentry_sdk
    from sentry_sdk.integrations.celery import CeleryIntegration
    from sentry_sdk.integrations.django import DjangoIntegration

    sentry_sdk.init(
        dsn=SENTRY_DSN,
        environment=SENTRY_ENVIRONMENT,
        release=env.str("SENTRY_RELEASE", default="") or None,
        traces_sample_rate=SENTRY_TRACES_SAMPLE_RATE,
        send_default_pii=False,
        integrations=[DjangoIntegration(), CeleryIntegration()],
    )

# --- Product settings -----------------------------------------------------------------------

CATALOG_IMPORT_CHUNK_SIZE = env.int("CATALOG_IMPORT_CHUNK_SIZE", default=1000)
# How long a cart's stock hold lasts once checkout starts.
INVENTORY_CART_HOLD_SECONDS = env.int("INVENTORY_CART_HOLD_SECONDS", default=15 * 60)
# Waiting for a stock row lock longer than this fails fast and is retried, a few times.
INVENTORY_LOCK_TIMEOUT_MS = env.int("INVENTORY_LOCK_TIMEOUT_MS", default=2000)
INVENTORY_LOCK_RETRIES = env.int("INVENTORY_LOCK_RETRIES", default=5)
# Demand window for replenishment suggestions.
INVENTORY_DEMAND_WINDOW_DAYS = env.int("INVENTORY_DEMAND_WINDOW_DAYS", default=28)

# Customers: a phone number typed without a country code is read as one of this region.
CUSTOMERS_DEFAULT_PHONE_REGION = env.str("CUSTOMERS_DEFAULT_PHONE_REGION", default="JP")
# The storefront page that finishes a password reset; {uid} and {token} are filled in.
CUSTOMERS_PASSWORD_RESET_URL = env.str(
    "CUSTOMERS_PASSWORD_RESET_URL",
    default="http://localhost:8000/account/reset-password/?uid={uid}&token={token}",
)
# The storefront page that confirms an account for an e-mail that ordered as a guest; {token}.
CUSTOMERS_CONFIRM_URL = env.str(
    "CUSTOMERS_CONFIRM_URL",
    default="http://localhost:8000/account/confirm/?token={token}",
)
PASSWORD_RESET_TIMEOUT = env.int("PASSWORD_RESET_TIMEOUT", default=2 * 60 * 60)
# Churn risk: silent for longer than FACTOR x the customer's own average gap between orders
# (never less than MIN_DAYS); one-time buyers after SINGLE_ORDER_DAYS.
CUSTOMERS_CHURN_RHYTHM_FACTOR = env.float("CUSTOMERS_CHURN_RHYTHM_FACTOR", default=2.0)
CUSTOMERS_CHURN_MIN_DAYS = env.int("CUSTOMERS_CHURN_MIN_DAYS", default=30)
CUSTOMERS_CHURN_SINGLE_ORDER_DAYS = env.int("CUSTOMERS_CHURN_SINGLE_ORDER_DAYS", default=180)
# Where the links in e-mails point (unsubscribe): the public address of this server.
SITE_URL = env.str("SITE_URL", default="http://localhost:8000")

# Orders: how tax is rounded to the minor unit, per currency ("*": the others). JPY rounds down,
# as most Japanese merchants print it; see orders/pricing.py.
ORDERS_TAX_ROUNDING = {
    "JPY": env.str("ORDERS_TAX_ROUNDING_JPY", default="ROUND_DOWN"),
    "*": env.str("ORDERS_TAX_ROUNDING", default="ROUND_HALF_UP"),
}
ORDERS_SHIPPING_TAX_CLASS = env.str("ORDERS_SHIPPING_TAX_CLASS", default="standard")
# Checkout: how long completing a checkout holds the stock while the gateway answers (longer
# than the gateway's slowest answer), how long an Idempotency-Key's response is kept, and how
# long a request may run before a retry with its key is allowed to take over (its process died).
ORDERS_CHECKOUT_HOLD_SECONDS = env.int("ORDERS_CHECKOUT_HOLD_SECONDS", default=120)
ORDERS_IDEMPOTENCY_TTL_HOURS = env.int("ORDERS_IDEMPOTENCY_TTL_HOURS", default=24)
ORDERS_IDEMPOTENCY_LEASE_SECONDS = env.int("ORDERS_IDEMPOTENCY_LEASE_SECONDS", default=60)
# Card payments: "capture" charges at checkout; "authorize" only reserves the amount, and staff
# (or fulfilment) capture it later.
ORDERS_CARD_CAPTURE = env.str("ORDERS_CARD_CAPTURE", default="capture")
# The payment provider's code: a gateway registered by an app (see orders/gateways.py and the
# README's Production section). "test" is the built-in test gateway, which takes made-up card
# tokens: it exists only with DEBUG on or ORDERS_ALLOW_TEST_GATEWAY=1 (the test suite, a
# staging set-up), and a server with DEBUG off refuses to start on it otherwise.
ORDERS_GATEWAY = env.str("ORDERS_GATEWAY", default="test")
ORDERS_ALLOW_TEST_GATEWAY = env.bool("ORDERS_ALLOW_TEST_GATEWAY", default=False)
ORDERS_TEST_GATEWAY_ENABLED = DEBUG or ORDERS_ALLOW_TEST_GATEWAY
# The test gateway signs its notifications with this secret (HMAC-SHA256 of the body).
_DEVELOPMENT_TEST_GATEWAY_SECRET = "test-gateway-secret"
# (An empty value, as docker-compose passes an unset variable, counts as unset.)
ORDERS_TEST_GATEWAY_SECRET = (
    env.str("ORDERS_TEST_GATEWAY_SECRET", default="") or _DEVELOPMENT_TEST_GATEWAY_SECRET
)
if not ORDERS_TEST_GATEWAY_ENABLED and ORDERS_GATEWAY == "test":
    raise ImproperlyConfigured(
        "ORDERS_GATEWAY is the built-in test gateway while DEBUG is off: it accepts made-up "
        "cards. Set ORDERS_GATEWAY to your payment provider's gateway (see the README's "
        "Production section), or set ORDERS_ALLOW_TEST_GATEWAY=1 for a test or staging "
        "server, or DEBUG=1 for local development."
    )
# Seconds the test gateway's `tok_slow` card waits before answering (tests of locking).
ORDERS_TEST_GATEWAY_SLOW_SECONDS = env.float("ORDERS_TEST_GATEWAY_SLOW_SECONDS", default=3.0)
# Orders are numbered from here upward (the order's id added), in every channel.
ORDERS_NUMBER_START = env.int("ORDERS_NUMBER_START", default=100000)
# A pickup order not collected this many days after it was ready is flagged for follow-up.
ORDERS_PICKUP_COLLECT_DAYS = env.int("ORDERS_PICKUP_COLLECT_DAYS", default=7)
# Card testing: declined card payments allowed per cart, per client address (in a window) and
# per card token (in a window) before checkout refuses with 429 without calling the gateway.
# Counted from the database (orders.PaymentAttempt), so they hold while Redis is down.
ORDERS_DECLINES_PER_CART = env.int("ORDERS_DECLINES_PER_CART", default=3)
ORDERS_DECLINES_PER_CLIENT = env.int("ORDERS_DECLINES_PER_CLIENT", default=10)
ORDERS_DECLINES_CLIENT_WINDOW_SECONDS = env.int(
    "ORDERS_DECLINES_CLIENT_WINDOW_SECONDS", default=3600
)
ORDERS_DECLINES_PER_TOKEN = env.int("ORDERS_DECLINES_PER_TOKEN", default=3)
ORDERS_DECLINES_TOKEN_WINDOW_SECONDS = env.int(
    "ORDERS_DECLINES_TOKEN_WINDOW_SECONDS", default=86400
)
