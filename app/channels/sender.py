"""The in-process sender pool: sends stored outbound messages right after their commit, off the request path.

A reply, an automatic notice or a Conversations answer is committed as `pending`; the
RepliesQueued event wakes this pool (app/channels/handlers.py), whose few threads each send in an app context of
their own. The request has already answered: a slow or hanging Twilio holds a sender thread,
never a web worker. If the process dies first, the scheduler's retry job sends the message after
PENDING_GRACE. `OUTBOUND_SENDER_THREADS = 0` (the test configuration) sends in the committing
thread instead, in a fresh app context, so tests can assert on what was sent.
"""
from __future__ import annotations

import atexit
import logging
from concurrent.futures import ThreadPoolExecutor

from flask import Flask

from app.channels import outbound
from app.core import events
from app.extensions import db

log = logging.getLogger(__name__)


class OutboundSender:
    def __init__(self, app: Flask, threads: int):
        self.app = app
        self.pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="outbound") if threads > 0 else None
        if self.pool is not None:
            atexit.register(self.pool.shutdown, wait=False, cancel_futures=True)

    def wake(self, message_ids: list[int]) -> None:
        ids = list(message_ids)
        if self.pool is None:
            self._send(ids)
        else:
            self.pool.submit(self._send, ids)

    def _send(self, message_ids: list[int]) -> None:
        # One job per commit, sent in order: a contact's notices and replies keep their order.
        with self.app.app_context():
            try:
                outbound.deliver_all(message_ids)
                events.publish_committed()
            except Exception as error:  # noqa: BLE001 - the retry job sends what this could not
                db.session.rollback()
                log.error("outbound send failed", extra={"error_type": type(error).__name__})
            finally:
                db.session.remove()


def init_sender(app: Flask) -> None:
    app.extensions["outbound_sender"] = OutboundSender(app, app.config["OUTBOUND_SENDER_THREADS"])

