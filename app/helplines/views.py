from __future__ import annotations

from flask_smorest import Blueprint

from app.auth.guard import current_user, roles_required
from app.helplines import service
from app.helplines.schemas import HelplinePatchSchema, HelplineSchema

blp = Blueprint("helplines", __name__, url_prefix="/api/v1/helpline", description="The caller's helpline (admin)")


@blp.route("", methods=["GET"])
@roles_required("admin")
@blp.response(200, HelplineSchema)
def get_helpline():
    """The helpline's name, timezone, Twilio account and effective settings. The auth token is never returned."""
    return service.serialise_helpline(service.get_helpline(current_user().helpline_id))


@blp.route("", methods=["PATCH"])
@roles_required("admin")
@blp.arguments(HelplinePatchSchema)
@blp.response(200, HelplineSchema)
def update_helpline(args):
    """Change the helpline. `settings` merges: each top-level key given replaces that key; keys not given stay."""
    helpline = service.update_helpline(current_user().helpline_id, args)
    return service.serialise_helpline(helpline)
