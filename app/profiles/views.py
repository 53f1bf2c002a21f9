from flask_smorest import Blueprint

from app.auth.guard import current_user
from app.profiles import service
from app.profiles.models import FLAGS
from app.profiles.schemas import ErasureSchema, FlagSchema, ProfileSchema

blp = Blueprint("profiles", __name__, url_prefix="/api/v1/profiles", description="Profiles (one channel address) and their flags")


@blp.route("/<profile_id>", methods=["GET"])
@blp.response(200, ProfileSchema)
def get_profile(profile_id):
    return service.serialise_profile(service.get_profile_for(current_user(), profile_id))


@blp.route("/<profile_id>/flags", methods=["POST"])
@blp.arguments(FlagSchema)
@blp.response(201, ProfileSchema)
def add_flag(args, profile_id):
    """`blocked`: the address gets the blocked message and never reaches a queue. `abusive`: shown to counsellors."""
    return service.serialise_profile(service.flag_profile(current_user(), profile_id, args["flag"], args["until"]))


@blp.route("/<profile_id>/flags/<any(" + ",".join(FLAGS) + "):flag>", methods=["DELETE"])
@blp.response(200, ProfileSchema)
def remove_flag(profile_id, flag):
    return service.serialise_profile(service.unflag_profile(current_user(), profile_id, flag))


@blp.route("/<profile_id>/erase", methods=["POST"])
@blp.response(200, ErasureSchema)
def erase(profile_id):
    """Right to erasure (supervisor; audited): the personal data of every contact from this address, and of
    the cases they are linked to, is erased; statistics columns stay. 409 while a conversation is live."""
    return service.erase_profile(current_user(), profile_id)
