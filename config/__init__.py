"""Configuration classes, read from the environment (12-factor).

`create_app()` picks a class by the `APP_CONFIG` variable (`development`, the
default, `testing` or `production`) unless one is passed in. Every setting the
contract names can be overridden by an environment variable of the same name.
"""
from __future__ import annotations

import ipaddress
import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
INSTANCE_DIR = ROOT / "instance"

# Values once committed here as development defaults. They are public, so no configuration
# accepts them any more: no committed key may ever encrypt data.
DEV_SECRET_KEY = "dev-secret-key-not-for-production"
DEV_DATA_ENCRYPTION_KEY = "ZGV2LWRhdGEta2V5LW5vdC1mb3ItcHJvZHVjdGlvbiE="
PUBLIC_VALUES = {"SECRET_KEY": DEV_SECRET_KEY, "DATA_ENCRYPTION_KEY": DEV_DATA_ENCRYPTION_KEY}
# `make run` writes fresh development keys here on first run (mode 0600) and reuses them.
KEYS_FILE_NAME = "keys.env"
SECRET_NAMES = ("SECRET_KEY", "DATA_ENCRYPTION_KEY")


def keys_file() -> Path:
    return INSTANCE_DIR / KEYS_FILE_NAME


def read_keys_file(path: Path) -> dict:
    values = {}
    for line in path.read_text().splitlines():
        name, sep, value = line.partition("=")
        if sep and name.strip() in SECRET_NAMES:
            values[name.strip()] = value.strip()
    return values


def generate_keys_file(path: Path | None = None) -> Path:
    """Write fresh SECRET_KEY and DATA_ENCRYPTION_KEY to instance/keys.env (0600) unless it exists."""
    import secrets

    from cryptography.fernet import Fernet

    path = path or keys_file()
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    content = (f"SECRET_KEY={secrets.token_urlsafe(48)}\n"
               f"DATA_ENCRYPTION_KEY={Fernet.generate_key().decode()}\n")
    # Created 0600 from the start: the keys are never readable by others, not even for an instant.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(content)
    return path


class ConfigError(RuntimeError):
    """The configuration cannot run: the message names the setting."""


def _env(name: str, default=None):
    value = os.environ.get(name)
    return default if value in (None, "") else value


def normalise_database_url(url: str) -> str:
    """Accept the usual `postgres://` and `postgresql://` spellings and use psycopg 3."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://"):]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    return url


class BaseConfig:
    ENV_NAME = "base"
    TESTING = False
    # No defaults: from the environment, or (development) instance/keys.env written by `make run`.
    SECRET_KEY = None
    DATA_ENCRYPTION_KEY = None
    # Key for the keyed hashes used to find encrypted values (phone numbers,
    # names). Optional: derived from the oldest DATA_ENCRYPTION_KEY when unset.
    DATA_INDEX_KEY = None
    DATABASE_URL = f"sqlite:///{INSTANCE_DIR / 'helpline.sqlite'}"
    PUBLIC_BASE_URL = None
    TWILIO_API_BASE_URL = None
    LOG_LEVEL = "INFO"

    # Requests larger than this get 413 before any view runs.
    MAX_CONTENT_LENGTH = 1024 * 1024
    API_TOKEN_TTL_HOURS = 12
    # Tokens printed by `users token` and `demo seed`, for scripts and the demo.
    CLI_TOKEN_TTL_DAYS = 30
    # Reverse proxies in front of the app whose X-Forwarded-* headers are trusted.
    PROXY_FIX_HOPS = 0
    # Valid, signed Twilio webhooks (messaging, status, Conversations) answered by app/channels/front.py, without
    # Flask's request cycle (everything else goes to the routes). Off: the routes answer every webhook.
    TWILIO_WEBHOOK_FRONT = True
    # argon2 cost; the testing config lowers it so the suite stays fast.
    PASSWORD_HASH_TIME_COST = 3
    PASSWORD_HASH_MEMORY_COST = 65536

    # Where flask-limiter keeps its counters. memory:// is per process: with several workers
    # each keeps its own count (4 workers, 4 times the limit), so production needs Redis
    # (redis://host:6379/0) and refuses to start without RATELIMIT_STORAGE_URI set.
    RATELIMIT_STORAGE_URI = "memory://"
    RATELIMIT_HEADERS_ENABLED = True
    # Failed logins: one email from one address; one address across emails; one account across
    # addresses, where each longer window is a step of back-off after the shorter one.
    LOGIN_RATE_LIMIT = "5 per 5 minutes"
    LOGIN_ADDRESS_RATE_LIMIT = "20 per 5 minutes;60 per hour"
    LOGIN_ACCOUNT_RATE_LIMIT = "10 per 15 minutes;20 per hour;40 per day"
    # Per client address.
    WEBCHAT_SESSION_RATE_LIMIT = "20 per minute"
    WEBCHAT_MESSAGE_RATE_LIMIT = "120 per minute"
    # Where signed webhooks wait while the database is down (replayed when it is back).
    WEBHOOK_SPOOL_DIR = str(INSTANCE_DIR / "spool")
    # Case attachments, each file Fernet-encrypted with the data key (never plaintext on disk).
    ATTACHMENTS_DIR = str(INSTANCE_DIR / "attachments")

    # Threads per process sending outbound messages after their commit (0: in the committing thread).
    OUTBOUND_SENDER_THREADS = 4

    # A web chat session token stops working this long after the chat ended.
    WEBCHAT_TOKEN_GRACE_MIN = 15

    # Live event streams (README, Live events). Each open stream holds one gunicorn thread, so a
    # process serves at most this many and answers 503 with Retry-After past it, keeping the rest
    # of its threads (gunicorn --threads) for ordinary requests. make run: 64 threads, 48 streams.
    EVENT_STREAMS_PER_PROCESS = 48
    # Frames waiting for one slow client before its stream is closed (it reconnects and replays).
    EVENT_STREAM_BACKLOG = 5000
    EVENT_PING_S = 15.0
    # SQLite has no LISTEN: the relay polls the outbox this often.
    EVENT_POLL_S = 0.25
    # Events are kept this long for Last-Event-ID replay (the contract asks for at least 24 h).
    EVENT_RETENTION_H = 48
    EVENT_TICKET_TTL_S = 60
    # How often a waiting visitor's queue position is refreshed.
    EVENT_VISITOR_REFRESH_S = 5.0
    # One relay thread per process; tests drive it by hand.
    EVENT_RELAY_THREAD = True
    # PostgreSQL: the NOTIFY after a commit is sent by a thread of its own (app/core/commit_notify.py);
    # tests send it from the committing thread.
    EVENT_NOTIFY_THREAD = True
    # ...and at most one every this many ms per process: the commits of a busy spell share a NOTIFY.
    EVENT_NOTIFY_INTERVAL_MS = 20
    # A relay (PostgreSQL) begins a pump at most once every this many ms: in a busy spell one pump
    # serves the commits of the whole gap; after a quiet one an event is fetched at once.
    EVENT_RELAY_GAP_MS = 50

    # Private networks (comma-separated CIDRs) that user-chosen URLs such as export deliveries may reach.
    # Empty: public internet addresses only. Operator configuration, never a helpline setting.
    OUTBOUND_ALLOWED_NETWORKS = ""

    # work_mem for the statistics query (PostgreSQL), per query and worker.
    STATS_WORK_MEM_MB = 64

    # Run APScheduler inside the web process (make run does); production runs
    # `flask --app wsgi scheduler run` as its own process instead.
    SCHEDULER_IN_PROCESS = False

    SQLALCHEMY_TRACK_MODIFICATIONS = False
    # hide_parameters: database errors never carry stored values into logs.
    # No pre-ping: it costs a round trip per request; a dropped connection fails
    # one request and is replaced (pool_recycle retires old ones).
    SQLALCHEMY_ENGINE_OPTIONS: dict = {"hide_parameters": True, "pool_recycle": 1800}
    # PostgreSQL connections kept open per process (as many again may open for a burst).
    DATABASE_POOL_SIZE = 16

    API_TITLE = "Helpline backend"
    API_VERSION = "v1"
    OPENAPI_VERSION = "3.0.3"
    OPENAPI_URL_PREFIX = "/api"
    OPENAPI_JSON_PATH = "v1/openapi.json"
    OPENAPI_SWAGGER_UI_PATH = "docs"
    # Served by app/core/docs.py from the installed swagger-ui-bundle package: no CDN.
    OPENAPI_SWAGGER_UI_URL = "/api/docs/assets/"

    @classmethod
    def from_env(cls) -> dict:
        """The settings of this class, with environment overrides applied."""
        settings = {k: getattr(cls, k) for k in dir(cls) if k.isupper()}
        for name in (
            "SECRET_KEY", "DATA_ENCRYPTION_KEY", "DATA_INDEX_KEY", "DATABASE_URL",
            "PUBLIC_BASE_URL", "TWILIO_API_BASE_URL", "LOG_LEVEL", "RATELIMIT_STORAGE_URI", "OUTBOUND_ALLOWED_NETWORKS",
            "WEBHOOK_SPOOL_DIR", "ATTACHMENTS_DIR",
        ):
            settings[name] = _env(name, settings[name])
        if _env("PROXY_FIX_HOPS") is not None:
            settings["PROXY_FIX_HOPS"] = int(_env("PROXY_FIX_HOPS"))
        for name in ("EVENT_STREAMS_PER_PROCESS", "EVENT_RETENTION_H", "EVENT_NOTIFY_INTERVAL_MS", "EVENT_RELAY_GAP_MS"):
            if _env(name) is not None:
                settings[name] = int(_env(name))
        if settings["EVENT_RETENTION_H"] < 24:
            raise ConfigError("EVENT_RETENTION_H must be at least 24: clients replay a day of events")
        for name in ("SCHEDULER_IN_PROCESS", "TWILIO_WEBHOOK_FRONT"):
            if _env(name) is not None:
                settings[name] = _env(name).lower() in ("1", "true", "yes")
        try:
            for network in (settings["OUTBOUND_ALLOWED_NETWORKS"] or "").split(","):
                if network.strip():
                    ipaddress.ip_network(network.strip(), strict=False)
        except ValueError:
            raise ConfigError("OUTBOUND_ALLOWED_NETWORKS must be comma-separated CIDRs, such as 10.20.0.0/16") from None
        settings["DATABASE_URL"] = normalise_database_url(settings["DATABASE_URL"])
        settings["SQLALCHEMY_DATABASE_URI"] = settings["DATABASE_URL"]
        if settings["DATABASE_URL"].startswith("postgresql"):
            # A worker's many threads (streams read the database now and then, requests every time)
            # must not churn connections: past the pool, SQLAlchemy opens and closes one per use,
            # and each costs PostgreSQL a new backend process.
            pool = int(_env("DATABASE_POOL_SIZE", settings["DATABASE_POOL_SIZE"]))
            settings["SQLALCHEMY_ENGINE_OPTIONS"] = {**settings["SQLALCHEMY_ENGINE_OPTIONS"],
                                                     "pool_size": pool, "max_overflow": pool}
        if settings["PUBLIC_BASE_URL"]:
            settings["PUBLIC_BASE_URL"] = settings["PUBLIC_BASE_URL"].rstrip("/")
        cls.fill_secrets(settings)
        cls.check_secrets(settings)
        cls.check(settings)
        return settings

    @classmethod
    def fill_secrets(cls, settings: dict) -> None:
        """Where keys come from when the environment has none (only development has a place)."""

    @classmethod
    def check_secrets(cls, settings: dict) -> None:
        for name in SECRET_NAMES:
            value = settings.get(name)
            if not value:
                raise ConfigError(
                    f"{name} is not set. Set it in the environment (see README, Production), or for development "
                    "run `make run` once (or `python -m config.keys`), which writes fresh keys to instance/keys.env."
                )
            if PUBLIC_VALUES[name] in str(value).split(","):
                raise ConfigError(f"{name} is the public development default that was once committed; "
                                  "set a secret of your own")

    @classmethod
    def check(cls, settings: dict) -> None:
        """Refuse settings this environment must not run with."""


class DevelopmentConfig(BaseConfig):
    ENV_NAME = "development"

    @classmethod
    def fill_secrets(cls, settings: dict) -> None:
        path = keys_file()
        if path.exists():
            for name, value in read_keys_file(path).items():
                settings[name] = settings.get(name) or value


def _fresh_test_keys() -> dict:
    import secrets

    from cryptography.fernet import Fernet

    return {"SECRET_KEY": secrets.token_urlsafe(48), "DATA_ENCRYPTION_KEY": Fernet.generate_key().decode()}


_TEST_PROCESS_KEYS = _fresh_test_keys()
_TEST_DIRS: dict[str, str] = {}


def _test_dir(purpose: str) -> str:
    """A temporary folder per test process and purpose (spool, attachments)."""
    if purpose not in _TEST_DIRS:
        import tempfile

        _TEST_DIRS[purpose] = tempfile.mkdtemp(prefix=f"helpline-{purpose}-")
    return _TEST_DIRS[purpose]


class TestingConfig(BaseConfig):
    ENV_NAME = "testing"
    TESTING = True
    DATABASE_URL = "sqlite://"
    PASSWORD_HASH_TIME_COST = 1
    PASSWORD_HASH_MEMORY_COST = 1024
    PUBLIC_BASE_URL = "https://helpline.test"

    @classmethod
    def fill_secrets(cls, settings: dict) -> None:
        # Fresh for each test process, never committed: what the suite encrypts dies with it.
        for name, value in _TEST_PROCESS_KEYS.items():
            settings[name] = settings.get(name) or value

    @classmethod
    def from_env(cls) -> dict:
        settings = super().from_env()
        # Tests choose their database with TEST_DATABASE_URL, never DATABASE_URL,
        # so a developer's real database is never touched by the suite.
        url = _env("TEST_DATABASE_URL", cls.DATABASE_URL)
        settings["DATABASE_URL"] = settings["SQLALCHEMY_DATABASE_URI"] = normalise_database_url(url)
        settings["PUBLIC_BASE_URL"] = cls.PUBLIC_BASE_URL
        settings["TWILIO_API_BASE_URL"] = None
        settings["RATELIMIT_STORAGE_URI"] = "memory://"
        settings["SCHEDULER_IN_PROCESS"] = False
        # Sends happen in the committing thread, so tests see them at once.
        settings["OUTBOUND_SENDER_THREADS"] = 0
        settings["EVENT_RELAY_THREAD"] = False
        settings["EVENT_NOTIFY_THREAD"] = False
        settings["EVENT_PING_S"] = 0.5
        settings["EVENT_POLL_S"] = 0.02
        # Each test process spools to a folder of its own; tests replay it themselves.
        settings["WEBHOOK_SPOOL_DIR"] = _test_dir("spool")
        settings["ATTACHMENTS_DIR"] = _test_dir("attachments")
        settings["WEBHOOK_SPOOL_REPLAYER"] = False
        return settings


class ProductionConfig(BaseConfig):
    ENV_NAME = "production"
    # Must be set: redis://... for several workers, or memory:// knowingly for a single process.
    RATELIMIT_STORAGE_URI = None

    @classmethod
    def check(cls, settings: dict) -> None:
        if len(settings["SECRET_KEY"]) < 32:
            raise ConfigError("SECRET_KEY is too short; use at least 32 random characters")
        if not settings["RATELIMIT_STORAGE_URI"]:
            raise ConfigError("RATELIMIT_STORAGE_URI is not set; use redis://host:6379/0 so that every worker shares "
                              "the rate-limit counters (memory:// keeps them per process: set it explicitly only "
                              "for a single process)")


CONFIGS = {
    "development": DevelopmentConfig,
    "testing": TestingConfig,
    "production": ProductionConfig,
}


def load_config(config=None) -> dict:
    """Resolve `config` (a class, a name, a dict or None) to a settings dict."""
    if isinstance(config, dict):
        base = load_config(config.get("APP_CONFIG"))
        base.update(config)
        if "DATABASE_URL" in config:
            base["SQLALCHEMY_DATABASE_URI"] = normalise_database_url(config["DATABASE_URL"])
        return base
    if config is None:
        config = _env("APP_CONFIG", "development")
    if isinstance(config, str):
        try:
            config = CONFIGS[config]
        except KeyError:
            raise ConfigError(f"APP_CONFIG={config!r} is not one of {', '.join(CONFIGS)}") from None
    return config.from_env()
