"""Sending messages out through the contact's channel, off the request path, at most once per claim.

A message is stored as `pending` and committed before any provider is called, so a crash
mid-send loses nothing. After the commit an in-process sender pool (app/channels/sender.py)
sends it; the scheduler's `retry_due_messages` is the safety net for sends that failed or
whose process died. A request never waits for Twilio.

Every send is a claim, then a send, then a record:
- the claim is one committed UPDATE that re-checks the message is still unsent (no provider
  sid, status pending or failed, due) and leases it for LEASE, counting the attempt; two
  senders (two schedulers, a scheduler and the pool) can never both claim one attempt;
- the record never overwrites a provider sid already stored.
Failures are kept as `failed` with their error; 429s, 5xx and network errors are retried with
exponential back-off up to MAX_RETRIES times, other 4xx answers are final.

A read time-out is ambiguous: Twilio may have accepted the message before the answer was
lost. Before sending again after one, we ask Twilio for messages to that address since the
attempt (Conversations: that conversation's latest messages) with the same body, and adopt
the sid of a match. What remains at-least-once: a message Twilio accepted but does not list
yet when we ask (its list is near real time), or whose body Twilio altered, may go out twice.
"""
from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import timedelta

import requests
import sqlalchemy as sa
from flask import current_app
from twilio.base.exceptions import TwilioException, TwilioRestException

from app.channels.twilio_client import twilio_client
from app.contacts.models import Contact, Message
from app.core.time import utcnow
from app.extensions import db
from app.helplines.models import Helpline

log = logging.getLogger(__name__)

MAX_RETRIES = 5
BACKOFF_BASE = timedelta(seconds=30)
# A claimed send holds its lease this long (far beyond the Twilio client's 10 s time-out).
LEASE = timedelta(minutes=2)
# Our own author name in Conversations; its echoes are ignored.
CONVERSATIONS_AUTHOR = "helpline"
# An attempt whose answer was lost: look before sending again.
TIMED_OUT = "timeout"
# Twilio's message statuses, as ours.
TWILIO_STATUS = {
    "accepted": "sent", "scheduled": "sent", "queued": "sent", "sending": "sent", "sent": "sent",
    "delivered": "delivered", "read": "read", "undelivered": "undelivered", "failed": "failed", "canceled": "failed",
}
# A late callback never moves a message backwards (delivered, then "sent").
STATUS_RANK = {"pending": 0, "failed": 0, "sent": 1, "delivered": 2, "undelivered": 2, "read": 3}
# How far back a lost attempt is looked for, allowing for clock skew with Twilio.
RECONCILE_SKEW = timedelta(minutes=1)

_messages = Message.__table__


class SendFailed(Exception):
    def __init__(self, code: str, message: str, retryable: bool):
        super().__init__(message)
        self.code, self.message, self.retryable = code, message, retryable


@dataclass(frozen=True)
class Accepted:
    provider_sid: str | None
    status: str = "sent"


def status_callback_url(helpline_code: str) -> str | None:
    base = current_app.config.get("PUBLIC_BASE_URL")
    return f"{base}/webhooks/{helpline_code}/twilio/status" if base else None


def _client(helpline: Helpline):
    if not (helpline.twilio_account_sid and helpline.twilio_auth_token):
        raise SendFailed("not_configured", "The helpline has no Twilio credentials.", retryable=False)
    return twilio_client(helpline.twilio_account_sid, helpline.twilio_auth_token, current_app.config.get("TWILIO_API_BASE_URL"))


def _sms_addresses(contact: Contact) -> tuple[str, str] | None:
    if contact.channel in ("sms", "whatsapp", "messenger") and contact.address and contact.helpline_address:
        prefix = "" if contact.channel == "sms" else f"{contact.channel}:"
        return prefix + contact.address, contact.helpline_address
    return None


def _sandbox(helpline: Helpline) -> Accepted:
    """The demo's stand-in for Twilio: records the message as delivered, sends nothing. Never in production."""
    if current_app.config.get("ENV_NAME") == "production":
        raise SendFailed("sandbox_refused", "The outbound sandbox is for development only.", retryable=False)
    log.info("sandbox delivery", extra={"helpline_id": helpline.id})
    return Accepted("SB" + secrets.token_hex(16), status="delivered")


def _send_via_provider(message: Message, contact: Contact, helpline: Helpline) -> Accepted:
    """Hand one message to its channel."""
    if contact.channel == "web":
        return Accepted(None)  # the visitor's widget reads our store
    if helpline.outbound_sandbox:
        return _sandbox(helpline)
    client = _client(helpline)
    if contact.conversation_sid:
        sent = client.conversations.v1.conversations(contact.conversation_sid).messages.create(
            author=CONVERSATIONS_AUTHOR, body=message.body
        )
        return Accepted(sent.sid)
    addresses = _sms_addresses(contact)
    if addresses:
        kwargs = {"to": addresses[0], "from_": addresses[1], "body": message.body}
        callback = status_callback_url(helpline.code)
        if callback:
            kwargs["status_callback"] = callback
        return Accepted(client.messages.create(**kwargs).sid)
    raise SendFailed("channel_cannot_send", f"Messages cannot be sent on channel {contact.channel}.", retryable=False)


def _find_sent_copy(message: Message, contact: Contact, helpline: Helpline) -> str | None:
    """The sid of this message at Twilio if an earlier, timed-out attempt reached it."""
    if contact.channel == "web" or helpline.outbound_sandbox:
        return None
    since = (message.last_attempt_at or message.created_at) - RECONCILE_SKEW
    client = _client(helpline)
    if contact.conversation_sid:
        found = client.conversations.v1.conversations(contact.conversation_sid).messages.list(order="desc", limit=50)
        matches = [m for m in found if m.author == CONVERSATIONS_AUTHOR and m.body == message.body
                   and m.date_created and m.date_created >= since]
    else:
        addresses = _sms_addresses(contact)
        if not addresses:
            return None
        found = client.messages.list(to=addresses[0], from_=addresses[1], limit=50)
        matches = [m for m in found if m.body == message.body and m.date_created and m.date_created >= since]
    return matches[-1].sid if matches else None


def _provider_call(message: Message, contact: Contact, helpline: Helpline) -> Accepted:
    """Send, or adopt the copy an earlier timed-out attempt left at Twilio; errors become SendFailed."""
    try:
        if message.error_code == TIMED_OUT:
            adopted = _find_sent_copy(message, contact, helpline)
            if adopted:
                log.info("timed-out send found at the provider", extra={"message_id": message.id})
                return Accepted(adopted)
        return _send_via_provider(message, contact, helpline)
    except TwilioRestException as error:
        # Only status and Twilio's code: Twilio's text can quote the phone number.
        retryable = error.status == 429 or error.status >= 500
        raise SendFailed(str(error.code or error.status), f"Twilio answered HTTP {error.status}.", retryable) from None
    except (requests.ReadTimeout, requests.exceptions.ChunkedEncodingError):
        # The request went out; the answer did not come back. Look before sending again.
        raise SendFailed(TIMED_OUT, "Twilio did not answer in time; the message may have been accepted.", True) from None
    except (requests.RequestException, TwilioException) as error:
        raise SendFailed("network_error", f"Twilio could not be reached ({type(error).__name__}).", True) from None


def _claim(message_id: int, now, *, first_attempt: bool) -> bool:
    """Lease one unsent message for one attempt (committed); False if it is sent, taken or not due."""
    conditions = [
        _messages.c.id == message_id, _messages.c.direction == "outbound", _messages.c.provider_sid.is_(None),
        _messages.c.status.in_(("pending", "failed")),
    ]
    # The first attempt right after the commit, or a due retry: never one claimed by someone else meanwhile.
    conditions.append(_messages.c.attempts == 0 if first_attempt else _messages.c.next_attempt_at <= now)
    claimed = db.session.execute(
        sa.update(_messages).where(*conditions)
        .values(next_attempt_at=now + LEASE, attempts=_messages.c.attempts + 1, last_attempt_at=now)
        .returning(_messages.c.id)
    ).first()
    db.session.commit()
    return claimed is not None


def _record_success(message: Message, contact: Contact, accepted: Accepted) -> None:
    now = utcnow()
    stored = db.session.execute(
        sa.update(_messages).where(_messages.c.id == message.id, _messages.c.provider_sid.is_(None))
        .values(status=accepted.status, provider_sid=accepted.provider_sid, sent_at=now, error_code=None,
                error_message=None, next_attempt_at=None)
        .returning(_messages.c.id)
    ).first()
    if stored is None:
        # Another sender recorded a sid first: keep theirs (the one Twilio reports on).
        log.warning("message already recorded as sent; keeping the first sid", extra={"message_id": message.id})
    elif message.sender == "counsellor":
        # First response time counts a reply accepted for delivery, not one merely typed.
        db.session.execute(sa.update(Contact).where(Contact.id == contact.id, Contact.first_response_at.is_(None))
                           .values(first_response_at=now))
    db.session.commit()


def _record_failure(message: Message, failure: SendFailed) -> None:
    retry = failure.retryable and message.attempts <= MAX_RETRIES
    next_attempt_at = utcnow() + BACKOFF_BASE * (2 ** (message.attempts - 1)) if retry else None
    db.session.execute(
        sa.update(_messages).where(_messages.c.id == message.id, _messages.c.provider_sid.is_(None))
        .values(status="failed", error_code=failure.code[:32], error_message=failure.message[:500],
                next_attempt_at=next_attempt_at)
    )
    db.session.commit()
    log.warning("send failed", extra={"message_id": message.id, "error_code": failure.code[:32],
                                      "attempts": message.attempts, "will_retry": retry})


def deliver(message_id: int, *, first_attempt: bool = True) -> bool:
    """Claim one stored outbound message, send it, record the outcome (commits). False when not claimed."""
    if not _claim(message_id, utcnow(), first_attempt=first_attempt):
        return False
    message = db.session.get(Message, message_id, populate_existing=True)
    contact = db.session.get(Contact, message.contact_id)
    helpline = db.session.get(Helpline, message.helpline_id)
    try:
        accepted = _provider_call(message, contact, helpline)
    except SendFailed as failure:
        _record_failure(message, failure)
        return True
    _record_success(message, contact, accepted)
    return True


def deliver_all(message_ids: list[int], *, first_attempt: bool = True) -> int:
    """Each message claimed just before its own send, so a slow provider never outlives a batch's lease."""
    return sum(deliver(message_id, first_attempt=first_attempt) for message_id in message_ids)


def retry_due_messages(batch: int = 50) -> int:
    """Send pending and failed messages whose time has come (a scheduler job, safe in several at once)."""
    now = utcnow()
    due = list(db.session.scalars(
        sa.select(Message.id).where(
            Message.direction == "outbound", Message.status.in_(("pending", "failed")), Message.provider_sid.is_(None),
            Message.next_attempt_at.is_not(None), Message.next_attempt_at <= now,
        ).order_by(Message.next_attempt_at).limit(batch)
    ))
    db.session.commit()
    return deliver_all(due, first_attempt=False)


def record_delivery_status(helpline_id: str, provider_sid: str, twilio_status: str, error_code: str | None) -> bool:
    """A Twilio status callback, signed for `helpline_id`; returns whether one of that helpline's messages changed.

    Scoped to the helpline whose token signed the request: another helpline's account
    cannot move our messages' statuses, even knowing their sids."""
    status = TWILIO_STATUS.get((twilio_status or "").lower())
    if status is None:
        return False
    message = db.session.scalar(sa.select(Message).where(
        Message.provider_sid == provider_sid, Message.direction == "outbound", Message.helpline_id == helpline_id))
    if message is None or STATUS_RANK[status] < STATUS_RANK.get(message.status, 0):
        return False
    message.status = status
    if error_code:
        message.error_code = str(error_code)[:32]
        message.error_message = f"Twilio reported {twilio_status} (error {error_code})."
    db.session.commit()
    return True
