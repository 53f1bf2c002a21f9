from __future__ import annotations

from app.core.errors import ValidationFailed
from app.extensions import db
from app.helplines.models import Helpline
from app.permissions.rules import effective_rules, rule_errors


def rules_for(helpline_id: str) -> dict:
    return effective_rules(db.session.get(Helpline, helpline_id).permission_rules)


def replace_rules(helpline_id: str, rules: dict) -> dict:
    """PUT: the actions given replace their rules; actions not given fall back to the defaults."""
    errors = rule_errors(rules)
    if errors:
        raise ValidationFailed(details=errors)
    helpline = db.session.get(Helpline, helpline_id)
    helpline.permission_rules = rules
    db.session.commit()
    return effective_rules(rules)
