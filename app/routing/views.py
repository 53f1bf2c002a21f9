from __future__ import annotations

from flask_smorest import Blueprint

from app.auth.guard import current_user, roles_required
from app.auth.schemas import MeSchema
from app.contacts.schemas import ContactSchema, OfferListSchema
from app.contacts.service import serialise_contact
from app.routing import service
from app.routing.schemas import (
    AssignSchema, AvailabilitySchema, QueueListSchema, QueuePatchSchema, QueueSchema, QueueStatusListSchema,
    TransferSchema,
)

queues_blp = Blueprint("queues", __name__, url_prefix="/api/v1/queues", description="Queues (admins and supervisors)")
routing_blp = Blueprint("routing", __name__, url_prefix="/api/v1", description="Availability, offers and assignment")


@queues_blp.route("", methods=["GET"])
@roles_required("admin", "supervisor")
@queues_blp.response(200, QueueListSchema)
def list_queues():
    return {"items": service.list_queues(current_user().helpline_id), "next_cursor": None}


@queues_blp.route("", methods=["POST"])
@roles_required("admin", "supervisor")
@queues_blp.arguments(QueueSchema)
@queues_blp.response(201, QueueSchema)
def create_queue(args):
    return service.create_queue(current_user().helpline_id, **args)


@queues_blp.route("/status", methods=["GET"])
@roles_required("admin", "supervisor")
@queues_blp.response(200, QueueStatusListSchema)
def queues_status():
    """Per queue: contacts waiting, the longest wait, offered, active, and counsellors available."""
    return {"items": service.queues_status(current_user().helpline_id)}


@queues_blp.route("/<queue_id>", methods=["GET"])
@roles_required("admin", "supervisor")
@queues_blp.response(200, QueueSchema)
def get_queue(queue_id):
    return service.get_queue(current_user().helpline_id, queue_id)


@queues_blp.route("/<queue_id>", methods=["PATCH"])
@roles_required("admin", "supervisor")
@queues_blp.arguments(QueuePatchSchema)
@queues_blp.response(200, QueueSchema)
def update_queue(args, queue_id):
    return service.update_queue(current_user().helpline_id, queue_id, args)


@queues_blp.route("/<queue_id>", methods=["DELETE"])
@roles_required("admin", "supervisor")
@queues_blp.response(204)
def delete_queue(queue_id):
    """409 while contacts wait in or are worked from the queue."""
    service.delete_queue(current_user().helpline_id, queue_id)


@queues_blp.route("/<queue_id>/pull", methods=["POST"])
@roles_required("counsellor", "supervisor")
@queues_blp.response(200, ContactSchema)
def pull(queue_id):
    """Take the most urgent, then longest-waiting contact of this queue that your skills and capacity
    (pending offers counted) allow: it is now `active` and yours. A contact offered to someone else is
    not taken. 404 `nothing_to_pull` when there is none."""
    return serialise_contact(service.pull(current_user(), queue_id))


@routing_blp.route("/me/availability", methods=["PUT"])
@roles_required("counsellor", "supervisor")
@routing_blp.arguments(AvailabilitySchema)
@routing_blp.response(200, MeSchema)
def set_availability(args):
    """Going on break or offline sends the offers waiting for you back to the queue."""
    return service.set_availability(current_user(), args["status"])


@routing_blp.route("/me/offers", methods=["GET"])
@roles_required("counsellor", "supervisor")
@routing_blp.response(200, OfferListSchema)
def my_offers():
    """Contacts offered to me, each with `offer_expires_at`."""
    items = []
    for offer, contact in service.my_offers(current_user()):
        items.append({**serialise_contact(contact), "offer_id": offer.id, "offer_expires_at": offer.expires_at})
    return {"items": items, "next_cursor": None}


@routing_blp.route("/contacts/<contact_id>/accept", methods=["POST"])
@roles_required("counsellor", "supervisor")
@routing_blp.response(200, ContactSchema)
def accept(contact_id):
    """Take a contact offered to you: it becomes `active`. 409 if the offer expired or is someone else's."""
    return serialise_contact(service.accept(current_user(), contact_id))


@routing_blp.route("/contacts/<contact_id>/decline", methods=["POST"])
@roles_required("counsellor", "supervisor")
@routing_blp.response(200, ContactSchema)
def decline(contact_id):
    """Decline an offer: the contact goes to the next counsellor."""
    return serialise_contact(service.decline(current_user(), contact_id))


@routing_blp.route("/contacts/<contact_id>/transfer", methods=["POST"])
@roles_required("counsellor", "supervisor")
@routing_blp.arguments(TransferSchema)
@routing_blp.response(200, ContactSchema)
def transfer(args, contact_id):
    """Hand an active contact to a queue or a counsellor with a note; the receiver sees the messages, the draft form and the note."""
    return serialise_contact(service.transfer(
        current_user(), contact_id, queue_id=args.get("queue_id"), counsellor_id=args.get("counsellor_id"),
        note=args.get("note"),
    ))


@routing_blp.route("/contacts/<contact_id>/end", methods=["POST"])
@roles_required("counsellor", "supervisor")
@routing_blp.response(200, ContactSchema)
def end(contact_id):
    """The conversation is over: the contact goes to `wrapup` and the counsellor's capacity frees up."""
    return serialise_contact(service.end(current_user(), contact_id))


@routing_blp.route("/contacts/<contact_id>/assign", methods=["POST"])
@roles_required("supervisor")
@routing_blp.arguments(AssignSchema)
@routing_blp.response(200, ContactSchema)
def assign(args, contact_id):
    """Give a contact to a counsellor (supervisors), within the counsellor's capacity (409 otherwise)."""
    return serialise_contact(service.assign(current_user(), contact_id, args["counsellor_id"]))
