from __future__ import annotations

import marshmallow as ma
from marshmallow import fields, validate

from app.contacts.forms import FormSchema

from app.contacts.models import MAX_TEXT
from app.core.pagination import PageSchema


class ContactSchema(ma.Schema):
    id = fields.String()
    channel = fields.String()
    status = fields.String()
    queue_id = fields.String(allow_none=True)
    counsellor_id = fields.String(allow_none=True)
    profile_id = fields.String(allow_none=True)
    priority = fields.String()
    language = fields.String(allow_none=True)
    pre_survey = fields.Dict(allow_none=True)
    post_survey = fields.Dict(allow_none=True, metadata={
        "description": "The child's answers to the post-contact survey by question id: 1-5, true/false, a text "
                       "(stored encrypted) or null for skipped; null when no survey was answered."})
    created_at = fields.DateTime()
    queued_at = fields.DateTime(allow_none=True)
    offered_at = fields.DateTime(allow_none=True)
    assigned_at = fields.DateTime(allow_none=True)
    first_response_at = fields.DateTime(allow_none=True)
    ended_at = fields.DateTime(allow_none=True)
    finalized_at = fields.DateTime(allow_none=True)
    case_id = fields.String(allow_none=True)
    risk_flag = fields.Boolean()
    form = fields.Nested(FormSchema, metadata={"description": "The record: its plain part and, for those who may "
                                                              "read it, its personal part."})
    taxonomy_version = fields.String(allow_none=True)
    address = fields.String(allow_none=True, metadata={"description": "Masked (+44******789) unless the caller may see it."})
    transfers = fields.List(fields.Dict(), metadata={"description": "Transfers with their notes, oldest first."})


class OfferedContactSchema(ContactSchema):
    offer_id = fields.String()
    offer_expires_at = fields.DateTime()


class OfferListSchema(PageSchema):
    items = fields.List(fields.Nested(OfferedContactSchema))


class MessageSchema(ma.Schema):
    id = fields.Function(lambda m: str(m.id), metadata={"type": "string"})
    contact_id = fields.String()
    direction = fields.String(metadata={"enum": ["inbound", "outbound"]})
    sender = fields.Function(lambda m: "visitor" if m.direction == "inbound" else m.sender,
                             metadata={"enum": ["visitor", "counsellor", "system"]})
    author_id = fields.String(allow_none=True)
    text = fields.Function(lambda m: m.body)
    status = fields.String(metadata={"enum": ["received", "pending", "sent", "delivered", "read", "failed", "undelivered"]})
    error_code = fields.String(allow_none=True)
    error_message = fields.String(allow_none=True)
    attempts = fields.Integer()
    next_attempt_at = fields.DateTime(allow_none=True)
    created_at = fields.DateTime()
    sent_at = fields.DateTime(allow_none=True)


class MessageListSchema(PageSchema):
    items = fields.List(fields.Nested(MessageSchema))


class ReplySchema(ma.Schema):
    text = fields.String(required=True, validate=validate.Length(1, MAX_TEXT))


class TaxonomyNodeSchema(ma.Schema):
    code = fields.String()
    label = fields.String()
    children = fields.List(fields.Dict())


class TaxonomySchema(ma.Schema):
    version = fields.String()
    categories = fields.List(fields.Nested(TaxonomyNodeSchema))


class ContactListArgsSchema(ma.Schema):
    limit = fields.Integer(load_default=50, validate=validate.Range(1, 500))
    cursor = fields.String(load_default=None)
    status = fields.String(validate=validate.OneOf(
        ("bot", "queued", "offered", "active", "wrapup", "completed", "abandoned", "blocked", "out_of_hours")))
    queue_id = fields.String(validate=validate.Length(1, 36))
    counsellor_id = fields.String(validate=validate.Length(1, 36))
    channel = fields.String(validate=validate.OneOf(("sms", "whatsapp", "messenger", "chat", "web", "voice", "offline")))
    from_ = fields.Date(data_key="from", attribute="from")
    to = fields.Date()
    category = fields.String(validate=validate.Length(1, 100))
    q = fields.String(validate=validate.Length(1, 200))


class ContactPageSchema(PageSchema):
    items = fields.List(fields.Nested(ContactSchema))


class FormPatchSchema(ma.Schema):
    form = fields.Nested(FormSchema, required=True,
                         metadata={"description": "The record; validated field by field (422 names the field)."})


class OfflineContactSchema(ma.Schema):
    channel = fields.String(load_default="offline", validate=validate.OneOf(("voice", "offline", "sms", "whatsapp", "web", "chat", "messenger")))
    form = fields.Nested(FormSchema, required=True)
    created_at = fields.AwareDateTime(metadata={"description": "When the contact happened; default now."})
