from flask import request
from flask_smorest import Blueprint

from app.auth.guard import current_user, roles_required
from app.core.errors import ValidationFailed
from app.permissions import service

blp = Blueprint("permissions", __name__, url_prefix="/api/v1/helpline/permissions",
                description="Permission rules (admin): {action: [[condition, ...], ...]}")


@blp.route("", methods=["GET"])
@roles_required("admin")
def get_rules():
    """The rules in force, defaults included."""
    return service.rules_for(current_user().helpline_id)


@blp.route("", methods=["PUT"])
@roles_required("admin")
def put_rules():
    """Replace the rules. Condition sets are ORed, conditions in a set ANDed. 422 names an unknown action or condition."""
    body = request.get_json()
    if not isinstance(body, dict):
        raise ValidationFailed(details={"_schema": ["Expected an object keyed by action."]})
    return service.replace_rules(current_user().helpline_id, body)
