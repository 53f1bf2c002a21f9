"""The application factory."""
from __future__ import annotations

from flask import Flask, g
from werkzeug.middleware.proxy_fix import ProxyFix

from config import load_config


class HelplineFlask(Flask):
    """Flask, retrying a request once when it met a dead pooled connection (the database restarted).

    The pool is discarded when that is detected, so the retry gets a fresh connection. Only a
    request that has committed nothing is retried (app/core/events.py keeps that flag, for the
    request's session and for statements autocommitted beside it): the retry cannot do anything twice.

    Also: ensure_sync remembers its answer per function. Flask asks it of every hook and view on
    every request (inspect.iscoroutinefunction, 16 times for a webhook) and ours never change kind."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._sync_checked: dict = {}

    def ensure_sync(self, func):
        try:
            return self._sync_checked[func]
        except (KeyError, TypeError):  # TypeError: an unhashable callable, asked every time
            wrapped = super().ensure_sync(func)
        if len(self._sync_checked) > 4096:  # per-request callables (after_this_request) must not pile up
            self._sync_checked.clear()
        try:
            self._sync_checked[func] = wrapped
        except TypeError:
            pass
        return wrapped

    def handle_user_exception(self, error):
        from app.core.events import committed_in_this_context
        from app.core.outage import database_failure
        from app.extensions import db

        if database_failure(error) != "disconnect" or g.get("db_retried") or committed_in_this_context():
            return super().handle_user_exception(error)
        g.db_retried = True
        db.session.rollback()
        try:
            response = self.preprocess_request()
            return response if response is not None else self.dispatch_request()
        except Exception as again:  # noqa: BLE001 - handled as any error would be
            return super().handle_user_exception(again)


def create_app(config=None) -> Flask:
    """Build the app. `config` is a config class, its name, a dict of overrides, or None (APP_CONFIG)."""
    settings = load_config(config)
    app = HelplineFlask(__name__, instance_path=str(_instance_dir()))
    app.config.from_mapping(settings)
    # Bearer tokens only: no cookie session to open and sign on every request.
    from app.core.http import NoCookieSessions

    app.session_interface = NoCookieSessions()

    from app.core.logging import configure_logging, init_request_logging

    configure_logging(app.config["LOG_LEVEL"])

    from app.auth.service import PasswordHashing
    from app.core.crypto import DataCipher

    cipher = DataCipher()
    cipher.configure(app.config["DATA_ENCRYPTION_KEY"], app.config.get("DATA_INDEX_KEY"))
    app.extensions["data_cipher"] = cipher
    app.extensions["password_hashing"] = PasswordHashing(
        app.config["PASSWORD_HASH_TIME_COST"], app.config["PASSWORD_HASH_MEMORY_COST"]
    )

    if app.config["TWILIO_WEBHOOK_FRONT"]:
        # Inside ProxyFix, so that it sees the scheme and host the proxy forwarded.
        from app.channels.front import TwilioWebhookFront

        app.wsgi_app = TwilioWebhookFront(app, app.wsgi_app)
    if app.config["PROXY_FIX_HOPS"]:
        hops = app.config["PROXY_FIX_HOPS"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops, x_port=hops)

    _init_extensions(app)
    init_request_logging(app)

    from app.auth.guard import init_auth
    from app.core.http import init_json_guard

    from app.core.security_headers import init_security_headers

    init_json_guard(app)
    init_security_headers(app)
    init_auth(app)
    _register_blueprints(app)
    _register_cli(app)

    from app.channels.sender import init_sender
    from app.live.relay import Relay

    init_sender(app)
    # One per process; its thread starts with the first stream (README, Live events).
    app.extensions["event_relay"] = Relay(app)
    _connect_event_handlers(app)

    from app.core.scheduler import start_in_process

    if app.config["SCHEDULER_IN_PROCESS"]:
        app.extensions["helpline_scheduler"] = start_in_process(app)
    return app


def _connect_event_handlers(app: Flask) -> None:
    """Each reacting domain's HANDLERS map (Cosmic Python's EVENT_HANDLERS), and publication after requests."""
    from app.channels.handlers import HANDLERS as channel_handlers
    from app.core import events
    from app.routing.handlers import HANDLERS as routing_handlers

    for handlers in (routing_handlers, channel_handlers):
        events.connect(handlers)

    @app.after_request
    def _publish_events(response):
        events.publish_committed()
        return response


def _instance_dir():
    from config import INSTANCE_DIR

    INSTANCE_DIR.mkdir(exist_ok=True)
    return INSTANCE_DIR


def _init_extensions(app: Flask) -> None:
    from app.core.errors import HelplineApi, register_error_handlers
    from app.core.health import MIGRATIONS_DIR
    from app.extensions import db, limiter, migrate

    db.init_app(app)
    with app.app_context():
        from app.core.outage import watch_engine

        watch_engine(db.engine)
        from app.core.commit_notify import notify_after_commits
        from app.live.models import EVENT_SOURCE_TABLES, NOTIFY_CHANNEL

        # The relays LISTEN on NOTIFY_CHANNEL (README, Live events).
        notify_after_commits(db.engine, NOTIFY_CHANNEL, EVENT_SOURCE_TABLES, background=app.config["EVENT_NOTIFY_THREAD"],
                             min_interval=app.config["EVENT_NOTIFY_INTERVAL_MS"] / 1000)
    migrate.init_app(app, db, directory=str(MIGRATIONS_DIR), compare_type=True)
    limiter.init_app(app)
    # One Api per app: flask-smorest keeps the spec on the Api object.
    api = HelplineApi(
        app,
        spec_kwargs={
            "info": {"description": "Backend for child helplines. The contract is API.md; this spec is generated from the code."},
        },
    )
    api.spec.components.security_scheme("bearerAuth", {"type": "http", "scheme": "bearer"})
    api.spec.options["security"] = [{"bearerAuth": []}]
    app.extensions["helpline_api"] = api
    # After flask-smorest's own handler, so these win.
    register_error_handlers(app)
    _import_models()


def _import_models() -> None:
    """Every model module, so metadata (and Alembic) sees every table."""
    import app.audit.models  # noqa: F401
    import app.canned_responses.models  # noqa: F401
    import app.cases.models  # noqa: F401
    import app.auth.jobs  # noqa: F401
    import app.auth.models  # noqa: F401
    import app.channels.jobs  # noqa: F401
    import app.channels.models  # noqa: F401
    import app.contacts.jobs  # noqa: F401
    import app.contacts.models  # noqa: F401
    import app.helplines.models  # noqa: F401
    import app.live.jobs  # noqa: F401
    import app.live.models  # noqa: F401
    import app.profiles.jobs  # noqa: F401
    import app.profiles.models  # noqa: F401
    import app.resources.models  # noqa: F401
    import app.reviews.models  # noqa: F401
    import app.routing.jobs  # noqa: F401
    import app.routing.models  # noqa: F401
    import app.stats.jobs  # noqa: F401
    import app.stats.models  # noqa: F401


def _register_blueprints(app: Flask) -> None:
    from app.auth.views import blp as auth_blp, users_blp
    from app.channels.views import webchat_blp, webhooks_blp
    from app.audit.views import blp as audit_blp
    from app.canned_responses.views import blp as canned_responses_blp
    from app.cases.views import blp as cases_blp
    from app.contacts.views import blp as contacts_blp, taxonomy_blp
    from app.permissions.views import blp as permissions_blp
    from app.live.views import blp as live_blp
    from app.profiles.views import blp as profiles_blp
    from app.resources.views import blp as resources_blp
    from app.reviews.views import blp as reviews_blp
    from app.core.health import blp as health_blp
    from app.helplines.views import blp as helplines_blp
    from app.routing.views import queues_blp, routing_blp
    from app.stats.views import blp as stats_blp

    from app.core.docs import blp as docs_assets_blp
    from app.extensions import is_twilio_webhook, limiter

    app.register_blueprint(docs_assets_blp)
    api = app.extensions["helpline_api"]
    for blueprint in (health_blp, auth_blp, users_blp, helplines_blp, permissions_blp, queues_blp, routing_blp,
                      contacts_blp, taxonomy_blp, cases_blp, canned_responses_blp, reviews_blp, resources_blp, profiles_blp, audit_blp, stats_blp, webhooks_blp,
                      webchat_blp, live_blp):
        api.register_blueprint(blueprint)
    # Twilio's webhooks are signed and not rate limited. A request filter answers before the limiter
    # resolves any limits (exempting the blueprint still resolves them on every webhook).
    limiter.request_filter(is_twilio_webhook)
    from app.core.openapi import document_error_responses

    document_error_responses(api)


def _register_cli(app: Flask) -> None:
    from app.auth.cli import users_cli
    from app.core.rotate import crypto_cli
    from app.core.scheduler import scheduler_cli
    from app.helplines.cli import demo_cli, helplines_cli
    from app.resources.cli import resources_cli
    from app.stats.cli import stats_cli

    for group in (helplines_cli, users_cli, demo_cli, scheduler_cli, crypto_cli, stats_cli, resources_cli):
        app.cli.add_command(group)
