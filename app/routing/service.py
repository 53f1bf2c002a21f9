"""Queues, counsellor availability and capacity, offers, assignment.

How a contact reaches a counsellor:
- A queued contact is offered to the available counsellor who may take it
  (skills: queues, languages), has spare capacity for its channel and in
  total, and has been idle longest. Urgent contacts first, then higher queue
  priority, then longest waiting.
- An offer is accepted, declined (the next counsellor gets it) or lapses after
  the queue's offer_timeout_s (likewise; two lapses in a row put the
  counsellor on break, as TaskRouter does).
- Pending offers count against capacity, so a counsellor is never offered more
  than they can take.

Concurrency: every flow locks the contact row first, then the counsellor row
(FOR UPDATE; dispatch uses SKIP LOCKED so parallel dispatchers pass each
other), and a partial unique index allows one open assignment per contact:
a contact can never be active for two counsellors.
"""
from __future__ import annotations

import logging
import time
from datetime import timedelta
from typing import NamedTuple

import sqlalchemy as sa
from sqlalchemy.exc import OperationalError
from flask import current_app

from app.auth.models import User
from app.contacts.models import CHANNELS, LIVE_STATUSES, Contact, ContactStatus
from app.contacts.service import queue_system_message
from app.core.db import autocommitted, commit_unique, dialect_name, in_values
from app.core.events import commit, emit
from app.core.errors import Conflict, Forbidden, NotFound, ValidationFailed
from app.core.time import utcnow
from app.extensions import db
from app.helplines.service import settings_for
from app.routing.events import ConversationEnded
from app.routing.models import Assignment, Offer, Queue

log = logging.getLogger(__name__)

ROUTABLE_ROLES = ("counsellor", "supervisor")
DEFAULT_OFFER_TIMEOUT_S = 30
# A counsellor who declined or let lapse a contact is not offered it again for this long.
DECLINE_COOLDOWN = timedelta(minutes=5)
LAPSES_BEFORE_BREAK = 2
DISPATCH_BATCH = 50
QUEUE_EXISTS = ("A queue with this name exists.", "queue_exists")


# --- queues ------------------------------------------------------------------------

def list_queues(helpline_id: str) -> list[Queue]:
    return list(db.session.scalars(sa.select(Queue).where(Queue.helpline_id == helpline_id).order_by(Queue.id)))


def get_queue(helpline_id: str, queue_id: str) -> Queue:
    queue = db.session.get(Queue, queue_id)
    if queue is None or queue.helpline_id != helpline_id:
        raise NotFound("No such queue.")
    return queue


def find_queue_by_name(helpline_id: str, name: str) -> Queue | None:
    return db.session.scalar(sa.select(Queue).where(Queue.helpline_id == helpline_id, Queue.name == name))


def create_queue(
    helpline_id: str, name: str, *, channels: list | None = None, languages: list | None = None,
    priority: int = 0, offer_timeout_s: int = DEFAULT_OFFER_TIMEOUT_S,
) -> Queue:
    queue = Queue(
        helpline_id=helpline_id, name=name, channels=channels or [], languages=languages or [],
        priority=priority, offer_timeout_s=offer_timeout_s,
    )
    db.session.add(queue)
    commit_unique(*QUEUE_EXISTS)
    invalidate_queue_cache()
    return queue


def update_queue(helpline_id: str, queue_id: str, changes: dict) -> Queue:
    queue = get_queue(helpline_id, queue_id)
    for field, value in changes.items():
        setattr(queue, field, value)
    commit_unique(*QUEUE_EXISTS)
    invalidate_queue_cache()
    return queue


def delete_queue(helpline_id: str, queue_id: str) -> None:
    queue = get_queue(helpline_id, queue_id)
    waiting = db.session.scalar(
        sa.select(sa.func.count()).select_from(Contact)
        .where(Contact.queue_id == queue.id, Contact.status.in_((ContactStatus.QUEUED, ContactStatus.OFFERED, ContactStatus.ACTIVE)))
    )
    if waiting:
        raise Conflict("Contacts are still in this queue; move or end them first.", code="queue_not_empty",
                       details={"contacts": waiting})
    db.session.delete(queue)
    db.session.commit()
    invalidate_queue_cache()


# New contacts choose a queue on every first message; queues change rarely.
QUEUE_CACHE_TTL_S = 5.0


class QueueRoute(NamedTuple):
    id: str
    channels: tuple
    languages: tuple
    priority: int


def _queue_cache() -> dict:
    return current_app.extensions.setdefault("queue_route_cache", {})


def invalidate_queue_cache() -> None:
    _queue_cache().clear()


def queue_routes(helpline_id: str) -> list[QueueRoute]:
    """The helpline's queues, highest priority first (cached briefly per process)."""
    cache = _queue_cache()
    hit = cache.get(helpline_id)
    now = time.monotonic()
    if hit and hit[0] > now:
        return hit[1]
    routes = sorted(
        (QueueRoute(q.id, tuple(q.channels or ()), tuple(q.languages or ()), q.priority) for q in list_queues(helpline_id)),
        key=lambda route: (-route.priority, route.id),
    )
    cache[helpline_id] = (now + QUEUE_CACHE_TTL_S, routes)
    return routes


def choose_queue(helpline_id: str, channel: str, language: str | None) -> str | None:
    """The highest-priority queue that takes this channel and language (an empty list takes any)."""
    for route in queue_routes(helpline_id):
        if route.channels and channel not in route.channels:
            continue
        if route.languages and language not in route.languages:
            continue
        return route.id
    return None


def queue_positions(contact_ids) -> dict[str, int]:
    """Each waiting (queued or offered) contact's place in its queue, as queue_position counts it,
    in one query: the relay refreshes every watching web chat visitor's place at once.

    One pass over the queued contacts of the watched ones' helplines, ordered as they are served
    (urgent first, then by time queued): a contact's place is 1 + the queued contacts at or before
    it in that order (its own row left out), so the cost grows with the queue, not queue x watchers."""
    contact_ids = list(contact_ids)
    if not contact_ids:
        return {}
    watched = sa.and_(in_values(Contact.id, contact_ids), Contact.status.in_((ContactStatus.QUEUED, ContactStatus.OFFERED)),
                      Contact.queued_at.is_not(None))
    helplines = sa.select(Contact.helpline_id).where(watched).distinct().scalar_subquery()
    is_queued = sa.case((Contact.status == ContactStatus.QUEUED, 1), else_=0)
    # The window's default frame (RANGE ... CURRENT ROW) takes in ties, as queue_position's `<=` does.
    at_or_before = sa.func.sum(is_queued).over(
        partition_by=(Contact.helpline_id, Contact.queue_id),
        order_by=(sa.case((Contact.priority == "urgent", 0), else_=1), Contact.queued_at.nulls_last()))
    lines = (
        sa.select(Contact.id.label("id"), (at_or_before - is_queued).label("ahead"), watched.label("watched"))
        .where(sa.or_(watched, sa.and_(Contact.status == ContactStatus.QUEUED, Contact.helpline_id.in_(helplines))))
        .subquery()
    )
    found = db.session.execute(sa.select(lines.c.id, lines.c.ahead).where(lines.c.watched)).all()
    return {contact_id: int(ahead) + 1 for contact_id, ahead in found}


def queue_position(helpline_id: str, queue_id: str | None, priority: str, queued_at, contact_id: str) -> int:
    """1 for the next contact to be offered in its queue: urgent first, then by time queued."""
    same_queue = (Contact.queue_id == queue_id) if queue_id else Contact.queue_id.is_(None)
    if priority == "urgent":
        ahead_clause = sa.and_(Contact.priority == "urgent", Contact.queued_at <= queued_at)
    else:
        ahead_clause = sa.or_(Contact.priority == "urgent", Contact.queued_at <= queued_at)
    ahead = db.session.scalar(
        sa.select(sa.func.count()).select_from(Contact).where(
            Contact.helpline_id == helpline_id, Contact.status == ContactStatus.QUEUED, Contact.id != contact_id, same_queue,
            ahead_clause,
        )
    )
    return ahead + 1


# --- capacity ----------------------------------------------------------------------

def capacity_limits(capacity: dict, channel: str) -> tuple[int, int]:
    """(channel limit, total limit). A channel not named takes 1; the total defaults to the largest channel limit."""
    per_channel = {k: v for k, v in (capacity or {}).items() if k != "total"}
    channel_limit = per_channel.get(channel, 1)
    total_limit = (capacity or {}).get("total", max([1, *per_channel.values()]))
    return channel_limit, total_limit


def _loads(helpline_id: str, counsellor_ids=None) -> dict[str, dict[str, int]]:
    """{counsellor_id: {channel: n, "total": n}} of open assignments and pending offers."""
    assignments = sa.select(Assignment.counsellor_id, Assignment.channel).where(
        Assignment.helpline_id == helpline_id, Assignment.ended_at.is_(None))
    offers = sa.select(Offer.counsellor_id, Offer.channel).where(Offer.helpline_id == helpline_id, Offer.status == "pending")
    if counsellor_ids is not None:
        assignments = assignments.where(Assignment.counsellor_id.in_(counsellor_ids))
        offers = offers.where(Offer.counsellor_id.in_(counsellor_ids))
    both = sa.union_all(assignments, offers).subquery()
    loads: dict[str, dict[str, int]] = {}
    for counsellor_id, channel, count in db.session.execute(
        sa.select(both.c.counsellor_id, both.c.channel, sa.func.count()).group_by(both.c.counsellor_id, both.c.channel)
    ):
        load = loads.setdefault(counsellor_id, {"total": 0})
        load[channel] = count
        load["total"] += count
    return loads


def _has_room(user: User, channel: str, load: dict[str, int]) -> bool:
    channel_limit, total_limit = capacity_limits(user.capacity, channel)
    return load.get(channel, 0) < channel_limit and load.get("total", 0) < total_limit


def _may_take(user: User, contact) -> bool:
    skills = user.skills or {}
    if skills.get("queues") and contact.queue_id not in skills["queues"]:
        return False
    if skills.get("languages") and contact.language and contact.language not in skills["languages"]:
        return False
    return True


def _lock(stmt, skip_locked: bool = False):
    """FOR UPDATE on the statement's own table only (not on eagerly joined ones); SQLite has no row locks."""
    if dialect_name() != "postgresql":
        return stmt
    entity = stmt.column_descriptions[0]["entity"]
    return stmt.with_for_update(skip_locked=skip_locked, of=entity)


def _locked_counsellor(helpline_id: str, counsellor_id: str) -> User:
    user = db.session.scalar(_lock(sa.select(User).where(User.id == counsellor_id)).execution_options(populate_existing=True))
    if user is None or user.helpline_id != helpline_id or not user.active or user.role not in ROUTABLE_ROLES:
        raise ValidationFailed(details={"counsellor_id": ["No such counsellor in this helpline."]})
    return user


def _locked_contact(user: User, contact_id: str) -> Contact:
    contact = db.session.scalar(_lock(sa.select(Contact).where(Contact.id == contact_id)).execution_options(populate_existing=True))
    if contact is None or contact.helpline_id != user.helpline_id:
        raise NotFound("No such contact.")
    return contact


# --- dispatch ----------------------------------------------------------------------

def _offer_timeout_s(queue_id: str | None) -> int:
    if queue_id is None:
        return DEFAULT_OFFER_TIMEOUT_S
    return db.session.scalar(sa.select(Queue.offer_timeout_s).where(Queue.id == queue_id)) or DEFAULT_OFFER_TIMEOUT_S


def _make_offer(contact: Contact, counsellor_id: str, now) -> Offer:
    offer = Offer(
        helpline_id=contact.helpline_id, contact_id=contact.id, counsellor_id=counsellor_id, channel=contact.channel,
        status="pending", created_at=now, expires_at=now + timedelta(seconds=_offer_timeout_s(contact.queue_id)),
    )
    db.session.add(offer)
    contact.status, contact.offered_at = ContactStatus.OFFERED, now
    return offer


def _urgent_first():
    """Urgent contacts before the rest: the first key of every "who is next" order (dispatch, pull)."""
    return sa.case((Contact.priority == "urgent", 0), else_=1)


_ANYONE_AVAILABLE = (
    "SELECT EXISTS (SELECT 1 FROM users WHERE helpline_id = %(helpline_id)s AND active"
    " AND availability = 'available' AND role = ANY(%(roles)s))"
)


def anyone_available(helpline_id: str) -> bool:
    """Whether any counsellor of the helpline is available: most dispatches after a new contact find
    nobody (every counsellor busy), and on PostgreSQL this answers that in one autocommitted round trip
    rather than a transaction of three. Elsewhere, or inside a transaction, dispatch asks itself."""
    if dialect_name() != "postgresql" or db.session().in_transaction():
        return True
    return autocommitted(_ANYONE_AVAILABLE, {"helpline_id": helpline_id, "roles": list(ROUTABLE_ROLES)})[0][0]


def dispatch(helpline_id: str) -> int:
    """Offer waiting contacts to free counsellors; returns the number of offers made. Commits.

    Safe to run anywhere at any time (after a contact is queued, a counsellor
    frees up, by the scheduler), in any number of processes at once.
    """
    if not anyone_available(helpline_id):
        return 0
    now = utcnow()
    counsellors = list(db.session.scalars(
        sa.select(User).where(
            User.helpline_id == helpline_id, User.active.is_(True), User.availability == "available",
            User.role.in_(ROUTABLE_ROLES),
        ).order_by(User.idle_since, User.id)
    ))
    if not counsellors:
        db.session.commit()
        return 0
    loads = _loads(helpline_id, [u.id for u in counsellors])
    # Only contacts on a channel someone has room for are locked and considered: the others would
    # be skipped anyway, and would fill the batch ahead of contacts that can be offered.
    open_channels = [channel for channel in CHANNELS
                     if any(_has_room(user, channel, loads.get(user.id, {})) for user in counsellors)]
    if not open_channels:
        db.session.commit()
        return 0
    waiting = list(db.session.scalars(
        _lock(
            sa.select(Contact)
            .outerjoin(Queue, Queue.id == Contact.queue_id)
            .where(Contact.helpline_id == helpline_id, Contact.status == ContactStatus.QUEUED,
                   Contact.channel.in_(open_channels))
            .order_by(_urgent_first(), sa.func.coalesce(Queue.priority, 0).desc(), Contact.queued_at, Contact.id)
            .limit(DISPATCH_BATCH),
            skip_locked=True,
        ).execution_options(populate_existing=True)
    ))
    if not waiting:
        db.session.commit()
        return 0
    recently_refused: dict[str, set[str]] = {}
    for contact_id, counsellor_id in db.session.execute(
        sa.select(Offer.contact_id, Offer.counsellor_id).where(
            Offer.contact_id.in_([c.id for c in waiting]), Offer.status.in_(("declined", "expired")),
            Offer.responded_at > now - DECLINE_COOLDOWN,
        )
    ):
        recently_refused.setdefault(contact_id, set()).add(counsellor_id)

    made = 0
    for contact in waiting:
        for user in counsellors:  # longest idle first
            load = loads.setdefault(user.id, {"total": 0})
            if user.id in recently_refused.get(contact.id, ()) or not _may_take(user, contact):
                continue
            if not _has_room(user, contact.channel, load):
                continue
            # Lock the counsellor; another dispatcher holding them is skipped, not waited for.
            locked = db.session.scalar(_lock(sa.select(User.id).where(User.id == user.id), skip_locked=True))
            if locked is None:
                continue
            fresh = _loads(helpline_id, [user.id]).get(user.id, {"total": 0})
            if not _has_room(user, contact.channel, fresh):
                loads[user.id] = fresh
                continue
            _make_offer(contact, user.id, now)
            fresh[contact.channel] = fresh.get(contact.channel, 0) + 1
            fresh["total"] += 1
            loads[user.id] = fresh
            made += 1
            break
    db.session.commit()
    return made


def dispatch_safely(helpline_id: str) -> None:
    """Dispatch after something was already committed: a failure here must not fail the caller."""
    try:
        dispatch(helpline_id)
    except Exception as error:  # noqa: BLE001 - the scheduler retries within seconds
        db.session.rollback()
        log.error("dispatch failed", extra={"error_type": type(error).__name__})


def dispatch_all() -> int:
    """Every helpline with contacts waiting (a scheduler job: the safety net behind in-request dispatch)."""
    helpline_ids = list(db.session.scalars(sa.select(Contact.helpline_id).where(Contact.status == ContactStatus.QUEUED).distinct()))
    db.session.commit()
    return sum(dispatch(helpline_id) for helpline_id in helpline_ids)


def expire_offers() -> int:
    """Offers not answered in time go back to the queue (a scheduler job)."""
    now = utcnow()
    due = list(db.session.execute(
        sa.select(Offer.contact_id, Offer.helpline_id).where(Offer.status == "pending", Offer.expires_at <= now)
    ))
    db.session.commit()
    expired, helplines = 0, set()
    for contact_id, helpline_id in due:
        contact = db.session.scalar(_lock(sa.select(Contact).where(Contact.id == contact_id), skip_locked=True)
                                    .execution_options(populate_existing=True))
        offer = db.session.scalar(sa.select(Offer).where(Offer.contact_id == contact_id, Offer.status == "pending"))
        if contact is None or offer is None or offer.expires_at > now:
            db.session.rollback()
            continue
        _lapse(contact, offer, now)
        db.session.commit()
        expired += 1
        helplines.add(helpline_id)
    for helpline_id in helplines:
        dispatch_safely(helpline_id)
    return expired


def _lapse(contact: Contact, offer: Offer, now) -> None:
    offer.status, offer.responded_at = "expired", now
    if contact.status == ContactStatus.OFFERED:
        contact.status = ContactStatus.QUEUED
    user = db.session.scalar(_lock(sa.select(User).where(User.id == offer.counsellor_id)))
    user.missed_offers += 1
    if user.missed_offers >= LAPSES_BEFORE_BREAK and user.availability == "available":
        user.availability, user.availability_changed_at, user.missed_offers = "break", now, 0
        log.info("counsellor put on break after missed offers", extra={"user_id": user.id})


# --- a counsellor's own actions ----------------------------------------------------

def my_offers(user: User) -> list[tuple[Offer, Contact]]:
    return list(db.session.execute(
        sa.select(Offer, Contact).join(Contact, Contact.id == Offer.contact_id)
        .where(Offer.counsellor_id == user.id, Offer.status == "pending", Offer.expires_at > utcnow())
        .order_by(Offer.created_at)
    ).all())


def _pending_offer(contact_id: str) -> Offer | None:
    return db.session.scalar(sa.select(Offer).where(Offer.contact_id == contact_id, Offer.status == "pending")
                             .execution_options(populate_existing=True))


def _open_assignment(contact: Contact, counsellor_id: str, how: str, now) -> None:
    db.session.add(Assignment(helpline_id=contact.helpline_id, contact_id=contact.id, counsellor_id=counsellor_id,
                              channel=contact.channel, how=how, started_at=now))
    contact.status, contact.counsellor_id, contact.assigned_at = ContactStatus.ACTIVE, counsellor_id, now


def _close_assignment(contact: Contact, reason: str, now) -> None:
    db.session.execute(
        sa.update(Assignment).where(Assignment.contact_id == contact.id, Assignment.ended_at.is_(None))
        .values(ended_at=now, end_reason=reason)
    )


def _commit_or_conflict() -> None:
    # The one-open-assignment index decides who took the contact.
    commit_unique("Someone else took this contact first.", "already_assigned")


def accept(user: User, contact_id: str) -> Contact:
    now = utcnow()
    contact = _locked_contact(user, contact_id)
    offer = _pending_offer(contact.id)
    if offer is None or offer.counsellor_id != user.id:
        db.session.rollback()
        raise Conflict("There is no offer of this contact to you (it expired or went to someone else).",
                       code="offer_not_yours")
    if offer.expires_at <= now:
        _lapse(contact, offer, now)
        db.session.commit()
        dispatch_safely(user.helpline_id)
        raise Conflict("The offer expired.", code="offer_expired")
    offer.status, offer.responded_at = "accepted", now
    _open_assignment(contact, user.id, "accepted", now)
    me = db.session.scalar(_lock(sa.select(User).where(User.id == user.id)).execution_options(populate_existing=True))
    me.missed_offers, me.idle_since = 0, now
    _commit_or_conflict()
    return contact


def decline(user: User, contact_id: str) -> Contact:
    now = utcnow()
    contact = _locked_contact(user, contact_id)
    offer = _pending_offer(contact.id)
    if offer is None or offer.counsellor_id != user.id:
        db.session.rollback()
        raise Conflict("There is no offer of this contact to you.", code="offer_not_yours")
    offer.status, offer.responded_at = "declined", now
    contact.status = ContactStatus.QUEUED
    db.session.commit()
    dispatch_safely(user.helpline_id)
    return contact


def _may_work(user: User, contact: Contact) -> None:
    if user.role == "supervisor":
        return
    if user.role != "counsellor":
        raise Forbidden("Only counsellors and supervisors work contacts.")
    if contact.counsellor_id != user.id:
        raise NotFound("No such contact.")


def _end_conversation(contact: Contact, reason: str, now) -> None:
    """active -> wrapup, the one implementation whoever ends it: the assignment closes and the
    counsellor's capacity frees (longest idle from now). The caller holds the contact's lock."""
    contact.status, contact.ended_at = ContactStatus.WRAPUP, now
    _close_assignment(contact, reason, now)
    if contact.counsellor_id:
        db.session.execute(sa.update(User).where(User.id == contact.counsellor_id).values(idle_since=now))


def _abandon(contact: Contact, now) -> None:
    """queued/offered/bot -> abandoned: the child left before a counsellor took the contact."""
    contact.status, contact.ended_at = ContactStatus.ABANDONED, now
    db.session.execute(sa.update(Offer).where(Offer.contact_id == contact.id, Offer.status == "pending")
                       .values(status="cancelled", responded_at=now))


def end(user: User, contact_id: str) -> Contact:
    """The counsellor ends the conversation: wrap-up, and their capacity frees up."""
    now = utcnow()
    contact = _locked_contact(user, contact_id)
    _may_work(user, contact)
    if contact.status != ContactStatus.ACTIVE:
        db.session.rollback()
        raise Conflict("Only an active contact can be ended.", code="contact_not_active")
    _end_conversation(contact, "ended", now)
    # Channels asks the post-contact survey, when the helpline has one (app/channels/handlers.py).
    emit(ConversationEnded(contact.helpline_id, contact.id, "counsellor"))
    commit()
    dispatch_safely(user.helpline_id)
    return contact


def end_by_sender(contact_id: str, *, notify: bool) -> None:
    """The child left (web chat ended by the visitor): a live conversation goes to wrap-up as if the
    counsellor ended it; a contact still waiting is abandoned. `notify` sends goodbye or abandoned."""
    now = utcnow()
    contact = db.session.scalar(_lock(sa.select(Contact).where(Contact.id == contact_id))
                                .execution_options(populate_existing=True))
    if contact is None or contact.status not in LIVE_STATUSES:
        db.session.commit()
        return
    messages = settings_for(contact.helpline_id)["messages"]
    if contact.status == ContactStatus.ACTIVE:
        _end_conversation(contact, "left", now)
        emit(ConversationEnded(contact.helpline_id, contact.id, "child"))
        text = messages["goodbye"]
    else:
        _abandon(contact, now)
        text = messages["abandoned"]
    if notify:
        queue_system_message(contact, text)
    commit()  # the notice goes out after the commit (RepliesQueued)
    dispatch_safely(contact.helpline_id)


def transfer(user: User, contact_id: str, *, queue_id: str | None, counsellor_id: str | None, note: str | None) -> Contact:
    """Hand an active contact to a queue or a counsellor, with a note; it keeps its original queued time."""
    now = utcnow()
    contact = _locked_contact(user, contact_id)
    _may_work(user, contact)
    if contact.status != ContactStatus.ACTIVE:
        db.session.rollback()
        raise Conflict("Only an active contact can be transferred.", code="contact_not_active")
    if queue_id is not None:
        get_queue(user.helpline_id, queue_id)
    target = _locked_counsellor(user.helpline_id, counsellor_id) if counsellor_id else None
    if target is not None:
        if target.id == contact.counsellor_id:
            raise ValidationFailed(details={"counsellor_id": ["The contact is already theirs."]})
        if target.availability != "available":
            raise Conflict("That counsellor is not available.", code="counsellor_unavailable")
        load = _loads(user.helpline_id, [target.id]).get(target.id, {"total": 0})
        if not _has_room(target, contact.channel, load):
            raise Conflict("That counsellor has no spare capacity.", code="counsellor_at_capacity")
    _close_assignment(contact, "transferred", now)
    db.session.execute(sa.update(User).where(User.id == contact.counsellor_id).values(idle_since=now))
    contact.transfers = [*(contact.transfers or []), {
        "from_counsellor_id": contact.counsellor_id, "to_queue_id": queue_id, "to_counsellor_id": counsellor_id,
        "note": note, "at": now.isoformat(),
    }]
    contact.counsellor_id = None
    if queue_id is not None:
        contact.queue_id = queue_id
    contact.status = ContactStatus.QUEUED
    if target is not None:
        _make_offer(contact, target.id, now)
    db.session.commit()
    dispatch_safely(user.helpline_id)
    return contact


def assign(supervisor: User, contact_id: str, counsellor_id: str) -> Contact:
    """A supervisor gives a waiting, offered or active contact to a counsellor, within their capacity."""
    if supervisor.role != "supervisor":
        raise Forbidden("Only supervisors assign contacts.")
    now = utcnow()
    contact = _locked_contact(supervisor, contact_id)
    if contact.status not in (ContactStatus.QUEUED, ContactStatus.OFFERED, ContactStatus.ACTIVE):
        db.session.rollback()
        raise Conflict("Only a waiting or active contact can be assigned.", code="contact_not_assignable")
    target = _locked_counsellor(supervisor.helpline_id, counsellor_id)
    if contact.status == ContactStatus.ACTIVE and contact.counsellor_id == target.id:
        db.session.rollback()
        return contact
    offer = _pending_offer(contact.id)
    load = _loads(supervisor.helpline_id, [target.id]).get(target.id, {"total": 0})
    if offer is not None and offer.counsellor_id == target.id:
        # Their own pending offer of this contact already holds the room it needs.
        load = {k: v - (1 if k in ("total", contact.channel) else 0) for k, v in load.items()}
    if not _has_room(target, contact.channel, load):
        db.session.rollback()
        raise Conflict("That counsellor has no spare capacity.", code="counsellor_at_capacity")
    if offer is not None:
        offer.status, offer.responded_at = "cancelled", now
    if contact.status == ContactStatus.ACTIVE:
        _close_assignment(contact, "reassigned", now)
    _open_assignment(contact, target.id, "assigned", now)
    target.idle_since = now
    _commit_or_conflict()
    dispatch_safely(supervisor.helpline_id)
    return contact


PULL_SCAN = 200  # waiting contacts looked at per pull, most urgent first
PULL_LOCK_WAIT_MS = 2000


def _waiting_to_pull(helpline_id: str, queue_id: str, *, skip_locked: bool) -> list[Contact]:
    return list(db.session.scalars(
        _lock(
            sa.select(Contact)
            .where(Contact.helpline_id == helpline_id, Contact.queue_id == queue_id,
                   Contact.status == ContactStatus.QUEUED)
            .order_by(_urgent_first(), Contact.queued_at, Contact.id)
            .limit(PULL_SCAN),
            skip_locked=skip_locked,
        ).execution_options(populate_existing=True)
    ))


def pull(user: User, queue_id: str) -> Contact:
    """The caller takes the most urgent, then longest-waiting contact waiting in the queue that their
    skills and capacity (pending offers counted) allow: it becomes `active` and theirs. Commits.

    Under dispatch's locks, in its order (waiting contacts FOR UPDATE SKIP LOCKED, then the
    counsellor): a contact another pull or a dispatch is handling is skipped, never taken twice; a
    contact offered to someone is not waiting (`offered`), so it is never pulled from under them."""
    queue = get_queue(user.helpline_id, queue_id)
    now = utcnow()
    waiting = _waiting_to_pull(user.helpline_id, queue.id, skip_locked=True)
    if not waiting and dialect_name() == "postgresql":
        # Every waiting contact may be locked by a dispatch or another pull deciding right now:
        # wait for them (briefly) rather than answer "nothing waiting" while contacts wait. Holding
        # no other lock meanwhile, this wait cannot close a deadlock.
        db.session.execute(sa.text(f"SET LOCAL lock_timeout = '{PULL_LOCK_WAIT_MS}ms'"))
        try:
            waiting = _waiting_to_pull(user.helpline_id, queue.id, skip_locked=False)
            db.session.execute(sa.text("SET LOCAL lock_timeout = DEFAULT"))
        except OperationalError:
            db.session.rollback()  # still locked after the wait: answered as nothing to pull
            waiting = []
    me = db.session.scalar(_lock(sa.select(User).where(User.id == user.id)).execution_options(populate_existing=True))
    load = _loads(user.helpline_id, [me.id]).get(me.id, {"total": 0})
    chosen = next((c for c in waiting if _may_take(me, c) and _has_room(me, c.channel, load)), None)
    if chosen is None:
        db.session.rollback()
        if not waiting:
            why = "no contact is waiting there"
        elif any(_may_take(me, c) for c in waiting):
            why = "you have no spare capacity for the contacts waiting"
        else:
            why = "none waiting is one your skills allow"
        raise NotFound(f"Nothing to pull from this queue: {why}.", code="nothing_to_pull")
    _open_assignment(chosen, me.id, "pulled", now)
    me.missed_offers, me.idle_since = 0, now
    _commit_or_conflict()
    return chosen


def set_availability(user: User, status: str) -> User:
    now = utcnow()
    me = db.session.scalar(_lock(sa.select(User).where(User.id == user.id)).execution_options(populate_existing=True))
    if me.availability != status:
        me.availability, me.availability_changed_at = status, now
        if status == "available":
            me.idle_since, me.missed_offers = now, 0
    requeued = 0
    if status != "available":
        # Offers waiting for someone who left go straight back to the queue.
        for offer in db.session.scalars(sa.select(Offer).where(Offer.counsellor_id == me.id, Offer.status == "pending")):
            offer.status, offer.responded_at = "cancelled", now
            db.session.execute(sa.update(Contact).where(Contact.id == offer.contact_id, Contact.status == ContactStatus.OFFERED)
                               .values(status=ContactStatus.QUEUED))
            requeued += 1
    db.session.commit()
    dispatch_safely(me.helpline_id)
    return me


# --- live status -------------------------------------------------------------------

def queues_status(helpline_id: str) -> list[dict]:
    """Per queue: waiting, longest wait, offered, active, counsellors available (two queries)."""
    now = utcnow()
    rows = db.session.execute(
        sa.select(Contact.queue_id, Contact.status, sa.func.count(), sa.func.min(Contact.queued_at))
        .where(Contact.helpline_id == helpline_id, Contact.status.in_(("queued", "offered", "active")))
        .group_by(Contact.queue_id, Contact.status)
    ).all()
    available = db.session.execute(
        sa.select(User.skills).where(User.helpline_id == helpline_id, User.active.is_(True),
                                     User.availability == "available", User.role.in_(ROUTABLE_ROLES))
    ).scalars().all()
    status = {}
    for queue in queue_routes(helpline_id):
        status[queue.id] = {"queue_id": queue.id, "waiting": 0, "longest_wait_s": 0, "offered": 0, "active": 0,
                            "counsellors_available": sum(1 for s in available if not (s or {}).get("queues")
                                                         or queue.id in s["queues"])}
    for queue_id, contact_status, count, oldest in rows:
        entry = status.get(queue_id)
        if entry is None:
            continue
        if contact_status == "queued":
            entry["waiting"] = count
            entry["longest_wait_s"] = int((now - oldest).total_seconds()) if oldest else 0
        else:
            entry[contact_status] = count
    return list(status.values())
