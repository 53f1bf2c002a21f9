"""Contacts: reading them, replying, and how they end.

Until the permission rules engine lands (records issue), access is the
default rule: supervisors see every contact of their helpline, counsellors
the contacts assigned to them; managers and admins never see a record.
"""
from __future__ import annotations

import logging
from datetime import timedelta

import sqlalchemy as sa

from app.auth.models import User
from app.channels.addresses import mask
from app.contacts.models import LIVE_STATUSES, Contact, Message
from app.core.errors import Conflict, Forbidden, NotFound
from app.core.time import utcnow
from app.extensions import db
from app.helplines.settings import effective_settings

log = logging.getLogger(__name__)

RECORD_ROLES = ("counsellor", "supervisor")


def get_contact_for(user: User, contact_id: str) -> Contact:
    if user.role not in RECORD_ROLES:
        raise Forbidden("Managers and admins do not see individual records.")
    contact = db.session.get(Contact, contact_id)
    if contact is None or contact.helpline_id != user.helpline_id:
        raise NotFound("No such contact.")
    if user.role == "counsellor" and contact.counsellor_id != user.id and not _offered_to(contact.id, user.id):
        raise NotFound("No such contact.")
    return contact


def _offered_to(contact_id: str, user_id: str) -> bool:
    """A counsellor may read a contact offered to them before accepting it (the transfer note, the form)."""
    from app.routing.models import Offer

    return db.session.scalar(
        sa.select(Offer.id).where(Offer.contact_id == contact_id, Offer.counsellor_id == user_id, Offer.status == "pending")
    ) is not None


def serialise_contact(contact: Contact, *, unmasked: bool = False) -> dict:
    fields = (
        "id", "channel", "status", "queue_id", "counsellor_id", "profile_id", "priority", "language", "pre_survey",
        "created_at", "queued_at", "offered_at", "assigned_at", "first_response_at", "ended_at", "finalized_at",
        "risk_flag", "form", "taxonomy_version", "transfers",
    )
    data = {name: getattr(contact, name) for name in fields}
    data["case_id"] = None
    data["address"] = contact.address if unmasked else mask(contact.address)
    return data


def contact_messages(contact: Contact) -> list[Message]:
    return list(db.session.scalars(sa.select(Message).where(Message.contact_id == contact.id).order_by(Message.id)))


def _queue_outbound(contact: Contact, text: str, sender: str, author_id: str | None = None) -> Message:
    from app.channels.outbound import PENDING_GRACE

    now = utcnow()
    message = Message(
        helpline_id=contact.helpline_id, contact_id=contact.id, direction="outbound", sender=sender,
        author_id=author_id, body=text, status="pending", attempts=0, created_at=now,
        next_attempt_at=now + PENDING_GRACE,
    )
    db.session.add(message)
    return message


def send_reply(user: User, contact_id: str, text: str) -> Message:
    """A counsellor's reply: stored and committed first, then sent through the contact's channel."""
    from app.channels.outbound import deliver

    contact = get_contact_for(user, contact_id)
    if contact.status != "active":
        raise Conflict("Replies go to active contacts only.", code="contact_not_active")
    message = _queue_outbound(contact, text, "counsellor", user.id)
    if contact.first_response_at is None:
        contact.first_response_at = utcnow()
    db.session.commit()
    return deliver(message.id)


def end_by_sender(contact_id: str, *, notify: bool) -> None:
    """The child left: a waiting contact is abandoned, a live conversation goes to wrap-up."""
    from app.channels.outbound import deliver_all
    from app.helplines.models import Helpline

    contact = db.session.get(Contact, contact_id)
    if contact.status not in LIVE_STATUSES:
        db.session.commit()
        return
    from app.routing.models import Assignment, Offer
    from app.routing.service import dispatch_safely

    settings = effective_settings(db.session.get(Helpline, contact.helpline_id).settings)
    now = utcnow()
    if contact.status == "active":
        contact.status, text = "wrapup", settings["messages"]["goodbye"]
        # The counsellor wraps up; their capacity for new conversations frees now.
        db.session.execute(sa.update(Assignment).where(Assignment.contact_id == contact.id, Assignment.ended_at.is_(None))
                           .values(ended_at=now, end_reason="ended"))
    else:
        contact.status, text = "abandoned", settings["messages"]["abandoned"]
        db.session.execute(sa.update(Offer).where(Offer.contact_id == contact.id, Offer.status == "pending")
                           .values(status="cancelled", responded_at=now))
    contact.ended_at = now
    notice = _queue_outbound(contact, text, "system") if notify else None
    db.session.commit()
    if notice is not None:
        deliver_all([notice.id])
    dispatch_safely(contact.helpline_id)


def abandon_stale_contacts() -> int:
    """Contacts waiting (or stuck in the pre-survey) longer than the helpline's queue_timeout_min (a job).

    The UPDATE's WHERE re-checks the status, so two schedulers abandon each contact once.
    """
    from app.channels.outbound import deliver_all
    from app.helplines.models import Helpline

    now = utcnow()
    notices: list[int] = []
    for helpline in db.session.scalars(sa.select(Helpline)):
        settings = effective_settings(helpline.settings)
        cutoff = now - timedelta(minutes=settings["queue_timeout_min"])
        abandoned = db.session.scalars(
            sa.update(Contact)
            .where(
                Contact.helpline_id == helpline.id, Contact.status.in_(("queued", "bot")),
                sa.func.coalesce(Contact.queued_at, Contact.created_at) < cutoff,
            )
            .values(status="abandoned", ended_at=now, updated_at=now)
            .returning(Contact.id)
        ).all()
        for contact_id in abandoned:
            notices.append(_queue_outbound(db.session.get(Contact, contact_id), settings["messages"]["abandoned"], "system"))
    db.session.commit()
    deliver_all([m.id for m in notices])
    return len(notices)
