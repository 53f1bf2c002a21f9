"""Queues. Offers, availability and capacity come with the routing issue."""
from __future__ import annotations

import sqlalchemy as sa

from app.extensions import db
from app.routing.models import Queue


def list_queues(helpline_id: str) -> list[Queue]:
    return list(db.session.scalars(sa.select(Queue).where(Queue.helpline_id == helpline_id).order_by(Queue.id)))


def find_queue_by_name(helpline_id: str, name: str) -> Queue | None:
    return db.session.scalar(sa.select(Queue).where(Queue.helpline_id == helpline_id, Queue.name == name))


def create_queue(
    helpline_id: str, name: str, *, channels: list | None = None, languages: list | None = None,
    priority: int = 0, offer_timeout_s: int = 30,
) -> Queue:
    queue = Queue(
        helpline_id=helpline_id, name=name, channels=channels or [], languages=languages or [],
        priority=priority, offer_timeout_s=offer_timeout_s,
    )
    db.session.add(queue)
    db.session.commit()
    return queue


def choose_queue(helpline_id: str, channel: str, language: str | None) -> str | None:
    """The highest-priority queue that takes this channel and language (an empty list takes any)."""
    for queue in sorted(list_queues(helpline_id), key=lambda q: -q.priority):
        if queue.channels and channel not in queue.channels:
            continue
        if queue.languages and language not in queue.languages:
            continue
        return queue.id
    return None
