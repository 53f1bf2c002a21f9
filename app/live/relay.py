"""One relay per process: it numbers committed outbox rows, fetches new ones and fans them out to
the streams this process serves.

On PostgreSQL the relay's thread LISTENs on one connection: every process NOTIFYs `helpline_events`
after a commit that changed what the outbox triggers record (app/core/commit_notify.py; whichever
process or machine made it, the scheduler's included); the relay then numbers
(service.number_committed, which NOTIFYs `helpline_events_numbered`), and every
process's relay fetches `seq > last` and delivers. On SQLite the thread polls every EVENT_POLL_S.
A stream never touches the database while it waits: it blocks on its own subscription, which the
relay fills with ready-made frames.
"""
from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict, deque

from flask import Flask

from app.core.commit_notify import psycopg_connect, psycopg_dsn
from app.extensions import db
from app.live import service
from app.live.models import NOTIFY_CHANNEL, QUEUE_MOVING_TYPES
from app.live.service import Row, Viewer
from app.routing.service import queue_positions

log = logging.getLogger(__name__)
FETCH_BATCH = 1000


class Subscription:
    """A staff stream's inbox: frames pushed by the relay, taken by the stream's own thread."""

    def __init__(self, viewer: Viewer, limit: int):
        self.viewer = viewer
        self.limit = limit
        self.closed: str | None = None
        self._frames: deque[tuple[int, str]] = deque()
        self._ready = threading.Condition()

    def push(self, frames: list[tuple[int, str]]) -> None:
        """A batch's frames for this stream, in one wake-up of its thread."""
        with self._ready:
            if len(self._frames) + len(frames) > self.limit:
                # A client too slow to read: close it; it reconnects with Last-Event-ID and loses nothing.
                self.closed = self.closed or "overflow"
            else:
                self._frames.extend(frames)
            self._ready.notify()

    def close(self, reason: str) -> None:
        with self._ready:
            self.closed = self.closed or reason
            self._ready.notify()

    def take(self, timeout: float) -> list[tuple[int, str]]:
        """Every frame waiting, after waiting up to `timeout` s for one; [] on time-out or when closed."""
        with self._ready:
            if not self._frames and not self.closed:
                self._ready.wait(timeout)
            frames = list(self._frames)
            self._frames.clear()
            return frames


class ContactWatch:
    """A visitor stream's inbox: its contact's new messages and statuses, pushed by the relay, so
    the stream reads nothing from the database while the chat goes on."""

    def __init__(self, contact_id: str):
        self.contact_id = contact_id
        self._items: deque[tuple[str, object]] = deque()
        self._ready = threading.Condition()

    def push(self, items: list[tuple[str, object]]) -> None:
        with self._ready:
            self._items.extend(items)
            self._ready.notify()

    def take(self, timeout: float) -> list[tuple[str, object]]:
        with self._ready:
            if not self._items:
                self._ready.wait(timeout)
            items = list(self._items)
            self._items.clear()
            return items


class _HelplineStreams:
    def __init__(self):
        self.by_user: dict[str, set[Subscription]] = defaultdict(set)
        self.by_role: dict[str, set[Subscription]] = defaultdict(set)

    def __bool__(self) -> bool:
        return any(self.by_user.values())


class Relay:
    def __init__(self, app: Flask):
        self.app = app
        self.last_seq: int | None = None
        self._lock = threading.Lock()
        self._pump_lock = threading.Lock()
        self._staff: dict[str, _HelplineStreams] = defaultdict(_HelplineStreams)
        self._contacts: dict[str, set[ContactWatch]] = defaultdict(set)
        self._queue_status_due: dict[str, float] = {}
        # When to refresh the watching visitors' queue positions: EVENT_VISITOR_REFRESH_S after the
        # last time, or a second after it when a queue moved.
        self._positions_due = 0.0
        self._positions_refreshed = 0.0
        self._positions: dict[str, int | None] = {}  # what was last pushed, per watched contact
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self.open_streams = 0

    def reset(self) -> None:
        """Forget how far this process has read (the outbox was emptied, as between tests)."""
        with self._pump_lock:
            self.last_seq = None
            self._queue_status_due.clear()
            self._positions_due = self._positions_refreshed = 0.0
            self._positions.clear()
        with self._lock:
            self.open_streams = 0

    def prime(self) -> None:
        """Before a process's first stream subscribes: start reading after what is numbered now, so
        a new stream gets what commits from now on (and its Last-Event-ID replay), not older events.
        Runs in the request's app context."""
        if self.last_seq is None:
            with self._pump_lock:
                if self.last_seq is None:
                    service.number_committed()
                    self.last_seq = service.latest_seq()
                    db.session.commit()

    # --- streams ----------------------------------------------------------------------

    def admit(self) -> bool:
        """Count a new stream in if this process has room (EVENT_STREAMS_PER_PROCESS)."""
        with self._lock:
            if self.open_streams >= self.app.config["EVENT_STREAMS_PER_PROCESS"]:
                return False
            self.open_streams += 1
        self.start()
        return True

    def release(self) -> None:
        with self._lock:
            self.open_streams -= 1

    def subscribe(self, viewer: Viewer) -> Subscription:
        subscription = Subscription(viewer, self.app.config["EVENT_STREAM_BACKLOG"])
        with self._lock:
            streams = self._staff[viewer.helpline_id]
            streams.by_user[viewer.id].add(subscription)
            streams.by_role[viewer.role].add(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        viewer = subscription.viewer
        with self._lock:
            streams = self._staff.get(viewer.helpline_id)
            if streams is not None:
                streams.by_user[viewer.id].discard(subscription)
                streams.by_role[viewer.role].discard(subscription)
                if not streams.by_user[viewer.id]:
                    del streams.by_user[viewer.id]

    def watch(self, contact_id: str) -> ContactWatch:
        contact_watch = ContactWatch(contact_id)
        with self._lock:
            self._contacts[contact_id].add(contact_watch)
        return contact_watch

    def unwatch(self, contact_watch: ContactWatch) -> None:
        with self._lock:
            watches = self._contacts.get(contact_watch.contact_id)
            if watches is not None:
                watches.discard(contact_watch)
                if not watches:
                    del self._contacts[contact_watch.contact_id]

    # --- pumping ----------------------------------------------------------------------

    def pump(self) -> int:
        """Number what committed, fetch what is new and deliver it; returns the events fetched."""
        with self._pump_lock, self.app.app_context():
            try:
                return self._pump()
            except Exception as error:  # noqa: BLE001 - the next wake-up tries again; streams stay open
                db.session.rollback()
                log.error("event relay failed", extra={"error_type": type(error).__name__})
                return 0
            finally:
                db.session.remove()

    def _pump(self) -> int:
        if self.last_seq is None:  # no stream yet (prime): nothing to deliver to
            return 0
        service.number_committed(look_again=False)
        fetched = 0
        while True:
            rows = service.rows_after(self.last_seq, FETCH_BATCH)
            if not rows:
                break
            self._deliver(rows)
            self.last_seq = rows[-1].seq
            fetched += len(rows)
            if len(rows) < FETCH_BATCH:
                break
        self._emit_due_queue_status()
        self._refresh_due_positions()
        db.session.commit()  # the audit of transcripts delivered
        return fetched

    def _deliver(self, rows: list[Row]) -> None:
        renderer = service.Renderer(rows)
        now = time.monotonic()
        # Every frame of the batch is gathered first and each stream woken once at the end: waking
        # a stream's thread per frame makes it compete with this one for the GIL, frame by frame.
        frames: dict[Subscription, list[tuple[int, str]]] = defaultdict(list)
        told: dict[ContactWatch, list[tuple[str, object]]] = defaultdict(list)
        closing: list[Subscription] = []
        with self._lock:  # streams come and go rarely; nothing below waits
            for row in rows:
                streams = self._staff.get(row.helpline_id)
                if row.type in QUEUE_MOVING_TYPES and streams:
                    self._queue_status_due.setdefault(row.helpline_id, now)
                if row.type in QUEUE_MOVING_TYPES and self._contacts:
                    self._positions_due = min(self._positions_due, self._positions_refreshed + 1.0)
                if row.type in ("contact.updated", "message.created") and row.payload["contact_id"] in self._contacts:
                    self._tell_visitor(renderer, row, told)
                if not streams:
                    continue
                matching = self._matching(streams, row)
                if row.type == "stream.revoked":
                    token_id = row.payload.get("token_id")
                    closing += [s for s in matching if token_id is None or token_id == s.viewer.token_id]
                    continue
                recipients = [s for s in matching if renderer.allowed(row, s.viewer)]
                data = renderer.data(row) if recipients else None
                if data is None:
                    continue
                frame = (row.seq, service.frame(row.seq, row.type, data))
                for subscription in recipients:
                    frames[subscription].append(frame)
        for subscription, pending in frames.items():
            subscription.push(pending)
        for contact_watch, items in told.items():
            contact_watch.push(items)
        for subscription in closing:
            subscription.close("revoked")
        renderer.record_reads()

    def _tell_visitor(self, renderer: service.Renderer, row: Row,
                      told: dict[ContactWatch, list[tuple[str, object]]]) -> None:
        if row.type == "contact.updated":
            item = ("status", row.payload["status"])
        else:
            message = renderer.visitor_message(row)
            if message is None:
                return
            item = ("message", message)
        for contact_watch in self._contacts[row.payload["contact_id"]]:
            told[contact_watch].append(item)

    @staticmethod
    def _matching(streams: _HelplineStreams, row: Row) -> set[Subscription]:
        user_ids, roles = service.recipients_index_keys(row)
        found: set[Subscription] = set()
        for user_id in user_ids:
            found |= streams.by_user.get(user_id, set())
        for role in roles:
            found |= streams.by_role.get(role, set())
        return found

    def _emit_due_queue_status(self) -> None:
        now = time.monotonic()
        for helpline_id, due in list(self._queue_status_due.items()):
            if due > now:
                continue
            outcome = service.emit_queue_status(helpline_id)
            if outcome == "wait":
                self._queue_status_due[helpline_id] = now + 0.25
            else:
                del self._queue_status_due[helpline_id]

    def _refresh_due_positions(self) -> None:
        """Every watching visitor's queue position, in one query for the whole process, every
        EVENT_VISITOR_REFRESH_S, or a second after a queue moved. Only a place that changed is pushed."""
        now = time.monotonic()
        if now < self._positions_due:
            return
        self._positions_due = now + self.app.config["EVENT_VISITOR_REFRESH_S"]
        self._positions_refreshed = now
        with self._lock:
            watched = list(self._contacts)
        if not watched:
            return
        positions = queue_positions(watched)
        with self._lock:
            for contact_id, watches in self._contacts.items():
                position = positions.get(contact_id)
                if self._positions.get(contact_id, -1) == position:
                    continue
                for contact_watch in watches:
                    contact_watch.push([("position", position)])
            self._positions = {contact_id: positions.get(contact_id) for contact_id in self._contacts}

    def next_wake_in(self, default: float) -> float:
        due = list(self._queue_status_due.values())
        if self._contacts:
            due.append(self._positions_due)
        if not due:
            return default
        return max(0.0, min(default, min(due) - time.monotonic()))

    # --- the thread -------------------------------------------------------------------

    def start(self) -> None:
        if not self.app.config["EVENT_RELAY_THREAD"]:
            return
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                return
            self._stopping.clear()
            self._thread = threading.Thread(target=self._run, name="event-relay", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _run(self) -> None:
        url = self.app.config["SQLALCHEMY_DATABASE_URI"]
        while not self._stopping.is_set():
            try:
                if url.startswith("postgresql"):
                    self._listen(url)
                else:
                    self._poll()
            except Exception as error:  # noqa: BLE001 - the database went away: try again shortly
                log.error("event relay lost its connection", extra={"error_type": type(error).__name__})
                self._stopping.wait(1.0)

    def _poll(self) -> None:
        interval = self.app.config["EVENT_POLL_S"]
        while not self._stopping.is_set():
            self.pump()
            self._stopping.wait(self.next_wake_in(interval))

    def _already_read(self, note) -> bool:
        """A numbering's notification up to what this relay has fetched: the echo of its own
        numbering (or of another's it has read since), which would cost an empty pump."""
        return (note.channel == "helpline_events_numbered" and self.last_seq is not None
                and note.payload.isdigit() and int(note.payload) <= self.last_seq)

    def _listen(self, url: str) -> None:
        gap = self.app.config["EVENT_RELAY_GAP_MS"] / 1000
        with psycopg_connect(psycopg_dsn(url)) as connection:
            connection.execute(f"LISTEN {NOTIFY_CHANNEL}")
            connection.execute("LISTEN helpline_events_numbered")
            last_pump = time.monotonic()
            self.pump()  # whatever committed before we listened
            while not self._stopping.is_set():
                # Wake on a notification or every second (a safety net, and queue.status timing).
                heard = list(connection.notifies(timeout=self.next_wake_in(1.0), stop_after=1))
                if heard:
                    # Drain what else arrives meanwhile: one pump serves them all. After a quiet spell
                    # that is 2 ms; in a busy one, until EVENT_RELAY_GAP_MS after the last pump began,
                    # since a pump costs several statements and a commit whatever it carries.
                    heard += connection.notifies(timeout=max(0.002, last_pump + gap - time.monotonic()))
                if heard and all(self._already_read(note) for note in heard) and self.next_wake_in(1.0) > 0:
                    continue
                last_pump = time.monotonic()
                self.pump()
