"""What the contacts domain tells the domains above it once its transaction has committed.

Emitting here keeps the direction of imports downward: channels (above) subscribes to these
in app/channels/sender.py; contacts never imports channels.
"""
from __future__ import annotations

from app.core import after_commit

# Outbound messages were stored as pending: send them (payload: message ids).
OUTBOUND_MESSAGES_QUEUED = "contacts.outbound_messages_queued"


def outbound_messages_queued(message_ids: list[int]) -> None:
    after_commit.defer(OUTBOUND_MESSAGES_QUEUED, message_ids)
