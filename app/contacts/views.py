from __future__ import annotations

from flask_smorest import Blueprint

from app.auth.guard import current_user
from app.contacts import service
from app.contacts.schemas import (
    ContactListArgsSchema, ContactPageSchema, ContactSchema, FormPatchSchema, MessageListSchema, MessageSchema,
    OfflineContactSchema, ReplySchema, TaxonomySchema,
)
from app.contacts.taxonomy import load_taxonomy
from app.core.pagination import PageArgsSchema
from app.helplines.service import get_helpline

blp = Blueprint("contacts", __name__, url_prefix="/api/v1/contacts", description="Contacts, their records and messages")
taxonomy_blp = Blueprint("taxonomy", __name__, url_prefix="/api/v1/taxonomy", description="The category tree")


@taxonomy_blp.route("", methods=["GET"])
@taxonomy_blp.response(200, TaxonomySchema)
def get_taxonomy():
    """The helpline's category tree: `{"version", "categories": [{"code", "label", "children"}]}`."""
    return load_taxonomy(get_helpline(current_user().helpline_id).taxonomy_version)


@blp.route("", methods=["GET"])
@blp.arguments(ContactListArgsSchema, location="query")
@blp.response(200, ContactPageSchema)
def list_contacts(args):
    """Contacts the permission rules let you view, newest first. `q`: a phone number (exact), or words that
    must all appear in names, summary, actions or referrals (exact words). `category`: a top-level or full code."""
    limit, cursor = args.pop("limit"), args.pop("cursor")
    items, next_cursor = service.list_contacts(current_user(), args, limit=limit, cursor=cursor)
    return {"items": [service.serialise_contact(c) for c in items], "next_cursor": next_cursor}


@blp.route("", methods=["POST"])
@blp.arguments(OfflineContactSchema)
@blp.response(201, ContactSchema)
def create_offline_contact(args):
    """Log a contact by hand (walk-in, phone call off-system). It is yours, in wrap-up, until you finalize it."""
    contact = service.create_offline_contact(current_user(), args["channel"], args["form"], args.get("created_at"))
    return service.serialise_contact(contact)


@blp.route("/<contact_id>", methods=["GET"])
@blp.response(200, ContactSchema)
def get_contact(contact_id):
    return service.serialise_contact(service.get_contact_for(current_user(), contact_id))


@blp.route("/<contact_id>", methods=["PATCH"])
@blp.arguments(FormPatchSchema)
@blp.response(200, ContactSchema)
def save_form(args, contact_id):
    """Save the draft record. The form given replaces the stored one; codes are checked against the taxonomy."""
    return service.serialise_contact(service.save_form(current_user(), contact_id, args["form"]))


@blp.route("/<contact_id>/finalize", methods=["POST"])
@blp.response(200, ContactSchema)
def finalize(contact_id):
    """422 unless complete (call type; for data contacts a category, child age or null, child gender)."""
    return service.serialise_contact(service.finalize(current_user(), contact_id))


@blp.route("/<contact_id>/history", methods=["GET"])
@blp.arguments(PageArgsSchema, location="query")
@blp.response(200, ContactPageSchema)
def history(args, contact_id):
    """Earlier contacts from the same profile that you may view, newest first."""
    items, next_cursor = service.contact_history(current_user(), contact_id, **args)
    return {"items": [service.serialise_contact(c) for c in items], "next_cursor": next_cursor}


@blp.route("/<contact_id>/messages", methods=["GET"])
@blp.arguments(PageArgsSchema, location="query")
@blp.response(200, MessageListSchema)
def list_messages(args, contact_id):
    """The transcript, oldest first, automatic replies included (rule `view_transcript`)."""
    contact = service.get_contact_for(current_user(), contact_id, "view_transcript", audit_as="read_transcript")
    items, next_cursor = service.contact_messages(contact, **args)
    return {"items": items, "next_cursor": next_cursor}


@blp.route("/<contact_id>/messages", methods=["POST"])
@blp.arguments(ReplySchema)
@blp.response(202, MessageSchema)
def reply(args, contact_id):
    """Reply through the contact's channel. 202 with the message and its delivery `status`;
    a failed send is kept as `failed` with its error and retried with back-off."""
    return service.send_reply(current_user(), contact_id, args["text"])
