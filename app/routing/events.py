"""What the routing domain tells the domains above it (app/core/events.py)."""
from __future__ import annotations

from dataclasses import dataclass

from app.core.events import Event


@dataclass(frozen=True)
class ConversationEnded(Event):
    """An active contact went to wrap-up: `by` is "counsellor" (they ended it) or "child" (they left)."""

    helpline_id: str
    contact_id: str
    by: str
