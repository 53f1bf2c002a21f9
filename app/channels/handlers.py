"""How channels reacts to other domains' events."""
from __future__ import annotations

from flask import current_app

from app.channels.service import start_post_survey
from app.contacts.events import RepliesQueued
from app.routing.events import ConversationEnded


def deliver_replies(event: RepliesQueued) -> None:
    """Hand the stored messages to this process's sender pool (app/channels/sender.py)."""
    current_app.extensions["outbound_sender"].wake(list(event.message_ids))


def ask_post_survey(event: ConversationEnded) -> None:
    """The helpline's post-contact survey follows a conversation the counsellor ended; never one the
    child left, abandoned or was blocked from."""
    if event.by == "counsellor":
        start_post_survey(event.contact_id)


HANDLERS = {RepliesQueued: [deliver_replies], ConversationEnded: [ask_post_survey]}
