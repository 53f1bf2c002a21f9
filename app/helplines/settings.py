"""The helpline settings document: defaults and how a PATCH merges into it.

Only the keys an admin has set are stored, so a default changed in a later
release reaches every helpline that never overrode it.
"""
from __future__ import annotations

import copy

CHANNELS = ("sms", "whatsapp", "messenger", "chat", "web", "voice", "offline")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

DEFAULT_SETTINGS: dict = {
    # null: always open.
    "operating_hours": None,
    "holidays": {},
    "messages": {
        "closed": "The helpline is closed right now. If you are in danger, call your local emergency number.",
        "holiday": "The helpline is closed today. If you are in danger, call your local emergency number.",
        "blocked": "We cannot take your message.",
        "queued": "Thank you for contacting us. A counsellor will be with you soon.",
        "abandoned": "We could not reach you. You can contact us again at any time.",
        "goodbye": "Thank you for contacting us. Take care.",
        # Sent on entering the queue when queue_position_notice is on; {position} is filled in.
        "queue_position": "You are number {position} in the queue.",
    },
    "pre_survey": {"enabled": False, "questions": []},
    # After a counsellor ends a conversation (app/channels/postsurvey.py); empty questions: the built-in ones.
    "post_survey": {"enabled": False, "questions": []},
    # English defaults; a helpline adds its own languages' phrases.
    "risk_phrases": [
        "kill myself", "killing myself", "suicide", "suicidal", "end my life", "want to die",
        "hurt myself", "self harm", "cut myself", "cutting myself", "overdose",
        "in danger", "going to hurt me", "he will kill me", "she will kill me",
    ],
    "queue_timeout_min": 60,
    "retention_days": 1095,
    "min_cell": 5,
    "age_bands": [[0, 9], [10, 12], [13, 15], [16, 17], [18, 25]],
    "webchat_origins": [],
    # The regions a record's child.region may name (a closed list, so statistics never publish typed text);
    # "unknown" is always allowed.
    "regions": ["city", "town", "rural"],
    "default_language": "en",
    "queue_position_notice": False,
    # Where the web chat's quick exit sends the visitor: a neutral page, replacing the chat in history.
    "webchat_exit_url": "https://www.google.com/",
}


def effective_settings(stored: dict | None) -> dict:
    """Defaults overlaid with what the helpline stored (top-level keys replace)."""
    merged = copy.deepcopy(DEFAULT_SETTINGS)
    for key, value in (stored or {}).items():
        if key == "messages" and isinstance(value, dict):
            # Messages not overridden keep their default text.
            merged["messages"].update(value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def merge_settings(stored: dict | None, patch: dict) -> dict:
    """PATCH semantics: each top-level key given replaces that key; others stay."""
    merged = copy.deepcopy(stored or {})
    merged.update(copy.deepcopy(patch))
    return merged
