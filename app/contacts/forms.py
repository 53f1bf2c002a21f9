"""The contact record ("form"): validation, and the split between what may be
stored in the clear (the fields statistics use) and what is personal data
(names, phone numbers, free text), which is stored encrypted."""
from __future__ import annotations

import json

import marshmallow as ma
from marshmallow import fields, validate

from app.core.vocabulary import LanguageTag

CALL_TYPES_DATA = ("child", "caller_about_child")
CALL_TYPES_NON_DATA = ("silent", "blank", "joke", "hang_up", "wrong_number", "abusive", "thank_you", "question")
GENDERS = ("girl", "boy", "non_binary", "unknown")
LIVING_SITUATIONS = (
    "alternative_care", "group_residential_facility", "homeless", "in_detention", "living_independently",
    "with_parents", "with_relatives", "other",
)
VULNERABLE_GROUPS = (
    "in_conflict_with_the_law", "living_in_conflict_zone", "living_in_poverty", "minority",
    "on_the_move_involuntarily", "on_the_move_voluntarily", "with_disability", "lgbtqi", "out_of_school", "other",
)
# Personal data: kept out of the plain `form` column and stored encrypted.
PRIVATE_FIELDS = {
    "child": ("first_name", "last_name", "phone", "province", "district"),
    "caller": ("first_name", "last_name", "phone", "relationship_to_child"),
    None: ("summary", "actions_taken", "referrals"),
}

_name = fields.String(allow_none=True, validate=validate.Length(max=200))
_phone = fields.String(allow_none=True, validate=validate.Length(max=40))
_age = fields.Integer(strict=True, allow_none=True, validate=validate.Range(0, 25))


class ChildSchema(ma.Schema):
    age = _age
    gender = fields.String(allow_none=True, validate=validate.OneOf(GENDERS))
    language = LanguageTag(allow_none=True)
    # One of the helpline's settings.regions (checked by the service, which knows the helpline).
    region = fields.String(allow_none=True, validate=validate.Length(1, 16))
    province = fields.String(allow_none=True, validate=validate.Length(max=100))
    district = fields.String(allow_none=True, validate=validate.Length(max=100))
    living_situation = fields.String(allow_none=True, validate=validate.OneOf(LIVING_SITUATIONS))
    vulnerable_groups = fields.List(fields.String(validate=validate.OneOf(VULNERABLE_GROUPS)))
    first_name = _name
    last_name = _name
    phone = _phone


class CallerSchema(ma.Schema):
    relationship_to_child = fields.String(allow_none=True, validate=validate.Length(max=100))
    first_name = _name
    last_name = _name
    phone = _phone
    age = fields.Integer(strict=True, allow_none=True, validate=validate.Range(0, 120))
    gender = fields.String(allow_none=True, validate=validate.OneOf(GENDERS))


class FormSchema(ma.Schema):
    """A draft record: every field optional; finalize checks completeness."""

    call_type = fields.String(allow_none=True, validate=validate.OneOf(CALL_TYPES_DATA + CALL_TYPES_NON_DATA))
    child = fields.Nested(ChildSchema)
    caller = fields.Nested(CallerSchema)
    categories = fields.List(fields.String(validate=validate.Length(1, 100)), validate=validate.Length(max=50))
    summary = fields.String(allow_none=True, validate=validate.Length(max=20_000))
    actions_taken = fields.List(fields.String(validate=validate.Length(1, 500)), validate=validate.Length(max=50))
    referrals = fields.List(fields.String(validate=validate.Length(1, 500)), validate=validate.Length(max=50))


def split_form(form: dict) -> tuple[dict, dict]:
    """(public, private): private holds every personal field, public the rest."""
    public, private = json.loads(json.dumps(form)), {}
    for section, names in PRIVATE_FIELDS.items():
        source = public if section is None else public.get(section)
        if not isinstance(source, dict):
            continue
        for name in names:
            if name in source:
                value = source.pop(name)
                if section is None:
                    private[name] = value
                else:
                    private.setdefault(section, {})[name] = value
    return public, private


def merge_form(public: dict, private: dict | None) -> dict:
    form = json.loads(json.dumps(public or {}))
    for key, value in (private or {}).items():
        if isinstance(value, dict):
            form.setdefault(key, {}).update(value)
        else:
            form[key] = value
    return form


def completeness_errors(form: dict) -> dict:
    """What finalize needs: a call type; for data contacts a category, the child's age (or null) and gender."""
    errors: dict = {}
    call_type = form.get("call_type")
    if not call_type:
        errors["call_type"] = ["Required to finalize."]
    if call_type in CALL_TYPES_DATA:
        if not form.get("categories"):
            errors["categories"] = ["At least one category is required for a data contact."]
        child = form.get("child") or {}
        child_errors = {}
        if "age" not in child:
            child_errors["age"] = ["Required (null for unknown)."]
        if not child.get("gender"):
            child_errors["gender"] = ["Required (unknown is an answer)."]
        if child_errors:
            errors["child"] = child_errors
    return errors
