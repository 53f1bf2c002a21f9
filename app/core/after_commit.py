"""Work that may start only once the transaction that asked for it has committed.

A service calls `defer(kind, items)` inside its transaction (as Warehouse keeps its purge
keys in `session.info`); when that session commits, the callback registered for `kind` gets
the items; a rollback drops them. Callbacks must not run SQL on the committing session: they
hand work on (the outbound sender wakes its pool). This is only the fast path: every deferred
piece of work also has a durable trigger (a `pending` row) and a scheduler job behind it.
"""
from __future__ import annotations

import logging
from typing import Callable

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.extensions import db

log = logging.getLogger(__name__)
_INFO_KEY = "after_commit"
_CALLBACKS: dict[str, Callable[[list], None]] = {}


def register(kind: str, callback: Callable[[list], None]) -> None:
    _CALLBACKS[kind] = callback


def defer(kind: str, items: list) -> None:
    """Run `kind`'s callback with `items` after the current transaction commits."""
    if items:
        db.session.info.setdefault(_INFO_KEY, {}).setdefault(kind, []).extend(items)


@sa.event.listens_for(Session, "after_commit")
def _run_deferred(session: Session) -> None:
    # A request that committed is never retried after a lost connection (see HelplineFlask).
    session.info["committed"] = True
    pending = session.info.pop(_INFO_KEY, None)
    for kind, items in (pending or {}).items():
        try:
            _CALLBACKS[kind](items)
        except Exception as error:  # noqa: BLE001 - the commit stands; the scheduler job picks the work up
            log.error("after-commit work failed", extra={"kind": kind, "error_type": type(error).__name__})


@sa.event.listens_for(Session, "after_rollback")
def _drop_deferred(session: Session) -> None:
    session.info.pop(_INFO_KEY, None)
