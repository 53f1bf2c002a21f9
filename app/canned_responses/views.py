from flask_smorest import Blueprint

from app.auth.guard import current_user
from app.canned_responses import service
from app.canned_responses.schemas import (
    CannedResponseBodySchema, CannedResponseListArgsSchema, CannedResponsePageSchema, CannedResponsePatchSchema,
    CannedResponseSchema, RenderArgsSchema,
)

blp = Blueprint("canned_responses", __name__, url_prefix="/api/v1/canned-responses",
                description="Canned responses: the helpline's (supervisors and admins keep them) and your own")


def _values(render: bool) -> dict | None:
    return service.placeholder_values(current_user()) if render else None


@blp.route("", methods=["GET"])
@blp.arguments(CannedResponseListArgsSchema, location="query")
@blp.response(200, CannedResponsePageSchema)
def list_responses(args):
    """The helpline's canned responses and your personal ones, newest first."""
    items, next_cursor = service.list_responses(
        current_user(), q=args["q"], language=args["language"], scope=args["scope"],
        limit=args["limit"], cursor=args["cursor"])
    values = _values(args["render"])
    return {"items": [service.serialise_response(r, values) for r in items], "next_cursor": next_cursor}


@blp.route("", methods=["POST"])
@blp.arguments(CannedResponseBodySchema)
@blp.response(201, CannedResponseSchema)
def create_response(args):
    """`scope: helpline` needs a supervisor or admin (403 otherwise); `personal` (the default) anyone."""
    return service.serialise_response(service.create_response(current_user(), args))


@blp.route("/<response_id>", methods=["GET"])
@blp.arguments(RenderArgsSchema, location="query")
@blp.response(200, CannedResponseSchema)
def get_response(args, response_id):
    return service.serialise_response(service.get_response_for(current_user(), response_id), _values(args["render"]))


@blp.route("/<response_id>", methods=["PATCH"])
@blp.arguments(CannedResponsePatchSchema)
@blp.response(200, CannedResponseSchema)
def update_response(args, response_id):
    return service.serialise_response(service.update_response(current_user(), response_id, args))


@blp.route("/<response_id>", methods=["DELETE"])
@blp.response(204)
def delete_response(response_id):
    service.delete_response(current_user(), response_id)
