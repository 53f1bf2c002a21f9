"""Channel addresses: normalised, masked and turned into lookup keys.

Phone numbers are E.164 (via `phonenumbers`), whatever channel they come on,
so SMS and WhatsApp from one number share a profile. Other identities
(Conversations authors, Messenger ids) are kept as given, prefixed by kind.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import phonenumbers

from app.core.crypto import cipher

# Twilio Messaging's address prefixes and the channel each means.
MESSAGING_PREFIXES = {"whatsapp": "whatsapp", "messenger": "messenger"}


@dataclass(frozen=True)
class Address:
    channel: str
    # What a counsellor may see unmasked: "+447700900123", or a chat identity.
    value: str
    # Profile identity: "phone:+447700900123", "chat:<identity>".
    identifier: str


@lru_cache(maxsize=4096)
def normalise_phone(raw: str) -> str | None:
    """E.164 for anything that parses as an international number, else None.

    Cached: a conversation sends many messages from one number, and parsing one costs more than
    the rest of a message's validation (the cache lives in the worker's memory only)."""
    candidate = raw.strip()
    if not candidate.startswith("+"):
        candidate = "+" + candidate.lstrip("0")
    try:
        number = phonenumbers.parse(candidate, None)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def parse_messaging_address(raw: str) -> Address:
    """A Twilio Messaging `From`: "+447...", "whatsapp:+447...", "messenger:123..."."""
    prefix, sep, rest = raw.partition(":")
    channel = MESSAGING_PREFIXES.get(prefix.lower()) if sep else None
    value = rest if channel else raw
    channel = channel or "sms"
    phone = normalise_phone(value) if channel != "messenger" else None
    if phone:
        return Address(channel, phone, f"phone:{phone}")
    # Short codes and alphanumeric senders stay as sent.
    value = value.strip()
    return Address(channel, value, f"{channel}:{value.lower()}")


def parse_conversations_author(author: str, source: str | None) -> Address:
    """A Conversations `Author`: a chat identity, or "whatsapp:+447..." for WhatsApp participants."""
    source = (source or "").upper()
    channel = {"WHATSAPP": "whatsapp", "SMS": "sms", "MESSENGER": "messenger", "FACEBOOK": "messenger"}.get(source, "chat")
    prefix, sep, rest = author.partition(":")
    if sep and prefix.lower() in MESSAGING_PREFIXES:
        channel = MESSAGING_PREFIXES[prefix.lower()]
        author = rest
    phone = normalise_phone(author) if channel in ("whatsapp", "sms") else None
    if phone:
        return Address(channel, phone, f"phone:{phone}")
    return Address(channel, author.strip(), f"chat:{author.strip()}")


def mask(value: str | None) -> str | None:
    """"+44123456789" -> "+44******789": enough to tell contacts apart, not to call them."""
    if value is None:
        return None
    if len(value) <= 6:
        return "*" * len(value)
    return value[:3] + "*" * (len(value) - 6) + value[-3:]


def lookup_hash(value: str, purpose: str) -> str:
    return cipher.lookup_hash(value, purpose)
