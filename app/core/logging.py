"""Structured logs: one JSON object per line, with the request id.

Only method, path (never the query string: searches carry phone numbers),
status, duration, request id and user id are logged for a request. Bodies,
tokens, names and phone numbers are never passed to a logger.
"""
from __future__ import annotations

import json
import logging
import math
import os
import re
import sys
import time

from datetime import datetime, timezone

from flask import Flask, g, request

REQUEST_ID_HEADER = "X-Request-ID"
_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


_RECORD_FIELDS = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "taskName"}


class JsonLineFormatter(logging.Formatter):
    """One JSON object per line: time (ISO-8601, UTC), level, logger, message and the record's extras."""

    # One encoder for every line: json.dumps with an argument builds a new one each call.
    _encoder = json.JSONEncoder(default=str)

    def __init__(self) -> None:
        super().__init__()
        # The whole second last formatted and its text, swapped as one tuple: threads share a formatter.
        self._last_second = (None, "")

    def _time(self, created: float) -> str:
        """ISO-8601 in UTC to the microsecond (rounded as datetime does), the date formatted once a second."""
        fraction, whole = math.modf(created)
        second, micro = divmod(int(whole) * 1_000_000 + round(fraction * 1e6), 1_000_000)
        cached_second, text = self._last_second
        if second != cached_second:
            text = datetime.fromtimestamp(second, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
            self._last_second = (second, text)
        return f"{text}.{micro:06d}+00:00"

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": self._time(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _RECORD_FIELDS:
                line[key] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return self._encoder.encode(line)


class RequestContextFilter(logging.Filter):
    """Adds the current request id to every record logged inside a request."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            try:
                record.request_id = g.get("request_id")
            except RuntimeError:  # outside a request or app context
                record.request_id = None
        return True


class DropWerkzeugAccessLines(logging.Filter):
    """The dev server's access lines include query strings; ours replace them."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.name == "werkzeug" and record.levelno == logging.INFO and '" ' in record.getMessage())


def configure_logging(level: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonLineFormatter())
    handler.addFilter(RequestContextFilter())
    handler.addFilter(DropWerkzeugAccessLines())
    root = logging.getLogger()
    # Replace, not add: create_app may run more than once in one process (tests).
    for existing in list(root.handlers):
        if getattr(existing, "_helpline_handler", False):
            root.removeHandler(existing)
    handler._helpline_handler = True
    root.addHandler(handler)
    root.setLevel(level.upper())
    # The logging HOWTO's "Optimization": the formatter never prints a record's thread or process,
    # so do not collect them for every record (one log line per request).
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    # Nor where each call was made from (file, line, function): the HOWTO's switch for that. Finding
    # the caller walks the stack on every record.
    logging._srcfile = None
    # Alembic announces each of its plugins at INFO; keep migrations readable.
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
    # APScheduler logs every run at INFO; our run_job logs one line per run instead.
    logging.getLogger("apscheduler").setLevel(logging.WARNING)


def request_id_for(incoming: str) -> str:
    """The caller's X-Request-ID when it is safe to log, else 32 random hex digits (as uuid4().hex was,
    without building a UUID for each request)."""
    return incoming if _SAFE_REQUEST_ID.match(incoming) else os.urandom(16).hex()


_request_log = logging.getLogger("app.request")


def log_request(method: str, path: str, status: int, started: float | None, request_id: str | None,
                user_id: str | None) -> None:
    """A request's one log line (the Flask hook's, and the Twilio webhooks' front's)."""
    _request_log.info(
        "request",
        extra={
            "request_id": request_id,
            "method": method,
            "path": path,
            "status": status,
            "duration_ms": round((time.perf_counter() - started) * 1000, 2) if started else None,
            "user_id": user_id,
        },
    )


def init_request_logging(app: Flask) -> None:
    @app.before_request
    def _start_request():
        g.request_id = request_id_for(request.headers.get(REQUEST_ID_HEADER, ""))
        g.request_started = time.perf_counter()

    @app.after_request
    def _log_request(response):
        # The id kept at authentication: touching the ORM user here could query a failed session.
        log_request(request.method, request.path, response.status_code, g.get("request_started"), g.get("request_id"),
                    g.get("user_id"))
        if g.get("request_id"):
            response.headers[REQUEST_ID_HEADER] = g.request_id
        return response
