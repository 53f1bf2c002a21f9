import marshmallow as ma
from marshmallow import fields, validate

from app.profiles.models import FLAGS


class FlagSchema(ma.Schema):
    flag = fields.String(required=True, validate=validate.OneOf(FLAGS))
    until = fields.AwareDateTime(load_default=None, allow_none=True,
                                 metadata={"description": "The flag stops applying then; none: until removed."})


class ProfileFlagSchema(ma.Schema):
    flag = fields.String()
    until = fields.DateTime(allow_none=True)
    created_by = fields.String(allow_none=True)
    created_at = fields.DateTime()
    active = fields.Boolean()


class ProfileSchema(ma.Schema):
    id = fields.String()
    channel = fields.String()
    identifier = fields.String(metadata={"description": "The address, masked."})
    created_at = fields.DateTime()
    contacts = fields.Integer()
    flags = fields.List(fields.Nested(ProfileFlagSchema))


class ErasureSchema(ma.Schema):
    profile_id = fields.String()
    contacts_erased = fields.Integer()
    cases_erased = fields.Integer()
