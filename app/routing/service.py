"""Queues. Offers, availability and capacity come with the routing issue."""
from __future__ import annotations

import time
from typing import NamedTuple

import sqlalchemy as sa
from flask import current_app

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
    invalidate_queue_cache()
    return queue


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
