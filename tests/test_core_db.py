"""core.db.execute_rows: a Core statement sent by the driver itself on PostgreSQL (a new contact's
statements at ingest), with the same values, errors and notifications as through the engine."""
import os
import threading

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from app.channels import spool
from app.contacts.models import Contact, Message
from app.core import commit_notify
from app.core import db as core_db
from app.core.db import autocommitted, execute_rows
from app.core.outage import database_failure
from app.core.time import utcnow
from app.extensions import db
from tests.channel_helpers import contacts, messages, send_sms

postgres_only = pytest.mark.skipif(not os.environ.get("TEST_DATABASE_URL", "").startswith("postgresql"),
                                   reason="execute_rows sends through the driver only on PostgreSQL")
MESSAGES = Message.__table__
INSERT_MESSAGE = sa.insert(MESSAGES).returning(MESSAGES.c.id, MESSAGES.c.seq)


def _message(helpline_id: str, contact_id: str, body: str, seq: int) -> dict:
    return {"helpline_id": helpline_id, "contact_id": contact_id, "direction": "outbound", "sender": "system",
            "body": body, "status": "sent", "attempts": 0, "num_media": 0, "created_at": utcnow(), "seq": seq}


def test_values_go_through_the_column_types_and_returning_gives_plain_rows(app, client, helpline):
    send_sms(client, body="hello")
    contact = contacts(app)[0]
    with app.app_context():
        rows = execute_rows(INSERT_MESSAGE, _message(helpline, contact.id, "a reply in confidence", 99))
        db.session.commit()
        stored_body = db.session.scalar(sa.text("SELECT body FROM messages WHERE id = :id"), {"id": rows[0][0]})
    assert isinstance(rows[0], tuple) and rows[0][1] == 99
    assert "confidence" not in stored_body  # encrypted at rest, by EncryptedText
    assert [m.body for m in messages(app) if m.seq == 99] == ["a reply in confidence"]


def test_a_unique_violation_is_sqlalchemys_integrity_error_and_the_session_recovers(app, client, helpline):
    """receive_message retries a new thread that lost a race on this error: it must stay IntegrityError."""
    send_sms(client, body="hello")
    contact = contacts(app)[0]
    with app.app_context():
        with pytest.raises(IntegrityError):
            execute_rows(INSERT_MESSAGE, _message(helpline, contact.id, "same seq", 1))
        db.session.rollback()
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Contact)) == 1


@postgres_only
def test_statements_the_engine_must_render_per_call_are_refused(app, helpline):
    with app.app_context():
        values = _message(helpline, "no-such-contact", "x", 1)
        del values["attempts"]  # Message.attempts has default=0, computed in Python by the engine
        with pytest.raises(ValueError, match="defaulted column"):
            execute_rows(sa.insert(MESSAGES), values)
        in_list = sa.select(MESSAGES.c.id).where(MESSAGES.c.id.in_(sa.bindparam("ids", expanding=True)))
        with pytest.raises(ValueError, match="expanding binds"):
            execute_rows(in_list, {"ids": [1, 2]})  # an IN list the engine renders per call
        db.session.rollback()


@postgres_only
def test_a_write_marks_the_session_for_a_notify_after_its_commit(app, client, helpline, monkeypatch):
    send_sms(client, body="hello")
    contact = contacts(app)[0]
    pokes = []
    with app.app_context():
        notifier, _ = commit_notify._watched[db.engine]
        monkeypatch.setattr(notifier, "poke", lambda: pokes.append(1))
        execute_rows(INSERT_MESSAGE, _message(helpline, contact.id, "reply", 50))
        assert pokes == []  # not before the commit
        db.session.commit()
    assert pokes == [1]


@postgres_only
def test_a_connection_lost_mid_transaction_is_an_invalidated_disconnect(app, client, helpline):
    """As from the engine: core.outage sees a disconnect (retry once on a fresh connection)."""
    send_sms(client, body="hello")
    contact = contacts(app)[0]
    with app.app_context():
        pid = db.session.scalar(sa.text("SELECT pg_backend_pid()"))
        with db.engine.connect() as other:
            other.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        with pytest.raises(sa.exc.DBAPIError) as raised:
            execute_rows(INSERT_MESSAGE, _message(helpline, contact.id, "lost", 60))
        assert raised.value.connection_invalidated
        assert database_failure(raised.value) == "disconnect"
        db.session.rollback()
        assert db.session.scalar(sa.text("SELECT 1")) == 1  # a fresh connection


def test_in_values_finds_the_rows_for_many_ids_with_one_statement_text(app, client, helpline):
    """core.db.in_values: the same rows as IN, for string and integer keys; on PostgreSQL one array
    parameter, so the text (which psycopg parses once and caches) does not grow with the ids."""
    from app.core.db import in_values

    for n in range(3):
        send_sms(client, body=f"hello {n}", sender=f"+44770090{n:04d}")
    with app.app_context():
        wanted = [c.id for c in contacts(app)[:2]]
        ids = wanted + [f"absent-{n}" for n in range(1500)]
        found = db.session.scalars(sa.select(Contact.id).where(in_values(Contact.id, ids))).all()
        message_ids = [m.id for m in messages(app)][:2]
        found_messages = db.session.scalars(
            sa.select(Message.id).where(in_values(Message.id, message_ids + list(range(10**9, 10**9 + 1500))))).all()
        texts = {str(sa.select(Contact.id).where(in_values(Contact.id, ids[:k])).compile(db.engine))
                 for k in (1, 10, 1000)}
        dialect = db.engine.dialect.name
    assert sorted(found) == sorted(wanted)
    assert sorted(found_messages) == sorted(message_ids)
    if dialect == "postgresql":
        assert len(texts) == 1 and "ANY" in texts.pop()


# --- core.db.autocommitted: the main thread's held connection ------------------------------------

def _backend(app) -> int:
    with app.app_context():
        return autocommitted("SELECT pg_backend_pid()", {})[0][0]


def _alive(app, pid: int) -> bool:
    with app.app_context(), db.engine.connect() as other:
        return other.scalar(sa.text("SELECT count(*) FROM pg_stat_activity WHERE pid = :pid"), {"pid": pid}) == 1


@postgres_only
def test_the_main_threads_autocommitted_statements_share_one_connection_beside_the_pool(app):
    first = _backend(app)
    assert _backend(app) == first
    with app.app_context():
        assert db.engine.pool.checkedout() == 0  # held out of the pool, not checked out of it
        in_a_thread = []
        worker = threading.Thread(target=lambda: in_a_thread.append(_backend(app)))
        worker.start()
        worker.join()
    assert in_a_thread and in_a_thread[0] != first  # other threads take one from the pool each time
    assert _backend(app) == first


@postgres_only
def test_the_held_connection_is_closed_and_replaced_when_the_engine_is_disposed_or_it_is_due_for_recycling(app):
    first = _backend(app)
    with app.app_context():
        db.engine.dispose()
    second = _backend(app)
    assert second != first and not _alive(app, first)
    core_db._held.retire_at = 0  # pool_recycle seconds have passed
    assert _backend(app) != second and not _alive(app, second)


@postgres_only
def test_a_webhook_meeting_a_held_connection_killed_by_a_restart_is_spooled_and_the_next_takes_a_new_one(
        app, client, helpline, log_output):
    """As on a dead pooled connection: the webhook is answered and spooled (stored once by the replay),
    the dead connection is given up quietly, and the next webhook joins on a new one."""
    assert send_sms(client, body="first").status_code == 200
    held = _backend(app)
    with app.app_context(), db.engine.connect() as other:
        other.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": held})
    assert send_sms(client, body="during the restart").status_code == 200
    with app.app_context():
        assert spool.replay_spool() == 1
    assert send_sms(client, body="after it").status_code == 200
    assert [m.body for m in messages(app) if m.direction == "inbound"] == ["first", "during the restart", "after it"]
    assert _backend(app) != held
    assert [line for line in log_output.getvalue().splitlines() if '"level": "ERROR"' in line] == []


@postgres_only
def test_a_forked_child_leaves_the_connection_it_inherited_to_its_parent(app, monkeypatch):
    parent = _backend(app)
    monkeypatch.setattr(core_db.os, "getpid", lambda: -1)  # as in a worker forked after the parent took it
    child = _backend(app)
    assert child != parent
    assert _alive(app, parent)  # the child neither used nor closed it
    monkeypatch.undo()
    core_db._inherited.pop().close()
    core_db._drop_held()
