"""How channels reacts to other domains' events."""
from __future__ import annotations

from flask import current_app

from app.contacts.events import RepliesQueued


def deliver_replies(event: RepliesQueued) -> None:
    """Hand the stored messages to this process's sender pool (app/channels/sender.py)."""
    current_app.extensions["outbound_sender"].wake(list(event.message_ids))


HANDLERS = {RepliesQueued: [deliver_replies]}
