"""Search keys: keyed hashes of a contact's searchable values, so search needs no plaintext."""
from __future__ import annotations

import re
import unicodedata

import sqlalchemy as sa

from app.core.addresses import lookup_hash, normalise_phone
from app.contacts.models import Contact, SearchKey
from app.core.errors import ValidationFailed
from app.core.crypto import cipher
from app.extensions import db

_WORD = re.compile(r"\w+")
_PHONE_LIKE = re.compile(r"^\+?[\d\s().-]{6,}$")


def words(text: str) -> set[str]:
    folded = unicodedata.normalize("NFKD", (text or "").casefold())
    return set(_WORD.findall("".join(ch for ch in folded if not unicodedata.combining(ch))))


def phone_term(q: str) -> str | None:
    """The E.164 number a query is, if it is one."""
    q = (q or "").strip()
    return normalise_phone(q) if _PHONE_LIKE.match(q) else None


def phone_key(phone: str) -> str:
    return cipher.lookup_hash(phone, "search:phone")


def word_keys(q: str) -> list[str]:
    """One key per word of the query; every one must match."""
    return [cipher.lookup_hash(word, "search:word") for word in sorted(words(q))]


def category_key(code: str) -> str:
    return cipher.lookup_hash(code, "search:category")


def contact_keys(form: dict, address: str | None) -> set[str]:
    keys = set()
    phones = [address] if address else []
    texts = [form.get("summary") or "", *(form.get("actions_taken") or []), *(form.get("referrals") or [])]
    for person in (form.get("child") or {}, form.get("caller") or {}):
        texts += [person.get("first_name") or "", person.get("last_name") or ""]
        if person.get("phone"):
            phones.append(person["phone"])
    for phone in phones:
        normalised = normalise_phone(phone)
        if normalised:
            keys.add(phone_key(normalised))
    for text in texts:
        keys.update(word_keys(text))
    for code in form.get("categories") or []:
        keys.add(category_key(code))
        keys.add(category_key(code.split(".")[0]))  # a sub-category also counts under its top level
    return keys


def reindex(helpline_id: str, record_type: str, record_id: str, keys: set[str]) -> None:
    db.session.execute(sa.delete(SearchKey).where(SearchKey.record_type == record_type, SearchKey.record_id == record_id))
    if keys:
        db.session.execute(sa.insert(SearchKey), [
            {"helpline_id": helpline_id, "record_type": record_type, "record_id": record_id, "key_hash": key}
            for key in sorted(keys)
        ])


def matching(helpline_id: str, record_type: str, key: str):
    """A subquery of the record ids carrying `key`."""
    return sa.select(SearchKey.record_id).where(
        SearchKey.helpline_id == helpline_id, SearchKey.record_type == record_type, SearchKey.key_hash == key)


def query_terms(helpline_id: str, q: str) -> list[tuple]:
    """What `q` asks, as (a clause a contact must meet, the key a case's own text may carry instead).

    A phone number is one term, met by the contact's own address or a number in its
    record; otherwise every word is a term that must match.
    """
    phone = phone_term(q)
    if phone:
        return [(sa.or_(Contact.address_hash == lookup_hash(phone, "address"),
                        Contact.id.in_(matching(helpline_id, "contact", phone_key(phone)))), None)]
    keys = word_keys(q)
    if not keys:
        raise ValidationFailed(details={"q": ["Nothing to search for."]})
    return [(Contact.id.in_(matching(helpline_id, "contact", key)), key) for key in keys]
