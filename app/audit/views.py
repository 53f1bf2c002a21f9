from flask_smorest import Blueprint

from app.audit import service
from app.audit.schemas import AuditArgsSchema, AuditPageSchema
from app.auth.guard import current_user, roles_required

blp = Blueprint("audit", __name__, url_prefix="/api/v1/audit", description="Every read and write of a record (supervisors, admins)")


@blp.route("", methods=["GET"])
@roles_required("supervisor", "admin")
@blp.arguments(AuditArgsSchema, location="query")
@blp.response(200, AuditPageSchema)
def list_audit(args):
    """Who read or changed which record, and when; changed field names, never values. Newest first."""
    items, next_cursor = service.list_events(
        current_user().helpline_id, record_type=args.get("record_type"), record_id=args.get("record_id"),
        user_id=args.get("user_id"), limit=args["limit"], cursor=args["cursor"],
    )
    return {"items": items, "next_cursor": next_cursor}
