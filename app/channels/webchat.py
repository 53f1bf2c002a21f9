"""Our own web chat: sessions, their messages, and ending them."""
from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

import sqlalchemy as sa
from flask import current_app

from app.channels import postsurvey, presurvey
from app.channels.hours import closed_reason
from app.channels.models import WebchatSession
from app.channels.service import (
    REPLY_STORE, Inbound, answer_web_post_survey, open_contact, receive_message, web_post_survey,
)
from app.contacts.models import Contact, Message
from app.core.errors import Conflict, NotFound, Unauthorized
from app.core.events import commit
from app.core.ids import new_id
from app.core.time import utcnow
from app.extensions import db
from app.helplines.models import Helpline
from app.routing.service import end_by_sender
from app.helplines.service import HelplineConfig, helpline_config
from app.helplines.settings import DEFAULT_SETTINGS

TOKEN_PREFIX = "wct_"
MAX_POLL_ITEMS = 200

# What the widget shows, from the contact's status.
SESSION_STATUS = {
    "bot": "bot", "queued": "queued", "offered": "queued", "active": "active",
    "wrapup": "ended", "completed": "ended", "abandoned": "ended", "blocked": "ended", "out_of_hours": "closed",
}


def _hash_token(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def create_session(helpline: HelplineConfig, language: str | None, pre_survey: dict | None) -> dict:
    """Open a session and its contact in one transaction; out of hours it is closed at once."""
    raw_token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    session_id = new_id()
    inbound = Inbound(channel="web", thread=f"web:{session_id}", body="", language=language, pre_survey=pre_survey)
    opened = open_contact(helpline, inbound, REPLY_STORE)
    ended = opened.status in ("out_of_hours", "blocked")
    db.session.add(WebchatSession(
        id=session_id, helpline_id=helpline.id, contact_id=opened.contact_id, token_hash=_hash_token(raw_token),
        ended_at=utcnow() if ended else None,
    ))
    commit()  # a queued contact is offered at once if someone is free (ContactQueued)
    answer = {"session_id": session_id, "token": raw_token, "status": SESSION_STATUS[opened.status]}
    if opened.replies:
        answer["message"] = opened.replies[-1]
    return answer


def authenticate(session_id: str, raw_token: str | None) -> WebchatSession:
    """The session this token opens; another session's id is 404, as if it did not exist.

    A token stops working WEBCHAT_TOKEN_GRACE_MIN after its chat ended (by the visitor, the counsellor
    or the helpline): long enough to read the goodbye, not long enough for the next person at a shared
    device to read the transcript."""
    if not raw_token or not raw_token.startswith(TOKEN_PREFIX):
        raise Unauthorized("Send 'Authorization: Bearer <session token>'.", code="missing_token")
    found = db.session.execute(
        sa.select(WebchatSession, Contact.ended_at).join(Contact, Contact.id == WebchatSession.contact_id)
        .where(WebchatSession.token_hash == _hash_token(raw_token))
    ).first()
    if found is None:
        raise Unauthorized("The session token is not valid.", code="invalid_token")
    session, contact_ended_at = found
    ended = [t for t in (session.ended_at, contact_ended_at) if t is not None]
    grace = timedelta(minutes=current_app.config["WEBCHAT_TOKEN_GRACE_MIN"])
    if ended and min(ended) + grace <= utcnow():
        raise Unauthorized("This chat has ended.", code="session_expired")
    if session.id != session_id:
        raise NotFound("No such session.")
    return session


def _session_status(session: WebchatSession) -> str:
    status = db.session.scalar(sa.select(Contact.status).where(Contact.id == session.contact_id))
    return "ended" if session.ended_at and status not in ("out_of_hours",) else SESSION_STATUS[status]


def finished_for(session: WebchatSession, after: int) -> bool:
    """The chat ended and the visitor has had every message (nothing left to stream)."""
    if _session_status(session) not in ("ended", "closed"):
        return False
    last = db.session.scalar(sa.select(sa.func.max(Message.seq)).where(Message.contact_id == session.contact_id))
    return after >= (last or 0)


def _helpline_for(session: WebchatSession) -> HelplineConfig:
    return helpline_config(db.session.scalar(sa.select(Helpline.code).where(Helpline.id == session.helpline_id)))


def post_message(session: WebchatSession, text: str, client_message_id: str | None) -> dict:
    if session.ended_at is not None:
        raise Conflict("This chat has ended.", code="session_ended")
    helpline = _helpline_for(session)
    client_key = f"{session.id}:{client_message_id}" if client_message_id else None
    inbound = Inbound(channel="web", thread=f"web:{session.id}", body=text, client_key=client_key)
    result = receive_message(helpline, inbound, REPLY_STORE, fast_path=False)
    if result.duplicate:
        stored = db.session.scalar(sa.select(Message).where(Message.client_key == client_key))
    else:
        stored = db.session.get(Message, result.message_id)
    return serialise_message(stored)


def list_messages(session: WebchatSession, after: int) -> dict:
    rows = db.session.scalars(
        sa.select(Message)
        .where(Message.contact_id == session.contact_id, Message.seq > after)
        .order_by(Message.seq)
        .limit(MAX_POLL_ITEMS)
    )
    return {"status": _session_status(session), "items": [serialise_message(m) for m in rows]}


def end_session(session: WebchatSession) -> dict:
    if session.ended_at is None:
        session.ended_at = utcnow()
        end_by_sender(session.contact_id, notify=True)
    return {"status": "ended"}


def post_survey_questions(session: WebchatSession) -> dict:
    return {"questions": web_post_survey(session.contact_id)}


def answer_post_survey(session: WebchatSession, answers: dict) -> dict:
    return {"status": "answered", "message": answer_web_post_survey(session.contact_id, answers)}


def serialise_message(message: Message) -> dict:
    sender = "visitor" if message.direction == "inbound" else message.sender
    return {"seq": message.seq, "from": sender, "text": message.body or "", "sent_at": message.sent_at or message.created_at}


# The helpline's own texts the widget shows instead of its built-in ones (when the helpline set them).
WIDGET_MESSAGE_KEYS = ("closed", "holiday", "queued", "goodbye", "abandoned")


def helpline_name(helpline: HelplineConfig) -> str:
    return db.session.scalar(sa.select(Helpline.name).where(Helpline.id == helpline.id))


def widget_config(helpline: HelplineConfig, language: str | None) -> dict:
    """What the web chat widget needs before a chat starts: the helpline's name, whether it is open
    now (and if not, its closed or holiday message), the pre-survey's questions, whether a post-contact
    survey follows, where quick exit goes, and the helpline's own texts. Nothing here is about any person."""
    settings = helpline.settings
    language = language or settings["default_language"]
    reason = closed_reason(settings, helpline.timezone, "web", utcnow())
    survey = settings["pre_survey"]
    answer = {
        "helpline": {"code": helpline.code, "name": helpline_name(helpline)},
        "language": language,
        "open": reason is None,
        "pre_survey": {
            "enabled": bool(survey["enabled"]),
            "questions": [{"key": q["key"], "prompt": presurvey.localised(q["prompt"], language,
                                                                          settings["default_language"])}
                          for q in presurvey.questions(settings)] if survey["enabled"] else [],
        },
        # Whether to look for the post-contact survey when a counsellor ends the chat (the questions come then).
        "post_survey": {"enabled": postsurvey.survey_settings(settings)["enabled"]},
        "exit_url": settings["webchat_exit_url"],
        "messages": {key: settings["messages"][key] for key in WIDGET_MESSAGE_KEYS
                     if settings["messages"][key] != DEFAULT_SETTINGS["messages"][key]},
    }
    if reason is not None:
        answer["message"] = settings["messages"][reason]
    return answer
