"""The permission rules document, {action: [[condition, ...], ...]}, as marshmallow sees it."""
from __future__ import annotations

import marshmallow as ma
from marshmallow import fields

from app.permissions.rules import ACTIONS, PARAMETER_CONDITIONS, SIMPLE_CONDITIONS, rule_errors


class ConditionField(fields.Field):
    """A condition: one of the simple names, or {"created_within_hours"|"created_within_days": N}."""

    def __init__(self, **kwargs):
        super().__init__(metadata={"oneOf": [
            {"type": "string", "enum": list(SIMPLE_CONDITIONS)},
            {"type": "object", "minProperties": 1, "maxProperties": 1,
             "properties": {name: {"type": "integer", "minimum": 1, "maximum": 100000} for name in PARAMETER_CONDITIONS}},
        ]}, **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        return value  # checked as a whole by rule_errors, which names the action


def _condition_sets(**kwargs):
    return fields.List(fields.List(ConditionField()), **kwargs)


PermissionRulesSchema = ma.Schema.from_dict(
    {action: _condition_sets(metadata={"description": f"Who may {action.replace('_', ' ')}."}) for action in ACTIONS},
    name="PermissionRules",
)


class PermissionRulesInputSchema(PermissionRulesSchema):
    """PUT: the actions given replace their rules; others fall back to the defaults."""

    class Meta:
        unknown = ma.RAISE

    @ma.validates_schema
    def _rules(self, data, **kwargs):
        errors = rule_errors(data)
        if errors:
            raise ma.ValidationError(errors)
