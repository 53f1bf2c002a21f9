from __future__ import annotations

from flask_smorest import Blueprint

from app.auth.guard import current_user
from app.resources import service
from app.resources.schemas import (
    ResourceBodySchema, ResourcePageSchema, ResourcePatchSchema, ResourceSchema, ResourceSearchArgsSchema,
)

blp = Blueprint("resources", __name__, url_prefix="/api/v1/resources",
                description="The referral directory: read by counsellors, supervisors and admins (not managers); "
                            "kept by supervisors and admins.")


@blp.route("", methods=["GET"])
@blp.arguments(ResourceSearchArgsSchema, location="query")
@blp.response(200, ResourcePageSchema)
def search_resources(args):
    """Search by words, category (a top-level code matches its sub-categories), region, language and age."""
    items, next_cursor = service.search_resources(
        current_user(), q=args["q"], category=args["category"], region=args["region"], language=args["language"],
        age=args["age"], limit=args["limit"], cursor=args["cursor"])
    return {"items": items, "next_cursor": next_cursor}


@blp.route("", methods=["POST"])
@blp.arguments(ResourceBodySchema)
@blp.response(201, ResourceSchema)
def create_resource(args):
    """Add a service (supervisors, admins); categories from the taxonomy, regions from the settings (422 otherwise)."""
    return service.create_resource(current_user(), args)


@blp.route("/<resource_id>", methods=["GET"])
@blp.response(200, ResourceSchema)
def get_resource(resource_id):
    return service.get_resource(current_user(), resource_id)


@blp.route("/<resource_id>", methods=["PATCH"])
@blp.arguments(ResourcePatchSchema)
@blp.response(200, ResourceSchema)
def update_resource(args, resource_id):
    """Change the fields given (supervisors, admins)."""
    return service.update_resource(current_user(), resource_id, args)


@blp.route("/<resource_id>", methods=["DELETE"])
@blp.response(204)
def delete_resource(resource_id):
    """Remove a service (supervisors, admins); referrals that named it keep their organisation's name."""
    service.delete_resource(current_user(), resource_id)
