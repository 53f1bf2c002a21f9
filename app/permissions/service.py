from __future__ import annotations

import sqlalchemy as sa

from app.core.errors import ValidationFailed
from app.extensions import db
from app.helplines.models import Helpline
from app.permissions.rules import effective_rules, rule_errors


def rules_for(helpline_id: str) -> dict:
    # The one column: loading the whole helpline decrypts its provider secrets for nothing, and the
    # live relay asks for the rules in every batch of events it delivers.
    return effective_rules(db.session.scalar(sa.select(Helpline.permission_rules).where(Helpline.id == helpline_id)))


def replace_rules(helpline_id: str, rules: dict) -> dict:
    """PUT: the actions given replace their rules; actions not given fall back to the defaults."""
    errors = rule_errors(rules)
    if errors:
        raise ValidationFailed(details=errors)
    helpline = db.session.get(Helpline, helpline_id)
    helpline.permission_rules = rules
    db.session.commit()
    return effective_rules(rules)
