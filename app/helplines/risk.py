"""Risk phrases: words that mark a contact urgent.

Matching is on whole words, case- and accent-insensitive: "Quiero MORIR" matches
"quiero morir", "suicidal" does not match "suicide", and "overdose" matches
"I took an overdose." Phrases are compiled once per helpline settings.
"""
from __future__ import annotations

import re
import unicodedata

_WORD = re.compile(r"\w+")


def words(text: str) -> tuple[str, ...]:
    if text.isascii():  # most messages: no accents to strip, and casefold() is lower() (per character, the slow part)
        return tuple(_WORD.findall(text.lower()))
    folded = unicodedata.normalize("NFKD", text.casefold())
    return tuple(_WORD.findall("".join(ch for ch in folded if not unicodedata.combining(ch))))


def compile_phrases(phrases: list[str]) -> tuple[tuple[str, ...], ...]:
    return tuple(sorted({w for w in (words(p) for p in phrases) if w}, key=len, reverse=True))


def matches(compiled: tuple[tuple[str, ...], ...], text: str) -> bool:
    if not compiled or not text:
        return False
    tokens = words(text)
    if not tokens:
        return False
    token_set = set(tokens)
    for phrase in compiled:
        if phrase[0] not in token_set:
            continue
        n = len(phrase)
        for i in range(len(tokens) - n + 1):
            if tokens[i:i + n] == phrase:
                return True
    return False
