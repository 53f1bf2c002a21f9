"""Database outages: what counts as one, one log line per change of state, and a retry for dead connections.

When PostgreSQL restarts, every pooled connection is dead. SQLAlchemy notices on first use
(`connection_invalidated`) and discards the whole pool; the request that noticed is retried once
with a fresh connection (app/__init__.py, HelplineFlask), provided it had committed nothing. While
the database cannot be reached at all, requests answer 503 with Retry-After, and the log says
"database unavailable" once and "database available again" once, not a traceback per request.
"""
from __future__ import annotations

import logging
import threading

import sqlalchemy as sa

log = logging.getLogger(__name__)
RETRY_AFTER_S = 5
# SQLSTATE classes of a lost or refused connection: 08 (connection exception), 57P01-57P03 (shutdown, cannot connect now).
_CONNECTION_STATES = ("08", "57P01", "57P02", "57P03")


def _driver_errors() -> tuple:
    try:
        import psycopg

        return (psycopg.OperationalError, psycopg.InterfaceError)
    except ImportError:  # pragma: no cover - psycopg is a dependency
        return ()


def database_failure(error: BaseException) -> str | None:
    """"disconnect" (a pooled connection died: retry once), "unavailable" (no connection to be had), or None
    for every other error (constraint violations, deadlocks and bugs are not outages)."""
    if isinstance(error, sa.exc.DBAPIError):
        if error.connection_invalidated:
            return "disconnect"
        if not isinstance(error, (sa.exc.OperationalError, sa.exc.InterfaceError)):
            return None
        outcome, driver_error = "unavailable", error.orig
    elif isinstance(error, _driver_errors()):
        # From a raw driver connection (the ingest fast path), which was invalidated on the error.
        outcome, driver_error = "disconnect", error
    else:
        return None
    sqlstate = getattr(driver_error, "sqlstate", None)
    return outcome if sqlstate is None or sqlstate.startswith(_CONNECTION_STATES) else None


class OutageLog:
    """Logs transitions only: down once, up once."""

    def __init__(self):
        self.down = False
        self._lock = threading.Lock()

    def failed(self, error: BaseException) -> None:
        with self._lock:
            if self.down:
                return
            self.down = True
        log.error("database unavailable", extra={"error_type": type(error).__name__})

    def recovered(self) -> None:
        if not self.down:
            return
        with self._lock:
            if not self.down:
                return
            self.down = False
        log.warning("database available again")


outage_log = OutageLog()


def watch_engine(engine: sa.engine.Engine) -> None:
    """A new connection after an outage means the database is back."""
    sa.event.listen(engine, "connect", lambda *args: outage_log.recovered())
