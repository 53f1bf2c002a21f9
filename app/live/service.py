"""Live events: numbering the outbox in commit order, who may receive each event, and what they receive.

The database writes an outbox row for every change the contract streams (triggers, migration 0010).
Those rows get their public number (`seq`, the `id:` of a stream frame) only after they commit:
`number_committed` takes one lock, gives every committed unnumbered row the next numbers and commits.
Row ids alone would not do: ids from concurrent transactions commit out of order, and a client
that had seen id 12 would never get an 11 committed a moment later. Numbering under one lock
makes every number visible only after all smaller ones, so `seq > last_seen` never skips one.
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

import sqlalchemy as sa
from sqlalchemy.orm import load_only

from app.audit import service as audit
from app.channels import webchat
from app.contacts.models import Contact, Message
from app.contacts.schemas import MessageSchema
from app.core.db import dialect_name, in_values
from app.core.time import utcnow
from app.extensions import db
from app.live.models import INTERNAL_TYPES, QUEUE_MOVING_TYPES, StreamEvent
from app.permissions import engine
from app.permissions.service import rules_for
from app.routing.service import queues_status

log = logging.getLogger(__name__)

NUMBERING_LOCK = 0x68_6C_65_76  # "hlev": one PostgreSQL advisory lock for the whole outbox
NUMBERING_BATCH = 5000
QUEUE_STATUS_ROLES = ("supervisor", "admin", "manager")
_message_schema = MessageSchema()
_TRANSCRIPT_ACTIONS = ("view_contact", "view_transcript")
# Only what the permission engine reads of a contact: whole rows would decrypt every encrypted
# column of every contact a batch touches, for nothing.
_ENGINE_FIELDS_ONLY = load_only(Contact.id, Contact.helpline_id, Contact.counsellor_id, Contact.case_id,
                                Contact.created_at)


@dataclass(eq=False)
class Viewer:
    """Who a staff stream serves: enough of the user for audiences and the permission engine."""

    id: str
    helpline_id: str
    role: str
    token_id: str
    token_expires_at: datetime
    # Contacts whose transcript this stream has already delivered (audited once per stream).
    audited: set = field(default_factory=set)


@dataclass(frozen=True)
class Row:
    seq: int
    helpline_id: str
    type: str
    payload: dict
    audience: str
    created_at: datetime


# --- numbering ---------------------------------------------------------------------

_TODO = """
WITH todo AS (
    SELECT id, row_number() OVER (ORDER BY id) AS n FROM events WHERE seq IS NULL ORDER BY id LIMIT :batch
), top AS (SELECT COALESCE(MAX(seq), 0) AS m FROM events)
"""
_SET_SEQ = "UPDATE events SET seq = top.m + todo.n FROM todo, top WHERE events.id = todo.id RETURNING events.seq"
_NUMBER_SQLITE = sa.text(_TODO + _SET_SEQ)
# PostgreSQL: the NOTIFY in the same statement (delivered on commit: every relay then fetches).
_NUMBER_POSTGRESQL = sa.text(_TODO + f", numbered AS ({_SET_SEQ})" + """
SELECT CASE WHEN count(*) > 0 THEN pg_notify('helpline_events_numbered', max(seq)::text) END, count(*) FROM numbered
""")
# Lock only when there is work: no row means nothing to number (or the lock is someone else's).
_LOCK_IF_UNNUMBERED = sa.text(
    "SELECT pg_try_advisory_xact_lock(:key) WHERE EXISTS (SELECT 1 FROM events WHERE seq IS NULL)")


def _lock_for_numbering() -> bool:
    """True when there are unnumbered rows and this transaction holds the outbox's one numbering
    lock, taken without waiting: a relay that finds it taken leaves the work to its holder, who
    looks again after committing (number_committed). SQLite: the UPDATE takes the database's one
    write lock, which serialises numbering too."""
    if dialect_name() != "postgresql":
        return db.session.scalar(sa.select(StreamEvent.id).where(StreamEvent.seq.is_(None)).limit(1)) is not None
    return bool(db.session.scalar(_LOCK_IF_UNNUMBERED, {"key": NUMBERING_LOCK}))


def _try_lock_numbering() -> bool:
    if dialect_name() != "postgresql":
        return True
    return bool(db.session.scalar(sa.text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": NUMBERING_LOCK}))


def number_committed(look_again: bool = True) -> int:
    """Give committed unnumbered rows their seq, in locked transactions; returns how many. Commits.

    With `look_again`, after each commit it looks again: a row that committed while the lock was
    held, whose notification another relay ignored (the lock was taken), is numbered here. A relay
    leaves that out: it heard that row's notification too, so its next wake-up numbers the row."""
    total = 0
    postgresql = dialect_name() == "postgresql"
    while _lock_for_numbering():
        # A separate statement after the lock: its snapshot sees every numbering committed before.
        if postgresql:
            numbered = db.session.execute(_NUMBER_POSTGRESQL, {"batch": NUMBERING_BATCH}).one()[1]
        else:
            numbered = len(db.session.execute(_NUMBER_SQLITE, {"batch": NUMBERING_BATCH}).all())
        db.session.commit()
        total += numbered
        if numbered < NUMBERING_BATCH and not look_again:
            return total
    db.session.commit()
    return total


def emit_queue_status(helpline_id: str) -> str:
    """Record a `queue.status` event if the queues moved since the last one and that one is at
    least a second old. Returns "emitted", "current" (nothing moved) or "wait" (too soon). Commits.

    Runs under the numbering lock and numbers its own row, so two processes never both emit."""
    if not _try_lock_numbering():
        db.session.commit()
        return "wait"
    last = db.session.execute(
        sa.select(StreamEvent.seq, StreamEvent.created_at)
        .where(StreamEvent.helpline_id == helpline_id, StreamEvent.type == "queue.status")
        .order_by(StreamEvent.seq.desc()).limit(1)
    ).first()
    moved = db.session.scalar(
        sa.select(sa.func.max(StreamEvent.seq))
        .where(StreamEvent.helpline_id == helpline_id, StreamEvent.type.in_(QUEUE_MOVING_TYPES))
    )
    now = utcnow()
    if last is not None and (moved is None or moved < last.seq):
        db.session.commit()
        return "current"
    if last is not None and now - last.created_at < timedelta(seconds=1):
        db.session.commit()
        return "wait"
    top = db.session.scalar(sa.select(sa.func.coalesce(sa.func.max(StreamEvent.seq), 0)))
    db.session.add(StreamEvent(seq=top + 1, helpline_id=helpline_id, type="queue.status",
                               payload=json.dumps({"queues": queues_status(helpline_id)}, default=json_default),
                               audience="staff", created_at=now))
    if dialect_name() == "postgresql":
        db.session.execute(sa.text("SELECT pg_notify('helpline_events_numbered', :seq)"), {"seq": str(top + 1)})
    db.session.commit()
    return "emitted"


def prune(older_than: timedelta) -> int:
    """Delete events older than `older_than`, always keeping the newest (numbering continues from it). Commits."""
    newest = db.session.scalar(sa.select(sa.func.max(StreamEvent.seq)))
    if newest is None:
        db.session.commit()
        return 0
    result = db.session.execute(
        sa.delete(StreamEvent).where(StreamEvent.created_at < utcnow() - older_than, StreamEvent.seq < newest)
    )
    db.session.commit()
    return result.rowcount or 0


# --- reading -----------------------------------------------------------------------

def _row(seq, helpline_id, event_type, payload, audience, created_at) -> Row:
    return Row(seq, helpline_id, event_type, json.loads(payload), audience, created_at)


def rows_after(seq: int, limit: int = 1000) -> list[Row]:
    """Numbered events after `seq`, every helpline, oldest first (the relay's fetch)."""
    found = db.session.execute(
        sa.select(StreamEvent.seq, StreamEvent.helpline_id, StreamEvent.type, StreamEvent.payload,
                  StreamEvent.audience, StreamEvent.created_at)
        .where(StreamEvent.seq > seq).order_by(StreamEvent.seq).limit(limit)
    ).all()
    return [_row(*r) for r in found]


def helpline_rows_after(helpline_id: str, seq: int, limit: int = 1000) -> list[Row]:
    """One helpline's numbered events after `seq` (a reconnecting stream's replay)."""
    found = db.session.execute(
        sa.select(StreamEvent.seq, StreamEvent.helpline_id, StreamEvent.type, StreamEvent.payload,
                  StreamEvent.audience, StreamEvent.created_at)
        .where(StreamEvent.helpline_id == helpline_id, StreamEvent.seq > seq).order_by(StreamEvent.seq).limit(limit)
    ).all()
    return [_row(*r) for r in found]


def latest_seq() -> int:
    return db.session.scalar(sa.select(sa.func.coalesce(sa.func.max(StreamEvent.seq), 0)))


# --- audiences ---------------------------------------------------------------------

def candidates(row: Row, viewer: Viewer) -> bool:
    """Whether `viewer` is in the event's audience, before any per-record permission check."""
    kind, _, who = row.audience.partition(":")
    if row.type in ("queue.status",):
        return viewer.role in QUEUE_STATUS_ROLES
    if kind == "user":
        return who == viewer.id
    if kind == "contact":
        return who == viewer.id or viewer.role == "supervisor"
    if kind == "role":
        return viewer.role == who
    return False


def recipients_index_keys(row: Row) -> tuple[list[str], list[str]]:
    """(user ids, roles) whose streams may receive `row`: how the relay finds them without a scan."""
    kind, _, who = row.audience.partition(":")
    if row.type == "queue.status":
        return [], list(QUEUE_STATUS_ROLES)
    if kind == "user":
        return [who], []
    if kind == "contact":
        return ([who] if who else []), ["supervisor"]
    if kind == "role":
        return [], [who]
    return [], []


class Renderer:
    """Turns rows into the `data` clients receive, checking transcript permissions for message events.

    One per batch: contacts, messages and rules are loaded once for every stream the batch reaches."""

    def __init__(self, rows: list[Row]):
        message_ids = [r.payload["message_id"] for r in rows if r.type == "message.created"]
        contact_ids = {r.payload["contact_id"] for r in rows if r.type.startswith("message.")}
        self._messages = {m.id: m for m in db.session.scalars(
            sa.select(Message).where(in_values(Message.id, message_ids)))} if message_ids else {}
        self._contacts = {c.id: c for c in db.session.scalars(
            sa.select(Contact).options(_ENGINE_FIELDS_ONLY).where(in_values(Contact.id, contact_ids)))} \
            if contact_ids else {}
        self._rules: dict[str, tuple[dict, object]] = {}
        self._decisions: dict[tuple, bool] = {}
        self._data: dict[int, str] = {}
        self._reads: list[tuple[Viewer, str]] = []

    def _rules_for(self, helpline_id: str) -> tuple[dict, object]:
        """The helpline's rules, and its decision_key for transcripts (engine.decision_keyer)."""
        found = self._rules.get(helpline_id)
        if found is None:
            rules = rules_for(helpline_id)
            found = self._rules[helpline_id] = (rules, engine.decision_keyer(rules, _TRANSCRIPT_ACTIONS))
        return found

    def allowed(self, row: Row, viewer: Viewer) -> bool:
        if row.type in INTERNAL_TYPES or not candidates(row, viewer):
            return False
        if not row.type.startswith("message."):
            return True
        contact = self._contacts.get(row.payload["contact_id"])
        if contact is None:
            return False
        rules, decision_key = self._rules_for(row.helpline_id)
        # One decision per contact and kind of viewer (engine.decision_keyer): a message reaches every
        # supervisor's stream, and the same answer need not be worked out for each.
        key = (contact.id, decision_key(viewer, contact))
        decision = self._decisions.get(key)
        if decision is None:
            # As GET /contacts/<id>/messages: the contact must be visible and its transcript too.
            decision = self._decisions[key] = all(
                engine.allowed(viewer, rules, action, contact) for action in _TRANSCRIPT_ACTIONS)
        if not decision:
            return False
        if contact.id not in viewer.audited:
            viewer.audited.add(contact.id)
            self._reads.append((viewer, contact.id))
        return True

    def record_reads(self) -> None:
        """Audit the transcripts this batch delivered (one `read_transcript` per stream and contact)."""
        audit.record_reads(self._reads, "read_transcript", "contact")
        self._reads = []

    def data(self, row: Row) -> str | None:
        """The JSON text of the event's data; None when there is nothing left to send (an erased message)."""
        if row.seq not in self._data:
            self._data[row.seq] = self._render(row)
        return self._data[row.seq]

    def visitor_message(self, row: Row) -> dict | None:
        """The message as the web chat visitor sees it (`{"seq", "from", "text", "sent_at"}`)."""
        message = self._messages.get(row.payload["message_id"])
        return None if message is None else webchat.serialise_message(message)

    def _render(self, row: Row) -> str | None:
        payload = dict(row.payload)
        if row.type == "message.created":
            message = self._messages.get(payload.pop("message_id"))
            if message is None:
                return None
            payload["message"] = _message_schema.dump(message)
        elif row.type == "offer.created":
            payload["expires_at"] = _iso(_parse_time(payload["expires_at"]))
        elif row.type == "message.updated":
            payload["message_id"] = str(payload["message_id"])
        return json.dumps(payload, default=json_default, separators=(",", ":"))


def frame(seq: int, event_type: str, data: str) -> str:
    return f"id: {seq}\nevent: {event_type}\ndata: {data}\n\n"


def _parse_time(value: str) -> datetime:
    parsed = datetime.fromisoformat(value)
    return parsed.replace(tzinfo=timezone.utc) if parsed.tzinfo is None else parsed.astimezone(timezone.utc)


def _iso(value: datetime) -> str:
    return value.isoformat()  # as marshmallow writes every other time in the API


def json_default(value):
    if isinstance(value, datetime):
        return _iso(value.astimezone(timezone.utc))
    raise TypeError(type(value).__name__)

