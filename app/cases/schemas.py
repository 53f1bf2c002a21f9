from __future__ import annotations

import marshmallow as ma
from marshmallow import fields, validate

from app.cases.models import CASE_STATUSES
from app.contacts.forms import GENDERS
from app.core.pagination import PageSchema
from flask_smorest.fields import Upload

_text = lambda n=20_000, **kw: fields.String(validate=validate.Length(max=n), **kw)  # noqa: E731


class NoteSchema(ma.Schema):
    text = fields.String(required=True, validate=validate.Length(1, 20_000))


class ReferralSchema(ma.Schema):
    organisation = fields.String(validate=validate.Length(1, 300), metadata={
        "description": "Required unless resource_id is given (then the resource's name, when left out)."})
    resource_id = fields.String(allow_none=True, validate=validate.Length(1, 36), metadata={
        "description": "A resource of the helpline's referral directory (422 otherwise)."})
    date = fields.Date(allow_none=True)
    reason = _text(2000, allow_none=True)
    comments = _text(allow_none=True)

    @ma.validates_schema(skip_on_field_errors=False)
    def _names_someone(self, data, **kwargs):
        if not data.get("organisation") and not data.get("resource_id"):
            raise ma.ValidationError("Name the organisation, or give a resource_id.", "organisation")


class PersonSchema(ma.Schema):
    relationship_to_child = _text(100, allow_none=True)
    first_name = _text(200, allow_none=True)
    last_name = _text(200, allow_none=True)
    age = fields.Integer(strict=True, allow_none=True, validate=validate.Range(0, 120))
    gender = fields.String(allow_none=True, validate=validate.OneOf(GENDERS))
    notes = _text(allow_none=True)


class IncidentSchema(ma.Schema):
    date = fields.Date(allow_none=True)
    duration = _text(200, allow_none=True)
    location = _text(500, allow_none=True)
    description = _text(allow_none=True)
    reported_to_police = fields.Boolean(allow_none=True)


SECTION_SCHEMAS = {
    "note": NoteSchema, "referral": ReferralSchema, "perpetrator": PersonSchema, "incident": IncidentSchema,
    "household": PersonSchema,
}


class CaseSchema(ma.Schema):
    id = fields.String()
    status = fields.String(metadata={"enum": list(CASE_STATUSES)})
    counsellor_id = fields.String(allow_none=True)
    summary = fields.String(allow_none=True)
    follow_up_date = fields.Date(allow_none=True)
    child_at_risk = fields.Boolean()
    label = fields.String(allow_none=True)
    created_at = fields.DateTime()
    updated_at = fields.DateTime()
    status_history = fields.List(fields.Dict())
    contacts = fields.List(fields.String())
    sections = fields.Dict(keys=fields.String(), values=fields.Integer())


class CaseCreateSchema(ma.Schema):
    summary = _text(allow_none=True)
    label = _text(200, allow_none=True)
    follow_up_date = fields.Date(allow_none=True)
    child_at_risk = fields.Boolean(load_default=False)
    counsellor_id = fields.String(validate=validate.Length(1, 36),
                                  metadata={"description": "The owner (supervisors); default: you."})
    contacts = fields.List(fields.String(validate=validate.Length(1, 36)), load_default=list,
                           validate=validate.Length(max=100))


class CasePatchSchema(ma.Schema):
    summary = _text(allow_none=True)
    label = _text(200, allow_none=True)
    follow_up_date = fields.Date(allow_none=True)
    child_at_risk = fields.Boolean()
    counsellor_id = fields.String(validate=validate.Length(1, 36))


class CaseStatusSchema(ma.Schema):
    status = fields.String(required=True, validate=validate.OneOf(CASE_STATUSES))


class CaseListArgsSchema(ma.Schema):
    limit = fields.Integer(load_default=50, validate=validate.Range(1, 500))
    cursor = fields.String(load_default=None)
    status = fields.String(validate=validate.OneOf(CASE_STATUSES))
    counsellor_id = fields.String(validate=validate.Length(1, 36))
    category = fields.String(validate=validate.Length(1, 100))
    from_ = fields.Date(data_key="from", attribute="from")
    to = fields.Date()
    q = fields.String(validate=validate.Length(1, 200))


class CasePageSchema(PageSchema):
    items = fields.List(fields.Nested(CaseSchema))


class SectionSchema(ma.Schema):
    id = fields.String()
    case_id = fields.String()
    type = fields.String()
    data = fields.Dict()
    created_by = fields.String(allow_none=True)
    updated_by = fields.String(allow_none=True)
    created_at = fields.DateTime()
    updated_at = fields.DateTime()


class SectionListSchema(PageSchema):
    items = fields.List(fields.Nested(SectionSchema))


class SectionBodySchema(ma.Schema):
    data = fields.Dict(required=True, metadata={"description": "The section's fields; each type has its own schema."})


class TimelineEntrySchema(ma.Schema):
    kind = fields.String(metadata={"enum": ["section", "contact"]})
    at = fields.DateTime()
    section = fields.Nested(SectionSchema, allow_none=True)
    contact_id = fields.String(allow_none=True)
    channel = fields.String(allow_none=True)
    status = fields.String(allow_none=True)


class TimelineSchema(ma.Schema):
    items = fields.List(fields.Nested(TimelineEntrySchema))


class AttachmentUploadSchema(ma.Schema):
    file = Upload(required=True, metadata={"description": "At most 10 MB: PDF, PNG, JPEG, plain text or DOCX, "
                                                          "decided by the content (not the name)."})


class AttachmentSchema(ma.Schema):
    id = fields.String()
    case_id = fields.String()
    filename = fields.String(metadata={"description": "As uploaded (path removed); downloads carry the extension "
                                                      "of the type the content showed."})
    content_type = fields.String(metadata={"enum": ["application/pdf", "image/png", "image/jpeg", "text/plain",
                                                    "application/vnd.openxmlformats-officedocument."
                                                    "wordprocessingml.document"]})
    size = fields.Integer()
    created_by = fields.String(allow_none=True)
    created_at = fields.DateTime()


class AttachmentListSchema(ma.Schema):
    items = fields.List(fields.Nested(AttachmentSchema))
