"""Settings, all from the environment with development defaults.

Every variable is listed in README.md's configuration table.
"""

import os
import secrets
from pathlib import Path

import dj_database_url

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("EVENTHUB_VAR_DIR", BASE_DIR / "var"))
VAR_DIR.mkdir(parents=True, exist_ok=True)


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_float(name: str, default: float) -> float:
    return float(os.environ.get(name, default))


def env_int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


DEBUG = env_bool("DJANGO_DEBUG", False)


def _secret_key() -> str:
    """SECRET_KEY from the environment, else one generated once per checkout (never committed)."""
    if key := os.environ.get("DJANGO_SECRET_KEY"):
        return key
    path = VAR_DIR / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


SECRET_KEY = _secret_key()
ALLOWED_HOSTS = [
    h.strip()
    for h in os.environ.get("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost,[::1],testserver").split(
        ","
    )
    if h.strip()
]
# The dashboard's JSON endpoints answer a CSRF refusal in JSON; pages keep Django's HTML page.
CSRF_FAILURE_VIEW = "eventhub.http.csrf_failure"
CSRF_TRUSTED_ORIGINS = [
    o.strip() for o in os.environ.get("DJANGO_CSRF_TRUSTED_ORIGINS", "").split(",") if o.strip()
]

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "eventhub",
    "inventory",
    "orders",
    "orders.payments",
    "inventory.shipping",
    "notifications",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "eventhub.nul_guard.NulGuardMiddleware",  # before the session cookie is looked up
    "eventhub.pages.ContentSecurityPolicyMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "eventhub.middleware.CorrelationIdMiddleware",
]

# The benchmark (bin/bench) adds its naive peer view with eventhub.devtools.bench.urls.
ROOT_URLCONF = os.environ.get("EVENTHUB_ROOT_URLCONF", "eventhub.urls")
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
WSGI_APPLICATION = "eventhub.wsgi.application"
ASGI_APPLICATION = "eventhub.asgi.application"

# --- Database -------------------------------------------------------------------------------
# SQLite file by default (WAL, busy timeout, immediate transactions so concurrent writers
# queue instead of failing); PostgreSQL (or anything dj-database-url knows) via DATABASE_URL.
DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", f"sqlite:///{VAR_DIR / 'db.sqlite3'}"),
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 0),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Django's backend, waiting for the write lock fairly (eventhub/backends/sqlite3/base.py).
    DATABASES["default"]["ENGINE"] = "eventhub.backends.sqlite3"
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    # A file, not :memory:, so that worker subprocesses of the tests share it.
    DATABASES["default"]["TEST"] = {
        "NAME": os.environ.get("EVENTHUB_TEST_SQLITE", str(VAR_DIR / "test-db.sqlite3"))
    }

# The web process borrows PostgreSQL connections from a pool of at most this many
# (eventhub/db_pool.py); 0: a connection per request, as CONN_MAX_AGE says.
WEB_DB_POOL_SIZE = env_int("EVENTHUB_WEB_DB_POOL_SIZE", 8)

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True
# Admin dates and times to the second (eventhub/formats/en/formats.py).
FORMAT_MODULE_PATH = ["eventhub.formats"]

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STATICFILES_DIRS = [BASE_DIR / "eventhub" / "static"]
LOGIN_URL = "/admin/login/"
# daphne serves /static/ itself unless a proxy does (set false in production after collectstatic).
SERVE_STATIC = env_bool("EVENTHUB_SERVE_STATIC", True)

# The seed's API takes bodies of at most 64 KiB (R7): larger ones get 413.
DATA_UPLOAD_MAX_MEMORY_SIZE = 64 * 1024

# --- Redis, Celery, Channels ----------------------------------------------------------------
REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")

CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", REDIS_URL)
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = env_int("CELERY_WORKER_PREFETCH_MULTIPLIER", 1)
CELERY_TASK_DEFAULT_QUEUE = "eventhub"
# Publishing must fail fast when the broker is down: the relay re-dispatches later (R3).
CELERY_TASK_PUBLISH_RETRY = False
CELERY_BROKER_CONNECTION_TIMEOUT = env_float("CELERY_BROKER_CONNECTION_TIMEOUT", 2.0)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_TRANSPORT_OPTIONS = {
    # Unacked messages of a dead worker come back after this many seconds. No countdown is
    # ever given to Celery (retries are scheduled in the database), so nothing runs twice.
    "visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 3600),
    # How often a worker sweeps for messages whose worker died before acking them (and
    # whose visibility_timeout has passed). kombu's default is about every 100 s.
    "unacked_restore_interval": env_int("CELERY_UNACKED_RESTORE_INTERVAL", 10),
    "unacked_restore_throttle": 1,
    "socket_connect_timeout": 2,
    # A publisher tries the broker once: when it is down, the relay delivers later (R3),
    # instead of every web request waiting out kombu's reconnect back-off (2 s).
    "max_retries": 0,
    "socket_timeout": 5,
}
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
# What a task prints (the console mail backend's mails under ./bin/run) is logged at INFO as
# celery.redirected; Celery's default, WARNING, made every mail read as a warning.
CELERY_WORKER_REDIRECT_STDOUTS_LEVEL = "INFO"
# Keep a running handler going when the broker connection drops; its lease covers the rest.
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = False
CELERY_WORKER_SEND_TASK_EVENTS = False
# Celery's Django fixup closes the database connection before and after every task unless
# CELERY_DB_REUSE_MAX is set: a new PostgreSQL backend per delivery. Workers instead close
# connections the way Django does between requests (eventhub/celery.py: CONN_MAX_AGE, health
# checks, errors), with EVENTHUB_WORKER_CONN_MAX_AGE as the workers' CONN_MAX_AGE.
CELERY_DB_REUSE_MAX = 2**62
WORKER_CONN_MAX_AGE = env_int("EVENTHUB_WORKER_CONN_MAX_AGE", 60)

# A consumer waits for its messages with channels_redis's blocking read, BZPOPMIN of
# RedisChannelLayer.brpop_timeout (5 s). redis-py 8 gives a connection a 5 s socket timeout
# by default, so every socket that heard nothing for 5 s timed out on that read: daphne logged
# redis.exceptions.TimeoutError and closed it (1011). The layer's reads wait 3x the blocking
# read instead, connects still fail fast, and TCP keepalive notices a vanished server.
CHANNEL_LAYER_SOCKET_TIMEOUT = 15.0
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {
            "hosts": [
                {
                    "address": os.environ.get("CHANNEL_LAYER_URL", REDIS_URL),
                    "socket_timeout": CHANNEL_LAYER_SOCKET_TIMEOUT,
                    "socket_connect_timeout": 2.0,
                    "socket_keepalive": True,
                }
            ]
        },
    }
}

# --- The event bus --------------------------------------------------------------------------
EVENTHUB = {
    # Time limit of a handler that declares none; its worker is killed past it.
    "DEFAULT_TIMEOUT_SECONDS": env_float("EVENTHUB_DEFAULT_TIMEOUT_SECONDS", 60.0),
    # A running delivery holds a lease of its timeout plus this grace; once the lease runs out
    # the relay takes its worker for dead and schedules the next attempt.
    "LEASE_GRACE_SECONDS": env_float("EVENTHUB_LEASE_GRACE_SECONDS", 10.0),
    # A dispatched delivery not started within this many seconds is dispatched again.
    "REDISPATCH_AFTER_SECONDS": env_float("EVENTHUB_REDISPATCH_AFTER_SECONDS", 600.0),
    # Redis counting each delivery's handler starts (a process dying mid-handler leaves only
    # that count behind); default: REDIS_URL. Unreachable: claims commit before the handler.
    "START_COUNTER_URL": os.environ.get("EVENTHUB_START_COUNTER_URL", ""),
    # How often the relay looks for undispatched, due and abandoned deliveries.
    "RELAY_INTERVAL_SECONDS": env_float("EVENTHUB_RELAY_INTERVAL_SECONDS", 0.5),
    "RELAY_BATCH_SIZE": env_int("EVENTHUB_RELAY_BATCH_SIZE", 500),
    # Multiplies every retry delay: tests and demos shrink the backoff schedule with it.
    "RETRY_DELAY_SCALE": env_float("EVENTHUB_RETRY_DELAY_SCALE", 1.0),
    # Link from the admin to a trace viewer, e.g. Jaeger: http://localhost:16686/trace/{trace_id}
    "TRACE_URL_TEMPLATE": os.environ.get("EVENTHUB_TRACE_URL_TEMPLATE", ""),
    # Modules whose install() registers extra events and subscribers (tests' chaos probes).
    "PLUGINS": [m for m in os.environ.get("EVENTHUB_PLUGINS", "").split(",") if m.strip()],
    # Chaos hooks, off by default: the probability that a process SIGKILLs itself after a
    # commit and before dispatching, and whether every delivery is dispatched twice.
    "CHAOS_CRASH_BEFORE_DISPATCH": env_float("EVENTHUB_CHAOS_CRASH_BEFORE_DISPATCH", 0.0),
    "CHAOS_DUPLICATE_DISPATCH": env_bool("EVENTHUB_CHAOS_DUPLICATE_DISPATCH", False),
    # The shop's currency sign: the seed's catalog prices (6999, 14999, 1999) are yuan.
    "CURRENCY": os.environ.get("EVENTHUB_CURRENCY", "¥"),
    # Dead letters requeued per second by a batch retry from the admin.
    "RETRY_RATE_PER_SECOND": env_int("EVENTHUB_RETRY_RATE_PER_SECOND", 50),
    # Metrics (GET /metrics, OpenTelemetry meters); false: no meters, /metrics answers 404.
    "METRICS": env_bool("EVENTHUB_METRICS", True),
    # Bearer token of GET /metrics (a staff session works too); empty refuses every bearer.
    "METRICS_TOKEN": os.environ.get("EVENTHUB_METRICS_TOKEN", ""),
}

# --- Mail -----------------------------------------------------------------------------------
EMAIL_BACKEND = os.environ.get("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
EMAIL_FILE_PATH = os.environ.get("EMAIL_FILE_PATH", str(VAR_DIR / "mail"))
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "shop@eventhub.example")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "filters": {"one_line_refusals": {"()": "eventhub.refusals.OneLineRefusals"}},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # A 403 is one line (who, what, where), not a traceback (eventhub/refusals.py).
        "django.request": {"filters": ["one_line_refusals"]},
    },
}
