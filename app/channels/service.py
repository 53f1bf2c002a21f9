"""Inbound messages on every channel: store first, then decide what the contact is.

This is the ingest hot path. On PostgreSQL a message joining a live contact is one
autocommitted statement (find the contact, take the seq, insert ON CONFLICT DO NOTHING);
a new thread's first message is two autocommitted statements (profile and its flags; then the
message, the contact with its seqs counted and its automatic replies in one statement), SQLAlchemy
Core statements sent by the driver itself (core.db.autocommitted_rows), not ORM objects. A redelivered webhook (same
MessageSid) hits the unique constraint and stores nothing new, also when both
copies arrive at once. Two first messages racing from one new address meet the
"one live contact per thread" index: the loser retries and joins the winner.
"""
from __future__ import annotations

import logging
from datetime import timedelta
from dataclasses import dataclass, field
from functools import lru_cache
from typing import NamedTuple

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.exc import IntegrityError

from app.channels import postsurvey, presurvey
from app.channels.outbound import CONVERSATIONS_AUTHOR
from app.contacts.events import ContactQueued, RepliesQueued
from app.helplines import risk
from app.core.addresses import Address, lookup_hash, parse_conversations_author, parse_messaging_address
from app.channels.hours import closed_reason
from app.contacts.models import PENDING_GRACE, Contact, ContactStatus, Message, take_message_seq
from app.contacts.service import queue_system_message
from app.core.crypto import cipher
from app.core.db import (
    autocommitted, autocommitted_rows, dialect_name, execute, execute_rows, insert_ignoring_conflict,
    insert_many_ignoring_conflict,
)
from app.core.errors import Conflict, ValidationFailed
from app.core.events import commit, emit, mark_committed_outside_session
from app.core.ids import new_id
from app.core.time import utcnow
from app.extensions import db
from app.helplines.service import HelplineConfig, settings_for
from app.profiles.service import ensure_profile_with_flags
from app.routing.service import choose_queue, queue_position

log = logging.getLogger(__name__)

# How automatic replies reach the sender.
REPLY_TWIML = "twiml"   # in the webhook's TwiML answer (SMS, WhatsApp)
REPLY_REST = "rest"     # through the provider's REST API after commit (Conversations)
REPLY_STORE = "store"   # stored for the client to poll (web chat)

_contacts = Contact.__table__
_messages = Message.__table__

# Built once: constructing statements per message costs more than running them.
_LIVE_CONTACT = sa.select(
    _contacts.c.id, _contacts.c.status, _contacts.c.channel, _contacts.c.bot_state, _contacts.c.language
).where(
    _contacts.c.helpline_id == sa.bindparam("helpline_id"),
    _contacts.c.thread_key == sa.bindparam("thread_key"),
    _contacts.c.ended_at.is_(None),
)
_INSERT_CONTACT = sa.insert(_contacts)
_INSERT_MESSAGE = sa.insert(_messages).returning(_messages.c.id)


@dataclass
class Inbound:
    channel: str
    # What identifies the conversation thread: "phone:+447...", "conversation:CH...", "web:<session id>".
    thread: str
    body: str
    address: Address | None = None
    provider_sid: str | None = None
    client_key: str | None = None
    helpline_address: str | None = None
    conversation_sid: str | None = None
    num_media: int = 0
    language: str | None = None
    # Web chat answers its pre-survey in the widget: {"about_self", "age", "gender"}.
    pre_survey: dict | None = None


@dataclass
class Received:
    contact_id: str | None = None
    status: str | None = None
    message_id: int | None = None
    duplicate: bool = False
    new_contact: bool = False
    # Automatic replies, in order.
    replies: list[str] = field(default_factory=list)
    # Their stored message ids, to deliver after commit when they go by REST.
    reply_ids: list[int] = field(default_factory=list)
    # The live contact's row, when the message joined one.
    live: object = None
    # For a contact this transaction opened: the seq of its next message, counted here (see _next_seq).
    next_seq: int | None = None

    def as_duplicate(self) -> Received:
        """What a redelivered message comes to: its contact, nothing stored, no replies."""
        return Received(contact_id=self.contact_id, status=self.status, duplicate=True)


def receive_message(helpline: HelplineConfig, inbound: Inbound, reply_mode: str, *, fast_path: bool = True) -> Received:
    """Store an inbound message and move its contact along; commits. Safe to call twice with one message.

    `fast_path` takes a pooled connection of its own: callers whose session already
    holds one pass False, so that no request ever waits for a second connection.
    """
    thread_key = lookup_hash(inbound.thread, "thread")
    fast_path = fast_path and dialect_name() == "postgresql"
    if fast_path:
        joined = _join_live_contact_postgres(helpline.id, thread_key, inbound, helpline.risk_phrases)
        if joined is not None:
            if not joined.duplicate:
                if joined.status == "bot":
                    _continue_bot(helpline, joined, inbound.body, reply_mode)
            return joined
    # After the PostgreSQL fast path found no live contact, the first attempt opens one straight
    # away; a racing request that opened it first makes the insert fail and the retry join it.
    known_absent = fast_path
    for attempt in range(3):
        try:
            result = _receive(helpline, inbound, reply_mode, thread_key, known_absent and attempt == 0)
        except IntegrityError:
            # Another request opened this thread's contact first: join it.
            db.session.rollback()
            if attempt == 2:
                raise
            continue
        if result.duplicate:
            db.session.rollback()
        else:
            commit()
        return result
    raise AssertionError("unreachable")


def open_contact(helpline: HelplineConfig, inbound: Inbound, reply_mode: str) -> Received:
    """Open a contact with no message yet (a web chat session starting); the caller commits."""
    result = Received()
    _open(helpline, inbound, result, with_message=False)
    _store_replies(helpline.id, result, reply_mode)
    return result


# PostgreSQL: find the live contact and store the message in one autocommitted statement (one
# round trip, app.core.db.autocommitted), for the common case of a message joining its conversation.
# Two variants: a message with no risk phrase (nearly all) updates only the contact's last_seq, so
# that none of the contacts table's column-specific UPDATE triggers (live events, statistics
# rollups: migration 0022) is even considered; a risky one also flags the contact.
_JOIN_LIVE_CONTACT_POSTGRES = """
WITH live AS (
    SELECT id, status, bot_state, language, channel FROM contacts
    WHERE helpline_id = %(helpline_id)s AND thread_key = %(thread_key)s AND ended_at IS NULL
), bumped AS (
    -- The message's place in its conversation, taken under the contact's row lock, so that no later
    -- message becomes visible before an earlier one (web chat polls by it).
    UPDATE contacts SET last_seq = contacts.last_seq + 1{flag}
    FROM live WHERE contacts.id = live.id
    RETURNING contacts.last_seq AS seq
), stored AS (
    INSERT INTO messages (helpline_id, contact_id, direction, sender, body, provider_sid, client_key, status,
                          attempts, num_media, created_at, seq)
    SELECT %(helpline_id)s, live.id, 'inbound', 'visitor', %(body)s, %(provider_sid)s, %(client_key)s, 'received',
           0, %(num_media)s, %(created_at)s, bumped.seq
    FROM live, bumped
    ON CONFLICT DO NOTHING
    RETURNING id
)
SELECT live.id, live.status, live.bot_state, live.language, live.channel, (SELECT id FROM stored) AS message_id
FROM live
"""
_JOIN_QUIETLY = _JOIN_LIVE_CONTACT_POSTGRES.format(flag="")
# A risk phrase flags the contact in the same statement: a crash cannot store the message and lose the flag.
_JOIN_FLAGGING = _JOIN_LIVE_CONTACT_POSTGRES.format(flag=""",
        risk_flag = true, priority = 'urgent',
        updated_at = CASE WHEN contacts.risk_flag THEN contacts.updated_at ELSE %(created_at)s END""")


class LiveContact(NamedTuple):
    id: str
    status: str
    bot_state: dict | None
    language: str | None
    channel: str
    message_id: int | None = None


def _join_live_contact_postgres(helpline_id: str, thread_key: str, inbound: Inbound,
                                risky_phrases: tuple = ()) -> Received | None:
    """None when the thread has no live contact (the caller opens one)."""
    params = {
        "helpline_id": helpline_id, "thread_key": thread_key, "body": cipher.encrypt(inbound.body),
        "provider_sid": inbound.provider_sid, "client_key": inbound.client_key, "num_media": inbound.num_media,
        "created_at": utcnow(),
    }
    risky = risk.matches(risky_phrases, inbound.body)
    rows = autocommitted(_JOIN_FLAGGING if risky else _JOIN_QUIETLY, params)
    # Committed outside the session: a request retried after a lost connection must know.
    mark_committed_outside_session()
    if not rows:
        return None
    live = LiveContact(*rows[0])
    result = Received(contact_id=live.id, status=live.status, message_id=live.message_id,
                      duplicate=live.message_id is None)
    result.live = live
    return result


def _continue_bot(helpline: HelplineConfig, result: Received, text: str, reply_mode: str) -> None:
    """The message is stored; now the pre-survey takes its answer (its own transaction)."""
    _advance_bot(helpline, result, result.live, text)
    _store_replies(helpline.id, result, reply_mode)
    commit()


def _receive(helpline: HelplineConfig, inbound: Inbound, reply_mode: str, thread_key: str, known_absent: bool) -> Received:
    live = None if known_absent else execute(_LIVE_CONTACT, {"helpline_id": helpline.id, "thread_key": thread_key}).first()
    result = Received()
    if live is None:
        # A new thread's first message is the common case: look for a running survey only where one can run.
        surveyed = _surveyed_contact(helpline.id, thread_key) if helpline.settings["post_survey"]["enabled"] else None
        if surveyed is not None:
            return _answer_post_survey(helpline, surveyed, inbound, reply_mode)
        if known_absent:
            return _open_with_first_messages(helpline, inbound, result, reply_mode, thread_key)
        _open(helpline, inbound, result, with_message=True, thread_key=thread_key)
        result.message_id = _store_first_messages(helpline.id, result, inbound, reply_mode)
        if result.message_id is None:
            return result.as_duplicate()
        return result
    result.contact_id, result.status = live.id, live.status

    result.message_id = _store_inbound(helpline.id, result, inbound)
    if result.message_id is None:
        return result.as_duplicate()

    if live.status == "bot":
        _advance_bot(helpline, result, live, inbound.body)
    if risk.matches(helpline.risk_phrases, inbound.body):
        execute(sa.update(_contacts).where(_contacts.c.id == live.id).values(priority="urgent", risk_flag=True))
    _store_replies(helpline.id, result, reply_mode)
    return result


def _open(helpline: HelplineConfig, inbound: Inbound, result: Received, *, with_message: bool,
          thread_key: str | None = None) -> None:
    """Insert the contact a new thread opens (its first message, when `with_message`, and its
    automatic replies to be stored next), and choose those replies."""
    values = _new_contact(helpline, inbound, result, with_message=with_message, thread_key=thread_key)
    execute_rows(_INSERT_CONTACT, values)
    _opened(helpline, values)


def _opened(helpline: HelplineConfig, values: dict) -> None:
    if values["status"] == "queued":
        # Routing offers it at once if someone is free (app/routing/handlers.py).
        emit(ContactQueued(helpline.id, values["id"]))


def _new_contact(helpline: HelplineConfig, inbound: Inbound, result: Received, *, with_message: bool,
                 thread_key: str | None = None, own_transaction: bool = False) -> dict:
    """The row of the contact a new thread opens, with its automatic replies chosen (in `result`), not
    stored yet. `own_transaction`: the profile's upsert commits at once (see _open_with_first_messages)."""
    settings = helpline.settings
    now = utcnow()
    language = inbound.language or settings["default_language"]
    profile_id, flags = (ensure_profile_with_flags(helpline.id, inbound.address.identifier, inbound.channel, now,
                                                   own_transaction=own_transaction)
                         if inbound.address else (None, frozenset()))
    values = {
        "id": new_id(), "helpline_id": helpline.id, "profile_id": profile_id, "channel": inbound.channel,
        "language": language, "thread_key": thread_key or lookup_hash(inbound.thread, "thread"),
        "address": inbound.address.value if inbound.address else None,
        "address_hash": lookup_hash(inbound.address.value, "address") if inbound.address else None,
        "helpline_address": inbound.helpline_address, "conversation_sid": inbound.conversation_sid,
        "taxonomy_version": helpline.taxonomy_version, "priority": "normal", "risk_flag": False,
        "form": {}, "transfers": None, "created_at": now, "updated_at": now,
    }
    closed = closed_reason(settings, helpline.timezone, inbound.channel, now)
    if "blocked" in flags:
        values.update(status=ContactStatus.BLOCKED, ended_at=now)
        result.replies.append(settings["messages"]["blocked"])
    elif closed:
        values.update(status=ContactStatus.OUT_OF_HOURS, ended_at=now)
        result.replies.append(settings["messages"][closed])
    elif settings["pre_survey"]["enabled"] and inbound.pre_survey is None:
        state, prompt = presurvey.start(settings, language)
        values.update(status=ContactStatus.BOT, bot_state=state)
        result.replies.append(prompt)
    else:
        answers = inbound.pre_survey or {}
        values.update(
            status=ContactStatus.QUEUED, queued_at=now, queue_id=choose_queue(helpline.id, inbound.channel, language),
            pre_survey=answers or None, form=presurvey.prefill_form(answers),
        )
        result.replies.append(settings["messages"]["queued"])
    if values["status"] in ("queued", "bot") and risk.matches(helpline.risk_phrases, inbound.body):
        values.update(priority="urgent", risk_flag=True)
    if values["status"] == "queued":
        _position_notice(helpline, result, values)
    # Nobody else sees the row before commit, so its messages' seqs are counted here, and the row
    # goes in with the last of them: no UPDATE per message (take_message_seq) for a new contact.
    values["last_seq"] = int(with_message) + len(result.replies)
    result.contact_id, result.status, result.new_contact = values["id"], values["status"], True
    result.next_seq = 1
    return values


# PostgreSQL: a new thread's first message, its contact and its automatic replies in one autocommitted
# statement (built per set of columns and number of replies). The first message goes in ON CONFLICT DO
# NOTHING, and the contact and the replies only when it did: a redelivered webhook stores nothing. A
# racing first message that opened the thread's contact first fails the whole statement on the "one
# live contact per thread" index (IntegrityError): the caller then joins that contact.
@lru_cache(maxsize=64)
def _open_with_messages_stmt(contact_columns: tuple[str, ...], message_columns: tuple[str, ...], replies: int,
                             conflict_column: str | None):
    def row(table: sa.Table, columns: tuple[str, ...], suffix: str) -> sa.Select:
        return sa.select(*(sa.bindparam(f"{name}{suffix}", type_=table.c[name].type) for name in columns))

    first = postgresql.insert(_messages).from_select(message_columns, row(_messages, message_columns, "_0"))
    if conflict_column is not None:
        first = first.on_conflict_do_nothing(index_elements=[conflict_column])
    first = first.returning(_messages.c.id).cte("first_message")
    contact = sa.insert(_contacts).from_select(
        contact_columns, row(_contacts, contact_columns, "").where(sa.exists(first.select()))
    ).returning(_contacts.c.id).cte("opened")
    if not replies:
        return sa.select(first.c.id, sa.null()).where(sa.exists(contact.select()))
    stored_replies = sa.insert(_messages).from_select(message_columns, sa.union_all(*(
        row(_messages, message_columns, f"_{n}").where(sa.exists(contact.select())) for n in range(1, replies + 1)
    ))).returning(_messages.c.seq, _messages.c.id).cte("replies")
    reply_ids = sa.select(sa.func.array_agg(postgresql.aggregate_order_by(stored_replies.c.id, stored_replies.c.seq)))
    return sa.select(first.c.id, reply_ids.scalar_subquery())


def _open_with_first_messages(helpline: HelplineConfig, inbound: Inbound, result: Received, reply_mode: str,
                              thread_key: str) -> Received:
    """A new thread's first message on PostgreSQL, with no transaction of the session's: the profile's
    upsert, then the contact with its messages, each autocommitted (two round trips where a
    transaction took five: BEGIN, profile, contact, messages, COMMIT)."""
    values = _new_contact(helpline, inbound, result, with_message=True, thread_key=thread_key, own_transaction=True)
    rows = _first_message_rows(helpline.id, result, inbound, reply_mode)
    message_columns = tuple(rows[0])
    params = {**values, **{f"{name}_{n}": row[name] for n, row in enumerate(rows) for name in message_columns}}
    stmt = _open_with_messages_stmt(tuple(values), message_columns, len(rows) - 1, _unique_key(inbound))
    stored = autocommitted_rows(stmt, params)
    mark_committed_outside_session()
    if not stored:
        return result.as_duplicate()
    message_id, reply_ids = stored[0]
    _opened(helpline, values)
    result.message_id = _first_messages_stored(result, reply_mode, message_id, reply_ids or [])
    return result


def _position_notice(helpline: HelplineConfig, result: Received, contact: dict) -> None:
    """"You are number N in the queue", when the helpline asks for it."""
    settings = helpline.settings
    if not settings["queue_position_notice"]:
        return
    position = queue_position(helpline.id, contact["queue_id"], contact["priority"], contact["queued_at"], contact["id"])
    result.replies.append(settings["messages"]["queue_position"].replace("{position}", str(position)))


def _next_seq(result: Received) -> int:
    """The seq of the next message stored on the result's contact: counted from the row's last_seq as
    inserted, for a contact this transaction opened; else taken under the contact's row lock."""
    if result.next_seq is None:
        return take_message_seq(result.contact_id)
    result.next_seq += 1
    return result.next_seq - 1


def _inbound_values(helpline_id: str, result: Received, inbound: Inbound) -> dict:
    return {
        "helpline_id": helpline_id, "contact_id": result.contact_id, "direction": "inbound", "sender": "visitor",
        "body": inbound.body, "provider_sid": inbound.provider_sid, "client_key": inbound.client_key,
        "status": "received", "attempts": 0, "num_media": inbound.num_media, "created_at": utcnow(),
        "seq": _next_seq(result), "sent_at": None, "next_attempt_at": None,
    }


def _reply_values(helpline_id: str, result: Received, text: str, reply_mode: str, now) -> dict:
    values = {
        "helpline_id": helpline_id, "contact_id": result.contact_id, "direction": "outbound", "sender": "system",
        "body": text, "provider_sid": None, "client_key": None, "attempts": 0, "num_media": 0, "created_at": now,
        "seq": _next_seq(result), "sent_at": None, "next_attempt_at": None,
    }
    if reply_mode == REPLY_REST:
        # Sent after commit; the retry job picks it up if this process dies first.
        values.update(status="pending", next_attempt_at=now + PENDING_GRACE)
    else:
        values.update(status="sent", sent_at=now)
    return values


def _unique_key(inbound: Inbound) -> str | None:
    """The column whose unique constraint makes a redelivered message store nothing."""
    return "provider_sid" if inbound.provider_sid else "client_key" if inbound.client_key else None


def _store_inbound(helpline_id: str, result: Received, inbound: Inbound) -> int | None:
    values = _inbound_values(helpline_id, result, inbound)
    key = _unique_key(inbound)
    if key is not None:
        return insert_ignoring_conflict(_messages, values, [key])
    return execute(_INSERT_MESSAGE, values).scalar()


def _store_first_messages(helpline_id: str, result: Received, inbound: Inbound, reply_mode: str) -> int | None:
    """A new contact's first message and its automatic replies, in one INSERT of several rows (one
    round trip, not one per message). None when the message was stored before: the caller rolls
    back, so neither the contact nor the replies are kept."""
    rows = _first_message_rows(helpline_id, result, inbound, reply_mode)
    ids_by_seq = dict(insert_many_ignoring_conflict(_messages, rows, _unique_key(inbound), ("seq", "id")))
    if rows[0]["seq"] not in ids_by_seq:
        return None
    return _first_messages_stored(result, reply_mode, ids_by_seq[rows[0]["seq"]],
                                  [ids_by_seq[row["seq"]] for row in rows[1:]])


def _first_message_rows(helpline_id: str, result: Received, inbound: Inbound, reply_mode: str) -> list[dict]:
    """A new contact's first message, then its automatic replies, in seq order; each row names the same columns."""
    now = utcnow()
    rows = [_inbound_values(helpline_id, result, inbound)]
    return rows + [_reply_values(helpline_id, result, text, reply_mode, now) for text in result.replies]


def _first_messages_stored(result: Received, reply_mode: str, message_id: int, reply_ids: list[int]) -> int:
    result.reply_ids.extend(reply_ids)
    if reply_mode == REPLY_REST:
        emit(RepliesQueued(tuple(result.reply_ids)))
    return message_id


def _advance_bot(helpline: HelplineConfig, result: Received, live, text: str) -> None:
    settings = helpline.settings
    state, next_prompt, finished = presurvey.advance(settings, live.bot_state, text, live.language)
    now = utcnow()
    if not finished:
        db.session.execute(sa.update(_contacts).where(_contacts.c.id == result.contact_id).values(bot_state=state, updated_at=now))
        result.replies.append(next_prompt)
        return
    answers = state["answers"]
    db.session.execute(
        sa.update(_contacts).where(_contacts.c.id == result.contact_id, _contacts.c.status == ContactStatus.BOT).values(
            status=ContactStatus.QUEUED, queued_at=now, bot_state=None, pre_survey=answers,
            form=presurvey.prefill_form(answers), updated_at=now,
            queue_id=choose_queue(helpline.id, live.channel, live.language),
        )
    )
    result.status = ContactStatus.QUEUED
    emit(ContactQueued(helpline.id, result.contact_id))
    result.replies.append(settings["messages"]["queued"])
    contact = db.session.execute(sa.select(_contacts).where(_contacts.c.id == result.contact_id)).mappings().one()
    _position_notice(helpline, result, contact)


def _store_replies(helpline_id: str, result: Received, reply_mode: str) -> None:
    """Keep every automatic reply in the transcript, so the counsellor sees what the child was told."""
    now = utcnow()
    for text in result.replies:
        result.reply_ids.append(execute(_INSERT_MESSAGE, _reply_values(helpline_id, result, text, reply_mode, now)).scalar())
    if reply_mode == REPLY_REST:
        emit(RepliesQueued(tuple(result.reply_ids)))


# --- the post-contact survey (app/channels/postsurvey.py) ---------------------------

# Where the survey is asked: message channels one question at a time, web chat as the widget's form.
POST_SURVEY_CHANNELS = ("sms", "whatsapp", "messenger", "chat", "web")


def start_post_survey(contact_id: str) -> bool:
    """After a counsellor ended the conversation: ask the helpline's survey, if it has one (commits).

    Best-effort, like any event reaction: a survey lost to a crash between the end and this is not
    asked again (a courtesy to the child, not a record). Returns whether it started."""
    contact = db.session.scalar(sa.select(Contact).where(Contact.id == contact_id).with_for_update())
    settings = settings_for(contact.helpline_id) if contact else None
    survey = postsurvey.survey_settings(settings) if contact else None
    if (contact is None or not survey["enabled"]
            or contact.channel not in POST_SURVEY_CHANNELS or contact.post_survey_state is not None
            or contact.post_survey_until is not None or contact.post_survey_at is not None
            or _thread_has_live_contact(contact)):
        db.session.rollback()
        return False
    contact.post_survey_until = utcnow() + timedelta(minutes=survey["timeout_min"])
    if contact.channel != "web":
        contact.post_survey_state, prompt = postsurvey.start(settings, contact.language)
        queue_system_message(contact, prompt)  # sent after the commit (RepliesQueued)
    commit()
    return True


def _thread_has_live_contact(contact: Contact) -> bool:
    """The child already wrote again and opened a new contact: that one is theirs now, no survey."""
    return db.session.scalar(sa.select(sa.exists().where(
        Contact.helpline_id == contact.helpline_id, Contact.thread_key == contact.thread_key,
        Contact.ended_at.is_(None)))) or False


def _surveyed_contact(helpline_id: str, thread_key: str) -> Contact | None:
    """The thread's contact whose survey is asking questions now (locked), if any. A web chat's survey
    is the widget's form (no state): a message typed there is not an answer."""
    contact = db.session.scalar(
        sa.select(Contact).where(
            Contact.helpline_id == helpline_id, Contact.thread_key == thread_key, Contact.post_survey_until > utcnow(),
        ).order_by(Contact.ended_at.desc()).limit(1).with_for_update()
    )
    return contact if contact is not None and contact.post_survey_state else None


def _answer_post_survey(helpline: HelplineConfig, contact: Contact, inbound: Inbound, reply_mode: str) -> Received:
    """A message on a thread whose survey runs: it answers the current question."""
    result = Received(contact_id=contact.id, status=contact.status)
    result.message_id = _store_inbound(helpline.id, result, inbound)
    if result.message_id is None:
        return Received(contact_id=contact.id, status=contact.status, duplicate=True)
    settings = helpline.settings
    state, answer, reply, finished = postsurvey.advance(settings, contact.post_survey_state, inbound.body,
                                                        contact.language)
    now = utcnow()
    if answer is not None:
        _record_post_survey_answer(contact, settings, *answer)
    contact.post_survey_state = state
    if finished:
        _finish_post_survey(contact, now)
    else:
        contact.post_survey_until = now + timedelta(minutes=postsurvey.survey_settings(settings)["timeout_min"])
    result.replies.append(reply)
    _store_replies(helpline.id, result, reply_mode)
    return result


def _record_post_survey_answer(contact: Contact, settings: dict, question_id: str, value) -> None:
    """Closed answers in plain (statistics may count them), free text encrypted."""
    questions = postsurvey.survey_settings(settings)["questions"]
    question = next((q for q in questions if q["id"] == question_id), None)
    if question is None:
        return
    if question["type"] == "free":
        contact.post_survey_private = {**(contact.post_survey_private or {}), question_id: value}
        return
    contact.post_survey = {**(contact.post_survey or {}), question_id: value}
    if question_id == postsurvey.first_scale_id(questions):
        contact.satisfaction = value


def _finish_post_survey(contact: Contact, now) -> None:
    """Done (answered, or timed out): the next message on the thread opens a new contact as usual."""
    contact.post_survey_state, contact.post_survey_until = None, None
    answered = [v for v in (*(contact.post_survey or {}).values(), *(contact.post_survey_private or {}).values())
                if v is not None]
    if answered:
        contact.post_survey_at = now


def close_timed_out_post_surveys() -> int:
    """Surveys whose child stopped answering (a job): closed, keeping what was answered."""
    now = utcnow()
    closed = 0
    for contact in db.session.scalars(
        sa.select(Contact).where(Contact.post_survey_until.is_not(None), Contact.post_survey_until <= now)
        .limit(500).with_for_update(skip_locked=True)
    ).all():
        _finish_post_survey(contact, now)
        closed += 1
    commit()
    return closed


def _open_survey(contact: Contact | None) -> Contact:
    """The contact, if its survey is open now; 409 otherwise."""
    if contact is None or contact.post_survey_until is None or contact.post_survey_until <= utcnow():
        db.session.rollback()
        raise Conflict("There is no survey to answer.", code="no_post_survey")
    return contact


def web_post_survey(contact_id: str) -> list[dict]:
    """The questions the web chat widget shows after the counsellor ended the chat (409 when none is open)."""
    contact = _open_survey(db.session.get(Contact, contact_id))
    settings = settings_for(contact.helpline_id)
    return [{"id": q["id"], "type": q["type"],
             "prompt": presurvey.localised(q["prompt"], contact.language, settings["default_language"])}
            for q in postsurvey.survey_settings(settings)["questions"]]


def answer_web_post_survey(contact_id: str, answers: dict) -> str:
    """The widget's form, all at once: each answer checked against its question's type (422 names the
    wrong ones, nothing stored); once only. Returns the thanks text."""
    contact = _open_survey(db.session.scalar(sa.select(Contact).where(Contact.id == contact_id).with_for_update()))
    settings = settings_for(contact.helpline_id)
    survey = postsurvey.survey_settings(settings)
    questions = {q["id"]: q for q in survey["questions"]}
    values, errors = {}, {}
    for question_id, given in answers.items():
        question = questions.get(question_id)
        value = postsurvey.form_answer(question, given) if question else None
        if question is None:
            errors[question_id] = ["No such question."]
        elif postsurvey.is_not_answered(value):
            errors[question_id] = [{"scale": "An integer from 1 to 5, or null.", "yes_no": "true, false or null.",
                                    "free": "A text of at most 2000 characters, or null."}[question["type"]]]
        else:
            values[question_id] = value
    if errors:
        db.session.rollback()
        raise ValidationFailed(details={"answers": errors})
    for question_id in questions:
        _record_post_survey_answer(contact, settings, question_id, values.get(question_id))
    _finish_post_survey(contact, utcnow())
    commit()
    return presurvey.localised(survey["thanks"], contact.language, settings["default_language"])


# --- Twilio Messaging (SMS, WhatsApp) and Conversations ---------------------------

def receive_twilio_message(helpline: HelplineConfig, fields: dict) -> Received:
    """A Twilio Messaging webhook's fields (already signature-checked and validated)."""
    address = parse_messaging_address(fields["From"])
    inbound = Inbound(
        # SMS and WhatsApp from one number share a profile, not a conversation.
        channel=address.channel, thread=f"{address.channel}|{address.identifier}", body=fields.get("Body") or "",
        address=address,
        provider_sid=fields["MessageSid"], helpline_address=fields.get("To"), num_media=fields.get("NumMedia") or 0,
    )
    return receive_message(helpline, inbound, REPLY_TWIML)


def receive_conversation_message(helpline: HelplineConfig, fields: dict) -> Received | None:
    """An onMessageAdded event; None for our own messages echoed back."""
    if fields["Author"] == CONVERSATIONS_AUTHOR:
        return None
    address = parse_conversations_author(fields["Author"], fields.get("Source"))
    inbound = Inbound(
        channel=address.channel, thread=f"conversation:{fields['ConversationSid']}", body=fields.get("Body") or "",
        address=address, provider_sid=fields["MessageSid"], conversation_sid=fields["ConversationSid"],
        num_media=fields.get("MediaCount") or 0,
    )
    return receive_message(helpline, inbound, REPLY_REST)
