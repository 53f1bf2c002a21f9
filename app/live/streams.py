"""The two streams as generators of text/event-stream chunks.

A generator runs after its request has returned, in the same gunicorn thread, for as long as the
client stays. It holds no database connection while it waits: it opens an app context only to
replay or to read the visitor's transcript, and gives the connection back at once.
"""
from __future__ import annotations

import json
import time
from typing import Iterator

from flask import Flask, Response

from app.channels import webchat
from app.core.time import utcnow
from app.extensions import db
from app.live import service
from app.live.relay import ContactWatch, Relay, Subscription
from app.live.service import Viewer
from app.routing.service import queue_positions

# A client's EventSource reconnects this long after a stream ends (the spec's `retry:` field).
RETRY_MS = 2000
REPLAY_BATCH = 500
STREAM_HEADERS = {"Cache-Control": "no-cache, no-store", "X-Accel-Buffering": "no"}


def open_staff_stream(app: Flask, relay: Relay, viewer: Viewer, last_event_id: int | None) -> Response:
    """The response streaming the viewer's events. Subscribed before it returns, so nothing that
    commits from now on is missed; unsubscribed when the response closes (the client left)."""
    relay.prime()
    subscription = relay.subscribe(viewer)
    response = event_stream_response(staff_stream(app, relay, subscription, last_event_id))
    response.call_on_close(lambda: (relay.unsubscribe(subscription), relay.release()))
    return response


def open_visitor_stream(app: Flask, relay: Relay, session_id: str, contact_id: str, last_seq: int) -> Response:
    relay.prime()
    contact_watch = relay.watch(contact_id)
    response = event_stream_response(visitor_stream(app, relay, session_id, contact_watch, last_seq))
    response.call_on_close(lambda: (relay.unwatch(contact_watch), relay.release()))
    return response


def event_stream_response(chunks) -> Response:
    return Response(chunks, mimetype="text/event-stream", headers=STREAM_HEADERS)


def staff_stream(app: Flask, relay: Relay, subscription: Subscription, last_event_id: int | None) -> Iterator[str]:
    """Replay after `last_event_id` (if given), then live events until the client leaves, the token
    expires or is revoked, or the user is deactivated."""
    viewer = subscription.viewer
    yield f"retry: {RETRY_MS}\n\n"
    sent = last_event_id
    if last_event_id is not None:
        for chunk, sent in _replay(app, viewer, last_event_id):
            yield chunk
    ping_s = app.config["EVENT_PING_S"]
    inline = not app.config["EVENT_RELAY_THREAD"]
    last_write = time.monotonic()
    while True:
        if inline:  # tests: no relay thread, the stream pumps
            relay.pump()
        frames = subscription.take(app.config["EVENT_POLL_S"] if inline else ping_s)
        if subscription.closed or utcnow() >= viewer.token_expires_at:
            return
        # Frames the replay already sent (it overlaps the subscription by design) are skipped.
        chunk = "".join(text for seq, text in frames if sent is None or seq > sent)
        if frames:
            sent = max(sent or 0, frames[-1][0])
        if chunk:
            yield chunk
            last_write = time.monotonic()
        elif time.monotonic() - last_write >= ping_s:
            yield ": ping\n\n"
            last_write = time.monotonic()


def _replay(app: Flask, viewer: Viewer, after: int):
    """(chunk, last seq) pairs of the viewer's events after `after`, from the outbox."""
    while True:
        with app.app_context():
            try:
                rows = service.helpline_rows_after(viewer.helpline_id, after, REPLAY_BATCH)
                renderer = service.Renderer(rows)
                chunk = "".join(service.frame(r.seq, r.type, data) for r in rows
                                if renderer.allowed(r, viewer) and (data := renderer.data(r)) is not None)
                renderer.record_reads()
                db.session.commit()  # the audit of transcripts replayed
            finally:
                db.session.remove()
        if not rows:
            return
        after = rows[-1].seq
        yield chunk, after
        if len(rows) < REPLAY_BATCH:
            return


def visitor_stream(app: Flask, relay: Relay, session_id: str, contact_watch: ContactWatch,
                   last_seq: int) -> Iterator[str]:
    """The web chat visitor's messages (`id:` = seq) and status changes, until the chat has ended
    and everything is sent; a reconnect after that gets 204 (the view), which stops EventSource.
    The database is read once at the start (replay, status, position); after that the relay
    pushes messages, statuses and queue positions."""
    yield f"retry: {RETRY_MS}\n\n"
    ping_s = app.config["EVENT_PING_S"]
    inline = not app.config["EVENT_RELAY_THREAD"]
    items, state = visitor_changes(app, session_id, last_seq)
    sent, last_write = last_seq, time.monotonic()
    chunk = _status_frame(state)
    while True:
        for item in items:
            if item["seq"] > sent:
                chunk += service.frame(item["seq"], "message", json.dumps(item, default=service.json_default))
                sent = item["seq"]
        if chunk:
            yield chunk
            last_write = time.monotonic()
        if state["status"] in ("ended", "closed"):
            return
        if inline:
            relay.pump()
        pushed = contact_watch.take(app.config["EVENT_POLL_S"] if inline else ping_s)
        items = [item for kind, item in pushed if kind == "message"]
        new_state = _next_state(state, pushed)
        chunk = _status_frame(new_state) if new_state != state else ""
        state = new_state
        if not chunk and not items and time.monotonic() - last_write >= ping_s:
            yield ": ping\n\n"
            last_write = time.monotonic()


def _next_state(state: dict, pushed: list[tuple[str, object]]) -> dict:
    """The session's state after the relay's pushes: the last status, then the last position
    (kept only while queued)."""
    state = dict(state)
    for kind, item in pushed:
        if kind == "status":
            status = webchat.SESSION_STATUS[item]
            state = {"status": status, **({"position": state["position"]}
                                          if status == "queued" and "position" in state else {})}
        elif kind == "position":
            state.pop("position", None)
            if state["status"] == "queued" and item is not None:
                state["position"] = item
    return state


def _status_frame(state: dict) -> str:
    return f"event: status\ndata: {json.dumps(state)}\n\n"


def visitor_changes(app: Flask, session_id: str, after: int) -> tuple[list[dict], dict]:
    """Messages after `after` and the session's state (`{"status", "position"?}`)."""
    with app.app_context():
        try:
            session = db.session.get(webchat.WebchatSession, session_id)
            polled = webchat.list_messages(session, after)
            state = {"status": polled["status"]}
            if state["status"] == "queued":
                position = queue_positions([session.contact_id]).get(session.contact_id)
                if position is not None:
                    state["position"] = position
            db.session.commit()
            return polled["items"], state
        finally:
            db.session.remove()
