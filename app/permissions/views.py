from flask_smorest import Blueprint

from app.auth.guard import current_user, roles_required
from app.permissions import service
from app.permissions.schemas import PermissionRulesInputSchema, PermissionRulesSchema

blp = Blueprint("permissions", __name__, url_prefix="/api/v1/helpline/permissions",
                description="Permission rules (admin): {action: [[condition, ...], ...]}")


@blp.route("", methods=["GET"])
@roles_required("admin")
@blp.response(200, PermissionRulesSchema)
def get_rules():
    """The rules in force, defaults included."""
    return service.rules_for(current_user().helpline_id)


@blp.route("", methods=["PUT"])
@roles_required("admin")
@blp.arguments(PermissionRulesInputSchema)
@blp.response(200, PermissionRulesSchema)
def put_rules(rules):
    """Replace the rules. Condition sets are ORed, conditions in a set ANDed. 422 names an unknown action or condition."""
    return service.replace_rules(current_user().helpline_id, rules)
