"""What the contacts domain tells the domains above it (app/core/events.py)."""
from __future__ import annotations

from dataclasses import dataclass

from app.core.events import Event


@dataclass(frozen=True)
class ContactQueued(Event):
    """A contact entered its queue (opened, pre-survey finished): someone may take it now."""

    helpline_id: str
    contact_id: str


@dataclass(frozen=True)
class RepliesQueued(Event):
    """Outbound messages were stored as pending: send them."""

    message_ids: tuple[int, ...]
