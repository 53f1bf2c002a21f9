"""Closed vocabularies for values that reach statistics or routing: nothing typed freely passes.

A language is a BCP 47 tag that the IANA registry knows ("en", "sw-KE", "pt-BR"), in its
canonical spelling, at most 16 characters (the columns' width). A statistics dimension built
from such values can never carry a name, a sentence or a spreadsheet formula.
"""
from __future__ import annotations

import langcodes
from marshmallow import fields

MAX_LANGUAGE_TAG = 16


def canonical_language(value: str) -> str:
    """The registry's spelling of a valid tag ("EN-gb" -> "en-GB"); ValueError otherwise."""
    if not isinstance(value, str) or not 2 <= len(value) <= MAX_LANGUAGE_TAG or not langcodes.tag_is_valid(value):
        raise ValueError(value)
    tag = langcodes.standardize_tag(value)
    if len(tag) > MAX_LANGUAGE_TAG:
        raise ValueError(value)
    return tag


class LanguageTag(fields.String):
    """A BCP 47 language tag from the IANA registry, stored in canonical form."""

    default_error_messages = {"invalid_tag": "Not a known BCP 47 language tag (such as en, fr, sw-KE)."}

    def __init__(self, **kwargs):
        metadata = {"description": "BCP 47 language tag (IANA registry), e.g. en, fr, sw-KE.", "example": "en",
                    "maxLength": MAX_LANGUAGE_TAG, **kwargs.pop("metadata", {})}
        super().__init__(metadata=metadata, **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs)
        try:
            return canonical_language(text)
        except ValueError:
            raise self.make_error("invalid_tag") from None
