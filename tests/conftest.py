"""Test setup.

The suite runs against the database in TEST_DATABASE_URL (PostgreSQL in CI's
second run), else a SQLite file in a temporary folder. The schema is built by
the migrations, as in production, never by create_all(). Each test starts
with empty tables.
"""
from __future__ import annotations

import io
import itertools
import logging
import os
from dataclasses import dataclass
from datetime import timedelta

import flask_migrate
import pytest
import sqlalchemy as sa

from app import create_app
from app.extensions import db, limiter

_counter = itertools.count(1)


def database_url(tmp_path_factory) -> str:
    return os.environ.get("TEST_DATABASE_URL") or f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.sqlite'}"


def is_postgres(app) -> bool:
    return app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql")


@pytest.fixture(scope="session")
def app(tmp_path_factory):
    app = create_app({"APP_CONFIG": "testing", "DATABASE_URL": database_url(tmp_path_factory)})
    with app.app_context():
        _drop_everything()
        flask_migrate.upgrade()
    yield app
    with app.app_context():
        _drop_everything()
        db.engine.dispose()


def _drop_everything() -> None:
    """Leave the test database empty, including alembic_version (PostgreSQL databases outlive a run)."""
    db.session.remove()
    if db.engine.dialect.name == "postgresql":
        # Tables, and the trigger functions and types the migrations made.
        with db.engine.begin() as connection:
            connection.execute(sa.text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
        return
    reflected = sa.MetaData()
    reflected.reflect(bind=db.engine)
    reflected.drop_all(bind=db.engine)


@pytest.fixture(autouse=True)
def _clean_tables(app):
    yield
    app.extensions.get("helpline_config_cache", {}).clear()
    app.extensions.get("queue_route_cache", {}).clear()
    app.extensions["event_relay"].reset()  # the outbox is emptied below: numbering starts again
    with app.app_context():
        db.session.remove()
        with db.engine.begin() as connection:
            for table in reversed(db.metadata.sorted_tables):
                connection.execute(table.delete())
    limiter.reset()


@pytest.fixture
def ctx(app):
    """An app context for service-layer tests (HTTP tests must not hold one: it would share their session)."""
    with app.app_context():
        yield
        db.session.remove()


@pytest.fixture
def client(app):
    return app.test_client()


@dataclass
class Actor:
    id: str
    email: str
    role: str
    helpline_id: str
    token: str

    @property
    def headers(self) -> dict:
        return {"Authorization": f"Bearer {self.token}"}


PASSWORD = "correct horse battery"


@pytest.fixture
def make_helpline(app):
    from app.helplines import service

    def make(code: str | None = None, **kwargs) -> str:
        with app.app_context():
            helpline = service.create_helpline(code or f"hl{next(_counter)}", kwargs.pop("name", "Test Helpline"), **kwargs)
            return helpline.id

    return make


@pytest.fixture
def make_user(app):
    from app.auth import service

    def make(helpline_id: str, role: str = "counsellor", email: str | None = None, **kwargs) -> Actor:
        with app.app_context():
            user = service.create_user(
                helpline_id, email or f"user{next(_counter)}@example.org", role, password=PASSWORD, **kwargs
            )
            raw, _ = service.issue_token(user, timedelta(hours=1))
            return Actor(user.id, user.email, user.role, helpline_id, raw)

    return make


ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
AUTH_TOKEN = "test-auth-token-0123456789abcdef"


@pytest.fixture
def helpline(make_helpline):
    return make_helpline(
        "main", name="Main Helpline", timezone="Europe/London",
        twilio_account_sid=ACCOUNT_SID, twilio_auth_token=AUTH_TOKEN,
    )


@pytest.fixture
def admin(make_user, helpline):
    return make_user(helpline, "admin")


@pytest.fixture
def supervisor(make_user, helpline):
    return make_user(helpline, "supervisor")


@pytest.fixture
def counsellor(make_user, helpline):
    return make_user(helpline, "counsellor")


@pytest.fixture
def manager(make_user, helpline):
    return make_user(helpline, "manager")


@pytest.fixture
def log_output():
    """What the app's JSON log handler writes, captured in a buffer."""
    configured = next(h for h in logging.getLogger().handlers if getattr(h, "_helpline_handler", False))
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(configured.formatter)
    for log_filter in configured.filters:
        handler.addFilter(log_filter)
    logging.getLogger().addHandler(handler)
    yield buffer
    logging.getLogger().removeHandler(handler)


# The suite has no DNS: names of the reserved .example domains resolve to one public address
# (example.com's); anything else (numeric forms, localhost) goes to the real resolver, offline.
PUBLIC_TEST_ADDRESS = "93.184.215.14"
FAKE_DNS: dict[str, list[str]] = {}


@pytest.fixture(autouse=True)
def _fake_dns(monkeypatch):
    import socket

    from app.core import safe_http

    def resolve(host, port):
        if host in FAKE_DNS:
            return FAKE_DNS[host]
        if host.endswith(".example") or host.endswith(".example.org"):
            return [PUBLIC_TEST_ADDRESS]
        return list(dict.fromkeys(i[4][0] for i in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)))

    monkeypatch.setattr(safe_http, "resolve_host", resolve)
    yield
    FAKE_DNS.clear()
