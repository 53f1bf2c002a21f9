import marshmallow as ma
from marshmallow import fields, validate

from app.core.pagination import PageArgsSchema, PageSchema


class AuditArgsSchema(PageArgsSchema):
    record_type = fields.String(validate=validate.OneOf(("contact", "case", "profile", "export", "user", "review", "attachment")))
    record_id = fields.String(validate=validate.Length(1, 36))
    user_id = fields.String(validate=validate.Length(1, 36))


class AuditEventSchema(ma.Schema):
    id = fields.String()
    user_id = fields.String(allow_none=True)
    action = fields.String()
    record_type = fields.String()
    record_id = fields.String(allow_none=True)
    fields_ = fields.List(fields.String(), attribute="fields", data_key="fields", allow_none=True)
    at = fields.DateTime()


class AuditPageSchema(PageSchema):
    items = fields.List(fields.Nested(AuditEventSchema))
