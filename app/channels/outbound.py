"""Sending messages out through the contact's channel, with retries.

A message is stored as `pending` and committed before any provider is
called, so a crash mid-send loses nothing: the retry job finds it. A send
that fails is kept as `failed` with its error; 429s, 5xx and network errors
are retried with exponential back-off up to MAX_RETRIES times, other 4xx
answers (a bad number, say) are final. Nothing is dropped silently.
"""
from __future__ import annotations

import logging
from datetime import timedelta

import requests
import sqlalchemy as sa
from flask import current_app
from twilio.base.exceptions import TwilioException, TwilioRestException

from app.channels.twilio_client import twilio_client
from app.contacts.models import Contact, Message
from app.core.db import for_update_skip_locked
from app.core.time import utcnow
from app.extensions import db
from app.helplines.models import Helpline

log = logging.getLogger(__name__)

MAX_RETRIES = 5
BACKOFF_BASE = timedelta(seconds=30)
# A pending message not sent within this is taken over by the retry job.
PENDING_GRACE = timedelta(minutes=2)
# Our own author name in Conversations; its echoes are ignored.
CONVERSATIONS_AUTHOR = "helpline"
# Twilio's message statuses, as ours.
TWILIO_STATUS = {
    "accepted": "sent", "scheduled": "sent", "queued": "sent", "sending": "sent", "sent": "sent",
    "delivered": "delivered", "read": "read", "undelivered": "undelivered", "failed": "failed", "canceled": "failed",
}
# A late callback never moves a message backwards (delivered, then "sent").
STATUS_RANK = {"pending": 0, "failed": 0, "sent": 1, "delivered": 2, "undelivered": 2, "read": 3}


class SendFailed(Exception):
    def __init__(self, code: str, message: str, retryable: bool):
        super().__init__(message)
        self.code, self.message, self.retryable = code, message, retryable


def status_callback_url(helpline_code: str) -> str | None:
    base = current_app.config.get("PUBLIC_BASE_URL")
    return f"{base}/webhooks/{helpline_code}/twilio/status" if base else None


def _send_via_provider(message: Message, contact: Contact, helpline: Helpline) -> str | None:
    """Hand one message to its channel; returns the provider's id for it."""
    if contact.channel == "web":
        return None  # the visitor's widget polls our store
    if not (helpline.twilio_account_sid and helpline.twilio_auth_token):
        raise SendFailed("not_configured", "The helpline has no Twilio credentials.", retryable=False)
    client = twilio_client(helpline.twilio_account_sid, helpline.twilio_auth_token, current_app.config.get("TWILIO_API_BASE_URL"))
    if contact.conversation_sid:
        sent = client.conversations.v1.conversations(contact.conversation_sid).messages.create(
            author=CONVERSATIONS_AUTHOR, body=message.body
        )
        return sent.sid
    if contact.channel in ("sms", "whatsapp", "messenger") and contact.address and contact.helpline_address:
        prefix = "" if contact.channel == "sms" else f"{contact.channel}:"
        kwargs = {"to": prefix + contact.address, "from_": contact.helpline_address, "body": message.body}
        callback = status_callback_url(helpline.code)
        if callback:
            kwargs["status_callback"] = callback
        return client.messages.create(**kwargs).sid
    raise SendFailed("channel_cannot_send", f"Messages cannot be sent on channel {contact.channel}.", retryable=False)


def deliver(message_id: int) -> Message:
    """Try to send one stored outbound message now; records the outcome and commits."""
    message = db.session.get(Message, message_id)
    contact = db.session.get(Contact, message.contact_id)
    helpline = db.session.get(Helpline, message.helpline_id)
    now = utcnow()
    message.attempts += 1
    try:
        try:
            provider_sid = _send_via_provider(message, contact, helpline)
        except TwilioRestException as error:
            # Only status and Twilio's code: Twilio's text can quote the phone number.
            retryable = error.status == 429 or error.status >= 500
            raise SendFailed(str(error.code or error.status), f"Twilio answered HTTP {error.status}.", retryable) from None
        except (requests.RequestException, TwilioException) as error:
            raise SendFailed("network_error", f"Twilio could not be reached ({type(error).__name__}).", True) from None
    except SendFailed as failure:
        message.status = "failed"
        message.error_code, message.error_message = failure.code[:32], failure.message[:500]
        if failure.retryable and message.attempts <= MAX_RETRIES:
            message.next_attempt_at = now + BACKOFF_BASE * (2 ** (message.attempts - 1))
        else:
            message.next_attempt_at = None
        log.warning("send failed", extra={"message_id": message.id, "error_code": message.error_code,
                                          "attempts": message.attempts, "will_retry": message.next_attempt_at is not None})
    else:
        message.status, message.provider_sid, message.sent_at = "sent", provider_sid, now
        message.error_code = message.error_message = message.next_attempt_at = None
    db.session.commit()
    return message


def deliver_all(message_ids: list[int]) -> None:
    for message_id in message_ids:
        deliver(message_id)


def retry_due_messages(batch: int = 50) -> int:
    """Send pending and failed messages whose time has come (a scheduler job).

    Rows are claimed under SKIP LOCKED and leased (next_attempt_at moved on)
    in one short transaction, so two schedulers never send one message twice.
    """
    now = utcnow()
    due = for_update_skip_locked(
        sa.select(Message.id)
        .where(
            Message.direction == "outbound", Message.status.in_(("pending", "failed")),
            Message.next_attempt_at.is_not(None), Message.next_attempt_at <= now,
        )
        .order_by(Message.next_attempt_at)
        .limit(batch)
    )
    ids = list(db.session.scalars(due))
    if ids:
        db.session.execute(sa.update(Message).where(Message.id.in_(ids)).values(next_attempt_at=now + PENDING_GRACE))
    db.session.commit()
    deliver_all(ids)
    return len(ids)


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
