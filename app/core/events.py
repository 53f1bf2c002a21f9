"""Domain events: how one domain makes another act once its transaction has committed.

A service calls `emit(SomethingHappened(...))` inside its transaction. Events are plain frozen
dataclasses named as past facts, holding ids and scalars only (never ORM objects, message
bodies or addresses); each lives in the emitting domain's `events.py`. The reacting domain's
`handlers.py` ends with its map `HANDLERS = {EventType: [handler, ...]}`, which create_app
connects to one blinker signal per event type (`connect`).

Publication happens after the commit, never inside it (Cosmic Python's message bus): a commit
moves the session's pending events to a ready queue; `publish_committed()` drains that queue,
sending each event to its handlers in order, so handlers that emit and commit never nest. It
runs from `commit()`, after every request, after every scheduler job and in background
threads, so any commit's events are published. A rollback drops pending events. A handler that
fails is logged and rolled back; the others still run. Publication is best-effort: every
reaction also has a durable trigger and a job behind it (a queued contact and `dispatch_all`;
a pending message and `retry_due_messages`).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Callable

import sqlalchemy as sa
from blinker import Namespace
from flask import g
from sqlalchemy.orm import Session

from app.extensions import db

log = logging.getLogger(__name__)
_PENDING, _READY = "events_pending", "events_ready"
_signals = Namespace()
_connected: set = set()


@dataclass(frozen=True)
class Event:
    """Base of every domain event."""


def signal_for(event_type: type[Event]):
    return _signals.signal(f"{event_type.__module__}.{event_type.__qualname__}")


def connect(handlers: dict[type[Event], list[Callable[[Event], None]]]) -> None:
    """Subscribe a domain's HANDLERS map (strong references: handlers are module functions)."""
    for event_type, functions in handlers.items():
        for function in functions:
            if (event_type, function) in _connected:
                continue  # signals are process-wide; create_app may run more than once
            _connected.add((event_type, function))
            signal_for(event_type).connect(_as_receiver(function), weak=False)


def _as_receiver(function):
    def receive(sender, event):
        function(event)

    receive.__name__ = function.__name__
    return receive


def emit(event: Event) -> None:
    """Publish `event` once the current transaction commits."""
    session = db.session()
    if not session.in_transaction():
        session.begin()  # so that a rollback, even before any statement, drops the event
    session.info.setdefault(_PENDING, []).append(event)


def commit() -> None:
    """Commit the session, then publish what this and earlier commits emitted."""
    db.session.commit()
    publish_committed()


def publish_committed() -> int:
    """Send every committed event to its handlers, oldest first; returns how many were published."""
    if not db.session.registry.has():
        return 0  # no session in this context: nothing was emitted (and none is created just to look)
    published = 0
    while db.session.info.get(_READY):
        event = db.session.info[_READY].pop(0)
        published += 1
        for receiver in signal_for(type(event)).receivers_for(None):
            try:
                receiver(None, event=event)
            except Exception as error:  # noqa: BLE001 - one failing reaction must not stop the others
                db.session.rollback()
                log.error("event handler failed", extra={"event": type(event).__name__,
                                                         "handler": receiver.__name__,
                                                         "error_type": type(error).__name__})
    return published


def mark_committed_outside_session() -> None:
    """A statement committed on a connection of its own (core.db.autocommitted): the request has
    committed something, so it must not be retried either (app/__init__.py, HelplineFlask)."""
    g.committed_outside_session = True


def committed_in_this_context() -> bool:
    return bool(g.get("committed_outside_session")) or (
        db.session.registry.has() and bool(db.session.info.get("committed")))


@sa.event.listens_for(Session, "after_commit")
def _committed(session: Session) -> None:
    # A request that committed is never retried after a lost connection (app/__init__.py, HelplineFlask).
    session.info["committed"] = True
    pending = session.info.pop(_PENDING, None)
    if pending:
        session.info.setdefault(_READY, []).extend(pending)


@sa.event.listens_for(Session, "after_soft_rollback")
def _rolled_back(session: Session, previous_transaction) -> None:
    # Every rollback call, also one with no transaction begun at the database yet.
    session.info.pop(_PENDING, None)
