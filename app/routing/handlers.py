"""How routing reacts to other domains' events."""
from __future__ import annotations

from app.auth.events import CounsellorChanged
from app.contacts.events import ContactQueued
from app.routing.service import dispatch_safely


def dispatch_after_change(event: ContactQueued | CounsellorChanged) -> None:
    """Offer waiting contacts at once; the scheduler's dispatch_all does it within seconds otherwise."""
    dispatch_safely(event.helpline_id)


HANDLERS = {
    ContactQueued: [dispatch_after_change],
    CounsellorChanged: [dispatch_after_change],
}
