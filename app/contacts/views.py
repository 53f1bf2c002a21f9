from __future__ import annotations

from flask_smorest import Blueprint

from app.auth.guard import current_user
from app.contacts import service
from app.contacts.schemas import ContactSchema, MessageListSchema, MessageSchema, ReplySchema

blp = Blueprint("contacts", __name__, url_prefix="/api/v1/contacts", description="Contacts and their messages")


@blp.route("/<contact_id>", methods=["GET"])
@blp.response(200, ContactSchema)
def get_contact(contact_id):
    return service.serialise_contact(service.get_contact_for(current_user(), contact_id))


@blp.route("/<contact_id>/messages", methods=["GET"])
@blp.response(200, MessageListSchema)
def list_messages(contact_id):
    """The transcript, oldest first, automatic replies included."""
    contact = service.get_contact_for(current_user(), contact_id)
    return {"items": service.contact_messages(contact), "next_cursor": None}


@blp.route("/<contact_id>/messages", methods=["POST"])
@blp.arguments(ReplySchema)
@blp.response(202, MessageSchema)
def reply(args, contact_id):
    """Reply through the contact's channel. 202 with the message and its delivery `status`;
    a failed send is kept as `failed` with its error and retried with back-off."""
    return service.send_reply(current_user(), contact_id, args["text"])
