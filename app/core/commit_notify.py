"""After a commit that changed a watched table, NOTIFY a channel (PostgreSQL), so that every process
LISTENing on it (the live-events relays) wakes and reads what committed.

Why not NOTIFY inside the writing transaction (a trigger's pg_notify, as migration 0010 first did):
PostgreSQL takes a database-wide lock when a transaction that notified commits and holds it through
the commit's WAL flush, so every writing transaction then commits one at a time. Measured on the
ingest benchmark, that cost 15-20% of webhook throughput. A NOTIFY in a transaction of its own writes
no WAL that must be flushed, so it holds that lock only for a moment.

Who notices a write: the engine sees every statement; one that INSERTs or UPDATEs a watched table
marks the thread, and the session's commit then pokes the notifier; statements the session's connection
runs through the driver (core.db.execute_rows) mark it the same way. Statements run beside the
session (core.db.autocommitted) poke it themselves. A write committed any other way (a raw engine
transaction) is still delivered: the relays also wake every second and read what is new.

Who sends: with `background`, one thread per process and database, on a connection of its own.
A poke only sets a flag, so a request never waits for the NOTIFY, and the commits that land while
one NOTIFY is on its way share the next one. Under load the thread sends at most one NOTIFY every
`min_interval` seconds (EVENT_NOTIFY_INTERVAL_MS): after a quiet spell a poke is sent at once, and
during a burst the pokes of one interval share a NOTIFY. One NOTIFY per message was 4% of a webhook's
instructions in its worker (callgrind), besides PostgreSQL's share and a wake-up of every relay.
Without `background` (tests), the poking thread sends at once.
The payload is empty: the relays number and read every committed row, whoever wrote it.
"""
from __future__ import annotations

import atexit
import logging
import os
import re
import threading
import time
import weakref
from functools import lru_cache

import sqlalchemy as sa
from sqlalchemy.orm import Session

log = logging.getLogger(__name__)
_local = threading.local()  # the notifier owed a poke by this thread's open transaction


class CommitNotifier:
    """NOTIFY from a thread of its own, one NOTIFY for every poke made before it is sent."""

    def __init__(self, dsn: str, channel: str, min_interval: float = 0.0):
        self.dsn = dsn
        self.channel = channel
        self.min_interval = min_interval
        self._requested = 0  # pokes so far; `_sent` is the count the last NOTIFY covered
        self._sent = 0
        self._start_afresh()
        os.register_at_fork(after_in_child=self._start_afresh)  # a forked worker has no thread yet
        atexit.register(self.flush)

    def _start_afresh(self) -> None:
        self._lock = threading.Lock()
        self._due = threading.Condition(self._lock)
        self._thread: threading.Thread | None = None
        self._waiting = False

    def poke(self) -> None:
        """Something committed: a NOTIFY must follow."""
        with self._lock:
            self._requested += 1
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="commit-notify", daemon=True)
                self._thread.start()
            elif self._waiting:  # a thread busy sending loops round by itself: no wake-up to pay for
                self._due.notify()

    def flush(self) -> None:
        """At exit: a poke the thread has not sent yet is sent now, so nothing waits for the relays' safety net."""
        with self._lock:
            owed = self._thread is not None and self._sent < self._requested
        if owed:
            connection = send_notify(None, self.dsn, self.channel)
            if connection is not None:
                connection.close()

    def _run(self) -> None:
        connection = None
        last_sent_at = float("-inf")
        while True:
            with self._lock:
                while self._sent >= self._requested:
                    self._waiting = True
                    self._due.wait()
                    self._waiting = False
            # A burst: wait out the interval, so that the pokes it brings share this NOTIFY.
            pause = last_sent_at + self.min_interval - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            with self._lock:
                covering = self._requested  # every poke so far: their commits are done before this NOTIFY
            connection = send_notify(connection, self.dsn, self.channel)
            if connection is None:  # the database went away: retry shortly
                threading.Event().wait(1.0)
                continue
            last_sent_at = time.monotonic()
            with self._lock:
                self._sent = max(self._sent, covering)


class InlineNotifier:
    """NOTIFY at once, from the poking thread (tests: the NOTIFY is out when the request returns), on
    one connection of its own: never the pool's, which the committing thread may have drained."""

    def __init__(self, dsn: str, channel: str):
        self.dsn = dsn
        self.channel = channel
        self._lock = threading.Lock()
        self._connection = None

    def poke(self) -> None:
        with self._lock:
            self._connection = send_notify(self._connection, self.dsn, self.channel)


def psycopg_dsn(url) -> str:
    """A libpq connection string from a SQLAlchemy URL (or its string), for psycopg used directly."""
    return sa.engine.make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def psycopg_connect(dsn: str):
    import psycopg

    return psycopg.connect(dsn, autocommit=True)


def send_notify(connection, dsn: str, channel: str):
    """NOTIFY `channel` on `connection` (a new one when None or closed). Returns the connection, or None
    when the NOTIFY failed (logged): the relays' one-second wake-up still delivers what committed."""
    try:
        if connection is None or connection.closed:
            connection = psycopg_connect(dsn)
        connection.execute(f"NOTIFY {channel}")
        return connection
    except Exception as error:  # noqa: BLE001 - never let a notification fail a commit or kill the thread
        log.error("commit notification failed", extra={"error_type": type(error).__name__})
        return None


# One per process, database, channel and kind: the background one is a thread.
_notifiers: dict[tuple[str, str, bool], CommitNotifier | InlineNotifier] = {}
_notifiers_lock = threading.Lock()
_watched: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # engine -> (notifier, writes_watched)


def notify_after_commits(engine: sa.engine.Engine, channel: str, tables: tuple[str, ...], background: bool,
                         min_interval: float = 0.0) -> None:
    """Install the watch on `engine` (PostgreSQL only; one notifier per process, database and channel).
    With `background`, NOTIFYs go from a thread, at most one every `min_interval` seconds."""
    if engine.dialect.name != "postgresql" or engine in _watched:
        return
    dsn = psycopg_dsn(engine.url)
    with _notifiers_lock:
        notifier = _notifiers.get((dsn, channel, background))
        if notifier is None:
            notifier = _notifiers[(dsn, channel, background)] = (
                CommitNotifier(dsn, channel, min_interval) if background else InlineNotifier(dsn, channel))
    writes_watched = _watcher(tables)
    _watched[engine] = (notifier, writes_watched)

    @sa.event.listens_for(engine, "after_cursor_execute")
    def _note_write(conn, cursor, statement, parameters, context, executemany):
        if writes_watched(statement):
            _local.notifier = notifier


def _notifier_owed(engine: sa.engine.Engine, statement: str):
    """The engine's notifier, when `statement` wrote a watched table; else None."""
    notifier, writes_watched = _watched.get(engine, (None, None))
    return notifier if notifier is not None and writes_watched(statement) else None


def note_session_write(engine: sa.engine.Engine, statement: str) -> None:
    """`statement` ran on the session's connection through the driver (core.db.execute_rows),
    which the engine's cursor events do not see: the session's commit owes a poke if it wrote."""
    notifier = _notifier_owed(engine, statement)
    if notifier is not None:
        _local.notifier = notifier


def committed_beside_session(engine: sa.engine.Engine, statement: str) -> None:
    """`statement` committed on a connection of its own (core.db.autocommitted): poke if it wrote."""
    notifier = _notifier_owed(engine, statement)
    if notifier is not None:
        notifier.poke()


def _watcher(tables: tuple[str, ...]):
    pattern = re.compile(r"\b(?:INSERT\s+INTO|UPDATE)\s+(?:%s)\b" % "|".join(map(re.escape, tables)), re.IGNORECASE)

    @lru_cache(maxsize=1024)  # statements repeat: the ORM's and ours are cached strings
    def writes_watched(statement: str) -> bool:
        return pattern.search(statement) is not None

    return writes_watched


@sa.event.listens_for(Session, "after_commit")
def _poke_after_commit(session: Session) -> None:
    notifier = getattr(_local, "notifier", None)
    if notifier is not None:
        _local.notifier = None
        notifier.poke()


@sa.event.listens_for(Session, "after_soft_rollback")
def _forget_on_rollback(session: Session, previous_transaction) -> None:
    _local.notifier = None
