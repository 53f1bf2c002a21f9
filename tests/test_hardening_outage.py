"""Reliability review, database restarts and outages: one retry on a dead connection, 503 with Retry-After and one
log line per outage, and signed webhooks spooled durably and replayed once the database is back (review item 15)."""
import json
import os
from pathlib import Path

import pytest
import sqlalchemy as sa

from app import create_app
from app.channels import spool
from app.core.outage import outage_log
from app.extensions import db
from tests.channel_helpers import messages, post_signed, send_sms, sms, twiml_messages
from tests.conftest import is_postgres
from tests.helpers import assert_error


@pytest.fixture(autouse=True)
def _outage_state():
    outage_log.down = False
    yield
    outage_log.down = False


def _records(log_output, level=None):
    lines = [json.loads(line) for line in log_output.getvalue().splitlines() if line.startswith("{")]
    return [r for r in lines if level is None or r["level"] == level]


def test_while_the_database_is_down_requests_get_503_and_the_log_one_line(app, log_output):
    down = create_app({"APP_CONFIG": "testing", "DATABASE_URL": "postgresql://postgres@127.0.0.1:1/nowhere"})
    client = down.test_client()
    for _ in range(3):
        response = client.get("/api/v1/me", headers={"Authorization": "Bearer hlt_" + "x" * 43})
        assert_error(response, 503, "unavailable")
        assert response.headers["Retry-After"] == "5"
    errors = _records(log_output, "ERROR")
    assert [r["message"] for r in errors] == ["database unavailable"]
    assert "exception" not in errors[0]
    # The database is back: a new connection logs the recovery, once.
    with app.app_context():
        db.engine.dispose()
        db.session.execute(sa.text("SELECT 1"))
        db.session.remove()
    assert [r["message"] for r in _records(log_output, "WARNING")].count("database available again") == 1


def test_a_request_on_a_connection_killed_by_a_restart_is_retried_once(app, client, counsellor, log_output):
    if not is_postgres(app):
        pytest.skip("killing pooled connections needs PostgreSQL")
    assert client.get("/api/v1/me", headers=counsellor.headers).status_code == 200
    killer = sa.create_engine(app.config["SQLALCHEMY_DATABASE_URI"], poolclass=sa.pool.NullPool)
    with killer.begin() as other:
        killed = other.execute(sa.text("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                                       "WHERE datname = current_database() AND pid <> pg_backend_pid()")).scalar()
    killer.dispose()
    assert killed >= 1
    # The pooled connection this request gets is dead; the retry uses a fresh one.
    assert client.get("/api/v1/me", headers=counsellor.headers).status_code == 200
    assert _records(log_output, "ERROR") == []


@pytest.fixture
def outage(monkeypatch):
    """Every new database connection fails, as while PostgreSQL is down."""
    def refuse(*args, **kwargs):
        raise sa.exc.OperationalError("connect", {}, ConnectionRefusedError("connection refused"))

    def start():
        db.engine.dispose()
        monkeypatch.setattr(sa.engine.Engine, "connect", refuse)
        monkeypatch.setattr(sa.engine.Engine, "raw_connection", refuse)

    def end():
        monkeypatch.undo()

    return start, end


def test_signed_webhooks_are_spooled_during_an_outage_and_replayed_once(app, client, helpline, outage):
    start, end = outage
    assert send_sms(client, body="first", sender="+447700900611").status_code == 200  # credentials now known
    app.extensions["helpline_config_cache"]["main"] = (0, app.extensions["helpline_config_cache"]["main"][1])
    during = sms(body="please help me", sender="+447700900611")
    with app.app_context():
        start()
        response = post_signed(client, "/webhooks/main/twilio/messaging", during)
        end()
    assert twiml_messages(response) == []
    files = list(Path(app.config["WEBHOOK_SPOOL_DIR"]).glob("webhooks-*.spool"))
    assert len(files) == 1
    raw = files[0].read_bytes()
    assert b"please help me" not in raw and b"447700900611" not in raw and os.stat(files[0]).st_size > 0
    assert [m.body for m in messages(app) if m.direction == "inbound"] == ["first"]
    with app.app_context():
        assert spool.replay_spool() == 1
        assert spool.replay_spool() == 0
    assert list(Path(app.config["WEBHOOK_SPOOL_DIR"]).glob("webhooks-*")) == []
    # Twilio's own redelivery of the same message afterwards stores nothing new.
    assert post_signed(client, "/webhooks/main/twilio/messaging", during).status_code == 200
    assert [m.body for m in messages(app) if m.direction == "inbound"] == ["first", "please help me"]


def test_the_webhooks_front_spools_during_an_outage_itself(app, client, helpline, outage):
    """The front (app/channels/front.py) answers a signed webhook during an outage as the route would: spooled,
    empty TwiML, without handing it to Flask."""
    start, end = outage
    assert send_sms(client, body="first", sender="+447700900613").status_code == 200  # credentials now known
    app.extensions["helpline_config_cache"]["main"] = (0, app.extensions["helpline_config_cache"]["main"][1])
    front = app.wsgi_app
    inner, handed = front.wsgi_app, []
    front.wsgi_app = lambda environ, start_response: handed.append(1) or inner(environ, start_response)
    try:
        with app.app_context():
            start()
            response = post_signed(client, "/webhooks/main/twilio/messaging", sms(body="hold on", sender="+447700900613"))
            end()
    finally:
        front.wsgi_app = inner
    assert twiml_messages(response) == [] and handed == []
    assert len(list(Path(app.config["WEBHOOK_SPOOL_DIR"]).glob("webhooks-*.spool"))) == 1
    with app.app_context():
        assert spool.replay_spool() == 1
    assert [m.body for m in messages(app) if m.direction == "inbound"] == ["first", "hold on"]


def test_a_forged_webhook_is_refused_during_an_outage_too(app, client, helpline, outage):
    start, end = outage
    send_sms(client, body="first")
    with app.app_context():
        start()
        response = post_signed(client, "/webhooks/main/twilio/messaging", sms(body="x"), signature="forged")
        end()
    assert_error(response, 403, "bad_signature")
    assert list(Path(app.config["WEBHOOK_SPOOL_DIR"]).glob("webhooks-*.spool")) == []


def test_a_replay_interrupted_by_another_outage_keeps_the_rest(app, client, helpline, outage):
    start, end = outage
    send_sms(client, body="first", sender="+447700900612")
    with app.app_context():
        start()
        for body in ("one", "two"):
            post_signed(client, "/webhooks/main/twilio/messaging", sms(body=body, sender="+447700900612"))
        assert spool.replay_spool() == 0  # still down: nothing lost, file kept
        end()
        assert len(list(Path(app.config["WEBHOOK_SPOOL_DIR"]).glob("webhooks-*.spool"))) == 1
        assert spool.replay_spool() == 2
    assert [m.body for m in messages(app) if m.direction == "inbound"] == ["first", "one", "two"]


def test_a_request_that_already_committed_is_not_retried(app, client, counsellor, monkeypatch):
    """Retrying would do its committed work twice: it answers 503 instead."""
    from app.routing import views as routing_views

    calls = []
    real = routing_views.service.set_availability

    def commit_then_lose_the_connection(user, status):
        calls.append(status)
        real(user, status)  # commits
        raise sa.exc.OperationalError("SELECT 1", {}, ConnectionResetError("gone"), connection_invalidated=True)

    monkeypatch.setattr(routing_views.service, "set_availability", commit_then_lose_the_connection)
    response = client.put("/api/v1/me/availability", json={"status": "available"}, headers=counsellor.headers)
    assert_error(response, 503, "unavailable")
    assert calls == ["available"]


def test_a_message_stored_by_the_one_statement_fast_path_counts_as_committed(app, client, helpline):
    """The fast path commits on a connection of its own: a lost connection after it must not retry the request."""
    if not is_postgres(app):
        pytest.skip("the one-statement fast path runs on PostgreSQL only")
    from app.channels.service import receive_twilio_message
    from app.core.events import committed_in_this_context
    from app.helplines.service import helpline_config

    assert send_sms(client, body="first").status_code == 200  # opens the live contact
    with app.app_context():
        assert not committed_in_this_context()
        result = receive_twilio_message(helpline_config("main"), sms(body="second"))
        assert result.message_id is not None and not result.new_contact
        assert committed_in_this_context()
    with app.app_context():
        assert not committed_in_this_context()  # the flag belongs to its own context


def test_publishing_after_a_request_that_used_no_session_creates_none(app):
    from app.core.events import publish_committed

    with app.app_context():
        assert publish_committed() == 0
        assert not db.session.registry.has()
