"""What the auth domain tells the domains above it (app/core/events.py)."""
from __future__ import annotations

from dataclasses import dataclass

from app.core.events import Event


@dataclass(frozen=True)
class CounsellorChanged(Event):
    """A user's capacity, skills, role or activity changed: waiting contacts may fit them now."""

    helpline_id: str
    user_id: str
